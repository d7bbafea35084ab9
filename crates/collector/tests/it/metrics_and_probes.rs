//! The HTTP listener: `/metrics` of an in-process collector, scraped through the address it
//! bound, follows the work counter by counter; `/readyz` turns 503 through an outage and back;
//! `/healthz` stays 200 (an outage is not a stall); a busy address stops the binary at start
//! with one line.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use telemetry_model::DropReason;

use crate::support::http::{get, Scrape};
use crate::support::process::BIN;
use crate::support::submissions::{broken_kinds, valid};
use crate::support::{wait_until, TestEnv};

const WITHIN: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_the_work_and_the_probes_follow_an_outage() {
    let env = TestEnv::start(1).await;
    let collector = env.collector(&[]).await;
    let addr = collector.addr;
    wait_until("ready", WITHIN, || async {
        get(addr, "/readyz").await.0 == 200
    })
    .await;
    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".to_owned()));

    let broken = broken_kinds();
    let good: Vec<_> = (0..5).map(|_| valid(3, 2)).collect();
    let mut bodies: Vec<String> = broken.iter().map(|(_, b)| b.clone()).collect();
    bodies.extend(good.iter().map(|v| v.body.clone()));
    env.send(&bodies).await;
    let total = bodies.len() as f64;
    wait_until("every message deleted", WITHIN, || async {
        Scrape::of(addr).await.value("messages_deleted_total") == total
    })
    .await;

    let m = Scrape::of(addr).await;
    assert_eq!(m.value("messages_received_total"), total);
    assert_eq!(m.value("submissions_valid_total"), 5.0);
    for (reason, _) in &broken {
        let series = format!(
            "submissions_dropped_total{{reason=\"{}\"}}",
            reason.as_str()
        );
        assert_eq!(m.value(&series), 1.0, "{series}");
    }
    let reasons =
        m.0.lines()
            .filter(|l| l.starts_with("telemetry_collector_submissions_dropped_total{"));
    assert_eq!(
        reasons.count(),
        DropReason::ALL.len(),
        "every reason shown, zero or not"
    );
    assert_eq!(m.value("submissions_published_total"), 5.0);
    assert_eq!(m.value("events_published_total"), 25.0);
    // One record of a submission outstanding at a time: five events need five requests.
    let requests = m.value("put_records_requests_total");
    assert!(requests >= 5.0, "{requests} requests");
    assert_eq!(m.value("put_records_batch_records_count"), requests);
    assert_eq!(
        m.value("put_records_batch_records_sum"),
        25.0,
        "no record sent twice"
    );
    assert_eq!(
        m.value("put_records_failed_records_total{error_code=\"request_failed\"}"),
        0.0
    );
    assert_eq!(m.value("receive_to_delete_seconds_count"), total);
    assert_eq!(
        m.value("event_lag_seconds_count"),
        5.0,
        "one per valid submission"
    );
    assert_eq!(
        m.value("submission_lag_seconds_count"),
        5.0,
        "one per valid submission, at its last record's acknowledgement"
    );
    assert!(
        m.value("submission_lag_seconds_sum") >= m.value("event_lag_seconds_sum"),
        "a submission is acknowledged after its events are made"
    );
    assert_eq!(
        m.value("put_records_duration_seconds_count"),
        requests,
        "one per PutRecords call"
    );
    assert_eq!(m.value("receive_batch_messages_sum"), total);
    assert_eq!(
        m.value("receive_batch_messages_count"),
        m.value("receive_calls_total")
    );
    assert!(m.value("delete_batches_total") >= 1.0);
    assert_eq!(m.value("submissions_in_flight"), 0.0);
    assert_eq!(m.value("records_in_flight"), 0.0);
    assert_eq!(m.value("ready"), 1.0);

    // Kinesis goes away: the submission is held, its record fails as a whole request, the
    // collector turns unready but stays alive.
    env.kinesis_proxy.set_up(false);
    env.send(&[valid(1, 1).body]).await;
    wait_until("unready, naming Kinesis", WITHIN, || async {
        let (status, body) = get(addr, "/readyz").await;
        status == 503 && body.contains("Kinesis calls failing")
    })
    .await;
    let m = Scrape::of(addr).await;
    assert_eq!(m.value("ready"), 0.0);
    assert_eq!(m.value("submissions_in_flight"), 1.0);
    assert_eq!(m.value("records_in_flight"), 2.0);
    assert!(m.value("put_records_failed_records_total{error_code=\"request_failed\"}") >= 1.0);
    assert_eq!(
        get(addr, "/healthz").await.0,
        200,
        "an outage is not a stall"
    );

    env.kinesis_proxy.set_up(true);
    wait_until(
        "the held submission published and deleted",
        WITHIN,
        || async {
            let m = Scrape::of(addr).await;
            m.value("events_published_total") == 27.0
                && m.value("messages_deleted_total") == total + 1.0
        },
    )
    .await;
    wait_until("ready again", WITHIN, || async {
        get(addr, "/readyz").await.0 == 200
    })
    .await;
    let m = Scrape::of(addr).await;
    assert!(
        m.value("put_records_retries_total") >= 1.0,
        "the failed record was sent again"
    );
    assert_eq!(
        m.value("put_records_duration_seconds_count"),
        m.value("put_records_requests_total"),
        "failed calls are timed too"
    );
    assert_eq!(m.value("submission_lag_seconds_count"), 6.0);

    collector.stop().await;
}

#[tokio::test]
async fn a_busy_http_address_stops_the_collector_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = Command::new(BIN)
        .env_clear()
        .env("SUBMISSIONS_QUEUE_NAME", "q")
        .env("EVENTS_DATA_STREAM_NAME", "s")
        .env("AWS_REGION", "us-east-1")
        .env("HTTP_ADDR", &addr)
        .output()
        .expect("run the collector");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("HTTP_ADDR {addr}")), "{stderr}");
}
