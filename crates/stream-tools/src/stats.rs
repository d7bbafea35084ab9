//! Records, bytes and rate per shard.

use std::fmt;

use telemetry_aws::stream::ShardRecords;

/// Counts for one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardStats {
    /// The shard id.
    pub shard_id: String,
    /// Records in the shard.
    pub records: usize,
    /// Bytes of data (partition keys included).
    pub bytes: usize,
}

/// Per-shard counts of what was read.
pub fn stats(shards: &[ShardRecords]) -> Vec<ShardStats> {
    shards
        .iter()
        .map(|s| ShardStats {
            shard_id: s.shard_id.clone(),
            records: s.records.len(),
            bytes: s.records.iter().map(|(k, d)| k.len() + d.len()).sum(),
        })
        .collect()
}

impl fmt::Display for ShardStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<28} {:>10} records {:>12} bytes",
            self.shard_id, self.records, self.bytes
        )
    }
}
