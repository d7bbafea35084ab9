//! `sensor-fleet`: simulated EDR sensors writing submissions to the queue.
//!
//! By default it behaves like the original simulator: `FLEET_SIZE` devices, each sending one
//! submission every 30-45 s. `--rate`, `--count` and `--duration` turn it into a load generator;
//! `--broken KIND=SHARE` sets the share of a broken kind; `--manifest FILE` records what each
//! submission must produce, for `verify`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use telemetry_fleet::batch::{self, MAX_ENTRIES};
use telemetry_fleet::generator::{Fleet, Generated};
use telemetry_fleet::pace::Pace;
use telemetry_fleet::profile::{breakable, parse_share, Profile};
use telemetry_fleet::tally::Tally;
use telemetry_model::DropReason;
use telemetry_process::config::{parse_or_exit, Settings};
use tokio::time::Instant;

#[derive(Debug, Parser)]
#[command(name = "sensor-fleet", version, max_term_width = 100)]
/// Simulated EDR sensors: writes valid and broken submissions to the SQS queue.
///
/// AWS access is the standard chain; AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_SQS) points it at
/// an emulator.
struct Args {
    /// Queue to write to.
    #[arg(long, env = "SUBMISSIONS_QUEUE_NAME", default_value = "submissions")]
    queue_name: String,
    /// Devices in the fleet.
    #[arg(long, env = "FLEET_SIZE", default_value_t = 10)]
    fleet_size: usize,
    /// Submissions per second, over the whole fleet. Without it, each device sends one
    /// submission every 30-45 s, as the original simulator did.
    #[arg(long)]
    rate: Option<f64>,
    /// Stop after this many submissions.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Fewest events of each type per submission.
    #[arg(long, default_value_t = 3)]
    events_min: usize,
    /// Most events of each type per submission.
    #[arg(long, default_value_t = 5)]
    events_max: usize,
    /// Share of submissions broken in one way, as KIND=SHARE (e.g. bad_ip=0.02); repeatable.
    /// Kinds: bad_base64, not_utf8, not_json, not_object, duplicate_field, missing_field,
    /// wrong_type, bad_submission_id, bad_device_id, bad_time_created, bad_ip, bad_port,
    /// unknown_event_type. The default profile breaks about 1 % each of the submission id,
    /// the device id, a cmdl (null) and a destination ip.
    #[arg(long, value_parser = parse_share)]
    broken: Vec<(DropReason, f64)>,
    /// Share of every broken kind at once (overrides the default profile; --broken still applies).
    #[arg(long)]
    broken_each: Option<f64>,
    /// Seed for repeatable runs (ids, events, which submissions break).
    #[arg(long)]
    seed: Option<u64>,
    /// Write a manifest (JSON lines) of every submission sent.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// SendMessageBatch calls in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// No progress bar (a summary is still printed).
    #[arg(long)]
    quiet: bool,
}

impl Settings for Args {}

fn profile(args: &Args) -> Result<Profile> {
    if args.events_min > args.events_max {
        bail!(
            "--events-min {} is above --events-max {}",
            args.events_min,
            args.events_max
        );
    }
    let mut profile = Profile {
        events_per_type: args.events_min..=args.events_max,
        ..Profile::default()
    };
    if let Some(each) = args.broken_each {
        profile.broken = breakable().map(|k| (k, each)).collect();
    }
    for (kind, share) in &args.broken {
        profile.set_share(*kind, *share);
    }
    if profile.broken_total() > 1.0 {
        bail!(
            "the broken shares add up to {:.3}, more than 1",
            profile.broken_total()
        );
    }
    Ok(profile)
}

/// A bar towards `count`, a spinner without one, nothing when `quiet`.
fn progress_bar(quiet: bool, count: Option<u64>) -> ProgressBar {
    let bar = match (quiet, count) {
        (true, _) => ProgressBar::hidden(),
        (false, Some(n)) => ProgressBar::new(n),
        (false, None) => ProgressBar::new_spinner(),
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} submissions {per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

async fn run(args: Args) -> Result<()> {
    let profile = profile(&args)?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let mut fleet = Fleet::new(args.fleet_size, profile, seed);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed ^ 0x5eed);
    let clients = telemetry_aws::Clients::from_env().await;
    let queue_url = telemetry_aws::queue::queue_url(&clients.sqs, &args.queue_name)
        .await
        .with_context(|| format!("queue {} not found", args.queue_name))?;
    let manifest = match &args.manifest {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => None,
    };
    let started = Instant::now();
    let mut pace = match args.rate {
        Some(r) if r > 0.0 => Pace::rate(r, started),
        Some(r) => bail!("--rate {r} must be above 0"),
        None => Pace::devices(fleet.size(), started, &mut rng),
    };
    let deadline = args
        .duration
        .map(|d| started + Duration::from_secs_f64(d.max(0.0)));
    let bar = progress_bar(args.quiet, args.count);

    let mut sent = 0u64;
    let mut tally = Tally::new(manifest);
    let mut batches = futures::stream::FuturesUnordered::new();
    // SIGTERM or Ctrl-C: stop sending, finish what is in flight, write the manifest, summarise.
    let stop = telemetry_process::shutdown::signal();
    tokio::pin!(stop);
    loop {
        let done =
            args.count.is_some_and(|n| sent >= n) || deadline.is_some_and(|d| Instant::now() >= d);
        if done {
            break;
        }
        let due = tokio::select! {
            due = pace.due(sent, &mut rng) => due,
            _ = &mut stop => break,
            // Settle finished batches as they end, so the manifest follows the sending.
            Some(outcome) = batches.next(), if !batches.is_empty() => {
                tally.record(outcome)?;
                continue;
            }
            () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => continue,
        };
        let room = args.count.map_or(u64::MAX, |n| n - sent);
        let batch: Vec<Generated> = due
            .into_iter()
            .take(usize::try_from(room).unwrap_or(usize::MAX))
            .map(|device| match device {
                Some(d) => fleet.submission_from(d),
                None => fleet.next_submission(),
            })
            .collect();
        sent += batch.len() as u64;
        for chunk in batch.chunks(MAX_ENTRIES) {
            while batches.len() >= args.concurrency {
                if let Some(outcome) = batches.next().await {
                    tally.record(outcome)?;
                }
            }
            batches.push(batch::send(
                clients.sqs.clone(),
                queue_url.clone(),
                chunk.to_vec(),
            ));
        }
        bar.set_position(sent);
        bar.set_message(format!("({} failed)", tally.totals().failed));
    }
    while let Some(outcome) = batches.next().await {
        tally.record(outcome)?;
    }
    let totals = tally.finish()?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "sensor-fleet: sent {} submissions ({} valid, {} broken) in {secs:.1} s, {:.0} submissions/s; {} failed to send",
        totals.sent,
        totals.valid,
        totals.broken(),
        totals.sent as f64 / secs.max(1e-9),
        totals.failed,
    );
    if totals.failed > 0 {
        bail!("{} submissions could not be sent", totals.failed);
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(parse_or_exit::<Args>("sensor-fleet")).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sensor-fleet: {e:#}");
            ExitCode::FAILURE
        }
    }
}
