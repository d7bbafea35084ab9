//! `sensor-fleet`: simulated EDR sensors writing submissions to the queue.
//!
//! By default it behaves like the original simulator: `FLEET_SIZE` devices, each sending one
//! submission every 30-45 s. `--rate`, `--count` and `--duration` turn it into a load generator;
//! `--broken KIND=SHARE` sets the share of a broken kind; `--manifest FILE` records what each
//! submission must produce, for `verify`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use clap::Parser;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use telemetry_fleet::generator::{Fleet, Generated};
use telemetry_fleet::profile::{breakable, Profile};
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

fn parse_share(s: &str) -> Result<(DropReason, f64), String> {
    let (kind, share) = s.split_once('=').ok_or("expected KIND=SHARE")?;
    let kind = breakable()
        .find(|k| k.as_str() == kind)
        .ok_or_else(|| format!("unknown kind {kind:?}"))?;
    let share: f64 = share
        .parse()
        .map_err(|_| format!("share {share:?} is not a number"))?;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!("share {share} is not in 0..=1"));
    }
    Ok((kind, share))
}

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

/// When the next submission is due, per the pacing mode.
enum Pace {
    /// A fixed total rate.
    Rate { per_sec: f64, started: Instant },
    /// Each device every 30-45 s.
    Devices { next: Vec<Instant> },
}

impl Pace {
    /// Waits until at least one submission is due and returns the devices due now (`None`
    /// for "any device").
    async fn due(&mut self, sent: u64, rng: &mut impl Rng) -> Vec<Option<usize>> {
        match self {
            Pace::Rate { per_sec, started } => loop {
                let owed = (started.elapsed().as_secs_f64() * *per_sec) as u64;
                if owed > sent {
                    return vec![None; usize::try_from((owed - sent).min(100)).unwrap_or(100)];
                }
                let next = *started + Duration::from_secs_f64((sent + 1) as f64 / *per_sec);
                tokio::time::sleep_until(next).await;
            },
            Pace::Devices { next } => {
                let Some(earliest) = next.iter().min().copied() else {
                    return Vec::new();
                };
                tokio::time::sleep_until(earliest).await;
                let now = Instant::now();
                let mut due = Vec::new();
                for (device, at) in next.iter_mut().enumerate() {
                    if *at <= now {
                        due.push(Some(device));
                        *at = now + Duration::from_secs_f64(rng.gen_range(30.0..=45.0));
                    }
                }
                due
            }
        }
    }
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
        Some(r) if r > 0.0 => Pace::Rate {
            per_sec: r,
            started,
        },
        Some(r) => bail!("--rate {r} must be above 0"),
        // Devices start within the first 5 s, so events flow at once.
        None => Pace::Devices {
            next: (0..fleet.size())
                .map(|_| started + Duration::from_secs_f64(rng.gen_range(0.0..5.0)))
                .collect(),
        },
    };
    let deadline = args
        .duration
        .map(|d| started + Duration::from_secs_f64(d.max(0.0)));
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        match args.count {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::new_spinner(),
        }
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} submissions {per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );

    let mut sent = 0u64;
    let mut tally = Tally {
        valid: 0,
        sent_ok: 0,
        failed: 0,
        manifest,
    };
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
        for chunk in batch.chunks(10) {
            while batches.len() >= args.concurrency {
                if let Some(outcome) = batches.next().await {
                    tally.record(outcome)?;
                }
            }
            batches.push(send_batch(
                clients.sqs.clone(),
                queue_url.clone(),
                chunk.to_vec(),
            ));
        }
        bar.set_position(sent);
        bar.set_message(format!("({} failed)", tally.failed));
    }
    while let Some(outcome) = batches.next().await {
        tally.record(outcome)?;
    }
    let Tally {
        valid,
        sent_ok,
        failed,
        manifest,
    } = tally;
    if let Some(mut m) = manifest {
        m.flush()?;
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "sensor-fleet: sent {} submissions ({} valid, {} broken) in {secs:.1} s, {:.0} submissions/s; {failed} failed to send",
        sent_ok,
        valid,
        sent_ok - valid,
        sent_ok as f64 / secs.max(1e-9),
    );
    if failed > 0 {
        bail!("{failed} submissions could not be sent");
    }
    Ok(())
}

/// Totals of what was sent, and the manifest. A manifest line is written once its submission
/// is in the queue, so the manifest lists exactly what was sent, also when a signal stops the
/// fleet.
struct Tally {
    valid: u64,
    sent_ok: u64,
    failed: u64,
    manifest: Option<std::io::BufWriter<std::fs::File>>,
}

impl Tally {
    fn record(&mut self, outcome: Sent) -> Result<()> {
        self.failed += outcome.failed;
        for entry in outcome.entries {
            self.sent_ok += 1;
            self.valid += u64::from(entry.is_valid());
            if let Some(m) = self.manifest.as_mut() {
                serde_json::to_writer(&mut *m, &entry)?;
                m.write_all(b"\n")?;
            }
        }
        // Flushed per batch, so a reader (run-local's figures) sees what was sent so far.
        if let Some(m) = self.manifest.as_mut() {
            m.flush()?;
        }
        Ok(())
    }
}

/// What one batch achieved.
struct Sent {
    /// Manifest entries of the submissions now in the queue.
    entries: Vec<telemetry_fleet::manifest::Entry>,
    /// Submissions that could not be sent after retries.
    failed: u64,
}

/// Sends up to ten submissions, retrying failed entries with backoff.
async fn send_batch(sqs: aws_sdk_sqs::Client, queue_url: String, batch: Vec<Generated>) -> Sent {
    let mut pending: Vec<(usize, Generated)> = batch.into_iter().enumerate().collect();
    let mut entries = Vec::with_capacity(pending.len());
    for attempt in 0..5u32 {
        let request = pending
            .iter()
            .filter_map(|(i, g)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&g.body)
                    .build()
                    .ok()
            })
            .collect();
        let call = sqs
            .send_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(request))
            .send();
        if let Ok(out) = call.await {
            let failed: std::collections::HashSet<String> =
                out.failed.into_iter().map(|f| f.id).collect();
            let (retry, done): (Vec<_>, Vec<_>) = pending
                .into_iter()
                .partition(|(i, _)| failed.contains(&i.to_string()));
            entries.extend(done.into_iter().map(|(_, g)| g.entry));
            pending = retry;
            if pending.is_empty() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
    }
    Sent {
        entries,
        failed: pending.len() as u64,
    }
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
