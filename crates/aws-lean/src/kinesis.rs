//! Kinesis PutRecords: the request written straight from the records' bytes, the answer read
//! into one outcome per record.
//!
//! The request is the SDK's, byte for byte (`application/x-amz-json-1.1`, target
//! `Kinesis_20131202.PutRecords`, `{"Records":[{"Data":"<base64>","PartitionKey":"…"}],
//! "StreamName":"…"}`); each record's data is base64-encoded by `base64-simd` (the encoder the
//! SDK itself uses) straight from the caller's slice into the request buffer, with no copy in
//! between.

use std::sync::Arc;

use serde::Deserialize;

use crate::failure::{bounded, CallError, FailureKind};
use crate::json::{self, Text};
use crate::service::Service;

/// The content type of Kinesis' JSON protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// The target of PutRecords.
pub const PUT_RECORDS: &str = "Kinesis_20131202.PutRecords";

/// One record to put: borrowed, so a caller's encoded events go into the request as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// The partition key.
    pub partition_key: &'a str,
    /// The data.
    pub data: &'a [u8],
}

/// The result of one record of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Kinesis gave it a sequence number, on this shard (when the answer says). The records of
    /// one answer on one shard share its id: no copy per record.
    Acked(Option<Arc<str>>),
    /// It failed with this code (`ProvisionedThroughputExceededException`, `InternalFailure`),
    /// or `missing_sequence_number` when the answer had neither.
    Failed(String),
}

/// PutRecords to Kinesis. Cheap to clone; safe to call from many tasks at once.
#[derive(Debug, Clone)]
pub struct Kinesis {
    service: Arc<Service>,
}

impl Kinesis {
    pub(crate) fn new(service: Service) -> Self {
        Kinesis {
            service: Arc::new(service),
        }
    }

    /// Puts `records` into `stream_name` as one request. `Ok` carries one outcome per record,
    /// in record order; `Err` means the request failed as a whole. The caller keeps to
    /// Kinesis' limits (500 records, 5 MiB of data and keys).
    pub async fn put_records(
        &self,
        stream_name: &str,
        records: &[Record<'_>],
    ) -> Result<Vec<RecordOutcome>, CallError> {
        let body = self.put_records_body(stream_name, records);
        self.send_put_records(body).await
    }

    /// The body of [`Kinesis::put_records`], written now from the borrowed records into a
    /// reused buffer, to be sent later by [`Kinesis::send_put_records`]: a caller that spawns
    /// its requests writes them while it still holds the records, so they are never copied.
    pub fn put_records_body(&self, stream_name: &str, records: &[Record<'_>]) -> PutRecordsBody {
        let mut buf = self.service.buffer(put_records_len(stream_name, records));
        write_put_records(&mut buf, stream_name, records);
        PutRecordsBody {
            buf,
            count: records.len(),
        }
    }

    /// Signs and sends a body written by [`Kinesis::put_records_body`]; as
    /// [`Kinesis::put_records`].
    pub async fn send_put_records(
        &self,
        body: PutRecordsBody,
    ) -> Result<Vec<RecordOutcome>, CallError> {
        let answer = self.service.call(PUT_RECORDS, body.buf).await?;
        read_put_records(&answer, body.count)
    }

    /// The signed request [`Kinesis::put_records`] would send: for tests that compare it with
    /// the SDK's, and for benchmarks.
    pub async fn put_records_request(
        &self,
        stream_name: &str,
        records: &[Record<'_>],
    ) -> Result<http::Request<http_body_util::Full<bytes::Bytes>>, CallError> {
        let mut buf = Vec::with_capacity(put_records_len(stream_name, records));
        write_put_records(&mut buf, stream_name, records);
        self.service.request(PUT_RECORDS, buf.into()).await
    }
}

/// A PutRecords body written and not yet sent.
#[derive(Debug)]
pub struct PutRecordsBody {
    buf: Vec<u8>,
    count: usize,
}

/// The request body's length, or a bound on it when a string needs escaping.
pub fn put_records_len(stream_name: &str, records: &[Record<'_>]) -> usize {
    const ENVELOPE: usize = r#"{"Records":[],"StreamName":}"#.len();
    const PER_RECORD: usize = r#"{"Data":"","PartitionKey":},"#.len();
    ENVELOPE
        + json::string_len_bound(stream_name)
        + records
            .iter()
            .map(|r| {
                PER_RECORD
                    + base64_simd::STANDARD.encoded_length(r.data.len())
                    + json::string_len_bound(r.partition_key)
            })
            .sum::<usize>()
}

/// Appends the PutRecords body to `buf`.
pub fn write_put_records(buf: &mut Vec<u8>, stream_name: &str, records: &[Record<'_>]) {
    buf.extend_from_slice(br#"{"Records":["#);
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(br#"{"Data":""#);
        base64_simd::STANDARD.encode_append(record.data, buf);
        buf.extend_from_slice(br#"","PartitionKey":"#);
        json::string(buf, record.partition_key);
        buf.push(b'}');
    }
    buf.extend_from_slice(br#"],"StreamName":"#);
    json::string(buf, stream_name);
    buf.push(b'}');
}

#[derive(Deserialize)]
struct PutRecordsAnswer<'a> {
    // FailedRecordCount is not read: every record's own result decides.
    #[serde(borrow, rename = "Records")]
    records: Vec<PutRecordsResult<'a>>,
}

#[derive(Deserialize)]
struct PutRecordsResult<'a> {
    #[serde(borrow, default, rename = "SequenceNumber")]
    sequence_number: Option<Text<'a>>,
    #[serde(borrow, default, rename = "ErrorCode")]
    error_code: Option<Text<'a>>,
    #[serde(borrow, default, rename = "ShardId")]
    shard_id: Option<Text<'a>>,
}

/// One outcome per record from a PutRecords answer for `count` records. An answer whose
/// results do not line up with the request cannot be read: `response_mismatch`.
pub fn read_put_records(answer: &[u8], count: usize) -> Result<Vec<RecordOutcome>, CallError> {
    let answer: PutRecordsAnswer<'_> =
        serde_json::from_slice(answer).map_err(|_| CallError::unreadable())?;
    if answer.records.len() != count {
        return Err(CallError::new(FailureKind::Unreadable, "response_mismatch"));
    }
    let mut shards = ShardIds(Vec::new());
    Ok(answer
        .records
        .iter()
        .map(|r| {
            outcome(
                r.sequence_number.as_ref().map(|t| &*t.0),
                r.error_code.as_ref().map(|t| &*t.0),
                r.shard_id.as_ref().map(|t| &*t.0),
                &mut shards,
            )
        })
        .collect())
}

/// The shard ids one answer names, each allocated once and shared by its records' outcomes.
struct ShardIds(Vec<Arc<str>>);

impl ShardIds {
    /// Ids remembered per answer. An answer usually names a few shards; past this many (a
    /// request spread over hundreds of shards) a new id is allocated for its record alone, so
    /// the search stays short.
    const REMEMBERED: usize = 64;

    fn get(&mut self, id: &str) -> Arc<str> {
        if let Some(known) = self.0.iter().find(|known| &***known == id) {
            return Arc::clone(known);
        }
        let new: Arc<str> = Arc::from(id);
        if self.0.len() < Self::REMEMBERED {
            self.0.push(Arc::clone(&new));
        }
        new
    }
}

/// Acked only with a sequence number and no error code: anything ambiguous is retried, which
/// at worst makes a duplicate, never a loss. (The collector's rule, kept here unchanged.)
fn outcome(
    sequence_number: Option<&str>,
    error_code: Option<&str>,
    shard_id: Option<&str>,
    shards: &mut ShardIds,
) -> RecordOutcome {
    match (sequence_number, error_code) {
        (Some(s), None) if !s.is_empty() => RecordOutcome::Acked(shard_id.map(|id| shards.get(id))),
        (_, Some(code)) => RecordOutcome::Failed(bounded(code)),
        _ => RecordOutcome::Failed("missing_sequence_number".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_sdk_shape_and_its_length_is_exact_for_plain_keys() {
        let records = [
            Record {
                partition_key: "7d3c",
                data: b"{\"a\":1}",
            },
            Record {
                partition_key: "k\"2",
                data: b"",
            },
        ];
        let mut buf = Vec::new();
        write_put_records(&mut buf, "events", &records);
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            r#"{"Records":[{"Data":"eyJhIjoxfQ==","PartitionKey":"7d3c"},{"Data":"","PartitionKey":"k\"2"}],"StreamName":"events"}"#
        );
        assert!(buf.len() <= put_records_len("events", &records));
        let plain = &records[..1];
        let mut buf = Vec::new();
        write_put_records(&mut buf, "events", plain);
        // The estimate counts a separator for every record; the body has one fewer.
        assert_eq!(buf.len() + 1, put_records_len("events", plain));
    }

    #[test]
    fn every_record_gets_its_own_outcome() {
        let answer = br#"{"FailedRecordCount":2,"Records":[
            {"SequenceNumber":"4955","ShardId":"shardId-000000000000"},
            {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded"},
            {"SequenceNumber":"","ShardId":"shardId-000000000000"},
            {"SequenceNumber":"4956","ErrorCode":"InternalFailure"}]}"#;
        assert_eq!(
            read_put_records(answer, 4).unwrap(),
            vec![
                RecordOutcome::Acked(Some("shardId-000000000000".into())),
                RecordOutcome::Failed("ProvisionedThroughputExceededException".into()),
                RecordOutcome::Failed("missing_sequence_number".into()),
                RecordOutcome::Failed("InternalFailure".into()),
            ]
        );
    }

    #[test]
    fn the_records_of_one_shard_share_its_id() {
        let answer = br#"{"FailedRecordCount":0,"Records":[
            {"SequenceNumber":"1","ShardId":"shardId-000000000000"},
            {"SequenceNumber":"2","ShardId":"shardId-000000000001"},
            {"SequenceNumber":"3","ShardId":"shardId-000000000000"}]}"#;
        let outcomes = read_put_records(answer, 3).unwrap();
        let shard = |i: usize| match &outcomes[i] {
            RecordOutcome::Acked(Some(shard)) => Arc::clone(shard),
            other => panic!("{other:?}"),
        };
        assert!(Arc::ptr_eq(&shard(0), &shard(2)));
        assert_eq!(
            (&*shard(0), &*shard(1)),
            ("shardId-000000000000", "shardId-000000000001")
        );

        // Past the ids remembered, each record still gets its own, right id.
        let many: Vec<String> = (0..ShardIds::REMEMBERED + 2)
            .map(|i| format!(r#"{{"SequenceNumber":"{i}","ShardId":"shardId-{i:012}"}}"#))
            .collect();
        let answer = format!(r#"{{"Records":[{}]}}"#, many.join(","));
        let outcomes = read_put_records(answer.as_bytes(), many.len()).unwrap();
        for (i, o) in outcomes.iter().enumerate() {
            assert_eq!(
                o,
                &RecordOutcome::Acked(Some(format!("shardId-{i:012}").into()))
            );
        }
    }

    #[test]
    fn an_answer_that_does_not_line_up_is_a_failure() {
        let answer = br#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"}]}"#;
        assert_eq!(
            read_put_records(answer, 2).unwrap_err().code,
            "response_mismatch"
        );
        assert_eq!(
            read_put_records(b"{nonsense", 1).unwrap_err().code,
            "response"
        );
        assert_eq!(read_put_records(b"{}", 1).unwrap_err().code, "response");
    }
}
