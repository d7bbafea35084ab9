//! Staying within each shard's write limits instead of being throttled: a token bucket per
//! shard for records and one for bytes, refilled at this collector's share of the shard's
//! limits (`SHARD_MAX_RECORDS_PER_SEC`, `SHARD_MAX_BYTES_PER_SEC`).
//!
//! The share adapts to writers this collector cannot see (other collectors: KEDA runs several
//! on one stream; anything else writing to it) by additive increase and multiplicative
//! decrease, driven by Kinesis' own answer: records throttled anyway cut their shard's share
//! to the part of the answer's records the shard took, by a quarter at least (once per
//! [`CUT_EVERY`], since the throttles of one burst come back together), and empty its buckets
//! for a moment; the share then grows back by [`GROWTH_PER_SEC`] of the limit per
//! second. Collectors that each do this, without talking to each other, settle on fair shares
//! that together stay near the limit (the classic AIMD result; see the simulation in the
//! tests).
//!
//! Each bucket holds [`BURST`] of the share's second: a full second, as Kinesis allows, would
//! let several collectors burst together into a shard whose own bucket is already empty.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use telemetry_aws::token_bucket::TokenBucket;
use tokio::time::Instant;

/// A shard's write limits, per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    /// Records per second (Kinesis: 1,000).
    pub(crate) records: f64,
    /// Bytes per second, data plus partition key (Kinesis: 1 MiB).
    pub(crate) bytes: f64,
}

/// The share of the limits a shard starts with, and never drops below.
const START_SHARE: f64 = 1.0;
const MIN_SHARE: f64 = 0.02;
/// The cut of the share on a throttle: at least this much...
const DECREASE: f64 = 0.75;
/// ...and at most this much, when the shard refused most of what was sent: the share is then
/// cut to the part it took (three writers at the full rate each see about a third taken and
/// settle in one step, where cuts of a quarter need four).
const DEEPEST_CUT: f64 = 0.25;
/// At most one cut per this long: the throttled records of requests already in flight when the
/// first throttle came back are the same burst.
pub(crate) const CUT_EVERY: Duration = Duration::from_millis(250);
/// How fast the share grows back, in shares of the limit per second.
pub(crate) const GROWTH_PER_SEC: f64 = 0.05;
/// How much of a second's share a bucket holds.
const BURST: f64 = 0.2;

#[derive(Debug)]
struct Shard {
    /// The share at the last cut (or at start), and when: the share grows from there.
    base_share: f64,
    based_at: Instant,
    /// The last cut, if any.
    cut_at: Option<Instant>,
    records: TokenBucket,
    bytes: TokenBucket,
}

impl Shard {
    /// A shard first asked about at `now`: its whole limits, buckets full.
    fn new(limits: Limits, now: Instant) -> Self {
        let t = now.into_std();
        Shard {
            base_share: START_SHARE,
            based_at: now,
            cut_at: None,
            records: TokenBucket::full(capacity(limits.records, START_SHARE), 0.0, t),
            bytes: TokenBucket::full(capacity(limits.bytes, START_SHARE), 0.0, t),
        }
    }

    fn share(&self, now: Instant) -> f64 {
        let grown = GROWTH_PER_SEC * now.saturating_duration_since(self.based_at).as_secs_f64();
        (self.base_share + grown).min(1.0)
    }
}

/// The buckets and shares of every shard this collector writes to.
///
/// Shards are named by their index in the open shards' list ([`ShardLimiter::set_shards`]), the
/// lanes' order, so the per-record calls are an index, not a lookup by shard id. That list is
/// the lanes' only record of the open shards' ids ([`ShardLimiter::id`]).
#[derive(Debug)]
pub(crate) struct ShardLimiter {
    /// `None` when the limiter is off: every record is let through.
    limits: Option<Limits>,
    /// The open shards in order, each with its state once it was first asked about.
    shards: Vec<(Arc<str>, Option<Shard>)>,
}

impl ShardLimiter {
    /// No shard known yet; each starts with its whole limits.
    pub(crate) fn new(limits: Limits) -> Self {
        ShardLimiter {
            limits: Some(limits),
            shards: Vec::new(),
        }
    }

    /// A limiter that lets every record through (`SHARD_LIMITER=off`).
    pub(crate) fn off() -> Self {
        ShardLimiter {
            limits: None,
            shards: Vec::new(),
        }
    }

    /// Follows the open shards (after a reshard): shard `i` is now `open[i]`. Shards still open
    /// keep their state; shards no longer open are forgotten.
    pub(crate) fn set_shards(&mut self, open: Vec<Arc<str>>) {
        let mut known: HashMap<Arc<str>, Shard> = std::mem::take(&mut self.shards)
            .into_iter()
            .filter_map(|(id, shard)| Some((id, shard?)))
            .collect();
        self.shards = open
            .into_iter()
            .map(|id| {
                let shard = known.remove(&id);
                (id, shard)
            })
            .collect();
    }

    /// How many open shards it follows.
    pub(crate) fn shards(&self) -> usize {
        self.shards.len()
    }

    /// The id of open shard `i`.
    pub(crate) fn id(&self, i: usize) -> Option<&Arc<str>> {
        self.shards.get(i).map(|(id, _)| id)
    }

    /// The index of shard `id` among the open shards.
    pub(crate) fn index(&self, id: &str) -> Option<usize> {
        self.shards.iter().position(|(open, _)| **open == *id)
    }

    /// The state of shard `i`, its rates brought to its share at `now`; `None` when the limiter
    /// is off or `i` is not an open shard (let through).
    fn shard(&mut self, i: usize, now: Instant) -> Option<&mut Shard> {
        let limits = self.limits?;
        let shard = self
            .shards
            .get_mut(i)?
            .1
            .get_or_insert_with(|| Shard::new(limits, now));
        let share = shard.share(now);
        let t = now.into_std();
        let (records, bytes) = (share * limits.records, share * limits.bytes);
        shard
            .records
            .set_rate(capacity(limits.records, share), records, t);
        shard
            .bytes
            .set_rate(capacity(limits.bytes, share), bytes, t);
        Some(shard)
    }

    /// Takes one record of `bytes` from `shard`'s buckets if both hold enough now; false
    /// (nothing taken) if the record must wait.
    pub(crate) fn admit(&mut self, shard: usize, bytes: usize, now: Instant) -> bool {
        let Some(s) = self.shard(shard, now) else {
            return true;
        };
        let t = now.into_std();
        // A record larger than the byte bucket passes alone once the bucket is full, so it
        // is never stuck (Kinesis takes up to 1 MiB per record within a 1 MiB/s limit).
        let b = (bytes as f64).min(s.bytes.capacity());
        if s.records.available(t) >= 1.0 && s.bytes.available(t) >= b {
            s.records.take(1.0);
            s.bytes.take(b);
            true
        } else {
            false
        }
    }

    /// When a record of `bytes` could be admitted to `shard`, counted from `now`.
    pub(crate) fn ready_at(&mut self, shard: usize, bytes: usize, now: Instant) -> Instant {
        self.ready_for(shard, 1, bytes, now)
    }

    /// When `records` records of `bytes` each could be admitted to `shard` together (as much
    /// as its buckets hold, if they hold less), counted from `now`.
    pub(crate) fn ready_for(
        &mut self,
        shard: usize,
        records: usize,
        bytes: usize,
        now: Instant,
    ) -> Instant {
        let Some(s) = self.shard(shard, now) else {
            return now;
        };
        let t = now.into_std();
        let r = (records as f64).min(s.records.capacity());
        let b = (records as f64 * bytes as f64).min(s.bytes.capacity());
        let later = [s.records.ready_at(r, t), s.bytes.ready_at(b, t)]
            .into_iter()
            .map(|at| at.map_or(t + Duration::from_secs(1), |at| at))
            .max()
            .unwrap_or(t);
        Instant::from_std(later)
    }

    /// How many records a shard that had to wait lets through at a time: half its bucket. Records
    /// that wait for a shard then go together, a request's worth, not one request per token.
    pub(crate) fn quantum(&mut self, shard: usize, now: Instant) -> usize {
        let Some(s) = self.shard(shard, now) else {
            return usize::MAX;
        };
        (s.records.capacity() / 2.0).max(1.0) as usize
    }

    /// Kinesis throttled records of one answer for `shard`, `refused` of what the answer carried
    /// for it (0 to 1): cut the share (once per [`CUT_EVERY`]) to the part the shard took, by
    /// a quarter at least and to a quarter at most, and empty the buckets, so this collector
    /// backs off for a moment and then sends less.
    pub(crate) fn throttled(&mut self, shard: usize, refused: f64, now: Instant) {
        let Some(s) = self.shard(shard, now) else {
            return;
        };
        if s.cut_at.is_some_and(|at| now < at + CUT_EVERY) {
            return;
        }
        let cut = (1.0 - refused).clamp(DEEPEST_CUT, DECREASE);
        s.base_share = (s.share(now) * cut).max(MIN_SHARE);
        s.based_at = now;
        s.cut_at = Some(now);
        s.records.drain(now.into_std());
        s.bytes.drain(now.into_std());
    }

    /// The share of `shard`'s limits this collector takes now (1 for a shard never asked
    /// about).
    #[cfg(test)]
    pub(crate) fn share(&self, shard: usize, now: Instant) -> f64 {
        self.shards
            .get(shard)
            .and_then(|(_, s)| s.as_ref())
            .map_or(START_SHARE, |s| s.share(now))
    }
}

/// What a bucket holds at `share` of a `limit` per second: [`BURST`] of that second, at least
/// one (a record must always fit).
fn capacity(limit: f64, share: f64) -> f64 {
    (BURST * share * limit).max(1.0)
}

#[cfg(test)]
mod tests;
