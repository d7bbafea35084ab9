//! Start-up: wait for the queue and the stream, with backoff, logging one line per change of
//! state rather than an error per try (the seed logged errors until its queue existed).

use std::future::Future;

use aws_sdk_kinesis::types::StreamStatus;
use telemetry_aws::error_code;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;

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
pub async fn wait_for_queue(
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
pub async fn wait_for_stream(
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
