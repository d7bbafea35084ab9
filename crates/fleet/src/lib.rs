//! The sensor fleet: simulated EDR sensors that submit telemetry to the queue, as the
//! original environment's simulator did, and a load generator and fault source besides.
//!
//! - [`profile`]: what submissions look like: events per type, and the share of each broken kind.
//! - [`generator`]: devices with small value pools, making submissions by the profile, each
//!   with the record of what it must produce ([`manifest::Entry`]).
//! - [`manifest`]: JSON lines saying, per submission, valid or which broken kind, and the
//!   events the stream must show, in order, so the output can be verified.
//!
//! Sending them, for the `sensor-fleet` binary:
//!
//! - [`pace`]: when submissions are due (a fixed rate, or each device every 30-45 s).
//! - [`batch`]: one SendMessageBatch of up to ten, failed entries retried with backoff.
//! - [`tally`]: what reached the queue, valid or broken, what failed, and the manifest.

pub mod batch;
pub mod generator;
pub mod manifest;
pub mod pace;
pub mod profile;
pub mod tally;
