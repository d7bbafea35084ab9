//! The dead-letter queue: every broken submission is kept there, body unchanged, with why it
//! was dropped, before its message is deleted; while the dead-letter queue cannot take it, the
//! message stays held (not deleted, not redelivered), and it is kept once the queue is back, or
//! handed back at shutdown.
//!
//! The dead-letter queue lives on the same moto as the main queue, so the SQS proxy cannot take
//! it down alone; deleting the queue makes every SendMessage to it fail (QueueDoesNotExist),
//! and creating it again under the same name (same URL) makes sends succeed again.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::Message;
use telemetry_model::DropReason;
use tokio::time::Instant;

use crate::support::submissions::{broken_kinds, valid};
use crate::support::{assert_published, by_submission, wait_until, RunningCollector, TestEnv};

/// Creates the dead-letter queue for `env`; returns its name and URL.
async fn create_dead_letter_queue(env: &TestEnv) -> (String, String) {
    let name = format!("{}-dlq", env.queue_name);
    let url = env
        .admin
        .sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("create the dead-letter queue")
        .queue_url
        .expect("queue url");
    (name, url)
}

/// Deletes the dead-letter queue: from now on every send to it fails, until it is created again.
async fn delete_dead_letter_queue(env: &TestEnv, url: &str) {
    env.admin
        .sqs
        .delete_queue()
        .queue_url(url)
        .send()
        .await
        .expect("delete the dead-letter queue");
}

/// A dead-letter queue deleted after the collector started, and the broken submission sent
/// then.
struct Missing {
    flag: String,
    url: String,
    id: String,
    reason: DropReason,
    body: String,
}

impl Missing {
    /// Creates the queue again: the same name gives the same URL, which the collector holds.
    async fn restore(&self, env: &TestEnv) {
        let url = create_dead_letter_queue(env).await.1;
        assert_eq!(url, self.url, "the same name gives the same URL");
    }

    /// Checks that the dead-letter queue holds the broken submission, once.
    async fn assert_kept_once(&self, env: &TestEnv) {
        let kept = receive_all(env, &self.url, 1).await;
        assert_kept(&kept[0], &self.id, &self.body, self.reason, &env.queue_name);
    }
}

/// Starts emulators and a collector with a dead-letter queue and `extra` flags, deletes the
/// queue once the collector receives (it resolves the queue first), then sends a broken body of `reason` and
/// waits until sending it to the dead-letter queue has failed twice.
async fn broken_while_the_queue_is_missing(
    reason: DropReason,
    extra: &str,
) -> (TestEnv, RunningCollector, Missing) {
    let env = TestEnv::start(1).await;
    let (name, url) = create_dead_letter_queue(&env).await;
    let flag = format!("--dead-letter-queue-name={name}");
    let collector = env.collector(&[&flag, extra]).await;
    wait_until(
        "the collector receiving",
        Duration::from_secs(60),
        || async { collector.stats.snapshot().receive_calls >= 1 },
    )
    .await;
    delete_dead_letter_queue(&env, &url).await;
    let body = broken_kinds()
        .into_iter()
        .find_map(|(r, body)| (r == reason).then_some(body))
        .unwrap_or_else(|| panic!("a {reason} body"));
    let id = send_one(&env, &body).await;
    wait_until(
        "sends to the missing dead-letter queue failing",
        Duration::from_secs(60),
        || async { collector.stats.snapshot().dead_letter_failures >= 2 },
    )
    .await;
    let missing = Missing {
        flag,
        url,
        id,
        reason,
        body,
    };
    (env, collector, missing)
}

/// Sends one body to the main queue; returns its message id.
async fn send_one(env: &TestEnv, body: &str) -> String {
    env.admin
        .sqs
        .send_message()
        .queue_url(&env.queue_url)
        .message_body(body)
        .send()
        .await
        .expect("send")
        .message_id
        .expect("message id")
}

/// Waits until the queue at `url` holds exactly `n` visible messages, then receives them all,
/// with their attributes.
async fn receive_all(env: &TestEnv, url: &str, n: usize) -> Vec<Message> {
    wait_until(
        &format!("{n} messages in the dead-letter queue"),
        Duration::from_secs(60),
        || async {
            telemetry_aws::queue::depth(&env.admin.sqs, url).await.ok() == Some((n as u64, 0))
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while got.len() < n {
        assert!(Instant::now() < deadline, "received {} of {n}", got.len());
        let out = env
            .admin
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(600)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive from the dead-letter queue");
        got.extend(out.messages.unwrap_or_default());
    }
    assert_eq!(got.len(), n, "exactly {n} kept");
    got
}

/// A String message attribute of `m`.
fn attribute<'a>(m: &'a Message, name: &str) -> &'a str {
    let value = m
        .message_attributes
        .as_ref()
        .and_then(|a| a.get(name))
        .unwrap_or_else(|| panic!("attribute {name} on {m:?}"));
    assert_eq!(value.data_type, "String", "{name} is a String");
    value.string_value.as_deref().unwrap_or_default()
}

/// Checks one kept message against the original: body byte for byte, and the attributes.
fn assert_kept(m: &Message, original_id: &str, body: &str, reason: DropReason, queue: &str) {
    assert_eq!(attribute(m, "original_message_id"), original_id);
    assert_eq!(
        m.body.as_deref(),
        Some(body),
        "the body of {reason} unchanged"
    );
    assert_eq!(attribute(m, "drop_reason"), reason.as_str());
    assert_eq!(attribute(m, "original_queue_name"), queue);
    let detail = attribute(m, "drop_detail");
    assert!(
        !detail.is_empty() && detail.len() <= 1024,
        "detail of {reason}: {detail:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_submissions_are_kept_in_the_dead_letter_queue_then_deleted() {
    let env = TestEnv::start(1).await;
    let (dlq_name, dlq_url) = create_dead_letter_queue(&env).await;
    let broken = broken_kinds();
    let good = [valid(2, 2), valid(1, 0)];
    // Message id -> (body, reason), the valid ones interleaved with the broken.
    let mut sent: HashMap<String, (String, Option<DropReason>)> = HashMap::new();
    for (i, (reason, body)) in broken.iter().enumerate() {
        if i == 3 {
            sent.insert(
                send_one(&env, &good[0].body).await,
                (good[0].body.clone(), None),
            );
        }
        sent.insert(send_one(&env, body).await, (body.clone(), Some(*reason)));
    }
    sent.insert(
        send_one(&env, &good[1].body).await,
        (good[1].body.clone(), None),
    );
    let collector = env
        .collector(&[&format!("--dead-letter-queue-name={dlq_name}")])
        .await;

    env.wait_queue_empty(Duration::from_secs(60)).await;
    wait_until("all deletes counted", Duration::from_secs(10), || async {
        collector.stats.snapshot().deleted == sent.len() as u64
    })
    .await;
    let stats = collector.stop().await;
    assert_eq!(stats.dropped_total(), broken.len() as u64);
    assert_eq!(stats.dead_lettered, broken.len() as u64);
    assert_eq!(stats.dead_letter_failures, 0);
    assert_eq!(stats.valid, 2);

    let kept = receive_all(&env, &dlq_url, broken.len()).await;
    let mut seen = std::collections::HashSet::new();
    for m in &kept {
        let id = attribute(m, "original_message_id");
        assert!(seen.insert(id.to_owned()), "{id} kept once");
        let (body, reason) = &sent[id];
        let reason = reason.unwrap_or_else(|| panic!("a valid submission was kept: {m:?}"));
        assert_kept(m, id, body, reason, &env.queue_name);
    }

    let events = env.stream_events().await;
    assert_eq!(events.len(), 5, "only the valid submissions' events");
    let published = by_submission(&events);
    good.iter().for_each(|v| assert_published(&published, v));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_submission_stays_held_until_the_dead_letter_queue_takes_it() {
    // A short visibility timeout: the held message must be extended to stay in flight.
    let (env, collector, missing) =
        broken_while_the_queue_is_missing(DropReason::BadIp, "--queue-visibility-timeout-sec=8")
            .await;
    let stats = &collector.stats;
    let neighbour = valid(2, 1);
    send_one(&env, &neighbour.body).await;

    // Once the neighbour is deleted, every extension is the broken message's: two of them take
    // it past its 8 s timeout.
    let mut extended_from = None;
    wait_until(
        "the neighbour deleted, the broken message extended past its 8 s timeout",
        Duration::from_secs(60),
        || {
            let s = stats.snapshot();
            if s.deleted == 1 {
                extended_from.get_or_insert(s.visibility_extended);
            }
            let done = extended_from.is_some_and(|from| s.visibility_extended >= from + 2);
            async move { done }
        },
    )
    .await;
    let s = stats.snapshot();
    assert_eq!(s.dead_lettered, 0);
    assert_eq!(s.deleted, 1, "only the valid neighbour was deleted");
    assert_eq!(
        env.queue_counts().await,
        (0, 1),
        "the broken message is still in flight: not deleted, not redelivered"
    );

    missing.restore(&env).await;
    // Retries are at most 10 s apart.
    wait_until(
        "the broken submission kept once the queue is back",
        Duration::from_secs(60),
        || async { stats.snapshot().dead_lettered == 1 },
    )
    .await;
    env.wait_queue_empty(Duration::from_secs(30)).await;
    let final_stats = collector.stop().await;
    assert_eq!(final_stats.received, 2, "nothing was redelivered");
    assert_eq!(final_stats.deleted, 2);

    missing.assert_kept_once(&env).await;
    let published = by_submission(&env.stream_events().await);
    assert_published(&published, &neighbour);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_submission_not_yet_kept_is_handed_back_at_shutdown() {
    let (env, collector, missing) =
        broken_while_the_queue_is_missing(DropReason::NotJson, "--shutdown-grace-period-sec=2")
            .await;

    let stats = collector.stop().await;
    assert_eq!((stats.deleted, stats.handed_back), (0, 1), "{stats:?}");
    assert_eq!(env.queue_counts().await, (1, 0), "visible again at once");

    // The next collector, with the queue back, keeps it.
    missing.restore(&env).await;
    let next = env.collector(&[&missing.flag]).await;
    env.wait_queue_empty(Duration::from_secs(60)).await;
    missing.assert_kept_once(&env).await;
    let stats = next.stop().await;
    assert_eq!((stats.dead_lettered, stats.deleted), (1, 1));
}
