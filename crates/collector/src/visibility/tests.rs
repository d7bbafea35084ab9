//! The visibility extender's timing and the hand-back, against an in-memory queue on a paused
//! clock.

use super::*;
use crate::queue::memory::{hold, until, Answer, Call, MemoryQueue};

const TIMEOUT: Duration = Duration::from_secs(30);

fn visibility(queue: &MemoryQueue) -> Visibility<MemoryQueue> {
    Visibility {
        queue: Arc::new(queue.clone()),
        timeout: TIMEOUT,
        in_flight: Arc::new(InFlight::new(1_000, 10_000)),
        stats: Arc::new(Stats::default()),
        reachability: Arc::new(Reachability::new("SQS")),
        gate: Arc::default(),
    }
}

/// When each ChangeMessageVisibilityBatch came, from `start`, in whole seconds.
fn change_times(queue: &MemoryQueue, start: Instant) -> Vec<u64> {
    let log = queue.log();
    log.changes
        .iter()
        .map(|(_, _, t)| (*t - start).as_secs())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_message_is_extended_once_less_than_half_its_timeout_is_left() {
    let queue = MemoryQueue::default();
    let v = visibility(&queue);
    assert_eq!(v.tick(), Duration::from_secs(5), "a sixth of the timeout");
    let start = Instant::now();
    let keys = hold(&queue, &v.in_flight, 1).await;
    let extender = tokio::spawn(v.clone().run_extender());
    until("two extensions", || queue.log().changes.len() >= 2).await;
    extender.abort();
    // Received at 0 for 30 s: at 15 s half is left (not less), at 20 s less: extended to
    // 50 s, which is less than half its timeout away at 40 s.
    assert_eq!(change_times(&queue, start), [20, 40]);
    for (keys_sent, timeout, _) in &queue.log().changes {
        assert_eq!((keys_sent, *timeout), (&keys, TIMEOUT));
    }
    assert_eq!(v.stats.snapshot().visibility_extended, 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_extension_is_tried_again_at_the_next_tick() {
    let queue = MemoryQueue::default();
    let mut calls = 0;
    queue.fail_calls(move |call| {
        calls += usize::from(call == Call::ChangeVisibility);
        (call == Call::ChangeVisibility && calls == 1).then_some("ServiceUnavailable")
    });
    let v = visibility(&queue);
    let start = Instant::now();
    hold(&queue, &v.in_flight, 1).await;
    let extender = tokio::spawn(v.clone().run_extender());
    until("a failed extension", || !queue.log().changes.is_empty()).await;
    assert!(v.reachability.failing_for().is_some(), "SQS is failing");
    until("a second try", || queue.log().changes.len() >= 2).await;
    extender.abort();
    assert_eq!(change_times(&queue, start), [20, 25]);
    let s = v.stats.snapshot();
    assert_eq!((s.visibility_extended, s.sqs_call_failures), (1, 1));
    assert_eq!(v.reachability.failing_for(), None);
}

#[tokio::test(start_paused = true)]
async fn a_refused_or_omitted_entry_is_not_taken_as_extended() {
    let queue = MemoryQueue::default();
    let v = visibility(&queue);
    let start = Instant::now();
    let keys = hold(&queue, &v.in_flight, 3).await;
    let (refused, omitted) = (keys[0], keys[1]);
    queue.answer_entries(move |_, key| match key {
        k if k == refused => Answer::Fail("ReceiptHandleIsInvalid", true),
        k if k == omitted => Answer::Omit,
        _ => Answer::Done,
    });
    let extender = tokio::spawn(v.clone().run_extender());
    until("two rounds", || queue.log().changes.len() >= 2).await;
    extender.abort();
    let log = queue.log();
    assert_eq!(change_times(&queue, start), [20, 25]);
    let mut first = log.changes[0].0.clone();
    first.sort_unstable();
    assert_eq!(first, keys, "all three due at 20 s");
    assert_eq!(
        log.changes[1].0.iter().filter(|k| **k != keys[2]).count(),
        2,
        "the two not extended are due again at the next tick"
    );
    assert!(
        !log.changes[1].0.contains(&keys[2]),
        "the extended one is not"
    );
    assert_eq!(v.stats.snapshot().visibility_extended, 1);
}

#[tokio::test(start_paused = true)]
async fn a_hand_back_makes_messages_visible_at_once_and_releases_them() {
    let queue = MemoryQueue::default();
    let v = visibility(&queue);
    let keys = hold(&queue, &v.in_flight, 12).await;
    let failing = keys[11];
    queue.answer_entries(move |_, key| {
        if key == failing {
            Answer::Fail("InternalError", false)
        } else {
            Answer::Done
        }
    });
    let held = v.in_flight.all(false);
    assert_eq!(v.hand_back(held).await, 11, "one could not be handed back");
    let log = queue.log();
    let sizes: Vec<(usize, Duration)> = log.changes.iter().map(|(k, t, _)| (k.len(), *t)).collect();
    assert_eq!(sizes, [(10, Duration::ZERO), (2, Duration::ZERO)]);
    assert_eq!(v.in_flight.len(), 0, "released, even the one that failed");
    assert_eq!(v.stats.snapshot().handed_back, 11);
    let again = queue
        .receive(10, Duration::ZERO, TIMEOUT)
        .await
        .expect("receive");
    assert_eq!(
        again.len(),
        10,
        "visible again at once (the failed one is not)"
    );
}
