//! Order within a submission, for a submission far larger than one PutRecords batch, published
//! while other submissions share the requests.

use std::time::Duration;

use crate::support::submissions::valid;
use crate::support::{assert_published, by_submission, TestEnv, SDK};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_of_1200_events_is_published_whole_and_in_order() {
    a_submission_of_1200_events_is_published_whole_and_in_order_with(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_of_1200_events_is_published_whole_and_in_order_through_the_sdk() {
    a_submission_of_1200_events_is_published_whole_and_in_order_with(SDK).await;
}

async fn a_submission_of_1200_events_is_published_whole_and_in_order_with(client: &[&str]) {
    let env = TestEnv::start(2).await;
    let big = valid(600, 600);
    let small: Vec<_> = (0..20).map(|_| valid(4, 4)).collect();
    let mut bodies = vec![big.body.clone()];
    bodies.extend(small.iter().map(|s| s.body.clone()));
    env.send(&bodies).await;
    // A small batch size makes the other submissions' records share requests with the big one;
    // four receive loops take the submissions concurrently (moto may then deliver one twice,
    // which the order check tolerates: duplicates carry the same ids).
    let collector = env
        .collector(
            &[
                client,
                &["--data-stream-max-buffer-size=7", "--queue-receivers=4"],
            ]
            .concat(),
        )
        .await;

    env.wait_for_records(1_200 + 20 * 8, Duration::from_secs(120))
        .await;
    env.wait_queue_empty(Duration::from_secs(30)).await;
    let stats = collector.stop().await;

    let seen = by_submission(&env.stream_events().await);
    assert_published(&seen, &big);
    for s in &small {
        assert_published(&seen, s);
    }
    assert!(stats.submissions_published >= 21, "{stats:?}");
}
