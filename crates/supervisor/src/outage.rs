//! Failing AWS calls (Kinesis, and CloudWatch for that source): one log line when they start
//! failing and one when they succeed again, not an error per try; and the delay before a
//! failed call is tried again.
//!
//! Calls are judged a round at a time (every read of the shards, every tick): a round with any
//! failed call is failing, a round whose calls all succeeded ends the outage. So a shard that
//! keeps failing while the others answer is one outage, not a line per read.

use std::time::{Duration, Instant};

use telemetry_aws::backoff::Backoff;

/// The longest wait before a failed call is tried again. Shard iterators expire after five
/// minutes; an expired one is simply taken again.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// The delay before try number `failures + 1`: `base` doubled per failure, at most
/// [`MAX_RETRY_DELAY`] (or `base` when it is longer). The workspace's [`Backoff`], without its
/// jitter ([`Backoff::ceiling`]): one supervisor runs per stream, so there is no crowd of
/// clients to spread out, and a fixed delay keeps the read pace of every shard predictable.
pub fn retry_delay(base: Duration, failures: u32) -> Duration {
    let backoff = Backoff {
        base,
        cap: MAX_RETRY_DELAY.max(base),
    };
    backoff.ceiling(failures.saturating_add(1))
}

/// The state of AWS as this process sees it.
#[derive(Debug, Default)]
pub struct Outage {
    /// When the outage started, and the service of its first failed call.
    since: Option<(Instant, &'static str)>,
    first_failure: Option<(&'static str, &'static str, String)>,
    succeeded: u32,
}

impl Outage {
    /// A Kinesis call of this round failed with `code`.
    pub fn failed(&mut self, call: &'static str, code: impl Into<String>) {
        self.failed_in("Kinesis", call, code);
    }

    /// A call to `service` of this round failed with `code`.
    pub fn failed_in(
        &mut self,
        service: &'static str,
        call: &'static str,
        code: impl Into<String>,
    ) {
        if self.first_failure.is_none() {
            self.first_failure = Some((service, call, code.into()));
        }
    }

    /// A call of this round succeeded.
    pub fn succeeded(&mut self) {
        self.succeeded = self.succeeded.saturating_add(1);
    }

    /// Ends a round: logs when an outage starts or ends, and returns whether one goes on.
    pub fn settle(&mut self, now: Instant) -> bool {
        match (self.first_failure.take(), self.since) {
            (Some((service, call, code)), None) => {
                tracing::warn!(
                    service,
                    call,
                    error = code.as_str(),
                    "{service} calls are failing; retrying with backoff"
                );
                self.since = Some((now, service));
            }
            (None, Some((since, service))) if self.succeeded > 0 => {
                tracing::info!(
                    service,
                    outage_sec = now.saturating_duration_since(since).as_secs_f64(),
                    "{service} calls succeed again"
                );
                self.since = None;
            }
            _ => {}
        }
        self.succeeded = 0;
        self.since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_from_the_base_and_stops_at_the_cap() {
        let base = Duration::from_millis(250);
        assert_eq!(retry_delay(base, 0), base);
        assert_eq!(retry_delay(base, 3), Duration::from_secs(2));
        assert_eq!(retry_delay(base, 100), MAX_RETRY_DELAY);
        // A base above the cap is never cut: the poll interval is a floor.
        assert_eq!(
            retry_delay(Duration::from_secs(60), 5),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn an_outage_is_one_start_and_one_end_whatever_the_rounds_in_between() {
        let t = Instant::now();
        let mut o = Outage::default();
        assert!(!o.settle(t), "no calls, no outage");
        o.failed("GetRecords", "connection");
        o.succeeded();
        assert!(o.settle(t), "a round with a failure is failing");
        o.failed("GetRecords", "connection");
        assert!(o.settle(t));
        assert!(o.settle(t), "a round without calls does not end it");
        o.succeeded();
        assert!(
            !o.settle(t + Duration::from_secs(3)),
            "a clean round ends it"
        );
    }
}
