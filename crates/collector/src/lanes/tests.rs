//! Lanes: a shard out of tokens holds up only its own records; due before fresh; turns; a new
//! map re-lanes what waits.

use telemetry_aws::shard_map::{hash_key, ShardRange};

use super::*;
use crate::shard_limiter::Limits;

#[derive(Debug, Clone, PartialEq)]
struct Rec {
    name: &'static str,
    key: String,
    since: Instant,
    shard: Option<Arc<str>>,
}

impl Ready for Rec {
    fn hash_key(&self) -> u128 {
        hash_key(&self.key, None).unwrap_or_default()
    }
    fn size(&self) -> usize {
        100
    }
    fn since(&self) -> Instant {
        self.since
    }
    fn set_shard(&mut self, shard: Option<Arc<str>>) {
        self.shard = shard;
    }
}

/// Two shards splitting the hash keys in half.
fn two_shards() -> Arc<ShardMap> {
    let half = u128::MAX / 2;
    Arc::new(ShardMap::new(vec![
        ShardRange {
            shard_id: "low".into(),
            start: 0,
            end: half,
        },
        ShardRange {
            shard_id: "high".into(),
            start: half + 1,
            end: u128::MAX,
        },
    ]))
}

/// A partition key whose hash falls in the lower (or upper) half.
fn key_in(lower: bool) -> String {
    let half = u128::MAX / 2;
    if lower {
        key_between(0, half)
    } else {
        key_between(half + 1, u128::MAX)
    }
}

fn rec(name: &'static str, key: &str, since: Instant) -> Rec {
    Rec {
        name,
        key: key.to_owned(),
        since,
        shard: None,
    }
}

fn names(batch: &Batch<Rec>) -> Vec<&'static str> {
    batch.records.iter().map(|r| r.name).collect()
}

/// 10 records a second per shard: a burst of 2 (a fifth of a second), then one per 100 ms.
fn lanes() -> Lanes<Rec> {
    Lanes::new(ShardLimiter::new(Limits {
        records: 10.0,
        bytes: 1e9,
    }))
}

#[test]
fn a_shard_out_of_tokens_holds_up_only_its_own_records() {
    let t0 = Instant::now();
    let mut l = lanes();
    l.set_map(two_shards());
    let (low, high) = (key_in(true), key_in(false));
    for name in ["l1", "l2", "l3", "l4"] {
        l.push_fresh(rec(name, &low, t0));
    }
    l.push_fresh(rec("h1", &high, t0));
    let batch = l.take(500, 1 << 20, t0);
    let mut got = names(&batch);
    got.sort_unstable();
    assert_eq!(
        got,
        ["h1", "l1", "l2"],
        "the low shard's burst, and the high shard"
    );
    assert_eq!(l.len(), 2);
    assert!(batch.records.iter().all(|r| r.shard.is_some()));
    assert!(l.take(500, 1 << 20, t0).records.is_empty(), "no tokens yet");
    let wake = l.next_wake(Duration::from_secs(60), t0).expect("a wake");
    assert_eq!(
        wake,
        t0 + Duration::from_millis(100),
        "when the next token comes"
    );
    let later = l.take(500, 1 << 20, wake);
    assert_eq!(names(&later), ["l3"]);
    assert_eq!(
        later.token_waits,
        [Duration::from_millis(100)],
        "l3 waited 100 ms"
    );
}

#[test]
fn due_records_go_before_fresh_ones_and_lanes_take_turns() {
    let t0 = Instant::now();
    let mut l = lanes();
    l.set_map(two_shards());
    let (low, high) = (key_in(true), key_in(false));
    l.push_fresh(rec("low-fresh", &low, t0));
    l.push_due(rec("low-due", &low, t0));
    l.push_fresh(rec("high-fresh", &high, t0));
    assert_eq!(names(&l.take(1, 1 << 20, t0)), ["low-due"]);
    assert_eq!(
        names(&l.take(1, 1 << 20, t0)),
        ["high-fresh"],
        "the next lane leads"
    );
    assert_eq!(names(&l.take(1, 1 << 20, t0)), ["low-fresh"]);
}

#[test]
fn urgency_follows_due_records_lingered_fresh_ones_and_tokens() {
    let t0 = Instant::now();
    let linger = Duration::from_millis(50);
    let mut l = lanes();
    l.set_map(two_shards());
    let low = key_in(true);
    l.push_fresh(rec("fresh", &low, t0));
    assert!(
        !l.has_urgent(linger, t0),
        "a fresh record may wait for company"
    );
    assert_eq!(l.next_wake(linger, t0), Some(t0 + linger));
    assert!(
        l.has_urgent(linger, t0 + linger),
        "until its flush interval is over"
    );
    l.push_due(rec("due", &low, t0));
    assert!(l.has_urgent(linger, t0));
    assert_eq!(l.take(500, 1 << 20, t0).records.len(), 2);
    l.push_due(rec("due again", &low, t0));
    assert!(
        !l.has_urgent(linger, t0),
        "urgent, but its shard has no tokens"
    );
}

#[test]
fn records_of_no_known_shard_share_an_unlimited_lane() {
    let t0 = Instant::now();
    let mut l = lanes();
    for _ in 0..50 {
        l.push_fresh(rec("r", "any", t0));
    }
    let batch = l.take(500, 1 << 20, t0);
    assert_eq!(batch.records.len(), 50);
    assert!(batch.records.iter().all(|r| r.shard.is_none()));
}

#[test]
fn a_new_map_re_lanes_what_waits() {
    let t0 = Instant::now();
    let mut l = lanes();
    let low = key_in(true);
    for name in ["a", "b", "c"] {
        l.push_fresh(rec(name, &low, t0));
    }
    l.set_map(two_shards());
    let batch = l.take(500, 1 << 20, t0);
    assert_eq!(names(&batch), ["a", "b"], "now limited as the low shard");
    assert_eq!(batch.records[0].shard.as_deref(), Some("low"));
    assert_eq!((l.len(), l.shards()), (1, 2));
}

#[test]
fn requests_respect_the_record_and_byte_limits() {
    let t0 = Instant::now();
    let mut l = lanes();
    for _ in 0..10 {
        l.push_fresh(rec("r", "any", t0));
    }
    assert_eq!(l.take(3, 1 << 20, t0).records.len(), 3);
    assert_eq!(l.take(500, 250, t0).records.len(), 2, "100 bytes each");
    assert_eq!(l.bytes(), 500);
}

#[test]
fn records_that_wait_for_a_shard_go_together_not_one_request_per_token() {
    let t0 = Instant::now();
    // 1,000 records a second: a bucket of 200, a quantum of 100.
    let mut l = Lanes::new(ShardLimiter::new(Limits {
        records: 1000.0,
        bytes: 1e9,
    }));
    l.set_map(two_shards());
    let low = key_in(true);
    for _ in 0..300 {
        l.push_due(rec("r", &low, t0));
    }
    assert_eq!(
        l.take(500, 1 << 20, t0).records.len(),
        200,
        "the bucket's burst"
    );
    let one_token = t0 + Duration::from_millis(1);
    assert!(
        l.take(500, 1 << 20, one_token).records.is_empty(),
        "not one by one"
    );
    let wake = l.next_wake(Duration::ZERO, one_token).expect("a wake");
    assert_eq!(wake, t0 + Duration::from_millis(100), "a quantum of tokens");
    assert_eq!(l.take(500, 1 << 20, wake).records.len(), 100);
}

/// A partition key whose hash is in `from..=to`.
fn key_between(from: u128, to: u128) -> String {
    (0..)
        .map(|i| format!("device-{i}"))
        .find(|k| (from..=to).contains(&hash_key(k, None).unwrap_or_default()))
        .unwrap_or_default()
}

#[test]
fn a_throttle_reaches_its_own_shard_before_and_after_a_reshard() {
    let t0 = Instant::now();
    let mut l = lanes();
    l.set_map(two_shards());
    let (low, high) = (key_in(true), key_in(false));
    l.throttled("high", 0.5, t0);
    l.throttled("gone", 0.5, t0);
    l.push_due(rec("h", &high, t0));
    l.push_due(rec("l", &low, t0));
    assert_eq!(
        names(&l.take(500, 1 << 20, t0)),
        ["l"],
        "only the throttled shard waits; a shard not in the map changes nothing"
    );
    // "low" splits in two: "high" moves from the second place to the third, its state with it.
    let (half, quarter) = (u128::MAX / 2, u128::MAX / 4);
    let range = |id: &str, start, end| ShardRange {
        shard_id: id.into(),
        start,
        end,
    };
    l.set_map(Arc::new(ShardMap::new(vec![
        range("low-a", 0, quarter),
        range("low-b", quarter + 1, half),
        range("high", half + 1, u128::MAX),
    ])));
    assert!(
        l.take(500, 1 << 20, t0).records.is_empty(),
        "high still waits after the reshard"
    );
    // A throttle after the reshard reaches the shard it names, wherever it now is.
    let (a, b) = (key_between(0, quarter), key_between(quarter + 1, half));
    l.throttled("low-b", 0.5, t0);
    l.push_due(rec("a", &a, t0));
    l.push_due(rec("b", &b, t0));
    assert_eq!(names(&l.take(500, 1 << 20, t0)), ["a"]);
}
