//! Fleet-shaped submissions go in; every event comes out once, in order, on one shard per
//! submission, and every message is deleted.

use std::time::Duration;

use crate::support::submissions::{b64, valid, Valid};
use crate::support::{assert_published, by_submission, TestEnv, SDK};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_shaped_submissions_are_published_in_order_and_deleted() {
    fleet_shaped_submissions_are_published_in_order_and_deleted_with(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_shaped_submissions_are_published_in_order_and_deleted_through_the_sdk() {
    fleet_shaped_submissions_are_published_in_order_and_deleted_with(SDK).await;
}

async fn fleet_shaped_submissions_are_published_in_order_and_deleted_with(client: &[&str]) {
    let env = TestEnv::start(2).await;
    let subs: Vec<Valid> = (0..40).map(|i| valid(3 + i % 3, 3 + (i / 3) % 3)).collect();
    let empty = b64(
        r#"{"submission_id":"8be01974-0f15-4d4f-809f-257a6de4d3f9","device_id":"31980191-fa99-4768-8a7b-0e81397ca6ef","time_created":"2021-03-28T15:44:18","events":{}}"#,
    );
    let mut bodies: Vec<String> = subs.iter().map(|s| s.body.clone()).collect();
    bodies.push(empty);
    env.send(&bodies).await;
    let collector = env.collector(client).await;

    let total: usize = subs.iter().map(|s| s.events.len()).sum();
    env.wait_for_records(total, Duration::from_secs(60)).await;
    env.wait_queue_empty(Duration::from_secs(30)).await;
    let stats = collector.stop().await;
    env.assert_signatures_accepted();

    let events = env.stream_events().await;
    assert_eq!(
        events.len(),
        total,
        "each event exactly once on a clean run"
    );
    let seen = by_submission(&events);
    for v in &subs {
        assert_published(&seen, v);
    }
    assert_eq!(stats.received, 41);
    assert_eq!(stats.valid, 41, "the empty submission is valid");
    assert_eq!(stats.deleted, 41, "the empty submission is deleted too");
    assert_eq!(stats.events_published, total as u64);
    assert_eq!(stats.dropped_total(), 0);
    let shards: std::collections::HashSet<_> = events.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(shards.len(), 2, "40 devices spread over both shards");
}
