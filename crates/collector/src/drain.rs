//! The graceful shutdown: finish what is held within the grace period, hand back the rest.
//!
//! Receiving stops at once (the shutdown token); the publisher, dead-letter task and deleter
//! stop lingering and finish what is held until the work deadline; whatever is still held then
//! is handed back (visibility 0), so another collector takes it at once instead of waiting out
//! its visibility timeout. Every step has a deadline: SQS or Kinesis may be why we stop.

use std::time::Duration;

use tokio::time::{timeout_at, Instant};

use crate::pipeline::Pipeline;
use crate::queue::Queue;

/// The deadlines of a drain, from the shutdown signal.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    /// Finishing held work stops here; the rest of the grace period is the reserve, kept for
    /// handing back what cannot be finished.
    work: Instant,
    /// The end of the grace period: hand-backs stop here.
    hard: Instant,
    /// How long the deleter may still send what it has once the work has ended: half the
    /// reserve.
    deleter_time: Duration,
}

impl Deadlines {
    /// The reserve is a quarter of the grace period, at most 2 s.
    fn new(started: Instant, grace: Duration) -> Deadlines {
        let reserve = (grace / 4).min(Duration::from_secs(2));
        Deadlines {
            work: started + grace.saturating_sub(reserve),
            hard: started + grace,
            deleter_time: reserve / 2,
        }
    }

    /// The deleter's deadline, for work that ended at `ended` (early, or at the work deadline).
    fn deleter(&self, ended: Instant) -> Instant {
        self.work.max(ended) + self.deleter_time
    }
}

impl<Q: Queue> Pipeline<Q> {
    /// Drains within `grace` of now and stops every task. Returns once the hand-back is done.
    pub(crate) async fn drain(mut self, grace: Duration) {
        let started = Instant::now();
        let deadlines = Deadlines::new(started, grace);
        tracing::info!(
            held = self.in_flight.len(),
            grace_period_sec = grace.as_secs_f64(),
            "receiving stopped; finishing the submissions held"
        );
        let receivers = &mut self.receivers;
        let receivers_done = async { while receivers.join_next().await.is_some() {} };
        if timeout_at(deadlines.work, receivers_done).await.is_err() {
            self.receivers.abort_all();
        }
        // Messages a receiver held but never passed on will not be finished: hand them back now.
        let undispatched = self.in_flight.all(true);
        if !undispatched.is_empty() {
            let _ = timeout_at(deadlines.hard, self.visibility.hand_back(undispatched)).await;
        }

        let finished = timeout_at(deadlines.work, self.in_flight.wait_empty())
            .await
            .is_ok();
        self.publisher.abort();
        self.shards.abort();
        // Letters not yet accepted stay held and are handed back below, like unpublished work.
        if let Some(task) = &self.dead_letter {
            task.abort();
        }
        // Let the deleter send what it already has (also when the work ended early), then stop
        // it and hand back everything else.
        let deleter_deadline = deadlines.deleter(Instant::now());
        if timeout_at(deleter_deadline, &mut self.deleter)
            .await
            .is_err()
        {
            self.deleter.abort();
        }
        // The extender stops first (abandoning a round in progress), so no extension can race
        // the hand-back, and the hand-back never waits for a slow round.
        self.extender.abort();
        let _ = (&mut self.extender).await;
        let rest = self.in_flight.all(false);
        let handed_back = if rest.is_empty() {
            0
        } else {
            timeout_at(deadlines.hard, self.visibility.hand_back(rest))
                .await
                .unwrap_or(0)
        };
        self.stop_summary.cancel();
        let _ = (&mut self.summary).await;
        let total = self.stats.snapshot();
        tracing::info!(
            finished_all = finished,
            handed_back,
            events_published = total.events_published,
            messages_deleted = total.deleted,
            elapsed_sec = started.elapsed().as_secs_f64(),
            "telemetry-collector stopped"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_a_quarter_of_the_grace_at_most_two_seconds() {
        let t = Instant::now();
        let d = Deadlines::new(t, Duration::from_secs(4));
        assert_eq!(d.work, t + Duration::from_secs(3));
        assert_eq!(d.deleter(t), t + Duration::from_millis(3500));
        assert_eq!(d.hard, t + Duration::from_secs(4));
        let d = Deadlines::new(t, Duration::from_secs(20));
        assert_eq!(d.work, t + Duration::from_secs(18));
        assert_eq!(
            d.deleter(t),
            t + Duration::from_secs(19),
            "the work ended early"
        );
        let late = t + Duration::from_secs(25);
        assert_eq!(
            d.deleter(late),
            late + Duration::from_secs(1),
            "it ended late"
        );
        assert_eq!(d.hard, t + Duration::from_secs(20));
        let d = Deadlines::new(t, Duration::ZERO);
        assert_eq!((d.work, d.deleter(t), d.hard), (t, t, t));
    }
}
