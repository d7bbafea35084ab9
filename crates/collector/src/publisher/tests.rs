//! The publisher's batching and retry decisions against a fake sink that fails on command and
//! checks, at every request, that no submission ever has two records unacknowledged.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::*;

/// The shard limiter has tests of its own.
const UNLIMITED: Option<Limits> = None;

type Policy = dyn Fn(&Sent, usize) -> Outcome + Send + Sync;

/// A record as the fake sink got it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    partition_key: String,
    data: Vec<u8>,
}

/// Records every request; decides each record's outcome with `policy(entry, request_no)`,
/// or fails whole requests while `fail_requests` says so.
struct FakeSink {
    log: Arc<Mutex<Log>>,
    policy: Box<Policy>,
    fail_request: Box<dyn Fn(usize) -> bool + Send + Sync>,
    /// The round trip of request number n (from 1); zero answers at the next yield.
    rtt: Box<dyn Fn(usize) -> Duration + Send + Sync>,
}

#[derive(Default)]
struct Log {
    requests: Vec<Vec<Sent>>,
    /// Data of records sent and not yet answered, by partition key.
    outstanding: HashSet<String>,
    /// Records acknowledged, in acknowledgement order.
    acked: Vec<Sent>,
    violations: Vec<String>,
}

impl RecordSink for FakeSink {
    async fn open_shards(&self) -> Result<ShardMap, String> {
        Ok(ShardMap::default())
    }

    type Request = Vec<Sent>;

    fn request(&self, entries: &[Entry<'_>]) -> Vec<Sent> {
        entries
            .iter()
            .map(|e| Sent {
                partition_key: e.partition_key.to_owned(),
                data: e.data.to_vec(),
            })
            .collect()
    }

    async fn send(&self, entries: Vec<Sent>) -> Result<Vec<Outcome>, String> {
        let n = {
            let mut log = self.log.lock().expect("lock");
            for e in &entries {
                if !log.outstanding.insert(e.partition_key.clone()) {
                    let v = format!("two records of {} unacknowledged at once", e.partition_key);
                    log.violations.push(v);
                }
            }
            log.requests.push(entries.clone());
            log.requests.len()
        };
        match (self.rtt)(n) {
            Duration::ZERO => tokio::task::yield_now().await,
            rtt => tokio::time::sleep(rtt).await,
        }
        let mut log = self.log.lock().expect("lock");
        for e in &entries {
            log.outstanding.remove(&e.partition_key);
        }
        if (self.fail_request)(n) {
            return Err("ServiceUnavailable".into());
        }
        let outcomes: Vec<Outcome> = entries.iter().map(|e| (self.policy)(e, n)).collect();
        for (e, o) in entries.iter().zip(&outcomes) {
            if *o == Outcome::Acked(None) {
                log.acked.push(e.clone());
            }
        }
        Ok(outcomes)
    }
}

fn submission(key: MessageKey, events: usize, bytes: usize) -> Submitted {
    let data = (0..events).map(|i| {
        let mut d = format!("{key}:{i}:").into_bytes();
        d.resize(bytes.max(d.len()), b'x');
        d
    });
    Submitted {
        key,
        records: Records::new(format!("pk-{key}"), data),
        sent_at_ms: None,
    }
}

fn event_index(e: &Sent) -> usize {
    let text = String::from_utf8_lossy(&e.data);
    text.split(':')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("test data")
}

struct Run {
    log: Log,
    finished: Vec<MessageKey>,
    stats: crate::stats::Snapshot,
}

async fn publish(
    submissions: Vec<Submitted>,
    settings: PublisherSettings,
    policy: impl Fn(&Sent, usize) -> Outcome + Send + Sync + 'static,
    fail_request: impl Fn(usize) -> bool + Send + Sync + 'static,
) -> Run {
    let log = Arc::new(Mutex::new(Log::default()));
    let sink = FakeSink {
        log: Arc::clone(&log),
        policy: Box::new(policy),
        fail_request: Box::new(fail_request),
        rtt: Box::new(|_| Duration::ZERO),
    };
    let stats = Arc::new(Stats::default());
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (tx, rx) = mpsc::unbounded_channel();
    for s in submissions {
        tx.send(s).expect("open");
    }
    drop(tx);
    let publisher = Publisher::new(
        Arc::new(sink),
        settings,
        Arc::clone(&stats),
        Arc::new(Reachability::new("Kinesis")),
        crate::shards::feed().1,
        done_tx,
    );
    publisher.run(rx, CancellationToken::new()).await;
    let mut finished = Vec::new();
    while let Ok(k) = done_rx.try_recv() {
        finished.push(k);
    }
    let log = std::mem::take(&mut *log.lock().expect("lock"));
    Run {
        log,
        finished,
        stats: stats.snapshot(),
    }
}

fn settings(batch_records: usize) -> PublisherSettings {
    PublisherSettings {
        batch_records,
        linger: Duration::from_millis(20),
        max_requests: 4,
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(8),
        },
        shard_limits: UNLIMITED,
    }
}

/// Every submission finished once, and per partition key the acknowledged records are exactly
/// the submission's events in document order, each acknowledged once.
fn assert_complete_and_ordered(run: &Run, sizes: &HashMap<MessageKey, usize>) {
    assert!(
        run.log.violations.is_empty(),
        "{:?}",
        &run.log.violations[..run.log.violations.len().min(3)]
    );
    let mut finished = run.finished.clone();
    finished.sort_unstable();
    let mut want: Vec<_> = sizes.keys().copied().collect();
    want.sort_unstable();
    assert_eq!(finished, want, "every submission finished exactly once");
    let mut acked: HashMap<&str, Vec<usize>> = HashMap::new();
    for e in &run.log.acked {
        acked
            .entry(e.partition_key.as_str())
            .or_default()
            .push(event_index(e));
    }
    for (key, n) in sizes {
        let got = acked
            .get(format!("pk-{key}").as_str())
            .cloned()
            .unwrap_or_default();
        assert_eq!(got, (0..*n).collect::<Vec<_>>(), "submission {key}");
    }
}

#[tokio::test(start_paused = true)]
async fn many_submissions_share_requests_and_each_stays_in_order() {
    let subs: Vec<_> = (0..1_000)
        .map(|k| submission(k, 1 + (k as usize % 7), 50))
        .collect();
    let sizes = subs.iter().map(|s| (s.key, s.records.len())).collect();
    let run = publish(subs, settings(500), |_, _| Outcome::Acked(None), |_| false).await;
    assert_complete_and_ordered(&run, &sizes);
    assert!(run.log.requests.iter().all(|r| r.len() <= 500));
    assert_eq!(
        run.log.requests[0].len(),
        500,
        "a backlog fills the first request"
    );
    for r in &run.log.requests {
        let keys: HashSet<_> = r.iter().map(|e| &e.partition_key).collect();
        assert_eq!(keys.len(), r.len(), "one record per submission per request");
    }
}

#[tokio::test(start_paused = true)]
async fn partial_failures_are_retried_without_reordering() {
    // Fail about a third of records, deterministically, for the first 40 requests: later
    // records of the same request succeed where earlier ones failed, as Kinesis allows.
    let subs: Vec<_> = (0..300).map(|k| submission(k, 10, 40)).collect();
    let sizes = subs.iter().map(|s| (s.key, s.records.len())).collect();
    let policy = |e: &Sent, n: usize| {
        let h = e
            .data
            .iter()
            .fold(n, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(*b)));
        if n <= 40 && h % 3 == 0 {
            Outcome::Failed("ProvisionedThroughputExceededException".into())
        } else {
            Outcome::Acked(None)
        }
    };
    let run = publish(subs, settings(500), policy, |_| false).await;
    assert_complete_and_ordered(&run, &sizes);
    assert!(
        run.stats.put_failed_records > 100,
        "failures happened: {}",
        run.stats.put_failed_records
    );
    assert_eq!(run.stats.events_published, 3_000);
}

#[tokio::test(start_paused = true)]
async fn failed_requests_are_retried_until_they_succeed() {
    let subs: Vec<_> = (0..50).map(|k| submission(k, 4, 40)).collect();
    let sizes = subs.iter().map(|s| (s.key, s.records.len())).collect();
    let run = publish(
        subs,
        settings(500),
        |_, _| Outcome::Acked(None),
        |n| n % 3 != 0,
    )
    .await;
    assert_complete_and_ordered(&run, &sizes);
    assert!(run.stats.put_requests > run.log.acked.len() as u64 / 50);
}

#[tokio::test(start_paused = true)]
async fn a_submission_larger_than_a_batch_is_published_whole_and_in_order() {
    let subs = vec![submission(7, 1_200, 30)];
    let sizes = subs.iter().map(|s| (s.key, s.records.len())).collect();
    let run = publish(subs, settings(500), |_, _| Outcome::Acked(None), |_| false).await;
    assert_complete_and_ordered(&run, &sizes);
    assert_eq!(run.log.requests.len(), 1_200, "one record at a time");
}

#[tokio::test(start_paused = true)]
async fn requests_respect_the_five_mib_limit() {
    // 40 submissions of one 600 KiB record: at most 8 fit in 5 MiB.
    let subs: Vec<_> = (0..40).map(|k| submission(k, 1, 600 * 1024)).collect();
    let sizes = subs.iter().map(|s| (s.key, s.records.len())).collect();
    let run = publish(subs, settings(500), |_, _| Outcome::Acked(None), |_| false).await;
    assert_complete_and_ordered(&run, &sizes);
    for r in &run.log.requests {
        let bytes: usize = r
            .iter()
            .map(|e| record_size(&e.partition_key, &e.data))
            .sum();
        assert!(bytes <= MAX_REQUEST_BYTES, "{bytes} bytes in one request");
    }
    assert!(run.log.requests.iter().any(|r| r.len() == 8));
}

#[tokio::test(start_paused = true)]
async fn the_batch_size_setting_caps_requests() {
    let subs: Vec<_> = (0..100).map(|k| submission(k, 2, 10)).collect();
    let sizes = subs.iter().map(|s| (s.key, s.records.len())).collect();
    let run = publish(subs, settings(7), |_, _| Outcome::Acked(None), |_| false).await;
    assert_complete_and_ordered(&run, &sizes);
    assert!(run.log.requests.iter().all(|r| r.len() <= 7));
}

/// A round trip of 20 to 30 ms, varying from request to request as a network's does.
fn jittery_rtt(n: usize) -> Duration {
    Duration::from_millis(20 + (n as u64 * 7919) % 11)
}

/// A publisher on a sink that answers every record after round trip `rtt(n)` for request n;
/// the returned sender feeds it, and the receiver yields each finished submission's key.
fn publisher_with_rtt(
    settings: PublisherSettings,
    rtt: impl Fn(usize) -> Duration + Send + Sync + 'static,
) -> (
    mpsc::UnboundedSender<Submitted>,
    mpsc::UnboundedReceiver<MessageKey>,
    Arc<Mutex<Log>>,
    tokio::task::JoinHandle<()>,
) {
    let log = Arc::new(Mutex::new(Log::default()));
    let sink = FakeSink {
        log: Arc::clone(&log),
        policy: Box::new(|_, _| Outcome::Acked(None)),
        fail_request: Box::new(|_| false),
        rtt: Box::new(rtt),
    };
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let (tx, rx) = mpsc::unbounded_channel();
    let publisher = Publisher::new(
        Arc::new(sink),
        settings,
        Arc::new(Stats::default()),
        Arc::new(Reachability::new("Kinesis")),
        crate::shards::feed().1,
        done_tx,
    );
    let task = tokio::spawn(publisher.run(rx, CancellationToken::new()));
    (tx, done_rx, log, task)
}

#[tokio::test(start_paused = true)]
async fn a_submission_pays_the_flush_interval_once_not_at_every_step() {
    // Submissions of 8 events arriving every 7 ms, round trips of 20-30 ms, except one
    // request that takes 400 ms (a straggler: a slow connection, a retry): while it is in
    // flight some request always is. Each submission needs 8 round trips (one record
    // outstanding at a time) and may wait the flush interval once, for company; the
    // straggler's own submissions wait for it, the others must not.
    const EVENTS: usize = 8;
    const STRAGGLER: usize = 2;
    let linger = Duration::from_millis(50);
    let settings = PublisherSettings {
        batch_records: 500,
        linger,
        max_requests: 8,
        backoff: Backoff::RECORDS,
        shard_limits: UNLIMITED,
    };
    let rtt = |n| {
        if n == STRAGGLER {
            Duration::from_millis(400)
        } else {
            jittery_rtt(n)
        }
    };
    let (tx, mut done, log, task) = publisher_with_rtt(settings, rtt);
    let arrived = Arc::new(Mutex::new(HashMap::new()));
    let feeder = {
        let arrived = Arc::clone(&arrived);
        tokio::spawn(async move {
            for k in 0..150 {
                arrived.lock().expect("lock").insert(k, Instant::now());
                tx.send(submission(k, EVENTS, 100)).expect("open");
                tokio::time::sleep(Duration::from_millis(7)).await;
            }
        })
    };
    let mut lags = HashMap::new();
    while let Some(key) = done.recv().await {
        let since = arrived.lock().expect("lock")[&key];
        lags.insert(format!("pk-{key}"), since.elapsed());
    }
    feeder.await.expect("feeder");
    task.await.expect("publisher");
    assert_eq!(lags.len(), 150);
    let log = log.lock().expect("lock");
    assert!(log.violations.is_empty(), "{:?}", log.violations);
    let held_up: HashSet<&String> = log.requests[STRAGGLER - 1]
        .iter()
        .map(|e| &e.partition_key)
        .collect();
    let worst = lags
        .iter()
        .filter(|(key, _)| !held_up.contains(key))
        .map(|(_, lag)| *lag)
        .max()
        .unwrap_or_default();
    let most = linger + Duration::from_millis(30) * EVENTS as u32;
    assert!(
        worst <= most,
        "the slowest submission took {worst:?}; one flush interval and 8 round trips are {most:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn batches_stay_full_under_heavy_load() {
    // 2,000 submissions of 8 events at once: every request slot is busy, so what is ready
    // gathers while it waits for one.
    let settings = PublisherSettings {
        batch_records: 500,
        linger: Duration::from_millis(50),
        max_requests: 8,
        backoff: Backoff::RECORDS,
        shard_limits: UNLIMITED,
    };
    let (tx, mut done, log, task) = publisher_with_rtt(settings, jittery_rtt);
    for k in 0..2_000 {
        tx.send(submission(k, 8, 100)).expect("open");
    }
    drop(tx);
    let mut finished = 0;
    while done.recv().await.is_some() {
        finished += 1;
    }
    task.await.expect("publisher");
    assert_eq!(finished, 2_000);
    let log = log.lock().expect("lock");
    let sizes: Vec<usize> = log.requests.iter().map(Vec::len).collect();
    let mean = sizes.iter().sum::<usize>() / sizes.len();
    assert!(sizes.iter().all(|n| *n <= 500));
    assert!(
        mean >= 400,
        "{} requests of {mean} records on average: {sizes:?}",
        sizes.len()
    );
}

#[test]
fn a_cursor_counts_each_records_own_size_whether_looked_ahead_or_not() {
    let key = "k".repeat(36);
    let data: [&[u8]; 3] = [&[b'a'; 10], &[b'b'; 20], &[b'c'; 30]];
    let mut cursor = Cursor {
        key: 1,
        records: Records::new(key.clone(), data),
        next: 0,
        size: 0,
        following: None,
        attempts: 2,
        since: Instant::now(),
        sent_at_ms: None,
        hash_key: 0,
        shard: None,
    };
    assert!(cursor.go_to(0));
    assert_eq!((cursor.size, cursor.attempts), (36 + 10, 0));
    // Sent: the next record's size is noted while its offsets are at hand.
    cursor.look_ahead();
    cursor.attempts = 1;
    assert!(cursor.advance());
    assert_eq!((cursor.next, cursor.size, cursor.attempts), (1, 36 + 20, 0));
    assert_eq!(cursor.entry().data, data[1]);
    // Not looked ahead (a path that skipped it): read from the records.
    assert!(cursor.advance());
    assert_eq!((cursor.next, cursor.size), (2, 36 + 30));
    cursor.look_ahead();
    assert!(!cursor.advance(), "the last record was acknowledged");
}
