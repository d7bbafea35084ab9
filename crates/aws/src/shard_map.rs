//! Which shard of a stream takes a record, decided as Kinesis decides it: the record's hash key
//! is the MD5 of its partition key read as a 128-bit big-endian integer, or its
//! `ExplicitHashKey` (a decimal) when it has one; the shard is the open shard whose hash-key
//! range holds it. The ranges come from the stream's own `ListShards` answer, so a map built
//! after a reshard follows it.

use aws_sdk_kinesis::types::Shard;
use md5::{Digest, Md5};

/// The hash key of a record: its `ExplicitHashKey` when it has one (`None` when that is not a
/// decimal below 2^128), else the MD5 of its partition key as a big-endian integer.
pub fn hash_key(partition_key: &str, explicit_hash_key: Option<&str>) -> Option<u128> {
    match explicit_hash_key {
        Some(decimal) if decimal.bytes().all(|b| b.is_ascii_digit()) => decimal.parse().ok(),
        Some(_) => None,
        None => {
            let digest: [u8; 16] = Md5::digest(partition_key.as_bytes()).into();
            Some(u128::from_be_bytes(digest))
        }
    }
}

/// One open shard: its id and its inclusive hash-key range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRange {
    /// The shard's id, e.g. `shardId-000000000001`.
    pub shard_id: String,
    /// The first hash key it takes.
    pub start: u128,
    /// The last hash key it takes.
    pub end: u128,
}

/// The open shards of a stream by hash-key range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardMap {
    /// Sorted by `start`; the open shards of a stream never overlap.
    ranges: Vec<ShardRange>,
}

impl ShardMap {
    /// A map of the given ranges.
    pub fn new(mut ranges: Vec<ShardRange>) -> ShardMap {
        ranges.sort_by_key(|r| r.start);
        ShardMap { ranges }
    }

    /// The open shards among `shards` (as ListShards gives them): those without an ending
    /// sequence number. A shard whose range is not two decimals below 2^128 is left out.
    pub fn open(shards: &[Shard]) -> ShardMap {
        let ranges = shards
            .iter()
            .filter(|s| {
                s.sequence_number_range()
                    .is_some_and(|r| r.ending_sequence_number().is_none())
            })
            .filter_map(|s| {
                let range = s.hash_key_range()?;
                Some(ShardRange {
                    shard_id: s.shard_id().to_owned(),
                    start: range.starting_hash_key().parse().ok()?,
                    end: range.ending_hash_key().parse().ok()?,
                })
            })
            .collect();
        ShardMap::new(ranges)
    }

    /// True when `shard_id` is one of the open shards.
    pub fn contains(&self, shard_id: &str) -> bool {
        self.ranges.iter().any(|r| r.shard_id == shard_id)
    }

    /// The open shard whose range holds `hash_key`.
    pub fn shard_for(&self, hash_key: u128) -> Option<&str> {
        let i = self.index_for(hash_key)?;
        Some(self.ranges[i].shard_id.as_str())
    }

    /// The position in [`ShardMap::ranges`] of the open shard whose range holds `hash_key`.
    pub fn index_for(&self, hash_key: u128) -> Option<usize> {
        let i = self
            .ranges
            .partition_point(|r| r.start <= hash_key)
            .checked_sub(1)?;
        (hash_key <= self.ranges.get(i)?.end).then_some(i)
    }

    /// The open shards, by hash-key range.
    pub fn ranges(&self) -> &[ShardRange] {
        &self.ranges
    }

    /// Where a uniform resharding splits next: the widest open shard, at the start of its
    /// upper half (the `NewStartingHashKey` of SplitShard). `None` without open shards.
    pub fn widest_split(&self) -> Option<(&str, u128)> {
        let widest = self.ranges.iter().max_by_key(|r| r.end - r.start)?;
        let middle = widest.start + (widest.end - widest.start) / 2 + 1;
        Some((&widest.shard_id, middle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kinesis::types::{HashKeyRange, SequenceNumberRange};
    use proptest::prelude::*;

    #[test]
    fn the_widest_open_shard_splits_at_the_start_of_its_upper_half() {
        let map = ShardMap::new(vec![
            ShardRange {
                shard_id: "narrow".to_owned(),
                start: 0,
                end: 9,
            },
            ShardRange {
                shard_id: "wide".to_owned(),
                start: 10,
                end: 29,
            },
        ]);
        assert_eq!(map.widest_split(), Some(("wide", 20)));
        assert_eq!(ShardMap::new(Vec::new()).widest_split(), None);
    }

    fn shard(id: &str, start: u128, end: u128, closed: bool) -> Shard {
        let mut seq = SequenceNumberRange::builder().starting_sequence_number("1");
        if closed {
            seq = seq.ending_sequence_number("2");
        }
        Shard::builder()
            .shard_id(id)
            .hash_key_range(
                HashKeyRange::builder()
                    .starting_hash_key(start.to_string())
                    .ending_hash_key(end.to_string())
                    .build()
                    .expect("range"),
            )
            .sequence_number_range(seq.build().expect("sequence numbers"))
            .build()
            .expect("shard")
    }

    #[test]
    fn the_partition_key_hash_is_its_md5_as_a_big_endian_integer() {
        // MD5("") = d41d8cd98f00b204e9800998ecf8427e, MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
        assert_eq!(hash_key("", None), Some(0xd41d8cd98f00b204e9800998ecf8427e));
        assert_eq!(
            hash_key("a", None),
            Some(0x0cc175b9c0f1b6a831c399e269772661)
        );
        assert_eq!(hash_key("a", Some("42")), Some(42));
        assert_eq!(
            hash_key("a", Some("340282366920938463463374607431768211455")),
            Some(u128::MAX)
        );
        assert_eq!(
            hash_key("a", Some("340282366920938463463374607431768211456")),
            None
        );
        assert_eq!(hash_key("a", Some("-1")), None);
        assert_eq!(hash_key("a", Some("+1")), None);
        assert_eq!(hash_key("a", Some("")), None);
    }

    #[test]
    fn closed_shards_take_no_records() {
        let half = u128::MAX / 2;
        let shards = [
            shard("shardId-000000000000", 0, u128::MAX, true),
            shard("shardId-000000000001", 0, half, false),
            shard("shardId-000000000002", half + 1, u128::MAX, false),
        ];
        let map = ShardMap::open(&shards);
        assert_eq!(map.ranges().len(), 2);
        assert!(map.contains("shardId-000000000002"));
        assert!(!map.contains("shardId-000000000000"));
        assert_eq!(map.shard_for(0), Some("shardId-000000000001"));
        assert_eq!(map.shard_for(half), Some("shardId-000000000001"));
        assert_eq!(map.shard_for(half + 1), Some("shardId-000000000002"));
        assert_eq!(map.shard_for(u128::MAX), Some("shardId-000000000002"));
    }

    /// A stream's open shards: contiguous ranges from split points, covering every key.
    fn covering(mut cuts: Vec<u128>) -> ShardMap {
        cuts.retain(|c| *c > 0);
        cuts.sort_unstable();
        cuts.dedup();
        let mut starts = vec![0];
        starts.extend(cuts);
        let ranges = starts
            .iter()
            .enumerate()
            .map(|(i, start)| ShardRange {
                shard_id: format!("shardId-{i:012}"),
                start: *start,
                end: starts.get(i + 1).map_or(u128::MAX, |next| next - 1),
            })
            .collect();
        ShardMap::new(ranges)
    }

    proptest! {
        #[test]
        fn every_key_goes_to_the_one_range_that_holds_it(
            cuts in proptest::collection::vec(any::<u128>(), 0..20),
            keys in proptest::collection::vec(any::<u128>(), 1..50),
            names in proptest::collection::vec(".{0,12}", 1..20),
        ) {
            let map = covering(cuts);
            let holding = |k: u128| {
                let found: Vec<&ShardRange> =
                    map.ranges().iter().filter(|r| r.start <= k && k <= r.end).collect();
                assert_eq!(found.len(), 1, "ranges cover each key once");
                found[0].shard_id.clone()
            };
            for k in keys {
                prop_assert_eq!(map.shard_for(k).map(str::to_owned), Some(holding(k)));
            }
            for name in names {
                let k = hash_key(&name, None).unwrap();
                prop_assert_eq!(map.shard_for(k).map(str::to_owned), Some(holding(k)));
            }
        }

        #[test]
        fn keys_outside_every_range_go_nowhere(start in 1u128..u128::MAX, len in 0u128..1000) {
            let end = start.saturating_add(len);
            let map = ShardMap::new(vec![ShardRange { shard_id: "s".into(), start, end }]);
            prop_assert_eq!(map.shard_for(start - 1), None);
            prop_assert_eq!(map.shard_for(start), Some("s"));
            prop_assert_eq!(map.shard_for(end), Some("s"));
            if end < u128::MAX {
                prop_assert_eq!(map.shard_for(end + 1), None);
            }
        }
    }
}
