//! Integration tests: the collector against real emulators over HTTP (moto for SQS,
//! kinesalite for Kinesis), with fresh queue and stream names per test. Run through the
//! README's test command, `scripts/test.sh`, which installs the emulators first.

// Test code panics on failed expectations by design.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    missing_docs,
    unreachable_pub
)]

mod support;

mod broken;
mod compose;
mod crash_scenarios;
mod dead_letter;
mod deploy;
mod fault_scenarios;
mod guarantee_map;
mod happy_path;
mod memory;
mod metrics_and_probes;
mod order;
mod outage;
mod production_shape;
mod redelivery;
mod shutdown;
