//! Counters of the work done, shared by every task, read by the summary line (and later by the
//! metrics endpoint). Plain atomics: cheap on the hot path, no lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use telemetry_model::DropReason;

/// Monotonic counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    /// ReceiveMessage calls that succeeded.
    pub receive_calls: AtomicU64,
    /// Messages returned by ReceiveMessage.
    pub received: AtomicU64,
    /// Submissions that passed validation.
    pub valid: AtomicU64,
    /// Submissions dropped, by reason (indexed by [`DropReason::index`]).
    pub dropped: [AtomicU64; DropReason::ALL.len()],
    /// Submissions whose every event has a sequence number.
    pub submissions_published: AtomicU64,
    /// Events acknowledged by Kinesis (first acknowledgement of each record we sent).
    pub events_published: AtomicU64,
    /// PutRecords requests sent.
    pub put_requests: AtomicU64,
    /// Records that came back failed (per-record errors and records of failed requests).
    pub put_failed_records: AtomicU64,
    /// DeleteMessageBatch calls sent.
    pub delete_calls: AtomicU64,
    /// Messages deleted from the queue.
    pub deleted: AtomicU64,
    /// Delete entries refused for good (the message will be redelivered: a duplicate).
    pub delete_failed: AtomicU64,
    /// Visibility extensions that succeeded.
    pub visibility_extended: AtomicU64,
    /// Messages handed back to the queue (visibility 0) at shutdown.
    pub handed_back: AtomicU64,
    /// SQS calls that failed as a whole (receive, delete, visibility), each retried.
    pub sqs_call_failures: AtomicU64,
    /// Dropped submissions accepted by the dead-letter queue.
    pub dead_lettered: AtomicU64,
    /// Sends to the dead-letter queue that failed, each retried (the message stays held).
    pub dead_letter_failures: AtomicU64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Counts one dropped submission.
    pub fn dropped(&self, reason: DropReason) {
        self.dropped[reason.index()].fetch_add(1, Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Relaxed);
        Snapshot {
            receive_calls: get(&self.receive_calls),
            received: get(&self.received),
            valid: get(&self.valid),
            dropped: std::array::from_fn(|i| get(&self.dropped[i])),
            submissions_published: get(&self.submissions_published),
            events_published: get(&self.events_published),
            put_requests: get(&self.put_requests),
            put_failed_records: get(&self.put_failed_records),
            delete_calls: get(&self.delete_calls),
            deleted: get(&self.deleted),
            delete_failed: get(&self.delete_failed),
            visibility_extended: get(&self.visibility_extended),
            handed_back: get(&self.handed_back),
            sqs_call_failures: get(&self.sqs_call_failures),
            dead_lettered: get(&self.dead_lettered),
            dead_letter_failures: get(&self.dead_letter_failures),
        }
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)] // same fields as [`Stats`]
pub struct Snapshot {
    pub receive_calls: u64,
    pub received: u64,
    pub valid: u64,
    pub dropped: [u64; DropReason::ALL.len()],
    pub submissions_published: u64,
    pub events_published: u64,
    pub put_requests: u64,
    pub put_failed_records: u64,
    pub delete_calls: u64,
    pub deleted: u64,
    pub delete_failed: u64,
    pub visibility_extended: u64,
    pub handed_back: u64,
    pub sqs_call_failures: u64,
    pub dead_lettered: u64,
    pub dead_letter_failures: u64,
}

impl Snapshot {
    /// All dropped submissions.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Dropped submissions of one reason.
    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// `reason=count` pairs of the non-zero reasons, e.g. `bad_ip=2 not_json=1`.
    pub fn dropped_by_reason(&self) -> String {
        DropReason::ALL
            .iter()
            .filter(|r| self.dropped_for(**r) > 0)
            .map(|r| format!("{r}={}", self.dropped_for(*r)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The change from `earlier` to `self`, counter by counter.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            receive_calls: self.receive_calls - earlier.receive_calls,
            received: self.received - earlier.received,
            valid: self.valid - earlier.valid,
            dropped: std::array::from_fn(|i| self.dropped[i] - earlier.dropped[i]),
            submissions_published: self.submissions_published - earlier.submissions_published,
            events_published: self.events_published - earlier.events_published,
            put_requests: self.put_requests - earlier.put_requests,
            put_failed_records: self.put_failed_records - earlier.put_failed_records,
            delete_calls: self.delete_calls - earlier.delete_calls,
            deleted: self.deleted - earlier.deleted,
            delete_failed: self.delete_failed - earlier.delete_failed,
            visibility_extended: self.visibility_extended - earlier.visibility_extended,
            handed_back: self.handed_back - earlier.handed_back,
            sqs_call_failures: self.sqs_call_failures - earlier.sqs_call_failures,
            dead_lettered: self.dead_lettered - earlier.dead_lettered,
            dead_letter_failures: self.dead_letter_failures - earlier.dead_letter_failures,
        }
    }
}
