//! The process plumbing every binary of the workspace shares, so that none writes it twice
//! (none of it is AWS: that is `telemetry-aws`):
//!
//! - [`config`]: settings from flags and environment variables through clap, every bad value
//!   reported as one line naming the variable, the value and what is allowed; the range
//!   parsers [`config::integer_in`], [`config::number_in`], [`config::seconds_in`]; a
//!   [`config::Settings`] trait whose `validate` checks settings against each other.
//! - [`logging`]: JSON lines on stdout through `tracing`, and the check of a `LOG_LEVEL` filter.
//! - [`shutdown`]: the SIGTERM/SIGINT future every long-running binary waits for.

pub mod config;
pub mod logging;
pub mod shutdown;
