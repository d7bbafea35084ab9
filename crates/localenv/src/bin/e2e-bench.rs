//! End-to-end benchmark: the release collector against the emulators, straight or in
//! production shape.
//!
//! Two kinds of run:
//!
//! - **drain** (the default): N submissions are sent to the SQS emulator first; then release
//!   `telemetry-collector`s drain them. It reports events/s from the start to the empty queue,
//!   the collectors' CPU time (user + sys, from /proc) per event, and beside them the emulator's
//!   own ceiling: a raw PutRecords loop (8 requests of 500 realistic records in flight) against
//!   kinesalite.
//! - **offered** (`--offered R`): fleet-shaped submissions are offered at R a second for
//!   `--duration` seconds while the collectors run (one hot device with `--hot-share`, a reshard
//!   with `--reshard-to`), then drained. It reports the records the stream accepted per second
//!   (over the run after `--warmup`, and per shard), the lag a consumer feels from outside (a
//!   submission's arrival in the queue to its last event's arrival in the stream) beside the
//!   collectors' own `submission_lag_seconds`, and checks the stream with `verify`.
//!
//! `--production` puts production-shaped proxies in front of both emulators (HTTPS, AWS's round
//! trips, Kinesis' shard limits at `--shard-limit` records/s per shard, SigV4 checks; see
//! `docs/production-shape.md`) and reports what they throttled and refused. The collectors
//! inherit this process's environment, so `AWS_CLIENT=sdk` or `SHARD_LIMITER=off` before the
//! command compare the paths.
//!
//! With `--sdk-call-cost` it only measures the client CPU of one small SDK call, the floor
//! under the per-event figure (a message costs a share of a ReceiveMessage and a
//! DeleteMessageBatch whatever its size).
//!
//! Run: `scripts/bench-e2e.sh [ARGS]` (builds the release binaries, then runs this). The
//! figures and the commands behind them are in `docs/benchmarks.md`.

use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use clap::Parser;
use telemetry_aws::stream::ShardRecords;
use telemetry_aws::Clients;
use telemetry_fleet::generator::Fleet;
use telemetry_fleet::profile::Profile;
use telemetry_localenv::collectors::CollectorProcess;
use telemetry_localenv::endpoints::Endpoints;
use telemetry_localenv::offered_load::{self, Offer};
use telemetry_localenv::proxy::Proxy;
use telemetry_localenv::resources::{create_queue_and_stream, create_stream, fill};
use telemetry_localenv::shard_limit::ShardLimits;
use telemetry_localenv::{cpu, emulators, scrape};
use telemetry_model::{PartitionKeySource, Submission};
use telemetry_process::config::{parse_or_exit, Settings};
use telemetry_stream_tools::verify;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(about = "End-to-end benchmark of telemetry-collector against local emulators")]
struct Args {
    /// Submissions to send.
    #[arg(long, default_value_t = 6_000)]
    submissions: usize,
    /// Fewest events of each type per submission.
    #[arg(long, default_value_t = 3)]
    min_events: usize,
    /// Most events of each type per submission.
    #[arg(long, default_value_t = 5)]
    max_events: usize,
    /// Shards of the stream.
    #[arg(long, default_value_t = 4)]
    shards: i32,
    /// How long the raw PutRecords loop runs, in seconds.
    #[arg(long, default_value_t = 10)]
    ceiling_secs: u64,
    /// The SQS emulator: `localstack` (steady about 1,500 msg/s here; needs
    /// `scripts/install-emulators.sh --localstack`) or `moto` (slows down as the queue grows).
    #[arg(long, default_value = "localstack")]
    sqs: String,
    /// Only measure the CPU cost of one small SDK call (GetQueueUrl, ListStreams) and exit.
    #[arg(long)]
    sdk_call_cost: bool,
    /// The collector binary.
    #[arg(long, default_value = "target/release/telemetry-collector")]
    collector: std::path::PathBuf,
    /// Collectors draining the one queue into the one stream.
    #[arg(long, default_value_t = 1)]
    collectors: usize,
    /// Production-shaped proxies in front of both emulators: HTTPS, round trips, shard limits,
    /// signature checks.
    #[arg(long)]
    production: bool,
    /// With --production: each shard's write limit in records per second (bytes: this many
    /// KiB); the collectors are told the same. Default: Kinesis' own (1,000 and 1 MiB).
    #[arg(long, requires = "production", conflicts_with = "no_shard_limits")]
    shard_limit: Option<u32>,
    /// With --production: no shard limits, to measure the collector alone over TLS with round
    /// trips.
    #[arg(long, requires = "production")]
    no_shard_limits: bool,
    /// Offer this many submissions a second while the collectors run, instead of draining a
    /// full queue.
    #[arg(long)]
    offered: Option<f64>,
    /// Seconds of offered load.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seconds of offered load before the figures count (the collectors ramp up).
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    /// The share of offered submissions from one hot device.
    #[arg(long, default_value_t = 0.0)]
    hot_share: f64,
    /// Devices offering load.
    #[arg(long, default_value_t = 1_000)]
    devices: usize,
    /// Reshard the stream to this many shards (each open shard split in two) during the
    /// offered load.
    #[arg(long, requires = "offered")]
    reshard_to: Option<i32>,
    /// Seconds into the offered load at which to reshard.
    #[arg(long, default_value_t = 30.0)]
    reshard_at: f64,
}

impl Settings for Args {}

/// Valid fleet submissions with `events_per_type` events of each type, repeatably for `seed`,
/// from a fleet of `devices` devices.
fn fleet(devices: usize, events_per_type: RangeInclusive<usize>, seed: u64) -> Fleet {
    let profile = Profile {
        events_per_type,
        broken: Vec::new(),
    };
    Fleet::new(devices, profile, seed)
}

/// Records/s of a raw PutRecords loop: 8 requests of 500 records in flight for `secs`.
async fn ceiling(
    clients: &Clients,
    shards: i32,
    secs: u64,
    emulators: &[(&str, u32)],
) -> Result<(f64, CpuShare)> {
    create_stream(clients, "ceiling", shards).await?;
    let mut fleet = fleet(500, 4..=4, 7);
    let mut records = Vec::new();
    while records.len() < 500 {
        let s =
            Submission::decode(fleet.next_submission().body.as_bytes()).context("bench body")?;
        let r = s
            .explode(
                "2021-03-29T12:06:20.123+00:00",
                PartitionKeySource::DeviceId,
            )
            .context("explode")?;
        for data in r.iter() {
            records.push(
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .data(Blob::new(data))
                    .build()?,
            );
        }
    }
    records.truncate(500);
    let acked = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let split_at_start = CpuSplit::now(emulators, &[]);
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (kinesis, records, acked) =
                (clients.kinesis.clone(), records.clone(), Arc::clone(&acked));
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    if let Ok(out) = kinesis
                        .put_records()
                        .stream_name("ceiling")
                        .set_records(Some(records.clone()))
                        .send()
                        .await
                    {
                        let ok = out
                            .records
                            .iter()
                            .filter(|r| r.sequence_number.is_some())
                            .count();
                        acked.fetch_add(ok as u64, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let elapsed = started.elapsed();
    let split = CpuSplit::now(emulators, &[]).since(&split_at_start, elapsed);
    Ok((
        acked.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        split,
    ))
}

/// Messages/s of a raw SQS loop, the queue's side of the ceiling: `messages` sent to a queue of
/// their own, then received and deleted ten at a time by four loops until none is left (the
/// collector runs eight receive loops by default; LocalStack, at a core, sets the pace of both).
async fn sqs_ceiling(
    clients: &Clients,
    messages: usize,
    emulators: &[(&str, u32)],
) -> Result<(f64, CpuShare)> {
    let url = clients
        .sqs
        .create_queue()
        .queue_name("ceiling")
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let body = fleet(10, 4..=4, 9).next_submission().body;
    fill(&clients.sqs, &url, &vec![body; messages])
        .await
        .context("fill the ceiling's queue")?;
    let done = Arc::new(AtomicU64::new(0));
    let split_at_start = CpuSplit::now(emulators, &[]);
    let started = Instant::now();
    let loops: Vec<_> = (0..4)
        .map(|_| {
            let (sqs, url, done) = (clients.sqs.clone(), url.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let mut empty = 0;
                while empty < 3 {
                    let Ok(out) = sqs
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .wait_time_seconds(0)
                        .send()
                        .await
                    else {
                        // A failing emulator ends the loop as an empty queue does, not never.
                        empty += 1;
                        continue;
                    };
                    let entries: Vec<_> = out
                        .messages
                        .unwrap_or_default()
                        .into_iter()
                        .enumerate()
                        .filter_map(|(i, m)| {
                            DeleteMessageBatchRequestEntry::builder()
                                .id(i.to_string())
                                .receipt_handle(m.receipt_handle?)
                                .build()
                                .ok()
                        })
                        .collect();
                    if entries.is_empty() {
                        empty += 1;
                        continue;
                    }
                    let n = entries.len() as u64;
                    if sqs
                        .delete_message_batch()
                        .queue_url(&url)
                        .set_entries(Some(entries))
                        .send()
                        .await
                        .is_ok()
                    {
                        done.fetch_add(n, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for l in loops {
        l.await?;
    }
    let elapsed = started.elapsed();
    let split = CpuSplit::now(emulators, &[]).since(&split_at_start, elapsed);
    Ok((
        done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        split,
    ))
}

/// Prints the client CPU and wall time of one call, over 2,000 sequential calls.
async fn per_call<F, Fut, E>(name: &str, call: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    const N: u32 = 2_000;
    let before = cpu::cpu_time(std::process::id()).context("cpu time")?;
    let started = Instant::now();
    for _ in 0..N {
        call().await?;
    }
    let cpu = cpu::cpu_time(std::process::id()).context("cpu time")? - before;
    println!(
        "{name}: {:.0} us CPU, {:.0} us wall per call",
        cpu.as_secs_f64() * 1e6 / f64::from(N),
        started.elapsed().as_secs_f64() * 1e6 / f64::from(N)
    );
    Ok(())
}

/// The shard limits of a production-shaped run: Kinesis' own, `--shard-limit`'s, or none.
fn shard_limits(args: &Args) -> Option<ShardLimits> {
    if !args.production || args.no_shard_limits {
        return None;
    }
    Some(match args.shard_limit {
        Some(n) => ShardLimits::per_shard(n, n.saturating_mul(1024)),
        None => ShardLimits::kinesis(),
    })
}

/// The collectors' environment: where SQS and Kinesis are, the shard limits the proxy
/// enforces, and quick summaries.
fn collector_env(endpoints: &Endpoints) -> Vec<(&'static str, String)> {
    let mut env = endpoints.collector_env();
    env.push(("SUMMARY_INTERVAL_SEC", "5".to_owned()));
    env
}

/// Starts `n` collectors, their logs in the temporary directory.
fn start_collectors(args: &Args, env: &[(&str, String)]) -> Result<Vec<CollectorProcess>> {
    (0..args.collectors.max(1))
        .map(|i| {
            let log = std::env::temp_dir().join(format!("e2e-bench-collector-{i}.log"));
            CollectorProcess::start(&args.collector, env, &log).context("start a collector")
        })
        .collect()
}

/// The collectors' CPU time so far, together.
fn cpu_of(collectors: &[CollectorProcess]) -> Duration {
    collectors.iter().filter_map(CollectorProcess::cpu).sum()
}

/// Where the machine's CPU goes: the whole machine's, each emulator's, the collectors' and this
/// process's own (its keep-alive proxy in front of SQS, its polling), read at two moments.
/// The throughput / ceiling ratio of a drain depends on it: the ceilings are measured with one
/// emulator busy at a time, the drain keeps both busy on the same cores.
#[derive(Debug, Clone)]
struct CpuSplit {
    machine: Option<(Duration, Duration)>,
    emulators: Vec<Option<Duration>>,
    /// `None` when no collector runs (a ceiling loop).
    collectors: Option<Duration>,
    own: Option<Duration>,
}

impl CpuSplit {
    fn now(emulators: &[(&str, u32)], collectors: &[CollectorProcess]) -> CpuSplit {
        CpuSplit {
            machine: cpu::machine_time(),
            emulators: emulators
                .iter()
                .map(|&(_, pid)| cpu::cpu_time(pid))
                .collect(),
            collectors: (!collectors.is_empty()).then(|| cpu_of(collectors)),
            own: cpu::cpu_time(std::process::id()),
        }
    }

    /// What was used since `start`, in cores over `elapsed` (the machine's as a share).
    fn since(&self, start: &CpuSplit, elapsed: Duration) -> CpuShare {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let cores = |now: Option<Duration>, then: Option<Duration>| {
            Some(now?.saturating_sub(then?).as_secs_f64() / secs)
        };
        CpuShare {
            machine: self.machine.zip(start.machine).map(|((b1, a1), (b0, a0))| {
                let all = a1.saturating_sub(a0).as_secs_f64();
                let busy = b1.saturating_sub(b0).as_secs_f64();
                (busy / all.max(1e-9), all / secs)
            }),
            emulators: self
                .emulators
                .iter()
                .zip(&start.emulators)
                .map(|(&now, &then)| cores(now, then))
                .collect(),
            collectors: cores(self.collectors, start.collectors),
            own: cores(self.own, start.own),
        }
    }
}

/// [`CpuSplit::since`]: cores used, and the machine's busy share and core count. "This
/// benchmark" is this process: its raw loops during a ceiling (the loop alone, not the filling
/// before it); during a drain its SQS keep-alive proxy and its polling, and with `--production`
/// the production-shaped proxies (TLS, signature checks, shard limits) too.
#[derive(Debug)]
struct CpuShare {
    machine: Option<(f64, f64)>,
    emulators: Vec<Option<f64>>,
    collectors: Option<f64>,
    own: Option<f64>,
}

impl CpuShare {
    fn print(&self, during: &str, emulators: &[(&str, u32)]) {
        let cores = |c: Option<f64>| c.map_or("-".to_owned(), |c| format!("{c:.2}"));
        let machine = self.machine.map_or("-".to_owned(), |(busy, cores)| {
            format!("{:.0} % busy of {cores:.0} cores", busy * 100.0)
        });
        let each: Vec<String> = emulators
            .iter()
            .zip(&self.emulators)
            .map(|(&(name, _), &c)| format!("{name} {}", cores(c)))
            .collect();
        let collectors = self
            .collectors
            .map_or(String::new(), |c| format!(", collector(s) {c:.2}"));
        println!(
            "CPU in {during:<16}machine {machine}; cores used: {}{collectors}, this benchmark {}",
            each.join(", "),
            cores(self.own)
        );
    }
}

/// The collectors' CPU and work so far, sampled through a drain.
#[derive(Debug, Clone, Copy)]
struct Progress {
    cpu: Duration,
    deleted: f64,
    events: f64,
}

impl Progress {
    async fn sample(collectors: &[CollectorProcess]) -> Option<Progress> {
        let (mut deleted, mut events) = (0.0, 0.0);
        for c in collectors {
            let m = c.metrics().await?;
            deleted += scrape::value(&m, "telemetry_collector_messages_deleted_total")?;
            events += scrape::value(&m, "telemetry_collector_events_published_total")?;
        }
        Some(Progress {
            cpu: cpu_of(collectors),
            deleted,
            events,
        })
    }

    /// CPU per event (none without events) and per message, in microseconds, between the first
    /// sample past 10 % of `messages` deleted and the last one below 90 %.
    fn steady(samples: &[Progress], messages: f64) -> Option<(Option<f64>, f64)> {
        let from = samples.iter().find(|p| p.deleted >= 0.1 * messages)?;
        let to = samples.iter().rev().find(|p| p.deleted <= 0.9 * messages)?;
        let cpu = to.cpu.checked_sub(from.cpu)?.as_secs_f64() * 1e6;
        let (deleted, events) = (to.deleted - from.deleted, to.events - from.events);
        (deleted > 0.0).then(|| ((events > 0.0).then(|| cpu / events), cpu / deleted))
    }
}

/// Means of gauges sampled while the collectors work: Little's law's terms.
#[derive(Debug, Default)]
struct Gauges {
    samples: f64,
    submissions_in_flight: f64,
    requests_in_flight: f64,
    requests_limit: f64,
}

impl Gauges {
    async fn sample(&mut self, collectors: &[CollectorProcess]) {
        for c in collectors {
            if let Some(m) = c.metrics().await {
                let v = |name: &str| scrape::value(&m, &format!("telemetry_collector_{name}"));
                self.samples += 1.0;
                self.submissions_in_flight += v("submissions_in_flight").unwrap_or(0.0);
                self.requests_in_flight += v("put_records_requests_in_flight").unwrap_or(0.0);
                self.requests_limit += v("put_records_requests_limit").unwrap_or(0.0);
            }
        }
    }

    fn print(&self, collectors: usize) {
        if self.samples == 0.0 {
            return;
        }
        let per = |x: f64| x / self.samples;
        println!(
            "held per collector     {:.0} submissions (mean; MAX_SUBMISSIONS_IN_FLIGHT bounds it)",
            per(self.submissions_in_flight)
        );
        println!(
            "PutRecords in flight   {:.1} per collector (mean), adaptive limit {:.1} (mean) of {collectors} collector(s)",
            per(self.requests_in_flight),
            per(self.requests_limit)
        );
    }
}

/// The collectors' own `submission_lag_seconds` p50 and p99, over every collector.
async fn collectors_lag(collectors: &[CollectorProcess]) -> (Option<f64>, Option<f64>) {
    let mut all: Vec<(f64, f64)> = Vec::new();
    for c in collectors {
        if let Some(m) = c.metrics().await {
            let b = scrape::buckets(&m, "telemetry_collector_submission_lag_seconds");
            if all.is_empty() {
                all = b;
            } else {
                for (sum, (_, n)) in all.iter_mut().zip(b) {
                    sum.1 += n;
                }
            }
        }
    }
    (scrape::quantile(&all, 0.5), scrape::quantile(&all, 0.99))
}

/// Records per PutRecords request, on average over every collector.
async fn mean_batch(collectors: &[CollectorProcess]) -> Option<f64> {
    ratio(
        collectors,
        "telemetry_collector_put_records_batch_records_sum",
        "telemetry_collector_put_records_batch_records_count",
    )
    .await
}

/// The sum over every collector of one series over the sum of another.
async fn ratio(collectors: &[CollectorProcess], of: &str, per: &str) -> Option<f64> {
    let (mut sum, mut count) = (0.0, 0.0);
    for c in collectors {
        let m = c.metrics().await?;
        sum += scrape::value(&m, of)?;
        count += scrape::value(&m, per)?;
    }
    (count > 0.0).then(|| sum / count)
}

/// The highest peak resident memory of the collectors, in MiB.
fn peak_rss_mib(collectors: &[CollectorProcess]) -> Option<f64> {
    collectors
        .iter()
        .filter_map(CollectorProcess::peak_rss)
        .max()
        .map(|b| b as f64 / (1024.0 * 1024.0))
}

/// Also in a collector's `/metrics`: PutRecords duration p50, for Little's law.
async fn put_records_p50(collectors: &[CollectorProcess]) -> Option<f64> {
    let m = collectors.first()?.metrics().await?;
    let b = scrape::buckets(&m, "telemetry_collector_put_records_duration_seconds");
    scrape::quantile(&b, 0.5)
}

/// What the production-shaped proxies refused, printed.
fn print_refused(endpoints: &Endpoints, accepted: usize) {
    if let Some((throttled, bad_signatures)) = endpoints.refused() {
        println!(
            "throttled records      {throttled} ({:.2} per 100 accepted)",
            throttled as f64 * 100.0 / accepted.max(1) as f64
        );
        println!("bad signatures         {bad_signatures}");
    }
}

fn seconds(s: Option<f64>) -> String {
    s.map_or("-".to_owned(), |s| format!("{:.0} ms", s * 1000.0))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_or_exit::<Args>("e2e-bench");
    if !args.collector.exists() {
        bail!(
            "{} not found: build it with `cargo build --release`",
            args.collector.display()
        );
    }
    let sqs_emulator = match args.sqs.as_str() {
        "moto" => emulators::moto()?,
        "localstack" => emulators::localstack_sqs()?,
        other => bail!("--sqs must be moto or localstack, not {other}"),
    };
    let kinesis_emulator = emulators::kinesalite()?;
    // LocalStack answers every call with `Connection: close`; AWS keeps connections alive.
    // Measured straight, every SQS call would pay a new connection (a cost of the emulator,
    // not of the collector), so SQS is reached through the project's proxy, which keeps its
    // clients' connections alive and adds nothing else. The raw loops measuring the ceilings
    // go the same way.
    let sqs_keep_alive = Proxy::start(sqs_emulator.addr).await?;
    let sqs_addr = sqs_keep_alive.addr;
    // This process's own calls (filling the queue, reading the stream) go to kinesalite
    // straight and to SQS through that proxy; the collectors' go through the production-shaped
    // proxies in production shape.
    let clients = Clients::for_endpoints(&sqs_keep_alive.url(), &kinesis_emulator.url()).await;

    if args.sdk_call_cost {
        return sdk_call_cost(&clients).await;
    }
    let endpoints = if args.production {
        let ca_file = std::env::temp_dir().join(format!("e2e-bench-ca-{}.pem", std::process::id()));
        Endpoints::production(
            sqs_addr,
            kinesis_emulator.addr,
            &ca_file,
            shard_limits(&args),
        )
        .await?
    } else {
        Endpoints::direct(sqs_addr, kinesis_emulator.addr)
    };
    match args.offered {
        Some(per_sec) => offered(&args, &clients, &endpoints, per_sec).await,
        None => {
            let emulators = [
                (args.sqs.as_str(), sqs_emulator.pid()),
                ("kinesalite", kinesis_emulator.pid()),
            ];
            drain(&args, &clients, &endpoints, &emulators).await
        }
    }
}

async fn sdk_call_cost(clients: &Clients) -> Result<()> {
    clients
        .sqs
        .create_queue()
        .queue_name("probe")
        .send()
        .await?;
    let sqs = &clients.sqs;
    per_call("GetQueueUrl", || async move {
        sqs.get_queue_url()
            .queue_name("probe")
            .send()
            .await
            .map(drop)
    })
    .await?;
    let kinesis = &clients.kinesis;
    per_call("ListStreams", || async move {
        kinesis.list_streams().send().await.map(drop)
    })
    .await
}

/// Fills the queue, then drains it with the collectors.
async fn drain(
    args: &Args,
    clients: &Clients,
    endpoints: &Endpoints,
    emulators: &[(&str, u32)],
) -> Result<()> {
    eprintln!(
        "measuring the emulator's ceiling ({} s raw PutRecords loop)...",
        args.ceiling_secs
    );
    let (ceiling, kinesis_split) =
        ceiling(clients, args.shards, args.ceiling_secs, emulators).await?;
    eprintln!("measuring the SQS emulator's ceiling (a raw receive and delete loop)...");
    let (sqs_ceiling, sqs_split) = sqs_ceiling(clients, 5_000, emulators).await?;
    let queue_url = create_queue_and_stream(clients, "submissions", "events", args.shards).await?;
    // A device per submission or so: partition keys spread over the shards.
    let mut fleet = fleet(args.submissions, args.min_events..=args.max_events, 42);
    let (bodies, expected) = (0..args.submissions).fold(
        (Vec::with_capacity(args.submissions), 0),
        |(mut bodies, events), _| {
            let g = fleet.next_submission();
            bodies.push(g.body);
            (bodies, events + g.entry.events.len())
        },
    );

    eprintln!(
        "sending {} submissions ({expected} events)...",
        args.submissions
    );
    let started = Instant::now();
    fill(&clients.sqs, &queue_url, &bodies)
        .await
        .context("sending failed")?;
    let sent_in = started.elapsed();

    // The queue is full before the collectors start, so they run at their (and the
    // emulators') pace from the first receive, with no sender competing for the two cores.
    eprintln!("draining with {} collector(s)...", args.collectors.max(1));
    let collectors = start_collectors(args, &collector_env(endpoints))?;
    let started = Instant::now();
    let split_at_start = CpuSplit::now(emulators, &collectors);
    let mut gauges = Gauges::default();
    let mut last_sample = Instant::now();
    let mut progress = Vec::new();
    loop {
        if telemetry_aws::queue::depth(&clients.sqs, &queue_url).await? == (0, 0) {
            break;
        }
        if started.elapsed() > Duration::from_secs(1_800) {
            bail!("the queue did not drain within 30 minutes");
        }
        if last_sample.elapsed() >= Duration::from_secs(1) {
            gauges.sample(&collectors).await;
            last_sample = Instant::now();
        }
        if let Some(p) = Progress::sample(&collectors).await {
            progress.push(p);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = started.elapsed();
    let split = CpuSplit::now(emulators, &collectors).since(&split_at_start, elapsed);
    let cpu = cpu_of(&collectors);
    let put_p50 = put_records_p50(&collectors).await;
    let batch = mean_batch(&collectors).await;
    let per_receive = ratio(
        &collectors,
        "telemetry_collector_receive_batch_messages_sum",
        "telemetry_collector_receive_batch_messages_count",
    )
    .await;
    let per_delete = ratio(
        &collectors,
        "telemetry_collector_messages_deleted_total",
        "telemetry_collector_delete_batches_total",
    )
    .await;
    let rss = peak_rss_mib(&collectors);
    for c in collectors {
        c.stop(Duration::from_secs(30)).await;
    }

    let published: usize = telemetry_aws::stream::read_all(&clients.kinesis, "events")
        .await?
        .iter()
        .map(|s| s.records.len())
        .sum();
    let rate = published as f64 / elapsed.as_secs_f64();
    println!("submissions            {}", args.submissions);
    println!("events expected        {expected}");
    println!("events in the stream   {published}");
    println!(
        "sent in                {:.1} s ({:.0} submissions/s into {} SQS)",
        sent_in.as_secs_f64(),
        args.submissions as f64 / sent_in.as_secs_f64(),
        args.sqs
    );
    println!(
        "shape                  {}",
        if args.production {
            "production (HTTPS, round trips, signature checks, shard limits as set)"
        } else {
            "emulators as they are"
        }
    );
    println!("drained in             {:.1} s", elapsed.as_secs_f64());
    println!("collector throughput   {rate:.0} events/s");
    // The end-to-end ceiling is the slower emulator's: kinesalite's records, or the SQS
    // emulator's messages times the events they carry.
    let per_message = expected as f64 / args.submissions.max(1) as f64;
    let sqs_events = sqs_ceiling * per_message;
    let both = ceiling.min(sqs_events);
    println!("kinesis ceiling        {ceiling:.0} records/s (raw PutRecords loop, kinesalite)");
    println!(
        "sqs ceiling            {sqs_ceiling:.0} messages/s = {sqs_events:.0} events/s (raw receive + delete loop, {})",
        args.sqs
    );
    if expected == 0 {
        // Event-less submissions: only the SQS side works, so the ratio is of messages.
        let messages = args.submissions as f64 / elapsed.as_secs_f64();
        println!(
            "throughput / ceiling   {:.2} ({messages:.0} messages/s, of the SQS emulator's {sqs_ceiling:.0}/s)",
            messages / sqs_ceiling
        );
    } else {
        println!(
            "throughput / ceiling   {:.2} (of the slower emulator's, {both:.0}/s)",
            rate / both
        );
    }
    println!(
        "collector CPU          {:.2} s (user + sys)",
        cpu.as_secs_f64()
    );
    match published {
        0 => println!("CPU per event          - (no events)"),
        n => println!(
            "CPU per event          {:.2} us",
            cpu.as_secs_f64() * 1e6 / n as f64
        ),
    }
    println!(
        "CPU per message        {:.2} us",
        cpu.as_secs_f64() * 1e6 / args.submissions.max(1) as f64
    );
    match Progress::steady(&progress, args.submissions as f64) {
        Some((per_event, per_message)) => println!(
            "steady state           {} per event, {per_message:.2} us per message (CPU between 10 % and 90 % of the messages deleted: start-up and tail left out)",
            per_event.map_or("-".to_owned(), |us| format!("{us:.2} us"))
        ),
        None => println!("steady state           - (the drain was too short to sample)"),
    }
    println!("PutRecords p50         {}", seconds(put_p50));
    println!(
        "records per PutRecords {}",
        batch.map_or("-".to_owned(), |b| format!("{b:.0} (mean)"))
    );
    println!(
        "messages per call      {} per ReceiveMessage, {} per DeleteMessageBatch (means)",
        per_receive.map_or("-".to_owned(), |n| format!("{n:.1}")),
        per_delete.map_or("-".to_owned(), |n| format!("{n:.1}"))
    );
    println!(
        "peak RSS               {} (the largest collector's)",
        rss.map_or("-".to_owned(), |m| format!("{m:.1} MiB"))
    );
    gauges.print(args.collectors.max(1));
    print_refused(endpoints, published);
    kinesis_split.print("Kinesis ceiling", emulators);
    sqs_split.print("SQS ceiling", emulators);
    split.print("the drain", emulators);
    if published < expected {
        bail!("{} events missing", expected - published);
    }
    Ok(())
}

/// Offers load at `per_sec` submissions a second for `--duration` seconds while the collectors
/// run, then lets them drain, and reports what the stream took, the lag, and `verify`.
async fn offered(
    args: &Args,
    clients: &Clients,
    endpoints: &Endpoints,
    per_sec: f64,
) -> Result<()> {
    let queue_url = create_queue_and_stream(clients, "submissions", "events", args.shards).await?;
    let collectors = start_collectors(args, &collector_env(endpoints))?;
    let stop = CancellationToken::new();
    let offer = Offer {
        per_sec,
        events_per_type: args.min_events..=args.max_events,
        devices: args.devices,
        hot_share: args.hot_share,
        seed: 42,
    };
    eprintln!(
        "offering {per_sec} submissions/s for {} s to {} collector(s)...",
        args.duration,
        collectors.len()
    );
    let started_ms = offered_load::now_ms();
    let started = Instant::now();
    let (offered, feeder) =
        offered_load::start(offer, clients.sqs.clone(), queue_url.clone(), stop.clone());
    let warmup_ms = started_ms + (args.warmup * 1000.0) as u64;
    let end_ms = started_ms + (args.duration * 1000.0) as u64;
    let mut gauges = Gauges::default();
    let mut cpu_at_warmup = None;
    let throttled_now = || endpoints.refused().map(|(throttled, _)| throttled);
    let mut throttled_at_warmup = None;
    let mut resharded_ms = None;
    while started.elapsed().as_secs_f64() < args.duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if started.elapsed().as_secs_f64() >= args.warmup {
            cpu_at_warmup.get_or_insert_with(|| cpu_of(&collectors));
            throttled_at_warmup.get_or_insert_with(throttled_now);
            gauges.sample(&collectors).await;
        }
        if let (Some(to), None) = (args.reshard_to, resharded_ms) {
            if started.elapsed().as_secs_f64() >= args.reshard_at {
                eprintln!("resharding to {to} shards...");
                resharded_ms = Some(offered_load::now_ms());
                reshard(&clients.kinesis, "events", to).await?;
            }
        }
    }
    let cpu_in_window = cpu_of(&collectors).saturating_sub(cpu_at_warmup.unwrap_or_default());
    let throttled_in_window = throttled_now()
        .zip(throttled_at_warmup.flatten())
        .map(|(end, start)| end.saturating_sub(start));
    stop.cancel();
    feeder.await?;
    eprintln!("offered load stopped; draining...");
    let drained = Instant::now();
    while telemetry_aws::queue::depth(&clients.sqs, &queue_url).await? != (0, 0) {
        if drained.elapsed() > Duration::from_secs(600) {
            bail!("the queue did not drain within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drain_secs = drained.elapsed().as_secs_f64();
    let (lag_p50, lag_p99) = collectors_lag(&collectors).await;
    let batch = mean_batch(&collectors).await;
    let round_trip = put_records_p50(&collectors).await;
    for c in collectors {
        c.stop(Duration::from_secs(30)).await;
    }

    let shards = telemetry_aws::stream::read_all(&clients.kinesis, "events").await?;
    let offered = offered
        .lock()
        .map_err(|_| anyhow::anyhow!("the feeder panicked"))?;
    // After a resharding a submission may straddle a parent and its child: checked as a reader
    // that reads parents first sees the stream.
    let report = match args.reshard_to {
        Some(_) => verify::verify(
            &offered.manifest,
            &[telemetry_aws::stream::as_one_sequence(&shards)],
        ),
        None => verify::verify(&offered.manifest, &shards),
    };
    let window = (warmup_ms, end_ms);
    let window_secs = (end_ms - warmup_ms) as f64 / 1000.0;
    let in_window = |at: &u64| (window.0..window.1).contains(at);
    let accepted: usize = shards
        .iter()
        .map(|s| s.arrived_ms.iter().filter(|at| in_window(at)).count())
        .sum();
    let total_records: usize = shards.iter().map(|s| s.records.len()).sum();
    let offered_events: usize = offered.manifest.iter().map(|e| e.events.len()).sum();
    let offered_rate = offered_events as f64 / args.duration;
    let mut lags = offered_load::lag(&offered, &shards, window);
    println!("offered                {per_sec} submissions/s for {} s: {} submissions, {offered_events} events ({offered_rate:.0}/s)", args.duration, offered.manifest.len());
    let capacity = shard_limits(args).map(|l| {
        l.records_per_sec * f64::from(args.reshard_to.unwrap_or(args.shards).max(args.shards))
    });
    let rate = accepted as f64 / window_secs;
    match capacity {
        Some(c) => println!(
            "accepted               {rate:.0} records/s after the warm-up = {:.3} of the stream's capacity ({c:.0}/s)",
            rate / c
        ),
        None => println!("accepted               {rate:.0} records/s after the warm-up"),
    }
    println!(
        "per shard (records/s)  {}",
        per_shard(&shards, window, window_secs)
    );
    if args.reshard_to.is_none() {
        // Everything offered reaches the stream in the end: a shard's records over the time
        // they were offered in is its offered rate (a hot device's shard gets more).
        let offered_by_shard: Vec<String> = shards
            .iter()
            .map(|s| {
                let id = s.shard_id.trim_start_matches("shardId-");
                format!("{id} {:.0}", s.records.len() as f64 / args.duration)
            })
            .collect();
        println!("offered per shard      {}", offered_by_shard.join(", "));
    }
    if let Some(at) = resharded_ms {
        println!(
            "resharded at           {:.1} s; throughput by second after it: {}",
            (at - started_ms) as f64 / 1000.0,
            by_second(&shards, at, end_ms)
        );
    }
    println!(
        "lag from outside       p50 {} p99 {} (queue arrival to the last event's arrival in the stream; {} submissions sent after the warm-up)",
        seconds(offered_load::quantile(&mut lags, 0.5)),
        seconds(offered_load::quantile(&mut lags, 0.99)),
        lags.len()
    );
    println!(
        "collectors' own lag    p50 {} p99 {} (submission_lag_seconds, the whole run)",
        seconds(lag_p50),
        seconds(lag_p99)
    );
    match accepted {
        0 => println!("CPU per event          - (no events accepted after the warm-up)"),
        n => println!(
            "CPU per event          {:.2} us (collectors, after the warm-up)",
            cpu_in_window.as_secs_f64() * 1e6 / n as f64
        ),
    }
    println!("drained after the load {drain_secs:.1} s");
    println!(
        "PutRecords p50         {} (the round trip a submission pays per event)",
        seconds(round_trip)
    );
    println!(
        "records per PutRecords {}",
        batch.map_or("-".to_owned(), |b| format!("{b:.0} (mean)"))
    );
    gauges.print(args.collectors.max(1));
    print_refused(endpoints, total_records);
    if let Some(throttled) = throttled_in_window {
        println!(
            "throttled after warm-up {throttled} ({:.2} per 100 accepted in the same window)",
            throttled as f64 * 100.0 / accepted.max(1) as f64
        );
    }
    println!(
        "verify                 {} lost, {} out of order, {} duplicates ({})",
        report.events_lost,
        report.order_violations,
        report.duplicates,
        if report.passed() { "passed" } else { "FAILED" }
    );
    if !report.passed() {
        bail!("verify failed:\n{report}");
    }
    Ok(())
}

/// Records per second each shard accepted in `window`, by shard.
fn per_shard(shards: &[ShardRecords], window: (u64, u64), secs: f64) -> String {
    shards
        .iter()
        .map(|s| {
            let n = s
                .arrived_ms
                .iter()
                .filter(|at| (window.0..window.1).contains(at))
                .count();
            format!(
                "{} {:.0}",
                s.shard_id.trim_start_matches("shardId-"),
                n as f64 / secs
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records the stream accepted in each second from `from` to `to` (epoch ms).
fn by_second(shards: &[ShardRecords], from: u64, to: u64) -> String {
    let seconds = ((to.saturating_sub(from)) / 1000) as usize;
    let mut counts = vec![0usize; seconds.max(1)];
    for at in shards.iter().flat_map(|s| &s.arrived_ms) {
        if *at >= from && *at < to {
            if let Some(c) = counts.get_mut(((at - from) / 1000) as usize) {
                *c += 1;
            }
        }
    }
    counts
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits every open shard of `stream` in two at the middle of its range until it has `to`
/// (kinesalite reshards for real but has no UpdateShardCount), then waits until it is active.
async fn reshard(kinesis: &aws_sdk_kinesis::Client, stream: &str, to: i32) -> Result<()> {
    loop {
        let shards = telemetry_aws::stream::list_shards(kinesis, stream).await?;
        let open = telemetry_aws::shard_map::ShardMap::open(&shards);
        if open.ranges().len() >= usize::try_from(to).unwrap_or(0) {
            return Ok(());
        }
        let Some((widest, middle)) = open.widest_split() else {
            bail!("the stream has no open shard");
        };
        kinesis
            .split_shard()
            .stream_name(stream)
            .shard_to_split(widest)
            .new_starting_hash_key(middle.to_string())
            .send()
            .await?;
        telemetry_localenv::resources::wait_active(kinesis, stream).await?;
    }
}
