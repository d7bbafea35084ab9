//! telemetry-collector: reads sensor submissions from SQS, validates and explodes them, and
//! publishes every event as its own Kinesis record, in order and without loss.
//!
//! Where each guarantee of the contract is enforced:
//!
//! - **no loss**: [`deleter`] deletes a message only when [`publisher`] reports every event of
//!   its submission acknowledged with a sequence number ([`put_records`] reads each record's
//!   result); [`visibility`] keeps held messages from being redelivered meanwhile. With a
//!   dead-letter queue, a broken submission is deleted only once [`dead_letter`] has kept it.
//! - **order within a submission**: [`publisher`], one unacknowledged record per submission.
//! - **bounded memory**: [`in_flight`], permits taken before receiving.
//! - **graceful shutdown**: [`app`], drain then hand back; [`shutdown`] for the signals.
//!
//! The rest: [`config`] (settings, validated once), [`receiver`] (long polling, validation via
//! the `telemetry-model` crate), [`startup`] (waiting for the queue and stream), [`backoff`],
//! [`health`] (one log line per outage), [`requests`], [`stats`], [`summary`], [`logging`].
//!
//! Watching it: [`http`] serves `/metrics` ([`metrics`]), `/healthz` ([`heartbeat`]) and
//! `/readyz` ([`status`]).

pub mod app;
pub mod backoff;
pub mod config;
pub mod dead_letter;
pub mod deleter;
pub mod health;
pub mod heartbeat;
pub mod http;
pub mod in_flight;
pub mod logging;
pub mod metrics;
pub mod publisher;
pub mod put_records;
pub mod receiver;
pub mod requests;
pub mod shutdown;
pub mod startup;
pub mod stats;
pub mod status;
pub mod summary;
pub mod visibility;

pub use app::run;
pub use config::Config;
