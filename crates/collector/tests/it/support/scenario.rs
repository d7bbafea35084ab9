//! The fault scenarios' harness: a seeded sensor fleet feeding the queue at a steady rate (its
//! manifest says what the stream must hold), the wait for the system to catch up after a
//! fault, and the figures each scenario reports: valid events lost, order violations,
//! duplicates, time to recover.
//!
//! Every scenario runs short in the suite. `SCENARIO_SCALE=long` runs the documented longer
//! version (30 s outages, longer feeds); `SCENARIO_REPORT=FILE` appends each scenario's figures
//! to FILE as a Markdown table row. `scripts/fault-scenarios.sh` does both.

use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use telemetry_fleet::generator::Fleet;
use telemetry_fleet::manifest::Entry;
use telemetry_fleet::profile::Profile;
use telemetry_stream_tools::verify::{verify, Report};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{send_to, wait_until, TestEnv};

/// Short (the suite) or long (the documented command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Seconds per phase: fast enough for the suite.
    Short,
    /// The figures: 30 s outages and longer feeds.
    Long,
}

impl Scale {
    /// From `SCENARIO_SCALE` (`long`, anything else is short).
    pub fn from_env() -> Scale {
        match std::env::var("SCENARIO_SCALE").as_deref() {
            Ok("long") => Scale::Long,
            _ => Scale::Short,
        }
    }

    /// `short` or `long` by the scale.
    pub fn pick<T>(self, short: T, long: T) -> T {
        match self {
            Scale::Short => short,
            Scale::Long => long,
        }
    }
}

/// A fleet sending into the queue (straight to the emulator, not through the proxy) at a
/// steady rate until stopped.
pub struct Feeder {
    manifest: Arc<Mutex<Vec<Entry>>>,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl Feeder {
    /// Starts sending `rate` submissions a second, in batches of ten, from a fleet of 20
    /// devices with 1-3 events of each type and no broken submissions.
    pub fn start(env: &TestEnv, rate: f64, seed: u64) -> Feeder {
        let profile = Profile {
            events_per_type: 1..=3,
            broken: Vec::new(),
        };
        Feeder::with_profile(env, rate, seed, profile)
    }

    /// [`Feeder::start`] with a chosen profile.
    pub fn with_profile(env: &TestEnv, rate: f64, seed: u64, profile: Profile) -> Feeder {
        let manifest = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (sqs, url) = (env.admin.sqs.clone(), env.queue_url.clone());
        let (m, s) = (Arc::clone(&manifest), stop.clone());
        let handle = tokio::spawn(async move {
            let mut fleet = Fleet::new(20, profile, seed);
            let mut ticks = tokio::time::interval(Duration::from_secs_f64(10.0 / rate));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = s.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                let batch: Vec<_> = (0..10).map(|_| fleet.next_submission()).collect();
                let bodies: Vec<&str> = batch.iter().map(|g| g.body.as_str()).collect();
                send_to(&sqs, &url, &bodies).await;
                m.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(batch.into_iter().map(|g| g.entry));
            }
        });
        Feeder {
            manifest,
            stop,
            handle,
        }
    }

    /// What was sent so far.
    pub fn manifest(&self) -> Vec<Entry> {
        self.manifest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Submissions sent so far.
    pub fn sent(&self) -> usize {
        self.manifest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Waits until `n` submissions have been sent.
    pub async fn wait_sent(&self, n: usize) {
        wait_until(
            &format!("{n} submissions sent"),
            Duration::from_secs(600),
            || async { self.sent() >= n },
        )
        .await;
    }

    /// Stops sending; returns the whole manifest.
    pub async fn stop(self) -> Vec<Entry> {
        self.stop.cancel();
        let manifest = Arc::clone(&self.manifest);
        self.handle.await.expect("the feeder ran without failing");
        let sent = manifest.lock().unwrap_or_else(PoisonError::into_inner);
        sent.clone()
    }
}

/// Every event id the valid submissions of `manifest` must put in the stream.
fn expected_ids(manifest: &[Entry]) -> std::collections::HashSet<String> {
    manifest
        .iter()
        .filter(|e| e.is_valid())
        .flat_map(|e| {
            let device = uuid::Uuid::parse_str(&e.device_id).expect("valid device id");
            let submission = uuid::Uuid::parse_str(&e.submission_id).expect("valid id");
            (0..e.events.len()).map(move |i| {
                telemetry_model::event_id::event_id(
                    device,
                    submission,
                    u32::try_from(i).expect("fits"),
                )
                .to_string()
            })
        })
        .collect()
}

/// Waits until every event of `manifest` is in the stream; returns how long that took.
pub async fn caught_up(env: &TestEnv, manifest: &[Entry], within: Duration) -> Duration {
    let started = Instant::now();
    let mut missing = expected_ids(manifest);
    loop {
        // Reading the whole stream loads the emulator: at most half the time, at most four
        // times a second.
        let read_started = Instant::now();
        if let Ok(shards) =
            telemetry_aws::stream::read_all(&env.admin.kinesis, &env.stream_name).await
        {
            for (_, data) in shards.iter().flat_map(|s| &s.records) {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
                    if let Some(id) = v["event_id"].as_str() {
                        missing.remove(id);
                    }
                }
            }
        }
        if missing.is_empty() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "timed out after {within:?}: {} events of {} submissions still missing",
            missing.len(),
            manifest.len()
        );
        tokio::time::sleep(Duration::from_millis(250).max(read_started.elapsed())).await;
    }
}

/// Waits until the queue is empty (every message deleted), then checks the stream against the
/// manifest.
pub async fn settle(env: &TestEnv, manifest: &[Entry], within: Duration) -> Report {
    env.wait_queue_empty(within).await;
    let shards = telemetry_aws::stream::read_all(&env.admin.kinesis, &env.stream_name)
        .await
        .expect("read the stream");
    verify(manifest, &shards)
}

/// One scenario's figures.
#[derive(Debug)]
pub struct Figures<'a> {
    /// The scenario, as the issue names it.
    pub name: &'a str,
    /// The check of the stream against what was sent.
    pub report: &'a Report,
    /// From the end of the fault until everything sent before it was in the stream.
    pub recovery: Option<Duration>,
    /// Anything else worth a column.
    pub note: String,
}

impl Figures<'_> {
    /// Prints the figures, appends them to `SCENARIO_REPORT` when set, and asserts the
    /// guarantees: no valid event lost, none out of order, no other violation.
    pub fn check(&self) {
        let r = self.report;
        let recovery = self
            .recovery
            .map_or_else(|| "-".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()));
        let row = format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            self.name,
            r.valid_expected,
            r.events_expected,
            r.events_lost,
            r.order_violations,
            r.duplicates,
            recovery,
            self.note
        );
        println!("{row}");
        if let Ok(path) = std::env::var("SCENARIO_REPORT") {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("open SCENARIO_REPORT");
            writeln!(f, "{row}").expect("write SCENARIO_REPORT");
        }
        assert!(r.valid_expected > 0, "{}: nothing was sent", self.name);
        assert_eq!(r.events_lost, 0, "{}: valid events lost\n{r}", self.name);
        assert_eq!(r.order_violations, 0, "{}: order violated\n{r}", self.name);
        assert!(r.passed(), "{}: {r}", self.name);
    }
}
