//! Scenarios d, e and g of the fault suite: collector processes killed with SIGKILL and
//! restarted, several collectors on one queue with one killed, and SIGTERM under load. Each
//! checks the whole stream against what was sent (no valid event lost, none out of order) and
//! reports duplicates and the time to recover. Each runs on both paths of the hot calls: the
//! lean client and, in its `_through_the_sdk` twin, the SDK (`AWS_CLIENT`).

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use telemetry_localenv::faults::Plan;

use crate::support::process::{logged, spawn};
use crate::support::scenario::{caught_up, settle, Feeder, Figures, Scale};
use crate::support::TestEnv;

const SETTLE: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_sigkill_at_random_moments_and_restart_ten_times() {
    sigkill_at_random_moments_and_restart_ten_times("lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_sigkill_at_random_moments_and_restart_ten_times_through_the_sdk() {
    sigkill_at_random_moments_and_restart_ten_times("sdk").await;
}

async fn sigkill_at_random_moments_and_restart_ten_times(client: &str) {
    let scale = Scale::from_env();
    let env = TestEnv::start(2).await;
    // A short visibility timeout brings the messages of a killed collector back soon.
    let settings = [
        ("QUEUE_VISIBILITY_TIMEOUT_SEC", "3"),
        ("AWS_CLIENT", client),
    ];
    let mut collector = spawn(&env, &settings);
    let feeder = Feeder::start(&env, scale.pick(20.0, 50.0), 4);
    let seed = std::env::var("SCENARIO_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("d: kill schedule seed {seed} (SCENARIO_SEED reproduces it)");
    let mut rng = SmallRng::seed_from_u64(seed);
    let between = scale.pick(0.5..2.5, 3.0..15.0);
    for _ in 0..10 {
        // The kill schedule: random moments, by design.
        tokio::time::sleep(Duration::from_secs_f64(rng.gen_range(between.clone()))).await;
        collector.sigkill();
        collector = spawn(&env, &settings);
    }
    let before = feeder.manifest();
    let recovery = caught_up(&env, &before, SETTLE).await;
    let manifest = feeder.stop().await;
    let report = settle(&env, &manifest, SETTLE).await;
    Figures {
        name: "d. SIGKILL at random moments, restarted, 10 times",
        report: &report,
        recovery: Some(recovery),
        note: format!(
            "recovery: from the last restart; duplicates are redeliveries; AWS_CLIENT={client}"
        ),
    }
    .check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_three_collectors_on_one_queue_one_killed_mid_run() {
    three_collectors_on_one_queue_one_killed_mid_run("lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_three_collectors_on_one_queue_one_killed_mid_run_through_the_sdk() {
    three_collectors_on_one_queue_one_killed_mid_run("sdk").await;
}

async fn three_collectors_on_one_queue_one_killed_mid_run(client: &str) {
    let scale = Scale::from_env();
    let env = TestEnv::start(4).await;
    let visibility = 5;
    let settings = [
        ("QUEUE_VISIBILITY_TIMEOUT_SEC", "5"),
        ("AWS_CLIENT", client),
    ];
    // Slow PutRecords keep work unfinished when the kill comes.
    env.kinesis_proxy.set_plan(Plan {
        latency: Duration::from_millis(500),
        ..Plan::healthy().only(&["PutRecords"])
    });
    let mut collectors: Vec<_> = (0..3).map(|_| spawn(&env, &settings)).collect();
    let feeder = Feeder::start(&env, scale.pick(30.0, 100.0), 5);
    feeder.wait_sent(scale.pick(100, 3000)).await;
    collectors[0].sigkill();
    let before = feeder.manifest();
    let recovery = caught_up(&env, &before, SETTLE).await;
    feeder.wait_sent(before.len() + scale.pick(100, 3000)).await;
    let manifest = feeder.stop().await;
    let report = settle(&env, &manifest, SETTLE).await;
    for c in &mut collectors[1..] {
        c.sigterm();
        let (code, log) = c.exit_within(Duration::from_secs(30)).await;
        assert_eq!(code, Some(0), "{log}");
        assert!(logged(&log).received > 0, "each survivor took its share");
    }
    Figures {
        name: "e. three collectors on one queue, one killed mid-run",
        report: &report,
        recovery: Some(recovery),
        note: format!(
            "recovery: from the kill, visibility timeout {visibility} s; AWS_CLIENT={client}"
        ),
    }
    .check();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g_sigterm_under_load() {
    sigterm_under_load("lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g_sigterm_under_load_through_the_sdk() {
    sigterm_under_load("sdk").await;
}

async fn sigterm_under_load(client: &str) {
    let scale = Scale::from_env();
    let env = TestEnv::start(2).await;
    // A long visibility timeout: a message left invisible would wait a minute, plainly seen.
    let visibility = 60;
    // The grace period leaves a receive in progress at SIGTERM 5 s to return what SQS picked
    // for it (half the grace, at most 5 s): moto's SQS, slow with a deep queue, can take
    // seconds to answer on a loaded machine, and what an abandoned poll picked waits out its
    // visibility timeout.
    let settings = [
        ("QUEUE_VISIBILITY_TIMEOUT_SEC", "60"),
        ("SHUTDOWN_GRACE_PERIOD_SEC", "10"),
        ("AWS_CLIENT", client),
    ];
    // Slow PutRecords keep work unfinished when SIGTERM comes: a submission of four events
    // takes 8 s, longer than the 7.5 s of the grace period spent finishing work.
    env.kinesis_proxy.set_plan(Plan {
        latency: Duration::from_secs(2),
        ..Plan::healthy().only(&["PutRecords"])
    });
    let mut first = spawn(&env, &settings);
    let feeder = Feeder::start(&env, scale.pick(30.0, 100.0), 7);
    feeder.wait_sent(scale.pick(150, 3000)).await;
    let manifest = feeder.stop().await;
    first.sigterm();
    let (code, log) = first.exit_within(Duration::from_secs(20)).await;
    let exited = Instant::now();
    assert_eq!(code, Some(0), "{log}");
    let first_run = logged(&log);
    assert!(first_run.stopped, "{log}");
    assert_eq!(
        first_run.received,
        first_run.deleted + first_run.handed_back,
        "everything received was finished and deleted, or handed back: {first_run:?}"
    );
    assert!(
        first_run.handed_back > 0,
        "some work was unfinished: {first_run:?}"
    );
    let (_, in_flight) = env.queue_counts().await;
    assert_eq!(in_flight, 0, "nothing waits for its visibility timeout");

    env.kinesis_proxy.set_plan(Plan::healthy());
    let mut second = spawn(&env, &settings);
    caught_up(&env, &manifest, SETTLE).await;
    let recovery = exited.elapsed();
    let report = settle(&env, &manifest, SETTLE).await;
    second.sigterm();
    let (code, log) = second.exit_within(Duration::from_secs(30)).await;
    assert_eq!(code, Some(0), "{log}");
    let second_run = logged(&log);
    assert_eq!(
        first_run.deleted + second_run.received,
        manifest.len() as u64,
        "nothing finished was redelivered: the second collector received only what the \
         first never received or handed back ({first_run:?}, {second_run:?})"
    );
    assert!(
        recovery < Duration::from_secs(visibility / 2),
        "the handed-back messages did not wait for their {visibility} s visibility timeout"
    );
    Figures {
        name: "g. SIGTERM under load",
        report: &report,
        recovery: Some(recovery),
        note: format!(
            "{} finished and deleted, {} handed back at once (visibility timeout {visibility} s); \
             AWS_CLIENT={client}",
            first_run.deleted, first_run.handed_back
        ),
    }
    .check();
}
