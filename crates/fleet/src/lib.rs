//! The sensor fleet: simulated EDR sensors that submit telemetry to the queue, as the
//! original environment's simulator did, and a load generator and fault source besides.
//!
//! - [`profile`]: what submissions look like: events per type, and the share of each broken kind.
//! - [`generator`]: devices with small value pools, making submissions by the profile, each
//!   with the record of what it must produce ([`manifest::Entry`]).
//! - [`manifest`]: JSON lines saying, per submission, valid or which broken kind, and the
//!   events the stream must show, in order, so the output can be verified.

pub mod generator;
pub mod manifest;
pub mod profile;
