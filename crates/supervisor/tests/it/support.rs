//! What the supervisor's tests share: an emulator with a fresh stream, the supervisor binary as
//! a child process with its JSON log, a single writer at a rate the test sets, and waiting for
//! a condition with a deadline.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_sdk_kinesis::Client;
use serde_json::Value;
use telemetry_localenv::child::Child;
use telemetry_localenv::emulators::{self, Emulator};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_shard-supervisor");

/// An emulator holding a fresh stream.
pub struct Env {
    pub emulator: Emulator,
    pub kinesis: Client,
    pub stream: String,
}

impl Env {
    /// moto server (it supports UpdateShardCount) with a stream of `shards` shards.
    pub async fn moto(shards: i32) -> Env {
        Env::start(
            emulators::moto().expect("moto: run scripts/install-emulators.sh"),
            shards,
        )
        .await
    }

    /// kinesalite (it reshards for real: a closed parent takes no writes) with a stream of
    /// `shards` shards.
    pub async fn kinesalite(shards: i32) -> Env {
        Env::start(
            emulators::kinesalite().expect("kinesalite: run scripts/install-emulators.sh"),
            shards,
        )
        .await
    }

    async fn start(emulator: Emulator, shards: i32) -> Env {
        static STREAMS: AtomicU64 = AtomicU64::new(0);
        let url = emulator.url();
        let clients = telemetry_aws::Clients::for_endpoints(&url, &url).await;
        // Unique in the process too, for the log file's name.
        let n = STREAMS.fetch_add(1, Ordering::Relaxed);
        let stream = format!("events-{}-{n}", std::process::id());
        telemetry_localenv::resources::create_stream(&clients, &stream, shards)
            .await
            .expect("create stream");
        Env {
            emulator,
            kinesis: clients.kinesis,
            stream,
        }
    }

    /// Open shards, as DescribeStreamSummary says.
    pub async fn open_shards(&self) -> i32 {
        open_shards(&self.kinesis, &self.stream).await
    }

    /// Waits until the stream has `n` open shards; returns how long it took.
    pub async fn wait_open_shards(&self, n: i32, within: Duration) -> Duration {
        wait_open_shards(&self.kinesis, &self.stream, n, within).await
    }
}

/// Open shards of `stream`, as DescribeStreamSummary says.
pub async fn open_shards(kinesis: &Client, stream: &str) -> i32 {
    kinesis
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .expect("DescribeStreamSummary")
        .stream_description_summary
        .expect("summary")
        .open_shard_count
}

/// Waits until `stream` has `n` open shards; returns how long it took.
pub async fn wait_open_shards(
    kinesis: &Client,
    stream: &str,
    n: i32,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    wait_until(&format!("{n} open shards"), within, || async {
        (open_shards(kinesis, stream).await == n).then_some(())
    })
    .await;
    started.elapsed()
}

/// Polls a check every 50 ms until it holds (`true`, or `Some` of what it gives back),
/// failing the test after a deadline: the workspace's one way to wait.
pub use telemetry_localenv::wait::until as wait_until;

/// The settings every test starts from: short interval, window and cooldown, and shard limits
/// scaled down so that a modest load in an emulator is a full shard's worth.
pub const FAST: &[(&str, &str)] = &[
    ("SUPERVISOR_INTERVAL_SEC", "0.5"),
    ("SUPERVISOR_WINDOW_SEC", "2"),
    ("SUPERVISOR_COOLDOWN_SEC", "2"),
    ("SUPERVISOR_POLL_INTERVAL_SEC", "0.25"),
    ("SUPERVISOR_SHARD_RECORDS_PER_SEC", "100"),
    ("SUPERVISOR_MAX_SHARDS", "2"),
];

/// The supervisor binary, its stdout (the JSON log) in a file; killed when dropped, the log
/// kept when the test failed.
pub struct Supervisor {
    child: Child,
}

impl Supervisor {
    /// Starts the binary against `endpoint` and `stream` with `settings` (variables).
    pub fn spawn(endpoint: &str, stream: &str, settings: &[(&str, &str)]) -> Supervisor {
        let log = std::env::temp_dir().join(format!("shard-supervisor-{stream}.log"));
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_ENDPOINT_URL_KINESIS", endpoint)
            .env("STREAM_NAME", stream)
            .envs(settings.iter().copied());
        let child = Child::spawn(&mut cmd, log).expect("spawn shard-supervisor");
        Supervisor { child }
    }

    /// The log lines so far, parsed.
    pub fn lines(&self) -> Vec<Value> {
        self.child
            .log()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// The log lines whose message starts with `prefix`.
    pub fn lines_starting(&self, prefix: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["message"].as_str().is_some_and(|m| m.starts_with(prefix)))
            .collect()
    }

    /// Waits for a log line whose message starts with `prefix` and that `matches`.
    pub async fn wait_line(
        &self,
        prefix: &str,
        within: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_until(&format!("log line {prefix:?}"), within, || async {
            self.lines_starting(prefix).into_iter().find(&matches)
        })
        .await
    }

    /// The tick line that decided a split of one shard into two, once the call was logged:
    /// checked to say `above_high` on one open shard with a target of two.
    pub async fn split_line(&self) -> Value {
        self.scale_up_line(1, 2, Duration::from_secs(5)).await
    }

    /// The tick line that decided to go from `from` to `to` shards, once the call succeeded
    /// (within `within`): checked to say `above_high` with those counts.
    pub async fn scale_up_line(&self, from: u32, to: u32, within: Duration) -> Value {
        let line = self
            .wait_line(&format!("UpdateShardCount {from} -> {to}"), within, called)
            .await;
        assert_eq!(line["to"], to);
        let decided = self
            .lines_starting("average count is")
            .into_iter()
            .find(|l| l["decision"] == "scale_up")
            .expect("the tick line of the change");
        assert_eq!(decided["reason"], "above_high", "{decided}");
        assert_eq!(decided["open_shards"], from, "{decided}");
        assert_eq!(decided["target_shards"], to, "{decided}");
        decided
    }

    /// Sends `signal` (`-TERM`, `-INT`) and waits for the exit code.
    pub async fn stop(&mut self, signal: &str, within: Duration) -> Option<i32> {
        self.child.signal(signal).expect("kill");
        wait_until("exit", within, || {
            let exited = self.child.try_wait().expect("try_wait");
            async move { exited.map(|s| s.code()) }
        })
        .await
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

/// The log line of a call that succeeded (a failed one starts alike and ends "failed; ...").
pub fn called(line: &Value) -> bool {
    line["message"]
        .as_str()
        .is_some_and(|m| m.ends_with("called; the stream reshards"))
}

/// A fresh queue and stream, and the collector (the library its binary runs) between them.
pub struct CollectorRun {
    /// The queue it reads.
    pub queue_url: String,
    /// The stream it writes.
    pub stream: String,
    /// Its metrics and probes.
    pub metrics: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<telemetry_collector::Snapshot>,
}

impl CollectorRun {
    /// Creates a queue and a stream of `shards` shards named after `name` with `admin`, and
    /// starts a collector on them that calls AWS with `clients`, with `settings` (flags) added
    /// to the test's own.
    pub async fn start(
        name: &str,
        admin: &telemetry_aws::Clients,
        clients: &telemetry_aws::Clients,
        shards: i32,
        settings: &[&str],
    ) -> CollectorRun {
        let (queue, stream) = (
            format!("{name}-{}", std::process::id()),
            format!("{name}-events-{}", std::process::id()),
        );
        let queue_url =
            telemetry_localenv::resources::create_queue_and_stream(admin, &queue, &stream, shards)
                .await
                .expect("queue and stream");
        let (queue_flag, stream_flag) = (
            format!("--queue-name={queue}"),
            format!("--stream-name={stream}"),
        );
        let mut args = vec![
            "telemetry-collector",
            &queue_flag,
            &stream_flag,
            "--queue-wait-time-sec=1",
            "--queue-receipts-to-delete-interval-sec=0.1",
            "--summary-interval-sec=5",
            "--http-addr=127.0.0.1:0",
        ];
        args.extend_from_slice(settings);
        let config = telemetry_collector::Config::from_args(args).expect("collector settings");
        let collector = telemetry_collector::Collector::build(config, clients.clone())
            .await
            .expect("build the collector");
        let metrics = collector.address();
        let stop = CancellationToken::new();
        let task = tokio::spawn(collector.run_until_stopped(stop.clone().cancelled_owned()));
        CollectorRun {
            queue_url,
            stream,
            metrics,
            stop,
            task,
        }
    }

    /// Stops the collector and waits for it to finish.
    pub async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("collector task");
    }
}

/// One writer (moto loses records under concurrent PutRecords on a stream), at a set rate:
/// every 100 ms one PutRecords of `rate / 10` records, each with its own partition key
/// (`key-0` ... `key-{keys-1}`, in turn) and the key's next sequence number in its data, so
/// that a request holds at most one record per key and the write order of a key is certain.
pub struct Load {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    task: JoinHandle<Vec<(String, u64)>>,
}

/// A record's data: its key and its number for that key, padded to about 100 bytes.
pub fn record_data(key: &str, seq: u64) -> Vec<u8> {
    format!(
        "{{\"key\":\"{key}\",\"seq\":{seq},\"pad\":\"{}\"}}",
        "x".repeat(60)
    )
    .into_bytes()
}

/// Writes `entries` with one PutRecords, which must take them all.
pub async fn put_records(kinesis: &Client, stream: &str, entries: Vec<PutRecordsRequestEntry>) {
    let out = kinesis
        .put_records()
        .stream_name(stream)
        .set_records(Some(entries))
        .send()
        .await
        .expect("PutRecords");
    assert_eq!(out.failed_record_count.unwrap_or(0), 0, "no failed entry");
}

/// A PutRecords entry of [`record_data`] under partition key `key`.
pub fn entry(key: &str, seq: u64) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .partition_key(key)
        .data(Blob::new(record_data(key, seq)))
        .build()
        .expect("entry")
}

impl Load {
    /// Starts writing `rate` records per second over `keys` keys.
    pub fn start(kinesis: &Client, stream: &str, rate: u32, keys: u32) -> Load {
        let per_batch = (rate / 10).max(1);
        assert!(per_batch <= keys, "at most one record per key in a request");
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (kinesis, stream, flag) = (kinesis.clone(), stream.to_owned(), stop.clone());
        let counter = count.clone();
        let task = tokio::spawn(async move {
            let mut written = Vec::new();
            let mut next_seq = vec![0u64; keys as usize];
            let mut key = 0usize;
            let mut ticker = tokio::time::interval(Duration::from_millis(100));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !flag.load(Ordering::Relaxed) {
                ticker.tick().await;
                let mut batch = Vec::new();
                let mut entries = Vec::new();
                for _ in 0..per_batch {
                    let name = format!("key-{key}");
                    let seq = next_seq[key];
                    next_seq[key] += 1;
                    entries.push(entry(&name, seq));
                    batch.push((name, seq));
                    key = (key + 1) % keys as usize;
                }
                put_records(&kinesis, &stream, entries).await;
                counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
                written.extend(batch);
            }
            written
        });
        Load { stop, count, task }
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Waits until `n` more records are written.
    pub async fn wait_more(&self, n: u64, within: Duration) {
        let target = self.written() + n;
        wait_until(&format!("{n} more records written"), within, || async {
            (self.written() >= target).then_some(())
        })
        .await;
    }

    /// Stops after the request in flight; returns every record written, in write order.
    pub async fn stop(self) -> Vec<(String, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("writer")
    }
}
