//! Visibility: messages in work are extended before their visibility timeout runs out, so that
//! a slow Kinesis does not make SQS hand them to another collector; at shutdown, what could not
//! be finished is handed back at once (visibility 0) instead of waiting out its timeout.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
use futures::StreamExt;
use telemetry_aws::error_code;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::health::Health;
use crate::heartbeat;
use crate::in_flight::{InFlight, MessageKey};
use crate::stats::{SqsCall, Stats};

/// ChangeMessageVisibilityBatch calls in flight at once.
const CONCURRENCY: usize = 8;

/// Extends, and hands back, the visibility of held messages.
#[derive(Debug, Clone)]
pub struct Visibility {
    /// The client.
    pub sqs: aws_sdk_sqs::Client,
    /// The queue.
    pub queue_url: String,
    /// The visibility timeout set on receive and on each extension.
    pub timeout: Duration,
    /// The registry of held messages.
    pub in_flight: Arc<InFlight>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// SQS reachability.
    pub health: Arc<Health>,
    /// Held by an extension round and by a hand-back, so that an extension whose snapshot was
    /// taken before a hand-back can never land after it and hide the message again.
    pub gate: Arc<tokio::sync::Mutex<()>>,
}

impl Visibility {
    /// How often held messages are checked: often enough that a message is extended when half
    /// of its timeout is left, with several tries before it runs out.
    pub fn tick(&self) -> Duration {
        (self.timeout / 6).clamp(Duration::from_millis(100), Duration::from_secs(5))
    }

    /// Extends, until `stop`, every held message that has less than half its timeout left.
    pub async fn run_extender(self, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(self.tick());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            self.stats.heartbeats.extender.beat();
            // A round is abandoned as soon as `stop` fires, so the shutdown never waits for a
            // slow SQS here; the gate is released with it.
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
            // waiting on SQS is not a stall (see `crate::heartbeat`).
            tokio::pin!(round);
            let mut beat = heartbeat::ticker();
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
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
    pub async fn hand_back(&self, messages: Vec<(MessageKey, String)>) -> u64 {
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
        let secs = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
        let chunks: Vec<Vec<(MessageKey, String)>> =
            messages.chunks(10).map(<[_]>::to_vec).collect();
        futures::stream::iter(chunks)
            .map(|chunk| self.change_batch(chunk, secs))
            .buffer_unordered(CONCURRENCY)
            .flat_map(futures::stream::iter)
            .collect()
            .await
    }

    async fn change_batch(
        &self,
        chunk: Vec<(MessageKey, String)>,
        secs: i32,
    ) -> Vec<(MessageKey, Result<(), String>)> {
        let entries = chunk
            .iter()
            .filter_map(|(key, receipt)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(key.to_string())
                    .receipt_handle(receipt)
                    .visibility_timeout(secs)
                    .build()
                    .ok()
            })
            .collect();
        let call = self
            .sqs
            .change_message_visibility_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries));
        match call.send().await {
            Ok(out) => {
                self.health.succeeded();
                let ok: std::collections::HashSet<String> =
                    out.successful.into_iter().map(|s| s.id).collect();
                let mut failed: std::collections::HashMap<String, String> =
                    out.failed.into_iter().map(|f| (f.id, f.code)).collect();
                chunk
                    .into_iter()
                    .map(|(k, _)| {
                        let id = k.to_string();
                        let result = if ok.contains(&id) {
                            Ok(())
                        } else {
                            Err(failed.remove(&id).unwrap_or_else(|| "missing_entry".into()))
                        };
                        (k, result)
                    })
                    .collect()
            }
            Err(e) => {
                let code = error_code(&e);
                self.health.failed("ChangeMessageVisibilityBatch", &code);
                self.stats.sqs_call_failed(SqsCall::ChangeVisibility);
                chunk
                    .into_iter()
                    .map(|(k, _)| (k, Err(code.clone())))
                    .collect()
            }
        }
    }
}
