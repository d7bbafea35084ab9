//! The manifest: one JSON line per submission sent.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What one submission must produce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The submission id as sent (may be broken).
    pub submission_id: String,
    /// The device id as sent (may be broken).
    pub device_id: String,
    /// `valid`, or the drop reason the collector must give it.
    pub kind: String,
    /// For a valid submission, its events in document order: `{"type", "type_specific_data"}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ExpectedEvent>,
}

/// One expected event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedEvent {
    /// `new_process` or `network_connection`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The type-specific data.
    pub type_specific_data: Value,
}

impl Entry {
    /// True for a valid submission.
    pub fn is_valid(&self) -> bool {
        self.kind == "valid"
    }
}
