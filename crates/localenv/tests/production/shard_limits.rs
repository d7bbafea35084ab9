//! Kinesis's per-shard limits at the proxy, against kinesalite: record by record, shards from
//! ListShards, reshards followed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use telemetry_aws::shard_map::ShardMap;
use telemetry_aws::Clients;
use telemetry_localenv::profile::Profile;
use telemetry_localenv::proxy::Proxy;
use telemetry_localenv::shard_limit::{ShardLimits, ACCOUNT_ID};

use crate::support::{keys_per_shard, record, wait_until, Kinesis, NOWHERE};

const THROTTLED: &str = "ProvisionedThroughputExceededException";

async fn limited_proxy(k: &Kinesis, limits: ShardLimits) -> (Proxy, Clients) {
    let proxy = Proxy::builder(k.emulator.addr)
        .profile(Profile::emulator().with_shard_limits(limits))
        .start()
        .await
        .expect("proxy");
    let clients = Clients::for_endpoints(NOWHERE, &proxy.url()).await;
    (proxy, clients)
}

fn message(shard: &str, stream: &str) -> String {
    format!("Rate exceeded for shard {shard} in stream {stream} under account {ACCOUNT_ID}.")
}

/// What one PutRecords did, per shard: the data accepted (in request order) and the number
/// throttled.
#[derive(Debug, Default)]
struct PerShard {
    accepted: BTreeMap<String, Vec<Vec<u8>>>,
    throttled: BTreeMap<String, usize>,
}

/// Sends `records` (each with the shard it must go to) in one PutRecords through the proxy and
/// checks every answer: an accepted record names the expected shard (kinesalite's own
/// placement), a throttled one carries Kinesis's code and message for that shard, and
/// FailedRecordCount counts the throttled.
async fn put_and_check(
    clients: &Clients,
    stream: &str,
    records: Vec<(PutRecordsRequestEntry, String)>,
) -> PerShard {
    let (entries, shards): (Vec<_>, Vec<_>) = records.into_iter().unzip();
    let data: Vec<Vec<u8>> = entries.iter().map(|e| e.data().as_ref().to_vec()).collect();
    let out = clients
        .kinesis
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries))
        .send()
        .await
        .expect("PutRecords through the proxy");
    assert_eq!(out.records().len(), shards.len(), "one answer per record");
    let mut seen = PerShard::default();
    for (i, answer) in out.records().iter().enumerate() {
        let shard = &shards[i];
        match answer.error_code() {
            None => {
                assert_eq!(
                    answer.shard_id(),
                    Some(shard.as_str()),
                    "record {i} goes where the MD5 of its key (or its ExplicitHashKey) falls"
                );
                seen.accepted
                    .entry(shard.clone())
                    .or_default()
                    .push(data[i].clone());
            }
            Some(code) => {
                assert_eq!(code, THROTTLED, "record {i}");
                assert_eq!(
                    answer.error_message(),
                    Some(message(shard, stream).as_str()),
                    "record {i}"
                );
                assert!(answer.sequence_number().is_none());
                *seen.throttled.entry(shard.clone()).or_default() += 1;
            }
        }
    }
    let throttled: usize = seen.throttled.values().sum();
    assert_eq!(out.failed_record_count(), Some(throttled as i32));
    seen
}

/// `per_shard` small records for each open shard of `map`, by partition key.
fn burst(map: &ShardMap, per_shard: usize, tag: &str) -> Vec<(PutRecordsRequestEntry, String)> {
    keys_per_shard(map, per_shard)
        .into_iter()
        .enumerate()
        .map(|(i, (key, shard))| (record(&key, format!("{tag}-{i}").into_bytes()), shard))
        .collect()
}

/// Checks a burst of `sent_per_shard` records per shard against limits of `limit` records:
/// each shard accepted exactly its first `limit` records (one request is admitted at one
/// instant, from full buckets) and throttled the rest.
fn assert_limited(seen: &PerShard, sent: &[(Vec<u8>, String)], map: &ShardMap, limit: usize) {
    for range in map.ranges() {
        let shard = &range.shard_id;
        let of_shard: Vec<&Vec<u8>> = sent
            .iter()
            .filter(|(_, s)| s == shard)
            .map(|(d, _)| d)
            .collect();
        let accepted = seen.accepted.get(shard).cloned().unwrap_or_default();
        assert!(accepted.len() <= limit, "{shard} took more than its bucket");
        assert_eq!(
            accepted.iter().collect::<Vec<_>>(),
            of_shard[..limit].to_vec(),
            "{shard} took its first {limit} records"
        );
        assert_eq!(
            seen.throttled.get(shard).copied().unwrap_or(0),
            of_shard.len() - limit,
            "{shard} throttled the rest"
        );
    }
}

fn sent_of(records: &[(PutRecordsRequestEntry, String)]) -> Vec<(Vec<u8>, String)> {
    records
        .iter()
        .map(|(e, s)| (e.data().as_ref().to_vec(), s.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_limit_is_throttled_record_by_record() {
    let k = Kinesis::start(2).await;
    let (proxy, clients) = limited_proxy(&k, ShardLimits::per_shard(100, 100 * 1024)).await;
    let map = k.open_shards().await;
    assert_eq!(map.ranges().len(), 2);

    // 150 records per shard by partition key, and 10 per shard by ExplicitHashKey (whose own
    // partition key may hash elsewhere): 320 records in one second, 160 per shard.
    let mut records = burst(&map, 150, "burst");
    for (s, range) in map.ranges().iter().enumerate() {
        for i in 0..10u128 {
            let entry = PutRecordsRequestEntry::builder()
                .partition_key(format!("explicit-{s}-{i}"))
                .explicit_hash_key((range.start + i).to_string())
                .data(Blob::new(format!("explicit-{s}-{i}")))
                .build()
                .unwrap();
            records.push((entry, range.shard_id.clone()));
        }
    }
    let sent = sent_of(&records);
    let seen = put_and_check(&clients, &k.stream, records).await;
    assert_limited(&seen, &sent, &map, 100);

    let accepted: usize = seen.accepted.values().map(Vec::len).sum();
    let throttled: usize = seen.throttled.values().sum();
    assert_eq!((accepted, throttled), (200, 120));
    assert_eq!(accepted + throttled, sent.len());

    // The proxy's counters say the same, shard by shard.
    let counts = proxy.shard_counts();
    assert_eq!(counts.len(), 2);
    for c in &counts {
        assert_eq!(c.stream, k.stream);
        assert_eq!((c.accepted, c.throttled), (100, 60), "{}", c.shard_id);
    }
    assert_eq!(proxy.injected().throttled, 120);
    assert_eq!(proxy.injected().entries, 0, "no fault was planned");

    // The emulator received exactly the accepted records, on their shards.
    let stored: BTreeSet<(String, Vec<u8>)> = k.records().await.into_iter().collect();
    let expected: BTreeSet<(String, Vec<u8>)> = seen
        .accepted
        .iter()
        .flat_map(|(s, ds)| ds.iter().map(move |d| (s.clone(), d.clone())))
        .collect();
    assert_eq!(stored, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_are_limited_too_data_and_partition_key() {
    let k = Kinesis::start(1).await;
    let (proxy, clients) = limited_proxy(&k, ShardLimits::per_shard(1000, 100 * 1024)).await;
    let shard = k.open_shards().await.ranges()[0].shard_id.clone();
    // 30 records of 10 KiB under the key "k": 10,241 bytes each against 102,400 a second.
    let records: Vec<_> = (0..30u8)
        .map(|i| (record("k", vec![i; 10 * 1024]), shard.clone()))
        .collect();
    let seen = put_and_check(&clients, &k.stream, records).await;
    let accepted = seen.accepted.get(&shard).map_or(0, Vec::len);
    assert_eq!(
        accepted,
        102_400 / 10_241,
        "nine records fit, the tenth does not"
    );
    assert_eq!(
        seen.accepted[&shard],
        (0..9u8).map(|i| vec![i; 10 * 1024]).collect::<Vec<_>>()
    );
    assert_eq!(proxy.injected().throttled, 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_record_over_the_limit_is_a_throughput_error() {
    let k = Kinesis::start(1).await;
    // One record a second: the second of two calls made within a second is over the limit.
    let (proxy, clients) = limited_proxy(&k, ShardLimits::per_shard(1, 1024 * 1024)).await;
    let shard = k.open_shards().await.ranges()[0].shard_id.clone();
    let put = |data: &'static str| {
        clients
            .kinesis
            .put_record()
            .stream_name(&k.stream)
            .partition_key("k")
            .data(Blob::new(data))
            .send()
    };
    // The bucket refills in a second: a pair of calls that took longer than that (a machine
    // under heavy load) proves nothing, and is tried again.
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let first = put("first").await;
        let second = put("second").await;
        if started.elapsed() >= Duration::from_secs(1) {
            continue;
        }
        let first = first.expect("the first record fits in a full bucket");
        assert_eq!(first.shard_id(), shard);
        let err = second.expect_err("the second is over the limit");
        assert_eq!(err.code(), Some(THROTTLED));
        assert_eq!(err.message(), Some(message(&shard, &k.stream).as_str()));
        assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
        let stored: Vec<Vec<u8>> = k.records().await.into_iter().map(|(_, d)| d).collect();
        assert!(
            !stored.contains(&b"second".to_vec()),
            "a throttled PutRecord is not forwarded"
        );
        assert!(proxy.injected().throttled >= 1);
        return;
    }
    panic!("no two PutRecord calls within a second in five tries");
}

/// Once kinesalite has `shards` open shards and the proxy sees the same, a burst of 150 records
/// per shard: each takes 100 (a new shard has a full bucket of its own). Returns the shards and
/// the accepted records.
async fn burst_once_followed(
    k: &Kinesis,
    proxy: &Proxy,
    clients: &Clients,
    shards: usize,
    tag: &str,
) -> (ShardMap, PerShard) {
    wait_until(
        &format!("kinesalite to have {shards} open shards"),
        Duration::from_secs(10),
        || async { k.open_shards().await.ranges().len() == shards },
    )
    .await;
    let map = k.open_shards().await;
    wait_until(
        &format!("the proxy to see the {shards} open shards"),
        Duration::from_secs(10),
        || async { proxy.open_shards(&k.stream).await.as_ref() == Some(&map) },
    )
    .await;
    let records = burst(&map, 150, tag);
    let sent = sent_of(&records);
    let seen = put_and_check(clients, &k.stream, records).await;
    assert_limited(&seen, &sent, &map, 100);
    (map, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limits_follow_a_split_and_a_merge() {
    let k = Kinesis::start(1).await;
    let (proxy, clients) = limited_proxy(&k, ShardLimits::per_shard(100, 1024 * 1024)).await;
    let mut accepted = BTreeSet::new();
    let mut keep = |seen: &PerShard| {
        for (s, ds) in &seen.accepted {
            accepted.extend(ds.iter().map(|d| (s.clone(), d.clone())));
        }
    };

    // One shard: 150 records, 100 accepted.
    let (before, seen) = burst_once_followed(&k, &proxy, &clients, 1, "before").await;
    keep(&seen);

    // A split through the proxy: it follows it at once.
    let parent = before.ranges()[0].shard_id.clone();
    clients
        .kinesis
        .split_shard()
        .stream_name(&k.stream)
        .shard_to_split(&parent)
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .expect("SplitShard through the proxy");
    let (split, seen) = burst_once_followed(&k, &proxy, &clients, 2, "split").await;
    assert!(
        !seen.accepted.contains_key(&parent),
        "the closed parent takes nothing"
    );
    keep(&seen);

    // A merge straight at the emulator, which the proxy does not see: its periodic refresh
    // follows it.
    k.admin
        .kinesis
        .merge_shards()
        .stream_name(&k.stream)
        .shard_to_merge(&split.ranges()[0].shard_id)
        .adjacent_shard_to_merge(&split.ranges()[1].shard_id)
        .send()
        .await
        .expect("MergeShards");
    let (_, seen) = burst_once_followed(&k, &proxy, &clients, 1, "merged").await;
    keep(&seen);

    // Four shards were limited in turn, 100 records each; the stream holds exactly those.
    let counts = proxy.shard_counts();
    assert_eq!(counts.len(), 4);
    assert!(counts.iter().all(|c| c.accepted == 100));
    let stored: BTreeSet<(String, Vec<u8>)> = k.records().await.into_iter().collect();
    assert_eq!(stored, accepted);
}
