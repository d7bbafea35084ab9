//! The deleter's decisions against an in-memory queue on a paused clock: batches and their
//! wait, and each entry refused, retried or omitted from a reply.

use std::sync::Mutex;

use tokio::task::JoinHandle;

use super::*;
use crate::queue::memory::{hold, until, Answer, Call, MemoryQueue};

struct Running {
    queue: MemoryQueue,
    in_flight: Arc<InFlight>,
    stats: Arc<Stats>,
    reachability: Arc<Reachability>,
    intake: mpsc::UnboundedSender<MessageKey>,
    drain: CancellationToken,
    task: JoinHandle<()>,
}

fn start(queue: &MemoryQueue, batch_size: usize, interval: Duration) -> Running {
    let in_flight = Arc::new(InFlight::new(1_000, 10_000));
    let stats = Arc::new(Stats::default());
    let reachability = Arc::new(Reachability::new("SQS"));
    let deleter = Deleter::new(DeleterSettings {
        queue: Arc::new(queue.clone()),
        batch_size,
        interval,
        in_flight: Arc::clone(&in_flight),
        stats: Arc::clone(&stats),
        reachability: Arc::clone(&reachability),
    });
    let (intake, rx) = mpsc::unbounded_channel();
    let drain = CancellationToken::new();
    let task = tokio::spawn(deleter.run(rx, drain.clone()));
    Running {
        queue: queue.clone(),
        in_flight,
        stats,
        reachability,
        intake,
        drain,
        task,
    }
}

impl Running {
    /// Closes the intake and waits for the deleter to settle everything it took.
    async fn finish(self) -> (MemoryQueue, Arc<InFlight>, Arc<Stats>, Arc<Reachability>) {
        drop(self.intake);
        tokio::time::timeout(Duration::from_secs(600), self.task)
            .await
            .expect("the deleter settles everything")
            .expect("the deleter task");
        (self.queue, self.in_flight, self.stats, self.reachability)
    }
}

#[tokio::test(start_paused = true)]
async fn finished_messages_are_deleted_in_batches_of_the_set_size() {
    let queue = MemoryQueue::default();
    let run = start(&queue, 10, Duration::from_secs(1));
    let keys = hold(&queue, &run.in_flight, 25).await;
    for k in &keys {
        run.intake.send(*k).expect("open");
    }
    let (queue, in_flight, stats, _) = run.finish().await;
    let sizes: Vec<usize> = queue.log().deletes.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!(queue.len(), 0, "every message deleted from the queue");
    assert_eq!(in_flight.len(), 0, "and released");
    assert_eq!(stats.snapshot().deleted, 25);
}

#[tokio::test(start_paused = true)]
async fn a_partly_filled_batch_waits_for_the_interval_unless_draining() {
    let queue = MemoryQueue::default();
    let run = start(&queue, 10, Duration::from_secs(1));
    let keys = hold(&queue, &run.in_flight, 5).await;
    for k in &keys[..3] {
        run.intake.send(*k).expect("open");
    }
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(queue.log().deletes.is_empty(), "three of ten wait");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(queue.log().deletes, [keys[..3].to_vec()], "sent after 1 s");

    run.drain.cancel();
    let drained_at = Instant::now();
    for k in &keys[3..] {
        run.intake.send(*k).expect("open");
    }
    until("the rest deleted", || queue.len() == 0).await;
    let times = queue.log().delete_times;
    assert!(
        times[1..].iter().all(|t| *t == drained_at),
        "while draining, at once"
    );
    run.finish().await;
}

#[tokio::test(start_paused = true)]
async fn a_refused_entry_is_given_up_and_failed_or_omitted_ones_are_retried() {
    let queue = MemoryQueue::default();
    let run = start(&queue, 10, Duration::ZERO);
    let keys = hold(&queue, &run.in_flight, 4).await;
    let (refused, failed, omitted, fine) = (keys[0], keys[1], keys[2], keys[3]);
    let tries = Arc::new(Mutex::new(
        std::collections::HashMap::<MessageKey, u32>::new(),
    ));
    let counted = Arc::clone(&tries);
    queue.answer_entries(move |_, key| {
        let mut tries = counted.lock().expect("lock");
        let n = tries.entry(key).or_default();
        *n += 1;
        match (key, *n) {
            (k, _) if k == refused => Answer::Fail("ReceiptHandleIsInvalid", true),
            (k, 1) if k == failed => Answer::Fail("InternalError", false),
            (k, 1) if k == omitted => Answer::Omit,
            _ => Answer::Done,
        }
    });
    for k in &keys {
        run.intake.send(*k).expect("open");
    }
    let (queue, in_flight, stats, _) = run.finish().await;
    let tries = tries.lock().expect("lock").clone();
    assert_eq!(tries[&refused], 1, "a refusal is final");
    assert_eq!(tries[&failed], 2, "a server fault is retried");
    assert_eq!(
        tries[&omitted], 2,
        "an entry missing from the reply is retried"
    );
    assert_eq!(tries[&fine], 1);
    let s = stats.snapshot();
    assert_eq!((s.deleted, s.delete_failed), (3, 1));
    assert_eq!(
        in_flight.len(),
        0,
        "the refused one is released, to be redelivered"
    );
    assert_eq!(queue.len(), 1, "and is still in the queue");
}

#[tokio::test(start_paused = true)]
async fn a_failed_call_is_retried_and_counted_and_sqs_is_failing_meanwhile() {
    let queue = MemoryQueue::default();
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let is_down = Arc::clone(&down);
    queue.fail_calls(move |call| {
        (call == Call::Delete && is_down.load(std::sync::atomic::Ordering::Relaxed))
            .then_some("ServiceUnavailable")
    });
    let run = start(&queue, 10, Duration::ZERO);
    let keys = hold(&queue, &run.in_flight, 3).await;
    for k in &keys {
        run.intake.send(*k).expect("open");
    }
    until("three failed calls", || queue.log().deletes.len() >= 3).await;
    assert!(run.reachability.failing_for().is_some(), "SQS is failing");
    assert_eq!(run.in_flight.len(), 3, "nothing given up");
    down.store(false, std::sync::atomic::Ordering::Relaxed);
    let (queue, _, stats, reachability) = run.finish().await;
    let s = stats.snapshot();
    let calls = queue.log().deletes.len() as u64;
    assert_eq!(s.deleted, 3);
    assert_eq!(s.delete_calls, calls, "every call counted");
    assert!(
        s.sqs_call_failures >= 3 && s.sqs_call_failures < calls,
        "the failed ones as failures: {s:?}"
    );
    assert_eq!(
        reachability.failing_for(),
        None,
        "a success ended the outage"
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_whose_every_entry_failed_counts_as_a_failed_call() {
    let queue = MemoryQueue::default();
    let mut first = true;
    queue.answer_entries(move |_, _| {
        if std::mem::take(&mut first) {
            Answer::Fail("InternalError", false)
        } else {
            Answer::Done
        }
    });
    let run = start(&queue, 10, Duration::ZERO);
    let keys = hold(&queue, &run.in_flight, 1).await;
    run.intake.send(keys[0]).expect("open");
    let (_, _, stats, _) = run.finish().await;
    let s = stats.snapshot();
    assert_eq!((s.deleted, s.sqs_call_failures), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_message_handed_back_meanwhile_is_neither_deleted_nor_retried() {
    let queue = MemoryQueue::default();
    let run = start(&queue, 10, Duration::ZERO);
    let keys = hold(&queue, &run.in_flight, 2).await;
    run.in_flight.remove(keys[0]);
    for k in &keys {
        run.intake.send(*k).expect("open");
    }
    let (queue, _, stats, _) = run.finish().await;
    assert_eq!(queue.log().deletes, [vec![keys[1]]]);
    assert_eq!(stats.snapshot().deleted, 1);
}
