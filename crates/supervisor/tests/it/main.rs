//! Integration tests of the shard supervisor against real emulators over HTTP: moto (it
//! supports UpdateShardCount and serves CloudWatch metrics) for the binary, kinesalite (it
//! reshards for real) for following a resharding, and kinesalite behind the production-shaped
//! proxy (shard limits; UpdateShardCount carried out by the proxy) for a saturated stream. Fresh streams per test, deadlines instead
//! of sleeps. The emulators are installed by `scripts/install-emulators.sh`.

// Test code panics on failed expectations by design.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    missing_docs,
    unreachable_pub
)]

mod support;

mod cloudwatch;
mod demand;
mod fleet;
mod follow;
mod order;
mod outage;
mod process;
mod scaling;
