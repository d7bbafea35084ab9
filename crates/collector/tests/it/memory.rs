//! Bounded memory: through a Kinesis outage with the input still coming at full rate, the
//! collector binary holds at most `MAX_RECORDS_IN_FLIGHT` events, receiving
//! pauses, and its resident set stays under the stated bound. The feed stops with the outage;
//! the recovery is the time to publish the backlog. The long version
//! (`scripts/fault-scenarios.sh`) holds the outage for 60 s.

use std::time::Duration;

use telemetry_fleet::profile::Profile;

use crate::support::process::spawn;
use crate::support::scenario::{caught_up, settle, Feeder, Figures, Scale};
use crate::support::{wait_until, TestEnv};

/// Events per submission in this test: 100 of each type, so the record limit binds first.
const EVENTS: u64 = 200;
/// The stated bound on the collector's resident set at the default limits, for records of
/// fleet-shaped events (about 300 bytes each): see `docs/guarantees.md`, "Bounded memory".
const RSS_BOUND: u64 = 160 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_and_receiving_pauses_through_a_kinesis_outage() {
    let scale = Scale::from_env();
    let env = TestEnv::start(2).await;
    // The long run keeps the default limit of 50,000 events held; the suite's a smaller one.
    let max_records: u64 = scale.pick(10_000, 50_000);
    let collector = spawn(
        &env,
        &[
            ("QUEUE_VISIBILITY_TIMEOUT_SEC", "30"),
            ("MAX_RECORDS_IN_FLIGHT", &max_records.to_string()),
        ],
    );
    let profile = Profile {
        events_per_type: 100..=100,
        broken: Vec::new(),
    };
    // Events keep coming for the whole outage: 1,000 a second (4,000 in the long run).
    let rate = scale.pick(5.0, 20.0);
    let feeder = Feeder::with_profile(&env, rate, 8, profile);
    // The outage starts once the collector is publishing.
    env.wait_for_records(1, Duration::from_secs(60)).await;
    env.kinesis_proxy.set_up(false);
    let outage = scale.pick(Duration::from_secs(15), Duration::from_secs(60));
    let started = tokio::time::Instant::now();
    let (mut peak_rss, mut peak_held) = (0, 0);
    // Sample the collector's memory and what it holds for the whole outage.
    while started.elapsed() < outage {
        if let Some((_, hwm)) = collector.rss() {
            peak_rss = peak_rss.max(hwm);
        }
        let (_, in_flight) = env.queue_counts().await;
        peak_held = peak_held.max(in_flight);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (visible, held) = env.queue_counts().await;
    println!(
        "memory: peak RSS {} MiB, at most {peak_held} held, {visible} waiting",
        peak_rss >> 20
    );
    // The receive loops each wait for record permits with at most one batch of ten in hand.
    let most = max_records / EVENTS + 4 * 10;
    assert!(
        peak_held <= most,
        "at most {most} messages held, saw {peak_held}"
    );
    assert!(
        visible > 0,
        "receiving paused: {visible} messages wait in the queue while {held} are held"
    );
    assert!(
        peak_rss < RSS_BOUND,
        "peak RSS {} MiB over the bound of {} MiB",
        peak_rss >> 20,
        RSS_BOUND >> 20
    );
    let manifest = feeder.stop().await;
    env.kinesis_proxy.set_up(true);
    let recovery = caught_up(&env, &manifest, Duration::from_secs(300)).await;
    let report = settle(&env, &manifest, Duration::from_secs(300)).await;
    wait_until(
        "the collector is still alive",
        Duration::from_secs(1),
        || async { collector.rss().is_some() },
    )
    .await;
    Figures {
        name: "memory: Kinesis unreachable, input at full rate",
        report: &report,
        recovery: Some(recovery),
        note: format!(
            "{} s outage at {rate} submissions/s of {EVENTS} events; held at most {peak_held} messages \
             (limit {max_records} events); peak RSS {} MiB, bound {} MiB",
            outage.as_secs(),
            peak_rss >> 20,
            RSS_BOUND >> 20
        ),
    }
    .check();
}
