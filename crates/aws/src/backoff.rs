//! Capped exponential backoff with jitter: the retry policy of AWS calls in every binary (the
//! collector's records and SQS calls, the fleet's sends), and, without the jitter, of the
//! shard supervisor's calls.

use std::time::Duration;

use rand::Rng;

/// `delay(n)` lies in `[d/2, d]` where `d = min(cap, base * 2^n)` ("equal jitter"): retries of
/// many records spread out instead of arriving together, and never retry at once.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The delay scale of the first retry.
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
}

impl Backoff {
    /// Record retries against Kinesis: quick first retries, at most 5 s apart when throttled.
    pub const RECORDS: Backoff = Backoff {
        base: Duration::from_millis(50),
        cap: Duration::from_secs(5),
    };
    /// Calls to SQS, and waiting for the queue and stream at start.
    pub const CALLS: Backoff = Backoff {
        base: Duration::from_millis(200),
        cap: Duration::from_secs(10),
    };

    /// The delay before retry number `attempt` (1 for the first retry): a random point of
    /// the upper half of [`Backoff::ceiling`].
    pub fn delay(&self, attempt: u32) -> Duration {
        let half = self.ceiling(attempt) / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }

    /// The longest delay before retry number `attempt`, with no jitter:
    /// `min(cap, base * 2^(attempt - 1))`. Alone it suits a lone client (one shard supervisor
    /// per stream), with no crowd of retries to spread out.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        exp.min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_stays_in_the_jitter_band() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for _ in 0..200 {
            let first = b.delay(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = b.delay(3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = b.delay(u32::MAX);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_secs(1));
        }
    }

    #[test]
    fn the_ceiling_doubles_from_the_base_to_the_cap_without_jitter() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        let ceilings: Vec<_> = [0, 1, 2, 4, 5, u32::MAX]
            .into_iter()
            .map(|n| b.ceiling(n).as_millis())
            .collect();
        assert_eq!(ceilings, [100, 100, 200, 800, 1000, 1000]);
    }
}
