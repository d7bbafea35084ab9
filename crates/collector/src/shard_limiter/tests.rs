//! The limiter's decisions, and a simulation of collectors sharing a shard against a bucket
//! that throttles as Kinesis does, on a simulated clock.

use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

const LIMITS: Limits = Limits {
    records: 1000.0,
    bytes: 1024.0 * 1024.0,
};

/// Shards "a" and "b", as the limiter knows them: by their index among the open shards.
const A: usize = 0;
const B: usize = 1;

fn ids(names: &[&str]) -> Vec<Arc<str>> {
    names.iter().map(|&n| Arc::from(n)).collect()
}

/// A limiter of `limits` for the open shards "a" and "b".
fn limiter(limits: Limits) -> ShardLimiter {
    let mut l = ShardLimiter::new(limits);
    l.set_shards(ids(&["a", "b"]));
    l
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_record_waits_when_its_shard_has_no_tokens_and_other_shards_go_on() {
    let t0 = Instant::now();
    let mut l = limiter(LIMITS);
    let burst = (0..1000).take_while(|_| l.admit(A, 400, t0)).count();
    assert_eq!(burst, 200, "a fifth of a second's records at once");
    assert!(!l.admit(A, 400, t0));
    assert!(l.admit(B, 400, t0), "another shard is not held up");
    assert_eq!(
        l.ready_at(A, 400, t0),
        t0 + ms(1),
        "one record a millisecond"
    );
    assert!(l.admit(A, 400, t0 + ms(1)));
}

#[test]
fn the_byte_limit_holds_too_and_a_record_larger_than_the_bucket_still_passes() {
    let t0 = Instant::now();
    let limits = Limits {
        records: 1000.0,
        bytes: 10_000.0,
    };
    let mut l = limiter(limits);
    assert_eq!((0..100).take_while(|_| l.admit(A, 500, t0)).count(), 4);
    let later = t0 + Duration::from_secs(1);
    assert!(
        l.admit(A, 1_000_000, later),
        "alone, once the bucket is full"
    );
    assert!(!l.admit(A, 1, later));
}

#[test]
fn a_throttle_cuts_the_share_once_per_burst_and_empties_the_buckets() {
    let t0 = Instant::now();
    let mut l = limiter(LIMITS);
    assert!(l.admit(A, 100, t0));
    l.throttled(A, 0.1, t0);
    assert_eq!(l.share(A, t0), DECREASE);
    assert!(!l.admit(A, 100, t0), "emptied");
    l.throttled(A, 0.1, t0 + ms(100));
    assert_eq!(
        l.share(A, t0 + ms(100)),
        DECREASE + 0.1 * GROWTH_PER_SEC,
        "the same burst"
    );
    let next = t0 + CUT_EVERY;
    l.throttled(A, 0.1, next);
    let expected = (DECREASE + CUT_EVERY.as_secs_f64() * GROWTH_PER_SEC) * DECREASE;
    assert!(
        (l.share(A, next) - expected).abs() < 1e-9,
        "a new burst cuts again"
    );
    assert_eq!(l.share(B, next), 1.0, "other shards keep theirs");
}

#[test]
fn the_share_grows_back_to_the_whole_limit_and_no_further() {
    let t0 = Instant::now();
    let mut l = limiter(LIMITS);
    l.throttled(A, 0.1, t0);
    let half_way = t0 + Duration::from_secs_f64((1.0 - DECREASE) / 2.0 / GROWTH_PER_SEC);
    assert!((l.share(A, half_way) - (1.0 + DECREASE) / 2.0).abs() < 1e-9);
    assert_eq!(l.share(A, t0 + Duration::from_secs(3600)), 1.0);
}

#[test]
fn switched_off_it_lets_everything_through() {
    let t0 = Instant::now();
    let mut l = ShardLimiter::off();
    l.set_shards(ids(&["a"]));
    assert!((0..100_000).all(|_| l.admit(A, 1_000_000, t0)));
    l.throttled(A, 0.1, t0);
    assert!(l.admit(A, 1, t0));
    assert_eq!(l.ready_at(A, 1, t0), t0);
}

#[test]
fn a_reshard_forgets_closed_shards_only() {
    let t0 = Instant::now();
    let mut l = limiter(LIMITS);
    l.throttled(A, 0.1, t0);
    l.throttled(B, 0.1, t0);
    l.set_shards(ids(&["b", "c"]));
    assert_eq!(l.share(0, t0), DECREASE, "b keeps its share, now first");
    assert_eq!(l.share(1, t0), 1.0, "c is new");
    assert_eq!(l.index("a"), None);
    l.set_shards(ids(&["a", "b"]));
    assert_eq!(l.share(A, t0), 1.0, "a was forgotten");
    assert_eq!(l.share(B, t0), DECREASE);
}

#[test]
fn a_throttle_cuts_the_share_to_the_part_taken_by_a_quarter_at_least_and_to_a_quarter_at_most() {
    let t0 = Instant::now();
    for (refused, share) in [(0.1, DECREASE), (2.0 / 3.0, 1.0 / 3.0), (0.95, DEEPEST_CUT)] {
        let mut l = limiter(LIMITS);
        l.throttled(A, refused, t0);
        assert!(
            (l.share(A, t0) - share).abs() < 1e-9,
            "{refused} refused: share {} not {share}",
            l.share(A, t0)
        );
    }
}

/// Three writers starting together at the full rate draw few throttles in their first seconds.
#[test]
fn three_writers_starting_together_settle_within_a_second_or_so() {
    let (accepted, throttled) = share_a_shard(3, 3, ms(25));
    // Cuts of a quarter at a time drew 624 throttles for 3,976 accepted; cuts to the part
    // taken draw about 50.
    assert!(
        throttled * 20 <= accepted,
        "{throttled} throttled for {accepted} in the first 3 s"
    );
}

proptest! {
    /// Whatever the sizes and the timing of the records offered, one writer is never given more
    /// than a shard's limits allow over any run: a bucket's burst plus the rate times the time.
    #[test]
    fn one_writer_never_gets_more_than_the_limits(
        steps in proptest::collection::vec((0u64..50, 1usize..5_000, 0usize..50), 1..300),
    ) {
        let t0 = Instant::now();
        let limits = Limits { records: 100.0, bytes: 50_000.0 };
        let mut l = limiter(limits);
        let (mut now, mut records, mut bytes) = (t0, 0.0, 0.0);
        for (gap, size, tries) in steps {
            now += ms(gap);
            for _ in 0..tries {
                if l.admit(A, size, now) {
                    records += 1.0;
                    bytes += size.min(10_000) as f64;
                }
            }
            let secs = now.duration_since(t0).as_secs_f64();
            prop_assert!(records <= limits.records * (BURST + secs) + 1.0, "{records} records");
            prop_assert!(bytes <= limits.bytes * (BURST + secs) + 1.0, "{bytes} bytes");
        }
    }
}

/// What `writers` collectors, each wanting far more than a shard takes and each with its own
/// limiter, get from one shard that throttles as Kinesis does, over `secs` simulated seconds:
/// (accepted, throttled). Requests take `rtt`, half of it on the way there.
fn share_a_shard(writers: usize, secs: u64, rtt: Duration) -> (u64, u64) {
    const TICK: Duration = Duration::from_millis(5);
    let t0 = Instant::now();
    let mut kinesis = TokenBucket::full(LIMITS.records, LIMITS.records, t0.into_std());
    let mut limiters: Vec<ShardLimiter> = (0..writers).map(|_| limiter(LIMITS)).collect();
    // (arrives at Kinesis, writer, records) and (answer arrives, writer, sent, throttled)
    let mut going: VecDeque<(Instant, usize, u32)> = VecDeque::new();
    let mut answers: VecDeque<(Instant, usize, u32, u32)> = VecDeque::new();
    let (mut accepted, mut throttled) = (0u64, 0u64);
    let ticks = secs * 1000 / TICK.as_millis() as u64;
    for tick in 0..ticks {
        let now = t0 + TICK * tick as u32;
        while going.front().is_some_and(|(at, _, _)| *at <= now) {
            let Some((at, writer, n)) = going.pop_front() else {
                break;
            };
            let ok = (0..n)
                .filter(|_| kinesis.try_take(1.0, at.into_std()))
                .count() as u32;
            accepted += u64::from(ok);
            throttled += u64::from(n - ok);
            answers.push_back((at + rtt / 2, writer, n, n - ok));
        }
        while answers.front().is_some_and(|(at, _, _, _)| *at <= now) {
            let Some((at, writer, sent, refused)) = answers.pop_front() else {
                break;
            };
            if refused > 0 {
                limiters[writer].throttled(A, f64::from(refused) / f64::from(sent), at);
            }
        }
        for i in 0..writers {
            // A different writer first at each tick: none is favoured by the order.
            let writer = (i + tick as usize) % writers;
            let n = (0..100)
                .take_while(|_| limiters[writer].admit(A, 400, now))
                .count() as u32;
            if n > 0 {
                going.push_back((now + rtt / 2, writer, n));
            }
        }
    }
    (accepted, throttled)
}

#[test]
fn one_writer_takes_the_whole_shard_without_being_throttled() {
    let secs = 60;
    let (accepted, throttled) = share_a_shard(1, secs, ms(25));
    let capacity = LIMITS.records * secs as f64;
    assert!(
        accepted as f64 >= 0.95 * capacity,
        "{accepted} of {capacity}"
    );
    assert!(
        throttled * 100 <= accepted,
        "{throttled} throttled for {accepted}"
    );
}

#[test]
fn three_writers_share_a_shard_near_its_limit_with_few_throttles() {
    let secs = 120;
    let (accepted, throttled) = share_a_shard(3, secs, ms(25));
    let capacity = LIMITS.records * secs as f64;
    assert!(
        accepted as f64 >= 0.9 * capacity,
        "{accepted} of {capacity}"
    );
    assert!(
        throttled * 100 <= 2 * accepted,
        "{throttled} throttled for {accepted}"
    );
}
