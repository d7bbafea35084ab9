//! The binary: a bad setting stops it at start; SIGTERM drains within the grace period, exits 0,
//! and leaves nothing waiting for its visibility timeout.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::support::process::{spawn, BIN};
use crate::support::submissions::valid;
use crate::support::{by_submission, wait_until, TestEnv};

#[test]
fn a_bad_setting_stops_the_program_with_one_line_and_exit_2() {
    let out = Command::new(BIN)
        .env("QUEUE_WAIT_TIME_SEC", "30")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("QUEUE_WAIT_TIME_SEC=\"30\"") && stderr.contains("0..=20"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_or_hands_back_everything_and_exits_0() {
    sigterm_under_load_finishes_or_hands_back_everything_and_exits_0_with(("AWS_CLIENT", "lean"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_or_hands_back_everything_and_exits_0_through_the_sdk() {
    sigterm_under_load_finishes_or_hands_back_everything_and_exits_0_with(("AWS_CLIENT", "sdk"))
        .await;
}

async fn sigterm_under_load_finishes_or_hands_back_everything_and_exits_0_with(
    client: (&str, &str),
) {
    let env = TestEnv::start(2).await;
    let subs: Vec<_> = (0..60).map(|_| valid(20, 20)).collect();
    env.send(&subs.iter().map(|s| s.body.clone()).collect::<Vec<_>>())
        .await;
    // Small batches keep the work going for a while, so SIGTERM lands in the middle of it.
    let mut p = spawn(
        &env,
        &[
            client,
            ("SHUTDOWN_GRACE_PERIOD_SEC", "10"),
            ("DATA_STREAM_MAX_BUFFER_SIZE", "5"),
        ],
    );
    env.wait_for_records(100, Duration::from_secs(60)).await;
    p.sigterm();
    let (code, log) = p.exit_within(Duration::from_secs(15)).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("telemetry-collector stopped"), "{log}");

    // Nothing waits for its 300 s visibility timeout: every message is deleted or visible.
    let (visible, in_flight) = env.queue_counts().await;
    assert_eq!(in_flight, 0, "nothing left invisible");
    // Nothing lost: each submission is complete on the stream or back in the queue.
    let seen = by_submission(&env.stream_events().await);
    let mut back = HashSet::new();
    loop {
        let out = env
            .admin
            .sqs
            .receive_message()
            .queue_url(&env.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let json = base64::engine::general_purpose::STANDARD
                .decode(m.body.unwrap_or_default())
                .expect("b64");
            let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
            back.insert(v["submission_id"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert_eq!(back.len() as u64, visible);
    for s in &subs {
        let id = s.submission_id.to_string();
        let complete = seen
            .get(&id)
            .is_some_and(|x| x.ids.iter().collect::<HashSet<_>>().len() == s.events.len());
        assert!(
            complete || back.contains(&id),
            "submission {id} is neither complete nor back in the queue"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_kinesis_down_hands_everything_back_within_the_grace_period() {
    sigterm_with_kinesis_down_hands_everything_back("lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_kinesis_down_hands_everything_back_within_the_grace_period_through_the_sdk() {
    sigterm_with_kinesis_down_hands_everything_back("sdk").await;
}

async fn sigterm_with_kinesis_down_hands_everything_back(client: &str) {
    let env = TestEnv::start(1).await;
    let mut p = spawn(
        &env,
        &[("SHUTDOWN_GRACE_PERIOD_SEC", "3"), ("AWS_CLIENT", client)],
    );
    let warm = valid(1, 1);
    env.send(&[&warm.body]).await;
    env.wait_for_records(2, Duration::from_secs(60)).await;
    env.kinesis_proxy.set_up(false);
    let subs: Vec<_> = (0..15).map(|_| valid(2, 2)).collect();
    env.send(&subs.iter().map(|s| s.body.clone()).collect::<Vec<_>>())
        .await;
    wait_until(
        "all 15 held by the collector",
        Duration::from_secs(30),
        || async { env.queue_counts().await == (0, 15) },
    )
    .await;

    let started = Instant::now();
    p.sigterm();
    let (code, log) = p.exit_within(Duration::from_secs(6)).await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "exited within the 3 s grace period (+1 s): {:?}",
        started.elapsed()
    );
    assert_eq!(
        env.queue_counts().await,
        (15, 0),
        "all handed back at once, none deleted"
    );
}
