//! What can go wrong: at start ([`SetupError`]) and on a call ([`CallError`]), with the same
//! short codes the SDK path gives (`telemetry_aws::error_code`), so logs and metric labels do
//! not change with the client.

use std::borrow::Cow;

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use serde::Deserialize;

/// Why a lean client could not be built from an SDK configuration.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The configuration lacks something `aws_config` always sets.
    #[error("the AWS SDK configuration has no {0}")]
    Missing(&'static str),
    /// No region: set AWS_REGION (or a profile's region).
    #[error("no AWS region is configured (set AWS_REGION)")]
    NoRegion,
    /// The SDK's endpoint resolver refused the settings, or gave an unusable endpoint.
    #[error("cannot resolve the {service} endpoint: {detail}")]
    Endpoint {
        /// `Kinesis` or `SQS`.
        service: &'static str,
        /// Why.
        detail: String,
    },
    /// The identity cache could not be set up.
    #[error("cannot set up AWS credentials: {0}")]
    Identity(String),
    /// TLS could not be set up.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// What kind of failure a call met, which decides what the caller does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The service refused the rate (a throttling code, or HTTP 429): retry later, slower.
    Throttled,
    /// The request was refused for what it is (HTTP 4xx: a missing queue or stream, access
    /// denied, expired credentials, a malformed request): the same request will fail again
    /// until something outside changes.
    Sender,
    /// The service failed (HTTP 5xx, or a transient code): retry.
    Server,
    /// No answer: the connection was refused, reset or dropped, or the attempt timed out. The
    /// request may or may not have been applied.
    Lost,
    /// An answer that could not be read, or whose results do not line up with the request.
    Unreadable,
    /// Nothing was sent: no credentials could be had.
    NotSent,
}

/// A call that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}")]
pub struct CallError {
    /// What kind of failure.
    pub kind: FailureKind,
    /// The short code: the service's error code when it sent one (at most 64 characters), else
    /// `timeout`, `connection`, `http_<status>`, `response` or `response_mismatch`.
    pub code: String,
}

impl CallError {
    pub(crate) fn new(kind: FailureKind, code: impl Into<String>) -> Self {
        CallError {
            kind,
            code: code.into(),
        }
    }

    pub(crate) fn timeout() -> Self {
        CallError::new(FailureKind::Lost, "timeout")
    }

    pub(crate) fn connection() -> Self {
        CallError::new(FailureKind::Lost, "connection")
    }

    pub(crate) fn unreadable() -> Self {
        CallError::new(FailureKind::Unreadable, "response")
    }

    /// Whether the service asked to slow down.
    pub fn is_throttling(&self) -> bool {
        self.kind == FailureKind::Throttled
    }
}

/// A code from the far side, bounded for logs and metric labels (as the SDK path bounds it).
pub(crate) fn bounded(code: &str) -> String {
    code.chars().take(64).collect()
}

/// The failure an AWS JSON error answer means, as the SDK reads it: the code from the
/// `x-amzn-errortype` header, else the body's `code`, else its `__type`, without a `prefix#`
/// or a `:suffix`; for SQS the code part of `x-amzn-query-error` (`Code;Sender`) wins, as it
/// does in the SDK. Without any code: `http_<status>`.
pub(crate) fn from_answer(
    status: u16,
    error_type: Option<&str>,
    query_error: Option<&str>,
    body: &[u8],
) -> CallError {
    let parsed: Option<ErrorBody<'_>> = serde_json::from_slice(body).ok();
    let body_code = parsed
        .as_ref()
        .and_then(|b| b.code.as_ref().or(b.type_.as_ref()));
    let query_code = query_error
        .and_then(|q| q.split_once(';'))
        .map(|(code, _)| code);
    let code = match (query_code, error_type, body_code) {
        (Some(code), _, _) => Some(Cow::Borrowed(code)),
        (None, Some(t), _) => Some(Cow::Borrowed(sanitize(t))),
        (None, None, Some(c)) => Some(Cow::Borrowed(sanitize(c))),
        (None, None, None) => None,
    };
    let kind = match &code {
        Some(c) if THROTTLING_ERRORS.contains(&c.as_ref()) => FailureKind::Throttled,
        Some(c) if TRANSIENT_ERRORS.contains(&c.as_ref()) => FailureKind::Server,
        _ if status == 429 => FailureKind::Throttled,
        _ if (400..500).contains(&status) => FailureKind::Sender,
        _ => FailureKind::Server,
    };
    let code = code.map_or_else(|| format!("http_{status}"), |c| bounded(&c));
    CallError { kind, code }
}

/// The SDK's `sanitize_error_code`: drop a trailing `:...` (a URL) and a leading `namespace#`.
fn sanitize(code: &str) -> &str {
    let code = code.split_once(':').map_or(code, |(c, _)| c);
    code.split_once('#').map_or(code, |(_, c)| c)
}

/// An AWS JSON error body; `message` is not kept (it may carry request details).
#[derive(Deserialize)]
struct ErrorBody<'a> {
    #[serde(borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "__type")]
    type_: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_is_stripped_of_its_namespace() {
        let e = from_answer(
            400,
            None,
            None,
            br#"{"__type":"com.amazonaws.kinesis#ResourceNotFoundException","message":"Stream x not found"}"#,
        );
        assert_eq!(
            e,
            CallError::new(FailureKind::Sender, "ResourceNotFoundException")
        );
    }

    #[test]
    fn sqs_query_error_header_wins() {
        let e = from_answer(
            400,
            None,
            Some("AWS.SimpleQueueService.NonExistentQueue;Sender"),
            br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
        );
        assert_eq!(
            e,
            CallError::new(
                FailureKind::Sender,
                "AWS.SimpleQueueService.NonExistentQueue"
            )
        );
    }

    #[test]
    fn header_code_then_body_code_then_type() {
        let body = br#"{"code":"BarError","__type":"FooError"}"#;
        assert_eq!(
            from_answer(400, Some("Baz:http://x"), None, body).code,
            "Baz"
        );
        assert_eq!(from_answer(400, None, None, body).code, "BarError");
    }

    #[test]
    fn throttling_and_faults_are_told_apart() {
        let throttled = from_answer(
            400,
            None,
            None,
            br#"{"__type":"ProvisionedThroughputExceededException"}"#,
        );
        assert_eq!(throttled.kind, FailureKind::Throttled);
        assert!(throttled.is_throttling());
        assert_eq!(
            from_answer(429, None, None, b"").kind,
            FailureKind::Throttled
        );
        assert_eq!(
            from_answer(503, None, None, b""),
            CallError::new(FailureKind::Server, "http_503")
        );
        assert_eq!(
            from_answer(500, None, None, br#"{"__type":"InternalFailure"}"#),
            CallError::new(FailureKind::Server, "InternalFailure")
        );
        assert_eq!(
            from_answer(403, None, None, b"<html>nonsense"),
            CallError::new(FailureKind::Sender, "http_403")
        );
    }

    #[test]
    fn codes_are_bounded() {
        let long = format!(r#"{{"__type":"{}"}}"#, "X".repeat(500));
        assert_eq!(from_answer(400, None, None, long.as_bytes()).code.len(), 64);
    }
}
