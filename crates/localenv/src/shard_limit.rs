//! Kinesis's per-shard write limits, enforced record by record as Kinesis enforces them: each
//! open shard takes at most 1,000 records and 1 MiB (data plus partition key) per second, each
//! a token bucket holding one second's worth. A record over its shard's limit is refused with
//! `ProvisionedThroughputExceededException` and Kinesis's message; the others go on.
//!
//! The shards are the stream's own: the [`Limiter`] asks the emulator behind the proxy
//! (`ListShards`) for the open shards of each stream named in a request, keeps the map, refreshes
//! it when it is older than [`ShardLimits::refresh`] (in the background, answering with the map
//! it has meanwhile), and follows a reshard that passes through the proxy at once (it asks again
//! on every use until the map changes, for up to [`FOLLOW_RESHARD`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{json, Value};

use crate::proxy::HttpClient;
use crate::signature::sign_with_test_credentials;
use telemetry_aws::shard_map::{hash_key, ShardMap, ShardRange};
use telemetry_aws::token_bucket::TokenBucket;

/// The account named in Kinesis's throttling messages.
pub const ACCOUNT_ID: &str = "123456789012";

/// How long after a reshard passed through the proxy it asks for the shards on every use, until
/// they change. kinesalite applies a split a moment after answering it; AWS takes seconds.
pub const FOLLOW_RESHARD: Duration = Duration::from_secs(5);

/// The write limits of one shard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShardLimits {
    /// Records a shard takes per second (and at once, from a full bucket).
    pub records_per_sec: f64,
    /// Bytes (data plus partition key) a shard takes per second.
    pub bytes_per_sec: f64,
    /// How old the map of a stream's shards may get before it is asked for again.
    pub refresh: Duration,
}

impl ShardLimits {
    /// Kinesis's: 1,000 records and 1 MiB per second per shard; the shards refreshed every second.
    pub const fn kinesis() -> ShardLimits {
        ShardLimits {
            records_per_sec: 1000.0,
            bytes_per_sec: 1024.0 * 1024.0,
            refresh: Duration::from_secs(1),
        }
    }

    /// Chosen limits per shard, e.g. `per_shard(100, 100 * 1024)` for a test that reaches them
    /// with few records.
    pub fn per_shard(records_per_sec: u32, bytes_per_sec: u32) -> ShardLimits {
        ShardLimits {
            records_per_sec: f64::from(records_per_sec),
            bytes_per_sec: f64::from(bytes_per_sec),
            ..ShardLimits::kinesis()
        }
    }

    /// Both limits multiplied by `factor` (0.1: 100 records and 102.4 KiB per second).
    #[must_use]
    pub fn scaled(self, factor: f64) -> ShardLimits {
        ShardLimits {
            records_per_sec: self.records_per_sec * factor,
            bytes_per_sec: self.bytes_per_sec * factor,
            ..self
        }
    }
}

/// What one shard's limits did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCount {
    /// The stream.
    pub stream: String,
    /// The shard.
    pub shard_id: String,
    /// Records within the limits (forwarded to the emulator).
    pub accepted: u64,
    /// Records refused with `ProvisionedThroughputExceededException` (not forwarded).
    pub throttled: u64,
}

/// A record refused by its shard's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// The shard whose limits it exceeded.
    pub shard_id: String,
    /// Kinesis's message, naming the shard, the stream and the account.
    pub message: String,
}

/// Kinesis's error code for a record or a `PutRecord` over its shard's limits.
pub const THROTTLED_CODE: &str = "ProvisionedThroughputExceededException";

impl Throttled {
    fn new(shard_id: &str, stream: &str) -> Throttled {
        Throttled {
            shard_id: shard_id.to_owned(),
            message: format!(
                "Rate exceeded for shard {shard_id} in stream {stream} under account {ACCOUNT_ID}."
            ),
        }
    }

    /// The entry of a `PutRecords` answer for this record.
    pub fn entry_error(&self) -> Value {
        json!({"ErrorCode": THROTTLED_CODE, "ErrorMessage": self.message})
    }

    /// The body of the HTTP 400 answer to a `PutRecord` of this record.
    pub fn request_error(&self) -> Value {
        json!({"__type": THROTTLED_CODE, "message": self.message})
    }
}

/// The stream a Kinesis request names: its `StreamName`, or the name in its `StreamARN`.
pub fn stream_name(request: &Value) -> Option<&str> {
    if let Some(name) = request.get("StreamName").and_then(Value::as_str) {
        return Some(name);
    }
    let arn = request.get("StreamARN").and_then(Value::as_str)?;
    arn.rsplit_once(":stream/").map(|(_, name)| name)
}

/// The bytes a record counts against its shard: its data (decoded from base64) and its
/// partition key. `None` when the record is not what Kinesis takes.
fn record_size(record: &Value) -> Option<f64> {
    let key = record.get("PartitionKey")?.as_str()?;
    let data = record.get("Data")?.as_str()?;
    let padding = data.bytes().rev().take_while(|b| *b == b'=').count();
    let decoded = (data.len() / 4 * 3).saturating_sub(padding);
    Some((decoded + key.len()) as f64)
}

/// The shard limits of one proxy: the shard maps of the streams it has seen, the buckets and
/// the counts.
#[derive(Debug)]
pub(crate) struct Limiter {
    client: HttpClient,
    target: SocketAddr,
    maps: Mutex<HashMap<String, Cached>>,
    meters: Mutex<Meters>,
}

#[derive(Debug)]
struct Cached {
    /// `None` when the emulator did not know the stream (or did not answer) when asked.
    map: Option<Arc<ShardMap>>,
    fetched: Instant,
    refreshing: bool,
    /// After a reshard passed through: until when, and the map it changes.
    following: Option<(Instant, Option<Arc<ShardMap>>)>,
}

#[derive(Debug, Default)]
struct Meters {
    buckets: HashMap<(String, String), Buckets>,
    counts: BTreeMap<(String, String), (u64, u64)>,
}

#[derive(Debug)]
struct Buckets {
    limits: (f64, f64),
    records: TokenBucket,
    bytes: TokenBucket,
}

/// The limits applied to the records of one request, against one map of the stream's shards.
#[derive(Debug)]
pub(crate) struct Admission<'a> {
    limiter: &'a Limiter,
    stream: String,
    map: Arc<ShardMap>,
    limits: ShardLimits,
}

impl Limiter {
    pub(crate) fn new(client: HttpClient, target: SocketAddr) -> Limiter {
        Limiter {
            client,
            target,
            maps: Mutex::new(HashMap::new()),
            meters: Mutex::new(Meters::default()),
        }
    }

    /// Ready to apply `limits` to the records of `request` (a `PutRecords` or `PutRecord`
    /// body); `None` when it names no stream or the emulator does not know its shards (the
    /// request then goes on untouched and the emulator answers it).
    pub(crate) async fn admission(
        self: &Arc<Self>,
        request: &Value,
        limits: ShardLimits,
    ) -> Option<Admission<'_>> {
        let stream = stream_name(request)?.to_owned();
        let map = self.map_for(&stream, limits.refresh).await?;
        Some(Admission {
            limiter: self,
            stream,
            map,
            limits,
        })
    }

    /// The open shards of `stream` as the limits see them now (asking the emulator if the map
    /// is missing or old).
    pub(crate) async fn map_for(
        self: &Arc<Self>,
        stream: &str,
        refresh: Duration,
    ) -> Option<Arc<ShardMap>> {
        enum Next {
            Use(Option<Arc<ShardMap>>),
            Background(Option<Arc<ShardMap>>),
            Fetch,
        }
        let now = Instant::now();
        let next = {
            let mut maps = lock(&self.maps);
            match maps.get_mut(stream) {
                None => Next::Fetch,
                Some(c) if c.following.as_ref().is_some_and(|(until, _)| now < *until) => {
                    Next::Fetch
                }
                Some(c) if now.duration_since(c.fetched) >= refresh && !c.refreshing => {
                    c.refreshing = true;
                    Next::Background(c.map.clone())
                }
                Some(c) => Next::Use(c.map.clone()),
            }
        };
        match next {
            Next::Use(map) => map,
            Next::Background(map) => {
                let (limiter, stream) = (Arc::clone(self), stream.to_owned());
                tokio::spawn(async move { limiter.fetch(&stream).await });
                map
            }
            Next::Fetch => self.fetch(stream).await,
        }
    }

    /// Asks the emulator for the shards of `stream` and keeps the answer.
    async fn fetch(&self, stream: &str) -> Option<Arc<ShardMap>> {
        let fetched = list_shards(&self.client, self.target, stream)
            .await
            .map(Arc::new);
        let mut maps = lock(&self.maps);
        let previous = maps.get(stream);
        // An emulator busy for a moment does not lift the limits: the map it had stays.
        let map = fetched.or_else(|| previous.and_then(|c| c.map.clone()));
        let following = previous.and_then(|c| c.following.clone());
        let following = following.filter(|(until, before)| {
            Instant::now() < *until && before.as_deref() == map.as_deref()
        });
        maps.insert(
            stream.to_owned(),
            Cached {
                map: map.clone(),
                fetched: Instant::now(),
                refreshing: false,
                following,
            },
        );
        map
    }

    /// A call that reshards `stream` passed through: follow it.
    pub(crate) fn resharded(&self, stream: &str) {
        let mut maps = lock(&self.maps);
        if let Some(c) = maps.get_mut(stream) {
            c.following = Some((Instant::now() + FOLLOW_RESHARD, c.map.clone()));
        }
    }

    /// What the limits did, shard by shard.
    pub(crate) fn counts(&self) -> Vec<ShardCount> {
        lock(&self.meters)
            .counts
            .iter()
            .map(|((stream, shard_id), (accepted, throttled))| ShardCount {
                stream: stream.clone(),
                shard_id: shard_id.clone(),
                accepted: *accepted,
                throttled: *throttled,
            })
            .collect()
    }
}

impl Admission<'_> {
    /// Takes `record` within its shard's limits (`None`), or refuses it. A record the limits
    /// cannot place (no partition key, a hash key outside every open shard) is left to the
    /// emulator.
    pub(crate) fn admit(&self, record: &Value, now: Instant) -> Option<Throttled> {
        let size = record_size(record)?;
        let key = hash_key(
            record.get("PartitionKey")?.as_str()?,
            record.get("ExplicitHashKey").and_then(Value::as_str),
        )?;
        let shard = self.map.shard_for(key)?;
        let limits = (self.limits.records_per_sec, self.limits.bytes_per_sec);
        let mut meters = lock(&self.limiter.meters);
        let id = (self.stream.clone(), shard.to_owned());
        let buckets = meters
            .buckets
            .entry(id.clone())
            .or_insert_with(|| Buckets::full(limits, now));
        if buckets.limits != limits {
            *buckets = Buckets::full(limits, now);
        }
        let admitted =
            buckets.records.available(now) >= 1.0 && buckets.bytes.available(now) >= size;
        if admitted {
            buckets.records.take(1.0);
            buckets.bytes.take(size);
        }
        let count = meters.counts.entry(id).or_default();
        if admitted {
            count.0 += 1;
            None
        } else {
            count.1 += 1;
            Some(Throttled::new(shard, &self.stream))
        }
    }
}

impl Buckets {
    fn full((records, bytes): (f64, f64), now: Instant) -> Buckets {
        Buckets {
            limits: (records, bytes),
            records: TokenBucket::full(records, records, now),
            bytes: TokenBucket::full(bytes, bytes, now),
        }
    }
}

/// The limiter's state is maps and counters, consistent after any panic: a poisoned lock is
/// still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The open shards of `stream`, from the emulator's `ListShards` (every page).
pub(crate) async fn list_shards(
    client: &HttpClient,
    target: SocketAddr,
    stream: &str,
) -> Option<ShardMap> {
    let mut shards = Vec::new();
    let mut request = json!({"StreamName": stream});
    // A stream of 10,000 shards fits in one page; the bound only stops a looping token.
    for _ in 0..100 {
        let answer = call(client, target, "Kinesis_20131202.ListShards", &request).await?;
        shards.extend(answer.get("Shards")?.as_array()?.iter().cloned());
        match answer.get("NextToken").and_then(Value::as_str) {
            Some(token) => request = json!({"NextToken": token}),
            None => break,
        }
    }
    open_shards(&shards)
}

/// The open shards among the `Shards` of the emulator's `ListShards` answers (JSON): those whose `SequenceNumberRange` has no `EndingSequenceNumber`. `None`
/// when a shard is not what Kinesis sends.
fn open_shards<'a>(shards: impl IntoIterator<Item = &'a Value>) -> Option<ShardMap> {
    let mut ranges = Vec::new();
    for shard in shards {
        let closed = shard
            .get("SequenceNumberRange")
            .and_then(|r| r.get("EndingSequenceNumber"))
            .is_some_and(|e| !e.is_null());
        if closed {
            continue;
        }
        let range = shard.get("HashKeyRange")?;
        let key = |name: &str| range.get(name)?.as_str()?.parse::<u128>().ok();
        ranges.push(ShardRange {
            shard_id: shard.get("ShardId")?.as_str()?.to_owned(),
            start: key("StartingHashKey")?,
            end: key("EndingHashKey")?,
        });
    }
    Some(ShardMap::new(ranges))
}

/// One AWS JSON call to the Kinesis emulator, signed with the test credentials; `None` unless
/// it answers 200 with JSON.
pub(crate) async fn call(
    client: &HttpClient,
    target: SocketAddr,
    action: &str,
    body: &Value,
) -> Option<Value> {
    let bytes = call_for_bytes(client, target, action, body).await?;
    serde_json::from_slice(&bytes).ok()
}

/// [`call`] for an answer that may be empty (kinesalite answers `SplitShard` and `MergeShards`
/// with no body): its bytes, `None` unless it answers 200.
pub(crate) async fn call_for_bytes(
    client: &HttpClient,
    target: SocketAddr,
    action: &str,
    body: &Value,
) -> Option<Bytes> {
    let body = Bytes::from(serde_json::to_vec(body).ok()?);
    let mut request = hyper::Request::post(format!("http://{target}/"))
        .header("x-amz-target", action)
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(body.clone()))
        .ok()?;
    if !sign_with_test_credentials(&mut request, "kinesis", &body) {
        return None;
    }
    let response = client.request(request).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    Some(response.into_body().collect().await.ok()?.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_open_shards_with_ranges_make_the_map() {
        let shard = |id: &str, start: u128, end: u128, closed: bool| {
            let mut seq = json!({"StartingSequenceNumber": "1"});
            if closed {
                seq["EndingSequenceNumber"] = json!("2");
            }
            json!({"ShardId": id, "HashKeyRange": {"StartingHashKey": start.to_string(),
                "EndingHashKey": end.to_string()}, "SequenceNumberRange": seq})
        };
        let half = u128::MAX / 2;
        let shards = [
            shard("shardId-000000000000", 0, u128::MAX, true),
            shard("shardId-000000000001", 0, half, false),
            shard("shardId-000000000002", half + 1, u128::MAX, false),
        ];
        let map = open_shards(&shards).expect("a map");
        let ids: Vec<&str> = map.ranges().iter().map(|r| r.shard_id.as_str()).collect();
        assert_eq!(ids, ["shardId-000000000001", "shardId-000000000002"]);
        assert_eq!(
            open_shards(&[json!({"ShardId": "x"})]),
            None,
            "a shard without a range is not what Kinesis sends"
        );
    }

    #[test]
    fn records_count_their_decoded_data_and_their_key() {
        // "hello" is aGVsbG8= in base64: 5 bytes, and the key 3.
        let r = json!({"Data": "aGVsbG8=", "PartitionKey": "abc"});
        assert_eq!(record_size(&r), Some(8.0));
        let r = json!({"Data": "", "PartitionKey": "é"});
        assert_eq!(record_size(&r), Some(2.0));
        assert_eq!(record_size(&json!({"Data": "AA=="})), None);
    }

    #[test]
    fn streams_are_named_by_name_or_arn() {
        assert_eq!(stream_name(&json!({"StreamName": "s"})), Some("s"));
        assert_eq!(
            stream_name(&json!({"StreamARN": "arn:aws:kinesis:us-east-1:123456789012:stream/ev"})),
            Some("ev")
        );
        assert_eq!(stream_name(&json!({})), None);
    }

    #[test]
    fn the_throttling_message_is_kinesis_s() {
        let t = Throttled::new("shardId-000000000001", "events");
        assert_eq!(
            t.entry_error(),
            json!({"ErrorCode": "ProvisionedThroughputExceededException",
                "ErrorMessage": "Rate exceeded for shard shardId-000000000001 in stream events under account 123456789012."})
        );
        assert_eq!(t.request_error()["__type"], THROTTLED_CODE);
    }

    #[test]
    fn scaled_limits_keep_the_refresh() {
        let l = ShardLimits::kinesis().scaled(0.1);
        assert!((l.records_per_sec - 100.0).abs() < 1e-9);
        assert!((l.bytes_per_sec - 104_857.6).abs() < 1e-6);
        assert_eq!(l.refresh, Duration::from_secs(1));
        assert_eq!(
            ShardLimits::per_shard(100, 102_400).bytes_per_sec,
            102_400.0
        );
    }
}
