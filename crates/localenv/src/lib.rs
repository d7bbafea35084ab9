//! The local environment of telemetry-collector, shared by the integration tests, the
//! benchmarks and the one-command local run:
//!
//! - [`emulators`]: moto server (SQS) and kinesalite (Kinesis), installed pinned into `.tools/`
//!   by `scripts/install-emulators.sh`, started on free loopback ports, killed when dropped.
//! - [`proxy`]: a fault-injecting HTTP proxy in front of an emulator, steered by a [`faults`]
//!   plan: outages, failed requests and entries, resets, lost answers, latency.
//! - [`resources`]: creating the queue and the stream, waiting until the stream is active.
//! - [`cpu`]: a process's CPU time, for CPU-per-event figures.
//! - [`scrape`]: GETs against a collector's HTTP listener, and reading its metrics.

pub mod cpu;
pub mod emulators;
pub mod faults;
pub mod proxy;
pub mod resources;
pub mod scrape;
