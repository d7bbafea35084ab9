//! PutRecords: its limits, a small trait so the publisher's batching and retry decisions can be
//! tested without a network, and the Kinesis implementation that reads every record's result.

use std::future::Future;
use std::sync::Arc;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use telemetry_aws::error_code;
use telemetry_aws::shard_map::ShardMap;

/// Kinesis' limit on one PutRecords request: data plus partition keys of all records, 5 MiB.
pub(crate) const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;

/// What one record counts against [`MAX_REQUEST_BYTES`]: its data plus its partition key.
pub(crate) fn record_size(partition_key: &str, data: &[u8]) -> usize {
    partition_key.len() + data.len()
}

/// One record to put, borrowed from the submission that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    /// The partition key.
    pub partition_key: &'a str,
    /// The record's data.
    pub data: &'a [u8],
}

/// The result of one record of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Kinesis gave it a sequence number, on this shard (when the answer says).
    Acked(Option<Arc<str>>),
    /// It failed with this code (`ProvisionedThroughputExceededException`, `InternalFailure`).
    Failed(String),
}

/// Where the publisher puts records: [`KinesisSink`] (the SDK) or [`LeanKinesisSink`] (the lean
/// client, `AWS_CLIENT=lean`); tests use fakes. A request is written while the publisher still
/// holds the records ([`RecordSink::request`], from borrowed entries: nothing is copied on the
/// lean path), then sent on a task of its own ([`RecordSink::send`]).
pub(crate) trait RecordSink: Send + Sync + 'static {
    /// A request written and not yet sent.
    type Request: Send + 'static;

    /// Writes one request for `entries` (at most 500, within 5 MiB).
    fn request(&self, entries: &[Entry<'_>]) -> Self::Request;

    /// Sends it. `Ok` carries one outcome per entry, in entry order; `Err` means the request
    /// failed as a whole, with a short code.
    fn send(
        &self,
        request: Self::Request,
    ) -> impl Future<Output = Result<Vec<Outcome>, String>> + Send;

    /// The stream's open shards now, or why they could not be listed.
    fn open_shards(&self) -> impl Future<Output = Result<ShardMap, String>> + Send;
}

/// A Kinesis stream through the SDK.
#[derive(Debug, Clone)]
pub(crate) struct KinesisSink {
    client: aws_sdk_kinesis::Client,
    stream_name: String,
}

impl KinesisSink {
    /// The stream `stream_name` through `client`.
    pub(crate) fn new(client: aws_sdk_kinesis::Client, stream_name: String) -> Self {
        KinesisSink {
            client,
            stream_name,
        }
    }
}

/// The stream's open shards through the SDK (a control-plane call, on the SDK on both paths).
async fn open_shards(client: &aws_sdk_kinesis::Client, stream: &str) -> Result<ShardMap, String> {
    let shards = telemetry_aws::stream::list_shards(client, stream)
        .await
        .map_err(|e| error_code(&e))?;
    Ok(ShardMap::open(&shards))
}

impl RecordSink for KinesisSink {
    type Request = Result<Vec<PutRecordsRequestEntry>, String>;

    fn request(&self, entries: &[Entry<'_>]) -> Self::Request {
        entries
            .iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .partition_key(e.partition_key)
                    .data(Blob::new(e.data))
                    .build()
                    .map_err(|_| "construction".to_owned())
            })
            .collect()
    }

    async fn send(&self, records: Self::Request) -> Result<Vec<Outcome>, String> {
        let records = records?;
        let count = records.len();
        let out = self
            .client
            .put_records()
            .stream_name(&self.stream_name)
            .set_records(Some(records))
            .send()
            .await
            .map_err(|e| error_code(&e))?;
        // FailedRecordCount is not trusted: every record's own result decides. A reply whose
        // results do not line up with the request cannot be read, so it counts as a failure.
        if out.records.len() != count {
            return Err("response_mismatch".to_owned());
        }
        Ok(out
            .records
            .into_iter()
            .map(|r| outcome(r.sequence_number, r.error_code, r.shard_id))
            .collect())
    }

    async fn open_shards(&self) -> Result<ShardMap, String> {
        open_shards(&self.client, &self.stream_name).await
    }
}

/// A Kinesis stream through the lean client: the request written straight from the records'
/// bytes (`telemetry-aws-lean`); the same rule for every record's result (the lean client's
/// answer parser applies [`outcome`]'s rule, tested there).
#[derive(Debug, Clone)]
pub(crate) struct LeanKinesisSink {
    lean: telemetry_aws_lean::Kinesis,
    /// For ListShards.
    client: aws_sdk_kinesis::Client,
    stream_name: String,
}

impl LeanKinesisSink {
    /// The stream `stream_name`: records through `lean`, its shards through `client`.
    pub(crate) fn new(
        lean: telemetry_aws_lean::Kinesis,
        client: aws_sdk_kinesis::Client,
        stream_name: String,
    ) -> Self {
        LeanKinesisSink {
            lean,
            client,
            stream_name,
        }
    }
}

impl RecordSink for LeanKinesisSink {
    type Request = telemetry_aws_lean::kinesis::PutRecordsBody;

    fn request(&self, entries: &[Entry<'_>]) -> Self::Request {
        let records: Vec<telemetry_aws_lean::Record<'_>> = entries
            .iter()
            .map(|e| telemetry_aws_lean::Record {
                partition_key: e.partition_key,
                data: e.data,
            })
            .collect();
        self.lean.put_records_body(&self.stream_name, &records)
    }

    async fn send(&self, body: Self::Request) -> Result<Vec<Outcome>, String> {
        let outcomes = self.lean.send_put_records(body).await.map_err(|e| e.code)?;
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                telemetry_aws_lean::RecordOutcome::Acked(shard) => Outcome::Acked(shard),
                telemetry_aws_lean::RecordOutcome::Failed(code) => Outcome::Failed(code),
            })
            .collect())
    }

    async fn open_shards(&self) -> Result<ShardMap, String> {
        open_shards(&self.client, &self.stream_name).await
    }
}

/// Acked only with a sequence number and no error code: anything ambiguous is retried, which
/// at worst makes a duplicate, never a loss.
fn outcome(
    sequence_number: Option<String>,
    error_code: Option<String>,
    shard_id: Option<String>,
) -> Outcome {
    match (sequence_number, error_code) {
        (Some(s), None) if !s.is_empty() => Outcome::Acked(shard_id.map(Arc::from)),
        (_, Some(code)) => Outcome::Failed(code.chars().take(64).collect()),
        _ => Outcome::Failed("missing_sequence_number".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_clean_sequence_number_is_an_ack() {
        let shard = || Some("shardId-000000000001".to_owned());
        assert_eq!(
            outcome(Some("4955".into()), None, shard()),
            Outcome::Acked(shard().map(Arc::from))
        );
        assert_eq!(
            outcome(None, Some("InternalFailure".into()), None),
            Outcome::Failed("InternalFailure".into())
        );
        assert_eq!(
            outcome(Some("4955".into()), Some("InternalFailure".into()), shard()),
            Outcome::Failed("InternalFailure".into())
        );
        assert_eq!(
            outcome(None, None, None),
            Outcome::Failed("missing_sequence_number".into())
        );
        assert_eq!(
            outcome(Some(String::new()), None, shard()),
            Outcome::Failed("missing_sequence_number".into())
        );
    }
}
