//! The tests' SQS emulator keeps every delete of DeleteMessageBatch calls made at once, as SQS
//! does: moto alone lost some (its message list rebuilt without a lock), which left deleted
//! messages invisible and made exact-count tests fail now and then;
//! `crates/localenv/moto_server.py` closes that race.

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use telemetry_aws::Clients;
use telemetry_localenv::{emulators, resources};

/// Messages in the queue: enough that rebuilding its list takes a while, so that calls at once
/// overlap in moto (without the fix, each run here lost some deletes).
const QUEUED: usize = 1_500;
/// Messages received and then deleted, ten per call, all calls at once.
const DELETED: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_batches_at_once_delete_every_message() {
    let moto = tokio::task::spawn_blocking(emulators::moto)
        .await
        .expect("spawn")
        .expect("moto");
    let clients = Clients::for_endpoints(&moto.url(), &moto.url()).await;
    let sqs = &clients.sqs;
    let url = sqs
        .create_queue()
        .queue_name("deletes")
        .send()
        .await
        .expect("create")
        .queue_url
        .expect("url");
    let bodies: Vec<String> = (0..QUEUED).map(|i| format!("m{i}")).collect();
    resources::fill(sqs, &url, &bodies).await.expect("fill");
    let mut handles = Vec::new();
    while handles.len() < DELETED {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .expect("receive");
        handles.extend(
            out.messages
                .unwrap_or_default()
                .into_iter()
                .filter_map(|m| m.receipt_handle),
        );
    }
    let calls = handles.chunks(10).map(|chunk| {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, h)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(h)
                    .build()
                    .expect("entry")
            })
            .collect();
        let sqs = sqs.clone();
        let url = url.clone();
        tokio::spawn(async move {
            sqs.delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("delete")
        })
    });
    let mut deleted = 0;
    for call in futures::future::join_all(calls).await {
        let out = call.expect("join");
        assert!(out.failed.is_empty(), "{:?}", out.failed);
        deleted += out.successful.len();
    }
    assert_eq!(deleted, handles.len());
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await
        .expect("attributes")
        .attributes
        .unwrap_or_default();
    assert_eq!(
        attributes
            .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .map(String::as_str),
        Some("0"),
        "every deleted message is gone, none left invisible"
    );
}
