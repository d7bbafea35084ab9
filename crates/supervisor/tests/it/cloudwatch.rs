//! The supervisor binary with `SUPERVISOR_SOURCE=cloudwatch` against moto, which serves
//! CloudWatch on the Kinesis port: the stream's `AWS/Kinesis` `IncomingRecords` and
//! `IncomingBytes` are put beforehand with PutMetricData, so the query of the first tick finds
//! them and the test takes seconds, not the minutes real metrics would need. The stream itself
//! is never written to: the source does not read it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use telemetry_supervisor::cloudwatch::PERIOD_SECS;

use crate::support::{wait_until, Env, Supervisor, FAST};

/// 150 records/s against the tests' shard limit of 100/s: above the band on one shard.
const RATE: f64 = 150.0;
const BYTES_PER_RECORD: f64 = 100.0;

/// The cloudwatch source on top of the tests' settings. The window is one minute, CloudWatch's
/// period; the window ends at the start of the minute two minutes ago (the default delay).
fn settings(endpoint: &str) -> Vec<(&'static str, String)> {
    let mut settings: Vec<_> = FAST.iter().map(|&(k, v)| (k, v.to_owned())).collect();
    settings.retain(|(k, _)| *k != "SUPERVISOR_WINDOW_SEC");
    settings.extend([
        ("SUPERVISOR_SOURCE", "cloudwatch".to_owned()),
        ("SUPERVISOR_WINDOW_SEC", "60".to_owned()),
        ("SUPERVISOR_CLOUDWATCH_DELAY_SEC", "120".to_owned()),
        // The per-service variable the SDK reads, as in a deployment pointing at an endpoint.
        ("AWS_ENDPOINT_URL_CLOUDWATCH", endpoint.to_owned()),
    ]);
    settings
}

fn spawn(env: &Env) -> Supervisor {
    let url = env.emulator.url();
    let settings = settings(&url);
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Supervisor::spawn(&url, &env.stream, &pairs)
}

/// A CloudWatch client for the emulator, from the SDK configuration the binary uses.
async fn cloudwatch(endpoint: &str) -> aws_sdk_cloudwatch::Client {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .endpoint_url(endpoint)
        .load()
        .await;
    telemetry_supervisor::cloudwatch::client(&sdk)
}

/// Puts one datapoint per minute for each of the last `minutes` minutes, in the middle of the
/// minute: `RATE` records/s and `RATE * BYTES_PER_RECORD` bytes/s as the minute's sums.
async fn put_minutes(cloudwatch: &aws_sdk_cloudwatch::Client, stream: &str, minutes: i64) {
    let period = i64::from(PERIOD_SECS);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let this_minute = now / period * period;
    let datum = |name: &str, value: f64, unit: StandardUnit, at: i64| {
        MetricDatum::builder()
            .metric_name(name)
            .dimensions(
                Dimension::builder()
                    .name("StreamName")
                    .value(stream)
                    .build(),
            )
            .timestamp(DateTime::from_secs(at))
            .value(value)
            .unit(unit)
            .build()
    };
    let mut request = cloudwatch.put_metric_data().namespace("AWS/Kinesis");
    for m in 1..=minutes {
        let at = this_minute - m * period + period / 2;
        let records = RATE * f64::from(PERIOD_SECS);
        request = request
            .metric_data(datum("IncomingRecords", records, StandardUnit::Count, at))
            .metric_data(datum(
                "IncomingBytes",
                records * BYTES_PER_RECORD,
                StandardUnit::Bytes,
                at,
            ));
    }
    request.send().await.expect("PutMetricData");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_up_on_the_load_cloudwatch_reports_without_reading_the_stream() {
    let env = Env::moto(1).await;
    let url = env.emulator.url();
    // Ten minutes: whichever minute the first tick queries (two minutes back) is among them.
    put_minutes(&cloudwatch(&url).await, &env.stream, 10).await;
    let mut supervisor = spawn(&env);

    env.wait_open_shards(2, Duration::from_secs(30)).await;
    let decided = supervisor.split_line().await;
    assert_eq!(decided["window_sec"], 60, "one minute, CloudWatch's period");
    let rate = decided["records_per_sec"]
        .as_f64()
        .expect("records_per_sec");
    assert!((rate - RATE).abs() < 0.01, "measured {rate} records/s");
    let bytes = decided["bytes_per_sec"].as_f64().expect("bytes_per_sec");
    assert!(
        (bytes - RATE * BYTES_PER_RECORD).abs() < 1.0,
        "{bytes} bytes/s"
    );
    assert!(
        decided.get("records_counted").is_none(),
        "the cloudwatch source counts no records itself"
    );
    let started = &supervisor.lines_starting("shard-supervisor started")[0];
    assert_eq!(started["source"], "cloudwatch");
    for service in ["Kinesis", "CloudWatch"] {
        let failing = supervisor.lines_starting(&format!("{service} calls are failing"));
        assert!(failing.is_empty(), "{failing:?}");
    }
    let code = supervisor.stop("-TERM", Duration::from_secs(10)).await;
    assert_eq!(code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_datapoints_it_is_not_measured_and_nothing_changes() {
    let env = Env::moto(1).await;
    let supervisor = spawn(&env);

    let ticks = wait_until(
        "3 not_measured tick lines",
        Duration::from_secs(30),
        || async {
            let lines = supervisor.lines_starting("average count is");
            (lines.len() >= 3).then_some(lines)
        },
    )
    .await;
    for tick in &ticks {
        assert_eq!(tick["decision"], "keep", "{tick}");
        assert_eq!(tick["reason"], "not_measured", "{tick}");
        assert_eq!(tick["open_shards"], 1, "{tick}");
        let detail = tick["detail"].as_str().expect("detail");
        assert!(
            detail.contains("CloudWatch has no IncomingRecords or IncomingBytes"),
            "{detail}"
        );
        assert!(
            tick.get("records_per_sec").is_none(),
            "no zero load: {tick}"
        );
    }
    assert!(supervisor.lines_starting("UpdateShardCount").is_empty());
    assert!(supervisor.lines_starting("CloudWatch calls").is_empty());
    assert_eq!(env.open_shards().await, 1);
}
