//! No loss through outages: while Kinesis is unreachable nothing is deleted and held messages
//! are kept invisible; when it returns, everything is published and deleted. SQS outages are
//! ridden out the same way.

use std::time::Duration;

use crate::support::submissions::valid;
use crate::support::{assert_published, by_submission, wait_until, TestEnv, SDK};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_deleted_while_the_stream_is_unavailable() {
    nothing_is_deleted_while_the_stream_is_unavailable_with(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_deleted_while_the_stream_is_unavailable_through_the_sdk() {
    nothing_is_deleted_while_the_stream_is_unavailable_with(SDK).await;
}

async fn nothing_is_deleted_while_the_stream_is_unavailable_with(client: &[&str]) {
    let env = TestEnv::start(1).await;
    // A short visibility timeout: the messages must be extended to stay in flight.
    // 8 s leaves the extender 4 s to act even when the machine is busy.
    let collector = env
        .collector(&[client, &["--queue-visibility-timeout-sec=8"]].concat())
        .await;
    let warm = valid(1, 1);
    env.send(&[&warm.body]).await;
    env.wait_for_records(2, Duration::from_secs(60)).await;

    env.kinesis_proxy.set_up(false);
    let subs: Vec<_> = (0..20).map(|_| valid(3, 3)).collect();
    env.send(&subs.iter().map(|s| s.body.clone()).collect::<Vec<_>>())
        .await;
    let stats = &collector.stats;
    wait_until(
        "all received and their first records failed",
        Duration::from_secs(30),
        || async {
            let s = stats.snapshot();
            s.received >= 21 && s.put_failed_records >= 20
        },
    )
    .await;
    let before = stats.snapshot().visibility_extended;
    wait_until(
        "held messages extended past their 8 s timeout",
        Duration::from_secs(30),
        || async { stats.snapshot().visibility_extended >= before + 40 },
    )
    .await;
    assert_eq!(
        stats.snapshot().deleted,
        1,
        "only the warm-up message was deleted"
    );
    assert_eq!(
        env.queue_counts().await,
        (0, 20),
        "all 20 still in flight, none deleted, none redelivered"
    );
    assert_eq!(env.stream_events().await.len(), 2);

    env.kinesis_proxy.set_up(true);
    env.wait_for_records(2 + 20 * 6, Duration::from_secs(60))
        .await;
    env.wait_queue_empty(Duration::from_secs(30)).await;
    let final_stats = collector.stop().await;
    assert_eq!(
        final_stats.received, 21,
        "no message was redelivered: {final_stats:?}"
    );
    assert_eq!(final_stats.deleted, 21);
    let events = env.stream_events().await;
    let seen = by_submission(&events);
    for s in &subs {
        assert_published(&seen, s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_outage_is_ridden_out() {
    an_sqs_outage_is_ridden_out_with(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_outage_is_ridden_out_through_the_sdk() {
    an_sqs_outage_is_ridden_out_with(SDK).await;
}

async fn an_sqs_outage_is_ridden_out_with(client: &[&str]) {
    let env = TestEnv::start(1).await;
    let collector = env.collector(client).await;
    let first = valid(2, 2);
    env.send(&[&first.body]).await;
    env.wait_for_records(4, Duration::from_secs(60)).await;

    env.sqs_proxy.set_up(false);
    let stats = &collector.stats;
    wait_until("receive calls failing", Duration::from_secs(30), || async {
        stats.snapshot().sqs_call_failures >= 2
    })
    .await;
    let second = valid(3, 1);
    env.send(&[&second.body]).await;
    env.sqs_proxy.set_up(true);

    env.wait_for_records(8, Duration::from_secs(60)).await;
    env.wait_queue_empty(Duration::from_secs(30)).await;
    collector.stop().await;
    let seen = by_submission(&env.stream_events().await);
    assert_published(&seen, &first);
    assert_published(&seen, &second);
}
