//! `telemetry-stream`: look at the events stream.
//!
//! - `tail`: follow every shard (and shards created by resharding), print events as JSON lines
//!   or a table, filtered by type or device;
//! - `verify --manifest FILE`: check every guarantee against a sensor-fleet manifest; exit 1 on
//!   any violation;
//! - `stats`: records and bytes per shard, and the rate over an interval.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use telemetry_fleet::manifest::Entry;
use telemetry_process::config::{parse_or_exit, Settings};
use telemetry_stream_tools::tail::{self, Filter, Format};
use telemetry_stream_tools::{stats, verify};

#[derive(Debug, Parser)]
#[command(name = "telemetry-stream", version, max_term_width = 100)]
/// Tail, verify and measure the events stream. AWS access is the standard chain;
/// AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_KINESIS) points it at an emulator.
struct Args {
    /// The stream.
    #[arg(
        long,
        env = "EVENTS_DATA_STREAM_NAME",
        default_value = "events",
        global = true
    )]
    stream_name: String,
    #[command(subcommand)]
    command: Command,
}

impl Settings for Args {}

#[derive(Debug, Subcommand)]
enum Command {
    /// Follow the stream across all shards and print events.
    Tail {
        /// Print a readable table instead of JSON lines.
        #[arg(long)]
        table: bool,
        /// Only events of this type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only events of this device.
        #[arg(long)]
        device: Option<String>,
        /// Start from the oldest record instead of new ones.
        #[arg(long)]
        from_start: bool,
    },
    /// Check the stream against a sensor-fleet manifest; exit 1 on any violation.
    Verify {
        /// The manifest (JSON lines) written by `sensor-fleet --manifest`.
        #[arg(long)]
        manifest: PathBuf,
    },
    /// Records and bytes per shard; with --interval, the rate too.
    Stats {
        /// Seconds between two readings, for the rate.
        #[arg(long)]
        interval: Option<f64>,
    },
}

async fn run(args: Args) -> Result<bool> {
    let clients = telemetry_aws::Clients::from_env().await;
    let kinesis = &clients.kinesis;
    match args.command {
        Command::Verify { manifest } => {
            let file = std::fs::File::open(&manifest)
                .with_context(|| format!("cannot open {}", manifest.display()))?;
            let mut entries = Vec::new();
            for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let entry: Entry = serde_json::from_str(&line)
                    .with_context(|| format!("manifest line {}", n + 1))?;
                entries.push(entry);
            }
            let shards = telemetry_aws::stream::read_all(kinesis, &args.stream_name).await?;
            let report = verify::verify(&entries, &shards);
            println!("{report}");
            Ok(report.passed())
        }
        Command::Stats { interval } => {
            let first =
                stats::stats(&telemetry_aws::stream::read_all(kinesis, &args.stream_name).await?);
            let Some(secs) = interval else {
                first.iter().for_each(|s| println!("{s}"));
                return Ok(true);
            };
            tokio::time::sleep(Duration::from_secs_f64(secs.max(0.1))).await;
            let second =
                stats::stats(&telemetry_aws::stream::read_all(kinesis, &args.stream_name).await?);
            for s in &second {
                let before = first
                    .iter()
                    .find(|f| f.shard_id == s.shard_id)
                    .map_or(0, |f| f.records);
                println!(
                    "{s} {:>10.1} records/s",
                    (s.records - before.min(s.records)) as f64 / secs.max(0.1)
                );
            }
            Ok(true)
        }
        Command::Tail {
            table,
            event_type,
            device,
            from_start,
        } => {
            let options = tail::Options {
                format: if table { Format::Table } else { Format::Json },
                filter: Filter { event_type, device },
                from_start,
            };
            let shutdown = telemetry_process::shutdown::signal();
            let out = std::io::stdout().lock();
            tail::follow(kinesis, &args.stream_name, &options, out, shutdown).await?;
            Ok(true)
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(parse_or_exit::<Args>("telemetry-stream")).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("telemetry-stream: {e:#}");
            ExitCode::from(2)
        }
    }
}
