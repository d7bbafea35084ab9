//! The receive loop's decisions against an in-memory queue on a paused clock: the pause at the
//! bound, where each message goes, a failed receive, a poll in progress at shutdown.

use telemetry_fleet::generator::Fleet;
use telemetry_fleet::profile::Profile;
use telemetry_model::DropReason;
use tokio::task::JoinHandle;

use super::*;
use crate::queue::memory::{until, Call, MemoryQueue};

/// Channels and state around one receive loop.
struct Running {
    in_flight: Arc<InFlight>,
    stats: Arc<Stats>,
    reachability: Arc<Reachability>,
    published: mpsc::UnboundedReceiver<Submitted>,
    deleted: mpsc::UnboundedReceiver<MessageKey>,
    letters: Option<mpsc::UnboundedReceiver<Letter>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

fn start(queue: &MemoryQueue, max_submissions: usize, wait: Duration, dlq: bool) -> Running {
    let in_flight = Arc::new(InFlight::new(max_submissions, 100_000));
    let stats = Arc::new(Stats::default());
    let reachability = Arc::new(Reachability::new("SQS"));
    let (publisher, published) = mpsc::unbounded_channel();
    let (deleter, deleted) = mpsc::unbounded_channel();
    let (dead_letter, letters) = if dlq {
        let (tx, rx) = mpsc::unbounded_channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let receiver = Receiver {
        queue: Arc::new(queue.clone()),
        batch_size: 10,
        wait_time: wait,
        visibility_timeout: Duration::from_secs(30),
        stop_poll_wait: Duration::from_secs(5),
        key_source: PartitionKeySource::DeviceId,
        in_flight: Arc::clone(&in_flight),
        publisher,
        deleter,
        dead_letter,
        stats: Arc::clone(&stats),
        reachability: Arc::clone(&reachability),
    };
    let stop = CancellationToken::new();
    let task = tokio::spawn(receiver.run(stop.clone()));
    Running {
        in_flight,
        stats,
        reachability,
        published,
        deleted,
        letters,
        stop,
        task,
    }
}

/// Fleet-shaped submissions with `events` events of each type, none broken.
fn bodies(n: usize, events: usize) -> Vec<String> {
    let profile = Profile {
        events_per_type: events..=events,
        broken: Vec::new(),
    };
    let mut fleet = Fleet::new(4, profile, 7);
    (0..n).map(|_| fleet.next_submission().body).collect()
}

/// Everything received on `rx` so far.
fn drain<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> Vec<T> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[tokio::test(start_paused = true)]
async fn receiving_pauses_at_the_bound_and_asks_only_for_what_is_free() {
    let queue = MemoryQueue::default();
    for body in bodies(25, 1) {
        queue.send(&body);
    }
    let mut run = start(&queue, 10, Duration::from_secs(1), false);
    let mut published = Vec::new();
    until("ten published", || {
        published.extend(drain(&mut run.published));
        published.len() == 10
    })
    .await;
    // Many long polls' worth of time: nothing more is asked for while ten are held.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(queue.log().receives, [10], "one call, for ten");
    assert!(drain(&mut run.published).is_empty());

    for s in &published[..3] {
        run.in_flight.remove(s.key);
    }
    until("three more published", || {
        published.extend(drain(&mut run.published));
        published.len() == 13
    })
    .await;
    assert_eq!(queue.log().receives, [10, 3], "then for the three freed");
    run.stop.cancel();
    run.task.await.expect("the loop ends at stop");
}

#[tokio::test(start_paused = true)]
async fn valid_empty_and_broken_submissions_each_go_their_way() {
    let queue = MemoryQueue::default();
    let valid = bodies(1, 2).remove(0);
    let empty = bodies(1, 0).remove(0);
    queue.send(&valid);
    queue.send(&empty);
    queue.send("!!! not base64");
    let mut run = start(&queue, 100, Duration::ZERO, false);
    let mut deleted = Vec::new();
    until("two deletions", || {
        deleted.extend(drain(&mut run.deleted));
        deleted.len() == 2
    })
    .await;
    let published = drain(&mut run.published);
    assert_eq!(published.len(), 1, "the valid one is published");
    assert_eq!(published[0].records.len(), 4, "two events of each type");
    assert!(!deleted.contains(&published[0].key));
    let s = run.stats.snapshot();
    assert_eq!(s.received, 3);
    assert_eq!(s.valid, 2, "the empty submission is valid");
    assert_eq!(s.submissions_published, 1, "and done at once");
    assert_eq!(
        s.dropped_for(DropReason::BadBase64),
        1,
        "the broken one is counted"
    );
    assert_eq!(run.in_flight.len(), 3, "all held until deleted");
    run.stop.cancel();
    run.task.await.expect("the loop ends at stop");
}

#[tokio::test(start_paused = true)]
async fn with_a_dead_letter_queue_a_broken_submission_becomes_a_letter() {
    let queue = MemoryQueue::default();
    queue.send("!!! not base64");
    let mut run = start(&queue, 100, Duration::ZERO, true);
    let letters = run.letters.as_mut().expect("a dead-letter queue");
    let mut got = Vec::new();
    until("a letter", || {
        got.extend(drain(letters));
        !got.is_empty()
    })
    .await;
    assert_eq!(got[0].body, "!!! not base64", "the body unchanged");
    assert_eq!(got[0].reason, DropReason::BadBase64);
    assert!(drain(&mut run.deleted).is_empty(), "deleted only once kept");
    run.stop.cancel();
    run.task.await.expect("the loop ends at stop");
}

#[tokio::test(start_paused = true)]
async fn a_failed_receive_is_retried_with_backoff_and_sqs_is_failing_meanwhile() {
    let queue = MemoryQueue::default();
    queue.send(&bodies(1, 1).remove(0));
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let is_down = Arc::clone(&down);
    queue.fail_calls(move |call| {
        (call == Call::Receive && is_down.load(std::sync::atomic::Ordering::Relaxed))
            .then_some("connection")
    });
    let mut run = start(&queue, 100, Duration::from_secs(1), false);
    until("three failed receives", || queue.log().receives.len() >= 3).await;
    assert!(run.reachability.failing_for().is_some());
    assert_eq!(run.in_flight.len(), 0, "no permit kept by a failed call");
    let started = Instant::now();
    let before = queue.log().receives.len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        queue.log().receives.len() - before <= 1,
        "backing off, not calling back to back ({:?})",
        started.elapsed()
    );
    down.store(false, std::sync::atomic::Ordering::Relaxed);
    until("published", || !drain(&mut run.published).is_empty()).await;
    assert_eq!(run.reachability.failing_for(), None);
    assert!(run.stats.snapshot().sqs_call_failures >= 3);
    run.stop.cancel();
    run.task.await.expect("the loop ends at stop");
}

#[tokio::test(start_paused = true)]
async fn a_poll_in_progress_at_stop_may_return_its_messages_which_stay_held() {
    let queue = MemoryQueue::default();
    let mut run = start(&queue, 100, Duration::from_secs(20), false);
    until("a long poll waiting", || queue.log().receives.len() == 1).await;
    run.stop.cancel();
    queue.send(&bodies(1, 1).remove(0));
    run.task.await.expect("the loop ends");
    assert_eq!(
        run.in_flight.all(true).len(),
        1,
        "held, not passed on, for the hand-back"
    );
    assert!(drain(&mut run.published).is_empty());
    assert_eq!(queue.log().receives.len(), 1, "no poll after stop");
}
