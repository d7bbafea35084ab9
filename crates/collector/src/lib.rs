//! telemetry-collector: reads sensor submissions from SQS, validates and explodes them, and
//! publishes every event as its own Kinesis record, in order and without loss.
//!
//! One way to build and run it: [`Collector::build`] then [`Collector::run_until_stopped`]
//! (`app.rs`); `main.rs` parses the [`Config`], builds, runs.
//!
//! Where each guarantee of the contract is enforced (the README's "Guarantees" table names the
//! test that fails when each clause is broken; `docs/guarantees.md` says how each works;
//! `tests/it/guarantee_map.rs` fails when a file or test named here or there no longer exists):
//!
//! - **no loss**: `deleter.rs` deletes a message only when `publisher.rs` reports every event
//!   of its submission acknowledged with a sequence number (`put_records.rs` reads each
//!   record's own result: `KinesisSink` through the SDK, `LeanKinesisSink` through the lean
//!   client, whose answers `crates/aws-lean/src/kinesis.rs` reads); `visibility.rs` keeps held
//!   messages from being redelivered meanwhile; `queue.rs` decides once, for both clients, what
//!   each entry of a delete or visibility batch reply means (`BatchReply::outcomes`); with a
//!   dead-letter queue, a broken submission is deleted only once `dead_letter.rs` has kept it;
//!   `requests_in_flight.rs` keeps what each AWS request carries; outages are ridden out with
//!   `reachability.rs`, `startup.rs` and `telemetry_aws::backoff`.
//! - **order within a submission**: `publisher.rs`, one unacknowledged record per submission.
//!   What the lanes choose does not weaken it: order holds by that rule alone.
//! - **bounded memory**: `in_flight.rs`, permits taken before receiving (`receiver.rs`).
//! - **graceful shutdown**: `drain.rs`, finish then hand back (`visibility.rs`) within the
//!   grace period.
//! - **settings validated once**, a bad one stops the start with one line: `config.rs`.
//!
//! Every guarantee holds on both clients of the hot calls: `AWS_CLIENT=lean` (the default,
//! `telemetry-aws-lean` in `crates/aws-lean`) and `AWS_CLIENT=sdk` (the official SDK
//! throughout). The integration tests run on the lean client; those of the happy path, order,
//! both outages, redelivery, both SIGTERM tests, fault and crash scenarios a to g and production
//! shape each have a twin, `<name>_through_the_sdk`, that runs the same test with
//! `AWS_CLIENT=sdk` (the list of those that do not: `docs/guarantees.md`).
//!
//! The rest:
//!
//! - wiring: `app.rs` (build, run), `pipeline.rs` (the tasks), `main.rs`;
//! - the queue: `queue.rs` (the `Queue` trait; `LeanQueue` and `SqsQueue` for the two clients,
//!   `MemoryQueue` in `queue/memory.rs` for unit tests), `receiver.rs` (long polling,
//!   validation via the `telemetry-model` crate);
//! - the stream's throughput within each shard's write limits: `lanes.rs` (a lane per shard,
//!   the next batch), `shard_limiter.rs` (token buckets at this collector's share of a shard),
//!   `concurrency.rs` (adaptive PutRecords requests in flight), `shards.rs` (the open shards,
//!   followed across a reshard);
//! - watching it: `http.rs` serves `/metrics` (`metrics.rs`, `histogram.rs`), `/healthz`
//!   (`liveness.rs`) and `/readyz` (`readiness.rs`, from `reachability.rs`: whether SQS and
//!   Kinesis answer, one log line per outage); `stats.rs`, `summary.rs` (the summary line).
//!
//! Shared with the other binaries: the backoff of retries (`telemetry_aws::backoff`), the JSON
//! logs, the setting errors and the shutdown signal (`telemetry-process`).

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
