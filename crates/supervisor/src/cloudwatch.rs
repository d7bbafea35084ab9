//! The CloudWatch source: what the stream took in, from its `AWS/Kinesis` metrics
//! `IncomingRecords` and `IncomingBytes`, and what it refused, `WriteProvisionedThroughputExceeded`
//! (statistic Sum, dimension `StreamName`), one GetMetricData call per tick instead of a
//! GetRecords per shard per poll interval.
//!
//! CloudWatch's basic Kinesis metrics have one-minute periods and arrive a few minutes late,
//! so the window is whole minutes ([`MetricWindow`]): the window asked for rounded up to
//! minutes, ending at the start of the minute `delay` seconds ago. A minute without a datapoint
//! is "not measured", never zero load: an outage of the metrics must not look like a quiet
//! stream and merge shards. The sums become the same [`Rates`] the stream source gives, so the
//! decision does not know where they came from.
//!
//! Throttled records are demand the stream could not take: they are added to what it took in
//! (each at the minute's mean size of an accepted record, since CloudWatch counts refused
//! records, not their bytes), and at most as many as the minute took in, since writers retry
//! and the count has a refused record once per attempt. A minute with load but without a
//! `WriteProvisionedThroughputExceeded` datapoint does not stop the measurement (a split on
//! what was taken in still holds) but makes the throttles [`Throttles::Unknown`], so no merge.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::config::timeout::TimeoutConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_sdk_cloudwatch::Client;
use telemetry_aws::error_code;

use crate::outage::Outage;
use crate::traffic::{Rates, ShardLimits, Throttles};

/// The period of CloudWatch's basic Kinesis stream metrics, in seconds.
pub const PERIOD_SECS: u32 = 60;

/// The namespace of Kinesis stream metrics.
const NAMESPACE: &str = "AWS/Kinesis";

/// A GetMetricData of two metrics over at most an hour answers in well under a second.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A CloudWatch client from the same SDK configuration as the Kinesis client, so the standard
/// chain and `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_CLOUDWATCH` apply alike.
pub fn client(sdk: &SdkConfig) -> Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build();
    let config = aws_sdk_cloudwatch::config::Builder::from(sdk)
        .timeout_config(timeouts)
        .build();
    Client::from_conf(config)
}

/// The whole minutes queried, `[start, end)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricWindow {
    /// The first minute's start.
    pub start: i64,
    /// The end: the start of the minute after the last one.
    pub end: i64,
}

impl MetricWindow {
    /// The window for `window_secs` rounded up to whole minutes (at least one), ending at the
    /// start of the minute that holds `now - delay_secs`: every minute in it ended at least
    /// `delay_secs` ago.
    pub fn ending_before(now: i64, window_secs: u32, delay_secs: u32) -> MetricWindow {
        let period = i64::from(PERIOD_SECS);
        let minutes = i64::from(window_secs.div_ceil(PERIOD_SECS).max(1));
        let end = now.saturating_sub(i64::from(delay_secs)).div_euclid(period) * period;
        MetricWindow {
            start: end.saturating_sub(minutes * period),
            end,
        }
    }

    /// Its length in seconds.
    pub fn secs(&self) -> u32 {
        u32::try_from(self.end.saturating_sub(self.start)).unwrap_or(0)
    }

    /// The start of each minute in it.
    pub fn minutes(&self) -> impl Iterator<Item = i64> {
        (self.start..self.end).step_by(PERIOD_SECS as usize)
    }
}

/// Per-minute sums of one metric, by the minute's start (Unix seconds).
pub type Sums = BTreeMap<i64, f64>;

/// The per-minute sums of one GetMetricData.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MinuteSums {
    /// `IncomingRecords`: records taken in.
    pub records: Sums,
    /// `IncomingBytes`: their bytes.
    pub bytes: Sums,
    /// `WriteProvisionedThroughputExceeded`: records refused by the shards' limits.
    pub throttled: Sums,
}

/// The averages over `window` from per-minute sums, or why there are none: a minute of the
/// window lacks a datapoint of records or bytes (not published yet, or metrics missing), or a
/// value is not a count.
///
/// A minute's use is `shards_worth(records, bytes) / 60`, which is exactly the mean of its
/// seconds' use when the load was even over the minute (`shards_worth` scales linearly); a
/// burst inside a minute is averaged away, as CloudWatch's period does. Its demand is the same
/// with the throttled records added, at the minute's mean record size.
pub fn rates(
    window: MetricWindow,
    sums: &MinuteSums,
    limits: ShardLimits,
) -> Result<Rates, String> {
    let MinuteSums {
        records,
        bytes,
        throttled,
    } = sums;
    let secs = window.secs();
    if secs == 0 {
        return Err("an empty window".to_owned());
    }
    let (mut total_records, mut total_bytes, mut used) = (0.0f64, 0.0f64, 0.0f64);
    let (mut total_throttled, mut demanded) = (0.0f64, 0.0f64);
    let (mut missing, mut throttles_missing) = (0u32, false);
    for minute in window.minutes() {
        let (Some(&r), Some(&b)) = (records.get(&minute), bytes.get(&minute)) else {
            missing += 1;
            continue;
        };
        if !(r.is_finite() && b.is_finite() && r >= 0.0 && b >= 0.0) {
            return Err(format!(
                "CloudWatch gave {r} records and {b} bytes for a minute"
            ));
        }
        total_records += r;
        total_bytes += b;
        // Counts are whole numbers; CloudWatch sends them as doubles.
        let taken = limits.shards_worth(r.round() as u64, b.round() as u64);
        used += taken;
        let t = match throttled.get(&minute) {
            Some(&t) if t.is_finite() && t >= 0.0 => t,
            Some(&t) => {
                return Err(format!(
                    "CloudWatch gave {t} throttled records for a minute"
                ))
            }
            // A minute that took nothing in had nothing to throttle.
            None if r == 0.0 => 0.0,
            None => {
                throttles_missing = true;
                0.0
            }
        };
        total_throttled += t;
        // Writers retry what was throttled, so the count has each refused record once per
        // attempt (368 attempts per 100 accepted records without the collectors' limiter):
        // demand is taken as at most twice what got through, one doubling's worth, and the
        // next window shows whether that was enough.
        let extra = t.min(r);
        demanded += if extra > 0.0 {
            let mean_size = b / r;
            limits.shards_worth(
                (r + extra).round() as u64,
                (b + extra * mean_size).round() as u64,
            )
        } else {
            taken
        };
    }
    if missing > 0 {
        let minutes = secs / PERIOD_SECS;
        return Err(format!(
            "CloudWatch has no IncomingRecords or IncomingBytes for {missing} of the {minutes} \
             minute(s) from {} to {} (Unix seconds)",
            window.start, window.end
        ));
    }
    let n = f64::from(secs);
    Ok(Rates {
        seconds: secs,
        records_per_sec: total_records / n,
        bytes_per_sec: total_bytes / n,
        shards_used: used / n,
        throttles: if throttles_missing {
            Throttles::Unknown
        } else {
            Throttles::PerSec(total_throttled / n)
        },
        shards_demanded: demanded / n,
    })
}

/// Measures one stream from its CloudWatch metrics.
#[derive(Debug)]
pub struct CloudWatchMeter {
    cloudwatch: Client,
    stream: String,
    delay_secs: u32,
}

impl CloudWatchMeter {
    /// A meter of `stream`'s metrics, querying windows that end `delay_secs` ago.
    pub fn new(cloudwatch: Client, stream: impl Into<String>, delay_secs: u32) -> Self {
        CloudWatchMeter {
            cloudwatch,
            stream: stream.into(),
            delay_secs,
        }
    }

    /// The averages over the last `window_secs` (in whole minutes, ending the delay ago), or
    /// why there are none. A failed call goes to `outage` and is tried again on the next tick.
    pub async fn rates(
        &self,
        window_secs: u32,
        limits: ShardLimits,
        outage: &mut Outage,
    ) -> Result<Rates, String> {
        let window = MetricWindow::ending_before(unix_now(), window_secs, self.delay_secs);
        let sums = match self.sums(window).await {
            Ok(sums) => {
                outage.succeeded();
                sums
            }
            Err(code) => {
                outage.failed_in("CloudWatch", "GetMetricData", code.as_str());
                return Err(format!("GetMetricData failed: {code}"));
            }
        };
        rates(window, &sums, limits)
    }

    /// One GetMetricData for the three metrics: per-minute sums of records, bytes and throttled
    /// records.
    async fn sums(&self, window: MetricWindow) -> Result<MinuteSums, String> {
        let query = |id: &str, metric: &str| {
            let metric = Metric::builder()
                .namespace(NAMESPACE)
                .metric_name(metric)
                .dimensions(
                    Dimension::builder()
                        .name("StreamName")
                        .value(&self.stream)
                        .build(),
                )
                .build();
            MetricDataQuery::builder()
                .id(id)
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .period(PERIOD_SECS as i32)
                        .stat("Sum")
                        .build(),
                )
                .return_data(true)
                .build()
        };
        let mut sums = MinuteSums::default();
        let mut next_token = None;
        // At most 60 minutes of three metrics: one page in practice, but a token is followed.
        loop {
            let out = self
                .cloudwatch
                .get_metric_data()
                .metric_data_queries(query("records", "IncomingRecords"))
                .metric_data_queries(query("bytes", "IncomingBytes"))
                .metric_data_queries(query("throttled", "WriteProvisionedThroughputExceeded"))
                .start_time(DateTime::from_secs(window.start))
                .end_time(DateTime::from_secs(window.end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| error_code(&e))?;
            for result in out.metric_data_results() {
                let metric = match result.id() {
                    Some("records") => &mut sums.records,
                    Some("bytes") => &mut sums.bytes,
                    Some("throttled") => &mut sums.throttled,
                    _ => continue,
                };
                for (t, v) in result.timestamps().iter().zip(result.values()) {
                    // A period's timestamp is its start; one outside the window is not ours.
                    let minute = t.secs().div_euclid(i64::from(PERIOD_SECS)) * 60;
                    if (window.start..window.end).contains(&minute) {
                        *metric.entry(minute).or_default() += v;
                    }
                }
            }
            match out.next_token {
                Some(token) if !token.is_empty() => next_token = Some(token),
                _ => return Ok(sums),
            }
        }
    }
}

/// Now, in Unix seconds.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::float_cmp)]
    use super::*;

    const AWS: ShardLimits = ShardLimits::AWS;

    /// Two minutes from Unix second 600.
    const TWO_MINUTES: MetricWindow = MetricWindow {
        start: 600,
        end: 720,
    };

    /// 6,000 records and 600,000 bytes in each of the two minutes, and `throttled`.
    fn steady(throttled: &[(i64, f64)]) -> MinuteSums {
        MinuteSums {
            records: sums(&[(600, 6_000.0), (660, 6_000.0)]),
            bytes: sums(&[(600, 600_000.0), (660, 600_000.0)]),
            throttled: sums(throttled),
        }
    }

    fn sums(pairs: &[(i64, f64)]) -> Sums {
        pairs.iter().copied().collect()
    }

    /// Records and bytes, without any throttles datapoint.
    fn two(records: &Sums, bytes: &Sums) -> MinuteSums {
        MinuteSums {
            records: records.clone(),
            bytes: bytes.clone(),
            throttled: Sums::new(),
        }
    }

    #[test]
    fn the_window_is_whole_minutes_ending_the_delay_ago() {
        // 12:05:30 with a 2-minute delay: the last minute that ended by 12:03:30 is 12:02.
        let now = 12 * 3600 + 5 * 60 + 30;
        let w = MetricWindow::ending_before(now, 60, 120);
        assert_eq!(w.end, 12 * 3600 + 3 * 60);
        assert_eq!(w.start, 12 * 3600 + 2 * 60);
        assert_eq!(w.secs(), 60);
        // On a minute's start exactly, that minute has just begun: it is not in the window.
        let w = MetricWindow::ending_before(12 * 3600 + 3 * 60 + 120, 60, 120);
        assert_eq!(w.end, 12 * 3600 + 3 * 60);
    }

    #[test]
    fn a_window_shorter_than_a_minute_is_one_minute_and_others_round_up() {
        assert_eq!(MetricWindow::ending_before(600, 1, 0).secs(), 60);
        assert_eq!(MetricWindow::ending_before(600, 2, 0).secs(), 60);
        assert_eq!(MetricWindow::ending_before(600, 60, 0).secs(), 60);
        assert_eq!(MetricWindow::ending_before(600, 61, 0).secs(), 120);
        assert_eq!(MetricWindow::ending_before(600, 300, 0).secs(), 300);
        assert_eq!(MetricWindow::ending_before(7_200, 3_600, 0).secs(), 3_600);
        let w = MetricWindow::ending_before(600, 150, 0);
        assert_eq!(w.minutes().collect::<Vec<_>>(), [420, 480, 540]);
        // No delay: the window ends at the start of the current minute.
        assert_eq!(MetricWindow::ending_before(659, 60, 0).end, 600);
    }

    #[test]
    fn sums_become_rates_per_second_and_use_in_shards() {
        let w = MetricWindow {
            start: 600,
            end: 720,
        };
        // 9,000 records and 540,000 bytes in the first minute, 3,000 records and 60 MiB in the
        // second.
        let r = rates(
            w,
            &two(
                &sums(&[(600, 9_000.0), (660, 3_000.0)]),
                &sums(&[(600, 540_000.0), (660, 62_914_560.0)]),
            ),
            AWS,
        )
        .expect("measured");
        assert_eq!(r.seconds, 120);
        assert_eq!(r.records_per_sec, 100.0);
        assert_eq!(r.bytes_per_sec, 528_788.0);
        // Minute one: 150 records/s = 0.15 shards, 9,000 bytes/s less: 0.15.
        // Minute two: 50 records/s = 0.05 shards, 1 MiB/s = 1 shard: 1. Mean: 0.575.
        assert_eq!(r.shards_used, 0.575);
        assert_eq!(
            r.shards_demanded, 0.575,
            "no throttles: demand is what was taken"
        );
        assert_eq!(r.throttles, Throttles::Unknown, "no throttles datapoint");
    }

    #[test]
    fn throttled_records_are_demand_at_the_mean_record_size() {
        // Minute one: 6,000 records taken (100/s), 3,000 refused; minute two: none refused.
        let m = steady(&[(600, 3_000.0), (660, 0.0)]);
        let r = rates(TWO_MINUTES, &m, AWS).expect("measured");
        assert_eq!(r.throttles, Throttles::PerSec(25.0));
        assert_eq!(r.shards_used, 0.1);
        // Minute one asked for 150 records/s (0.15 shards), minute two 100 (0.1): 0.125.
        assert_eq!(r.shards_demanded, 0.125);
        // Bytes decide when they are the nearer limit: 500 records/s taken in 1 MiB/s, half as
        // many again refused: 750 records/s, 1.5 MiB/s asked for, 1.5 shards.
        let m = MinuteSums {
            records: sums(&[(600, 30_000.0)]),
            bytes: sums(&[(600, 62_914_560.0)]),
            throttled: sums(&[(600, 15_000.0)]),
        };
        let w = MetricWindow {
            start: 600,
            end: 660,
        };
        let r = rates(w, &m, AWS).expect("measured");
        assert_eq!(r.shards_used, 1.0);
        assert_eq!(r.shards_demanded, 1.5);
    }

    #[test]
    fn retried_refusals_count_for_at_most_what_got_through() {
        // 18,000 refusals in a minute that took 6,000: writers retried each refused record
        // several times. Demand is at most twice what got through (0.2 shards), not 0.4.
        let m = steady(&[(600, 18_000.0), (660, 18_000.0)]);
        let r = rates(TWO_MINUTES, &m, AWS).expect("measured");
        assert_eq!(r.throttles, Throttles::PerSec(300.0), "all of them seen");
        assert_eq!(r.shards_used, 0.1);
        assert_eq!(r.shards_demanded, 0.2);
    }

    #[test]
    fn a_minute_without_a_throttles_datapoint_is_measured_but_throttles_are_unknown() {
        let r = rates(TWO_MINUTES, &steady(&[(600, 0.0)]), AWS).expect("measured");
        assert_eq!(r.throttles, Throttles::Unknown);
        assert_eq!(r.shards_demanded, 0.1);
        let bad = steady(&[(600, -1.0), (660, 0.0)]);
        assert!(rates(TWO_MINUTES, &bad, AWS).is_err());
        // A minute that took nothing in had nothing to throttle: no datapoint is no throttle.
        let idle = MinuteSums {
            records: sums(&[(600, 0.0), (660, 0.0)]),
            bytes: sums(&[(600, 0.0), (660, 0.0)]),
            throttled: Sums::new(),
        };
        let r = rates(TWO_MINUTES, &idle, AWS).expect("measured");
        assert_eq!(r.throttles, Throttles::PerSec(0.0));
    }

    #[test]
    fn a_missing_minute_is_not_measured_never_zero_load() {
        let w = MetricWindow {
            start: 600,
            end: 720,
        };
        let full = sums(&[(600, 10.0), (660, 10.0)]);
        let err = rates(w, &two(&sums(&[(600, 10.0)]), &full), AWS).expect_err("a minute missing");
        assert!(err.contains("1 of the 2 minute(s)"), "{err}");
        let err = rates(w, &two(&Sums::new(), &Sums::new()), AWS).expect_err("no datapoints");
        assert!(err.contains("2 of the 2"), "{err}");
        assert!(
            rates(w, &two(&full, &sums(&[(660, 1.0)])), AWS).is_err(),
            "bytes missing"
        );
        // Datapoints outside the window do not fill it.
        assert!(rates(w, &two(&sums(&[(540, 1.0), (720, 1.0)]), &full), AWS).is_err());
        // A real zero is a measurement.
        let zero = sums(&[(600, 0.0), (660, 0.0)]);
        assert_eq!(
            rates(w, &two(&zero, &zero), AWS).expect("zero").shards_used,
            0.0
        );
    }

    #[test]
    fn values_that_are_not_counts_are_refused() {
        let w = MetricWindow { start: 0, end: 60 };
        let ok = sums(&[(0, 1.0)]);
        assert!(rates(w, &two(&sums(&[(0, -1.0)]), &ok), AWS).is_err());
        assert!(rates(w, &two(&ok, &sums(&[(0, f64::NAN)])), AWS).is_err());
        assert!(rates(w, &two(&ok, &sums(&[(0, f64::INFINITY)])), AWS).is_err());
        assert!(rates(MetricWindow { start: 0, end: 0 }, &two(&ok, &ok), AWS).is_err());
    }
}
