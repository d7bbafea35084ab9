//! What the three hot calls cost in the lean client, beside the SDK's cost for the same work.
//!
//! Run: `cargo bench -p telemetry-aws-lean --bench hot_calls` (or with a filter, such as
//! `-- call/`). Throughput is in elements/s, where an element is one record (PutRecords) or
//! one message (ReceiveMessage, the batches), so per-element times read directly.
//!
//! - `put_records/*`, `receive/*`, `batch/*`: writing a request body and reading an answer,
//!   with fleet-shaped data (`sensor-fleet`'s default profile: 3-5 events of each type per
//!   submission; each PutRecords carries one record from each of 100 submissions, as the
//!   publisher batches them; each ReceiveMessage answer carries 10 submissions).
//! - `sigv4/*`: signing one request: the lean signer (cached key), the parts it is made of,
//!   and `aws_sigv4::http_request::sign` (what the SDK runs), for a 40 KiB body.
//! - `call/*`: a whole call, SDK and lean, to a local HTTP server on the same thread that
//!   answers at once with a canned answer: request building, signing, HTTP/1.1 on a kept-alive
//!   loopback connection, parsing. The server's own work is in both figures alike.
//! - `client_cpu/*`: the same calls with the server on a thread of its own, timed by the
//!   client thread's CPU time: the client's own cost per call, what the collector would pay.
//! - `*/bare_exchange` (in `call/` and `client_cpu/`): the floor under each lean call, the same
//!   request bytes sent through the lean client's transport and the answer collected, with
//!   nothing written, signed or parsed: what HTTP/1.1 on loopback and the wake-up cost alone.
//! - `*/raw_tcp`: under that, the same request bytes written to a kept-alive TCP connection and
//!   the answer read by hand: the kernel's loopback and the runtime's wake-up, without hyper.
//! - `*/hyper_in_task`: the same bytes on a hyper HTTP/1.1 connection that the calling task
//!   drives itself (no pool, no connection task): what a transport of that shape would save.
//! - `client_cpu_by_batch/*`: a lean PutRecords and its bare exchange with 25 to 500 records,
//!   client CPU as in `client_cpu/`: the cost of a call whatever its size, and what a record adds.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::region::Region;
use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use telemetry_aws_lean::kinesis::{put_records_len, read_put_records, write_put_records};
use telemetry_aws_lean::signing::Signer;
use telemetry_aws_lean::sqs::{read_batch, read_receive, write_batch, write_receive};
use telemetry_aws_lean::transport::Transport;
use telemetry_aws_lean::{kinesis, sqs};
use telemetry_aws_lean::{BatchEntry, LeanClients, Receive, Record};
use telemetry_fleet::generator::Fleet;
use telemetry_fleet::profile::Profile;
use telemetry_localenv::cpu::thread_cpu_time;
use telemetry_model::record::time_processed_now;
use telemetry_model::{PartitionKeySource, Records, Submission};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RECORDS_PER_PUT: usize = 100;
const MESSAGES_PER_RECEIVE: usize = 10;

/// Fleet-shaped SQS message bodies, as `sensor-fleet` sends them by default.
fn fleet_bodies(n: usize) -> Vec<String> {
    let profile = Profile {
        events_per_type: 3..=5,
        broken: Vec::new(),
    };
    let mut fleet = Fleet::new(n, profile, 7);
    (0..n).map(|_| fleet.next_submission().body).collect()
}

/// The records of each body, as the receiver makes them.
fn fleet_records(bodies: &[String]) -> Vec<Records> {
    let now = time_processed_now();
    bodies
        .iter()
        .map(|b| {
            Submission::decode(b.as_bytes())
                .and_then(|s| s.explode(&now, PartitionKeySource::DeviceId))
                .expect("valid fleet submission")
        })
        .collect()
}

/// The first record of each submission, as the publisher puts one record of each submission in
/// a request.
fn first_records(records: &[Records]) -> Vec<Record<'_>> {
    records
        .iter()
        .map(|r| Record {
            partition_key: &r.partition_key,
            data: r.get(0).unwrap_or_default(),
        })
        .collect()
}

/// A PutRecords answer for `n` records.
fn put_records_answer(n: usize) -> String {
    let results: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"SequenceNumber":"4963298{i:050}","ShardId":"shardId-00000000000{}"}}"#,
                i % 2
            )
        })
        .collect();
    format!(
        r#"{{"FailedRecordCount":0,"Records":[{}]}}"#,
        results.join(",")
    )
}

/// A ReceiveMessage answer carrying `bodies`.
fn receive_answer(bodies: &[String]) -> String {
    let messages: Vec<String> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            serde_json::json!({
                "Attributes": {"SentTimestamp": "1700000000123"},
                "Body": body,
                "MD5OfBody": "0f8d0d2f4b9c5d7c5a0b1e2f3a4b5c6d",
                "MessageId": format!("5fea7756-0ea4-451a-a703-a558b933e{i:03}"),
                "ReceiptHandle": format!("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{i:0>200}"),
            })
            .to_string()
        })
        .collect();
    format!(r#"{{"Messages":[{}]}}"#, messages.join(","))
}

fn batch_answer(n: usize) -> String {
    let ok: Vec<String> = (0..n).map(|i| format!(r#"{{"Id":"{i}"}}"#)).collect();
    format!(r#"{{"Successful":[{}],"Failed":[]}}"#, ok.join(","))
}

fn receipts(n: usize) -> (Vec<String>, Vec<String>) {
    (
        (0..n).map(|i| i.to_string()).collect(),
        (0..n)
            .map(|i| format!("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{i:0>200}"))
            .collect(),
    )
}

fn entries<'a>(ids: &'a [String], receipts: &'a [String]) -> Vec<BatchEntry<'a>> {
    ids.iter()
        .zip(receipts)
        .map(|(id, r)| BatchEntry {
            id,
            receipt_handle: r,
        })
        .collect()
}

fn wire(c: &mut Criterion) {
    let bodies = fleet_bodies(RECORDS_PER_PUT);
    let records = fleet_records(&bodies);
    let batch = first_records(&records);
    let mut group = c.benchmark_group("put_records");
    group.throughput(Throughput::Elements(RECORDS_PER_PUT as u64));
    let mut buf = Vec::new();
    group.bench_function("write", |b| {
        b.iter(|| {
            buf.clear();
            buf.reserve(put_records_len("events", &batch));
            write_put_records(&mut buf, black_box("events"), black_box(&batch));
            black_box(&buf);
        })
    });
    let answer = put_records_answer(RECORDS_PER_PUT);
    group.bench_function("read", |b| {
        b.iter(|| read_put_records(black_box(answer.as_bytes()), RECORDS_PER_PUT).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("receive");
    group.throughput(Throughput::Elements(MESSAGES_PER_RECEIVE as u64));
    let answer = receive_answer(&bodies[..MESSAGES_PER_RECEIVE]);
    let receive = Receive {
        queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/submissions",
        max_messages: 10,
        visibility_timeout_secs: 30,
        wait_time_secs: 20,
    };
    group.bench_function("write", |b| {
        b.iter(|| {
            buf.clear();
            write_receive(&mut buf, black_box(&receive));
            black_box(&buf);
        })
    });
    group.bench_function("read", |b| {
        b.iter(|| read_receive(black_box(answer.as_bytes())).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(MESSAGES_PER_RECEIVE as u64));
    let (ids, handles) = receipts(MESSAGES_PER_RECEIVE);
    let batch_entries = entries(&ids, &handles);
    group.bench_function("write", |b| {
        b.iter(|| {
            buf.clear();
            write_batch(&mut buf, receive.queue_url, black_box(&batch_entries), None);
            black_box(&buf);
        })
    });
    let answer = batch_answer(MESSAGES_PER_RECEIVE);
    group.bench_function("read", |b| {
        b.iter(|| read_batch(black_box(answer.as_bytes()), &batch_entries).unwrap())
    });
    group.finish();
}

fn sigv4(c: &mut Criterion) {
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", Some("token".into()), None, "b");
    let body = vec![b'x'; 40 * 1024];
    let now = SystemTime::now();
    let length = body.len().to_string();
    let headers = [
        ("content-length", length.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("host", "kinesis.us-east-1.amazonaws.com"),
        ("x-amz-target", "Kinesis_20131202.PutRecords"),
    ];
    let signer = Signer::new("us-east-1", "kinesis");
    let mut group = c.benchmark_group("sigv4");
    group.bench_function("lean_sign_40KiB", |b| {
        b.iter(|| signer.sign(&credentials, now, black_box(&headers), black_box(&body)))
    });
    group.bench_function("lean_sign_empty", |b| {
        b.iter(|| signer.sign(&credentials, now, black_box(&headers), b""))
    });
    group.bench_function("generate_signing_key", |b| {
        b.iter(|| {
            let key = v4::generate_signing_key(black_box("secret"), now, "us-east-1", "kinesis");
            black_box(key.as_ref().to_vec())
        })
    });
    group.bench_function("calculate_signature", |b| {
        let key = v4::generate_signing_key("secret", now, "us-east-1", "kinesis");
        b.iter(|| v4::calculate_signature(key.as_ref(), black_box(&[b'a'; 150])))
    });
    let identity: Identity = credentials.clone().into();
    for (name, precomputed) in [
        ("sdk_sign_40KiB", false),
        ("sdk_sign_40KiB_precomputed_hash", true),
    ] {
        let hash = {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(&body);
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let params = v4::SigningParams::builder()
                    .identity(&identity)
                    .region("us-east-1")
                    .name("kinesis")
                    .time(now)
                    .settings(SigningSettings::default())
                    .build()
                    .unwrap()
                    .into();
                let body = if precomputed {
                    SignableBody::Precomputed(hash.clone())
                } else {
                    SignableBody::Bytes(&body)
                };
                let request = SignableRequest::new(
                    "POST",
                    "https://kinesis.us-east-1.amazonaws.com/",
                    headers.iter().copied(),
                    body,
                )
                .unwrap();
                black_box(aws_sigv4::http_request::sign(request, &params).unwrap())
            })
        });
    }
    group.finish();
}

/// A local server that answers every call at once with the canned answer for its target.
async fn canned_server(answers: Vec<(&'static str, String)>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answers: std::sync::Arc<Vec<(&'static str, Bytes)>> = std::sync::Arc::new(
        answers
            .into_iter()
            .map(|(t, a)| (t, Bytes::from(a)))
            .collect(),
    );
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let answers = answers.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let answers = answers.clone();
                    async move {
                        let target = request
                            .headers()
                            .get("x-amz-target")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        // Read the whole request, as a service does.
                        let _ = request.into_body().collect().await;
                        let answer = answers
                            .iter()
                            .find(|(t, _)| *t == target)
                            .map(|(_, a)| a.clone())
                            .unwrap_or_default();
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(answer)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// [`canned_server`] on a thread of its own, so that the calling thread's CPU time is the
/// client's alone. Detached: it serves until the benchmark process exits.
fn canned_server_thread(answers: Vec<(&'static str, String)>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let server = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        server.block_on(async {
            tx.send(canned_server(answers).await).unwrap();
            std::future::pending::<()>().await
        })
    });
    rx.recv().unwrap()
}

/// How a whole call is measured.
#[derive(Clone, Copy)]
enum Measure {
    /// Wall time, the server on the same thread: client and server work together.
    Wall,
    /// The client thread's CPU time, the server on a thread of its own: the client's work
    /// alone (`/proc/thread-self/stat`, 10 ms ticks, hence the long measurement).
    ClientCpu,
}

/// Runs `call` on `runtime` as `measure` says.
fn measure<F, Fut>(
    b: &mut criterion::Bencher<'_>,
    runtime: &tokio::runtime::Runtime,
    measure: Measure,
    call: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future,
{
    match measure {
        Measure::Wall => b.iter(|| black_box(runtime.block_on(call()))),
        Measure::ClientCpu => b.iter_custom(|iters| {
            let start = thread_cpu_time().expect("thread CPU time");
            for _ in 0..iters {
                black_box(runtime.block_on(call()));
            }
            thread_cpu_time().expect("thread CPU time") - start
        }),
    }
}

fn calls(c: &mut Criterion) {
    calls_measured(c, "call", Measure::Wall);
    calls_measured(c, "client_cpu", Measure::ClientCpu);
}

fn calls_measured(c: &mut Criterion, name: &str, how: Measure) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bodies = fleet_bodies(RECORDS_PER_PUT);
    let records = fleet_records(&bodies);
    let (ids, handles) = receipts(MESSAGES_PER_RECEIVE);
    let answers = vec![
        (kinesis::PUT_RECORDS, put_records_answer(RECORDS_PER_PUT)),
        (
            "AmazonSQS.ReceiveMessage",
            receive_answer(&bodies[..MESSAGES_PER_RECEIVE]),
        ),
        (
            "AmazonSQS.DeleteMessageBatch",
            batch_answer(MESSAGES_PER_RECEIVE),
        ),
    ];
    let addr = match how {
        Measure::Wall => runtime.block_on(canned_server(answers)),
        Measure::ClientCpu => canned_server_thread(answers),
    };
    let url = format!("http://{addr}");
    let (sdk, lean) = runtime.block_on(clients(&url));
    let queue_url = format!("{url}/123456789012/submissions");
    let (records, ids, handles, sdk, lean, queue_url) =
        (&records, &ids, &handles, &sdk, &lean, queue_url.as_str());

    let mut group = c.benchmark_group(name);
    match how {
        Measure::Wall => {
            group.measurement_time(Duration::from_secs(8));
        }
        Measure::ClientCpu => client_cpu_sampling(&mut group),
    }
    group.throughput(Throughput::Elements(RECORDS_PER_PUT as u64));
    group.bench_function(BenchmarkId::new("put_records", "sdk"), |b| {
        measure(b, &runtime, how, move || async move {
            // What the collector's KinesisSink does today: an owned entry per record.
            let entries = records
                .iter()
                .map(|r| {
                    aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                        .partition_key(r.partition_key.clone())
                        .data(aws_sdk_kinesis::primitives::Blob::new(
                            r.get(0).unwrap_or_default(),
                        ))
                        .build()
                        .unwrap()
                })
                .collect();
            let out = sdk
                .kinesis
                .put_records()
                .stream_name("events")
                .set_records(Some(entries))
                .send()
                .await
                .unwrap();
            out.records.len()
        })
    });
    group.bench_function(BenchmarkId::new("put_records", "lean"), |b| {
        measure(b, &runtime, how, move || async move {
            let batch = first_records(records);
            lean.kinesis.put_records("events", &batch).await.unwrap()
        })
    });
    group.throughput(Throughput::Elements(MESSAGES_PER_RECEIVE as u64));
    group.bench_function(BenchmarkId::new("receive", "sdk"), |b| {
        measure(b, &runtime, how, move || async move {
            let out = sdk
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
                )
                .wait_time_seconds(20)
                .visibility_timeout(30)
                .send()
                .await
                .unwrap();
            out.messages.map(|m| m.len())
        })
    });
    group.bench_function(BenchmarkId::new("receive", "lean"), |b| {
        measure(b, &runtime, how, move || async move {
            let receive = Receive {
                queue_url,
                max_messages: 10,
                visibility_timeout_secs: 30,
                wait_time_secs: 20,
            };
            lean.sqs.receive(receive).await.unwrap()
        })
    });
    group.bench_function(BenchmarkId::new("delete_batch", "sdk"), |b| {
        measure(b, &runtime, how, move || async move {
            let entries = ids
                .iter()
                .zip(handles)
                .map(|(id, r)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(id)
                        .receipt_handle(r)
                        .build()
                        .unwrap()
                })
                .collect();
            let out = sdk
                .sqs
                .delete_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
            out.successful.len()
        })
    });
    group.bench_function(BenchmarkId::new("delete_batch", "lean"), |b| {
        measure(b, &runtime, how, move || async move {
            let batch = entries(ids, handles);
            lean.sqs.delete_batch(queue_url, &batch).await.unwrap()
        })
    });
    // The floor under each lean call, two ways. `bare_exchange`: the same bytes exchanged
    // through the lean client's own transport (hyper-util's pooled client, hyper, the kernel's
    // loopback, the wake-up for the answer) with nothing written, signed or read (the request's
    // head is built per call as the lean client builds it, its body shared). `raw_tcp`: the same
    // bytes written to a kept-alive TCP connection and the answer read to its end by hand (its
    // `content-length`): the kernel's loopback and the runtime's wake-up alone.
    let transport = Transport::new(Duration::from_secs(10)).unwrap();
    let receive_body = {
        let mut buf = Vec::new();
        let receive = Receive {
            queue_url,
            max_messages: 10,
            visibility_timeout_secs: 30,
            wait_time_secs: 20,
        };
        write_receive(&mut buf, &receive);
        Bytes::from(buf)
    };
    let delete_body = {
        let mut buf = Vec::new();
        write_batch(&mut buf, queue_url, &entries(ids, handles), None);
        Bytes::from(buf)
    };
    let floors = [
        (
            "put_records",
            RECORDS_PER_PUT,
            kinesis::PUT_RECORDS,
            kinesis::CONTENT_TYPE,
            &[][..],
            put_records_body(records),
        ),
        (
            "receive",
            MESSAGES_PER_RECEIVE,
            sqs::RECEIVE_MESSAGE,
            sqs::CONTENT_TYPE,
            sqs::PROTOCOL_HEADERS,
            receive_body,
        ),
        (
            "delete_batch",
            MESSAGES_PER_RECEIVE,
            sqs::DELETE_MESSAGE_BATCH,
            sqs::CONTENT_TYPE,
            sqs::PROTOCOL_HEADERS,
            delete_body,
        ),
    ];
    let host = addr.to_string();
    for (call, elements, target, content_type, protocol, body) in floors {
        group.throughput(Throughput::Elements(elements as u64));
        let head = bare_head(&host, target, content_type, protocol);
        group.bench_function(BenchmarkId::new(call, "bare_exchange"), |b| {
            measure(b, &runtime, how, || {
                bare_exchange(&transport, &url, &head, &body)
            })
        });
        let raw = {
            let mut request = "POST / HTTP/1.1\r\n".to_owned();
            for (name, value) in &head {
                request.push_str(&format!("{name}: {value}\r\n"));
            }
            request.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
            let mut request = request.into_bytes();
            request.extend_from_slice(&body);
            let request = Bytes::from(request);
            let stream = connect(&runtime, addr);
            let conn = std::sync::Arc::new(tokio::sync::Mutex::new((stream, Vec::new())));
            move || {
                let (conn, request) = (std::sync::Arc::clone(&conn), request.clone());
                async move {
                    let mut conn = conn.lock().await;
                    let (stream, answer) = &mut *conn;
                    stream.write_all(&request).await.unwrap();
                    answer.clear();
                    read_answer(stream, answer).await
                }
            }
        };
        group.bench_function(BenchmarkId::new(call, "raw_tcp"), |b| {
            measure(b, &runtime, how, &raw)
        });
        let in_task = {
            let (url, head, body) = (url.as_str(), head.as_slice(), &body);
            let stream = connect(&runtime, addr);
            let (sender, conn) = runtime
                .block_on(hyper::client::conn::http1::handshake(TokioIo::new(stream)))
                .unwrap();
            let conn = std::sync::Arc::new(tokio::sync::Mutex::new((sender, conn)));
            move || {
                let request = bare_request(url, head, body);
                let conn = std::sync::Arc::clone(&conn);
                async move {
                    let mut guard = conn.lock().await;
                    let (sender, conn) = &mut *guard;
                    exchange_in_task(sender, conn, request).await
                }
            }
        };
        group.bench_function(BenchmarkId::new(call, "hyper_in_task"), |b| {
            measure(b, &runtime, how, &in_task)
        });
    }
    group.finish();
}

/// The SDK's and the lean clients, both for the service at `url` with fixed credentials.
async fn clients(url: &str) -> (telemetry_aws::Clients, LeanClients) {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "secret", None, None, "bench"))
        .endpoint_url(url)
        .load()
        .await;
    let sdk = telemetry_aws::Clients::from_sdk_config(&config);
    let lean = LeanClients::from_sdk_config(&config).await.unwrap();
    (sdk, lean)
}

/// Equal samples of about 0.75 s each, many 10 ms ticks of the thread's CPU clock apiece
/// (criterion's linear sampling starts with samples shorter than a tick, which read as zero).
fn client_cpu_sampling(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    group
        .sampling_mode(criterion::SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(15));
}

/// The head of a bare exchange: what the lean client sends for `target`, with a signature of
/// the right length that nothing computed.
fn bare_head<'a>(
    host: &'a str,
    target: &'a str,
    content_type: &'a str,
    protocol: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut head = vec![
        ("host", host),
        ("content-type", content_type),
        ("x-amz-target", target),
        ("x-amz-date", "20261130T120000Z"),
        ("authorization", BARE_AUTHORIZATION),
    ];
    head.extend_from_slice(protocol);
    head
}

/// The PutRecords body of the first record of each of `records`, written once for the bare
/// exchanges.
fn put_records_body(records: &[Records]) -> Bytes {
    let batch = first_records(records);
    let mut buf = Vec::with_capacity(put_records_len("events", &batch));
    write_put_records(&mut buf, "events", &batch);
    Bytes::from(buf)
}

/// One bare exchange: a request of `head` and `body` through `transport`; the answer's length.
async fn bare_exchange(
    transport: &Transport,
    url: &str,
    head: &[(&str, &str)],
    body: &Bytes,
) -> usize {
    let request = bare_request(url, head, body);
    transport.send(request).await.unwrap().body.len()
}

/// A kept-alive loopback connection to `addr`, as the raw and in-task floors use.
fn connect(runtime: &tokio::runtime::Runtime, addr: SocketAddr) -> tokio::net::TcpStream {
    let stream = runtime
        .block_on(tokio::net::TcpStream::connect(addr))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A request of `head` and `body` to `url`, built per call as the lean client builds its own
/// (the body shared, not copied).
fn bare_request(url: &str, head: &[(&str, &str)], body: &Bytes) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::post(url);
    for (name, value) in head {
        request = request.header(*name, *value);
    }
    request.body(Full::new(body.clone())).unwrap()
}

/// Records per PutRecords in `client_cpu_by_batch/`: the drains' batches at the emulators'
/// round trips (59-88 records), production's (120-155 at a PutRecords p50 of 45-50 ms), and up
/// to Kinesis' most.
const BATCH_SIZES: [usize; 5] = [25, 67, 150, 300, 500];

/// `client_cpu_by_batch/`: a lean PutRecords and its bare exchange at each of [`BATCH_SIZES`],
/// client CPU as in `client_cpu/`: what a call costs whatever its size, and what each record
/// adds. A batch holds at most one record per submission (the publisher's order rule), so its
/// size is the submissions with a record ready when a request goes: at a given intake
/// it grows with the time between a submission's steps (the round trip), which the collector
/// could only lengthen by making every submission wait.
fn batch_sizes(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let most = BATCH_SIZES.iter().copied().max().unwrap_or(0);
    let bodies = fleet_bodies(most);
    let records = fleet_records(&bodies);
    let mut group = c.benchmark_group("client_cpu_by_batch");
    client_cpu_sampling(&mut group);
    for n in BATCH_SIZES {
        // Each size on its own server, client and transport: nothing carried from the last.
        let transport = Transport::new(Duration::from_secs(10)).unwrap();
        let addr = canned_server_thread(vec![(kinesis::PUT_RECORDS, put_records_answer(n))]);
        let url = format!("http://{addr}");
        let (_, lean) = runtime.block_on(clients(&url));
        let records = &records[..n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("put_records_lean", n), |b| {
            measure(b, &runtime, Measure::ClientCpu, || async {
                let batch = first_records(records);
                lean.kinesis.put_records("events", &batch).await.unwrap()
            })
        });
        let body = put_records_body(records);
        let host = addr.to_string();
        let head = bare_head(&host, kinesis::PUT_RECORDS, kinesis::CONTENT_TYPE, &[]);
        group.bench_function(BenchmarkId::new("put_records_bare_exchange", n), |b| {
            measure(b, &runtime, Measure::ClientCpu, || {
                bare_exchange(&transport, &url, &head, &body)
            })
        });
    }
    group.finish();
}

/// One exchange on a hyper HTTP/1.1 connection driven by the calling task itself (no
/// connection task, no pool): the connection is polled while the answer is awaited and read.
async fn exchange_in_task(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    conn: &mut hyper::client::conn::http1::Connection<TokioIo<tokio::net::TcpStream>, Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
) -> usize {
    use std::future::Future;
    use std::task::Poll;
    std::future::poll_fn(|cx| {
        let _ = conn.poll_without_shutdown(cx);
        sender.poll_ready(cx)
    })
    .await
    .unwrap();
    let answer = sender.send_request(request);
    let mut answer = std::pin::pin!(async move {
        let response = answer.await.unwrap();
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .len()
    });
    std::future::poll_fn(|cx| {
        if let Poll::Ready(n) = answer.as_mut().poll(cx) {
            return Poll::Ready(n);
        }
        if let Poll::Ready(r) = conn.poll_without_shutdown(cx) {
            panic!("the connection ended: {r:?}");
        }
        Poll::Pending
    })
    .await
}

/// Reads one HTTP/1.1 answer with a `content-length` from `stream`, appending to `answer` (its
/// capacity kept from call to call, so that reading allocates nothing); the body's length.
async fn read_answer(stream: &mut tokio::net::TcpStream, answer: &mut Vec<u8>) -> usize {
    loop {
        answer.reserve(65_536);
        let n = stream.read_buf(answer).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        let Some(head) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head_text = std::str::from_utf8(&answer[..head])
            .unwrap()
            .to_ascii_lowercase();
        let length: usize = head_text
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-length:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        if answer.len() >= head + 4 + length {
            return length;
        }
    }
}

/// An `authorization` header of a signed request's length, for the bare exchanges.
const BARE_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKID/20261130/us-east-1/kinesis/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000";

criterion_group!(benches, wire, sigv4, calls, batch_sizes);
criterion_main!(benches);
