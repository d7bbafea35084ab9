//! Creating the queue and the stream a run needs, filling the queue, and waiting until the
//! stream is active.

use std::time::Duration;

use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::StreamExt;
use telemetry_aws::Clients;

/// Why the resources could not be created.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CreateError(String);

/// Creates the queue (returning its URL) and a stream of `shards` shards, and waits up to
/// 30 s for the stream to be active.
pub async fn create_queue_and_stream(
    clients: &Clients,
    queue: &str,
    stream: &str,
    shards: i32,
) -> Result<String, CreateError> {
    let url = clients
        .sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .map_err(|e| CreateError(format!("CreateQueue {queue}: {e:?}")))?
        .queue_url
        .ok_or_else(|| CreateError(format!("CreateQueue {queue} returned no URL")))?;
    create_stream(clients, stream, shards).await?;
    Ok(url)
}

/// Creates a stream of `shards` shards and waits up to 30 s for it to be active.
pub async fn create_stream(
    clients: &Clients,
    stream: &str,
    shards: i32,
) -> Result<(), CreateError> {
    clients
        .kinesis
        .create_stream()
        .stream_name(stream)
        .shard_count(shards)
        .send()
        .await
        .map_err(|e| CreateError(format!("CreateStream {stream}: {e:?}")))?;
    wait_active(&clients.kinesis, stream).await
}

/// Waits up to 30 s for `stream` to be active (after its creation, or a reshard).
pub async fn wait_active(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &str,
) -> Result<(), CreateError> {
    for _ in 0..600 {
        let out = kinesis
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await;
        if out
            .ok()
            .and_then(|o| o.stream_description_summary)
            .is_some_and(|d| d.stream_status == StreamStatus::Active)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(CreateError(format!(
        "stream {stream} did not become active within 30 s"
    )))
}

/// Sends `bodies` to the queue at `url`, ten to a SendMessageBatch, eight calls at a time (so
/// the queue's order is not the bodies' order). Fails if a call or any entry of it fails.
pub async fn fill<S: AsRef<str>>(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    bodies: &[S],
) -> Result<(), CreateError> {
    let calls = bodies.chunks(10).map(|chunk| {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(b.as_ref())
                    .build()
                    .ok()
            })
            .collect();
        sqs.send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
    });
    let answers = futures::stream::iter(calls)
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    for answer in answers {
        let answer = answer.map_err(|e| CreateError(format!("SendMessageBatch {url}: {e:?}")))?;
        if !answer.failed.is_empty() {
            return Err(CreateError(format!(
                "SendMessageBatch {url}: entries failed: {:?}",
                answer.failed
            )));
        }
    }
    Ok(())
}
