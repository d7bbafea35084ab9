//! The deleter: the other half of **no loss**. A message is deleted only when the publisher
//! reports every event of its submission acknowledged (or the receiver found it broken).
//!
//! Receipts are sent in DeleteMessageBatch calls of `QUEUE_MAX_RECEIPTS_TO_DELETE_AT_ONCE`,
//! a partly filled batch waiting at most `QUEUE_RECEIPTS_TO_DELETE_INTERVAL_SEC` (at once while
//! draining). Every entry of the reply is checked: a refused entry (sender fault, such as an
//! expired receipt handle) is given up, so the message will be redelivered and published again
//! with the same event ids; any other failure is retried with backoff. A message stays held,
//! with its visibility extended, until its delete succeeds or is given up.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::in_flight::{InFlight, MessageKey};
use crate::liveness;
use crate::queue::{EntryOutcome, Queue};
use crate::reachability::Reachability;
use crate::requests_in_flight::RequestsInFlight;
use crate::stats::{SqsCall, Stats};
use telemetry_aws::backoff::Backoff;

/// Delete batches in flight at once.
const MAX_REQUESTS: usize = 16;

/// What the deleter needs.
#[derive(Debug)]
pub(crate) struct DeleterSettings<Q> {
    /// The queue.
    pub queue: Arc<Q>,
    /// Receipts per DeleteMessageBatch (1..=10).
    pub batch_size: usize,
    /// Longest wait of a partly filled batch.
    pub interval: Duration,
    /// Held messages: receipts come from here, and leave it when deleted.
    pub in_flight: Arc<InFlight>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// SQS reachability.
    pub reachability: Arc<Reachability>,
}

/// Deletes finished messages in batches.
pub(crate) struct Deleter<Q> {
    settings: DeleterSettings<Q>,
    pending: VecDeque<(MessageKey, u32)>,
    /// When the oldest pending receipt arrived.
    oldest: Option<Instant>,
    backing_off: BTreeMap<(Instant, MessageKey), u32>,
    requests: RequestsInFlight<(MessageKey, u32), Vec<(MessageKey, EntryOutcome)>>,
}

impl<Q: Queue> Deleter<Q> {
    /// A deleter with nothing pending.
    pub(crate) fn new(settings: DeleterSettings<Q>) -> Self {
        Deleter {
            settings,
            pending: VecDeque::new(),
            oldest: None,
            backing_off: BTreeMap::new(),
            requests: RequestsInFlight::new(),
        }
    }

    /// Runs until `intake` is closed and every receipt taken in is settled.
    pub(crate) async fn run(
        mut self,
        mut intake: mpsc::UnboundedReceiver<MessageKey>,
        drain: CancellationToken,
    ) {
        let mut intake_open = true;
        let mut draining = false;
        let mut beat = liveness::ticker();
        loop {
            self.settings.stats.heartbeats.deleter.beat();
            let now = Instant::now();
            while let Some(entry) = self.backing_off.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let key = entry.key().1;
                let attempts = entry.remove();
                self.push(key, attempts, now);
            }
            while self.requests.len() < MAX_REQUESTS && !self.pending.is_empty() {
                let due = self
                    .oldest
                    .is_some_and(|t| now >= t + self.settings.interval);
                if !(draining || due || self.pending.len() >= self.settings.batch_size) {
                    break;
                }
                self.send();
            }
            if !intake_open
                && self.pending.is_empty()
                && self.backing_off.is_empty()
                && self.requests.is_empty()
            {
                return;
            }
            // The end of the oldest receipt's wait matters only if a request may go then; with
            // every slot busy, a finished request wakes the loop (no spinning on a past deadline).
            let slot_free = self.requests.len() < MAX_REQUESTS;
            let wake = [
                self.oldest
                    .filter(|_| slot_free)
                    .map(|t| t + self.settings.interval),
                self.backing_off.keys().next().map(|k| k.0),
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                (items, result) = self.requests.next() => self.settle(items, result),
                got = intake.recv(), if intake_open => match got {
                    Some(key) => self.push(key, 0, Instant::now()),
                    None => intake_open = false,
                },
                () = sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
                () = drain.cancelled(), if !draining => draining = true,
                _ = beat.tick() => {}
            }
        }
    }

    fn push(&mut self, key: MessageKey, attempts: u32, now: Instant) {
        self.oldest.get_or_insert(now);
        self.pending.push_back((key, attempts));
    }

    fn send(&mut self) {
        let n = self.pending.len().min(self.settings.batch_size);
        let items: Vec<(MessageKey, u32)> = self.pending.drain(..n).collect();
        self.oldest = if self.pending.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        let keys: Vec<MessageKey> = items.iter().map(|(k, _)| *k).collect();
        // A message no longer held (handed back at shutdown) has nothing left to delete.
        let receipts = self.settings.in_flight.receipts(&keys);
        let queue = Arc::clone(&self.settings.queue);
        Stats::add(&self.settings.stats.delete_calls, 1);
        self.requests.spawn(items, async move {
            if receipts.is_empty() {
                return Vec::new();
            }
            let sent: Vec<MessageKey> = receipts.iter().map(|(k, _)| *k).collect();
            match queue.delete(&receipts).await {
                Ok(reply) => reply.outcomes(&sent),
                Err(code) => sent
                    .into_iter()
                    .map(|k| (k, EntryOutcome::Retry(code.clone())))
                    .collect(),
            }
        });
    }

    fn settle(
        &mut self,
        items: Vec<(MessageKey, u32)>,
        result: Option<Vec<(MessageKey, EntryOutcome)>>,
    ) {
        // `None`: the task ended without an answer; everything it carried is retried below.
        let outcomes = result.unwrap_or_default();
        let mut retry_code = None;
        let mut settled = 0;
        for (key, outcome) in outcomes {
            match outcome {
                EntryOutcome::Done => {
                    settled += 1;
                    if let Some(held) = self.settings.in_flight.remove(key) {
                        Stats::add(&self.settings.stats.deleted, 1);
                        let histograms = &self.settings.stats.histograms;
                        histograms.receive_to_delete.observe(held.as_secs_f64());
                    }
                }
                EntryOutcome::Refused(code) => {
                    settled += 1;
                    tracing::warn!(error = %code,
                        "the queue refused to delete a finished message; it will be redelivered and published again with the same event ids");
                    Stats::add(&self.settings.stats.delete_failed, 1);
                    self.settings.in_flight.remove(key);
                }
                EntryOutcome::Retry(code) => retry_code = Some(code),
            }
        }
        // A batch of which nothing could be settled counts as a failed call, whether the call
        // failed as a whole or each of its entries did.
        match &retry_code {
            Some(code) if settled == 0 => {
                self.settings
                    .reachability
                    .failed("DeleteMessageBatch", code);
                self.settings.stats.sqs_call_failed(SqsCall::Delete);
            }
            _ => self.settings.reachability.succeeded(),
        }
        let now = Instant::now();
        // A settled message has left the registry, as has one handed back meanwhile: retry
        // only what is still held.
        for (key, attempts) in items {
            if !self.settings.in_flight.is_held(key) {
                continue;
            }
            let attempts = attempts.saturating_add(1);
            self.backing_off
                .insert((now + Backoff::CALLS.delay(attempts), key), attempts);
        }
    }
}

#[cfg(test)]
mod tests;
