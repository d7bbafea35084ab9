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

/// The queue's approximate message counts: (visible, in flight).
pub async fn depth(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<
    (u64, u64),
    SdkError<
        aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesError,
        aws_sdk_sqs::config::http::HttpResponse,
    >,
> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?;
    let attrs = out.attributes.unwrap_or_default();
    let get = |k: A| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((
        get(A::ApproximateNumberOfMessages),
        get(A::ApproximateNumberOfMessagesNotVisible),
    ))
}
