//! `telemetry-stream tail` and `stats` against kinesalite: tail prints the events of every
//! shard, filtered by type; stats counts every record once.

// Test code panics on failed expectations by design.
#![allow(clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use telemetry_aws::Clients;
use telemetry_fleet::generator::Fleet;
use telemetry_fleet::profile::Profile;
use telemetry_localenv::emulators;
use telemetry_localenv::resources::create_stream;
use telemetry_model::{PartitionKeySource, Submission};

const BIN: &str = env!("CARGO_BIN_EXE_telemetry-stream");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_every_shard_with_filters_and_stats_counts_each_record() {
    let kinesis_emulator = emulators::kinesalite().expect("kinesalite");
    let clients = Clients::for_endpoints("http://127.0.0.1:9", &kinesis_emulator.url()).await;
    create_stream(&clients, "events", 2).await.expect("stream");
    let mut fleet = Fleet::new(
        8,
        Profile {
            broken: vec![],
            ..Profile::default()
        },
        5,
    );
    let (mut total, mut processes) = (0, 0);
    for _ in 0..10 {
        let s = Submission::decode(fleet.next_submission().body.as_bytes()).expect("valid");
        let r = s
            .explode(
                "2021-03-29T12:06:20.123+00:00",
                PartitionKeySource::DeviceId,
            )
            .expect("fits");
        total += r.len();
        processes += s
            .events()
            .iter()
            .filter(|e| e.event_type().as_str() == "new_process")
            .count();
        let entries = r
            .iter()
            .map(|d| {
                PutRecordsRequestEntry::builder()
                    .partition_key(&r.partition_key)
                    .data(Blob::new(d))
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = clients
            .kinesis
            .put_records()
            .stream_name("events")
            .set_records(Some(entries))
            .send()
            .await
            .expect("put");
        assert_eq!(out.failed_record_count, Some(0));
    }
    let env = [
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_ENDPOINT_URL_KINESIS", kinesis_emulator.url()),
    ];

    let stats = Command::new(BIN)
        .envs(env.clone())
        .arg("stats")
        .output()
        .expect("stats");
    assert!(stats.status.success());
    let text = String::from_utf8_lossy(&stats.stdout);
    let counted: usize = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|n| n.parse::<usize>().ok())
                .expect("a count per shard")
        })
        .sum();
    assert_eq!((text.lines().count(), counted), (2, total), "{text}");

    let mut tail = Command::new(BIN)
        .envs(env)
        .args(["tail", "--from-start", "--type", "new_process"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tail");
    let lines = tokio::task::spawn_blocking({
        let stdout = tail.stdout.take().expect("stdout");
        move || {
            BufReader::new(stdout)
                .lines()
                .take(processes)
                .collect::<Result<Vec<_>, _>>()
        }
    });
    let lines = tokio::time::timeout(Duration::from_secs(30), lines)
        .await
        .expect("tail printed in time")
        .expect("join")
        .expect("lines");
    let _ = tail.kill();
    let _ = tail.wait();
    assert_eq!(lines.len(), processes);
    for line in &lines {
        let e: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(e["type"], "new_process", "{line}");
    }
}
