//! A message redelivered after a crash yields the same event ids, and the first occurrence of
//! each event on the shard still comes in document order.

use std::sync::Arc;
use std::time::Duration;

use telemetry_aws::Clients;
use telemetry_collector::{Collector, Stats};

use crate::support::submissions::valid;
use crate::support::{assert_published, by_submission, wait_until, TestEnv, SDK};

/// A collector in a runtime of its own, on its own thread, so that the test can crash it:
/// dropping the runtime drops every task where it stands, with no drain (like SIGKILL).
struct Crashable {
    stats: Arc<Stats>,
    kill: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn crashable(env: &TestEnv, extra: &[&str]) -> Crashable {
    let config = env.config(extra);
    let (sqs, kinesis) = (env.sqs_proxy.url(), env.kinesis_proxy.url());
    let (kill, killed) = std::sync::mpsc::channel::<()>();
    let (built, stats) = std::sync::mpsc::channel::<Arc<Stats>>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.spawn(async move {
            let clients = Clients::for_endpoints(&sqs, &kinesis).await;
            let collector = Collector::build(config, clients).await.expect("build");
            built.send(collector.stats()).expect("the test waits");
            collector.run_until_stopped(std::future::pending()).await;
        });
        let _ = killed.recv();
        runtime.shutdown_background();
    });
    let stats = stats.recv().expect("the collector is built");
    Crashable {
        stats,
        kill,
        thread,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_yields_the_same_ids_in_the_same_order() {
    a_redelivered_message_yields_the_same_ids_in_the_same_order_with(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_yields_the_same_ids_in_the_same_order_through_the_sdk() {
    a_redelivered_message_yields_the_same_ids_in_the_same_order_with(SDK).await;
}

async fn a_redelivered_message_yields_the_same_ids_in_the_same_order_with(client: &[&str]) {
    let env = TestEnv::start(1).await;
    let first = crashable(
        &env,
        &[client, &["--queue-visibility-timeout-sec=2"]].concat(),
    );
    let warm = valid(1, 1);
    env.send(&[&warm.body]).await;
    env.wait_for_records(2, Duration::from_secs(60)).await;
    env.wait_queue_empty(Duration::from_secs(30)).await;

    // Received while Kinesis is down; published while SQS is down, so it cannot be deleted;
    // then the collector crashes. SQS gives the message to the next collector.
    env.kinesis_proxy.set_up(false);
    let target = valid(5, 5);
    env.send(&[&target.body]).await;
    wait_until("the target received", Duration::from_secs(30), || async {
        first.stats.snapshot().received >= 2
    })
    .await;
    env.sqs_proxy.set_up(false);
    env.kinesis_proxy.set_up(true);
    env.wait_for_records(2 + 10, Duration::from_secs(60)).await;
    assert_eq!(
        first.stats.snapshot().deleted,
        1,
        "the target was published but not deleted"
    );
    first.kill.send(()).expect("kill");
    first.thread.join().expect("crashed collector thread");
    env.sqs_proxy.set_up(true);

    let second = env.collector(client).await;
    env.wait_for_records(2 + 20, Duration::from_secs(60)).await;
    env.wait_queue_empty(Duration::from_secs(30)).await;
    let stats = second.stop().await;
    assert_eq!(
        stats.received, 1,
        "the second collector got the redelivered message"
    );

    let seen = by_submission(&env.stream_events().await);
    assert_published(&seen, &target);
    let ids = &seen[&target.submission_id.to_string()].ids;
    assert_eq!(ids.len(), 20);
    assert_eq!(
        ids[..10],
        ids[10..],
        "the redelivery carries the same ids in the same order"
    );
}
