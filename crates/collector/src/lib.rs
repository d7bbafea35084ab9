//! telemetry-collector: reads sensor submissions from SQS, validates and explodes them, and
//! publishes every event as its own Kinesis record, in order and without loss.
//!
//! One way to build and run it: [`Collector::build`] then [`Collector::run_until_stopped`]
//! ([`app`]); `main.rs` parses the [`Config`], builds, runs.
//!
//! Where each guarantee of the contract is enforced (the README's table names each test):
//!
//! - **no loss**: `deleter.rs` deletes a message only when `publisher.rs` reports every event
//!   of its submission acknowledged with a sequence number (`put_records.rs` reads each
//!   record's own result); `visibility.rs` keeps held messages from being redelivered
//!   meanwhile. With a dead-letter queue, a broken submission is deleted only once
//!   `dead_letter.rs` has kept it.
//! - **order within a submission**: `publisher.rs`, one unacknowledged record per submission.
//! - **bounded memory**: `in_flight.rs`, permits taken before receiving.
//! - **graceful shutdown**: `drain.rs`, finish then hand back within the grace period.
//! - **settings validated once**, a bad one stops the start with one line: `config.rs`.
//!
//! The rest: `pipeline.rs` (the wiring of the tasks), `receiver.rs` (long polling, validation
//! via the `telemetry-model` crate), `queue.rs` (the SQS calls behind a small trait),
//! `startup.rs` (waiting for the queue and the stream), `requests_in_flight.rs`, `stats.rs`,
//! `summary.rs`. Watching it: `http.rs` serves `/metrics` (`metrics.rs`), `/healthz`
//! (`liveness.rs`) and `/readyz` (`readiness.rs`, from `reachability.rs`: whether SQS and
//! Kinesis answer, one log line per outage). Shared with the other binaries: the backoff of
//! retries (`telemetry_aws::backoff`), the JSON logs and the shutdown signal
//! (`telemetry-process`).

mod app;
mod concurrency;
mod config;
mod dead_letter;
mod deleter;
mod drain;
mod histogram;
mod http;
mod in_flight;
mod lanes;
mod liveness;
mod metrics;
mod pipeline;
mod publisher;
mod put_records;
mod queue;
mod reachability;
mod readiness;
mod receiver;
mod requests_in_flight;
mod shard_limiter;
mod shards;
mod startup;
mod stats;
mod summary;
mod visibility;

pub use app::Collector;
pub use config::{Config, ConfigError, PartitionKey};
pub use readiness::{Phase, Status};
pub use stats::{Snapshot, Stats};
