//! The wiring: the tasks that move a submission from the queue to the stream, started once the
//! queue and the stream are found.
//!
//! ```text
//!  receivers (N) --valid--> publisher --finished--> deleter
//!        \------empty; broken without a DLQ---------^
//!        \------broken, with a DLQ--> dead_letter --kept--^
//!  in_flight: what is held, bounded; the visibility extender keeps it invisible to others
//! ```
//!
//! Tasks end in order at shutdown ([`crate::drain`]): receivers at the shutdown token; the
//! publisher and the deleter stop lingering then, and end when their intake closes and their
//! work is done; the extender and the summary when the drain stops them.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Switch};
use crate::dead_letter::{DeadLetter, DeadLetterSettings, LetterSink};
use crate::deleter::{Deleter, DeleterSettings};
use crate::in_flight::InFlight;
use crate::publisher::{Publisher, PublisherSettings};
use crate::put_records::RecordSink;
use crate::queue::Queue;
use crate::reachability::Reachability;
use crate::readiness::Status;
use crate::receiver::Receiver;
use crate::shard_limiter::Limits;
use crate::shards;
use crate::stats::Stats;
use crate::summary;
use crate::visibility::Visibility;
use telemetry_aws::backoff::Backoff;

/// Where the pipeline reads, writes and keeps broken submissions.
pub(crate) struct Parts<Q, S, L> {
    /// The submissions queue.
    pub(crate) queue: Q,
    /// The stream.
    pub(crate) sink: S,
    /// The dead-letter queue, if there is one.
    pub(crate) letters: Option<L>,
}

/// The running tasks, and what the drain needs to finish or hand back their work.
pub(crate) struct Pipeline<Q> {
    pub(crate) in_flight: Arc<InFlight>,
    pub(crate) visibility: Visibility<Q>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) receivers: JoinSet<()>,
    pub(crate) publisher: JoinHandle<()>,
    /// Keeps the publisher's map of the stream's shards fresh.
    pub(crate) shards: JoinHandle<()>,
    pub(crate) dead_letter: Option<JoinHandle<()>>,
    pub(crate) deleter: JoinHandle<()>,
    pub(crate) extender: JoinHandle<()>,
    pub(crate) summary: JoinHandle<()>,
    pub(crate) stop_summary: CancellationToken,
}

impl<Q: Queue> Pipeline<Q> {
    /// Starts every task. Receivers stop at `shutdown`, and the publisher and the deleter then
    /// send what they have at once instead of lingering.
    pub(crate) fn start<S: RecordSink, L: LetterSink>(
        config: &Config,
        parts: Parts<Q, S, L>,
        stats: &Arc<Stats>,
        status: &Status,
        shutdown: &CancellationToken,
    ) -> Pipeline<Q> {
        let in_flight = Arc::new(InFlight::new(
            usize::try_from(config.max_submissions_in_flight).unwrap_or(usize::MAX),
            u32::try_from(config.max_records_in_flight).unwrap_or(u32::MAX),
        ));
        status.set_in_flight(
            Arc::clone(&in_flight),
            config.max_submissions_in_flight,
            config.max_records_in_flight,
        );
        let queue = Arc::new(parts.queue);
        let (publish_tx, publish_rx) = mpsc::unbounded_channel();
        let (delete_tx, delete_rx) = mpsc::unbounded_channel();

        let sink = Arc::new(parts.sink);
        let (map_tx, map_feed) = shards::feed();
        let shards = tokio::spawn(shards::follow(
            Arc::clone(&sink),
            map_tx,
            Arc::clone(&map_feed.stale),
        ));
        let publisher = Publisher::new(
            sink,
            PublisherSettings {
                batch_records: usize::try_from(config.put_batch_size).unwrap_or(1),
                linger: config.flush_interval,
                max_requests: usize::try_from(config.put_requests_in_flight).unwrap_or(1),
                backoff: Backoff::RECORDS,
                shard_limits: (config.shard_limiter == Switch::On).then_some(Limits {
                    records: config.shard_max_records_per_sec as f64,
                    bytes: config.shard_max_bytes_per_sec as f64,
                }),
            },
            Arc::clone(stats),
            Arc::clone(&status.kinesis),
            map_feed,
            delete_tx.clone(),
        );
        let publisher = tokio::spawn(publisher.run(publish_rx, shutdown.clone()));

        let deleter = Deleter::new(DeleterSettings {
            queue: Arc::clone(&queue),
            batch_size: usize::try_from(config.delete_batch_size).unwrap_or(1),
            interval: config.delete_interval,
            in_flight: Arc::clone(&in_flight),
            stats: Arc::clone(stats),
            reachability: Arc::clone(&status.sqs),
        });
        let deleter = tokio::spawn(deleter.run(delete_rx, shutdown.clone()));

        let (dead_letter_tx, dead_letter) = match parts.letters {
            Some(sink) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let dead_letter = DeadLetter::new(
                    sink,
                    DeadLetterSettings {
                        original_queue: config.queue_name.clone(),
                        in_flight: Arc::clone(&in_flight),
                        deleter: delete_tx.clone(),
                        stats: Arc::clone(stats),
                        // Its own: a missing dead-letter queue must not flap the main queue's.
                        reachability: Arc::new(Reachability::new("SQS dead-letter queue")),
                        backoff: Backoff::CALLS,
                    },
                );
                (Some(tx), Some(tokio::spawn(dead_letter.run(rx))))
            }
            None => (None, None),
        };

        let visibility = Visibility {
            queue: Arc::clone(&queue),
            timeout: config.visibility_timeout(),
            in_flight: Arc::clone(&in_flight),
            stats: Arc::clone(stats),
            reachability: Arc::clone(&status.sqs),
            gate: Arc::default(),
        };
        let extender = tokio::spawn(visibility.clone().run_extender());
        let stop_summary = CancellationToken::new();
        let summary = tokio::spawn(summary::run(
            Arc::clone(stats),
            Arc::clone(&in_flight),
            config.summary_interval,
            stop_summary.clone(),
        ));

        let mut receivers = JoinSet::new();
        for _ in 0..config.receivers {
            let receiver = Receiver {
                queue: Arc::clone(&queue),
                batch_size: u32::try_from(config.receive_batch_size).unwrap_or(1),
                wait_time: Duration::from_secs(config.wait_time_secs),
                visibility_timeout: config.visibility_timeout(),
                stop_poll_wait: (config.shutdown_grace / 2).min(Duration::from_secs(5)),
                key_source: config.partition_key.into(),
                in_flight: Arc::clone(&in_flight),
                publisher: publish_tx.clone(),
                deleter: delete_tx.clone(),
                dead_letter: dead_letter_tx.clone(),
                stats: Arc::clone(stats),
                reachability: Arc::clone(&status.sqs),
            };
            receivers.spawn(receiver.run(shutdown.clone()));
        }
        // The senders left are the tasks', so each intake closes when the tasks feeding it end.
        drop((publish_tx, delete_tx, dead_letter_tx));

        Pipeline {
            in_flight,
            visibility,
            stats: Arc::clone(stats),
            receivers,
            publisher,
            shards,
            dead_letter,
            deleter,
            extender,
            summary,
            stop_summary,
        }
    }
}
