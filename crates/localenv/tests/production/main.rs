//! The production-shaped proxy against the real emulators over HTTP(S): Kinesis's shard limits
//! (record by record, shards from ListShards, reshards followed), TLS trusted through
//! `SSL_CERT_FILE`, SigV4 checks, the round-trip time; and the local environment itself: every
//! emulator on loopback only, moto keeping every delete. Run through the README's test command,
//! `scripts/test.sh`, which installs the emulators first.

// Test code panics on failed expectations by design.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    missing_docs,
    unreachable_pub
)]

mod support;

mod loopback;
mod moto_deletes;
mod rtt;
mod shard_limits;
mod signatures;
mod tls;
