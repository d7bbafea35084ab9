//! The supervisor's settings: one typed struct, read from flags and environment variables,
//! checked once at start, units in the names.
//!
//! A bad value stops the program before it calls anything, with one line that names the
//! variable, the value and what is allowed, and exit code 2 (see [`ConfigError`]; the
//! parsing and the range checks are `telemetry_process::config`'s, shared by every binary).

use std::str::FromStr;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::Parser;
use telemetry_process::config::{integer_in, number_in, seconds_in, Settings};

pub use telemetry_process::config::{ConfigError, NotRun};

use crate::decision::Policy;
use crate::traffic::ShardLimits;

/// The longest measurement window, in seconds.
pub const MAX_WINDOW_SECS: u32 = 3_600;

/// The most a CloudWatch query may lag behind now, in seconds.
pub const MAX_CLOUDWATCH_DELAY_SECS: u32 = 900;

/// Where the incoming records and bytes are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// Read every shard (GetRecords): per-second figures, works against every emulator, uses a
    /// share of each shard's read limits.
    Stream,
    /// The stream's `IncomingRecords` and `IncomingBytes` in CloudWatch (GetMetricData): no
    /// read capacity, but one-minute periods and a few minutes of delay.
    CloudWatch,
}

impl SourceKind {
    /// The setting's value naming it.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Stream => "stream",
            SourceKind::CloudWatch => "cloudwatch",
        }
    }
}

impl FromStr for SourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "stream" => Ok(SourceKind::Stream),
            "cloudwatch" => Ok(SourceKind::CloudWatch),
            _ => Err("allowed: stream or cloudwatch".to_owned()),
        }
    }
}

/// Changes the shard count of a Kinesis stream to keep each shard's use in a band, measuring
/// what the stream takes in from the stream itself or from CloudWatch; works with any number
/// of collectors.
///
/// Every option can also be set by the environment variable shown. AWS access comes from the
/// standard chain (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles, web identity,
/// instance roles); AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KINESIS or AWS_ENDPOINT_URL_CLOUDWATCH
/// points it at an emulator.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "shard-supervisor",
    version,
    max_term_width = 100,
    args_override_self = true
)]
pub struct Config {
    /// Stream to supervise.
    #[arg(long, env = "STREAM_NAME", default_value = "events")]
    pub stream_name: String,

    /// Time between two decisions, in seconds, fractions allowed [0.1..=86400].
    #[arg(long = "interval-sec", env = "SUPERVISOR_INTERVAL_SEC",
          default_value = "60", value_parser = seconds_in(0.1..=86_400.0))]
    pub interval: Duration,

    /// Where the incoming records and bytes are measured: `stream` (GetRecords on every shard)
    /// or `cloudwatch` (the stream's IncomingRecords and IncomingBytes, GetMetricData).
    #[arg(long, env = "SUPERVISOR_SOURCE", default_value = "stream",
          value_parser = SourceKind::from_str)]
    pub source: SourceKind,

    /// Whole seconds over which the incoming records and bytes are averaged [1..=3600]. With
    /// the cloudwatch source, rounded up to whole minutes.
    #[arg(long = "window-sec", env = "SUPERVISOR_WINDOW_SEC",
          default_value_t = 60, value_parser = integer_in(1u32..=MAX_WINDOW_SECS))]
    pub window_secs: u32,

    /// Below this per-shard use (a share of a shard's write limit) shards are removed [0..=1].
    #[arg(long, env = "SUPERVISOR_LOW",
          default_value_t = 0.3, value_parser = number_in(0.0..=1.0))]
    pub low: f64,

    /// Above this per-shard use shards are added [0..=1], more than SUPERVISOR_LOW. A change
    /// aims at the middle of the band.
    #[arg(long, env = "SUPERVISOR_HIGH",
          default_value_t = 0.75, value_parser = number_in(0.0..=1.0))]
    pub high: f64,

    /// The fewest open shards [1..=10000].
    #[arg(long, env = "SUPERVISOR_MIN_SHARDS",
          default_value_t = 1, value_parser = integer_in(1u32..=10_000))]
    pub min_shards: u32,

    /// The most open shards, a cost ceiling [1..=10000], at least SUPERVISOR_MIN_SHARDS.
    #[arg(long, env = "SUPERVISOR_MAX_SHARDS",
          default_value_t = 16, value_parser = integer_in(1u32..=10_000))]
    pub max_shards: u32,

    /// Least time after a change before the next, in seconds, fractions allowed [0..=86400].
    #[arg(long = "cooldown-sec", env = "SUPERVISOR_COOLDOWN_SEC",
          default_value = "300", value_parser = seconds_in(0.0..=86_400.0))]
    pub cooldown: Duration,

    /// UpdateShardCount calls allowed in any 24 hours [1..=10]; AWS refuses an 11th.
    #[arg(long, env = "SUPERVISOR_MAX_CALLS_PER_DAY",
          default_value_t = 10, value_parser = integer_in(1u32..=10))]
    pub max_calls_per_day: u32,

    /// Log what would be done, but never call UpdateShardCount.
    #[arg(long, env = "SUPERVISOR_DRY_RUN", value_parser = BoolishValueParser::new(),
          num_args = 0..=1, default_value = "false", default_missing_value = "true")]
    pub dry_run: bool,

    /// Least time between two reads of one shard, in seconds, fractions allowed [0.2..=60].
    /// AWS allows 5 GetRecords per second per shard, shared by every reader of the stream.
    #[arg(long = "poll-interval-sec", env = "SUPERVISOR_POLL_INTERVAL_SEC",
          default_value = "1", value_parser = seconds_in(0.2..=60.0))]
    pub poll_interval: Duration,

    /// The cloudwatch source only: the window ends this many seconds ago, at the start of a
    /// minute, since CloudWatch publishes a minute's sums a few minutes late [0..=900].
    #[arg(long = "cloudwatch-delay-sec", env = "SUPERVISOR_CLOUDWATCH_DELAY_SEC",
          default_value_t = 120,
          value_parser = integer_in(0u32..=MAX_CLOUDWATCH_DELAY_SECS))]
    pub cloudwatch_delay_secs: u32,

    /// Records per second one shard takes (AWS: 1000). For tests against emulators.
    #[arg(long, env = "SUPERVISOR_SHARD_RECORDS_PER_SEC", hide = true,
          default_value_t = 1_000, value_parser = integer_in(1u64..=1_000_000))]
    pub shard_records_per_sec: u64,

    /// Bytes per second one shard takes (AWS: 1 MiB). For tests against emulators.
    #[arg(long, env = "SUPERVISOR_SHARD_BYTES_PER_SEC", hide = true,
          default_value_t = 1_048_576, value_parser = integer_in(1u64..=1 << 40))]
    pub shard_bytes_per_sec: u64,

    /// Log filter, e.g. `info` or `telemetry_supervisor=debug,info`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl Config {
    /// Parses flags and environment, then checks the settings against each other.
    pub fn from_args<I, T>(args: I) -> Result<Config, NotRun>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        telemetry_process::config::parse(args)
    }

    /// The decision rules.
    pub fn policy(&self) -> Policy {
        Policy {
            low: self.low,
            high: self.high,
            min_shards: self.min_shards,
            max_shards: self.max_shards,
            cooldown: self.cooldown,
            max_calls_per_day: self.max_calls_per_day,
        }
    }

    /// One shard's write limits.
    pub fn shard_limits(&self) -> ShardLimits {
        ShardLimits {
            records_per_sec: self.shard_records_per_sec as f64,
            bytes_per_sec: self.shard_bytes_per_sec as f64,
        }
    }

    /// How old the measurement may be for a decision: reading a shard can fall this far behind
    /// (a slow or throttled read, a short outage) before decisions wait for it.
    pub fn max_behind(&self) -> Duration {
        (self.poll_interval * 3).max(Duration::from_secs(10))
    }
}

impl Settings for Config {
    /// Checks between settings; each setting's own range is checked while parsing.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.low >= self.high {
            return Err(ConfigError(format!(
                "invalid SUPERVISOR_HIGH={}: must be greater than SUPERVISOR_LOW={}",
                self.high, self.low
            )));
        }
        if self.min_shards > self.max_shards {
            return Err(ConfigError(format!(
                "invalid SUPERVISOR_MAX_SHARDS={}: must be at least SUPERVISOR_MIN_SHARDS={}",
                self.max_shards, self.min_shards
            )));
        }
        telemetry_process::logging::check_filter(&self.log_level)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::float_cmp)]
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let all = std::iter::once("shard-supervisor").chain(args.iter().copied());
        Config::from_args(all).map_err(|e| match e {
            NotRun::Info(text) => text,
            NotRun::Invalid(e) => e.0,
        })
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let c = parse(&[]).expect("defaults");
        assert_eq!(c.stream_name, "events");
        assert_eq!(c.source, SourceKind::Stream);
        assert_eq!(c.cloudwatch_delay_secs, 120);
        assert_eq!(c.interval, Duration::from_secs(60));
        assert_eq!(c.window_secs, 60);
        assert_eq!((c.low, c.high), (0.3, 0.75));
        assert_eq!((c.min_shards, c.max_shards), (1, 16));
        assert_eq!(c.cooldown, Duration::from_secs(300));
        assert_eq!(c.max_calls_per_day, 10);
        assert!(!c.dry_run);
        assert_eq!(c.poll_interval, Duration::from_secs(1));
        assert_eq!(c.shard_limits(), ShardLimits::AWS);
        assert_eq!(c.max_behind(), Duration::from_secs(10));
        assert_eq!(c.policy().target(), 0.525);
    }

    #[test]
    fn fractions_and_the_dry_run_flag() {
        let c = parse(&["--interval-sec=0.5", "--cooldown-sec", "0", "--dry-run"]).expect("ok");
        assert_eq!(c.interval, Duration::from_millis(500));
        assert_eq!(c.cooldown, Duration::ZERO);
        assert!(c.dry_run);
        for (value, expected) in [("true", true), ("1", true), ("no", false), ("false", false)] {
            let c = parse(&[&format!("--dry-run={value}")]).expect(value);
            assert_eq!(c.dry_run, expected, "{value}");
        }
    }

    #[test]
    fn each_bad_value_gives_one_line_naming_variable_value_and_range() {
        for (args, var, allowed) in [
            (
                &["--window-sec", "0"][..],
                "SUPERVISOR_WINDOW_SEC=\"0\"",
                "1..=3600",
            ),
            (
                &["--window-sec", "1.5"],
                "SUPERVISOR_WINDOW_SEC=\"1.5\"",
                "an integer",
            ),
            (
                &["--interval-sec", "0"],
                "SUPERVISOR_INTERVAL_SEC=\"0\"",
                "0.1..=86400",
            ),
            (
                &["--interval-sec", "NaN"],
                "SUPERVISOR_INTERVAL_SEC=\"NaN\"",
                "seconds",
            ),
            (&["--low=-0.1"], "SUPERVISOR_LOW=\"-0.1\"", "0..=1"),
            (&["--high", "1.5"], "SUPERVISOR_HIGH=\"1.5\"", "0..=1"),
            (
                &["--min-shards", "0"],
                "SUPERVISOR_MIN_SHARDS=\"0\"",
                "1..=10000",
            ),
            (
                &["--max-shards", "x"],
                "SUPERVISOR_MAX_SHARDS=\"x\"",
                "1..=10000",
            ),
            (
                &["--cooldown-sec=-1"],
                "SUPERVISOR_COOLDOWN_SEC=\"-1\"",
                "0..=86400",
            ),
            (
                &["--max-calls-per-day", "11"],
                "SUPERVISOR_MAX_CALLS_PER_DAY=\"11\"",
                "1..=10",
            ),
            (
                &["--poll-interval-sec", "0.1"],
                "SUPERVISOR_POLL_INTERVAL_SEC=\"0.1\"",
                "0.2..=60",
            ),
            (
                &["--dry-run=maybe"],
                "SUPERVISOR_DRY_RUN=\"maybe\"",
                "--dry-run",
            ),
        ] {
            let err = parse(args).expect_err("must fail");
            assert!(!err.contains('\n'), "one line: {err}");
            assert!(
                err.starts_with(&format!("invalid {var}")),
                "{err} names {var}"
            );
            assert!(err.contains(allowed), "{err} says {allowed}");
        }
    }

    #[test]
    fn the_source_is_stream_or_cloudwatch() {
        let c = parse(&["--source", "cloudwatch", "--cloudwatch-delay-sec", "60"]).expect("ok");
        assert_eq!(c.source, SourceKind::CloudWatch);
        assert_eq!(c.source.as_str(), "cloudwatch");
        assert_eq!(c.cloudwatch_delay_secs, 60);
        assert_eq!(
            parse(&["--source", "Stream"]).expect_err("case matters"),
            "invalid SUPERVISOR_SOURCE=\"Stream\" (--source): allowed: stream or cloudwatch"
        );
        let err = parse(&["--cloudwatch-delay-sec", "901"]).expect_err("too late");
        assert!(
            err.starts_with("invalid SUPERVISOR_CLOUDWATCH_DELAY_SEC=\"901\""),
            "{err}"
        );
    }

    #[test]
    fn settings_are_checked_against_each_other() {
        let err = parse(&["--low", "0.8", "--high", "0.8"]).expect_err("empty band");
        assert_eq!(
            err,
            "invalid SUPERVISOR_HIGH=0.8: must be greater than SUPERVISOR_LOW=0.8"
        );
        let err = parse(&["--min-shards", "4", "--max-shards", "2"]).expect_err("min > max");
        assert_eq!(
            err,
            "invalid SUPERVISOR_MAX_SHARDS=2: must be at least SUPERVISOR_MIN_SHARDS=4"
        );
        let err = parse(&["--log-level", "info,=x=y"]).expect_err("bad filter");
        assert!(err.starts_with("invalid LOG_LEVEL="), "{err}");
        assert!(!err.contains('\n'));
        let err = parse(&["--no-such-flag"]).expect_err("unknown");
        assert!(
            !err.contains('\n') && err.contains("--no-such-flag"),
            "{err}"
        );
    }

    #[test]
    fn help_lists_every_setting_but_the_test_limits() {
        let help = parse(&["--help"]).expect_err("help is text");
        for var in [
            "STREAM_NAME",
            "SUPERVISOR_INTERVAL_SEC",
            "SUPERVISOR_WINDOW_SEC",
            "SUPERVISOR_LOW",
            "SUPERVISOR_HIGH",
            "SUPERVISOR_MIN_SHARDS",
            "SUPERVISOR_MAX_SHARDS",
            "SUPERVISOR_COOLDOWN_SEC",
            "SUPERVISOR_MAX_CALLS_PER_DAY",
            "SUPERVISOR_DRY_RUN",
            "SUPERVISOR_POLL_INTERVAL_SEC",
            "SUPERVISOR_SOURCE",
            "SUPERVISOR_CLOUDWATCH_DELAY_SEC",
            "LOG_LEVEL",
        ] {
            assert!(help.contains(var), "--help mentions {var}");
        }
        assert!(!help.contains("SHARD_RECORDS_PER_SEC"), "hidden");
    }
}
