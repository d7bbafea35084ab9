//! Adaptive request concurrency: how many PutRecords requests may be in flight, between 1 and
//! `DATA_STREAM_MAX_REQUESTS_IN_FLIGHT`, found by additive increase and multiplicative
//! decrease (the idea of Vector's adaptive request concurrency, written for this publisher).
//!
//! Time is cut into windows of about one round trip. At the end of a window the limit:
//! - shrinks by [`DECREASE`] if the window saw back-pressure: a throttled record, a failed
//!   request (a server error, a timeout, a lost answer), or a round trip that rose well above
//!   the usual one (the service queues our requests: more of them only adds lag);
//! - else grows by one if the window used every slot (more might be taken);
//! - else stays (a limit nobody reaches tells nothing).
//!
//! The usual round trip is a moving average of the windows' means, updated only by windows
//! without back-pressure, so an outage does not teach it that slow is normal.

use std::time::Duration;

use tokio::time::Instant;

/// The cut of the limit on back-pressure.
const DECREASE: f64 = 0.9;
/// The weight of a new window's mean round trip in the usual one.
const SMOOTHING: f64 = 0.4;
/// A round trip this many times the usual one counts as back-pressure: twice means the service
/// queues our requests. (Less would mistake for queueing the round trips that grow with the
/// size of requests, or with an emulator's single thread as concurrency grows; the usual round
/// trip follows such slow growth.)
const RISE: f64 = 2.0;
/// The shortest window, so a fast emulator does not make windows of a few microseconds.
const MIN_WINDOW: Duration = Duration::from_millis(10);

/// How a request ended, as the limit sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Response {
    /// Answered, every record accepted or failed for reasons other than throughput.
    Ok,
    /// Answered, some records throttled.
    Throttled,
    /// Failed as a whole (server error, timeout, lost answer).
    Failed,
}

/// The adaptive limit on requests in flight.
#[derive(Debug)]
pub(crate) struct Concurrency {
    max: usize,
    limit: f64,
    /// The usual round trip, once known.
    usual_rtt: Option<Duration>,
    window: Window,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    rtt_sum: Duration,
    answers: u32,
    back_pressure: bool,
    /// Every slot was taken at some point in the window.
    full: bool,
}

impl Window {
    fn new(now: Instant) -> Window {
        Window {
            started: now,
            rtt_sum: Duration::ZERO,
            answers: 0,
            back_pressure: false,
            full: false,
        }
    }
}

impl Concurrency {
    /// Starts at one request, as nothing is known of the service yet.
    pub(crate) fn new(max: usize, now: Instant) -> Self {
        Concurrency {
            max: max.max(1),
            limit: 1.0,
            usual_rtt: None,
            window: Window::new(now),
        }
    }

    /// Requests that may be in flight now.
    pub(crate) fn limit(&self) -> usize {
        // At least 1 and at most `max` by construction; the cast drops the fraction.
        (self.limit as usize).clamp(1, self.max)
    }

    /// A request was sent with `in_flight` requests now in flight (this one included).
    pub(crate) fn sent(&mut self, in_flight: usize) {
        if in_flight >= self.limit() {
            self.window.full = true;
        }
    }

    /// A request ended after `rtt` with `response`; at the end of a window, the limit moves.
    pub(crate) fn answered(&mut self, rtt: Duration, response: Response, now: Instant) {
        let w = &mut self.window;
        w.rtt_sum += rtt;
        w.answers += 1;
        let rose = self
            .usual_rtt
            .is_some_and(|usual| rtt.as_secs_f64() > RISE * usual.as_secs_f64());
        w.back_pressure |= response != Response::Ok || rose;
        let length = self.usual_rtt.unwrap_or(rtt).max(MIN_WINDOW);
        if now < w.started + length {
            return;
        }
        if w.back_pressure {
            self.limit = (self.limit * DECREASE).max(1.0);
        } else {
            if w.full {
                self.limit = (self.limit + 1.0).min(self.max as f64);
            }
            let mean = w.rtt_sum / w.answers.max(1);
            self.usual_rtt = Some(match self.usual_rtt {
                None => mean,
                Some(usual) => usual.mul_f64(1.0 - SMOOTHING) + mean.mul_f64(SMOOTHING),
            });
        }
        self.window = Window::new(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(25);

    /// Runs `windows` windows of answers, each sending with every slot taken.
    fn busy(c: &mut Concurrency, now: &mut Instant, windows: usize, rtt: Duration, r: Response) {
        for _ in 0..windows {
            c.sent(c.limit());
            *now += rtt;
            c.answered(rtt, r, *now);
        }
    }

    #[test]
    fn it_grows_by_one_per_busy_window_up_to_the_maximum() {
        let mut now = Instant::now();
        let mut c = Concurrency::new(8, now);
        assert_eq!(c.limit(), 1);
        busy(&mut c, &mut now, 3, RTT, Response::Ok);
        assert_eq!(c.limit(), 4);
        busy(&mut c, &mut now, 20, RTT, Response::Ok);
        assert_eq!(c.limit(), 8, "never above the setting");
    }

    #[test]
    fn a_limit_nobody_reaches_does_not_grow() {
        let mut now = Instant::now();
        let mut c = Concurrency::new(8, now);
        for _ in 0..10 {
            now += RTT;
            c.answered(RTT, Response::Ok, now);
        }
        assert_eq!(c.limit(), 1);
    }

    #[test]
    fn throttles_failures_and_rising_round_trips_shrink_it_never_below_one() {
        let mut now = Instant::now();
        let mut c = Concurrency::new(64, now);
        busy(&mut c, &mut now, 40, RTT, Response::Ok);
        assert_eq!(c.limit(), 41);
        busy(&mut c, &mut now, 1, RTT, Response::Throttled);
        assert_eq!(c.limit(), 36, "41 x 0.9");
        busy(&mut c, &mut now, 1, RTT, Response::Failed);
        assert_eq!(c.limit(), 33);
        busy(&mut c, &mut now, 1, RTT * 2, Response::Ok);
        assert_eq!(c.limit(), 34, "twice the usual round trip is no alarm yet");
        busy(&mut c, &mut now, 1, RTT * 3, Response::Ok);
        assert_eq!(c.limit(), 30, "three times is");
        busy(&mut c, &mut now, 100, RTT, Response::Failed);
        assert_eq!(c.limit(), 1);
    }

    #[test]
    fn an_outage_does_not_teach_it_that_slow_is_usual() {
        let mut now = Instant::now();
        let mut c = Concurrency::new(8, now);
        busy(&mut c, &mut now, 5, RTT, Response::Ok);
        busy(
            &mut c,
            &mut now,
            20,
            Duration::from_secs(10),
            Response::Failed,
        );
        assert_eq!(c.usual_rtt, Some(RTT));
    }

    #[test]
    fn one_window_is_about_one_round_trip() {
        let mut now = Instant::now();
        let mut c = Concurrency::new(8, now);
        busy(&mut c, &mut now, 1, RTT, Response::Ok);
        assert_eq!(c.limit(), 2);
        // Many answers within one round trip are one window: one step.
        for _ in 0..5 {
            c.sent(c.limit());
            now += Duration::from_millis(2);
            c.answered(RTT, Response::Ok, now);
        }
        assert_eq!(c.limit(), 2);
        now += RTT;
        c.answered(RTT, Response::Ok, now);
        assert_eq!(c.limit(), 3);
    }
}
