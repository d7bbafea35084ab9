//! The output: one Kinesis record per event, its data a JSON object with exactly the contract's
//! seven fields, and the limits a record must fit.

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
///
/// The events' JSON lies one after another in one buffer, allocated once at the submission's
/// size: one allocation per submission rather than one per event, and a submission's records
/// sit together in memory while it is published.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Records {
    /// The partition key shared by every record of the submission (a lower-case UUID).
    pub partition_key: String,
    /// Every event's JSON data, in document order.
    data: Vec<u8>,
    /// Where each event's data ends in `data`.
    ends: Vec<usize>,
}

impl Records {
    /// Records of `partition_key` with the given data, in order.
    pub fn new<D: AsRef<[u8]>>(partition_key: String, data: impl IntoIterator<Item = D>) -> Self {
        let mut records = Records {
            partition_key,
            ..Records::default()
        };
        for d in data {
            records.data.extend_from_slice(d.as_ref());
            records.ends.push(records.data.len());
        }
        records
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when there is no record.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The data of record `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(before) => *self.ends.get(before)?,
            None => 0,
        };
        self.data.get(start..end)
    }

    /// The data of every record, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }

    /// Total bytes of data (without partition keys).
    pub fn data_bytes(&self) -> usize {
        self.data.len()
    }

    /// Bytes the data buffer holds, used or not: what the records cost in memory.
    pub fn capacity(&self) -> usize {
        self.data.capacity()
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
        let ids = SubmissionIds::new(self);
        let events = self.events();
        // Exact but for the unused digits of short addresses and ports, so the buffer is
        // allocated once: a short estimate would regrow it to twice its size (and the records
        // are held until the submission is published).
        let size = events
            .iter()
            .map(|e| encoded_len(time_processed, self.time_created(), e))
            .sum();
        let mut data = Vec::with_capacity(size);
        let mut ends = Vec::with_capacity(events.len());
        for (position, event) in events.iter().enumerate() {
            let event_id = event_id(
                self.device_id(),
                self.submission_id(),
                position_u32(position),
            );
            let start = data.len();
            encode(
                &mut data,
                &ids,
                event_id,
                time_processed,
                self.time_created(),
                event,
            );
            let len = data.len() - start;
            if len + partition_key.len() > MAX_RECORD_BYTES {
                return Err(Invalid::new(
                    DropReason::RecordTooLarge,
                    format!(
                        "event {position} encodes to {len} bytes; a Kinesis record holds at most {MAX_RECORD_BYTES} with its key"
                    ),
                ));
            }
            ends.push(data.len());
        }
        Ok(Records {
            partition_key,
            data,
            ends,
        })
    }
}

/// The submission's ids, formatted once for all its events.
struct SubmissionIds {
    device_id: [u8; 36],
    submission_id: [u8; 36],
}

impl SubmissionIds {
    fn new(s: &Submission) -> Self {
        let mut ids = SubmissionIds {
            device_id: [0; 36],
            submission_id: [0; 36],
        };
        s.device_id().hyphenated().encode_lower(&mut ids.device_id);
        s.submission_id()
            .hyphenated()
            .encode_lower(&mut ids.submission_id);
        ids
    }
}

/// The most bytes [`encode`] writes for `event`: exact but for the unused digits of short
/// addresses and ports.
fn encoded_len(time_processed: &str, time_created: &str, event: &EventData) -> usize {
    const ENVELOPE: usize = 3 * 36
        + concat!(
            r#"{"event_id":"","type":"","device_id":"","submission_id":"","#,
            r#""time_processed":"","time_created":"","type_specific_data":}"#
        )
        .len();
    const NEW_PROCESS: usize = r#"{"cmdl":,"user":}"#.len();
    const NETWORK_CONNECTION: usize =
        r#"{"source_ip":"","destination_ip":"","destination_port":}"#.len() + 2 * 15 + 5;
    let specific_len = match event {
        EventData::NewProcess { cmdl, user } => {
            NEW_PROCESS + json_string_len(cmdl) + json_string_len(user)
        }
        EventData::NetworkConnection { .. } => NETWORK_CONNECTION,
    };
    ENVELOPE
        + event.event_type().as_str().len()
        + time_processed.len()
        + time_created.len()
        + specific_len
}

/// The length of `s` as a JSON string literal written by serde_json: quoted, with `"` and `\`
/// and the control characters escaped (two bytes for the five with a short form, six for the
/// others); everything else as it is.
fn json_string_len(s: &str) -> usize {
    let escapes: usize = s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\x08' | b'\x0c' | b'\n' | b'\r' | b'\t' => 1,
            0..=0x1f => 5,
            _ => 0,
        })
        .sum();
    s.len() + 2 + escapes
}

/// Appends one event as JSON with exactly the contract's seven fields, in the contract's order.
///
/// Written by hand because it is the hot path: only `cmdl` and `user` can hold characters that
/// need escaping, and they go through serde_json's string escaping. Everything else is known
/// to be plain: UUIDs and IPv4 addresses we format, type names, our own `time_processed`, and a
/// `time_created` that passed [`crate::time_created::is_valid`] (digits and `-:.TZ+` only).
fn encode(
    buf: &mut Vec<u8>,
    ids: &SubmissionIds,
    event_id: Uuid,
    time_processed: &str,
    time_created: &str,
    event: &EventData,
) {
    let mut uuid_buf = Uuid::encode_buffer();
    buf.extend_from_slice(br#"{"event_id":""#);
    buf.extend_from_slice(event_id.hyphenated().encode_lower(&mut uuid_buf).as_bytes());
    buf.extend_from_slice(br#"","type":""#);
    buf.extend_from_slice(event.event_type().as_str().as_bytes());
    buf.extend_from_slice(br#"","device_id":""#);
    buf.extend_from_slice(&ids.device_id);
    buf.extend_from_slice(br#"","submission_id":""#);
    buf.extend_from_slice(&ids.submission_id);
    buf.extend_from_slice(br#"","time_processed":""#);
    buf.extend_from_slice(time_processed.as_bytes());
    buf.extend_from_slice(br#"","time_created":""#);
    buf.extend_from_slice(time_created.as_bytes());
    buf.extend_from_slice(br#"","type_specific_data":"#);
    match event {
        EventData::NewProcess { cmdl, user } => {
            buf.extend_from_slice(br#"{"cmdl":"#);
            json_string(buf, cmdl);
            buf.extend_from_slice(br#","user":"#);
            json_string(buf, user);
        }
        EventData::NetworkConnection {
            source_ip,
            destination_ip,
            destination_port,
        } => {
            buf.extend_from_slice(br#"{"source_ip":""#);
            ipv4(buf, *source_ip);
            buf.extend_from_slice(br#"","destination_ip":""#);
            ipv4(buf, *destination_ip);
            buf.extend_from_slice(br#"","destination_port":"#);
            buf.extend_from_slice(itoa::Buffer::new().format(*destination_port).as_bytes());
        }
    }
    buf.extend_from_slice(b"}}");
}

/// A JSON string literal, escaped by serde_json.
fn json_string(buf: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail: serde_json only fails on I/O errors, which a Vec
    // never gives.
    let _ = serde_json::to_writer(&mut *buf, s);
}

/// Dotted-quad form of an address, as std prints it.
fn ipv4(buf: &mut Vec<u8>, ip: Ipv4Addr) {
    let mut digits = itoa::Buffer::new();
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf.push(b'.');
        }
        buf.extend_from_slice(digits.format(octet).as_bytes());
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
