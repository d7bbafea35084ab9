//! The lean clients against the emulators (kinesalite for Kinesis, moto for SQS) over HTTP:
//! round trips, and the same error codes as the SDK path for the same failures.
//!
//! The lean clients are built from one `SdkConfig` whose per-service endpoint URLs (what
//! `AWS_ENDPOINT_URL_KINESIS` and `AWS_ENDPOINT_URL_SQS` set) point at the two emulators, so
//! the per-service endpoint lookup is exercised too.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use aws_types::SdkConfig;
use telemetry_aws::{error_code, Clients};
use telemetry_aws_lean::transport::Transport;
use telemetry_aws_lean::{
    BatchEntry, EntryOutcome, FailureKind, LeanClients, Receive, Record, RecordOutcome,
};
use telemetry_localenv::emulators::{self, Emulator};
use telemetry_localenv::resources::create_queue_and_stream;
use uuid::Uuid;

/// Per-service endpoint URLs, as `AWS_ENDPOINT_URL_<SERVICE>` would give them.
#[derive(Debug)]
struct ServiceEndpoints {
    sqs: String,
    kinesis: String,
}

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        match (key.service_id(), key.env()) {
            ("SQS", "AWS_ENDPOINT_URL") => Some(self.sqs.clone()),
            ("Kinesis", "AWS_ENDPOINT_URL") => Some(self.kinesis.clone()),
            _ => None,
        }
    }
}

struct Env {
    _sqs: Emulator,
    _kinesis: Emulator,
    admin: Clients,
    lean: LeanClients,
    queue_url: String,
    stream_name: String,
}

async fn sdk_config(endpoints: ServiceEndpoints) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await
        .to_builder()
        .service_config(endpoints)
        .build()
}

async fn start() -> Env {
    let (sqs, kinesis) =
        tokio::task::spawn_blocking(|| (emulators::moto(), emulators::kinesalite()))
            .await
            .unwrap();
    let (sqs, kinesis) = (sqs.expect("moto"), kinesis.expect("kinesalite"));
    let admin = Clients::for_endpoints(&sqs.url(), &kinesis.url()).await;
    let suffix = &Uuid::new_v4().simple().to_string()[..12];
    let stream_name = format!("events-{suffix}");
    let queue_url = create_queue_and_stream(&admin, &format!("q-{suffix}"), &stream_name, 2)
        .await
        .unwrap();
    let sdk = sdk_config(ServiceEndpoints {
        sqs: sqs.url(),
        kinesis: kinesis.url(),
    })
    .await;
    let lean = LeanClients::from_sdk_config(&sdk).await.unwrap();
    Env {
        _sqs: sqs,
        _kinesis: kinesis,
        admin,
        lean,
        queue_url,
        stream_name,
    }
}

#[tokio::test]
async fn put_records_round_trip() {
    let env = start().await;
    let keys: Vec<String> = (0..20).map(|i| format!("device-{i}")).collect();
    let data: Vec<Vec<u8>> = (0..20u8)
        .map(|i| {
            let mut d = format!(r#"{{"event":{i},"text":"quote \" and \\ "}}"#).into_bytes();
            d.extend(0..=i.saturating_mul(12));
            d
        })
        .collect();
    let records: Vec<Record<'_>> = keys
        .iter()
        .zip(&data)
        .map(|(k, d)| Record {
            partition_key: k,
            data: d,
        })
        .collect();
    let outcomes = env
        .lean
        .kinesis
        .put_records(&env.stream_name, &records)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 20);
    assert!(
        outcomes.iter().all(
            |o| matches!(o, RecordOutcome::Acked(Some(shard)) if shard.starts_with("shardId-"))
        ),
        "every record acknowledged with the shard that took it: {outcomes:?}"
    );

    let mut stored: Vec<(String, Vec<u8>)> =
        telemetry_aws::stream::read_all(&env.admin.kinesis, &env.stream_name)
            .await
            .unwrap()
            .into_iter()
            .flat_map(|s| s.records)
            .collect();
    stored.sort();
    let mut sent: Vec<(String, Vec<u8>)> = keys.into_iter().zip(data).collect();
    sent.sort();
    assert_eq!(
        stored, sent,
        "every record stored once, byte for byte, with its key"
    );
}

#[tokio::test]
async fn receive_change_visibility_and_delete_round_trip() {
    let env = start().await;
    let bodies = [r#"{"a":"quote \" here"}"#, "plain", "line\nbreak é"];
    for body in bodies {
        env.admin
            .sqs
            .send_message()
            .queue_url(&env.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let receive = Receive {
        queue_url: &env.queue_url,
        max_messages: 10,
        visibility_timeout_secs: 300,
        wait_time_secs: 1,
    };
    let received = receive_all(&env, receive, bodies.len()).await;
    let mut got: Vec<&str> = received
        .iter()
        .map(|m| m.body.as_deref().unwrap())
        .collect();
    got.sort_unstable();
    let mut want = bodies.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
    for m in &received {
        assert!(m.message_id.is_some());
        assert!(m.sent_timestamp_ms.is_some_and(|t| t > 1_600_000_000_000));
    }

    // Hand them back (visibility 0): they can be received again at once.
    let ids: Vec<String> = (0..received.len()).map(|i| i.to_string()).collect();
    let entries = batch(&received, &ids);
    let changed = env
        .lean
        .sqs
        .change_visibility_batch(&env.queue_url, &entries, 0)
        .await
        .unwrap();
    assert_eq!(changed, vec![EntryOutcome::Done; entries.len()]);
    let again = receive_all(&env, receive, bodies.len()).await;

    // Delete them, with one receipt SQS cannot know beside them.
    let mut entries = batch(&again, &ids);
    entries.push(BatchEntry {
        id: "bogus",
        receipt_handle: "not-a-receipt-handle",
    });
    let deleted = env
        .lean
        .sqs
        .delete_batch(&env.queue_url, &entries)
        .await
        .unwrap();
    assert_eq!(deleted[..3], vec![EntryOutcome::Done; 3]);
    assert!(
        matches!(&deleted[3], EntryOutcome::Refused(code) if code == "ReceiptHandleIsInvalid"),
        "{:?}",
        deleted[3]
    );
    let (visible, in_flight) = telemetry_aws::queue::depth(&env.admin.sqs, &env.queue_url)
        .await
        .unwrap();
    assert_eq!((visible, in_flight), (0, 0));
}

/// A batch entry for each message, with the ids given.
fn batch<'a>(
    messages: &'a [telemetry_aws_lean::Message],
    ids: &'a [String],
) -> Vec<BatchEntry<'a>> {
    messages
        .iter()
        .zip(ids)
        .map(|(m, id)| BatchEntry {
            id,
            receipt_handle: m.receipt_handle.as_deref().unwrap(),
        })
        .collect()
}

/// Receives until `n` messages are in (moto may spread them over several calls).
async fn receive_all(
    env: &Env,
    receive: Receive<'_>,
    n: usize,
) -> Vec<telemetry_aws_lean::Message> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut all = Vec::new();
    while all.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "got {} of {n}",
            all.len()
        );
        all.extend(env.lean.sqs.receive(receive).await.unwrap());
    }
    assert_eq!(all.len(), n);
    all
}

#[tokio::test]
async fn a_missing_stream_or_queue_gives_the_sdks_code() {
    let env = start().await;
    let lean = env
        .lean
        .kinesis
        .put_records(
            "no-such-stream",
            &[Record {
                partition_key: "k",
                data: b"x",
            }],
        )
        .await
        .unwrap_err();
    let sdk = env
        .admin
        .kinesis
        .put_records()
        .stream_name("no-such-stream")
        .records(
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key("k")
                .data(aws_sdk_kinesis::primitives::Blob::new(b"x".to_vec()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(lean.code, error_code(&sdk));
    assert_eq!(lean.code, "ResourceNotFoundException");
    assert_eq!(lean.kind, FailureKind::Sender);

    let missing_queue = env.queue_url.replace("/q-", "/missing-q-");
    let lean = env
        .lean
        .sqs
        .receive(Receive {
            queue_url: &missing_queue,
            max_messages: 1,
            visibility_timeout_secs: 30,
            wait_time_secs: 0,
        })
        .await
        .unwrap_err();
    let sdk = env
        .admin
        .sqs
        .receive_message()
        .queue_url(&missing_queue)
        .send()
        .await
        .unwrap_err();
    assert_eq!(lean.code, error_code(&sdk));
    assert_eq!(lean.kind, FailureKind::Sender);
    let lean_delete = env
        .lean
        .sqs
        .delete_batch(
            &missing_queue,
            &[BatchEntry {
                id: "0",
                receipt_handle: "r",
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(lean_delete.code, lean.code);
}

#[tokio::test]
async fn no_answer_is_a_lost_call() {
    // Refused: nothing listens on the port.
    let port = emulators::free_port().unwrap();
    let sdk = sdk_config(ServiceEndpoints {
        sqs: format!("http://127.0.0.1:{port}"),
        kinesis: format!("http://127.0.0.1:{port}"),
    })
    .await;
    let lean = LeanClients::from_sdk_config(&sdk).await.unwrap();
    let err = lean
        .kinesis
        .put_records(
            "s",
            &[Record {
                partition_key: "k",
                data: b"x",
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str()),
        (FailureKind::Lost, "connection")
    );

    // Timed out: a listener that takes the connection and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url: http::Uri = format!("http://{}/", silent.local_addr().unwrap())
        .parse()
        .unwrap();
    let transport = Transport::new(Duration::from_millis(300)).unwrap();
    let request = http::Request::post(url)
        .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
        .unwrap();
    let err = transport.send(request).await.unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str()),
        (FailureKind::Lost, "timeout")
    );
}
