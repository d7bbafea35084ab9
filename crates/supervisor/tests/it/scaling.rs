//! The supervisor binary against moto: a load above the band doubles a one-shard stream, and
//! when the load stops the stream halves back to its minimum; in a dry run nothing changes but
//! the log says what would.

use std::time::{Duration, Instant};

use crate::support::{wait_until, Env, Load, Supervisor, FAST};

/// 150 records/s against a shard limit of 100/s: 1.5 shards' worth, above the band on one
/// shard, in it on two (the test's maximum), whatever pace moto keeps above 76 records/s.
const RATE: u32 = 150;
const KEYS: u32 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_up_under_load_and_back_down_to_the_minimum_when_it_stops() {
    let env = Env::moto(1).await;
    let mut supervisor = Supervisor::spawn(&env.emulator.url(), &env.stream, FAST);
    let started = Instant::now();
    let load = Load::start(&env.kinesis, &env.stream, RATE, KEYS);

    let up = env.wait_open_shards(2, Duration::from_secs(60)).await;
    let decided = &supervisor.split_line().await;
    let rate = decided["records_per_sec"]
        .as_f64()
        .expect("records_per_sec");
    assert!(rate > 75.0, "measured {rate} records/s");
    let use_ = decided["per_shard_use"].as_f64().expect("per_shard_use");
    assert!(use_ > 0.75, "per-shard use {use_}");
    // Data and partition key: 97 to 107 bytes a record here.
    let per_record = decided["bytes_per_sec"].as_f64().expect("bytes_per_sec") / rate;
    assert!(
        (97.0..=107.0).contains(&per_record),
        "{per_record} bytes a record"
    );

    // On two shards the load is in the band (or the count at the maximum): it stays.
    supervisor
        .wait_line("average count is", Duration::from_secs(20), |l| {
            l["open_shards"] == 2 && l["decision"] == "keep"
        })
        .await;
    let written = load.stop().await;
    let stopped = Instant::now();
    let down = env.wait_open_shards(1, Duration::from_secs(60)).await;
    let line = supervisor
        .wait_line("average count is", Duration::from_secs(5), |l| {
            l["decision"] == "scale_down"
        })
        .await;
    assert_eq!(line["reason"], "below_low");
    assert_eq!(line["target_shards"], 1);
    eprintln!(
        "wrote {} records at {:.0}/s; 1 -> 2 shards {:.1} s after start, 2 -> 1 {:.1} s after \
         the load stopped",
        written.len(),
        written.len() as f64 / stopped.duration_since(started).as_secs_f64(),
        up.as_secs_f64(),
        down.as_secs_f64()
    );
    assert_eq!(
        supervisor.lines_starting("UpdateShardCount").len(),
        2,
        "two calls"
    );
    assert!(supervisor
        .lines_starting("Kinesis calls are failing")
        .is_empty());
    assert_eq!(
        supervisor.stop("-TERM", Duration::from_secs(10)).await,
        Some(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_logs_the_change_it_would_make_and_makes_none() {
    let env = Env::moto(1).await;
    let mut settings = FAST.to_vec();
    settings.push(("SUPERVISOR_DRY_RUN", "true"));
    let mut supervisor = Supervisor::spawn(&env.emulator.url(), &env.stream, &settings);
    let load = Load::start(&env.kinesis, &env.stream, RATE, KEYS);

    let tick = supervisor
        .wait_line("average count is", Duration::from_secs(60), |l| {
            l["decision"] == "would_scale_up"
        })
        .await;
    assert_eq!(tick["target_shards"], 2);
    assert_eq!(tick["reason"], "above_high");
    let would = supervisor
        .wait_line(
            "dry run: would call UpdateShardCount 1 -> 2",
            Duration::from_secs(5),
            |_| true,
        )
        .await;
    assert_eq!(would["to"], 2);
    // Three ticks later it still says so and has never called.
    wait_until("three dry-run ticks", Duration::from_secs(20), || async {
        let ticks = supervisor.lines_starting("average count is");
        (ticks
            .iter()
            .filter(|l| l["decision"] == "would_scale_up")
            .count()
            >= 3)
            .then_some(())
    })
    .await;
    load.stop().await;
    assert_eq!(env.open_shards().await, 1);
    let shards = telemetry_aws::stream::shards_parents_first(&env.kinesis, &env.stream)
        .await
        .expect("ListShards");
    assert_eq!(shards.len(), 1, "no shard was split");
    assert!(supervisor.lines_starting("UpdateShardCount").is_empty());
    assert_eq!(
        supervisor.stop("-INT", Duration::from_secs(10)).await,
        Some(0)
    );
}
