//! The collector's configuration: one typed struct, read from flags and environment variables,
//! validated once at start. Names of the seed's variables are kept; units are in the names.
//!
//! A bad value stops the program before it does anything, with one line that names the
//! variable, the value and the allowed range, and exit code 2 (see [`ConfigError`]; the
//! parsing and the range checks are `telemetry_process::config`'s, shared by every binary).

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use telemetry_model::PartitionKeySource;
use telemetry_process::config::{integer_in, seconds_in, NotRun, Settings};

pub use telemetry_process::config::ConfigError;

/// Reads sensor submissions from SQS, validates them, explodes each into its events and
/// publishes every event as its own Kinesis record, in order and without loss.
///
/// Every option can also be set by the environment variable shown. AWS access comes from the
/// standard chain (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles, web identity,
/// instance roles); AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_KINESIS point it
/// at an emulator.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "telemetry-collector",
    version,
    max_term_width = 100,
    args_override_self = true
)]
pub struct Config {
    /// Queue to read submissions from.
    #[arg(long, env = "SUBMISSIONS_QUEUE_NAME", default_value = "submissions")]
    pub queue_name: String,

    /// Stream to write events to.
    #[arg(long, env = "EVENTS_DATA_STREAM_NAME", default_value = "events")]
    pub stream_name: String,

    /// Queue that keeps broken submissions as evidence (optional). Each dropped submission is
    /// sent there, body unchanged, with its reason, detail, message id and queue name as
    /// message attributes, before it is deleted. Unset: broken submissions are counted, logged
    /// and deleted.
    #[arg(long, env = "DEAD_LETTER_QUEUE_NAME", value_parser = standard_queue_name)]
    pub dead_letter_queue_name: Option<String>,

    /// Messages asked for per ReceiveMessage [1..=10].
    #[arg(long = "queue-max-messages-per-request", env = "QUEUE_MAX_NUMBER_OF_MESSAGE_PER_REQUEST",
          default_value_t = 10, value_parser = integer_in(1u64..=10))]
    pub receive_batch_size: u64,

    /// Visibility timeout asked for on receive, in seconds [1..=43200]; messages still in work
    /// are extended before it runs out. Must exceed the flush and delete intervals together.
    #[arg(long = "queue-visibility-timeout-sec", env = "QUEUE_VISIBILITY_TIMEOUT_SEC",
          default_value_t = 30, value_parser = integer_in(1u64..=43_200))]
    pub visibility_timeout_secs: u64,

    /// Long-poll wait of ReceiveMessage, in seconds [0..=20].
    #[arg(long = "queue-wait-time-sec", env = "QUEUE_WAIT_TIME_SEC",
          default_value_t = 20, value_parser = integer_in(0u64..=20))]
    pub wait_time_secs: u64,

    /// Longest wait before a partly filled delete batch is sent, in seconds, fractions allowed
    /// [0..=60].
    #[arg(long = "queue-receipts-to-delete-interval-sec", env = "QUEUE_RECEIPTS_TO_DELETE_INTERVAL_SEC",
          default_value = "1", value_parser = seconds_in(0.0..=60.0))]
    pub delete_interval: Duration,

    /// Receipts per DeleteMessageBatch [1..=10].
    #[arg(long = "queue-max-receipts-to-delete-at-once", env = "QUEUE_MAX_RECEIPTS_TO_DELETE_AT_ONCE",
          default_value_t = 10, value_parser = integer_in(1u64..=10))]
    pub delete_batch_size: u64,

    /// Longest wait to fill a PutRecords batch, in seconds, fractions allowed [0..=60]. A batch
    /// goes at once when it is full or when no PutRecords is in flight.
    #[arg(long = "data-stream-flush-interval-sec", env = "DATA_STREAM_FLUSH_INTERVAL_SEC",
          default_value = "0.05", value_parser = seconds_in(0.0..=60.0))]
    pub flush_interval: Duration,

    /// Records per PutRecords [1..=500].
    #[arg(long = "data-stream-max-buffer-size", env = "DATA_STREAM_MAX_BUFFER_SIZE",
          default_value_t = 500, value_parser = integer_in(1u64..=500))]
    pub put_batch_size: u64,

    /// PutRecords requests in flight at once [1..=64].
    #[arg(long = "data-stream-max-requests-in-flight", env = "DATA_STREAM_MAX_REQUESTS_IN_FLIGHT",
          default_value_t = 8, value_parser = integer_in(1u64..=64))]
    pub put_requests_in_flight: u64,

    /// Records per second one shard takes [1..=1000]: Kinesis' write limit, which the
    /// collector stays within instead of being throttled (lower it to leave room for other
    /// writers, or to match a proxy's scaled limits).
    #[arg(long = "shard-max-records-per-sec", env = "SHARD_MAX_RECORDS_PER_SEC",
          default_value_t = 1_000, value_parser = integer_in(1u64..=1_000))]
    pub shard_max_records_per_sec: u64,

    /// Bytes per second one shard takes, data plus partition keys [1..=1048576]: Kinesis'
    /// write limit, as for the records.
    #[arg(long = "shard-max-bytes-per-sec", env = "SHARD_MAX_BYTES_PER_SEC",
          default_value_t = 1_048_576, value_parser = integer_in(1u64..=1_048_576))]
    pub shard_max_bytes_per_sec: u64,

    /// Which client makes the hot calls (PutRecords, ReceiveMessage, DeleteMessageBatch,
    /// ChangeMessageVisibilityBatch): `lean` writes and reads them without the SDK's request
    /// machinery (its signer, credentials chain and endpoint resolution are the SDK's own);
    /// `sdk` is the official SDK throughout, the way back. Every other call is the SDK's.
    #[arg(long, env = "AWS_CLIENT", value_enum, default_value_t = AwsClient::Lean)]
    pub aws_client: AwsClient,

    /// Whether the collector keeps each shard's write limits itself (on) or sends whatever is
    /// ready and lets Kinesis throttle the excess, retrying it with backoff (off: the behaviour
    /// of general pipelines, for comparison or if the limiter were ever in the way).
    #[arg(long, env = "SHARD_LIMITER", value_enum, default_value_t = Switch::On)]
    pub shard_limiter: Switch,

    /// Which field is the partition key of all events of a submission. device-id keeps a
    /// device's events on one shard; submission-id spreads hot devices.
    #[arg(long, env = "PARTITION_KEY", value_enum, default_value_t = PartitionKey::DeviceId)]
    pub partition_key: PartitionKey,

    /// Concurrent ReceiveMessage loops [1..=64]. Eight by default: the loops bound a
    /// collector's intake (each takes 10 messages per round trip), and with more submissions
    /// held the PutRecords batches are larger and each event costs less CPU
    /// (`docs/benchmarks.md`). An idle loop costs one long poll per `QUEUE_WAIT_TIME_SEC`.
    #[arg(long = "queue-receivers", env = "QUEUE_RECEIVERS",
          default_value_t = 8, value_parser = integer_in(1u64..=64))]
    pub receivers: u64,

    /// Submissions held at once (received, not yet deleted) [10..=100000]. When reached,
    /// receiving pauses: this bounds memory when Kinesis is slow.
    #[arg(long = "max-submissions-in-flight", env = "MAX_SUBMISSIONS_IN_FLIGHT",
          default_value_t = 2_000, value_parser = integer_in(10u64..=100_000))]
    pub max_submissions_in_flight: u64,

    /// Events held at once, over all held submissions [500..=10000000]. A submission larger
    /// than this still passes, alone.
    #[arg(long = "max-records-in-flight", env = "MAX_RECORDS_IN_FLIGHT",
          default_value_t = 50_000, value_parser = integer_in(500u64..=10_000_000))]
    pub max_records_in_flight: u64,

    /// On SIGTERM or SIGINT, how long to finish held submissions before handing the rest back
    /// to the queue, in seconds, fractions allowed [0..=3600].
    #[arg(long = "shutdown-grace-period-sec", env = "SHUTDOWN_GRACE_PERIOD_SEC",
          default_value = "20", value_parser = seconds_in(0.0..=3600.0))]
    pub shutdown_grace: Duration,

    /// Interval of the summary log line, in seconds, fractions allowed [0.1..=3600].
    #[arg(long = "summary-interval-sec", env = "SUMMARY_INTERVAL_SEC",
          default_value = "10", value_parser = seconds_in(0.1..=3600.0))]
    pub summary_interval: Duration,

    /// Threads of the async runtime [1..=64]. 1 (default) runs everything on one thread, the
    /// least CPU per event (no cross-thread wake-ups); scale out with more instances, or raise
    /// this on a large machine.
    #[arg(long, env = "WORKER_THREADS", default_value_t = 1, value_parser = integer_in(1u64..=64))]
    pub worker_threads: u64,

    /// Address of the HTTP listener: `/metrics`, `/healthz` and `/readyz`. Loopback by default;
    /// use 0.0.0.0:9898 in a container. A bad or busy address stops the start.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:9898")]
    pub http_addr: SocketAddr,

    /// Log filter, e.g. `info` or `telemetry_collector=debug,info`.
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// The client of the hot calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AwsClient {
    /// `telemetry-aws-lean` (default).
    Lean,
    /// The AWS SDK for Rust.
    Sdk,
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// Which submission field keys the records of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartitionKey {
    /// The device id (default).
    DeviceId,
    /// The submission id.
    SubmissionId,
}

impl From<PartitionKey> for PartitionKeySource {
    fn from(k: PartitionKey) -> Self {
        match k {
            PartitionKey::DeviceId => PartitionKeySource::DeviceId,
            PartitionKey::SubmissionId => PartitionKeySource::SubmissionId,
        }
    }
}

impl Config {
    /// Parses flags and environment, then checks the settings against each other.
    /// `--help` and `--version` are returned as `Err(Ok(text))` so the caller prints them.
    pub fn from_args<I, T>(args: I) -> Result<Config, Result<String, ConfigError>>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        telemetry_process::config::parse(args).map_err(|not_run| match not_run {
            NotRun::Info(text) => Ok(text),
            NotRun::Invalid(e) => Err(e),
        })
    }

    /// The visibility timeout as a duration.
    pub fn visibility_timeout(&self) -> Duration {
        Duration::from_secs(self.visibility_timeout_secs)
    }
}

impl Settings for Config {
    /// Checks between settings; each setting's own range is checked while parsing.
    fn validate(&self) -> Result<(), ConfigError> {
        let needed = self.flush_interval + self.delete_interval;
        if Duration::from_secs(self.visibility_timeout_secs) <= needed {
            return Err(ConfigError(format!(
                "invalid QUEUE_VISIBILITY_TIMEOUT_SEC={}: must be greater than \
                 DATA_STREAM_FLUSH_INTERVAL_SEC + QUEUE_RECEIPTS_TO_DELETE_INTERVAL_SEC ({} s)",
                self.visibility_timeout_secs,
                needed.as_secs_f64()
            )));
        }
        if self.dead_letter_queue_name.as_ref() == Some(&self.queue_name) {
            // Every broken submission would come back, be dropped and be sent again, forever.
            return Err(ConfigError(format!(
                "invalid DEAD_LETTER_QUEUE_NAME={:?}: must differ from SUBMISSIONS_QUEUE_NAME",
                self.queue_name
            )));
        }
        telemetry_process::logging::check_filter(&self.log_level)
    }
}

/// A standard queue's name as SQS allows it. A FIFO queue (`.fifo`) is refused: a send to it
/// needs a message group id, so every dead letter would fail.
fn standard_queue_name(s: &str) -> Result<String, String> {
    let allowed = s.len() <= 80
        && !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if allowed {
        Ok(s.to_owned())
    } else {
        Err(
            "allowed: a standard queue's name, 1 to 80 letters, digits, '-' and '_' \
             (a name, not a URL; not a FIFO queue)"
                .to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let all = std::iter::once("telemetry-collector").chain(args.iter().copied());
        Config::from_args(all).map_err(|e| match e {
            Ok(help) => help,
            Err(e) => e.0,
        })
    }

    #[test]
    fn defaults_are_valid() {
        let c = parse(&[]).expect("defaults");
        assert_eq!(c.receive_batch_size, 10);
        assert_eq!(c.put_batch_size, 500);
        assert_eq!(c.flush_interval, Duration::from_millis(50));
        assert_eq!(c.partition_key, PartitionKey::DeviceId);
        assert_eq!(
            c.dead_letter_queue_name, None,
            "no dead-letter queue unless asked"
        );
    }

    #[test]
    fn a_dead_letter_queue_is_a_standard_queue_other_than_the_main_one() {
        let c = parse(&["--dead-letter-queue-name", "submissions-dlq_1"]).expect("valid name");
        assert_eq!(
            c.dead_letter_queue_name.as_deref(),
            Some("submissions-dlq_1")
        );
        let too_long = "q".repeat(81);
        for bad in [
            "",
            "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq",
            "dlq.fifo",
            "dead letters",
            too_long.as_str(),
        ] {
            let err = parse(&["--dead-letter-queue-name", bad]).expect_err(bad);
            assert!(!err.contains('\n'), "one line: {err}");
            assert!(
                err.starts_with(&format!("invalid DEAD_LETTER_QUEUE_NAME={bad:?}")),
                "{err}"
            );
            assert!(err.contains("1 to 80 letters"), "{err}");
        }
        let err = parse(&["--queue-name=subs", "--dead-letter-queue-name=subs"])
            .expect_err("the main queue");
        assert_eq!(
            err,
            "invalid DEAD_LETTER_QUEUE_NAME=\"subs\": must differ from SUBMISSIONS_QUEUE_NAME"
        );
    }

    #[test]
    fn fractions_are_allowed_for_intervals() {
        let c = parse(&["--data-stream-flush-interval-sec", "0.25"]).expect("fraction");
        assert_eq!(c.flush_interval, Duration::from_millis(250));
    }

    #[test]
    fn each_bad_value_gives_one_line_naming_variable_value_and_range() {
        for (args, var, range) in [
            (
                &["--queue-wait-time-sec", "21"][..],
                "QUEUE_WAIT_TIME_SEC=\"21\"",
                "0..=20",
            ),
            (
                &["--queue-max-messages-per-request", "0"],
                "QUEUE_MAX_NUMBER_OF_MESSAGE_PER_REQUEST=\"0\"",
                "1..=10",
            ),
            (
                &["--queue-max-receipts-to-delete-at-once", "11"],
                "QUEUE_MAX_RECEIPTS_TO_DELETE_AT_ONCE=\"11\"",
                "1..=10",
            ),
            (
                &["--data-stream-max-buffer-size", "501"],
                "DATA_STREAM_MAX_BUFFER_SIZE=\"501\"",
                "1..=500",
            ),
            (
                &["--data-stream-max-buffer-size", "ten"],
                "DATA_STREAM_MAX_BUFFER_SIZE=\"ten\"",
                "1..=500",
            ),
            (
                &["--data-stream-flush-interval-sec=-1"][..],
                "DATA_STREAM_FLUSH_INTERVAL_SEC=\"-1\"",
                "0..=60",
            ),
            (
                &["--data-stream-flush-interval-sec", "NaN"],
                "DATA_STREAM_FLUSH_INTERVAL_SEC=\"NaN\"",
                "0..=60",
            ),
            (
                &["--queue-visibility-timeout-sec", "1.5"],
                "QUEUE_VISIBILITY_TIMEOUT_SEC=\"1.5\"",
                "1..=43200",
            ),
            (
                &["--queue-receipts-to-delete-interval-sec", "x"],
                "QUEUE_RECEIPTS_TO_DELETE_INTERVAL_SEC=\"x\"",
                "0..=60",
            ),
            (
                &["--shard-max-records-per-sec", "0"],
                "SHARD_MAX_RECORDS_PER_SEC=\"0\"",
                "1..=1000",
            ),
            (
                &["--shard-max-bytes-per-sec", "1048577"],
                "SHARD_MAX_BYTES_PER_SEC=\"1048577\"",
                "1..=1048576",
            ),
        ] {
            let err = parse(args).expect_err("must fail");
            assert!(!err.contains('\n'), "one line: {err}");
            assert!(err.contains(var), "{err} names {var}");
            assert!(err.contains(range), "{err} names {range}");
        }
    }

    #[test]
    fn a_visibility_timeout_too_short_for_the_intervals_is_refused() {
        let err = parse(&[
            "--queue-visibility-timeout-sec",
            "2",
            "--data-stream-flush-interval-sec",
            "1",
            "--queue-receipts-to-delete-interval-sec",
            "1",
        ])
        .expect_err("too short");
        assert!(
            err.starts_with("invalid QUEUE_VISIBILITY_TIMEOUT_SEC=2"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn help_documents_every_contract_variable() {
        let help = parse(&["--help"]).expect_err("help is returned as text");
        for var in [
            "SUBMISSIONS_QUEUE_NAME",
            "EVENTS_DATA_STREAM_NAME",
            "QUEUE_MAX_NUMBER_OF_MESSAGE_PER_REQUEST",
            "QUEUE_VISIBILITY_TIMEOUT_SEC",
            "QUEUE_WAIT_TIME_SEC",
            "QUEUE_RECEIPTS_TO_DELETE_INTERVAL_SEC",
            "QUEUE_MAX_RECEIPTS_TO_DELETE_AT_ONCE",
            "DATA_STREAM_FLUSH_INTERVAL_SEC",
            "DATA_STREAM_MAX_BUFFER_SIZE",
            "DEAD_LETTER_QUEUE_NAME",
        ] {
            assert!(help.contains(var), "--help mentions {var}");
        }
        assert!(help.contains("[default: 500]"));
    }
}
