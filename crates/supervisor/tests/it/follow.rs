//! Following a resharding on kinesalite, which reshards for real (a closed parent takes no more
//! writes, GetRecords ends it without a NextShardIterator, children get the new records): the
//! meter reads each closed shard to its end, moves on to its children, and counts every record
//! written; and a reader reading parents first sees each key's records in write order. The
//! test splits and merges the shards itself, as UpdateShardCount does (kinesalite has no
//! UpdateShardCount).

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::StreamStatus;
use telemetry_supervisor::meter::Meter;
use telemetry_supervisor::outage::Outage;
use telemetry_supervisor::traffic::ShardLimits;

use crate::order::assert_each_key_in_write_order;
use crate::support::{Env, Load};

/// Reads rounds while `act` runs, then until `done` holds, failing after `within`. A round is
/// never cut short: a dropped round may lose the counts of its reads.
async fn drive<F: Future>(
    meter: &mut Meter,
    within: Duration,
    act: F,
    done: impl Fn(&Meter) -> bool,
) -> F::Output {
    let deadline = Instant::now() + within;
    let mut outage = Outage::default();
    let finished = Cell::new(false);
    let act = async {
        let r = act.await;
        finished.set(true);
        r
    };
    let reads = async {
        while !finished.get() || !done(meter) {
            assert!(Instant::now() < deadline, "not done within {within:?}");
            meter.read(&mut outage).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (result, ()) = tokio::join!(act, reads);
    result
}

/// Makes the resharding `call`, waits until the stream is ACTIVE again and 100 more records
/// are written.
async fn resharded<T, E: std::fmt::Debug>(
    env: &Env,
    load: &Load,
    call: impl Future<Output = Result<T, E>>,
) {
    call.await.expect("resharding call");
    wait_active(env).await;
    load.wait_more(100, Duration::from_secs(30)).await;
}

async fn wait_active(env: &Env) {
    loop {
        let out = env
            .kinesis
            .describe_stream_summary()
            .stream_name(&env.stream)
            .send()
            .await
            .expect("DescribeStreamSummary");
        if out
            .stream_description_summary
            .expect("summary")
            .stream_status
            == StreamStatus::Active
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_meter_follows_a_split_and_a_merge_and_counts_every_record() {
    let env = Env::kinesalite(1).await;
    let mut meter = Meter::new(env.kinesis.clone(), &env.stream, Duration::from_millis(200));
    let within = Duration::from_secs(30);
    // Reading from LATEST: start before writing.
    drive(&mut meter, within, async {}, |m| {
        m.complete_until().is_some()
    })
    .await;
    let load = Load::start(&env.kinesis, &env.stream, 200, 40);

    drive(&mut meter, within, load.wait_more(100, within), |_| true).await;
    // The two calls UNIFORM_SCALING makes to go from 1 to 2 shards and back, writes going on.
    let half = (1u128 << 127).to_string();
    let split = env
        .kinesis
        .split_shard()
        .stream_name(&env.stream)
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key(half);
    let split = resharded(&env, &load, split.send());
    drive(&mut meter, within, split, |m| m.shards_read().len() == 2).await;
    let mut children = meter.shards_read();
    children.sort();
    let merge = env.kinesis.merge_shards().stream_name(&env.stream);
    let merge = merge
        .shard_to_merge(&children[0])
        .adjacent_shard_to_merge(&children[1]);
    let merge = resharded(&env, &load, merge.send());
    drive(&mut meter, within, merge, |m| m.shards_read().len() == 1).await;
    let written = load.stop().await;
    let n = written.len() as u64;
    drive(&mut meter, within, async {}, |m| m.totals().records >= n).await;

    let totals = meter.totals();
    assert_eq!(totals.records, n, "every record counted once");
    assert_eq!(
        totals.shards_ended, 3,
        "the parent and both children read to their end"
    );
    assert_eq!(
        totals.bytes,
        written
            .iter()
            .map(|(k, s)| (k.len() + crate::support::record_data(k, *s).len()) as u64)
            .sum::<u64>(),
        "data and partition key bytes"
    );
    assert!(
        !children.contains(&meter.shards_read()[0]),
        "reading the merged shard"
    );
    // Once a window is counted in full, its average is not inflated by shards read twice.
    let window = |m: &Meter| m.rates(1, ShardLimits::AWS, Duration::from_secs(10));
    drive(&mut meter, within, async {}, |m| window(m).is_ok()).await;
    let rates = window(&meter).expect("a full window");
    assert!(rates.records_per_sec <= 200.0 * 1.5, "{rates:?}");

    let read = telemetry_aws::stream::read_all(&env.kinesis, &env.stream)
        .await
        .expect("read the stream");
    assert_eq!(read.len(), 4);
    assert!(
        read.iter().all(|s| !s.records.is_empty()),
        "each shard took writes"
    );
    assert_each_key_in_write_order(&written, &read);
}
