//! `shard-supervisor`: keeps the events stream's shard count matched to its load, whatever the
//! number of collectors writing to it.
//!
//! The seed's PHP Supervisor averaged the records its own collector sent, so it only worked
//! with a single collector. This one is a separate command that measures the stream itself (or
//! reads its CloudWatch metrics):
//!
//! 1. **Measure** ([`meter`], [`traffic`]; or [`cloudwatch`], see below): a shard iterator
//!    per shard, from LATEST, read with GetRecords at most once per poll interval (AWS allows
//!    5 reads per second per shard);
//!    every record is counted in the second of its `ApproximateArrivalTimestamp`, with its data
//!    and partition key bytes, as Kinesis counts them against a shard's limits. A shard closed
//!    by a resharding is read to its end (no `NextShardIterator`), then its children from their
//!    start (named by GetRecords or found with ListShards).
//! 2. **Decide** ([`decision`], pure): per-shard use is the demand (below),
//!    `max(records/s / 1000, bytes/s / 1 MiB)`, second by second, averaged over the window and
//!    divided by the open shards. Outside the band `[low, high]` the count goes to
//!    `ceil(use / ((low + high) / 2))`, within `[min_shards, max_shards]`, at most double and at
//!    least half the open count per call, at most `max_calls_per_day` calls (AWS: 10) in any 24
//!    hours, after a cooldown, and only while the stream is ACTIVE; a stream that refused
//!    writes in the window is never merged. Every "no change" has a reason in the log.
//! 3. **Act** ([`supervisor`]): every tick one JSON line, "average count is N records/s,
//!    average size M bytes/s", with the decision; UpdateShardCount with UNIFORM_SCALING, or in
//!    a dry run only the line saying what it would do. Failing calls are logged once per
//!    outage ([`outage`]) and retried with backoff; only SIGTERM or SIGINT ends it (exit 0).
//!
//! Settings are in [`config`]; the JSON log lines and the shutdown signal are
//! `telemetry-process`'s, as for every binary.
//!
//! # Two sources: the stream or CloudWatch
//!
//! `SUPERVISOR_SOURCE` chooses where step 1 measures ([`source`]); the decision takes the same
//! [`traffic::Rates`] from either:
//!
//! - `stream` (the default, [`meter`]): works the same against every emulator, gives
//!   per-second figures and needs no permission beyond Kinesis; but every GetRecords takes a
//!   share of each shard's read limits (5 reads and 2 MiB per second, shared with every
//!   consumer that does not use enhanced fan-out).
//! - `cloudwatch` ([`cloudwatch`]): the stream's `IncomingRecords`, `IncomingBytes` and
//!   `WriteProvisionedThroughputExceeded` (Sum, per minute, published by Kinesis at no charge),
//!   one GetMetricData per tick (billed per metric asked for: three a tick) and no read of the
//!   shards. The window is rounded up to whole minutes and ends at the start of the minute
//!   `SUPERVISOR_CLOUDWATCH_DELAY_SEC` (120) ago, since CloudWatch publishes a minute a few
//!   minutes late; a minute without a records or bytes datapoint is "not measured", never
//!   zero load. Needs `cloudwatch:GetMetricData`.
//!
//! # Demand: what was asked, not only what got through
//!
//! A write over a shard's limit is refused (`ProvisionedThroughputExceededException`) and never
//! reaches the stream, so counting what the stream took in misses the demand that needs more
//! shards most. The decision scales on demand, [`traffic::Rates::shards_demanded`]: what was
//! taken in plus the throttled records the source sees ([`traffic::Throttles`]).
//!
//! - `cloudwatch` also reads `WriteProvisionedThroughputExceeded` (Sum per minute: throttled
//!   records/s), each throttled record counted at the minute's mean record size and at most
//!   as many as the minute took in (writers retry: one refused record is counted once per
//!   attempt). A minute
//!   without its datapoint makes the throttles "unknown": the load is still measured (a split
//!   holds), but the stream is not merged.
//! - `stream` cannot see throttles. Collectors that keep the shard limits (`SHARD_LIMITER=on`,
//!   the default) wait at them instead of being throttled, so a saturated stream takes in its
//!   capacity: per-shard use near 1, above the split threshold `high`, which is a split. Other
//!   writers' throttles are invisible to this source.
//! - **A throttled stream is never merged** (reason `throttled`, or `throttles_unknown`), even
//!   when what got through is low (a hot key throttled on one shard while the others idle):
//!   fewer shards would refuse more.
//!
//! # Order across a resharding
//!
//! See the section of that name in `crates/supervisor/README.md`.

pub mod cloudwatch;
pub mod config;
pub mod decision;
pub mod meter;
pub mod outage;
pub mod source;
pub mod supervisor;
pub mod traffic;

pub use config::Config;
pub use supervisor::run;
