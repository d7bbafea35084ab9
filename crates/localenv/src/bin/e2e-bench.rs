//! End-to-end benchmark: the release collector against the emulators, at the emulators' pace.
//!
//! It measures, in one run on one machine:
//! 1. the emulator's own ceiling: a raw PutRecords loop (8 requests of 500 realistic records in
//!    flight) against kinesalite, in records/s;
//! 2. the collector: N submissions are sent to the SQS emulator first; then a release
//!    `telemetry-collector` drains them into kinesalite. Events/s from its start to the empty
//!    queue, and the collector process's CPU time (user + sys, from /proc) per event.
//!
//! With `--sdk-call-cost` it only measures the client CPU of one small SDK call, the floor
//! under the per-event figure (a message costs a share of a ReceiveMessage and a
//! DeleteMessageBatch whatever its size).
//!
//! Run: `scripts/bench-e2e.sh` (builds the release binaries, then runs this with its defaults).

use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use clap::Parser;
use futures::StreamExt;
use telemetry_aws::Clients;
use telemetry_fleet::generator::Fleet;
use telemetry_fleet::profile::Profile;
use telemetry_localenv::resources::{create_queue_and_stream, create_stream};
use telemetry_localenv::{cpu, emulators};
use telemetry_model::{PartitionKeySource, Submission};
use telemetry_process::config::{parse_or_exit, Settings};

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
    /// The SQS emulator: `localstack` (steady about 2,000 msg/s here; needs
    /// `scripts/install-emulators.sh --localstack`) or `moto` (slows down as the queue grows).
    #[arg(long, default_value = "localstack")]
    sqs: String,
    /// Only measure the CPU cost of one small SDK call (GetQueueUrl, ListStreams) and exit.
    #[arg(long)]
    sdk_call_cost: bool,
    /// The collector binary.
    #[arg(long, default_value = "target/release/telemetry-collector")]
    collector: std::path::PathBuf,
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
async fn ceiling(clients: &Clients, shards: i32, secs: u64) -> Result<f64> {
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
        for data in r.data {
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
    Ok(acked.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
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
    let clients = Clients::for_endpoints(&sqs_emulator.url(), &kinesis_emulator.url()).await;

    if args.sdk_call_cost {
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
        .await?;
        return Ok(());
    }
    eprintln!(
        "measuring the emulator's ceiling ({} s raw PutRecords loop)...",
        args.ceiling_secs
    );
    let ceiling = ceiling(&clients, args.shards, args.ceiling_secs).await?;

    let queue_url = create_queue_and_stream(&clients, "submissions", "events", args.shards).await?;
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
    let sent = futures::stream::iter(bodies.chunks(10).map(|chunk| {
        let (sqs, url) = (clients.sqs.clone(), queue_url.clone());
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(b)
                    .build()
                    .ok()
            })
            .collect();
        async move {
            sqs.send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
        }
    }))
    .buffer_unordered(8)
    .collect::<Vec<_>>()
    .await;
    if let Some(Err(e)) = sent.into_iter().find(Result::is_err) {
        bail!("sending failed: {e:?}");
    }
    let sent_in = started.elapsed();

    // The queue is full before the collector starts, so it runs at its (and the emulators')
    // pace from its first receive, with no sender competing for the two cores.
    eprintln!("draining with the collector...");
    let log = std::fs::File::create(std::env::temp_dir().join("e2e-bench-collector.log"))?;
    let mut collector = std::process::Command::new(&args.collector)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_ENDPOINT_URL_SQS", sqs_emulator.url())
        .env("AWS_ENDPOINT_URL_KINESIS", kinesis_emulator.url())
        .env("SUMMARY_INTERVAL_SEC", "5")
        .stdout(log)
        .spawn()
        .context("start the collector")?;
    let pid = collector.id();

    let started = Instant::now();
    loop {
        if telemetry_aws::queue::depth(&clients.sqs, &queue_url).await? == (0, 0) {
            break;
        }
        if started.elapsed() > Duration::from_secs(1_800) {
            bail!("the queue did not drain within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let cpu = cpu::cpu_time(pid).context("collector CPU time")?;
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    collector.wait()?;

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
    println!("drained in             {:.1} s", elapsed.as_secs_f64());
    println!("collector throughput   {rate:.0} events/s");
    println!("emulator ceiling       {ceiling:.0} records/s (raw PutRecords loop, kinesalite)");
    println!("throughput / ceiling   {:.2}", rate / ceiling);
    println!(
        "collector CPU          {:.2} s (user + sys)",
        cpu.as_secs_f64()
    );
    println!(
        "CPU per event          {:.2} us",
        cpu.as_secs_f64() * 1e6 / published.max(1) as f64
    );
    if published < expected {
        bail!("{} events missing", expected - published);
    }
    Ok(())
}
