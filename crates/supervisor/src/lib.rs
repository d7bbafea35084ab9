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
//! 2. **Decide** ([`decision`], pure): per-shard use is
//!    `max(records/s / 1000, bytes/s / 1 MiB)`, second by second, averaged over the window and
//!    divided by the open shards. Outside the band `[low, high]` the count goes to
//!    `ceil(use / ((low + high) / 2))`, within `[min_shards, max_shards]`, at most double and at
//!    least half the open count per call, at most `max_calls_per_day` calls (AWS: 10) in any 24
//!    hours, after a cooldown, and only while the stream is ACTIVE. Every "no change" has a
//!    reason in the log.
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
//! - `cloudwatch` ([`cloudwatch`]): the stream's `IncomingRecords` and `IncomingBytes` (Sum,
//!   per minute, published by Kinesis at no charge), one GetMetricData per tick (billed per
//!   metric asked for: two a tick) and no read of the shards. The
//!   window is rounded up to whole minutes and ends at the start of the minute
//!   `SUPERVISOR_CLOUDWATCH_DELAY_SEC` (120) ago, since CloudWatch publishes a minute a few
//!   minutes late; a minute without a datapoint is "not measured", never zero load. Needs
//!   `cloudwatch:GetMetricData`.
//!
//! # Order across a resharding
//!
//! Changing the shard count does not break the order of a partition key's records for a
//! reader that reads a parent shard to its end before its children (the Kinesis Client
//! Library does, and so do `telemetry_aws::stream::read_all` and `shards_parents_first`):
//!
//! - UpdateShardCount splits and merges shards; at any moment a partition key maps to exactly
//!   one open shard. When a shard is split or merged it is closed: it takes no more writes and
//!   keeps every record written to it, and every later record of its keys goes to a child.
//! - So all of a key's records from before the resharding are in the parent, all later ones in
//!   a child, each shard in write order; parents first gives write order.
//! - The collector keeps one record per submission unacknowledged at a time, so a record sent
//!   after another was acknowledged, hence written, before it, and never lands in an older shard.
//! - The supervisor itself writes nothing; it only reads and calls UpdateShardCount.
//!
//! A reader that reads children while their parent still holds unread records (several
//! shards at once, without checking parents) can see a key's new records before its old ones.
//! The test `order::a_reader_reading_parents_first_sees_each_key_in_order_across_reshards`
//! checks the guarantee against a stream this supervisor resharded.

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
