//! The output: one Kinesis record per event, its data a JSON object with exactly the contract's
//! seven fields, and the limits a record must fit.

use serde::Serialize;
use std::net::Ipv4Addr;
use uuid::Uuid;

use crate::drop_reason::{DropReason, Invalid};
use crate::event::EventData;
use crate::event_id::event_id;
use crate::submission::Submission;

/// Kinesis' limit on one record: data plus partition key, 1 MiB.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Which submission field becomes the partition key of all its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartitionKeySource {
    /// The device id (default): all of a device's events land on one shard, so consumers see
    /// a device's submissions in the order they were published, which detection that follows
    /// a device over time relies on. A device sends a few events a minute, far below the
    /// 1,000 records/s of one shard, so no key is hot.
    #[default]
    DeviceId,
    /// The submission id: the most even spread over shards, for fleets where a few devices
    /// send most of the traffic; a device's submissions may then land on different shards.
    SubmissionId,
}

/// The encoded events of one submission, in document order, with their shared partition key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Records {
    /// The partition key shared by every record of the submission (a lower-case UUID).
    pub partition_key: String,
    /// The JSON data of each event, in document order.
    pub data: Vec<Vec<u8>>,
}

impl Records {
    /// Total bytes of data (without partition keys).
    pub fn data_bytes(&self) -> usize {
        self.data.iter().map(Vec::len).sum()
    }
}

#[derive(Serialize)]
struct OutputEvent<'a> {
    event_id: Uuid,
    #[serde(rename = "type")]
    event_type: &'static str,
    device_id: Uuid,
    submission_id: Uuid,
    time_processed: &'a str,
    time_created: &'a str,
    type_specific_data: TypeSpecificData<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum TypeSpecificData<'a> {
    NewProcess {
        cmdl: &'a str,
        user: &'a str,
    },
    NetworkConnection {
        source_ip: Ipv4Addr,
        destination_ip: Ipv4Addr,
        destination_port: u16,
    },
}

impl<'a> From<&'a EventData> for TypeSpecificData<'a> {
    fn from(data: &'a EventData) -> Self {
        match data {
            EventData::NewProcess { cmdl, user } => TypeSpecificData::NewProcess { cmdl, user },
            EventData::NetworkConnection {
                source_ip,
                destination_ip,
                destination_port,
            } => TypeSpecificData::NetworkConnection {
                source_ip: *source_ip,
                destination_ip: *destination_ip,
                destination_port: *destination_port,
            },
        }
    }
}

impl Submission {
    /// Explodes the submission into its output records, in document order.
    ///
    /// `time_processed` is the backend time in UTC as RFC 3339 (see [`time_processed_now`]).
    /// Fails with [`DropReason::RecordTooLarge`] if any event would not fit in one record, so
    /// that a submission is published whole or not at all.
    pub fn explode(
        &self,
        time_processed: &str,
        key_source: PartitionKeySource,
    ) -> Result<Records, Invalid> {
        let key_id = match key_source {
            PartitionKeySource::DeviceId => self.device_id(),
            PartitionKeySource::SubmissionId => self.submission_id(),
        };
        let partition_key = key_id.hyphenated().to_string();
        let mut data = Vec::with_capacity(self.events().len());
        for (position, event) in self.events().iter().enumerate() {
            let out = OutputEvent {
                event_id: event_id(
                    self.device_id(),
                    self.submission_id(),
                    position_u32(position),
                ),
                event_type: event.event_type().as_str(),
                device_id: self.device_id(),
                submission_id: self.submission_id(),
                time_processed,
                time_created: self.time_created(),
                type_specific_data: event.into(),
            };
            let mut buf = Vec::with_capacity(320);
            // Serialising plain strings and numbers into a Vec cannot fail; map it anyway
            // rather than unwrap, so no input can panic here.
            serde_json::to_writer(&mut buf, &out)
                .map_err(|e| Invalid::new(DropReason::RecordTooLarge, e.to_string()))?;
            if buf.len() + partition_key.len() > MAX_RECORD_BYTES {
                return Err(Invalid::new(
                    DropReason::RecordTooLarge,
                    format!(
                        "event {position} encodes to {} bytes; a Kinesis record holds at most {MAX_RECORD_BYTES} with its key",
                        buf.len()
                    ),
                ));
            }
            data.push(buf);
        }
        Ok(Records {
            partition_key,
            data,
        })
    }
}

/// Positions fit in `u32`: a submission is at most an SQS message (1 MiB), far fewer events.
fn position_u32(position: usize) -> u32 {
    u32::try_from(position).unwrap_or(u32::MAX)
}

/// The current UTC time as `2021-03-29T12:06:20.123+00:00` (RFC 3339, milliseconds).
pub fn time_processed_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}
