//! `run-local`: the whole system on this machine, without Docker. Starts moto (SQS) and
//! kinesalite (Kinesis) on free loopback ports, creates the queue `submissions` and a 2-shard
//! stream `events`, starts the collector and the sensor fleet, and shows live figures until
//! Ctrl-C (or SIGTERM); then stops the fleet, lets the collector drain, and stops every process it started.
//! The figures come from the collector's summary lines and its `/metrics` (the lag: p50 and p99
//! over each interval of `submission_lag_seconds`, SQS's `SentTimestamp` to the submission's
//! last record acknowledged by Kinesis), which stays open for `curl` while it runs.
//!
//! With `--production`, a production-shaped proxy stands between every process it starts and
//! each emulator (see `docs/production-shape.md`): HTTPS with a CA generated for the run (its
//! certificate in `<work-dir>/ca.pem`, given to the processes as `SSL_CERT_FILE`), the round-trip
//! time of AWS (about 25 ms a Kinesis call, 15 ms an SQS call), Kinesis's per-shard limits
//! (1,000 records and 1 MiB per second, times `--shard-limit-scale`) and SigV4 signature checks;
//! the figures then show the records the shard limits throttled.
//!
//! Run it through `scripts/run.sh`, which installs the emulators and builds the binaries.
//! Arguments after `--` go to `sensor-fleet` (e.g. `scripts/run.sh -- --rate 50`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use telemetry_aws::Clients;
use telemetry_localenv::endpoints::Endpoints;
use telemetry_localenv::resources::create_queue_and_stream;
use telemetry_localenv::shard_limit::ShardLimits;
use telemetry_localenv::{emulators, scrape};
use telemetry_process::config::{parse_or_exit, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "run-local",
    about = "Run emulators, collector and sensor fleet locally with live figures"
)]
struct Args {
    /// Directory of the built binaries (telemetry-collector, sensor-fleet).
    #[arg(long, default_value = "target/debug")]
    bin_dir: PathBuf,
    /// Where logs and the fleet's manifest go.
    #[arg(long, default_value = ".local")]
    work_dir: PathBuf,
    /// Seconds between two lines of figures.
    #[arg(long, default_value_t = 2.0)]
    every: f64,
    /// Put production-shaped proxies between every process and the emulators: HTTPS (the CA
    /// in <work-dir>/ca.pem, given to the processes as SSL_CERT_FILE), AWS's round-trip time,
    /// Kinesis's per-shard limits and SigV4 signature checks.
    #[arg(long)]
    production: bool,
    /// With --production: the shard limits times this factor (0.1: 100 records and 102.4 KiB
    /// per second per shard, to see throttling with a small fleet).
    #[arg(long, default_value_t = 1.0, requires = "production", value_parser = positive)]
    shard_limit_scale: f64,
    /// Arguments for sensor-fleet.
    #[arg(last = true)]
    fleet_args: Vec<String>,
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s} is not a positive number")),
    }
}

impl Settings for Args {}

/// Totals read from the collector's summary lines.
#[derive(Debug, Default, Clone)]
struct Totals {
    messages: u64,
    events: u64,
    dropped: u64,
    by_reason: std::collections::BTreeMap<String, u64>,
    in_flight: u64,
}

fn follow_collector(
    stdout: impl std::io::Read + Send + 'static,
    log: PathBuf,
    totals: Arc<Mutex<Totals>>,
) {
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(&log).ok();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(f) = file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if !v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("collected "))
            {
                continue;
            }
            let mut t = totals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            t.messages += v["messages"].as_u64().unwrap_or(0);
            t.events += v["events"].as_u64().unwrap_or(0);
            t.dropped += v["dropped"].as_u64().unwrap_or(0);
            t.in_flight = v["in_flight_submissions"].as_u64().unwrap_or(0);
            for pair in v["dropped_by_reason"]
                .as_str()
                .unwrap_or("")
                .split_whitespace()
            {
                if let Some((reason, n)) = pair.split_once('=') {
                    *t.by_reason.entry(reason.to_owned()).or_default() += n.parse().unwrap_or(0);
                }
            }
        }
    });
}

fn lines_in(path: &Path) -> u64 {
    std::fs::File::open(path)
        .map(|f| BufReader::new(f).lines().count() as u64)
        .unwrap_or(0)
}

/// SIGTERM, then SIGKILL after `within`. Async: in production shape the proxies run on this
/// runtime, and the child drains through them.
async fn terminate(child: &mut Child, within: Duration) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args = parse_or_exit::<Args>("run-local");
    std::fs::create_dir_all(&args.work_dir)?;
    let collector_bin = args.bin_dir.join("telemetry-collector");
    let fleet_bin = args.bin_dir.join("sensor-fleet");
    for bin in [
        &collector_bin,
        &fleet_bin,
        &args.bin_dir.join("telemetry-stream"),
    ] {
        anyhow::ensure!(
            bin.exists(),
            "{} not found: build it first (scripts/run.sh does)",
            bin.display()
        );
    }

    eprintln!("starting the emulators (moto for SQS, kinesalite for Kinesis)...");
    let sqs = emulators::moto()?;
    let kinesis = emulators::kinesalite()?;
    let clients = Clients::for_endpoints(&sqs.url(), &kinesis.url()).await;
    let queue_url = create_queue_and_stream(&clients, "submissions", "events", 2).await?;
    eprintln!(
        "queue submissions and 2-shard stream events ready (SQS {}, Kinesis {})",
        sqs.url(),
        kinesis.url()
    );

    let endpoints = if args.production {
        let limits = ShardLimits::kinesis().scaled(args.shard_limit_scale);
        Endpoints::production(
            sqs.addr,
            kinesis.addr,
            &args.work_dir.join("ca.pem"),
            Some(limits),
        )
        .await?
    } else {
        Endpoints::direct(sqs.addr, kinesis.addr)
    };
    if let Some(p) = &endpoints.production {
        eprintln!(
            "production shape: HTTPS proxies (CA {}), round-trip time, shard limits x{}, signature checks (SQS {}, Kinesis {})",
            p.ca_file.display(),
            args.shard_limit_scale,
            endpoints.sqs,
            endpoints.kinesis
        );
    }
    let env = endpoints.collector_env();
    // Children get process groups of their own: Ctrl-C reaches only this runner, which stops
    // them in order (fleet, then collector once the queue is drained, then emulators).
    // A free loopback port for the collector's metrics and probes.
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut collector = Command::new(&collector_bin)
        .process_group(0)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("HTTP_ADDR", metrics_addr.to_string())
        .env("SUMMARY_INTERVAL_SEC", "1")
        .env("QUEUE_WAIT_TIME_SEC", "5")
        .stdout(Stdio::piped())
        .spawn()
        .context("start the collector")?;
    let totals = Arc::new(Mutex::new(Totals::default()));
    if let Some(out) = collector.stdout.take() {
        follow_collector(
            out,
            args.work_dir.join("collector.log"),
            Arc::clone(&totals),
        );
    }
    let manifest = args.work_dir.join("manifest.jsonl");
    // A manifest left by an earlier run would count as sent until the fleet replaces it.
    let _ = std::fs::remove_file(&manifest);
    let fleet_log = std::fs::File::create(args.work_dir.join("fleet.log"))?;
    let mut fleet = Command::new(&fleet_bin)
        .process_group(0)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--manifest")
        .arg(&manifest)
        .arg("--quiet")
        .args(&args.fleet_args)
        .stderr(fleet_log)
        .spawn()
        .context("start sensor-fleet")?;
    eprintln!(
        "collector and sensor-fleet running; logs in {}; metrics on http://{metrics_addr}/metrics \
         (and /healthz, /readyz); Ctrl-C to stop\n",
        args.work_dir.display()
    );

    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let mut last_lag: Vec<(f64, f64)> = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(args.every.max(0.2)));
    // One listener for the whole run: a listener made anew at each tick would miss a Ctrl-C
    // that came while the figures were being read (moto answers slowly with a deep queue).
    let stop = telemetry_process::shutdown::signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticker.tick() => {}
        }
        let t = totals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let (visible, in_flight) = telemetry_aws::queue::depth(&clients.sqs, &queue_url)
            .await
            .unwrap_or((0, 0));
        let now = Instant::now();
        let rate = (t.events - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
        // The collector's own figures: the lag of this interval and whether it is ready.
        let metrics = scrape::get(metrics_addr, "/metrics")
            .await
            .map(|(_, body)| body)
            .unwrap_or_default();
        let series = |name: &str| scrape::value(&metrics, name).unwrap_or(0.0);
        // The lag users feel, over this interval: from SQS's SentTimestamp to the last record
        // of the submission acknowledged by Kinesis.
        let mut lag_now = scrape::buckets(&metrics, "telemetry_collector_submission_lag_seconds");
        if lag_now.is_empty() {
            // A failed scrape: the next interval counts from the last good one.
            lag_now.clone_from(&last_lag);
        }
        let interval = scrape::since(&lag_now, &last_lag);
        let lag = match (
            scrape::quantile(&interval, 0.5),
            scrape::quantile(&interval, 0.99),
        ) {
            (Some(p50), Some(p99)) => format!("p50 {p50:.2}s p99 {p99:.2}s"),
            _ => "-".to_owned(),
        };
        last_lag = lag_now;
        let ready = if series("telemetry_collector_ready") == 1.0 {
            "ready"
        } else {
            "NOT READY"
        };
        last = (now, t.events);
        let refused = match endpoints.refused() {
            Some((throttled, bad_signatures)) => {
                format!("  throttled {throttled}  bad signatures {bad_signatures}")
            }
            None => String::new(),
        };
        let reasons: Vec<String> = t
            .by_reason
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        println!(
            "{:>6.0}s  sent {:>6}  collected {:>6}  events {:>7} ({:>7.1}/s)  dropped {:>4} [{}]  queue {} visible, {} in flight  lag {}  {}{}",
            started.elapsed().as_secs_f64(),
            lines_in(&manifest),
            t.messages,
            t.events,
            rate,
            t.dropped,
            reasons.join(" "),
            visible,
            in_flight,
            lag,
            ready,
            refused,
        );
        if let Ok(Some(status)) = fleet.try_wait() {
            if !status.success() {
                eprintln!(
                    "sensor-fleet exited with {status}; see {}",
                    args.work_dir.join("fleet.log").display()
                );
            }
        }
    }
    eprintln!("\nstopping: sensor-fleet, then the collector (it drains), then the emulators...");
    terminate(&mut fleet, Duration::from_secs(5)).await;
    // Let the collector take what the fleet sent last (up to 15 s), then stop it: it drains.
    let drain_deadline = Instant::now() + Duration::from_secs(15);
    while telemetry_aws::queue::depth(&clients.sqs, &queue_url)
        .await
        .unwrap_or((0, 0))
        != (0, 0)
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    terminate(&mut collector, Duration::from_secs(25)).await;
    eprintln!("verifying the stream against the fleet's manifest (telemetry-stream verify)...");
    // Through the proxies in production shape: waited for on this runtime, which serves them.
    let verified = tokio::process::Command::new(args.bin_dir.join("telemetry-stream"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("verify")
        .arg("--manifest")
        .arg(&manifest)
        .status()
        .await;
    if let Err(e) = verified {
        eprintln!("could not run telemetry-stream: {e}");
    }
    drop(endpoints);
    drop((sqs, kinesis));
    eprintln!(
        "stopped every process it started; logs and the manifest are in {}",
        args.work_dir.display()
    );
    Ok(())
}
