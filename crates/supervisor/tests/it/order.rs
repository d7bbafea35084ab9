//! Order across a resharding made by the supervisor: a reader that reads parents before
//! children (`telemetry_aws::stream::read_all`) sees every record of each partition key, in the
//! order written.
//!
//! moto carries out UpdateShardCount by taking every record out of the parent and putting it
//! back, and is not safe against a PutRecords meanwhile: a record written during the call lands
//! among the old ones (seen here: `key-13` read as 0..4, 29, 5..28). Real Kinesis moves no
//! record. So this test never writes while the supervisor may call: it writes in bursts shorter
//! than a second, and the supervisor only averages seconds at least one second old, so it sees
//! a burst only once the burst is over; the next burst is written right after the change,
//! inside the cooldown. `follow::the_meter_follows_a_split_and_a_merge_and_counts_every_record`
//! checks the same order on kinesalite, which reshards for real, with writes going on.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::{entry, put_records, Env, Supervisor, FAST};

/// Checks that `read` holds every record of `written`, each key's in write order.
pub fn assert_each_key_in_write_order(
    written: &[(String, u64)],
    read: &[telemetry_aws::stream::ShardRecords],
) {
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    for shard in read {
        for (key, data) in &shard.records {
            let v: serde_json::Value = serde_json::from_slice(data).expect("record JSON");
            assert_eq!(
                v["key"],
                key.as_str(),
                "a record's key is its partition key"
            );
            seen.entry(key.clone())
                .or_default()
                .push(v["seq"].as_u64().expect("seq"));
        }
    }
    let mut expected: HashMap<String, Vec<u64>> = HashMap::new();
    for (key, seq) in written {
        expected.entry(key.clone()).or_default().push(*seq);
    }
    assert_eq!(seen.len(), expected.len(), "every key read");
    for (key, seqs) in &expected {
        assert_eq!(
            seen.get(key),
            Some(seqs),
            "{key}: every record, in write order"
        );
    }
}

const KEYS: u64 = 20;

/// Writes `rounds` records per key as fast as one writer can, a PutRecords per round (one
/// record per key in a request), and checks that it took less than a second.
async fn burst(env: &Env, next: &mut u64, rounds: u64, written: &mut Vec<(String, u64)>) {
    let started = Instant::now();
    for _ in 0..rounds {
        let seq = *next;
        *next += 1;
        let keys: Vec<String> = (0..KEYS).map(|k| format!("key-{k}")).collect();
        let entries = keys.iter().map(|key| entry(key, seq)).collect();
        put_records(&env.kinesis, &env.stream, entries).await;
        written.extend(keys.into_iter().map(|k| (k, seq)));
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "a burst must be over before the supervisor can see it: took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_reading_parents_first_sees_each_key_in_order_across_reshards() {
    let env = Env::moto(1).await;
    let mut supervisor = Supervisor::spawn(&env.emulator.url(), &env.stream, FAST);
    supervisor
        .wait_line("average count is", Duration::from_secs(30), |l| {
            l["records_per_sec"].is_number()
        })
        .await;
    let (mut next, mut written) = (0u64, Vec::new());
    // 200 records in a 2 s window: 1.0 shard's worth at the test's 100 records/s per shard.
    burst(&env, &mut next, 10, &mut written).await;
    env.wait_open_shards(2, Duration::from_secs(30)).await;
    // Inside the 2 s cooldown: written on two shards, before the merge back.
    burst(&env, &mut next, 2, &mut written).await;
    env.wait_open_shards(1, Duration::from_secs(30)).await;
    // After the merge: 20 records in 2 s on one shard is below the band, at the minimum.
    burst(&env, &mut next, 1, &mut written).await;

    let shards = telemetry_aws::stream::shards_parents_first(&env.kinesis, &env.stream)
        .await
        .expect("ListShards");
    assert_eq!(shards.len(), 4, "a split in two and a merge");
    let read = telemetry_aws::stream::read_all(&env.kinesis, &env.stream)
        .await
        .expect("read the stream");
    assert_each_key_in_write_order(&written, &read);
    assert_eq!(supervisor.lines_starting("UpdateShardCount").len(), 2);
    assert_eq!(
        supervisor.stop("-TERM", Duration::from_secs(10)).await,
        Some(0)
    );
}
