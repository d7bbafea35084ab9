//! Counters of the work done, shared by every task, read by the summary line and by the
//! metrics endpoint ([`crate::metrics`]). Plain atomics: cheap on the hot path, no lock. The
//! histograms ([`crate::histogram`]) are atomics too, observed once per message or request,
//! never per event.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use telemetry_model::DropReason;

use crate::histogram::Histogram;
use crate::liveness::Heartbeats;

/// The error codes a failed record is counted under: Kinesis' per-record codes, and one for the
/// records of a request that failed as a whole. A bounded set, for a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutFailure {
    /// `ProvisionedThroughputExceededException`: the shard's write limit (reshard or slow down).
    Throughput,
    /// `InternalFailure`.
    Internal,
    /// `KMSThrottlingException` and the other KMS codes of an encrypted stream.
    Kms,
    /// Any other per-record code.
    Other,
    /// The whole request failed (network, timeout, throttling of the call, an unreadable reply).
    Request,
}

impl PutFailure {
    /// Every kind, in label order.
    pub(crate) const ALL: [PutFailure; 5] = [
        PutFailure::Throughput,
        PutFailure::Internal,
        PutFailure::Kms,
        PutFailure::Other,
        PutFailure::Request,
    ];

    /// The kind of a per-record error code.
    pub(crate) fn of_record(code: &str) -> Self {
        match code {
            "ProvisionedThroughputExceededException" => PutFailure::Throughput,
            "InternalFailure" => PutFailure::Internal,
            c if c.starts_with("KMS") => PutFailure::Kms,
            _ => PutFailure::Other,
        }
    }

    /// The position in [`PutFailure::ALL`] (declaration order).
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// The label value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            PutFailure::Throughput => "ProvisionedThroughputExceededException",
            PutFailure::Internal => "InternalFailure",
            PutFailure::Kms => "KMS",
            PutFailure::Other => "other",
            PutFailure::Request => "request_failed",
        }
    }
}

/// The SQS calls whose failures are counted apart (each retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SqsCall {
    /// ReceiveMessage.
    Receive,
    /// DeleteMessageBatch.
    Delete,
    /// ChangeMessageVisibilityBatch (extensions and hand-backs).
    ChangeVisibility,
}

impl SqsCall {
    /// Every call, in label order.
    pub(crate) const ALL: [SqsCall; 3] =
        [SqsCall::Receive, SqsCall::Delete, SqsCall::ChangeVisibility];

    /// The position in [`SqsCall::ALL`] (declaration order).
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// The label value.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            SqsCall::Receive => "ReceiveMessage",
            SqsCall::Delete => "DeleteMessageBatch",
            SqsCall::ChangeVisibility => "ChangeMessageVisibilityBatch",
        }
    }
}

/// The distributions the metrics endpoint shows.
#[derive(Debug)]
pub(crate) struct Histograms {
    /// Seconds from receiving a message to its deletion.
    pub receive_to_delete: Histogram,
    /// Seconds from the moment SQS says a message was sent to the moment its events were made
    /// (`time_processed`): the honest near-realtime lag (`time_created` is device local time).
    pub event_lag: Histogram,
    /// Seconds from the moment SQS says a message was sent to the acknowledgement of its
    /// submission's last record: the lag a consumer of the stream feels.
    pub submission_lag: Histogram,
    /// Seconds each PutRecords call took, from sending to its answer (or failure).
    pub put_records_seconds: Histogram,
    /// Seconds a record waited for its shard's tokens (only records that had to wait).
    pub token_wait_seconds: Histogram,
    /// Records per PutRecords request.
    pub put_batch_records: Histogram,
    /// Messages per successful ReceiveMessage call.
    pub receive_batch_messages: Histogram,
}

/// Bucket bounds of the latency histograms, in seconds: 10 ms to 30 min.
pub(crate) const LATENCY_BUCKETS: [f64; 16] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];
/// Bucket bounds of the submission lag, in seconds: fine around the tens of round trips a
/// submission needs, then up to 30 min.
pub(crate) const SUBMISSION_LAG_BUCKETS: [f64; 26] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0,
    5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0,
];
/// Bucket bounds of a PutRecords call's duration (and of a wait for a shard's tokens), in
/// seconds: 1 ms to the 10 s attempt timeout.
pub(crate) const CALL_BUCKETS: [f64; 18] = [
    0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];
/// Bucket bounds of records per PutRecords request (at most 500).
pub(crate) const PUT_BATCH_BUCKETS: [f64; 9] =
    [1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 300.0, 500.0];
/// Bucket bounds of messages per ReceiveMessage reply (at most 10).
pub(crate) const RECEIVE_BATCH_BUCKETS: [f64; 11] =
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];

impl Default for Histograms {
    fn default() -> Self {
        Histograms {
            receive_to_delete: Histogram::new(&LATENCY_BUCKETS),
            event_lag: Histogram::new(&LATENCY_BUCKETS),
            submission_lag: Histogram::new(&SUBMISSION_LAG_BUCKETS),
            put_records_seconds: Histogram::new(&CALL_BUCKETS),
            token_wait_seconds: Histogram::new(&CALL_BUCKETS),
            put_batch_records: Histogram::new(&PUT_BATCH_BUCKETS),
            receive_batch_messages: Histogram::new(&RECEIVE_BATCH_BUCKETS),
        }
    }
}

/// Monotonic counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    /// ReceiveMessage calls that succeeded.
    pub(crate) receive_calls: AtomicU64,
    /// Messages returned by ReceiveMessage.
    pub(crate) received: AtomicU64,
    /// Submissions that passed validation.
    pub(crate) valid: AtomicU64,
    /// Submissions dropped, by reason (indexed by [`DropReason::index`]).
    pub(crate) dropped: [AtomicU64; DropReason::ALL.len()],
    /// Submissions whose every event has a sequence number.
    pub(crate) submissions_published: AtomicU64,
    /// Events acknowledged by Kinesis (first acknowledgement of each record we sent).
    pub(crate) events_published: AtomicU64,
    /// PutRecords requests sent.
    pub(crate) put_requests: AtomicU64,
    /// Records that came back failed (per-record errors and records of failed requests), by
    /// kind (indexed like [`PutFailure::ALL`]).
    pub(crate) put_failed_by_kind: [AtomicU64; PutFailure::ALL.len()],
    /// Failed records sent again once their backoff was over.
    pub(crate) put_retries: AtomicU64,
    /// DeleteMessageBatch calls sent.
    pub(crate) delete_calls: AtomicU64,
    /// Messages deleted from the queue.
    pub(crate) deleted: AtomicU64,
    /// Delete entries refused for good (the message will be redelivered: a duplicate).
    pub(crate) delete_failed: AtomicU64,
    /// Visibility extensions that succeeded.
    pub(crate) visibility_extended: AtomicU64,
    /// Messages handed back to the queue (visibility 0) at shutdown.
    pub(crate) handed_back: AtomicU64,
    /// SQS calls that failed as a whole (receive, delete, visibility), each retried, by call
    /// (indexed like [`SqsCall::ALL`]).
    pub(crate) sqs_call_failures_by_call: [AtomicU64; SqsCall::ALL.len()],
    /// Dropped submissions accepted by the dead-letter queue.
    pub(crate) dead_lettered: AtomicU64,
    /// Sends to the dead-letter queue that failed, each retried (the message stays held).
    pub(crate) dead_letter_failures: AtomicU64,
    /// Latency and batch-size distributions.
    pub(crate) histograms: Histograms,
    /// When each loop last ran, for the liveness probe.
    pub(crate) heartbeats: Heartbeats,
    /// What the publisher shows of itself.
    pub(crate) publisher: PublisherGauges,
}

/// The publisher's state as gauges, written at each turn of its loop.
#[derive(Debug, Default)]
pub(crate) struct PublisherGauges {
    /// PutRecords requests in flight.
    pub(crate) requests_in_flight: AtomicU64,
    /// The adaptive limit on them.
    pub(crate) requests_limit: AtomicU64,
    /// Open shards in the publisher's map.
    pub(crate) shards: AtomicU64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Counts one dropped submission.
    pub(crate) fn dropped(&self, reason: DropReason) {
        self.dropped[reason.index()].fetch_add(1, Relaxed);
    }

    /// Counts records that failed, of one kind.
    pub(crate) fn put_failed(&self, kind: PutFailure, n: u64) {
        if n > 0 {
            self.put_failed_by_kind[kind.index()].fetch_add(n, Relaxed);
        }
    }

    /// Counts one failed SQS call.
    pub(crate) fn sqs_call_failed(&self, call: SqsCall) {
        self.sqs_call_failures_by_call[call.index()].fetch_add(1, Relaxed);
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
            put_failed_records: self.put_failed_by_kind.iter().map(get).sum(),
            delete_calls: get(&self.delete_calls),
            deleted: get(&self.deleted),
            delete_failed: get(&self.delete_failed),
            visibility_extended: get(&self.visibility_extended),
            handed_back: get(&self.handed_back),
            sqs_call_failures: self.sqs_call_failures_by_call.iter().map(get).sum(),
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
    pub(crate) fn dropped_by_reason(&self) -> String {
        DropReason::ALL
            .iter()
            .filter(|r| self.dropped_for(**r) > 0)
            .map(|r| format!("{r}={}", self.dropped_for(*r)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The change from `earlier` to `self`, counter by counter.
    pub(crate) fn since(&self, earlier: &Snapshot) -> Snapshot {
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

/// Seconds from `epoch_ms` (epoch milliseconds) to now; a clock behind it counts 0.
pub(crate) fn seconds_since(epoch_ms: u64) -> Option<f64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(
        now.saturating_sub(std::time::Duration::from_millis(epoch_ms))
            .as_secs_f64(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_enums_index_their_all_lists() {
        for (i, k) in PutFailure::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        for (i, c) in SqsCall::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
        assert_eq!(
            PutFailure::of_record("KMSThrottlingException"),
            PutFailure::Kms
        );
        assert_eq!(PutFailure::of_record("SomethingNew"), PutFailure::Other);
    }
}
