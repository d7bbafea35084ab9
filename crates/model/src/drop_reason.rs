//! Why a submission is dropped.
//!
//! The set is closed and small on purpose: the reason is a metric label and a log field, so it
//! must stay bounded whatever a sensor sends. The detail string says where and what, for humans.

use std::fmt;

/// The class of fault that makes a submission broken. Each rule and its reason:
/// `docs/contract.md`, "What makes a submission valid".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The message body is not standard, padded base64.
    BadBase64,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
    /// The text is not JSON (syntax error, nesting deeper than 128 levels).
    NotJson,
    /// The JSON is valid but the submission or an event is not a JSON object.
    NotObject,
    /// The same key appears twice in one object, so its value would be ambiguous.
    DuplicateField,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type (a `null` `cmdl`, a string where an array belongs, ...).
    WrongType,
    /// `submission_id` is not a hyphenated UUID.
    BadSubmissionId,
    /// `device_id` is not a hyphenated UUID.
    BadDeviceId,
    /// `time_created` is not an ISO 8601 date-time.
    BadTimeCreated,
    /// `source_ip` or `destination_ip` is not a dotted-quad IPv4 address.
    BadIp,
    /// `destination_port` is not an integer in 0..=65535.
    BadPort,
    /// `events` has a key that is not a known event type.
    UnknownEventType,
    /// One event, encoded, would exceed Kinesis' 1 MiB record limit.
    RecordTooLarge,
}

impl DropReason {
    /// Every reason, in a stable order (for metrics pre-registration and summaries).
    pub const ALL: [DropReason; 14] = [
        DropReason::BadBase64,
        DropReason::NotUtf8,
        DropReason::NotJson,
        DropReason::NotObject,
        DropReason::DuplicateField,
        DropReason::MissingField,
        DropReason::WrongType,
        DropReason::BadSubmissionId,
        DropReason::BadDeviceId,
        DropReason::BadTimeCreated,
        DropReason::BadIp,
        DropReason::BadPort,
        DropReason::UnknownEventType,
        DropReason::RecordTooLarge,
    ];

    /// The snake_case name used in logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::BadBase64 => "bad_base64",
            DropReason::NotUtf8 => "not_utf8",
            DropReason::NotJson => "not_json",
            DropReason::NotObject => "not_object",
            DropReason::DuplicateField => "duplicate_field",
            DropReason::MissingField => "missing_field",
            DropReason::WrongType => "wrong_type",
            DropReason::BadSubmissionId => "bad_submission_id",
            DropReason::BadDeviceId => "bad_device_id",
            DropReason::BadTimeCreated => "bad_time_created",
            DropReason::BadIp => "bad_ip",
            DropReason::BadPort => "bad_port",
            DropReason::UnknownEventType => "unknown_event_type",
            DropReason::RecordTooLarge => "record_too_large",
        }
    }

    /// Position in [`DropReason::ALL`], for array-indexed counters.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A broken submission: the reason (bounded) and a short human detail (where, and what was seen).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Invalid {
    /// The class of fault.
    pub reason: DropReason,
    /// Where it is and what was found; outside strings are quoted and cut to a few dozen bytes.
    pub detail: String,
}

impl Invalid {
    pub(crate) fn new(reason: DropReason, detail: impl Into<String>) -> Self {
        Invalid {
            reason,
            detail: detail.into(),
        }
    }
}

/// Quotes an outside string for a detail message, cut to at most `MAX` bytes on a char boundary,
/// so that a hostile megabyte-long value cannot bloat a log line.
pub(crate) fn quoted(value: &str) -> String {
    const MAX: usize = 48;
    if value.len() <= MAX {
        return format!("{value:?}");
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &value[..end], value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_reason_at_its_index() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{r}");
        }
    }

    #[test]
    fn quoted_cuts_long_values_on_a_char_boundary() {
        let long = "é".repeat(100);
        let q = quoted(&long);
        assert!(q.len() < 80, "{q}");
        assert!(q.ends_with("(200 bytes)"), "{q}");
        assert_eq!(quoted("a\"b"), "\"a\\\"b\"");
    }
}
