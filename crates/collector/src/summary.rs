//! The periodic summary line, like the seed's "Collect 2 more messages (15 events)", with what
//! an operator needs beside it: drops by reason, failures, what is held.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::in_flight::InFlight;
use crate::stats::{Snapshot, Stats};

/// Logs one summary line every `every` until `stop`, and a last one then.
pub(crate) async fn run(
    stats: Arc<Stats>,
    in_flight: Arc<InFlight>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut last = stats.snapshot();
    let lag = &stats.histograms.submission_lag;
    let mut last_lag = lag.counts();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        let stopping = tokio::select! {
            () = stop.cancelled() => true,
            _ = ticker.tick() => false,
        };
        let now = stats.snapshot();
        let now_lag = lag.counts();
        let interval: Vec<u64> = now_lag.iter().zip(&last_lag).map(|(n, l)| n - l).collect();
        let lag_sec = Lag {
            p50: lag.quantile(&interval, 0.5),
            p99: lag.quantile(&interval, 0.99),
        };
        log(&now.since(&last), &now, &lag_sec, &in_flight);
        last = now;
        last_lag = now_lag;
        if stopping {
            return;
        }
    }
}

/// Quantiles of the interval's submission lag (SentTimestamp to the last record's
/// acknowledgement), in seconds, as the histogram's buckets give them.
struct Lag {
    p50: Option<f64>,
    p99: Option<f64>,
}

fn log(delta: &Snapshot, total: &Snapshot, lag: &Lag, in_flight: &InFlight) {
    tracing::info!(
        messages = delta.submissions_published + delta.dropped_total(),
        events = delta.events_published,
        valid = delta.valid,
        dropped = delta.dropped_total(),
        dropped_by_reason = %delta.dropped_by_reason(),
        receive_calls = delta.receive_calls,
        put_requests = delta.put_requests,
        failed_records = delta.put_failed_records,
        deleted = delta.deleted,
        delete_calls = delta.delete_calls,
        // Only with a dead-letter queue, and only when something happened: `None` is left out.
        dead_lettered = nonzero(delta.dead_lettered),
        dead_letter_failures = nonzero(delta.dead_letter_failures),
        // Only when a submission finished in the interval.
        lag_p50_sec = lag.p50,
        lag_p99_sec = lag.p99,
        in_flight_submissions = in_flight.len(),
        in_flight_records = in_flight.records(),
        total_events = total.events_published,
        "collected {} messages ({} events)",
        delta.submissions_published + delta.dropped_total(),
        delta.events_published,
    );
}

fn nonzero(n: u64) -> Option<u64> {
    (n > 0).then_some(n)
}
