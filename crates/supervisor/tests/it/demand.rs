//! Demand beyond what gets through, on the production-shaped profile: a 2-shard stream behind
//! the proxy's per-shard limits (scaled to 100 records/s a shard), a collector keeping the same
//! limits, fed well above the stream's capacity. The collector waits at the limits, so the
//! stream takes in its capacity and no more; the supervisor (stream source, shard limit scaled
//! alike) must see that as saturation and split. kinesalite reshards for real; it has no
//! UpdateShardCount, which the proxy carries out with SplitShard (see
//! `telemetry_localenv`'s `uniform_scaling`).

use std::time::{Duration, Instant};

use telemetry_localenv::faults::Service;
use telemetry_localenv::offered_load::{self, Offer};
use telemetry_localenv::profile::Profile;
use telemetry_localenv::proxy::Proxy;
use telemetry_localenv::shard_limit::ShardLimits;
use telemetry_localenv::{emulators, scrape};
use telemetry_stream_tools::verify::verify;
use tokio_util::sync::CancellationToken;

use crate::support::{wait_open_shards, wait_until, CollectorRun, Supervisor, FAST};

/// A shard's scaled write limit, in the proxy, the collector and the supervisor alike.
const SHARD_RECORDS_PER_SEC: u32 = 100;
const SHARD_BYTES_PER_SEC: u32 = 100 * 1024;

/// Fleet-shaped submissions (two types, 3-5 events each: 8 events on average) per second:
/// about 320 events/s offered, 1.6 times the 200 of two shards, within the 400 of four.
const SUBMISSIONS_PER_SEC: f64 = 40.0;

/// The window over which accepted throughput is compared with the old capacity. A shard's
/// bucket holds one second's worth, so over `W` seconds two shards take at most
/// `(W + 1) * 100` records each: over 5 s, 240 records/s at most.
const WINDOW_SECS: u64 = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_saturated_by_the_collector_is_split_and_takes_more() {
    let moto = emulators::moto().expect("moto: run scripts/install-emulators.sh");
    let kinesalite = emulators::kinesalite().expect("kinesalite: run scripts/install-emulators.sh");
    let limits = ShardLimits::per_shard(SHARD_RECORDS_PER_SEC, SHARD_BYTES_PER_SEC);
    let proxy = Proxy::builder(kinesalite.addr)
        .profile(Profile::production(Service::Kinesis).with_shard_limits(limits))
        .start()
        .await
        .expect("the Kinesis proxy");
    // The collector and the supervisor go through the proxy; the test reads straight.
    let clients = telemetry_aws::Clients::for_endpoints(&moto.url(), &proxy.url()).await;
    let admin = telemetry_aws::Clients::for_endpoints(&moto.url(), &kinesalite.url()).await;
    let (records_flag, bytes_flag) = (
        format!("--shard-max-records-per-sec={SHARD_RECORDS_PER_SEC}"),
        format!("--shard-max-bytes-per-sec={SHARD_BYTES_PER_SEC}"),
    );
    let collector =
        CollectorRun::start("demand", &admin, &clients, 2, &[&records_flag, &bytes_flag]).await;
    let (stream, metrics) = (collector.stream.clone(), collector.metrics);

    let records = SHARD_RECORDS_PER_SEC.to_string();
    let bytes = SHARD_BYTES_PER_SEC.to_string();
    let mut settings = FAST.to_vec();
    settings.extend([
        ("SUPERVISOR_SHARD_RECORDS_PER_SEC", records.as_str()),
        ("SUPERVISOR_SHARD_BYTES_PER_SEC", bytes.as_str()),
        // Two shards while the load has not reached the stream yet; four at most.
        ("SUPERVISOR_MIN_SHARDS", "2"),
        ("SUPERVISOR_MAX_SHARDS", "4"),
    ]);
    let mut supervisor = Supervisor::spawn(&proxy.url(), &stream, &settings);

    let stop_offer = CancellationToken::new();
    let offer = Offer {
        per_sec: SUBMISSIONS_PER_SEC,
        events_per_type: 3..=5,
        devices: 40,
        hot_share: 0.0,
        seed: 11,
    };
    let (offered, offering) = offered_load::start(
        offer,
        admin.sqs.clone(),
        collector.queue_url.clone(),
        stop_offer.clone(),
    );

    let started = Instant::now();
    let decided = supervisor
        .scale_up_line(2, 4, Duration::from_secs(90))
        .await;
    assert_eq!(decided["throttles"], "not_seen", "{decided}");
    let saturated = decided["records_per_sec"]
        .as_f64()
        .expect("records_per_sec");
    wait_open_shards(&admin.kinesis, &stream, 4, Duration::from_secs(30)).await;
    let split_after = started.elapsed();

    // The collector's map of the stream follows the resharding.
    wait_until(
        "the collector's map has 4 shards",
        Duration::from_secs(30),
        || async {
            let (_, body) = scrape::get(metrics, "/metrics").await.ok()?;
            (scrape::value(&body, "telemetry_collector_stream_shards") == Some(4.0)).then_some(())
        },
    )
    .await;
    let split_ms = offered_load::now_ms();

    // More than the two old shards could ever take, over any window of WINDOW_SECS.
    let old_limit =
        f64::from(2 * SHARD_RECORDS_PER_SEC) * (WINDOW_SECS + 1) as f64 / WINDOW_SECS as f64;
    let best = wait_until(
        "the stream to take in more than two shards can",
        Duration::from_secs(60),
        || async {
            let shards = telemetry_aws::stream::read_all(&admin.kinesis, &stream)
                .await
                .ok()?;
            let best = best_window_rate(&shards, split_ms, WINDOW_SECS * 1_000);
            (best > old_limit).then_some(best)
        },
    )
    .await;

    stop_offer.cancel();
    offering.await.expect("offered load");
    let manifest = offered.lock().expect("offered").manifest.clone();
    // Every event in the stream: read parents first, the whole stream as one sequence, so a
    // submission whose events straddle a split (parent, then child) is checked in that order.
    let report = wait_until(
        "every event in the stream",
        Duration::from_secs(90),
        || async {
            let shards = telemetry_aws::stream::read_all(&admin.kinesis, &stream)
                .await
                .ok()?;
            let report = verify(
                &manifest,
                &[telemetry_aws::stream::as_one_sequence(&shards)],
            );
            (report.events_lost == 0).then_some(report)
        },
    )
    .await;
    println!(
        "offered about {:.0} events/s to 2 shards of {SHARD_RECORDS_PER_SEC} records/s: the \
         supervisor measured {saturated:.0} records/s and split to 4 after {:.1} s; then the \
         stream took {best:.0} records/s over {WINDOW_SECS} s (two shards: at most \
         {old_limit:.0}); verify: {} events, {} lost, {} out of order, {} duplicates; the proxy \
         throttled {}",
        SUBMISSIONS_PER_SEC * 8.0,
        split_after.as_secs_f64(),
        report.events_expected,
        report.events_lost,
        report.order_violations,
        report.duplicates,
        proxy.injected().throttled
    );
    assert!(report.passed(), "{report}");
    assert_eq!(report.order_violations, 0);
    // The premise of the stream source's view: the collector waits at the limits instead of
    // being throttled, so the stream shows its saturation as what it takes in.
    let throttled = proxy.injected().throttled;
    assert!(
        throttled * 100 <= report.events_expected as u64,
        "the collector's limiter let {throttled} records be throttled"
    );

    collector.stop().await;
    assert_eq!(
        supervisor.stop("-TERM", Duration::from_secs(10)).await,
        Some(0)
    );
}

/// The most records that arrived in any `window_ms` starting at a whole second from `from_ms`,
/// per second.
fn best_window_rate(
    shards: &[telemetry_aws::stream::ShardRecords],
    from_ms: u64,
    window_ms: u64,
) -> f64 {
    let mut arrivals: Vec<u64> = shards
        .iter()
        .flat_map(|s| s.arrived_ms.iter().copied())
        .filter(|&t| t >= from_ms)
        .collect();
    arrivals.sort_unstable();
    let Some(&last) = arrivals.last() else {
        return 0.0;
    };
    let mut best = 0usize;
    let mut start = from_ms;
    // Only windows that have fully passed count.
    while start + window_ms <= last {
        let (lo, hi) = (
            arrivals.partition_point(|&t| t < start),
            arrivals.partition_point(|&t| t < start + window_ms),
        );
        best = best.max(hi - lo);
        start += 1_000;
    }
    best as f64 * 1_000.0 / window_ms as f64
}
