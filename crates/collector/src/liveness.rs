//! Liveness: the loops that must keep turning for messages to be finished (the publisher, the
//! deleter, the visibility extender) beat at least every [`BEAT_EVERY`], busy or idle. `/healthz`
//! fails when one that has started stops beating for [`STALLED_AFTER`]: the loop is stuck (or
//! its task ended) and only a restart helps. Waiting is not stalling: a loop waiting for Kinesis
//! or SQS through an outage still beats, so an outage never gets a collector restarted.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often an idle loop wakes just to beat.
pub(crate) const BEAT_EVERY: Duration = Duration::from_secs(5);
/// A loop silent for this long is stalled.
pub(crate) const STALLED_AFTER: Duration = Duration::from_secs(60);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// When one loop last ran.
#[derive(Debug, Default)]
pub(crate) struct Beat {
    // Milliseconds since `epoch()` plus one; 0 means the loop has not started.
    last_ms: AtomicU64,
}

impl Beat {
    /// The loop is running now.
    pub(crate) fn beat(&self) {
        let ms = u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms.saturating_add(1), Relaxed);
    }

    /// How long since the last beat; `None` before the first.
    pub(crate) fn age(&self) -> Option<Duration> {
        let last = self.last_ms.load(Relaxed).checked_sub(1)?;
        Some(
            epoch()
                .elapsed()
                .saturating_sub(Duration::from_millis(last)),
        )
    }
}

/// The beats of the loops that must not stall.
#[derive(Debug, Default)]
pub(crate) struct Heartbeats {
    /// The publisher's loop.
    pub publisher: Beat,
    /// The deleter's loop.
    pub deleter: Beat,
    /// The visibility extender's loop.
    pub extender: Beat,
}

impl Heartbeats {
    /// The loops that started and have been silent for longer than `after`.
    pub(crate) fn stalled(&self, after: Duration) -> Vec<&'static str> {
        [
            ("publisher", &self.publisher),
            ("deleter", &self.deleter),
            ("visibility extender", &self.extender),
        ]
        .into_iter()
        .filter(|(_, beat)| beat.age().is_some_and(|age| age > after))
        .map(|(name, _)| name)
        .collect()
    }
}

/// A ticker for a loop's `select!`: wakes it every [`BEAT_EVERY`] so an idle loop still beats.
pub(crate) fn ticker() -> tokio::time::Interval {
    let mut ticker = tokio::time::interval(BEAT_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_is_stalled_only_after_it_started_and_fell_silent() {
        let beats = Heartbeats::default();
        assert!(beats.stalled(Duration::ZERO).is_empty(), "nothing started");
        beats.publisher.beat();
        assert!(beats.stalled(Duration::from_secs(60)).is_empty());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(beats.stalled(Duration::from_millis(1)), ["publisher"]);
        beats.publisher.beat();
        assert!(beats.stalled(Duration::from_secs(1)).is_empty());
    }
}
