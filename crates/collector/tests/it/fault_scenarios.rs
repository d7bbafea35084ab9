//! Scenarios a, b, c and f of the fault suite: the collector binary under a steady feed while
//! the fault proxy fails records, takes Kinesis or SQS away, or makes Kinesis slower than the
//! visibility timeout. Each checks the whole stream against what was sent (no valid event
//! lost, none out of order) and reports duplicates and the time to recover. Each runs on both
//! paths of the hot calls: the lean client and, in its `_through_the_sdk` twin, the SDK
//! (`AWS_CLIENT`). `scripts/fault-scenarios.sh` runs the long versions and prints the table.

use std::time::Duration;

use telemetry_localenv::faults::{EntryFault, Plan, RequestFault};
use telemetry_localenv::proxy::Proxy;

use crate::support::process::{logged, spawn};
use crate::support::scenario::{caught_up, settle, Feeder, Figures, Scale};
use crate::support::TestEnv;

/// How long a scenario may take to drain once its feed has stopped.
const SETTLE: Duration = Duration::from_secs(180);

/// Feeds under a fault plan for the whole run, then checks the stream; the hot calls through
/// `client` (`AWS_CLIENT`).
async fn faulty_run(
    name: &str,
    plan: Plan,
    which: fn(&TestEnv) -> &Proxy,
    seed: u64,
    client: &str,
) {
    let scale = Scale::from_env();
    let env = TestEnv::start(2).await;
    which(&env).set_plan(plan);
    // Lost receive answers leave messages invisible: a short timeout brings them back soon.
    let _collector = spawn(
        &env,
        &[
            ("QUEUE_VISIBILITY_TIMEOUT_SEC", "3"),
            ("AWS_CLIENT", client),
        ],
    );
    let feeder = Feeder::start(&env, scale.pick(30.0, 100.0), seed);
    feeder.wait_sent(scale.pick(200, 6000)).await;
    let manifest = feeder.stop().await;
    let report = settle(&env, &manifest, SETTLE).await;
    let injected = which(&env).injected();
    assert!(
        injected.requests + injected.entries > 0,
        "the proxy injected faults"
    );
    Figures {
        name,
        report: &report,
        recovery: None,
        note: format!(
            "{} requests and {} entries failed by the proxy; AWS_CLIENT={client}",
            injected.requests, injected.entries
        ),
    }
    .check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_a_fifth_of_the_records_fail_for_the_whole_run() {
    a_fifth_of_the_records_fail("lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_a_fifth_of_the_records_fail_for_the_whole_run_through_the_sdk() {
    a_fifth_of_the_records_fail("sdk").await;
}

async fn a_fifth_of_the_records_fail(client: &str) {
    let plan = Plan {
        entry_share: 0.2,
        entry_fault: EntryFault::Mixed,
        ..Plan::healthy()
    };
    faulty_run(
        "a. 20 % of records fail (throughput exceeded, internal failure)",
        plan.only(&["PutRecords"]),
        |env| &env.kinesis_proxy,
        1,
        client,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2_a_tenth_of_the_put_records_answers_lost() {
    a_tenth_of_the_put_records_answers_lost("lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2_a_tenth_of_the_put_records_answers_lost_through_the_sdk() {
    a_tenth_of_the_put_records_answers_lost("sdk").await;
}

async fn a_tenth_of_the_put_records_answers_lost(client: &str) {
    let plan = Plan {
        request_share: 0.1,
        request_fault: RequestFault::LostResponse,
        ..Plan::healthy()
    };
    faulty_run(
        "a2. 10 % of PutRecords answers lost (the records were written)",
        plan.only(&["PutRecords"]),
        |env| &env.kinesis_proxy,
        11,
        client,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c2_sqs_receives_and_delete_entries_failing() {
    sqs_answers_lost_and_entries_failing("lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c2_sqs_receives_and_delete_entries_failing_through_the_sdk() {
    sqs_answers_lost_and_entries_failing("sdk").await;
}

async fn sqs_answers_lost_and_entries_failing(client: &str) {
    let plan = Plan {
        request_share: 0.2,
        request_fault: RequestFault::LostResponse,
        entry_share: 0.3,
        entry_fault: EntryFault::Mixed,
        ..Plan::healthy()
    };
    faulty_run(
        "c2. 20 % of receive answers lost, 30 % of delete entries failing",
        plan.only(&["ReceiveMessage", "DeleteMessageBatch"]),
        |env| &env.sqs_proxy,
        12,
        client,
    )
    .await;
}

/// Feeds, takes `proxy` down for the outage, brings it back; the recovery is the time from
/// then until everything sent before it is in the stream. The hot calls through `client`.
async fn outage(name: &str, which: fn(&TestEnv) -> &Proxy, client: &str) {
    let scale = Scale::from_env();
    let env = TestEnv::start(2).await;
    // A visibility timeout shorter than the outage: held messages must be extended.
    let _collector = spawn(
        &env,
        &[
            ("QUEUE_VISIBILITY_TIMEOUT_SEC", "10"),
            ("AWS_CLIENT", client),
        ],
    );
    let rate = scale.pick(20.0, 50.0);
    let outage = scale.pick(Duration::from_secs(12), Duration::from_secs(30));
    let feeder = Feeder::start(&env, rate, 2);
    feeder.wait_sent(scale.pick(60, 500)).await;
    let proxy = which(&env);
    proxy.set_up(false);
    // The fault itself lasts this long: a schedule, not a guess at a condition.
    tokio::time::sleep(outage).await;
    proxy.set_up(true);
    let before = feeder.manifest();
    let recovery = caught_up(&env, &before, SETTLE).await;
    feeder.wait_sent(before.len() + scale.pick(60, 500)).await;
    let manifest = feeder.stop().await;
    let report = settle(&env, &manifest, SETTLE).await;
    let refused = proxy.injected().refused;
    assert!(refused > 0, "the collector met the outage");
    Figures {
        name,
        report: &report,
        recovery: Some(recovery),
        note: format!(
            "{} s outage at {rate} submissions/s; {refused} connections refused; \
             AWS_CLIENT={client}",
            outage.as_secs()
        ),
    }
    .check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_kinesis_unreachable_mid_run() {
    outage(
        "b. Kinesis unreachable mid-run",
        |env| &env.kinesis_proxy,
        "lean",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_kinesis_unreachable_mid_run_through_the_sdk() {
    outage(
        "b. Kinesis unreachable mid-run",
        |env| &env.kinesis_proxy,
        "sdk",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sqs_unreachable_mid_run() {
    outage("c. SQS unreachable mid-run", |env| &env.sqs_proxy, "lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_sqs_unreachable_mid_run_through_the_sdk() {
    outage("c. SQS unreachable mid-run", |env| &env.sqs_proxy, "sdk").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_kinesis_slower_than_the_visibility_timeout() {
    kinesis_slower_than_the_visibility_timeout("lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_kinesis_slower_than_the_visibility_timeout_through_the_sdk() {
    kinesis_slower_than_the_visibility_timeout("sdk").await;
}

async fn kinesis_slower_than_the_visibility_timeout(client: &str) {
    let scale = Scale::from_env();
    let env = TestEnv::start(2).await;
    // Every PutRecords takes longer than the visibility timeout (and less than the collector's
    // 10 s attempt timeout), and a submission needs one PutRecords per event, one at a time.
    let visibility = 4;
    let latency = Duration::from_secs(scale.pick(6, 8));
    env.kinesis_proxy.set_plan(Plan {
        latency,
        ..Plan::healthy().only(&["PutRecords"])
    });
    let mut collector = spawn(
        &env,
        &[
            ("QUEUE_VISIBILITY_TIMEOUT_SEC", &visibility.to_string()),
            ("AWS_CLIENT", client),
        ],
    );
    let feeder = Feeder::start(&env, scale.pick(10.0, 20.0), 6);
    feeder.wait_sent(scale.pick(50, 600)).await;
    let manifest = feeder.stop().await;
    let report = settle(&env, &manifest, SETTLE).await;
    collector.sigterm();
    let (code, log) = collector.exit_within(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{log}");
    let logged = logged(&log);
    assert_eq!(
        logged.received,
        manifest.len() as u64,
        "each message received once: extension prevented every redelivery"
    );
    assert_eq!(report.duplicates, 0, "no redelivery, so no duplicate");
    Figures {
        name: "f. Kinesis slower than the visibility timeout",
        report: &report,
        recovery: None,
        note: format!(
            "PutRecords takes {} s, visibility timeout {visibility} s; {} received for {} sent; \
             AWS_CLIENT={client}",
            latency.as_secs(),
            logged.received,
            manifest.len()
        ),
    }
    .check();
}
