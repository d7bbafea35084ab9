//! A short code for an SDK error, bounded in the ways that matter for logs and metric labels.

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

/// The service's error code (`ProvisionedThroughputExceededException`, ...) when it sent one,
/// else the class of failure: `timeout`, `connection` (refused, reset, DNS), `http_<status>`,
/// `response` (unreadable reply) or `construction`. Works for every service's errors.
pub fn error_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> String {
    if let Some(code) = err.code() {
        // Codes come from the far side; keep a label bounded even if a proxy sends nonsense.
        return code.chars().take(64).collect();
    }
    match err {
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(f) if f.is_timeout() => "timeout".into(),
        SdkError::DispatchFailure(_) => "connection".into(),
        SdkError::ResponseError(_) => "response".into(),
        SdkError::ConstructionFailure(_) => "construction".into(),
        SdkError::ServiceError(e) => format!("http_{}", e.raw().status().as_u16()),
        _ => "unknown".into(),
    }
}
