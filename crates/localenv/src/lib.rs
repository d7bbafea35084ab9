//! The local environment of telemetry-collector, shared by the integration tests, the
//! benchmarks and the one-command local run:
//!
//! - [`emulators`]: moto server (SQS) and kinesalite (Kinesis), installed pinned into `.tools/`
//!   by `scripts/install-emulators.sh`, started on free loopback ports (127.0.0.1 only), killed
//!   when dropped.
//! - [`proxy`]: a fault-injecting HTTP(S) proxy in front of an emulator, steered by a [`faults`]
//!   plan: outages, failed requests and entries, resets, lost answers, latency; and shaped by a
//!   [`profile`]: production's round-trip time, Kinesis's per-shard limits ([`shard_limit`],
//!   over `telemetry_aws::shard_map` and `telemetry_aws::token_bucket`), SigV4 checks ([`signature`]), TLS ([`tls`]); and `UpdateShardCount` carried out with
//!   SplitShard and MergeShards for kinesalite, which lacks it (`uniform_scaling`).
//!   `docs/production-shape.md` says how to use it and what it models.
//! - [`endpoints`]: where started processes reach SQS and Kinesis, straight or through
//!   production-shaped proxies, and the environment they need for it.
//! - [`resources`]: creating the queue and the stream, waiting until the stream is active.
//! - [`cpu`]: a process's CPU time, for CPU-per-event figures.
//! - [`collectors`], [`offered_load`]: collector processes and load offered at a rate, for the
//!   end-to-end benchmark (`e2e-bench`).
//! - [`scrape`]: GETs against a collector's HTTP listener, and reading its metrics.
//!
//! For the test suites:
//!
//! - [`wait`]: waiting for a condition with a deadline, failing with what was awaited.
//! - [`child`]: a binary under test as a child process, its log in a file, killed when dropped.

pub mod child;
pub mod collectors;
pub mod cpu;
pub mod emulators;
pub mod endpoints;
pub mod faults;
pub mod offered_load;
pub mod profile;
pub mod proxy;
pub mod resources;
pub mod scrape;
pub mod shard_limit;
pub mod signature;
pub mod tls;
mod uniform_scaling;
pub mod wait;
