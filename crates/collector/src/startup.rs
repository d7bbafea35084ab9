//! Start-up: wait for the queue and the stream, with backoff, logging one line per change of
//! state rather than an error per try (the seed logged errors until its queue existed).

use std::future::Future;

use aws_sdk_kinesis::types::StreamStatus;
use telemetry_aws::error_code;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use telemetry_aws::backoff::Backoff;

/// What start-up found.
#[derive(Debug)]
pub(crate) struct Found {
    /// The submissions queue's URL.
    pub(crate) queue_url: String,
    /// The dead-letter queue's URL, if one is set.
    pub(crate) dead_letter_url: Option<String>,
}

/// Waits for the queue, the dead-letter queue if one is set, and the stream, in that order.
/// `None` if `stop` fires first.
pub(crate) async fn wait_for_resources(
    config: &Config,
    clients: &telemetry_aws::Clients,
    stop: &CancellationToken,
) -> Option<Found> {
    let queue_url = wait_for_queue(&clients.sqs, &config.queue_name, stop).await?;
    let dead_letter_url = match &config.dead_letter_queue_name {
        Some(name) => Some(wait_for_queue(&clients.sqs, name, stop).await?),
        None => None,
    };
    wait_for_stream(&clients.kinesis, &config.stream_name, stop).await?;
    Some(Found {
        queue_url,
        dead_letter_url,
    })
}

/// Retries `check` until it gives `Ok`, logging each new reason for waiting once.
/// `None` if `stop` fires first.
async fn wait_for<T, F, Fut>(what: &str, stop: &CancellationToken, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let mut last: Option<String> = None;
    let mut attempt = 0u32;
    loop {
        let result = tokio::select! {
            () = stop.cancelled() => return None,
            r = check() => r,
        };
        match result {
            Ok(v) => {
                tracing::info!(resource = what, "{what} is ready");
                return Some(v);
            }
            Err(reason) => {
                if last.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(resource = what, reason = %reason, "waiting for {what}");
                    last = Some(reason);
                }
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    () = stop.cancelled() => return None,
                    () = tokio::time::sleep(Backoff::CALLS.delay(attempt)) => {}
                }
            }
        }
    }
}

/// Waits until the queue exists; returns its URL.
async fn wait_for_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    stop: &CancellationToken,
) -> Option<String> {
    wait_for(&format!("queue {name}"), stop, || async {
        telemetry_aws::queue::queue_url(sqs, name)
            .await
            .map_err(|e| error_code(&e))
    })
    .await
}

/// Waits until the stream accepts records (ACTIVE or UPDATING).
async fn wait_for_stream(
    kinesis: &aws_sdk_kinesis::Client,
    name: &str,
    stop: &CancellationToken,
) -> Option<()> {
    wait_for(&format!("stream {name}"), stop, || async {
        let out = kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .map_err(|e| error_code(&e))?;
        let status = out.stream_description_summary.map(|d| d.stream_status);
        match status {
            Some(StreamStatus::Active | StreamStatus::Updating) => Ok(()),
            Some(other) => Err(format!("stream is {}", other.as_str())),
            None => Err("no stream description".to_owned()),
        }
    })
    .await
}
