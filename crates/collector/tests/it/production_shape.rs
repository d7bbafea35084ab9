//! The guarantees in production's shape: the collector binary reaches both emulators through
//! production-shaped proxies (HTTPS with a CA made for the test and trusted through
//! `SSL_CERT_FILE`, AWS's round-trip times, SigV4 checks, and Kinesis' per-shard limits scaled
//! down to 30 records/s so that load above them is cheap), fed faster than the stream takes.
//! Every event arrives once, in order (`telemetry-stream verify`), every signature is accepted,
//! and the lag and PutRecords histograms count one per valid submission and one per call.

use std::time::Duration;

use telemetry_localenv::endpoints::Endpoints;
use telemetry_localenv::shard_limit::ShardLimits;

use crate::support::http::Scrape;
use crate::support::process::spawn;
use crate::support::scenario::{caught_up, settle, Feeder, Figures};
use crate::support::TestEnv;

/// Each shard's scaled write limit: 2 shards take 60 records/s.
const SHARD_RECORDS_PER_SEC: u32 = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guarantees_hold_over_tls_at_production_shape() {
    the_guarantees_hold_over_tls_at_production_shape_with("lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guarantees_hold_over_tls_at_production_shape_through_the_sdk() {
    the_guarantees_hold_over_tls_at_production_shape_with("sdk").await;
}

async fn the_guarantees_hold_over_tls_at_production_shape_with(client: &str) {
    let env = TestEnv::start(2).await;
    let ca_file = std::env::temp_dir().join(format!("ca-{}.pem", uuid::Uuid::new_v4()));
    let limits = ShardLimits::per_shard(SHARD_RECORDS_PER_SEC, SHARD_RECORDS_PER_SEC * 1024);
    // The proxies and the collector's environment as the benchmarks and the runner set them up:
    // the production-shaped endpoints, SSL_CERT_FILE and the shard limits the proxy enforces.
    let endpoints = Endpoints::production(
        env.sqs_emulator.addr,
        env.kinesis_emulator.addr,
        &ca_file,
        Some(limits),
    )
    .await
    .expect("production-shaped proxies");
    assert!(endpoints.sqs.starts_with("https://") && endpoints.kinesis.starts_with("https://"));
    let collector_env = endpoints.collector_env();
    let mut extra: Vec<(&str, &str)> = collector_env
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    extra.push(("AWS_CLIENT", client));
    let collector = spawn(&env, &extra);
    let production = endpoints.production.as_ref().expect("production shape");
    let (sqs, kinesis) = (&production.sqs, &production.kinesis);

    // About 4 events a submission at 25 submissions/s: 100 events/s into 60 records/s.
    let feeder = Feeder::start(&env, 25.0, 11);
    feeder.wait_sent(150).await;
    let manifest = feeder.stop().await;
    caught_up(&env, &manifest, Duration::from_secs(120)).await;
    let report = settle(&env, &manifest, Duration::from_secs(60)).await;
    let (kinesis_refused, sqs_refused) = (kinesis.injected(), sqs.injected());
    Figures {
        name: &format!("production shape over TLS ({client})"),
        report: &report,
        recovery: None,
        note: format!(
            "{} records throttled by the proxy's shard limits",
            kinesis_refused.throttled
        ),
    }
    .check();
    for (service, refused) in [("SQS", &sqs_refused), ("Kinesis", &kinesis_refused)] {
        assert_eq!(refused.bad_signatures, 0, "{service} refused a signature");
        assert_eq!(
            refused.failed_handshakes, 0,
            "{service}: a TLS handshake failed"
        );
    }

    let m = Scrape::of(collector.http_addr().await).await;
    assert_eq!(
        m.value("submission_lag_seconds_count"),
        manifest.len() as f64,
        "one lag per valid submission"
    );
    let requests = m.value("put_records_requests_total");
    assert!(requests > 0.0);
    assert_eq!(
        m.value("put_records_duration_seconds_count"),
        requests,
        "one duration per PutRecords call"
    );
    // Every call took at least the proxy's round trip (20 ms for Kinesis, 10 ms for SQS): the
    // durations and the lags say so.
    assert!(m.value("put_records_duration_seconds_sum") >= requests * 0.02);
    assert!(m.value("submission_lag_seconds_sum") >= manifest.len() as f64 * 0.03);
    let _ = std::fs::remove_file(&ca_file);
}
