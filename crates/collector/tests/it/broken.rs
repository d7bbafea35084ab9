//! Every class of broken submission is dropped as a whole, counted by its reason and deleted;
//! nothing of it reaches the stream, and valid neighbours are unaffected.

use std::time::Duration;

use crate::support::submissions::{broken_kinds, valid};
use crate::support::{assert_published, by_submission, wait_until, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broken_kind_is_dropped_counted_and_deleted() {
    let env = TestEnv::start(1).await;
    let broken = broken_kinds();
    let good = [valid(2, 2), valid(1, 0)];
    let mut bodies: Vec<String> = broken.iter().map(|(_, b)| b.clone()).collect();
    bodies.insert(3, good[0].body.clone());
    bodies.push(good[1].body.clone());
    env.send(&bodies).await;
    let collector = env.collector(&[]).await;

    env.wait_queue_empty(Duration::from_secs(60)).await;
    wait_until("all deletes counted", Duration::from_secs(10), || async {
        collector.stats.snapshot().deleted == bodies.len() as u64
    })
    .await;
    let stats = collector.stop().await;

    for (reason, _) in &broken {
        assert_eq!(
            stats.dropped_for(*reason),
            1,
            "one drop counted as {reason}"
        );
    }
    assert_eq!(stats.dropped_total(), broken.len() as u64);
    assert_eq!(stats.valid, 2);
    let events = env.stream_events().await;
    assert_eq!(events.len(), 5, "only the valid submissions' events");
    let seen = by_submission(&events);
    assert_eq!(seen.len(), 2, "nothing from a broken submission");
    for v in &good {
        assert_published(&seen, v);
    }
}
