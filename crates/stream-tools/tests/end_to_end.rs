//! The whole path: the sensor fleet's generator (2,000 submissions, every broken kind) -> SQS
//! (moto) -> the collector -> Kinesis (kinesalite) -> `verify` against the fleet's manifest.
//! That `verify` can fail is shown by its unit tests on reordered, missing, split and broken
//! streams; here it must pass.

// Test code panics on failed expectations by design.
#![allow(clippy::expect_used, missing_docs)]

use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use telemetry_aws::Clients;
use telemetry_collector::{Collector, Config};
use telemetry_fleet::generator::Fleet;
use telemetry_fleet::profile::{breakable, Profile};
use telemetry_localenv::emulators;
use telemetry_localenv::resources::create_queue_and_stream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const SUBMISSIONS: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_to_collector_to_verify_passes() {
    let sqs_emulator = emulators::moto().expect("moto");
    let kinesis_emulator = emulators::kinesalite().expect("kinesalite");
    let clients = Clients::for_endpoints(&sqs_emulator.url(), &kinesis_emulator.url()).await;
    let queue_url = create_queue_and_stream(&clients, "submissions", "events", 2)
        .await
        .expect("resources");

    // Every broken kind, about 1 % each (13 %), the rest fleet-shaped.
    let profile = Profile {
        broken: breakable().map(|k| (k, 0.01)).collect(),
        ..Profile::default()
    };
    let mut fleet = Fleet::new(10, profile, 2026);
    let generated: Vec<_> = (0..SUBMISSIONS).map(|_| fleet.next_submission()).collect();
    let manifest: Vec<_> = generated.iter().map(|g| g.entry.clone()).collect();
    for kind in breakable() {
        assert!(
            manifest.iter().any(|e| e.kind == kind.as_str()),
            "the fleet produced {kind}"
        );
    }

    let config = Config::from_args([
        "telemetry-collector",
        "--queue-wait-time-sec=1",
        "--queue-receipts-to-delete-interval-sec=0.1",
        // One receive loop: moto's SQS can give one message to two concurrent receives.
        "--queue-receivers=1",
        "--http-addr=127.0.0.1:0",
    ])
    .expect("config");
    let collector = Collector::build(config, clients.clone())
        .await
        .expect("build the collector");
    let stats = collector.stats();
    let token = CancellationToken::new();
    let collector = tokio::spawn(collector.run_until_stopped(token.clone().cancelled_owned()));

    // Sent while the collector drains, at most 100 ahead of it: moto's SQS slows down as the
    // queue grows (17 messages/s at a depth of 1,000).
    for (n, chunk) in generated.chunks(10).enumerate() {
        let sent = (n * 10) as u64;
        let ahead = Instant::now() + Duration::from_secs(60);
        while sent > stats.snapshot().received + 100 {
            assert!(
                Instant::now() < ahead,
                "the collector stopped receiving: {:?}",
                stats.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, g)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&g.body)
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = clients
            .sqs
            .send_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        assert!(out.expect("send").failed.is_empty());
    }

    // Drained: every message deleted and the queue empty (a message redelivered after its
    // visibility ran out on a loaded machine is deleted twice, so the count alone is not enough).
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let deleted = stats.snapshot().deleted >= SUBMISSIONS as u64;
        if deleted
            && telemetry_aws::queue::depth(&clients.sqs, &queue_url)
                .await
                .is_ok_and(|depth| depth == (0, 0))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not drained in time: {:?}",
            stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    token.cancel();
    let final_stats = collector.await.expect("collector");

    let shards = telemetry_aws::stream::read_all(&clients.kinesis, "events")
        .await
        .expect("read");
    let report = telemetry_stream_tools::verify::verify(&manifest, &shards);
    assert!(report.passed(), "{report}");
    assert_eq!(report.valid_ok, report.valid_expected);
    assert_eq!(final_stats.dropped_total(), report.broken_expected as u64);
    println!("{report}");
}
