//! Clock skew: signatures dated by the service's clock, as the SDK dates them.
//!
//! AWS refuses a signature dated more than 5 minutes from its own clock. The SDK's
//! `ServiceClockSkewInterceptor` (aws-runtime) therefore measures, on every answer, the service
//! clock (its `Date` header) against the midpoint of the request's round trip, keeps that skew
//! per client, and signs later requests at local time plus the skew. This module does the same
//! per service: a host whose clock drifts keeps working, with either client. Like the SDK, it
//! skips answers from a cache (`Age`), answers without a readable `Date`, and round trips over
//! 15 minutes; and it is off when the `SdkConfig` disables clock skew correction.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

/// A round trip longer than this says too little about the service's clock (the SDK's limit).
const MAX_TRUSTED_ROUND_TRIP: Duration = Duration::from_secs(15 * 60);

/// The last measured skew of one service, in signed milliseconds (service minus local).
#[derive(Debug)]
pub(crate) struct ClockSkew {
    enabled: bool,
    skew_ms: AtomicI64,
    /// The last `Date` read and what it said: answers within the same second carry the same
    /// text, so it is parsed once a second, not once per answer.
    last_date: Mutex<Option<(String, SystemTime)>>,
}

impl ClockSkew {
    /// No skew yet; `enabled` false keeps it at zero.
    pub(crate) fn new(enabled: bool) -> Self {
        ClockSkew {
            enabled,
            skew_ms: AtomicI64::new(0),
            last_date: Mutex::new(None),
        }
    }

    /// `now` moved by the last measured skew.
    pub(crate) fn apply(&self, now: SystemTime) -> SystemTime {
        let skew = self.skew_ms.load(Ordering::Relaxed);
        let shift = Duration::from_millis(skew.unsigned_abs());
        let moved = if skew >= 0 {
            now.checked_add(shift)
        } else {
            now.checked_sub(shift)
        };
        moved.unwrap_or(now)
    }

    /// Records the skew an answer shows: its `Date` against the middle of the round trip.
    pub(crate) fn observe(
        &self,
        sent: SystemTime,
        received: SystemTime,
        date: Option<&str>,
        from_cache: bool,
    ) {
        if !self.enabled || from_cache {
            return;
        }
        let Some(server) = date.and_then(|d| self.read_date(d)) else {
            return;
        };
        let round_trip = received.duration_since(sent).unwrap_or_default();
        if round_trip > MAX_TRUSTED_ROUND_TRIP {
            return;
        }
        let midpoint = sent + round_trip / 2;
        let skew = match server.duration_since(midpoint) {
            Ok(ahead) => i64::try_from(ahead.as_millis()).unwrap_or(i64::MAX),
            Err(behind) => -i64::try_from(behind.duration().as_millis()).unwrap_or(i64::MAX),
        };
        self.skew_ms.store(skew, Ordering::Relaxed);
    }

    /// The time an HTTP date says, if it is one.
    fn read_date(&self, date: &str) -> Option<SystemTime> {
        let mut last = self.last_date.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((text, at)) = last.as_ref() {
            if text == date {
                return Some(*at);
            }
        }
        let at = DateTime::from_str(date, Format::HttpDate)
            .ok()
            .and_then(|d| SystemTime::try_from(d).ok())?;
        *last = Some((date.to_owned(), at));
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: SystemTime = SystemTime::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        T + Duration::from_secs(secs)
    }

    #[test]
    fn a_service_ahead_or_behind_moves_the_signing_time() {
        let skew = ClockSkew::new(true);
        let base = 1_700_000_000;
        // The service says an hour later than the middle of the round trip.
        let date = DateTime::from(at(base + 3600 + 1))
            .fmt(Format::HttpDate)
            .unwrap();
        skew.observe(at(base), at(base + 2), Some(&date), false);
        assert_eq!(skew.apply(at(base + 10)), at(base + 10 + 3600));
        // Then two minutes earlier.
        let date = DateTime::from(at(base - 120))
            .fmt(Format::HttpDate)
            .unwrap();
        skew.observe(at(base), at(base), Some(&date), false);
        assert_eq!(skew.apply(at(base)), at(base - 120));
    }

    #[test]
    fn a_date_read_again_is_measured_against_its_own_round_trip() {
        let skew = ClockSkew::new(true);
        let base = 1_700_000_000;
        let date = DateTime::from(at(base + 60)).fmt(Format::HttpDate).unwrap();
        skew.observe(at(base), at(base), Some(&date), false);
        assert_eq!(skew.apply(at(base)), at(base + 60));
        // The same text (parsed once, remembered), ten seconds later by the local clock.
        skew.observe(at(base + 10), at(base + 10), Some(&date), false);
        assert_eq!(skew.apply(at(base)), at(base + 50));
    }

    #[test]
    fn untrusted_answers_and_a_disabled_correction_change_nothing() {
        let late = DateTime::from(at(1_700_003_600))
            .fmt(Format::HttpDate)
            .unwrap();
        let now = at(1_700_000_000);
        let skew = ClockSkew::new(true);
        skew.observe(now, now, Some(&late), true);
        skew.observe(now, now, Some("not a date"), false);
        skew.observe(now, now, None, false);
        skew.observe(now, now + MAX_TRUSTED_ROUND_TRIP * 2, Some(&late), false);
        assert_eq!(skew.apply(now), now);
        let off = ClockSkew::new(false);
        off.observe(now, now, Some(&late), false);
        assert_eq!(off.apply(now), now);
    }
}
