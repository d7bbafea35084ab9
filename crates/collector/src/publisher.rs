//! The publisher: where the **order** guarantee is enforced, and half of **no loss**.
//!
//! Each submission is a cursor over its encoded events. The rule that makes order hold by
//! construction: *a submission has at most one record unacknowledged at any time.* Its next
//! record is sent only after Kinesis gave the previous one a sequence number, so whatever
//! PutRecords does with the records of one request (it does not keep their order, and can fail
//! an earlier record where a later one succeeds), the first occurrence of each event on the
//! shard comes in document order; a retried or duplicated record is always the newest one.
//!
//! Throughput comes from breadth instead: each request carries the next record of up to
//! `DATA_STREAM_MAX_BUFFER_SIZE` different submissions, and several requests are in flight.
//!
//! A submission pays the flush interval once, not at every step: its first record may wait up
//! to `DATA_STREAM_FLUSH_INTERVAL_SEC` for others to share a request, while another request is
//! in flight; its later records (and retries) have waited already and go as soon as a request
//! slot is free. A batch is sent when it is full (records or 5 MiB), when no request is in
//! flight (waiting would only add latency), when a record has waited enough (a later record of
//! a submission, or a first record that waited the flush interval), or at once while draining
//! for shutdown. At moderate load a submission's lag is then about one round trip per event
//! plus at most one flush interval; under heavy load every slot is busy, so records gather
//! while they wait for one and batches stay full.
//!
//! A failed record (per-record error, failed or timed-out request) goes back with capped
//! exponential backoff and jitter, per submission; its submission waits. A submission whose
//! last record is acknowledged goes to the deleter, and its lag (from SQS's `SentTimestamp`)
//! is observed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use telemetry_model::Records;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::in_flight::MessageKey;
use crate::liveness;
use crate::put_records::{record_size, Entry, Outcome, RecordSink, MAX_REQUEST_BYTES};
use crate::reachability::Reachability;
use crate::requests_in_flight::RequestsInFlight;
use crate::stats::{self, PutFailure, Stats};

/// A valid submission handed to the publisher.
#[derive(Debug)]
pub(crate) struct Submitted {
    /// The held message it came from.
    pub key: MessageKey,
    /// Its encoded events, at least one.
    pub records: Records,
    /// When SQS took the message in (epoch milliseconds), if it said: for the lag histogram.
    pub sent_at_ms: Option<u64>,
}

/// How the publisher batches and retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublisherSettings {
    /// Records per request (1..=500).
    pub batch_records: usize,
    /// Longest wait to fill a batch while another request is in flight.
    pub linger: Duration,
    /// Requests in flight at once.
    pub max_requests: usize,
    /// Backoff of failed records.
    pub backoff: Backoff,
}

/// A submission being published.
#[derive(Debug)]
struct Cursor {
    key: MessageKey,
    records: Records,
    /// Index of the next record to be acknowledged.
    next: usize,
    /// Failed tries of that record.
    attempts: u32,
    /// When the submission's first record became ready to send.
    since: Instant,
    /// When SQS took the message in (epoch milliseconds).
    sent_at_ms: Option<u64>,
}

impl Cursor {
    fn entry(&self) -> Entry {
        Entry {
            partition_key: self.records.partition_key.clone(),
            data: self
                .records
                .data
                .get(self.next)
                .cloned()
                .unwrap_or_default(),
        }
    }

    fn entry_size(&self) -> usize {
        let data = self
            .records
            .data
            .get(self.next)
            .map_or(&[][..], Vec::as_slice);
        record_size(&self.records.partition_key, data)
    }
}

/// Sends submissions' records to a [`RecordSink`] in order, and reports finished submissions.
pub(crate) struct Publisher<S> {
    sink: Arc<S>,
    settings: PublisherSettings,
    stats: Arc<Stats>,
    reachability: Arc<Reachability>,
    finished: mpsc::UnboundedSender<MessageKey>,
    /// First records of new submissions, oldest first: they may wait up to the flush interval
    /// for company while another request is in flight.
    fresh: VecDeque<Cursor>,
    /// Records whose submission has waited already (later records, retries): they go as soon
    /// as a request slot is free. Each ready record, fresh or due, is of another submission.
    due: VecDeque<Cursor>,
    /// Bytes of `fresh` and `due`, as they count against the request limit.
    ready_bytes: usize,
    /// Records waiting out a backoff, by due time (the u64 breaks ties).
    backing_off: BTreeMap<(Instant, u64), Cursor>,
    tie: u64,
    requests: RequestsInFlight<Cursor, Result<Vec<Outcome>, String>>,
}

impl<S: RecordSink> Publisher<S> {
    /// A publisher that reports each fully acknowledged submission's key on `finished`.
    pub(crate) fn new(
        sink: S,
        settings: PublisherSettings,
        stats: Arc<Stats>,
        reachability: Arc<Reachability>,
        finished: mpsc::UnboundedSender<MessageKey>,
    ) -> Self {
        Publisher {
            sink: Arc::new(sink),
            settings,
            stats,
            reachability,
            finished,
            fresh: VecDeque::new(),
            due: VecDeque::new(),
            ready_bytes: 0,
            backing_off: BTreeMap::new(),
            tie: 0,
            requests: RequestsInFlight::new(),
        }
    }

    /// Runs until `intake` is closed and every submission taken in is fully acknowledged.
    /// After `drain` fires, batches go at once instead of lingering.
    pub(crate) async fn run(
        mut self,
        mut intake: mpsc::UnboundedReceiver<Submitted>,
        drain: CancellationToken,
    ) {
        let mut intake_open = true;
        let mut draining = false;
        let mut beat = liveness::ticker();
        loop {
            self.stats.heartbeats.publisher.beat();
            let now = Instant::now();
            self.release_due(now);
            while let Some(batch) = self.next_batch(now, draining) {
                self.send(batch);
            }
            if !intake_open
                && self.ready_len() == 0
                && self.backing_off.is_empty()
                && self.requests.is_empty()
            {
                return;
            }
            let wake = self.next_wake();
            tokio::select! {
                (cursors, result) = self.requests.next() => self.settle(cursors, result),
                got = intake.recv(), if intake_open => match got {
                    Some(s) => {
                        self.take(s);
                        // Take what else has arrived before deciding, so a burst fills a
                        // request instead of going out one record at a time.
                        for _ in 0..self.settings.batch_records {
                            match intake.try_recv() {
                                Ok(s) => self.take(s),
                                Err(_) => break,
                            }
                        }
                    }
                    None => intake_open = false,
                },
                () = sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
                () = drain.cancelled(), if !draining => draining = true,
                _ = beat.tick() => {}
            }
        }
    }

    fn take(&mut self, s: Submitted) {
        if s.records.data.is_empty() {
            // Never sent here (the receiver deletes empty submissions); settle it anyway.
            self.finish(s.key);
            return;
        }
        let cursor = Cursor {
            key: s.key,
            records: s.records,
            next: 0,
            attempts: 0,
            since: Instant::now(),
            sent_at_ms: s.sent_at_ms,
        };
        self.ready_bytes += cursor.entry_size();
        self.fresh.push_back(cursor);
    }

    /// A record whose submission has waited its flush interval already.
    fn push_due(&mut self, cursor: Cursor) {
        self.ready_bytes += cursor.entry_size();
        self.due.push_back(cursor);
    }

    fn ready_len(&self) -> usize {
        self.fresh.len() + self.due.len()
    }

    /// Moves records whose backoff is over to the ready queue.
    fn release_due(&mut self, now: Instant) {
        while let Some(entry) = self.backing_off.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let cursor = entry.remove();
            Stats::add(&self.stats.put_retries, 1);
            self.push_due(cursor);
        }
    }

    /// The next batch to send now, if the rules say one should go: records that have waited
    /// first, then new submissions' first records, up to the record and byte limits.
    fn next_batch(&mut self, now: Instant, draining: bool) -> Option<Vec<Cursor>> {
        if self.ready_len() == 0 || self.requests.len() >= self.settings.max_requests {
            return None;
        }
        let full = self.ready_len() >= self.settings.batch_records
            || self.ready_bytes >= MAX_REQUEST_BYTES;
        let lingered = self
            .fresh
            .front()
            .is_some_and(|c| now >= c.since + self.settings.linger);
        let go = full || draining || self.requests.is_empty() || !self.due.is_empty() || lingered;
        if !go {
            return None;
        }
        let mut batch = Vec::with_capacity(self.ready_len().min(self.settings.batch_records));
        let mut bytes = 0;
        for queue in [&mut self.due, &mut self.fresh] {
            while let Some(next) = queue.front() {
                let size = next.entry_size();
                if batch.len() == self.settings.batch_records
                    || (!batch.is_empty() && bytes + size > MAX_REQUEST_BYTES)
                {
                    break;
                }
                bytes += size;
                batch.extend(queue.pop_front());
            }
        }
        self.ready_bytes -= bytes;
        Some(batch)
    }

    fn send(&mut self, batch: Vec<Cursor>) {
        let entries: Vec<Entry> = batch.iter().map(Cursor::entry).collect();
        Stats::add(&self.stats.put_requests, 1);
        let histograms = &self.stats.histograms;
        histograms.put_batch_records.observe(entries.len() as f64);
        let sink = Arc::clone(&self.sink);
        let stats = Arc::clone(&self.stats);
        self.requests.spawn(batch, async move {
            let started = Instant::now();
            let result = sink.put_records(entries).await;
            let seconds = started.elapsed().as_secs_f64();
            stats.histograms.put_records_seconds.observe(seconds);
            result
        });
    }

    /// When the loop must wake even if nothing arrives: the end of the oldest first record's
    /// linger (only if it may go then), or the end of the earliest backoff. (Due records go at
    /// once when a slot is free, and a slot is freed by a finished request, which wakes it.)
    fn next_wake(&self) -> Option<Instant> {
        let linger_end = self
            .fresh
            .front()
            .filter(|_| self.requests.len() < self.settings.max_requests)
            .map(|c| c.since + self.settings.linger);
        let backoff_end = self.backing_off.keys().next().map(|(t, _)| *t);
        linger_end.into_iter().chain(backoff_end).min()
    }

    /// Reads the result of a request, record by record.
    fn settle(&mut self, cursors: Vec<Cursor>, result: Option<Result<Vec<Outcome>, String>>) {
        let mut whole_request_failed = false;
        let outcomes = match result {
            Some(Ok(outcomes)) if outcomes.len() == cursors.len() => {
                self.reachability.succeeded();
                outcomes
            }
            other => {
                let code = match other {
                    Some(Err(code)) => code,
                    Some(Ok(_)) => "response_mismatch".to_owned(),
                    None => "request_task_failed".to_owned(),
                };
                self.reachability.failed("PutRecords", &code);
                whole_request_failed = true;
                vec![Outcome::Failed(code); cursors.len()]
            }
        };
        let now = Instant::now();
        let mut failed = [0u64; PutFailure::ALL.len()];
        for (mut cursor, outcome) in cursors.into_iter().zip(outcomes) {
            match outcome {
                Outcome::Acked => {
                    Stats::add(&self.stats.events_published, 1);
                    cursor.next += 1;
                    cursor.attempts = 0;
                    if cursor.next >= cursor.records.data.len() {
                        Stats::add(&self.stats.submissions_published, 1);
                        if let Some(lag) = cursor.sent_at_ms.and_then(stats::seconds_since) {
                            self.stats.histograms.submission_lag.observe(lag);
                        }
                        self.finish(cursor.key);
                    } else {
                        self.push_due(cursor);
                    }
                }
                Outcome::Failed(code) => {
                    let kind = if whole_request_failed {
                        PutFailure::Request
                    } else {
                        PutFailure::of_record(&code)
                    };
                    failed[kind.index()] += 1;
                    cursor.attempts = cursor.attempts.saturating_add(1);
                    tracing::debug!(error = %code, attempt = cursor.attempts, "a record failed; retrying it");
                    let due = now + self.settings.backoff.delay(cursor.attempts);
                    self.tie += 1;
                    self.backing_off.insert((due, self.tie), cursor);
                }
            }
        }
        for (kind, n) in PutFailure::ALL.into_iter().zip(failed) {
            self.stats.put_failed(kind, n);
        }
    }

    fn finish(&self, key: MessageKey) {
        // The deleter outlives the publisher; a closed channel only happens when stopping, and
        // then the message is handed back or redelivered: a duplicate, never a loss.
        let _ = self.finished.send(key);
    }
}

#[cfg(test)]
mod tests;
