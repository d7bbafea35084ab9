//! Creating the queue and the stream a run needs, and waiting until the stream is active.

use std::time::Duration;

use aws_sdk_kinesis::types::StreamStatus;
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
