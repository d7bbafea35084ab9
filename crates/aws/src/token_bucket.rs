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
