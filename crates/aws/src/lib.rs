//! The AWS plumbing every binary of the workspace shares, so that none writes it twice:
//!
//! - [`clients`]: SDK configuration from the standard chain (credentials, region, the
//!   `AWS_ENDPOINT_URL` and per-service `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL_KINESIS`
//!   endpoints), or explicit endpoints for emulators; timeouts and retry policy per service.
//! - [`queue`]: resolving a queue name to its URL.
//! - [`stream`]: reading every shard of a stream from the start, parents before children.
//! - [`shard_map`]: which open shard takes a record (MD5 of its partition key over the hash
//!   key ranges); [`token_bucket`]: a shard's write limits as Kinesis counts them. The local
//!   proxy enforces the limits with them; the collector stays within them.
//! - [`error`]: a short, bounded code for any SDK error, for logs and metric labels.
//! - [`backoff`]: the delay before a failed AWS call or record is tried again.

pub mod backoff;
pub mod clients;
pub mod error;
pub mod queue;
pub mod shard_map;
pub mod stream;
pub mod token_bucket;

pub use clients::Clients;
pub use error::error_code;
