//! What the stream took in, second by second: records and bytes counted by each record's
//! `ApproximateArrivalTimestamp`, and their average over a window in shards' worth of writes.
//! Pure: no AWS, no clock; [`crate::meter`] feeds it and says how far it is complete.

use std::collections::BTreeMap;

/// The write limits of one shard: the unit in which use is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardLimits {
    /// Records per second one shard takes (1,000 in AWS).
    pub records_per_sec: f64,
    /// Bytes per second one shard takes, data and partition keys (1 MiB in AWS).
    pub bytes_per_sec: f64,
}

impl ShardLimits {
    /// The limits of a Kinesis shard in provisioned mode.
    pub const AWS: ShardLimits = ShardLimits {
        records_per_sec: 1_000.0,
        bytes_per_sec: 1_048_576.0,
    };

    /// How many shards' worth of writes `records` and `bytes` in one second are: whichever
    /// limit is nearer decides, as Kinesis throttles on whichever is reached first.
    pub fn shards_worth(&self, records: u64, bytes: u64) -> f64 {
        let by_records = records as f64 / self.records_per_sec;
        let by_bytes = bytes as f64 / self.bytes_per_sec;
        by_records.max(by_bytes)
    }
}

/// Records and bytes that arrived in one second.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Second {
    /// Records.
    pub records: u64,
    /// Bytes: data plus partition key, as Kinesis counts them against a shard's limit.
    pub bytes: u64,
}

/// The averages over a window of whole seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// How many seconds were averaged.
    pub seconds: u32,
    /// Records per second.
    pub records_per_sec: f64,
    /// Bytes per second.
    pub bytes_per_sec: f64,
    /// The mean over the seconds of each second's shards' worth of writes
    /// ([`ShardLimits::shards_worth`]): what the stream took in, in shards at full use.
    pub shards_used: f64,
    /// Writes the stream refused, as far as the source sees them.
    pub throttles: Throttles,
    /// What was asked of the stream, in shards at full use: `shards_used` plus the shards'
    /// worth of the throttled records. The decision scales on this.
    pub shards_demanded: f64,
}

impl Rates {
    /// Rates of what the stream took in, with throttles the source does not see (the stream
    /// source): demand is what was taken in.
    pub fn accepted(seconds: u32, records_per_sec: f64, bytes_per_sec: f64, used: f64) -> Rates {
        Rates {
            seconds,
            records_per_sec,
            bytes_per_sec,
            shards_used: used,
            throttles: Throttles::NotSeen,
            shards_demanded: used,
        }
    }
}

/// Records the stream refused with `ProvisionedThroughputExceededException` over the window:
/// demand it could not take, which a count of what it took in does not show.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Throttles {
    /// The source cannot see them: a refused write never reaches the stream, so reading it
    /// shows none (the stream source). A stream taking in at or above the split threshold of
    /// its capacity is how a saturated stream looks to it (collectors that keep the shard
    /// limits wait instead of being throttled), and that is already a split.
    NotSeen,
    /// Records refused per second, averaged over the window (CloudWatch's
    /// `WriteProvisionedThroughputExceeded`).
    PerSec(f64),
    /// The source should see them, but a minute of the window has no datapoint: whether the
    /// stream was throttled is not known, so it is not merged.
    Unknown,
}

impl Throttles {
    /// Records refused per second, when seen.
    pub fn per_sec(&self) -> Option<f64> {
        match self {
            Throttles::PerSec(r) => Some(*r),
            Throttles::NotSeen | Throttles::Unknown => None,
        }
    }
}

/// Why there is no average yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filling {
    /// Whole seconds measured so far.
    pub have_secs: u32,
    /// Seconds the window needs.
    pub need_secs: u32,
}

/// Per-second counts, by arrival second (Unix time).
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    seconds: BTreeMap<i64, Second>,
    /// The first second counted in full, once known: reading started during the second before.
    first_full: Option<i64>,
}

impl Traffic {
    /// Counts from the start of reading: `started` is the Unix second in which every shard was
    /// being read (its records are only partly seen, so it never counts).
    pub fn new(started: i64) -> Self {
        let mut t = Traffic::default();
        t.count_from(started);
        t
    }

    /// Sets when reading started, for a traffic made before it was known.
    pub fn count_from(&mut self, started: i64) {
        self.first_full = Some(started.saturating_add(1));
    }

    /// Whether the start of reading is known.
    pub fn is_started(&self) -> bool {
        self.first_full.is_some()
    }

    /// Adds records that arrived in Unix second `second`.
    pub fn add(&mut self, second: i64, records: u64, bytes: u64) {
        let s = self.seconds.entry(second).or_default();
        s.records = s.records.saturating_add(records);
        s.bytes = s.bytes.saturating_add(bytes);
    }

    /// The counts of one second (zero when nothing arrived).
    pub fn second(&self, second: i64) -> Second {
        self.seconds.get(&second).copied().unwrap_or_default()
    }

    /// The average over the `len` whole seconds before `end` (exclusive), or how much of the
    /// window is measured when it starts before reading did.
    pub fn window(&self, end: i64, len: u32, limits: ShardLimits) -> Result<Rates, Filling> {
        let start = end.saturating_sub(i64::from(len));
        let first_full = self.first_full.unwrap_or(i64::MAX);
        if start < first_full || len == 0 {
            let have = end.saturating_sub(first_full).clamp(0, i64::from(len));
            return Err(Filling {
                have_secs: u32::try_from(have).unwrap_or(0),
                need_secs: len,
            });
        }
        let (mut records, mut bytes, mut used) = (0u64, 0u64, 0.0f64);
        // Seconds with no record are absent and add nothing to the sums.
        for s in self.seconds.range(start..end).map(|(_, s)| s) {
            records = records.saturating_add(s.records);
            bytes = bytes.saturating_add(s.bytes);
            used += limits.shards_worth(s.records, s.bytes);
        }
        let n = f64::from(len);
        Ok(Rates::accepted(
            len,
            records as f64 / n,
            bytes as f64 / n,
            used / n,
        ))
    }

    /// Drops the seconds before `second`: memory stays bounded by the window and the reading lag.
    pub fn forget_before(&mut self, second: i64) {
        self.seconds = self.seconds.split_off(&second);
    }

    /// How many seconds are held.
    pub fn held_seconds(&self) -> usize {
        self.seconds.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::float_cmp)]
    use super::*;

    const TEN: ShardLimits = ShardLimits {
        records_per_sec: 10.0,
        bytes_per_sec: 1_000.0,
    };

    fn filling(have_secs: u32, need_secs: u32) -> Result<Rates, Filling> {
        Err(Filling {
            have_secs,
            need_secs,
        })
    }

    #[test]
    fn the_nearer_limit_decides_a_seconds_worth() {
        assert_eq!(TEN.shards_worth(5, 100), 0.5);
        assert_eq!(TEN.shards_worth(1, 2_000), 2.0);
        assert_eq!(TEN.shards_worth(0, 0), 0.0);
        assert_eq!(ShardLimits::AWS.shards_worth(1_000, 0), 1.0);
        assert_eq!(ShardLimits::AWS.shards_worth(1, 1_048_576), 1.0);
    }

    #[test]
    fn the_second_reading_started_in_never_counts() {
        let mut t = Traffic::new(100);
        t.add(100, 50, 50);
        t.add(101, 10, 10);
        assert_eq!(t.window(103, 3, TEN), filling(2, 3));
        assert_eq!(t.window(100, 3, TEN), filling(0, 3));
        let r = t.window(104, 3, TEN).expect("full");
        assert_eq!(r.records_per_sec, 10.0 / 3.0, "second 100 left out");
    }

    #[test]
    fn use_is_the_mean_of_each_seconds_worth_not_the_worth_of_the_means() {
        let mut t = Traffic::new(0);
        // A burst of records in one second and a burst of bytes in the next: each second used
        // a full shard, though the mean records (5/s) and bytes (500/s) are half a shard each.
        t.add(1, 10, 0);
        t.add(2, 0, 1_000);
        let r = t.window(3, 2, TEN).expect("full");
        assert_eq!(r.records_per_sec, 5.0);
        assert_eq!(r.bytes_per_sec, 500.0);
        assert_eq!(r.shards_used, 1.0);
    }

    #[test]
    fn nothing_is_averaged_before_the_start_is_known() {
        let mut t = Traffic::default();
        t.add(5, 1, 1);
        assert!(!t.is_started());
        assert_eq!(t.window(100, 3, TEN), filling(0, 3));
        t.count_from(4);
        assert!(t.is_started());
        assert_eq!(
            t.window(8, 3, TEN).expect("full").records_per_sec,
            1.0 / 3.0
        );
    }

    #[test]
    fn seconds_without_records_count_as_zero_and_counts_add_up() {
        let mut t = Traffic::new(0);
        t.add(5, 3, 30);
        t.add(5, 1, 10);
        assert_eq!(
            t.second(5),
            Second {
                records: 4,
                bytes: 40
            }
        );
        let r = t.window(11, 10, TEN).expect("full");
        assert_eq!(r.records_per_sec, 0.4);
        assert_eq!(r.bytes_per_sec, 4.0);
        assert!((r.shards_used - 0.04).abs() < 1e-12);
        // The window is [end - len, end): second 11 is outside.
        t.add(11, 100, 0);
        assert_eq!(t.window(11, 10, TEN).expect("full").records_per_sec, 0.4);
    }

    #[test]
    fn forgetting_keeps_the_later_seconds() {
        let mut t = Traffic::new(0);
        for s in 1..=10 {
            t.add(s, 1, 1);
        }
        t.forget_before(8);
        assert_eq!(t.held_seconds(), 3);
        assert_eq!(t.second(7), Second::default());
        assert_eq!(t.second(8).records, 1);
    }

    #[test]
    fn extreme_counts_saturate_instead_of_overflowing() {
        let mut t = Traffic::new(0);
        t.add(1, u64::MAX, u64::MAX);
        t.add(1, 1, 1);
        assert_eq!(t.second(1).records, u64::MAX);
        assert!(t.window(2, 1, TEN).is_ok());
        assert!(t.window(i64::MIN, u32::MAX, TEN).is_err());
    }
}
