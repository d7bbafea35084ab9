//! The records ready to send, in one lane per shard, and the choice of the next batch.
//!
//! A record's shard is known before it is sent: the MD5 of its submission's partition key over
//! the open shards' hash key ranges (`telemetry_aws::shard_map`, the map kept fresh by
//! [`crate::shards`]). Each lane is let through the [`ShardLimiter`]: a record whose shard has
//! no tokens waits in its lane while the other lanes go on, so a hot shard never holds up the
//! rest. Records of a shard the map does not know (no map yet) share an unlimited lane.
//!
//! In a lane, records whose submission has waited already (later records, retries: `due`) go
//! before first records of new submissions (`fresh`), and each kind in arrival order. Lanes
//! take turns at the head of batches, so none is favoured when a batch cannot take them all.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use telemetry_aws::shard_map::ShardMap;
use tokio::time::Instant;

use crate::shard_limiter::ShardLimiter;

/// The shortest wait for a shard's tokens, so a lane waiting for them never spins the loop.
const TOKEN_WAIT: Duration = Duration::from_millis(5);

/// What a lane needs of a ready record.
pub(crate) trait Ready {
    /// The hash key of its partition key (MD5, as Kinesis reads it).
    fn hash_key(&self) -> u128;
    /// What it counts against the request and shard byte limits.
    fn size(&self) -> usize;
    /// When its submission's first record became ready (a first record may wait for company
    /// until then plus the flush interval).
    fn since(&self) -> Instant;
    /// The shard it was laned for, set by the lanes.
    fn set_shard(&mut self, shard: Option<Arc<str>>);
}

/// A boxed record moves as a pointer between lanes, batches and requests.
impl<T: Ready> Ready for Box<T> {
    fn hash_key(&self) -> u128 {
        (**self).hash_key()
    }

    fn size(&self) -> usize {
        (**self).size()
    }

    fn since(&self) -> Instant {
        (**self).since()
    }

    fn set_shard(&mut self, shard: Option<Arc<str>>) {
        (**self).set_shard(shard);
    }
}

#[derive(Debug)]
struct Lane<T> {
    due: VecDeque<T>,
    fresh: VecDeque<T>,
    /// Since when the lane has been refused tokens, if it is.
    blocked_since: Option<Instant>,
}

impl<T> Default for Lane<T> {
    fn default() -> Self {
        Lane {
            due: VecDeque::new(),
            fresh: VecDeque::new(),
            blocked_since: None,
        }
    }
}

/// A batch taken from the lanes, and how long its records waited for their shards' tokens.
#[derive(Debug)]
pub(crate) struct Batch<T> {
    /// The records, at most one per submission.
    pub(crate) records: Vec<T>,
    /// For each record that had to wait for tokens, how long.
    pub(crate) token_waits: Vec<Duration>,
}

/// The ready records, by shard.
#[derive(Debug)]
pub(crate) struct Lanes<T> {
    map: Arc<ShardMap>,
    /// Follows the map's open shards, in its order: their ids (shared with the records laned
    /// for them) and their limits.
    limiter: ShardLimiter,
    /// One lane per open shard, lane `i` for the limiter's shard `i`, then the unlimited lane
    /// of records whose shard is not known.
    lanes: Vec<Lane<T>>,
    /// The lane that leads the next batch.
    turn: usize,
    /// Emptied batch vectors, reused for the next batches instead of one allocation each.
    spare: Vec<Vec<T>>,
    len: usize,
    bytes: usize,
}

impl<T: Ready> Lanes<T> {
    /// No records, no map yet.
    pub(crate) fn new(limiter: ShardLimiter) -> Self {
        Lanes {
            map: Arc::new(ShardMap::default()),
            limiter,
            lanes: vec![Lane::default()],
            turn: 0,
            spare: Vec::new(),
            len: 0,
            bytes: 0,
        }
    }

    /// Records waiting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes waiting, as they count against the request limit.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Open shards in the map.
    pub(crate) fn shards(&self) -> usize {
        self.limiter.shards()
    }

    fn push(&mut self, mut record: T, due: bool) {
        let i = self
            .map
            .index_for(record.hash_key())
            .unwrap_or(self.limiter.shards());
        record.set_shard(self.limiter.id(i).cloned());
        self.len += 1;
        self.bytes += record.size();
        let Some(lane) = self.lanes.get_mut(i) else {
            return;
        };
        if due {
            lane.due.push_back(record);
        } else {
            lane.fresh.push_back(record);
        }
    }

    /// A first record of a new submission.
    pub(crate) fn push_fresh(&mut self, record: T) {
        self.push(record, false);
    }

    /// A record whose submission has waited already.
    pub(crate) fn push_due(&mut self, record: T) {
        self.push(record, true);
    }

    /// Follows a new map: every waiting record goes to the lane of its shard in it, and the
    /// limiter forgets shards no longer open.
    pub(crate) fn set_map(&mut self, map: Arc<ShardMap>) {
        self.limiter.set_shards(
            map.ranges()
                .iter()
                .map(|r| Arc::from(r.shard_id.as_str()))
                .collect(),
        );
        self.map = map;
        let old = std::mem::replace(
            &mut self.lanes,
            (0..=self.limiter.shards())
                .map(|_| Lane::default())
                .collect(),
        );
        self.turn = 0;
        self.len = 0;
        self.bytes = 0;
        for lane in old {
            for record in lane.due {
                self.push(record, true);
            }
            for record in lane.fresh {
                self.push(record, false);
            }
        }
    }

    /// Records sent to `shard` were throttled, `refused` of those an answer carried for it: the
    /// limiter backs off there.
    pub(crate) fn throttled(&mut self, shard: &str, refused: f64, now: Instant) {
        if let Some(i) = self.limiter.index(shard) {
            self.limiter.throttled(i, refused, now);
        }
    }

    /// When lane `i` (its front record of `size`) may go: `now` if its shard has tokens. A lane
    /// that had to wait goes on when its shard has a quantum of tokens (or enough for all it
    /// holds), so waiting records go together rather than one request per token. (Lane `i` is
    /// the limiter's shard `i`; the unlimited lane is none of its shards, so always `now`.)
    fn tokens_at(&mut self, i: usize, size: usize, now: Instant) -> Instant {
        let lane = &self.lanes[i];
        if lane.blocked_since.is_none() {
            return self.limiter.ready_at(i, size, now);
        }
        let waiting = lane.due.len() + lane.fresh.len();
        let n = waiting.min(self.limiter.quantum(i, now));
        self.limiter.ready_for(i, n, size, now)
    }

    /// True if a batch should go now for a reason other than being full: a record that has
    /// waited already (due), or a first record that has waited `linger`, can be let through.
    pub(crate) fn has_urgent(&mut self, linger: Duration, now: Instant) -> bool {
        (0..self.lanes.len()).any(|i| {
            let lane = &self.lanes[i];
            let size = match (lane.due.front(), lane.fresh.front()) {
                (Some(due), _) => due.size(),
                (None, Some(fresh)) if now >= fresh.since() + linger => fresh.size(),
                _ => return false,
            };
            self.tokens_at(i, size, now) <= now
        })
    }

    /// When something may change without a request ending: a first record's flush interval
    /// ends, or a waiting shard's tokens come.
    pub(crate) fn next_wake(&mut self, linger: Duration, now: Instant) -> Option<Instant> {
        (0..self.lanes.len())
            .filter_map(|i| {
                let lane = &self.lanes[i];
                let front = lane.due.front().or(lane.fresh.front())?;
                let fresh_since = lane.due.is_empty().then(|| front.since());
                let size = front.size();
                let tokens = self.tokens_at(i, size, now);
                if tokens > now {
                    return Some(tokens.max(now + TOKEN_WAIT));
                }
                // Tokens are there: a due record goes with the next batch, a fresh one when its
                // flush interval ends.
                Some(fresh_since? + linger)
            })
            .min()
    }

    /// Keeps the vector of a settled batch (emptied) for a later one.
    pub(crate) fn recycle(&mut self, mut records: Vec<T>) {
        /// More than requests are usually in flight at once; more would only hold memory (at
        /// most 16 vectors of 500 cursors, about 1.5 MiB, against the 64 MiB goal).
        const KEPT: usize = 16;
        records.clear();
        if self.spare.len() < KEPT && records.capacity() > 0 {
            self.spare.push(records);
        }
    }

    /// Up to `max_records` records and `max_bytes` bytes, each let through by its shard's
    /// limiter, lanes taking turns; due records first in each lane.
    pub(crate) fn take(&mut self, max_records: usize, max_bytes: usize, now: Instant) -> Batch<T> {
        let mut records = self.spare.pop().unwrap_or_default();
        records.reserve(self.len.min(max_records));
        let mut batch = Batch {
            records,
            token_waits: Vec::new(),
        };
        let mut bytes = 0;
        let n = self.lanes.len();
        let first = self.turn % n;
        self.turn = first + 1;
        'lanes: for i in (first..n).chain(0..first) {
            let mut refused = false;
            let mut admitted = false;
            let waited = self.lanes[i].blocked_since.is_some();
            if waited {
                let size = self.lanes[i]
                    .due
                    .front()
                    .or(self.lanes[i].fresh.front())
                    .map_or(0, Ready::size);
                if self.tokens_at(i, size, now) > now {
                    continue;
                }
            }
            loop {
                let lane = &self.lanes[i];
                let Some(front) = lane.due.front().or(lane.fresh.front()) else {
                    break;
                };
                let size = front.size();
                if batch.records.len() == max_records
                    || (!batch.records.is_empty() && bytes + size > max_bytes)
                {
                    self.settle_block(i, refused, admitted, now);
                    break 'lanes;
                }
                if !self.limiter.admit(i, size, now) {
                    refused = true;
                    break;
                }
                let lane = &mut self.lanes[i];
                if let Some(blocked) = lane.blocked_since {
                    batch
                        .token_waits
                        .push(now.saturating_duration_since(blocked));
                }
                let Some(record) = lane.due.pop_front().or_else(|| lane.fresh.pop_front()) else {
                    break;
                };
                admitted = true;
                bytes += size;
                batch.records.push(record);
            }
            self.settle_block(i, refused, admitted, now);
        }
        self.len -= batch.records.len();
        self.bytes -= bytes;
        batch
    }

    /// After lane `i`'s turn: it is blocked from now if it was refused tokens after taking some
    /// (or since before, if it took none), and no longer blocked if it was not refused.
    fn settle_block(&mut self, i: usize, refused: bool, admitted: bool, now: Instant) {
        let lane = &mut self.lanes[i];
        lane.blocked_since = match (refused, admitted) {
            (false, _) => None,
            (true, true) => Some(now),
            (true, false) => Some(lane.blocked_since.unwrap_or(now)),
        };
    }
}

#[cfg(test)]
mod tests;
