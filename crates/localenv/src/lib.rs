//! The local environment of telemetry-collector, shared by the integration tests, the
//! benchmarks and (later) the one-command local run:
//!
//! - [`emulators`]: moto server (SQS) and kinesalite (Kinesis), installed pinned into `.tools/`
//!   by `scripts/install-emulators.sh`, started on free loopback ports, killed when dropped.
//! - [`proxy`]: a TCP proxy in front of an emulator that can be taken down and brought back,
//!   which is what an unreachable service looks like to the SDK.
//! - [`resources`]: creating the queue and the stream, waiting until the stream is active.
//! - [`cpu`]: a process's CPU time, for CPU-per-event figures.

pub mod cpu;
pub mod emulators;
pub mod proxy;
pub mod resources;
