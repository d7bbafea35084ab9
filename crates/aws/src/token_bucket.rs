//! A token bucket: a budget that refills continuously at a rate, up to a capacity. Kinesis's
//! per-shard write limits are two of them side by side (records and bytes per second), each
//! holding one second's worth.

use std::time::Instant;

/// Tokens refilled at `per_sec` up to `capacity`; starts full.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `per_sec`.
    pub fn full(capacity: f64, per_sec: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            capacity,
            per_sec,
            tokens: capacity,
            at: now,
        }
    }

    /// The tokens there are at `now` (a `now` earlier than the last one counts as no time).
    pub fn available(&mut self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.at = self.at.max(now);
        self.tokens
    }

    /// Takes `n` tokens when there are that many at `now`; false (and nothing taken) otherwise.
    pub fn try_take(&mut self, n: f64, now: Instant) -> bool {
        if self.available(now) >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// Takes `n` tokens known to be there (see [`TokenBucket::available`]).
    pub fn take(&mut self, n: f64) {
        self.tokens -= n;
    }

    /// From `now` on, refills at `per_sec` up to `capacity` (what was refilled until `now` at
    /// the old rate is kept, up to the new capacity).
    pub fn set_rate(&mut self, capacity: f64, per_sec: f64, now: Instant) {
        self.available(now);
        self.capacity = capacity;
        self.per_sec = per_sec;
        self.tokens = self.tokens.min(capacity);
    }

    /// The most tokens it holds.
    pub fn capacity(&self) -> f64 {
        self.capacity
    }

    /// Empties the bucket at `now`.
    pub fn drain(&mut self, now: Instant) {
        self.available(now);
        self.tokens = 0.0;
    }

    /// When the bucket will hold `n` tokens, counted from `now` (`now` if it does; never, as
    /// `None`, if `n` is above its capacity or it does not refill).
    pub fn ready_at(&mut self, n: f64, now: Instant) -> Option<Instant> {
        let missing = n - self.available(now);
        if missing <= 0.0 {
            return Some(now);
        }
        if n > self.capacity || self.per_sec <= 0.0 {
            return None;
        }
        Some(now + std::time::Duration::from_secs_f64(missing / self.per_sec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

    #[test]
    fn a_full_bucket_gives_its_capacity_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::full(100.0, 100.0, t0);
        assert_eq!((0..150).filter(|_| b.try_take(1.0, t0)).count(), 100);
        assert!(!b.try_take(1.0, t0 + Duration::from_millis(5)));
        assert!(b.try_take(1.0, t0 + Duration::from_millis(10)));
        // After a long idle time it holds its capacity, no more.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..150).filter(|_| b.try_take(1.0, later)).count(), 100);
    }

    #[test]
    fn a_new_rate_applies_from_now_and_a_drained_bucket_refills_from_zero() {
        let t0 = Instant::now();
        let mut b = TokenBucket::full(100.0, 100.0, t0);
        b.drain(t0);
        assert_eq!(b.ready_at(10.0, t0), Some(t0 + Duration::from_millis(100)));
        b.set_rate(50.0, 50.0, t0 + Duration::from_millis(100));
        assert!((b.available(t0 + Duration::from_millis(100)) - 10.0).abs() < 1e-9);
        assert!((b.available(t0 + Duration::from_millis(300)) - 20.0).abs() < 1e-9);
        assert_eq!(b.ready_at(51.0, t0), None, "above the capacity");
        b.set_rate(5.0, 50.0, t0 + Duration::from_millis(300));
        assert_eq!(
            b.available(t0 + Duration::from_millis(300)),
            5.0,
            "cut to the capacity"
        );
    }

    #[test]
    fn a_refused_take_takes_nothing() {
        let t0 = Instant::now();
        let mut b = TokenBucket::full(10.0, 10.0, t0);
        assert!(!b.try_take(11.0, t0));
        assert!(b.try_take(10.0, t0));
    }

    proptest! {
        /// Whatever the requests and their timing, what is granted over a run never exceeds the
        /// capacity plus the rate times the run's length; and a request no larger than the
        /// capacity is granted after the bucket had a full second to refill.
        #[test]
        fn grants_never_exceed_capacity_plus_rate_times_time(
            steps in proptest::collection::vec((0u64..200, 0.0f64..60.0), 1..300),
            capacity in 1.0f64..2000.0,
        ) {
            let t0 = Instant::now();
            let mut b = TokenBucket::full(capacity, capacity, t0);
            let mut now = t0;
            let mut granted = 0.0;
            for (gap_ms, n) in steps {
                now += Duration::from_millis(gap_ms);
                if b.try_take(n, now) {
                    granted += n;
                }
                let bound = capacity + capacity * now.duration_since(t0).as_secs_f64();
                prop_assert!(granted <= bound + 1e-6, "{granted} > {bound}");
            }
            let n = capacity.min(1.0);
            prop_assert!(b.try_take(n, now + Duration::from_secs(1)));
        }
    }
}
