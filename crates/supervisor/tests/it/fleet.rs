//! The whole path under a load that changes: the sensor fleet fills the queue, the collector
//! (in-process, the library the binary runs) publishes to a one-shard stream, and the
//! supervisor binary splits the stream while the fleet sends and merges it back once the fleet
//! stops. All on moto, which serves SQS and supports UpdateShardCount; the collector keeps one
//! PutRecords in flight, since moto loses records under concurrent PutRecords (events are not
//! checked here: the guarantees are the collector's suite's business).

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use telemetry_fleet::generator::Fleet;
use telemetry_fleet::profile::Profile;
use tokio_util::sync::CancellationToken;

use crate::support::{called, wait_open_shards, CollectorRun, Supervisor, FAST};

/// Fleet submissions per second: fleet-shaped (6 to 10 events each), about 200 events/s,
/// two shards' worth at the test's 100 records/s a shard.
const RATE: u64 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_follows_the_fleet_through_the_collector() {
    let moto =
        telemetry_localenv::emulators::moto().expect("moto: run scripts/install-emulators.sh");
    let url = moto.url();
    let clients = telemetry_aws::Clients::for_endpoints(&url, &url).await;
    let collector = CollectorRun::start(
        "submissions",
        &clients,
        &clients,
        1,
        &[
            "--queue-receivers=1",
            "--data-stream-max-requests-in-flight=1",
        ],
    )
    .await;
    let (queue_url, stream) = (collector.queue_url.clone(), collector.stream.clone());
    let mut supervisor = Supervisor::spawn(&url, &stream, FAST);

    let stop_fleet = CancellationToken::new();
    let fleet = {
        let (sqs, queue_url, stop) = (clients.sqs.clone(), queue_url.clone(), stop_fleet.clone());
        tokio::spawn(async move {
            let mut fleet = Fleet::new(20, Profile::default(), 7);
            // Ten submissions a batch, RATE a second.
            let mut ticks = tokio::time::interval(Duration::from_millis(10_000 / RATE));
            while !stop.is_cancelled() {
                ticks.tick().await;
                let entries = (0..10)
                    .map(|i| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(fleet.next_submission().body)
                            .build()
                            .expect("entry")
                    })
                    .collect();
                sqs.send_message_batch()
                    .queue_url(&queue_url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .expect("SendMessageBatch");
            }
        })
    };

    let started = Instant::now();
    let split = supervisor
        .wait_line("UpdateShardCount 1 -> 2", Duration::from_secs(90), called)
        .await;
    assert_eq!(split["to"], 2);
    wait_open_shards(&clients.kinesis, &stream, 2, Duration::from_secs(30)).await;
    let up_after = started.elapsed();
    let measured = supervisor
        .lines_starting("average count is")
        .into_iter()
        .find(|l| l["decision"] == "scale_up")
        .expect("the tick that decided to split");
    let rate = measured["records_per_sec"]
        .as_f64()
        .expect("records_per_sec");
    assert!(
        rate > 75.0,
        "the supervisor measured the fleet's events: {rate} records/s"
    );
    let bytes = measured["bytes_per_sec"].as_f64().expect("bytes_per_sec") / rate;

    stop_fleet.cancel();
    fleet.await.expect("fleet task");
    let stopped = Instant::now();
    supervisor
        .wait_line("UpdateShardCount 2 -> 1", Duration::from_secs(90), called)
        .await;
    wait_open_shards(&clients.kinesis, &stream, 1, Duration::from_secs(30)).await;
    println!(
        "fleet at {RATE} submissions/s: measured {rate:.0} events/s of {bytes:.0} bytes, split after {:.1} s; \
         merged {:.1} s after the fleet stopped",
        up_after.as_secs_f64(),
        stopped.elapsed().as_secs_f64()
    );

    collector.stop().await;
    assert_eq!(
        supervisor.stop("-TERM", Duration::from_secs(10)).await,
        Some(0)
    );
}
