//! Visibility: messages in work are extended before their visibility timeout runs out, so that
//! a slow Kinesis does not make SQS hand them to another collector; at shutdown, what could not
//! be finished is handed back at once (visibility 0) instead of waiting out its timeout.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use crate::in_flight::{InFlight, MessageKey};
use crate::liveness;
use crate::queue::{EntryOutcome, Queue};
use crate::reachability::Reachability;
use crate::stats::{SqsCall, Stats};

/// ChangeMessageVisibilityBatch calls in flight at once.
const CONCURRENCY: usize = 8;

/// Extends, and hands back, the visibility of held messages.
pub(crate) struct Visibility<Q> {
    /// The queue.
    pub queue: Arc<Q>,
    /// The visibility timeout set on receive and on each extension.
    pub timeout: Duration,
    /// The registry of held messages.
    pub in_flight: Arc<InFlight>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// SQS reachability.
    pub reachability: Arc<Reachability>,
    /// Held by an extension round and by a hand-back, so that an extension whose snapshot was
    /// taken before a hand-back can never land after it and hide the message again.
    pub gate: Arc<tokio::sync::Mutex<()>>,
}

// By hand: a derived Clone would ask `Q: Clone`, and only the `Arc` is cloned.
impl<Q> Clone for Visibility<Q> {
    fn clone(&self) -> Self {
        Visibility {
            queue: Arc::clone(&self.queue),
            timeout: self.timeout,
            in_flight: Arc::clone(&self.in_flight),
            stats: Arc::clone(&self.stats),
            reachability: Arc::clone(&self.reachability),
            gate: Arc::clone(&self.gate),
        }
    }
}

impl<Q: Queue> Visibility<Q> {
    /// How often held messages are checked: often enough that a message is extended when half
    /// of its timeout is left, with several tries before it runs out.
    pub(crate) fn tick(&self) -> Duration {
        (self.timeout / 6).clamp(Duration::from_millis(100), Duration::from_secs(5))
    }

    /// Extends every held message that has less than half its timeout left, until the task is
    /// aborted (by the drain, which abandons a round in progress, so the shutdown never waits
    /// for a slow SQS here; the gate is released with it).
    pub(crate) async fn run_extender(self) {
        let mut ticker = tokio::time::interval(self.tick());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.stats.heartbeats.extender.beat();
            let round = async {
                let _round = self.gate.lock().await;
                let sent_at = Instant::now();
                let due = self.in_flight.expiring_before(sent_at + self.timeout / 2);
                if due.is_empty() {
                    return;
                }
                let results = self.change(due, self.timeout).await;
                self.record_extensions(sent_at, results);
            };
            // A round waits for SQS, which may take minutes through a network outage (each
            // call times out and is tried again): the loop still beats meanwhile, since
            // waiting on SQS is not a stall (see `crate::liveness`).
            tokio::pin!(round);
            let mut beat = liveness::ticker();
            loop {
                tokio::select! {
                    biased;
                    () = &mut round => break,
                    _ = beat.tick() => self.stats.heartbeats.extender.beat(),
                }
            }
        }
    }

    fn record_extensions(&self, sent_at: Instant, results: Vec<(MessageKey, Result<(), String>)>) {
        let mut extended = 0;
        for (key, result) in results {
            match result {
                Ok(()) => {
                    extended += 1;
                    self.in_flight.extended(key, sent_at + self.timeout);
                }
                Err(code) => {
                    tracing::debug!(error = %code, "could not extend a message's visibility")
                }
            }
        }
        Stats::add(&self.stats.visibility_extended, extended);
    }

    /// Removes `messages` from the registry and hands them back (visibility 0).
    pub(crate) async fn hand_back(&self, messages: Vec<(MessageKey, String)>) -> u64 {
        let _gate = self.gate.lock().await;
        let messages: Vec<_> = messages
            .into_iter()
            .filter(|(key, _)| self.in_flight.remove(*key).is_some())
            .collect();
        let mut handed = 0;
        for (_, result) in self.change(messages, Duration::ZERO).await {
            match result {
                Ok(()) => handed += 1,
                Err(code) => tracing::warn!(error = %code,
                    "could not hand a message back; it returns after its visibility timeout"),
            }
        }
        Stats::add(&self.stats.handed_back, handed);
        handed
    }

    /// Sets the visibility of `messages` to `timeout`, ten per call, some calls at once.
    async fn change(
        &self,
        messages: Vec<(MessageKey, String)>,
        timeout: Duration,
    ) -> Vec<(MessageKey, Result<(), String>)> {
        let chunks: Vec<Vec<(MessageKey, String)>> =
            messages.chunks(10).map(<[_]>::to_vec).collect();
        futures::stream::iter(chunks)
            .map(|chunk| self.change_batch(chunk, timeout))
            .buffer_unordered(CONCURRENCY)
            .flat_map(futures::stream::iter)
            .collect()
            .await
    }

    async fn change_batch(
        &self,
        chunk: Vec<(MessageKey, String)>,
        timeout: Duration,
    ) -> Vec<(MessageKey, Result<(), String>)> {
        let sent: Vec<MessageKey> = chunk.iter().map(|(k, _)| *k).collect();
        match self.queue.change_visibility(&chunk, timeout).await {
            Ok(reply) => {
                self.reachability.succeeded();
                reply
                    .outcomes(&sent)
                    .into_iter()
                    .map(|(k, outcome)| match outcome {
                        EntryOutcome::Done => (k, Ok(())),
                        EntryOutcome::Refused(code) | EntryOutcome::Retry(code) => (k, Err(code)),
                    })
                    .collect()
            }
            Err(code) => {
                self.reachability
                    .failed("ChangeMessageVisibilityBatch", &code);
                self.stats.sqs_call_failed(SqsCall::ChangeVisibility);
                sent.into_iter().map(|k| (k, Err(code.clone()))).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests;
