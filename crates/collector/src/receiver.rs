//! The receive loops: long-poll SQS, register each message as held, validate and explode it,
//! and pass it on: valid submissions to the publisher, empty ones straight to the deleter, and
//! broken ones, counted and logged with their reason, to the dead-letter queue when there is
//! one ([`crate::dead_letter`]), else straight to the deleter.
//!
//! A loop reserves submission permits before it asks for messages, and record permits before
//! it hands a submission on (see [`crate::in_flight`]): that is the pause that bounds memory.

use std::sync::Arc;
use std::time::Duration;

use telemetry_model::record::time_processed_now;
use telemetry_model::{PartitionKeySource, Submission};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::dead_letter::Letter;
use crate::in_flight::{InFlight, MessageKey};
use crate::publisher::Submitted;
use crate::queue::{Message, Queue};
use crate::reachability::Reachability;
use crate::stats::{seconds_since, SqsCall, Stats};
use telemetry_aws::backoff::Backoff;

/// The pause after an empty reply when QUEUE_WAIT_TIME_SEC is 0 (no long polling).
const EMPTY_SHORT_POLL_PAUSE: Duration = Duration::from_millis(200);

/// What a receive loop needs.
pub(crate) struct Receiver<Q> {
    /// The queue.
    pub queue: Arc<Q>,
    /// Messages per ReceiveMessage (1..=10).
    pub batch_size: u32,
    /// Long-poll wait.
    pub wait_time: Duration,
    /// Visibility timeout asked for.
    pub visibility_timeout: Duration,
    /// At shutdown, how long a poll in progress may still take to return its messages (half the
    /// grace period, at most 5 s: an idle long poll is not worth a longer wait).
    pub stop_poll_wait: Duration,
    /// Partition key choice.
    pub key_source: PartitionKeySource,
    /// Held messages and the bounds.
    pub in_flight: Arc<InFlight>,
    /// Valid submissions go here.
    pub publisher: mpsc::UnboundedSender<Submitted>,
    /// Empty submissions go here, and broken ones when there is no dead-letter queue.
    pub deleter: mpsc::UnboundedSender<MessageKey>,
    /// Broken submissions go here when a dead-letter queue is configured.
    pub dead_letter: Option<mpsc::UnboundedSender<Letter>>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// SQS reachability.
    pub reachability: Arc<Reachability>,
}

impl<Q: Queue> Receiver<Q> {
    /// Receives until `stop` fires. A poll in progress then gets `stop_poll_wait` to return;
    /// its messages are held, not processed, and the shutdown hands them back. A poll still
    /// waiting after that is abandoned (a message SQS picks for it in that instant returns to
    /// the queue after its visibility timeout: late, never lost).
    pub(crate) async fn run(self, stop: CancellationToken) {
        let mut failures = 0u32;
        loop {
            // Biased: once `stop` has fired, never start another receive, even when permits
            // are free at the same moment.
            let permit = tokio::select! {
                biased;
                () = stop.cancelled() => return,
                p = self.in_flight.reserve(self.batch_size) => p,
            };
            let Some(mut permit) = permit else { return };
            let asked = u32::try_from(permit.num_permits()).unwrap_or(1);
            let sent_at = Instant::now();
            let call = self
                .queue
                .receive(asked, self.wait_time, self.visibility_timeout);
            tokio::pin!(call);
            let mut stopping = false;
            let result = tokio::select! {
                r = &mut call => r,
                () = stop.cancelled() => {
                    // A poll in progress may already carry messages SQS picked for us: let it
                    // return them, briefly, so they are handed back at once instead of waiting
                    // out their visibility timeout. A poll that is only waiting is abandoned.
                    stopping = true;
                    match tokio::time::timeout(self.stop_poll_wait, &mut call).await {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                }
            };
            let messages = match result {
                Ok(messages) => {
                    self.reachability.succeeded();
                    Stats::add(&self.stats.receive_calls, 1);
                    failures = 0;
                    let histograms = &self.stats.histograms;
                    histograms
                        .receive_batch_messages
                        .observe(messages.len() as f64);
                    messages
                }
                Err(code) => {
                    self.reachability.failed("ReceiveMessage", &code);
                    self.stats.sqs_call_failed(SqsCall::Receive);
                    drop(permit);
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Backoff::CALLS.delay(failures)) => continue,
                    }
                }
            };
            if messages.is_empty() && self.wait_time.is_zero() {
                // Short polling on an empty queue: pause instead of calling SQS back to back.
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(EMPTY_SHORT_POLL_PAUSE) => continue,
                }
            }
            Stats::add(&self.stats.received, messages.len() as u64);
            let mut held = Vec::with_capacity(messages.len());
            for mut message in messages {
                // Moved into the registry, which keeps it for the delete: the message's own
                // copy is not read again.
                let Some(receipt) = message.receipt_handle.take() else {
                    tracing::warn!(message_id = message.message_id.as_str(),
                        "a message came without a receipt handle; it cannot be deleted and is skipped");
                    continue;
                };
                // SQS returns at most what was asked for; if it ever did not, the extra
                // messages are held without a permit rather than refused.
                let share = permit.split(1);
                let key = self
                    .in_flight
                    .insert(receipt, sent_at + self.visibility_timeout, share);
                held.push((key, message));
            }
            drop(permit);
            if stopping {
                // Registered but not passed on: the shutdown hands these back.
                return;
            }
            for (key, message) in held {
                if !self.handle(key, message, &stop).await {
                    return;
                }
            }
        }
    }

    /// Validates one held message and passes it on. False if `stop` fired while it waited for
    /// record permits (the message stays held and is handed back at shutdown).
    async fn handle(&self, key: MessageKey, message: Message, stop: &CancellationToken) -> bool {
        let message_id = message.message_id.as_str();
        let body = message.body.as_str();
        let decoded = Submission::decode(body.as_bytes())
            .and_then(|s| s.explode(&time_processed_now(), self.key_source));
        let records = match decoded {
            Ok(records) => records,
            Err(invalid) => {
                self.stats.dropped(invalid.reason);
                // A JSON log line: quotes and newlines in the detail are escaped, so a hostile
                // submission cannot forge log lines. The body itself is never logged.
                tracing::warn!(message_id, reason = invalid.reason.as_str(), detail = %invalid.detail,
                    "dropped a broken submission");
                self.in_flight.mark_dispatched(key);
                match &self.dead_letter {
                    // SQS never delivers an empty body, and it would refuse to send one: a
                    // message without a body has no evidence to keep.
                    Some(dead_letter) if !body.is_empty() => {
                        let _ = dead_letter.send(Letter {
                            key,
                            message_id: message_id.to_owned(),
                            body: body.to_owned(),
                            reason: invalid.reason,
                            detail: invalid.detail,
                        });
                    }
                    _ => {
                        let _ = self.deleter.send(key);
                    }
                }
                return true;
            }
        };
        Stats::add(&self.stats.valid, 1);
        let lag = message.sent_at_ms.and_then(seconds_since);
        if let Some(lag) = lag {
            self.stats.histograms.event_lag.observe(lag);
        }
        if records.is_empty() {
            // Nothing to publish: done now, which is also when its last record counts as
            // acknowledged.
            if let Some(lag) = lag {
                self.stats.histograms.submission_lag.observe(lag);
            }
            Stats::add(&self.stats.submissions_published, 1);
            self.in_flight.mark_dispatched(key);
            let _ = self.deleter.send(key);
            return true;
        }
        let reserved = tokio::select! {
            biased;
            () = stop.cancelled() => return false,
            ok = self.in_flight.reserve_records(key, records.len()) => ok,
        };
        if reserved {
            let sent_at_ms = message.sent_at_ms;
            let _ = self.publisher.send(Submitted {
                key,
                records,
                sent_at_ms,
            });
        }
        true
    }
}

#[cfg(test)]
mod tests;
