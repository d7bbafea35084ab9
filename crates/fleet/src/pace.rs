//! The pace of a fleet: when the next submissions are due, and from which devices.
//!
//! Two modes: a fixed rate over the whole fleet (a load generator: it catches up after a slow
//! send, so the average holds), or the original simulator's, where each device sends once
//! every 30-45 s.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// The most submissions due at once: a rate that fell behind catches up in steps this large.
const MOST_AT_ONCE: u64 = 100;

/// When submissions are due.
#[derive(Debug)]
pub struct Pace(Mode);

#[derive(Debug)]
enum Mode {
    /// A fixed total rate.
    Rate { per_sec: f64, started: Instant },
    /// When each device sends next.
    Devices { next: Vec<Instant> },
}

impl Pace {
    /// `per_sec` (above 0) submissions a second over the whole fleet, counted from `started`.
    pub fn rate(per_sec: f64, started: Instant) -> Pace {
        Pace(Mode::Rate { per_sec, started })
    }

    /// Each of `devices` devices once every 30-45 s; the first sends within 5 s of `started`,
    /// so events flow at once.
    pub fn devices(devices: usize, started: Instant, rng: &mut impl Rng) -> Pace {
        let next = (0..devices.max(1))
            .map(|_| started + Duration::from_secs_f64(rng.gen_range(0.0..5.0)))
            .collect();
        Pace(Mode::Devices { next })
    }

    /// Waits until at least one submission is due, `sent` having been sent so far, and returns
    /// one item per submission due now: the device that sends it, or `None` for any device.
    pub async fn due(&mut self, sent: u64, rng: &mut impl Rng) -> Vec<Option<usize>> {
        match &mut self.0 {
            Mode::Rate { per_sec, started } => loop {
                let owed = owed(*per_sec, started.elapsed(), sent);
                if owed > 0 {
                    return vec![None; owed];
                }
                let next = *started + Duration::from_secs_f64((sent + 1) as f64 / *per_sec);
                tokio::time::sleep_until(next).await;
            },
            Mode::Devices { next } => {
                let Some(earliest) = next.iter().min().copied() else {
                    return Vec::new();
                };
                tokio::time::sleep_until(earliest).await;
                let now = Instant::now();
                let mut due = Vec::new();
                for (device, at) in next.iter_mut().enumerate() {
                    if *at <= now {
                        due.push(Some(device));
                        *at = now + Duration::from_secs_f64(rng.gen_range(30.0..=45.0));
                    }
                }
                due
            }
        }
    }
}

/// Submissions a rate of `per_sec` owes after `elapsed` beyond the `sent` ones, at most
/// [`MOST_AT_ONCE`].
fn owed(per_sec: f64, elapsed: Duration, sent: u64) -> usize {
    let total = (elapsed.as_secs_f64() * per_sec) as u64;
    let owed = total.saturating_sub(sent).min(MOST_AT_ONCE);
    usize::try_from(owed).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_rate_owes_what_time_allows_beyond_what_was_sent_in_steps_of_at_most_100() {
        let second = Duration::from_secs(1);
        assert_eq!(owed(4.0, Duration::from_millis(240), 0), 0);
        assert_eq!(owed(4.0, Duration::from_millis(250), 0), 1);
        assert_eq!(owed(4.0, 10 * second, 30), 10);
        assert_eq!(owed(4.0, 10 * second, 45), 0, "ahead: nothing owed");
        assert_eq!(owed(1_000.0, second, 0), 100);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_waits_for_the_next_submission_then_catches_up() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let started = Instant::now();
        let mut pace = Pace::rate(4.0, started);
        assert_eq!(pace.due(0, &mut rng).await, [None]);
        assert_eq!(started.elapsed(), Duration::from_millis(250));
        assert_eq!(pace.due(1, &mut rng).await, [None]);
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        // A slow send: three are owed by the time it returns.
        tokio::time::advance(Duration::from_millis(750)).await;
        assert_eq!(pace.due(2, &mut rng).await.len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn each_device_starts_within_5_s_then_sends_every_30_to_45_s() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(2);
        let started = Instant::now();
        let mut pace = Pace::devices(3, started, &mut rng);
        let mut sends: Vec<Vec<Duration>> = vec![Vec::new(); 3];
        while started.elapsed() < Duration::from_secs(200) {
            for device in pace.due(0, &mut rng).await {
                let device = device.expect("a device mode names the device");
                sends[device].push(started.elapsed());
            }
        }
        for times in &sends {
            assert!(times[0] < Duration::from_secs(5), "{times:?}");
            for gap in times.windows(2).map(|w| w[1] - w[0]) {
                let secs = gap.as_secs_f64();
                assert!((30.0..=45.0).contains(&secs), "{times:?}");
            }
            assert!(times.len() >= 5, "{times:?}");
        }
    }
}
