//! `telemetry-stream`: look at the events stream.
//!
//! - `tail`: follow every shard (and shards created by resharding), print events as JSON lines
//!   or a table, filtered by type or device;
//! - `verify --manifest FILE`: check every guarantee against a sensor-fleet manifest; exit 1 on
//!   any violation;
//! - `stats`: records and bytes per shard, and the rate over an interval.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_kinesis::types::ShardIteratorType;
use clap::{Parser, Subcommand};
use telemetry_fleet::manifest::Entry;
use telemetry_process::config::{parse_or_exit, Settings};
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
            tail(
                kinesis,
                &args.stream_name,
                table,
                event_type,
                device,
                from_start,
            )
            .await?;
            Ok(true)
        }
    }
}

/// Follows every shard, rediscovering shards every few seconds (resharding creates new ones).
async fn tail(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
    table: bool,
    event_type: Option<String>,
    device: Option<String>,
    from_start: bool,
) -> Result<()> {
    let mut iterators: HashMap<String, Option<String>> = HashMap::new();
    let mut known: HashSet<String> = HashSet::new();
    let mut out = std::io::stdout().lock();
    let mut round = 0u64;
    loop {
        if round % 20 == 0 {
            for shard in telemetry_aws::stream::shards_parents_first(kinesis, stream).await? {
                if known.insert(shard.shard_id.clone()) {
                    // Shards found later (children of a resharding) are read from their start.
                    let kind = if from_start || round > 0 {
                        ShardIteratorType::TrimHorizon
                    } else {
                        ShardIteratorType::Latest
                    };
                    let it = kinesis
                        .get_shard_iterator()
                        .stream_name(stream)
                        .shard_id(&shard.shard_id)
                        .shard_iterator_type(kind)
                        .send()
                        .await?
                        .shard_iterator;
                    iterators.insert(shard.shard_id, it);
                }
            }
        }
        round += 1;
        for it in iterators.values_mut() {
            let Some(current) = it.take() else { continue };
            let got = kinesis.get_records().shard_iterator(current).send().await?;
            for r in &got.records {
                let Ok(e) = serde_json::from_slice::<serde_json::Value>(r.data.as_ref()) else {
                    continue;
                };
                if event_type.as_deref().is_some_and(|t| e["type"] != t)
                    || device.as_deref().is_some_and(|d| e["device_id"] != d)
                {
                    continue;
                }
                let line = if table {
                    format!(
                        "{}  {:<18}  {}  {}",
                        e["time_processed"].as_str().unwrap_or(""),
                        e["type"].as_str().unwrap_or(""),
                        e["device_id"].as_str().unwrap_or(""),
                        e["type_specific_data"]
                    )
                } else {
                    e.to_string()
                };
                // A closed pipe (`telemetry-stream tail | head`) ends the tail cleanly.
                if writeln!(out, "{line}").is_err() {
                    return Ok(());
                }
            }
            *it = got.next_shard_iterator;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
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
