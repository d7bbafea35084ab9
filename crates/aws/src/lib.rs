//! The AWS plumbing every binary of the workspace shares, so that none writes it twice:
//!
//! - [`clients`]: SDK configuration from the standard chain (credentials, region, the
//!   `AWS_ENDPOINT_URL` and per-service `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL_KINESIS`
//!   endpoints), or explicit endpoints for emulators; timeouts and retry policy per service.
//! - [`queue`]: resolving a queue name to its URL.
//! - [`stream`]: reading every shard of a stream from the start, parents before children.
//! - [`error`]: a short, bounded code for any SDK error, for logs and metric labels.
//! - [`shutdown`]: the SIGTERM/SIGINT future every long-running binary waits for.

pub mod clients;
pub mod error;
pub mod queue;
pub mod shutdown;
pub mod stream;

pub use clients::Clients;
pub use error::error_code;
