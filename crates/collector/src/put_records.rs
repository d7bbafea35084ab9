//! PutRecords: its limits, a small trait so the publisher's batching and retry decisions can be
//! tested without a network, and the Kinesis implementation that reads every record's result.

use std::future::Future;

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

/// One record to put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The partition key.
    pub partition_key: String,
    /// The record's data.
    pub data: Vec<u8>,
}

/// The result of one record of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Kinesis gave it a sequence number, on this shard (when the answer says).
    Acked(Option<String>),
    /// It failed with this code (`ProvisionedThroughputExceededException`, `InternalFailure`).
    Failed(String),
}

/// Where the publisher puts records. The collector uses [`KinesisSink`]; tests use fakes.
pub(crate) trait RecordSink: Send + Sync + 'static {
    /// Puts the records as one request. `Ok` carries one outcome per entry, in entry order;
    /// `Err` means the request failed as a whole, with a short code.
    fn put_records(
        &self,
        entries: Vec<Entry>,
    ) -> impl Future<Output = Result<Vec<Outcome>, String>> + Send;

    /// The stream's open shards now, or why they could not be listed.
    fn open_shards(&self) -> impl Future<Output = Result<ShardMap, String>> + Send;
}

/// A Kinesis stream.
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

impl RecordSink for KinesisSink {
    async fn put_records(&self, entries: Vec<Entry>) -> Result<Vec<Outcome>, String> {
        let count = entries.len();
        let records = entries
            .into_iter()
            .map(|e| {
                PutRecordsRequestEntry::builder()
                    .partition_key(e.partition_key)
                    .data(Blob::new(e.data))
                    .build()
                    .map_err(|_| "construction".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?;
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
        let shards = telemetry_aws::stream::list_shards(&self.client, &self.stream_name)
            .await
            .map_err(|e| error_code(&e))?;
        Ok(ShardMap::open(&shards))
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
        (Some(s), None) if !s.is_empty() => Outcome::Acked(shard_id),
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
            Outcome::Acked(shard())
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
