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
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        let stopping = tokio::select! {
            () = stop.cancelled() => true,
            _ = ticker.tick() => false,
        };
        let now = stats.snapshot();
        log(&now.since(&last), &now, &in_flight);
        last = now;
        if stopping {
            return;
        }
    }
}

fn log(delta: &Snapshot, total: &Snapshot, in_flight: &InFlight) {
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
