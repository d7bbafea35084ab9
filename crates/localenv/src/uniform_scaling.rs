//! `UpdateShardCount` for an emulator that lacks it. kinesalite reshards for real (a closed
//! parent takes no more writes, its children start empty) but only by `SplitShard` and
//! `MergeShards`; it answers `UpdateShardCount` with `UnknownOperationException`. The proxy then
//! answers the call as Kinesis does (the current and the target count) and carries it out with
//! the emulator's own calls, one at a time, waiting for the stream to be ACTIVE between them,
//! so that a program that scales with `UpdateShardCount` (the shard supervisor) can be tested
//! against an emulator that reshards the way Kinesis does.
//!
//! The steps: while fewer shards are open than wanted, the widest open shard is split at the
//! middle of its range; while more are, the two adjacent open shards whose ranges together are
//! the narrowest are merged. From uniform ranges, doubling and halving give uniform ranges, as
//! `UNIFORM_SCALING` does; other targets give the right count with ranges near uniform. The
//! first step is taken before the answer, so the stream is UPDATING when the caller hears back,
//! as with Kinesis; between later steps it is ACTIVE for a moment (Kinesis keeps it UPDATING
//! throughout). The checks a caller meets are Kinesis's: the target within half and double the
//! open count (`InvalidArgumentException`), the stream ACTIVE (`ResourceInUseException`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use telemetry_aws::shard_map::ShardMap;

use crate::proxy::HttpClient;
use crate::shard_limit::{call, call_for_bytes, list_shards, stream_name, Limiter};

/// How long one step may leave the stream UPDATING before the rest is given up.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Carries out the `UpdateShardCount` `request` with SplitShard and MergeShards on the
/// emulator at `target`; the status and JSON body to answer. `limiter` follows every step.
pub(crate) async fn update_shard_count(
    client: HttpClient,
    target: SocketAddr,
    limiter: Arc<Limiter>,
    request: &Value,
) -> (u16, Value) {
    let Some(stream) = stream_name(request).map(str::to_owned) else {
        return error(
            "ValidationException",
            "no StreamName or StreamARN".to_owned(),
        );
    };
    let Some(wanted) = request
        .get("TargetShardCount")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
    else {
        return error("ValidationException", "no TargetShardCount".to_owned());
    };
    if status(&client, target, &stream).await.as_deref() != Some("ACTIVE") {
        return error(
            "ResourceInUseException",
            format!("Stream {stream} is not ACTIVE"),
        );
    }
    let Some(open) = list_shards(&client, target, &stream).await else {
        return error(
            "ResourceNotFoundException",
            format!("Stream {stream} not found"),
        );
    };
    let current = open.ranges().len();
    if wanted < current.div_ceil(2) || wanted > current.saturating_mul(2) {
        return error(
            "InvalidArgumentException",
            format!(
                "TargetShardCount {wanted} must be between half and double the {current} open shards"
            ),
        );
    }
    if wanted != current {
        if !step(&client, target, &stream, &open, wanted).await {
            return error(
                "InternalFailure",
                "the emulator refused a split or merge".to_owned(),
            );
        }
        limiter.resharded(&stream);
        let stream = stream.clone();
        tokio::spawn(async move {
            // At most one step per shard added or removed; each waits for ACTIVE first.
            for _ in 0..current.abs_diff(wanted) {
                if !wait_active(&client, target, &stream).await {
                    return;
                }
                let Some(open) = list_shards(&client, target, &stream).await else {
                    return;
                };
                if open.ranges().len() == wanted
                    || !step(&client, target, &stream, &open, wanted).await
                {
                    return;
                }
                limiter.resharded(&stream);
            }
        });
    }
    (
        200,
        json!({
            "StreamName": stream,
            "CurrentShardCount": current,
            "TargetShardCount": wanted,
        }),
    )
}

/// One split (fewer open than `wanted`) or merge (more); whether the emulator took it.
async fn step(
    client: &HttpClient,
    target: SocketAddr,
    stream: &str,
    open: &ShardMap,
    wanted: usize,
) -> bool {
    let ranges = open.ranges();
    let answer = if ranges.len() < wanted {
        let Some((widest, middle)) = open.widest_split() else {
            return false;
        };
        call_for_bytes(
            client,
            target,
            "Kinesis_20131202.SplitShard",
            &json!({
                "StreamName": stream,
                "ShardToSplit": widest,
                "NewStartingHashKey": middle.to_string(),
            }),
        )
        .await
    } else {
        // The ranges are in hash-key order; neighbours whose ranges touch are adjacent.
        let Some(pair) = ranges
            .windows(2)
            .filter(|w| w[0].end.checked_add(1) == Some(w[1].start))
            .min_by_key(|w| w[1].end - w[0].start)
        else {
            return false;
        };
        call_for_bytes(
            client,
            target,
            "Kinesis_20131202.MergeShards",
            &json!({
                "StreamName": stream,
                "ShardToMerge": pair[0].shard_id,
                "AdjacentShardToMerge": pair[1].shard_id,
            }),
        )
        .await
    };
    answer.is_some()
}

/// The stream's status, as DescribeStreamSummary says.
async fn status(client: &HttpClient, target: SocketAddr, stream: &str) -> Option<String> {
    let answer = call(
        client,
        target,
        "Kinesis_20131202.DescribeStreamSummary",
        &json!({ "StreamName": stream }),
    )
    .await?;
    let status = answer
        .get("StreamDescriptionSummary")?
        .get("StreamStatus")?;
    status.as_str().map(str::to_owned)
}

/// Waits up to [`STEP_TIMEOUT`] for the stream to be ACTIVE; whether it became so.
async fn wait_active(client: &HttpClient, target: SocketAddr, stream: &str) -> bool {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while Instant::now() < deadline {
        if status(client, target, stream).await.as_deref() == Some("ACTIVE") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A Kinesis error answer.
fn error(kind: &str, message: String) -> (u16, Value) {
    (400, json!({ "__type": kind, "message": message }))
}

/// Whether an emulator's answer to a call says it does not know the operation.
pub(crate) fn unknown_operation(status: u16, body: &[u8]) -> bool {
    status == 400
        && serde_json::from_slice::<Value>(body).is_ok_and(|v| {
            v.get("__type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("UnknownOperationException"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unknown_operation_is_carried_out_by_the_proxy() {
        let kinesalite = br#"{"__type":"UnknownOperationException"}"#;
        assert!(unknown_operation(400, kinesalite));
        let coral = br#"{"__type":"com.amazon.coral.service#UnknownOperationException"}"#;
        assert!(unknown_operation(400, coral));
        // moto knows it: its answers, errors included, go back as they came.
        assert!(!unknown_operation(200, br#"{"CurrentShardCount":1}"#));
        let limit = br#"{"__type":"LimitExceededException"}"#;
        assert!(!unknown_operation(400, limit));
        assert!(!unknown_operation(400, b"not json"));
    }
}
