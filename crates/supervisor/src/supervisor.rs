//! The loop: read the shards every poll interval ([`crate::meter`]) unless the source is
//! CloudWatch; every tick, measure ([`crate::source`]), look at the stream
//! (DescribeStreamSummary), decide ([`crate::decision`]), log one line, and call
//! UpdateShardCount (UNIFORM_SCALING) when the decision says so, unless it is a dry run.
//! A failing call is logged once per outage and tried again with backoff; nothing makes the
//! loop exit but the shutdown future.

use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::{ScalingType, StreamMode, StreamStatus};
use aws_sdk_kinesis::Client;
use telemetry_aws::error_code;

use crate::config::Config;
use crate::decision::{decide, Decision, History, Observation, Status};
use crate::outage::{retry_delay, Outage};
use crate::source::Source;
use crate::traffic::Throttles;

/// Supervises `config.stream_name` until `shutdown` resolves; `cloudwatch` is only called with
/// `SUPERVISOR_SOURCE=cloudwatch`.
pub async fn run(
    config: Config,
    kinesis: Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    shutdown: impl Future,
) {
    tracing::info!(
        stream = config.stream_name.as_str(),
        source = config.source.as_str(),
        interval_sec = config.interval.as_secs_f64(),
        window_sec = config.window_secs,
        low = config.low,
        high = config.high,
        min_shards = config.min_shards,
        max_shards = config.max_shards,
        cooldown_sec = config.cooldown.as_secs_f64(),
        max_calls_per_day = config.max_calls_per_day,
        poll_interval_sec = config.poll_interval.as_secs_f64(),
        dry_run = config.dry_run,
        "shard-supervisor started"
    );
    let mut supervisor = Supervisor::new(config, kinesis, cloudwatch);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            () = supervisor.step() => {}
        }
    }
    tracing::info!(
        records_counted = supervisor.source.records_counted(),
        calls = supervisor.calls,
        "shard-supervisor stopped"
    );
}

struct Supervisor {
    config: Config,
    kinesis: Client,
    source: Source,
    history: History,
    outage: Outage,
    next_read: Instant,
    next_tick: Instant,
    tick_failures: u32,
    /// UpdateShardCount calls made.
    calls: u64,
}

/// What DescribeStreamSummary says.
struct Summary {
    status: Status,
    open_shards: u32,
}

impl Supervisor {
    fn new(config: Config, kinesis: Client, cloudwatch: aws_sdk_cloudwatch::Client) -> Self {
        let now = Instant::now();
        Supervisor {
            source: Source::new(&config, kinesis.clone(), cloudwatch),
            next_read: now,
            // The first decision after one interval: the window needs time to fill anyway.
            next_tick: now + config.interval,
            config,
            kinesis,
            history: History::default(),
            outage: Outage::default(),
            tick_failures: 0,
            calls: 0,
        }
    }

    /// Waits for whatever is due next and does it.
    async fn step(&mut self) {
        let due = self.next_read.min(self.next_tick);
        tokio::time::sleep_until(due.into()).await;
        let now = Instant::now();
        if now >= self.next_tick {
            self.tick().await;
        }
        if now >= self.next_read {
            // A round is at most one read per shard; each shard keeps its own pace and
            // backoff inside the meter, so rounds can come as often as the fastest shard.
            self.source.read(&mut self.outage).await;
            self.outage.settle(Instant::now());
            self.next_read = Instant::now() + self.round_interval();
        }
    }

    /// The pause between rounds: a fraction of the poll interval, so that a shard read late
    /// in one round is not held back a whole interval more.
    fn round_interval(&self) -> Duration {
        (self.config.poll_interval / 4).max(Duration::from_millis(50))
    }

    async fn tick(&mut self) {
        let measured = self.source.rates(&self.config, &mut self.outage).await;
        let summary = match self.summary().await {
            Ok(s) => {
                self.outage.succeeded();
                self.tick_failures = 0;
                s
            }
            Err(code) => {
                // Logged once per outage by the read round that settles it; tried again soon.
                self.outage.failed("DescribeStreamSummary", code);
                self.tick_failures = self.tick_failures.saturating_add(1);
                let delay = retry_delay(self.config.poll_interval, self.tick_failures);
                self.next_tick = Instant::now() + delay.min(self.config.interval);
                return;
            }
        };
        let seen = Observation {
            status: summary.status,
            open_shards: summary.open_shards,
            measured,
        };
        let decision = decide(&self.config.policy(), &self.history, &seen, Instant::now());
        self.log(&seen, &decision);
        if let Decision::Change { from, to, .. } = decision {
            self.change(from, to).await;
        }
        self.next_tick = Instant::now() + self.config.interval;
    }

    async fn summary(&self) -> Result<Summary, String> {
        let out = self
            .kinesis
            .describe_stream_summary()
            .stream_name(&self.config.stream_name)
            .send()
            .await
            .map_err(|e| error_code(&e))?;
        let d = out
            .stream_description_summary
            .ok_or_else(|| "no stream description".to_owned())?;
        let on_demand = d
            .stream_mode_details
            .is_some_and(|m| m.stream_mode == StreamMode::OnDemand);
        let status = match d.stream_status {
            StreamStatus::Active if on_demand => Status::OnDemand,
            StreamStatus::Active => Status::Active,
            other => Status::Other(other.as_str().to_owned()),
        };
        Ok(Summary {
            status,
            open_shards: u32::try_from(d.open_shard_count).unwrap_or(0),
        })
    }

    /// The tick's line: the seed's "average count is N, average size M bytes", with the units
    /// it left out and what was decided.
    fn log(&self, seen: &Observation, decision: &Decision) {
        let label = match (decision, self.config.dry_run) {
            (Decision::Change { .. }, true) if decision.label() == "scale_up" => "would_scale_up",
            (Decision::Change { .. }, true) => "would_scale_down",
            _ => decision.label(),
        };
        let target_shards = match decision {
            Decision::Change { to, .. } => Some(*to),
            Decision::Keep(_) => None,
        };
        match &seen.measured {
            Ok(rates) => {
                let per_shard_use = if seen.open_shards == 0 {
                    0.0
                } else {
                    rates.shards_demanded / f64::from(seen.open_shards)
                };
                let throttles = match rates.throttles {
                    Throttles::NotSeen => "not_seen",
                    Throttles::PerSec(_) => "seen",
                    Throttles::Unknown => "unknown",
                };
                tracing::info!(
                    records_per_sec = rates.records_per_sec,
                    bytes_per_sec = rates.bytes_per_sec,
                    throttles,
                    throttled_per_sec = rates.throttles.per_sec(),
                    window_sec = rates.seconds,
                    open_shards = seen.open_shards,
                    per_shard_use,
                    decision = label,
                    reason = decision.reason(),
                    detail = %decision,
                    target_shards,
                    records_counted = self.source.records_counted(),
                    "average count is {:.1} records/s, average size {:.0} bytes/s",
                    rates.records_per_sec,
                    rates.bytes_per_sec
                );
            }
            Err(why) => tracing::info!(
                open_shards = seen.open_shards,
                decision = label,
                reason = decision.reason(),
                detail = %decision,
                "average count is not known yet: {why}"
            ),
        }
    }

    async fn change(&mut self, from: u32, to: u32) {
        if self.config.dry_run {
            tracing::info!(
                from,
                to,
                "dry run: would call UpdateShardCount {from} -> {to} shards (UNIFORM_SCALING)"
            );
            return;
        }
        // Every attempt counts against the cooldown and the daily limit: a call whose answer
        // was lost may have taken effect.
        self.history.record(Instant::now());
        self.calls += 1;
        let result = self
            .kinesis
            .update_shard_count()
            .stream_name(&self.config.stream_name)
            .target_shard_count(i32::try_from(to).unwrap_or(i32::MAX))
            .scaling_type(ScalingType::UniformScaling)
            .send()
            .await;
        match result {
            Ok(_) => tracing::info!(
                from,
                to,
                "UpdateShardCount {from} -> {to} shards called; the stream reshards"
            ),
            Err(e) => tracing::warn!(
                from,
                to,
                error = error_code(&e).as_str(),
                "UpdateShardCount {from} -> {to} shards failed; tried again after the cooldown \
                 if still needed"
            ),
        }
    }
}
