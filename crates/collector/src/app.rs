//! The application: builds the pipeline from a [`Config`] and runs it until a shutdown signal,
//! then drains (**graceful** guarantee).
//!
//! ```text
//!  receivers (N) --valid--> publisher --finished--> deleter
//!        \------empty; broken without a DLQ---------^
//!        \------broken, with a DLQ--> dead_letter --kept--^
//!  in_flight: what is held, bounded; visibility extender keeps it invisible to others
//! ```
//!
//! Shutdown: receiving stops at once; the publisher, dead-letter task and deleter stop
//! lingering and finish what is held until the grace period is nearly over; whatever is still
//! held then is handed back (visibility 0) so another collector takes it at once; then `run`
//! returns.

use std::sync::Arc;
use std::time::Duration;

use telemetry_aws::Clients;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::config::Config;
use crate::dead_letter::{DeadLetter, DeadLetterSettings, SqsLetterSink};
use crate::deleter::{Deleter, DeleterSettings};
use crate::health::Health;
use crate::in_flight::InFlight;
use crate::publisher::{Publisher, PublisherSettings};
use crate::put_records::KinesisSink;
use crate::receiver::Receiver;
use crate::stats::{Snapshot, Stats};
use crate::status::{Phase, Status};
use crate::visibility::Visibility;
use crate::{startup, summary};

/// Runs the collector until `shutdown` fires, then drains and returns the final counters.
/// Transient AWS errors never end it; it only returns after `shutdown`.
pub async fn run(config: Config, clients: Clients, shutdown: CancellationToken) -> Snapshot {
    run_with_stats(config, clients, shutdown, Arc::new(Stats::default())).await
}

/// [`run`], counting into `stats` (so a caller can watch the counters while it runs).
pub async fn run_with_stats(
    config: Config,
    clients: Clients,
    shutdown: CancellationToken,
    stats: Arc<Stats>,
) -> Snapshot {
    run_observed(config, clients, shutdown, stats, Arc::default()).await
}

/// [`run_with_stats`], also reporting its phase, reachability and what it holds in `status`
/// (read by the HTTP listener's probes and metrics).
pub async fn run_observed(
    config: Config,
    clients: Clients,
    shutdown: CancellationToken,
    stats: Arc<Stats>,
    status: Arc<Status>,
) -> Snapshot {
    tracing::info!(
        queue = %config.queue_name,
        stream = %config.stream_name,
        version = env!("CARGO_PKG_VERSION"),
        "telemetry-collector starting"
    );
    let Some(queue_url) =
        startup::wait_for_queue(&clients.sqs, &config.queue_name, &shutdown).await
    else {
        return stats.snapshot();
    };
    let dead_letter_url = match &config.dead_letter_queue_name {
        Some(name) => match startup::wait_for_queue(&clients.sqs, name, &shutdown).await {
            Some(url) => Some(url),
            None => return stats.snapshot(),
        },
        None => None,
    };
    if startup::wait_for_stream(&clients.kinesis, &config.stream_name, &shutdown)
        .await
        .is_none()
    {
        return stats.snapshot();
    }

    let max_submissions = usize::try_from(config.max_submissions_in_flight).unwrap_or(usize::MAX);
    let max_records = u32::try_from(config.max_records_in_flight).unwrap_or(u32::MAX);
    let in_flight = Arc::new(InFlight::new(max_submissions, max_records));
    status.set_in_flight(
        Arc::clone(&in_flight),
        config.max_submissions_in_flight,
        config.max_records_in_flight,
    );
    let sqs_health = Arc::clone(&status.sqs);
    let kinesis_health = Arc::clone(&status.kinesis);

    // Tasks stop in three steps: receivers at `shutdown`; publisher and deleter when their
    // intake closes and their work is done; the helpers below at `stop`.
    let stop = CancellationToken::new();
    let (publish_tx, publish_rx) = mpsc::unbounded_channel();
    let (delete_tx, delete_rx) = mpsc::unbounded_channel();

    let publisher = Publisher::new(
        KinesisSink::new(clients.kinesis.clone(), config.stream_name.clone()),
        PublisherSettings {
            batch_records: usize::try_from(config.put_batch_size).unwrap_or(500),
            linger: config.flush_interval,
            max_requests: usize::try_from(config.put_requests_in_flight).unwrap_or(8),
            backoff: Backoff::RECORDS,
        },
        Arc::clone(&stats),
        Arc::clone(&kinesis_health),
        delete_tx.clone(),
    );
    let publisher_task = tokio::spawn(publisher.run(publish_rx, shutdown.clone()));

    let deleter = Deleter::new(DeleterSettings {
        sqs: clients.sqs.clone(),
        queue_url: queue_url.clone(),
        batch_size: usize::try_from(config.delete_batch_size).unwrap_or(10),
        interval: config.delete_interval,
        in_flight: Arc::clone(&in_flight),
        stats: Arc::clone(&stats),
        health: Arc::clone(&sqs_health),
    });
    let mut deleter_task = tokio::spawn(deleter.run(delete_rx, shutdown.clone()));

    let (dead_letter_tx, dead_letter_task) = match dead_letter_url {
        Some(url) => {
            let (tx, rx) = mpsc::unbounded_channel();
            let dead_letter = DeadLetter::new(
                SqsLetterSink::new(clients.sqs.clone(), url),
                DeadLetterSettings {
                    original_queue: config.queue_name.clone(),
                    in_flight: Arc::clone(&in_flight),
                    deleter: delete_tx.clone(),
                    stats: Arc::clone(&stats),
                    // Its own: a missing dead-letter queue must not flap the main queue's state.
                    health: Arc::new(Health::new("SQS dead-letter queue")),
                    backoff: Backoff::CALLS,
                },
            );
            (Some(tx), Some(tokio::spawn(dead_letter.run(rx))))
        }
        None => (None, None),
    };

    let visibility = Visibility {
        sqs: clients.sqs.clone(),
        queue_url: queue_url.clone(),
        timeout: config.visibility_timeout(),
        in_flight: Arc::clone(&in_flight),
        stats: Arc::clone(&stats),
        health: Arc::clone(&sqs_health),
        gate: Arc::default(),
    };
    let extender_stop = CancellationToken::new();
    let extender_task = tokio::spawn(visibility.clone().run_extender(extender_stop.clone()));
    let summary_task = tokio::spawn(summary::run(
        Arc::clone(&stats),
        Arc::clone(&in_flight),
        config.summary_interval,
        stop.clone(),
    ));

    let mut receivers = JoinSet::new();
    for _ in 0..config.receivers {
        let receiver = Receiver {
            sqs: clients.sqs.clone(),
            queue_url: queue_url.clone(),
            batch_size: u32::try_from(config.receive_batch_size).unwrap_or(10),
            wait_time: Duration::from_secs(config.wait_time_secs),
            visibility_timeout: config.visibility_timeout(),
            stop_poll_wait: (config.shutdown_grace / 2).min(Duration::from_secs(5)),
            key_source: config.partition_key.into(),
            in_flight: Arc::clone(&in_flight),
            publisher: publish_tx.clone(),
            deleter: delete_tx.clone(),
            dead_letter: dead_letter_tx.clone(),
            stats: Arc::clone(&stats),
            health: Arc::clone(&sqs_health),
        };
        receivers.spawn(receiver.run(shutdown.clone()));
    }
    // Only the tasks hold senders now, so intakes close when those tasks end.
    drop(publish_tx);
    drop(delete_tx);
    drop(dead_letter_tx);

    status.set_phase(Phase::Running);
    shutdown.cancelled().await;
    status.set_phase(Phase::Stopping);
    let started = Instant::now();
    let reserve = hand_back_reserve(config.shutdown_grace);
    let work_deadline = started + config.shutdown_grace.saturating_sub(reserve);
    tracing::info!(
        held = in_flight.len(),
        grace_period_sec = config.shutdown_grace.as_secs_f64(),
        "receiving stopped; finishing the submissions held"
    );
    // Every step below has a deadline: SQS or Kinesis may be the reason for the shutdown.
    let hard_deadline = started + config.shutdown_grace;
    let receivers_done = async { while receivers.join_next().await.is_some() {} };
    if tokio::time::timeout_at(work_deadline, receivers_done)
        .await
        .is_err()
    {
        receivers.abort_all();
    }
    // Messages a receiver held but never passed on will not be finished: hand them back now.
    let undispatched = in_flight.all(true);
    if !undispatched.is_empty() {
        let _ = tokio::time::timeout_at(hard_deadline, visibility.hand_back(undispatched)).await;
    }

    let finished = tokio::time::timeout_at(work_deadline, in_flight.wait_empty())
        .await
        .is_ok();
    publisher_task.abort();
    // Letters not yet accepted stay held and are handed back below, like unpublished ones.
    if let Some(task) = &dead_letter_task {
        task.abort();
    }
    // Let the deleter send what it already has, then stop it and hand back everything else.
    let deleter_deadline = work_deadline.max(Instant::now()) + reserve / 2;
    if tokio::time::timeout_at(deleter_deadline, &mut deleter_task)
        .await
        .is_err()
    {
        deleter_task.abort();
    }
    // The extender stops first (abandoning a round in progress), so no extension can race
    // the hand-back, and the hand-back never waits for a slow round.
    extender_stop.cancel();
    let _ = extender_task.await;
    let rest = in_flight.all(false);
    let handed_back = if rest.is_empty() {
        0
    } else {
        tokio::time::timeout_at(hard_deadline, visibility.hand_back(rest))
            .await
            .unwrap_or(0)
    };
    stop.cancel();
    let _ = summary_task.await;
    let total = stats.snapshot();
    tracing::info!(
        finished_all = finished,
        handed_back,
        events_published = total.events_published,
        messages_deleted = total.deleted,
        elapsed_sec = started.elapsed().as_secs_f64(),
        "telemetry-collector stopped"
    );
    total
}

/// The part of the grace period kept for handing back what cannot be finished: a quarter, at
/// most 2 s.
fn hand_back_reserve(grace: Duration) -> Duration {
    (grace / 4).min(Duration::from_secs(2))
}
