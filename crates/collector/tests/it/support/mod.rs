//! Test support: emulators, proxies, fresh queue and stream names, the collector in-process or
//! as a process, and the checks of the guarantees on what the stream holds.

#![allow(dead_code)] // each test uses a part

pub mod http;
pub mod process;
pub mod scenario;
pub mod submissions;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde_json::Value;
use telemetry_aws::Clients;
use telemetry_collector::{Collector, Config, Snapshot, Stats};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use submissions::Valid;
use telemetry_localenv::emulators::{self, Emulator};
use telemetry_localenv::profile::Profile;
use telemetry_localenv::proxy::Proxy;
use telemetry_localenv::resources::create_queue_and_stream;
use telemetry_localenv::signature::SignatureCheck;

/// Waiting with a deadline, as every suite of the workspace waits: `wait_until` checks every
/// 50 ms, `wait_every` at a chosen interval.
pub use telemetry_localenv::wait::{every as wait_every, until as wait_until};

/// The flags that put a collector's hot calls on the AWS SDK instead of the lean client (the
/// default): the tests of each guarantee run on both paths.
pub const SDK: &[&str] = &["--aws-client=sdk"];

/// Emulators with a proxy in front of each, a fresh queue and a fresh stream.
pub struct TestEnv {
    pub sqs_emulator: Emulator,
    pub kinesis_emulator: Emulator,
    pub sqs_proxy: Proxy,
    pub kinesis_proxy: Proxy,
    /// Clients straight to the emulators, for setting up and checking.
    pub admin: Clients,
    pub queue_name: String,
    pub queue_url: String,
    pub stream_name: String,
}

impl TestEnv {
    /// Starts everything; the stream has `shards` shards.
    pub async fn start(shards: i32) -> TestEnv {
        // TEST_LOG=debug shows the collector's logs of a failing test.
        if let Ok(filter) = std::env::var("TEST_LOG") {
            telemetry_process::logging::init(&filter);
        }
        // TEST_SQS=localstack puts SQS on LocalStack (installed by `scripts/install-emulators.sh
        // --localstack`), whose SQS keeps its pace with a deep queue, where moto slows down.
        let localstack = std::env::var("TEST_SQS").is_ok_and(|v| v == "localstack");
        let (sqs_emulator, kinesis_emulator) = tokio::task::spawn_blocking(move || {
            let sqs = if localstack {
                emulators::localstack_sqs()
            } else {
                emulators::moto()
            };
            (sqs, emulators::kinesalite())
        })
        .await
        .expect("emulators");
        let sqs_emulator = sqs_emulator.expect("the SQS emulator");
        let kinesis_emulator = kinesis_emulator.expect("kinesalite");
        // Every call the collector makes is checked as AWS checks it (SigV4 with the test
        // credentials): on both client paths, a request AWS would refuse fails here too.
        let checked = Profile {
            signatures: Some(SignatureCheck::test_credentials()),
            ..Profile::emulator()
        };
        let sqs_proxy = Proxy::builder(sqs_emulator.addr)
            .profile(checked.clone())
            .start()
            .await
            .expect("sqs proxy");
        let kinesis_proxy = Proxy::builder(kinesis_emulator.addr)
            .profile(checked)
            .start()
            .await
            .expect("kinesis proxy");
        let admin = Clients::for_endpoints(&sqs_emulator.url(), &kinesis_emulator.url()).await;
        let suffix = Uuid::new_v4().simple().to_string();
        let queue_name = format!("submissions-{}", &suffix[..12]);
        let stream_name = format!("events-{}", &suffix[..12]);
        let queue_url = create_queue_and_stream(&admin, &queue_name, &stream_name, shards)
            .await
            .expect("queue and stream");
        TestEnv {
            sqs_emulator,
            kinesis_emulator,
            sqs_proxy,
            kinesis_proxy,
            admin,
            queue_name,
            queue_url,
            stream_name,
        }
    }

    /// A collector configuration for this queue and stream, fast for tests, with `extra` flags.
    pub fn config(&self, extra: &[&str]) -> Config {
        let mut args = vec![
            "telemetry-collector".to_owned(),
            format!("--queue-name={}", self.queue_name),
            format!("--stream-name={}", self.stream_name),
            "--queue-wait-time-sec=1".to_owned(),
            "--queue-receipts-to-delete-interval-sec=0.1".to_owned(),
            "--summary-interval-sec=1".to_owned(),
            "--shutdown-grace-period-sec=10".to_owned(),
            // A port of its own, so collectors of tests running at once never collide.
            "--http-addr=127.0.0.1:0".to_owned(),
            // moto's SQS can hand one message to two concurrent ReceiveMessage calls (and then
            // lose track of another): tests that count deliveries exactly use one receive
            // loop. Tests of concurrent receiving pass --queue-receivers and tolerate duplicates.
            "--queue-receivers=1".to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        Config::from_args(args).unwrap_or_else(|e| panic!("test config: {e:?}"))
    }

    /// Clients for the collector: through the proxies.
    pub async fn collector_clients(&self) -> Clients {
        Clients::for_endpoints(&self.sqs_proxy.url(), &self.kinesis_proxy.url()).await
    }

    /// Starts an in-process collector.
    pub async fn collector(&self, extra: &[&str]) -> RunningCollector {
        let config = self.config(extra);
        let clients = self.collector_clients().await;
        RunningCollector::start(config, clients).await
    }

    /// Sends bodies with SendMessageBatch, ten at a time.
    pub async fn send<S: AsRef<str>>(&self, bodies: &[S]) {
        send_to(&self.admin.sqs, &self.queue_url, bodies).await;
    }

    /// Messages (visible, in flight) in the queue, as SQS counts them.
    pub async fn queue_counts(&self) -> (u64, u64) {
        telemetry_aws::queue::depth(&self.admin.sqs, &self.queue_url)
            .await
            .expect("queue attributes")
    }

    /// Every record in the stream: (shard id, parsed event), shard by shard.
    pub async fn stream_events(&self) -> Vec<(String, Value)> {
        let shards = telemetry_aws::stream::read_all(&self.admin.kinesis, &self.stream_name)
            .await
            .expect("read stream");
        shards
            .into_iter()
            .flat_map(|s| {
                let id = s.shard_id;
                s.records.into_iter().map(move |(_, data)| {
                    (
                        id.clone(),
                        serde_json::from_slice(&data).expect("record is JSON"),
                    )
                })
            })
            .collect()
    }

    /// Waits until the stream holds at least `n` records.
    pub async fn wait_for_records(&self, n: usize, within: Duration) {
        // Reading the whole stream loads the emulator: not more than four times a second.
        wait_every(
            Duration::from_millis(250),
            &format!("{n} records in the stream"),
            within,
            || async {
                let shards =
                    telemetry_aws::stream::read_all(&self.admin.kinesis, &self.stream_name).await;
                shards.is_ok_and(|s| s.iter().map(|s| s.records.len()).sum::<usize>() >= n)
            },
        )
        .await;
    }

    /// Fails the test if a proxy refused a request's signature: every call the collector made
    /// must be one AWS would accept.
    pub fn assert_signatures_accepted(&self) {
        for (service, proxy) in [("SQS", &self.sqs_proxy), ("Kinesis", &self.kinesis_proxy)] {
            let refused = proxy.injected().bad_signatures;
            assert_eq!(refused, 0, "{service} refused {refused} signatures");
        }
    }

    /// Waits until the queue holds no message, visible or in flight.
    pub async fn wait_queue_empty(&self, within: Duration) {
        wait_until("the queue to be empty", within, || async {
            self.queue_counts().await == (0, 0)
        })
        .await;
    }
}

/// Sends bodies to a queue with SendMessageBatch, ten at a time; fails the test on any failure.
pub async fn send_to<S: AsRef<str>>(sqs: &aws_sdk_sqs::Client, queue_url: &str, bodies: &[S]) {
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(b.as_ref())
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("send to the emulator");
        assert!(out.failed.is_empty(), "send failed: {:?}", out.failed);
    }
}

/// A collector running in this process.
pub struct RunningCollector {
    /// Its HTTP listener (`/metrics`, `/healthz`, `/readyz`).
    pub addr: std::net::SocketAddr,
    pub stats: Arc<Stats>,
    pub token: CancellationToken,
    pub handle: tokio::task::JoinHandle<Snapshot>,
}

impl RunningCollector {
    /// Builds a collector (its listener on the port `config` names, 0 in tests) and runs it
    /// until [`RunningCollector::stop`].
    pub async fn start(config: Config, clients: Clients) -> RunningCollector {
        let collector = Collector::build(config, clients)
            .await
            .expect("the collector builds");
        let token = CancellationToken::new();
        RunningCollector {
            addr: collector.address(),
            stats: collector.stats(),
            token: token.clone(),
            handle: tokio::spawn(collector.run_until_stopped(token.cancelled_owned())),
        }
    }

    /// Signals shutdown and waits for the drain to end.
    pub async fn stop(self) -> Snapshot {
        self.token.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("collector stops")
            .expect("collector task")
    }
}

/// What the stream shows for one submission.
#[derive(Debug, Default)]
pub struct Seen {
    pub shards: std::collections::HashSet<String>,
    /// Event ids in stream order, duplicates included.
    pub ids: Vec<String>,
    /// Events by id (last seen).
    pub events: HashMap<String, Value>,
}

/// Groups the stream's events by submission id.
pub fn by_submission(events: &[(String, Value)]) -> HashMap<String, Seen> {
    let mut map: HashMap<String, Seen> = HashMap::new();
    for (shard, e) in events {
        let sub = e["submission_id"].as_str().unwrap_or_default().to_owned();
        let seen = map.entry(sub).or_default();
        seen.shards.insert(shard.clone());
        let id = e["event_id"].as_str().unwrap_or_default().to_owned();
        seen.ids.push(id.clone());
        seen.events.insert(id, e.clone());
    }
    map
}

/// Asserts the contract for one valid submission: complete, on one shard, first occurrences in
/// document order, exactly the contract's fields, ids as the name-based rule gives them.
pub fn assert_published(seen: &HashMap<String, Seen>, v: &Valid) {
    let s = seen
        .get(&v.submission_id.to_string())
        .unwrap_or_else(|| panic!("submission {} not in the stream", v.submission_id));
    assert_eq!(
        s.shards.len(),
        1,
        "all events of {} on one shard",
        v.submission_id
    );
    let mut first = Vec::new();
    for id in &s.ids {
        if !first.contains(id) {
            first.push(id.clone());
        }
    }
    let expected: Vec<String> = (0..v.events.len())
        .map(|i| {
            telemetry_model::event_id::event_id(
                v.device_id,
                v.submission_id,
                u32::try_from(i).expect("fits"),
            )
            .to_string()
        })
        .collect();
    assert_eq!(
        first, expected,
        "first occurrences of {} in document order, with stable ids",
        v.submission_id
    );
    for (i, id) in expected.iter().enumerate() {
        let e = &s.events[id];
        let want = &v.events[i];
        assert_eq!(e["type"], want.event_type);
        assert_eq!(e["type_specific_data"], want.type_specific_data);
        assert_eq!(e["device_id"], v.device_id.to_string());
        assert_eq!(e["time_created"], "2021-03-28T15:44:18.592840");
        assert_eq!(
            e.as_object().map(|o| o.len()),
            Some(7),
            "exactly seven fields"
        );
        let t = e["time_processed"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(t).is_ok(),
            "time_processed {t}"
        );
    }
}
