//! Queue names to URLs.

use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlError;

/// Resolves a queue name to its URL (GetQueueUrl).
pub async fn queue_url(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<String, SdkError<GetQueueUrlError, aws_sdk_sqs::config::http::HttpResponse>> {
    let out = sqs.get_queue_url().queue_name(name).send().await?;
    // A reply without a URL is a broken service; report it as the name, which fails clearly later.
    Ok(out.queue_url.unwrap_or_else(|| name.to_owned()))
}
