//! Measuring what the stream takes in, from the stream itself: a shard iterator per shard,
//! read with GetRecords at most once per poll interval (AWS allows 5 calls per second per
//! shard, shared by every reader of the stream), each record counted in the second of its
//! `ApproximateArrivalTimestamp` with its data and partition key bytes, as Kinesis counts them.
//!
//! It follows resharding: a shard is read until GetRecords gives no `NextShardIterator` (it was
//! closed and everything in it was read); then its children, named in the answer or found with
//! ListShards, are read from their start. ListShards also runs on every tick, so shards created
//! meanwhile are found even when their parents never end (moto keeps writing to a closed parent).
//! The shards listed at start are read from LATEST: the past is not measured.
//!
//! How far the count is complete: each shard is read up to the time of its last read, less
//! `MillisBehindLatest`; the stream up to the earliest of those. Averages are only taken over
//! whole seconds before that point, so a slow or failing read delays the measurement instead
//! of making the load look smaller than it is.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use futures::future::join_all;
use telemetry_aws::error_code;

use crate::config::MAX_WINDOW_SECS;
use crate::outage::{retry_delay, Outage};
use crate::traffic::{Rates, ShardLimits, Traffic};

/// Records asked for per GetRecords: the most Kinesis gives.
const RECORDS_PER_READ: i32 = 10_000;

/// Local and AWS clocks may differ a little: the last second before the read point is not
/// averaged.
const CLOCK_MARGIN_SECS: f64 = 1.0;

/// Where a shard's reading starts, or starts again after its iterator expired.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resume {
    /// Records written from now on.
    Latest,
    /// Every record the shard holds (a child holds only records written after its parents
    /// closed).
    TrimHorizon,
    /// After the last record counted.
    After(String),
}

/// One shard being read.
#[derive(Debug)]
struct ShardReader {
    id: String,
    iterator: Option<String>,
    resume: Resume,
    /// Listed at start, read from LATEST: the measurement starts once all of these are read.
    initial: bool,
    /// When its first iterator was taken (Unix seconds).
    since: Option<f64>,
    /// Read up to this time (Unix seconds).
    read_until: Option<f64>,
    failures: u32,
    not_before: Instant,
}

/// What one read gave.
#[derive(Debug, Default)]
struct Read {
    /// (arrival second, records, bytes), in arrival order, a second once.
    seconds: Vec<(i64, u64, u64)>,
    ended: bool,
    children: Vec<String>,
    failed: Option<(&'static str, String)>,
    throttled: bool,
    called: bool,
}

impl ShardReader {
    fn new(id: String, resume: Resume, initial: bool) -> Self {
        ShardReader {
            id,
            iterator: None,
            resume,
            initial,
            since: None,
            read_until: None,
            failures: 0,
            not_before: Instant::now(),
        }
    }

    /// Reads once: takes an iterator if there is none, then GetRecords.
    async fn read(&mut self, kinesis: &Client, stream: &str, poll: Duration) -> Read {
        let mut read = Read {
            called: true,
            ..Read::default()
        };
        let started = unix_now();
        let iterator = match self.iterator.take() {
            Some(it) => it,
            None => match self.take_iterator(kinesis, stream).await {
                Ok(Some(it)) => {
                    self.since.get_or_insert(started);
                    it
                }
                Ok(None) => {
                    // No iterator for a shard: it has ended for us.
                    read.ended = true;
                    return read;
                }
                Err(code) => return self.failed(read, "GetShardIterator", code, poll),
            },
        };
        let out = match kinesis
            .get_records()
            .shard_iterator(&iterator)
            .limit(RECORDS_PER_READ)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let code = error_code(&e);
                return match code.as_str() {
                    // Taken again on the next read, from after the last record counted.
                    "ExpiredIteratorException" => read,
                    // The shard's read limit, shared with the stream's other readers: a pause,
                    // not an outage.
                    "ProvisionedThroughputExceededException" => {
                        self.iterator = Some(iterator);
                        read.throttled = true;
                        self.failures = self.failures.saturating_add(1);
                        self.not_before = Instant::now() + retry_delay(poll, self.failures);
                        read
                    }
                    _ => {
                        self.iterator = Some(iterator);
                        self.failed(read, "GetRecords", code, poll)
                    }
                };
            }
        };
        self.failures = 0;
        self.not_before = Instant::now() + poll;
        for r in &out.records {
            let second = r
                .approximate_arrival_timestamp
                .map_or(started.floor() as i64, |t| t.secs());
            let bytes = r.data.as_ref().len() + r.partition_key.as_deref().map_or(0, str::len);
            match read.seconds.last_mut() {
                Some((s, n, b)) if *s == second => {
                    *n += 1;
                    *b += bytes as u64;
                }
                _ => read.seconds.push((second, 1, bytes as u64)),
            }
        }
        if let Some(last) = out.records.last() {
            self.resume = Resume::After(last.sequence_number.clone());
        }
        let behind = out.millis_behind_latest.unwrap_or(0).max(0) as f64 / 1_000.0;
        self.read_until = Some(started - behind);
        match out.next_shard_iterator {
            Some(next) => self.iterator = Some(next),
            None => {
                read.ended = true;
                read.children = out
                    .child_shards
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| c.shard_id)
                    .collect();
            }
        }
        read
    }

    async fn take_iterator(
        &self,
        kinesis: &Client,
        stream: &str,
    ) -> Result<Option<String>, String> {
        let req = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(&self.id);
        let req = match &self.resume {
            Resume::Latest => req.shard_iterator_type(ShardIteratorType::Latest),
            Resume::TrimHorizon => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Resume::After(seq) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(seq),
        };
        let out = req.send().await.map_err(|e| error_code(&e))?;
        Ok(out.shard_iterator)
    }

    fn failed(&mut self, mut read: Read, call: &'static str, code: String, poll: Duration) -> Read {
        self.failures = self.failures.saturating_add(1);
        self.not_before = Instant::now() + retry_delay(poll, self.failures);
        read.failed = Some((call, code));
        read
    }
}

/// Counters since start, for the tick's log line and for tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Records counted.
    pub records: u64,
    /// Bytes counted (data and partition keys).
    pub bytes: u64,
    /// GetRecords answered with ProvisionedThroughputExceededException.
    pub throttled_reads: u64,
    /// Shards read to their end (closed by a resharding).
    pub shards_ended: u64,
}

/// Reads every shard of one stream and counts what arrives.
#[derive(Debug)]
pub struct Meter {
    kinesis: Client,
    stream: String,
    poll: Duration,
    readers: Vec<ShardReader>,
    /// Every shard listed or followed, so none is read twice.
    known: HashSet<String>,
    listed_once: bool,
    /// A shard ended and its children were not named: list the shards on the next read.
    /// Holds when it ended (Unix seconds): nothing after it is known to be complete.
    children_pending: Option<f64>,
    list_failures: u32,
    list_not_before: Instant,
    traffic: Traffic,
    totals: Totals,
}

impl Meter {
    /// A meter for `stream`, reading each shard at most once per `poll`. Nothing is called
    /// until the first [`Meter::read`].
    pub fn new(kinesis: Client, stream: impl Into<String>, poll: Duration) -> Self {
        Meter {
            kinesis,
            stream: stream.into(),
            poll,
            readers: Vec::new(),
            known: HashSet::new(),
            listed_once: false,
            children_pending: None,
            list_failures: 0,
            list_not_before: Instant::now(),
            traffic: Traffic::default(),
            totals: Totals::default(),
        }
    }

    /// One round: lists the shards if due, then reads every shard whose time has come, at
    /// once. Failures go to `outage` and are retried on later rounds with backoff. A round
    /// dropped before it ends may lose the counts of the reads it made (the supervisor only
    /// drops one when it stops).
    pub async fn read(&mut self, outage: &mut Outage) {
        let now = Instant::now();
        if (!self.listed_once || self.children_pending.is_some()) && self.list_not_before <= now {
            self.list(outage).await;
        }
        let (kinesis, stream, poll) = (&self.kinesis, self.stream.as_str(), self.poll);
        let reads = join_all(self.readers.iter_mut().filter(|r| r.not_before <= now).map(
            |r| async move {
                let read = r.read(kinesis, stream, poll).await;
                (r.id.clone(), read)
            },
        ))
        .await;
        let mut ended = Vec::new();
        for (id, read) in reads {
            for &(second, records, bytes) in &read.seconds {
                self.traffic.add(second, records, bytes);
                self.totals.records = self.totals.records.saturating_add(records);
                self.totals.bytes = self.totals.bytes.saturating_add(bytes);
            }
            match read.failed {
                Some((call, code)) => outage.failed(call, code),
                None if read.called && !read.throttled => outage.succeeded(),
                None => {}
            }
            if read.throttled {
                self.totals.throttled_reads += 1;
            }
            if read.ended {
                ended.push((id, read.children));
            }
        }
        for (id, children) in ended {
            self.follow(&id, children);
        }
        self.start_counting();
        // Seconds that no window can reach any more, even one read late.
        let oldest = unix_now() - 2.0 * f64::from(MAX_WINDOW_SECS);
        self.traffic.forget_before(oldest as i64);
    }

    /// Lists the shards (ListShards): starts reading the ones not known yet, drops the ones
    /// no longer listed.
    pub async fn list(&mut self, outage: &mut Outage) {
        let shards = match telemetry_aws::stream::list_shards(&self.kinesis, &self.stream).await {
            Ok(shards) => shards,
            Err(e) => {
                outage.failed("ListShards", error_code(&e));
                self.list_failures = self.list_failures.saturating_add(1);
                self.list_not_before = Instant::now() + retry_delay(self.poll, self.list_failures);
                return;
            }
        };
        outage.succeeded();
        self.list_failures = 0;
        let listed: HashSet<String> = shards.iter().map(|s| s.shard_id.clone()).collect();
        let resume = if self.listed_once {
            Resume::TrimHorizon
        } else {
            Resume::Latest
        };
        for shard in shards {
            if self.known.insert(shard.shard_id.clone()) {
                self.readers.push(ShardReader::new(
                    shard.shard_id,
                    resume.clone(),
                    !self.listed_once,
                ));
            }
        }
        self.readers.retain(|r| listed.contains(&r.id));
        self.known.retain(|id| listed.contains(id));
        self.listed_once = true;
        self.children_pending = None;
    }

    /// A shard was read to its end: read its children from their start.
    fn follow(&mut self, ended: &str, children: Vec<String>) {
        self.readers.retain(|r| r.id != ended);
        self.totals.shards_ended += 1;
        if children.is_empty() {
            // An emulator that does not name them: find them with ListShards.
            self.children_pending.get_or_insert(unix_now());
        }
        for child in children {
            if self.known.insert(child.clone()) {
                self.readers
                    .push(ShardReader::new(child, Resume::TrimHorizon, false));
            }
        }
    }

    /// Once every shard listed at start has its iterator, the count is complete from the
    /// second after the last of them.
    fn start_counting(&mut self) {
        if self.traffic.is_started() || !self.listed_once {
            return;
        }
        let mut latest: f64 = 0.0;
        for r in self.readers.iter().filter(|r| r.initial) {
            match r.since {
                Some(s) => latest = latest.max(s),
                None => return,
            }
        }
        self.traffic.count_from(latest.floor() as i64);
    }

    /// Up to when (Unix seconds) every record is counted: the earliest of the shards' read
    /// points; `None` before every shard was read once.
    pub fn complete_until(&self) -> Option<f64> {
        if !self.traffic.is_started() || self.readers.is_empty() {
            return None;
        }
        let mut until = self.children_pending.unwrap_or(f64::INFINITY);
        for r in &self.readers {
            until = until.min(r.read_until?);
        }
        Some(until)
    }

    /// The averages over the last `window_secs` whole seconds counted in full, or why there
    /// are none: the window is not full yet, or reading is more than `max_behind` behind.
    pub fn rates(
        &self,
        window_secs: u32,
        limits: ShardLimits,
        max_behind: Duration,
    ) -> Result<Rates, String> {
        let Some(until) = self.complete_until() else {
            let why = if !self.traffic.is_started() {
                "the shards are not read yet"
            } else if self.readers.is_empty() {
                "no shard is being read"
            } else {
                "a shard found since the last read is not read yet"
            };
            return Err(why.to_owned());
        };
        let behind = unix_now() - until;
        if behind > max_behind.as_secs_f64() {
            return Err(format!("reading the stream is {behind:.1} s behind"));
        }
        let end = (until - CLOCK_MARGIN_SECS).floor() as i64;
        self.traffic
            .window(end, window_secs, limits)
            .map_err(|f| format!("window filling: {} of {} s", f.have_secs, f.need_secs))
    }

    /// The shards being read, by id.
    pub fn shards_read(&self) -> Vec<String> {
        self.readers.iter().map(|r| r.id.clone()).collect()
    }

    /// Counters since start.
    pub fn totals(&self) -> Totals {
        self.totals
    }
}

/// Now, in Unix seconds.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
