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
//! Each shard's write limits are kept by the lanes ([`crate::lanes`], [`crate::shard_limiter`]):
//! a record whose shard has no tokens waits while other shards' records go; the number of
//! requests in flight adapts to back-pressure ([`crate::concurrency`]). A throttled record
//! teaches both.
//!
//! A failed record (per-record error, failed or timed-out request) goes back with capped
//! exponential backoff and jitter, per submission; its submission waits. A submission whose
//! last record is acknowledged goes to the deleter, and its lag (from SQS's `SentTimestamp`)
//! is observed.

// Cursors are boxed on purpose, in vectors too: they move between lanes, batches, requests and
// backoff, and a pointer moves cheaper than a 200-byte cursor (docs/benchmarks.md).
#![allow(clippy::vec_box)]

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use telemetry_aws::shard_map::{hash_key, ShardMap};
use telemetry_model::Records;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::concurrency::{Concurrency, Response};
use crate::in_flight::MessageKey;
use crate::lanes::{Lanes, Ready};
use crate::liveness;
use crate::put_records::{record_size, Entry, Outcome, RecordSink, MAX_REQUEST_BYTES};
use crate::reachability::Reachability;
use crate::requests_in_flight::RequestsInFlight;
use crate::shard_limiter::{Limits, ShardLimiter};
use crate::stats::{self, PutFailure, Stats};
use telemetry_aws::backoff::Backoff;

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
    /// The most requests in flight at once (the adaptive limit moves below it).
    pub max_requests: usize,
    /// Backoff of failed records.
    pub backoff: Backoff,
    /// Each shard's write limits, kept by the publisher; `None`: sent regardless, throttled by
    /// Kinesis (`SHARD_LIMITER=off`).
    pub shard_limits: Option<Limits>,
}

/// The stream's open shards as the publisher follows them: the latest map, and a way to ask
/// for a fresh one (an answer named a shard the map did not expect).
#[derive(Debug, Clone)]
pub(crate) struct ShardMapFeed {
    /// The latest map.
    pub map: watch::Receiver<Arc<ShardMap>>,
    /// Woken to ask for a new map at once.
    pub stale: Arc<Notify>,
}

/// A submission being published.
#[derive(Debug)]
struct Cursor {
    key: MessageKey,
    records: Records,
    /// Index of the next record to be acknowledged.
    next: usize,
    /// What that record counts against the request and shard byte limits, kept here because
    /// the lanes ask for it several times per record and the record's bytes are elsewhere.
    size: usize,
    /// The size of the record after it, read while the request that carries this one was
    /// written (the record offsets were in cache then; when the answer comes they are not).
    following: Option<usize>,
    /// Failed tries of that record.
    attempts: u32,
    /// When the submission's first record became ready to send.
    since: Instant,
    /// When SQS took the message in (epoch milliseconds).
    sent_at_ms: Option<u64>,
    /// The MD5 of the partition key, as Kinesis hashes it: where its records go.
    hash_key: u128,
    /// The shard its next record was laned for, if the map knew it.
    shard: Option<Arc<str>>,
}

impl Ready for Cursor {
    fn hash_key(&self) -> u128 {
        self.hash_key
    }

    fn size(&self) -> usize {
        self.size
    }

    fn since(&self) -> Instant {
        self.since
    }

    fn set_shard(&mut self, shard: Option<Arc<str>>) {
        self.shard = shard;
    }
}

impl Cursor {
    /// Its next record, borrowed.
    fn entry(&self) -> Entry<'_> {
        Entry {
            partition_key: &self.records.partition_key,
            data: self.records.get(self.next).unwrap_or_default(),
        }
    }

    /// Moves on to record `next`; false if there is none (the submission is done).
    fn go_to(&mut self, next: usize) -> bool {
        self.next = next;
        self.attempts = 0;
        self.following = None;
        match self.records.get(next) {
            Some(data) => {
                self.size = record_size(&self.records.partition_key, data);
                true
            }
            None => false,
        }
    }

    /// Moves on to the record after the acknowledged one; false if there is none.
    fn advance(&mut self) -> bool {
        match self.following.take() {
            Some(size) => {
                self.next += 1;
                self.attempts = 0;
                self.size = size;
                true
            }
            None => self.go_to(self.next + 1),
        }
    }

    /// Notes the size of the record after the current one, if there is one.
    fn look_ahead(&mut self) {
        let after = self.records.get(self.next + 1);
        self.following = after.map(|data| record_size(&self.records.partition_key, data));
    }
}

/// What a PutRecords task gives back: the outcomes (or the request's failure) and how long the
/// call took.
type PutAnswer = (Result<Vec<Outcome>, String>, Duration);

/// Sends submissions' records to a [`RecordSink`] in order, and reports finished submissions.
pub(crate) struct Publisher<S> {
    sink: Arc<S>,
    settings: PublisherSettings,
    stats: Arc<Stats>,
    reachability: Arc<Reachability>,
    finished: mpsc::UnboundedSender<MessageKey>,
    /// Records ready to go, by shard: first records of new submissions may wait up to the
    /// flush interval for company while another request is in flight; records whose
    /// submission has waited already (later records, retries) go as soon as a request slot
    /// and their shard's tokens allow. Each is of another submission.
    lanes: Lanes<Box<Cursor>>,
    shards: ShardMapFeed,
    concurrency: Concurrency,
    /// Records waiting out a backoff, by due time (the u64 breaks ties).
    backing_off: BTreeMap<(Instant, u64), Box<Cursor>>,
    tie: u64,
    requests: RequestsInFlight<Box<Cursor>, PutAnswer>,
}

impl<S: RecordSink> Publisher<S> {
    /// A publisher that reports each fully acknowledged submission's key on `finished`.
    pub(crate) fn new(
        sink: Arc<S>,
        settings: PublisherSettings,
        stats: Arc<Stats>,
        reachability: Arc<Reachability>,
        shards: ShardMapFeed,
        finished: mpsc::UnboundedSender<MessageKey>,
    ) -> Self {
        Publisher {
            sink,
            settings,
            stats,
            reachability,
            finished,
            lanes: Lanes::new(
                settings
                    .shard_limits
                    .map_or_else(ShardLimiter::off, ShardLimiter::new),
            ),
            shards,
            concurrency: Concurrency::new(settings.max_requests, Instant::now()),
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
        let map = Arc::clone(&self.shards.map.borrow_and_update());
        self.lanes.set_map(map);
        loop {
            self.stats.heartbeats.publisher.beat();
            let now = Instant::now();
            self.release_due(now);
            while let Some(batch) = self.next_batch(now, draining) {
                self.send(batch);
            }
            self.show(&self.stats);
            if !intake_open
                && self.lanes.len() == 0
                && self.backing_off.is_empty()
                && self.requests.is_empty()
            {
                return;
            }
            let wake = self.next_wake(now);
            tokio::select! {
                (cursors, result) = self.requests.next() => self.settle(cursors, result),
                Ok(()) = self.shards.map.changed() => {
                    let map = Arc::clone(&self.shards.map.borrow_and_update());
                    self.lanes.set_map(map);
                }
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
        let mut cursor = Box::new(Cursor {
            hash_key: hash_key(&s.records.partition_key, None).unwrap_or_default(),
            key: s.key,
            records: s.records,
            next: 0,
            size: 0,
            following: None,
            attempts: 0,
            since: Instant::now(),
            sent_at_ms: s.sent_at_ms,
            shard: None,
        });
        if !cursor.go_to(0) {
            // No record: never sent here (the receiver deletes empty submissions); settle it
            // anyway.
            self.finish(cursor.key);
            return;
        }
        self.lanes.push_fresh(cursor);
    }

    /// Shows what the gauges of `/metrics` read.
    fn show(&self, stats: &Stats) {
        let gauges = &stats.publisher;
        gauges
            .requests_in_flight
            .store(self.requests.len() as u64, Relaxed);
        gauges
            .requests_limit
            .store(self.concurrency.limit() as u64, Relaxed);
        gauges.shards.store(self.lanes.shards() as u64, Relaxed);
    }

    /// Moves records whose backoff is over to the ready queue.
    fn release_due(&mut self, now: Instant) {
        while let Some(entry) = self.backing_off.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let cursor = entry.remove();
            Stats::add(&self.stats.put_retries, 1);
            self.lanes.push_due(cursor);
        }
    }

    /// The next batch to send now, if the rules say one should go: records that have waited
    /// first, then new submissions' first records, each let through by its shard's limiter, up
    /// to the record and byte limits.
    fn next_batch(&mut self, now: Instant, draining: bool) -> Option<Vec<Box<Cursor>>> {
        if self.lanes.len() == 0 || self.requests.len() >= self.concurrency.limit() {
            return None;
        }
        let full = self.lanes.len() >= self.settings.batch_records
            || self.lanes.bytes() >= MAX_REQUEST_BYTES;
        let go = full
            || draining
            || self.requests.is_empty()
            || self.lanes.has_urgent(self.settings.linger, now);
        if !go {
            return None;
        }
        let batch = self
            .lanes
            .take(self.settings.batch_records, MAX_REQUEST_BYTES, now);
        for waited in &batch.token_waits {
            let histograms = &self.stats.histograms;
            histograms.token_wait_seconds.observe(waited.as_secs_f64());
        }
        if batch.records.is_empty() {
            // Every lane waits for tokens: keep the vector for the next batch.
            self.lanes.recycle(batch.records);
            return None;
        }
        Some(batch.records)
    }

    fn send(&mut self, mut batch: Vec<Box<Cursor>>) {
        // Written now, while the batch is here to borrow from; sent on a task of its own.
        let entries: Vec<Entry<'_>> = batch.iter().map(|c| c.entry()).collect();
        let request = self.sink.request(&entries);
        Stats::add(&self.stats.put_requests, 1);
        let histograms = &self.stats.histograms;
        histograms.put_batch_records.observe(entries.len() as f64);
        drop(entries);
        for cursor in &mut batch {
            cursor.look_ahead();
        }
        let sink = Arc::clone(&self.sink);
        let stats = Arc::clone(&self.stats);
        self.requests.spawn(batch, async move {
            let started = Instant::now();
            let result = sink.send(request).await;
            let took = started.elapsed();
            stats
                .histograms
                .put_records_seconds
                .observe(took.as_secs_f64());
            (result, took)
        });
        self.concurrency.sent(self.requests.len());
    }

    /// When the loop must wake even if nothing arrives: the end of a first record's linger or
    /// a waiting shard's tokens (only if a request may go then), or the end of the earliest
    /// backoff. (Due records go at once when a slot is free, and a slot is freed by a finished
    /// request, which wakes the loop.)
    fn next_wake(&mut self, now: Instant) -> Option<Instant> {
        let lanes = if self.requests.len() < self.concurrency.limit() {
            self.lanes.next_wake(self.settings.linger, now)
        } else {
            None
        };
        let backoff_end = self.backing_off.keys().next().map(|(t, _)| *t);
        lanes.into_iter().chain(backoff_end).min()
    }

    /// Reads the result of a request, record by record.
    fn settle(&mut self, mut cursors: Vec<Box<Cursor>>, answer: Option<PutAnswer>) {
        let (result, took) = match answer {
            Some((result, took)) => (Some(result), took),
            None => (None, Duration::ZERO),
        };
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
        if !whole_request_failed {
            for (shard, refused) in refused_by_shard(&cursors, &outcomes) {
                self.lanes.throttled(&shard, refused, now);
            }
        }
        let mut failed = [0u64; PutFailure::ALL.len()];
        let mut map_stale = false;
        for (mut cursor, outcome) in cursors.drain(..).zip(outcomes) {
            match outcome {
                Outcome::Acked(shard) => {
                    // An answer from a shard other than the one the map expected: resharded.
                    map_stale |= shard.is_some() && shard.as_deref() != cursor.shard.as_deref();
                    Stats::add(&self.stats.events_published, 1);
                    if !cursor.advance() {
                        Stats::add(&self.stats.submissions_published, 1);
                        if let Some(lag) = cursor.sent_at_ms.and_then(stats::seconds_since) {
                            self.stats.histograms.submission_lag.observe(lag);
                        }
                        self.finish(cursor.key);
                    } else {
                        self.lanes.push_due(cursor);
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
        self.lanes.recycle(cursors);
        for (kind, n) in PutFailure::ALL.into_iter().zip(failed) {
            self.stats.put_failed(kind, n);
        }
        let response = if whole_request_failed {
            Response::Failed
        } else if failed[PutFailure::Throughput.index()] > 0 {
            Response::Throttled
        } else {
            Response::Ok
        };
        self.concurrency.answered(took, response, now);
        if map_stale {
            self.shards.stale.notify_one();
        }
    }

    fn finish(&self, key: MessageKey) {
        // The deleter outlives the publisher; a closed channel only happens when stopping, and
        // then the message is handed back or redelivered: a duplicate, never a loss.
        let _ = self.finished.send(key);
    }
}

/// For each shard that throttled records of one answer, the share of the answer's records for
/// it that were throttled (none when nothing was).
fn refused_by_shard(cursors: &[Box<Cursor>], outcomes: &[Outcome]) -> Vec<(Arc<str>, f64)> {
    let is_throttle = |o: &Outcome| matches!(o, Outcome::Failed(code) if PutFailure::of_record(code) == PutFailure::Throughput);
    if !outcomes.iter().any(is_throttle) {
        return Vec::new();
    }
    // (shard, sent, refused); an answer spans few shards.
    let mut counts: Vec<(Arc<str>, u32, u32)> = Vec::new();
    for (cursor, outcome) in cursors.iter().zip(outcomes) {
        let Some(shard) = &cursor.shard else {
            continue;
        };
        let i = match counts.iter().position(|(s, _, _)| s == shard) {
            Some(i) => i,
            None => {
                counts.push((Arc::clone(shard), 0, 0));
                counts.len() - 1
            }
        };
        counts[i].1 += 1;
        counts[i].2 += u32::from(is_throttle(outcome));
    }
    counts
        .into_iter()
        .filter(|(_, _, refused)| *refused > 0)
        .map(|(shard, sent, refused)| (shard, f64::from(refused) / f64::from(sent)))
        .collect()
}

#[cfg(test)]
mod tests;
