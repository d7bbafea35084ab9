//! Tools over the events stream, behind the binary `telemetry-stream`:
//!
//! - [`tail`]: follows every shard (also those a resharding creates) and prints the events,
//!   filtered by type or device.
//! - [`verify`]: checks what a stream holds against a sensor-fleet manifest, guarantee by
//!   guarantee.
//! - [`stats`]: counts records and bytes per shard.

pub mod stats;
pub mod tail;
pub mod verify;
