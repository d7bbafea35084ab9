//! The data model of telemetry-collector: what a sensor submits, what the collector publishes.
//!
//! Pure code: no tokio, no AWS, no clock reads except where a caller passes the time in.
//!
//! - [`submission`]: an SQS message body (base64 of JSON) parsed into a [`Submission`], which
//!   exists only if the whole submission is valid ("parse, don't validate").
//! - [`drop_reason`]: why a broken submission is dropped, as a small closed set of reasons.
//! - [`event`]: the two event types and their type-specific data.
//! - [`time_created`]: the ISO 8601 date-time rule for the device's `time_created`.
//! - [`event_id`]: stable, name-based (v5) event ids, so a redelivered message yields the same ids.
//! - [`record`]: the JSON encoding of one output event and the Kinesis size limits it must fit.

pub mod drop_reason;
pub mod event;
pub mod event_id;
pub mod record;
pub mod submission;
pub mod time_created;

pub use drop_reason::{DropReason, Invalid};
pub use event::{EventData, EventType};
pub use record::{PartitionKeySource, Records, MAX_RECORD_BYTES};
pub use submission::Submission;
