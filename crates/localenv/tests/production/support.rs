//! Test support: kinesalite with a fresh stream, clients straight to it and through a proxy,
//! records aimed at chosen shards, and waiting for a condition with a deadline.

#![allow(dead_code)] // each test uses a part

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use telemetry_aws::shard_map::{hash_key, ShardMap, ShardRange};
use telemetry_aws::Clients;
use telemetry_localenv::emulators::{self, Emulator};
use telemetry_localenv::resources::create_stream;

/// An endpoint nothing listens on, for the service a test does not use.
pub const NOWHERE: &str = "http://127.0.0.1:9";

/// Waits for a condition with a deadline, checking every 50 ms: the workspace's one way to wait.
pub use telemetry_localenv::wait::until as wait_until;

/// kinesalite with a fresh stream, and clients straight to it.
pub struct Kinesis {
    pub emulator: Emulator,
    pub admin: Clients,
    pub stream: String,
}

impl Kinesis {
    /// Starts kinesalite and creates a stream of `shards` shards.
    pub async fn start(shards: i32) -> Kinesis {
        let emulator = tokio::task::spawn_blocking(emulators::kinesalite)
            .await
            .expect("spawn")
            .expect("kinesalite: run scripts/install-emulators.sh");
        let admin = Clients::for_endpoints(NOWHERE, &emulator.url()).await;
        let stream = format!(
            "events-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        create_stream(&admin, &stream, shards)
            .await
            .expect("create the stream");
        Kinesis {
            emulator,
            admin,
            stream,
        }
    }

    /// The open shards as kinesalite's ListShards reports them, read through the SDK.
    pub async fn open_shards(&self) -> ShardMap {
        let out = self
            .admin
            .kinesis
            .list_shards()
            .stream_name(&self.stream)
            .send()
            .await
            .expect("ListShards");
        let ranges = out
            .shards()
            .iter()
            .filter(|s| {
                s.sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .is_none()
            })
            .map(|s| {
                let range = s.hash_key_range().expect("a hash key range");
                ShardRange {
                    shard_id: s.shard_id().to_owned(),
                    start: range.starting_hash_key().parse().expect("a decimal"),
                    end: range.ending_hash_key().parse().expect("a decimal"),
                }
            })
            .collect();
        ShardMap::new(ranges)
    }

    /// Every record in the stream: (shard id, data), shard by shard.
    pub async fn records(&self) -> Vec<(String, Vec<u8>)> {
        telemetry_aws::stream::read_all(&self.admin.kinesis, &self.stream)
            .await
            .expect("read the stream")
            .into_iter()
            .flat_map(|s| {
                let id = s.shard_id;
                s.records
                    .into_iter()
                    .map(move |(_, data)| (id.clone(), data))
            })
            .collect()
    }
}

/// `per_shard` partition keys for each open shard of `map`, in turn: (key, its shard).
pub fn keys_per_shard(map: &ShardMap, per_shard: usize) -> Vec<(String, String)> {
    let mut chosen: Vec<Vec<(String, String)>> = vec![Vec::new(); map.ranges().len()];
    for i in 0.. {
        if chosen.iter().all(|c| c.len() >= per_shard) {
            break;
        }
        let key = format!("device-{i}");
        let shard = map
            .shard_for(hash_key(&key, None).unwrap())
            .expect("the open shards cover every key");
        let slot = map
            .ranges()
            .iter()
            .position(|r| r.shard_id == shard)
            .unwrap();
        if chosen[slot].len() < per_shard {
            chosen[slot].push((key, shard.to_owned()));
        }
    }
    // Interleaved, so no shard's records all come first.
    let mut keys = Vec::new();
    for i in 0..per_shard {
        for c in &chosen {
            keys.push(c[i].clone());
        }
    }
    keys
}

/// A record of `data` under `key`.
pub fn record(key: &str, data: Vec<u8>) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .partition_key(key)
        .data(Blob::new(data))
        .build()
        .expect("a record")
}
