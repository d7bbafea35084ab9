//! Tools over the events stream: [`verify`] checks what a stream holds against a sensor-fleet
//! manifest, guarantee by guarantee; [`stats`] counts records and bytes per shard. The binary
//! `telemetry-stream` adds `tail`.

pub mod stats;
pub mod verify;
