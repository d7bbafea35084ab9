//! Reading a whole stream: every shard from its start, parents before children, so that the
//! order of a partition key's records is the order in which they were written, also across a
//! resharding (a child shard only holds records written after its parent closed).

use std::collections::HashSet;

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::list_shards::ListShardsError;
use aws_sdk_kinesis::types::{Shard, ShardIteratorType};
use aws_sdk_kinesis::Client;

/// Records of one shard, in shard order.
#[derive(Debug, Clone)]
pub struct ShardRecords {
    /// The shard's id.
    pub shard_id: String,
    /// Each record's partition key and data.
    pub records: Vec<(String, Vec<u8>)>,
    /// Each record's `ApproximateArrivalTimestamp`, epoch milliseconds (0 if the service did
    /// not say), in the order of `records`.
    pub arrived_ms: Vec<u64>,
}

/// An error while reading a stream: the call that failed and the service's message.
#[derive(Debug, thiserror::Error)]
#[error("{call} failed: {message}")]
pub struct ReadError {
    call: &'static str,
    message: String,
}

fn read_error<E: std::fmt::Debug>(call: &'static str) -> impl FnOnce(E) -> ReadError {
    move |e| ReadError {
        call,
        message: format!("{e:?}"),
    }
}

/// Every shard of the stream, as ListShards gives them (all pages), or the SDK's error, for a
/// caller that tells failures apart by code (the shard supervisor retries and logs outages).
pub async fn list_shards(
    kinesis: &Client,
    stream: &str,
) -> Result<Vec<Shard>, SdkError<ListShardsError, HttpResponse>> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        // A request with a NextToken must not name the stream.
        let req = match &token {
            Some(t) => kinesis.list_shards().next_token(t),
            None => kinesis.list_shards().stream_name(stream),
        };
        let out = req.send().await?;
        shards.extend(out.shards.unwrap_or_default());
        token = out.next_token;
        if token.is_none() {
            return Ok(shards);
        }
    }
}

/// Every shard of the stream, ordered so that a parent comes before its children.
pub async fn shards_parents_first(kinesis: &Client, stream: &str) -> Result<Vec<Shard>, ReadError> {
    let mut shards = list_shards(kinesis, stream)
        .await
        .map_err(read_error("ListShards"))?;
    // Emit a shard once all of its parents present in the list have been emitted.
    let present: HashSet<String> = shards.iter().map(|s| s.shard_id.clone()).collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut ordered = Vec::with_capacity(shards.len());
    while !shards.is_empty() {
        let before = shards.len();
        let (ready, waiting): (Vec<Shard>, Vec<Shard>) = shards.into_iter().partition(|s| {
            [
                s.parent_shard_id.as_deref(),
                s.adjacent_parent_shard_id.as_deref(),
            ]
            .into_iter()
            .flatten()
            .all(|p| !present.contains(p) || done.contains(p))
        });
        done.extend(ready.iter().map(|s| s.shard_id.clone()));
        ordered.extend(ready);
        shards = waiting;
        if shards.len() == before {
            // A cycle cannot happen in Kinesis; do not loop forever if a service says otherwise.
            ordered.append(&mut shards);
        }
    }
    Ok(ordered)
}

/// Reads every record currently in the stream, shard by shard, parents first.
pub async fn read_all(kinesis: &Client, stream: &str) -> Result<Vec<ShardRecords>, ReadError> {
    let mut result = Vec::new();
    for shard in shards_parents_first(kinesis, stream).await? {
        let mut iterator = kinesis
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(&shard.shard_id)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(read_error("GetShardIterator"))?
            .shard_iterator;
        let mut records = Vec::new();
        let mut arrived_ms = Vec::new();
        while let Some(it) = iterator {
            let out = kinesis
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await
                .map_err(read_error("GetRecords"))?;
            let got = out.records.len();
            for r in out.records {
                let arrived = r
                    .approximate_arrival_timestamp
                    .and_then(|t| t.to_millis().ok())
                    .and_then(|ms| u64::try_from(ms).ok());
                arrived_ms.push(arrived.unwrap_or(0));
                records.push((r.partition_key.unwrap_or_default(), r.data.into_inner()));
            }
            // An open shard never ends: stop at its tip (nothing returned, nothing behind).
            let at_tip = got == 0 && out.millis_behind_latest.unwrap_or(0) == 0;
            iterator = if at_tip {
                None
            } else {
                out.next_shard_iterator
            };
        }
        result.push(ShardRecords {
            shard_id: shard.shard_id,
            records,
            arrived_ms,
        });
    }
    Ok(result)
}

/// The shards of [`read_all`] (parents first) as one sequence: the order a reader that reads
/// each parent to its end before its children sees. A partition key lives in one shard of each
/// generation, so its records keep their order; a submission whose records straddle a
/// resharding (parent, then child) is checked in that order by `verify`.
pub fn as_one_sequence(shards: &[ShardRecords]) -> ShardRecords {
    ShardRecords {
        shard_id: "the stream, parents first".to_owned(),
        records: shards.iter().flat_map(|s| s.records.clone()).collect(),
        arrived_ms: shards.iter().flat_map(|s| s.arrived_ms.clone()).collect(),
    }
}
