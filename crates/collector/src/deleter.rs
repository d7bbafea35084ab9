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

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use telemetry_aws::error_code;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::health::Health;
use crate::heartbeat;
use crate::in_flight::{InFlight, MessageKey};
use crate::requests::Requests;
use crate::stats::{SqsCall, Stats};

/// Delete batches in flight at once.
const MAX_REQUESTS: usize = 16;

/// How one entry of a delete batch ended.
#[derive(Debug)]
enum Deleted {
    Yes,
    Refused(String),
    Retry(String),
}

/// What the deleter needs.
#[derive(Debug, Clone)]
pub struct DeleterSettings {
    /// The client.
    pub sqs: aws_sdk_sqs::Client,
    /// The queue.
    pub queue_url: String,
    /// Receipts per DeleteMessageBatch (1..=10).
    pub batch_size: usize,
    /// Longest wait of a partly filled batch.
    pub interval: Duration,
    /// Held messages: receipts come from here, and leave it when deleted.
    pub in_flight: Arc<InFlight>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// SQS reachability.
    pub health: Arc<Health>,
}

/// Deletes finished messages in batches.
pub struct Deleter {
    settings: DeleterSettings,
    pending: VecDeque<(MessageKey, u32)>,
    /// When the oldest pending receipt arrived.
    oldest: Option<Instant>,
    backing_off: BTreeMap<(Instant, MessageKey), u32>,
    requests: Requests<(MessageKey, u32), Vec<(MessageKey, Deleted)>>,
}

impl Deleter {
    /// A deleter with nothing pending.
    pub fn new(settings: DeleterSettings) -> Self {
        Deleter {
            settings,
            pending: VecDeque::new(),
            oldest: None,
            backing_off: BTreeMap::new(),
            requests: Requests::new(),
        }
    }

    /// Runs until `intake` is closed and every receipt taken in is settled.
    pub async fn run(
        mut self,
        mut intake: mpsc::UnboundedReceiver<MessageKey>,
        drain: CancellationToken,
    ) {
        let mut intake_open = true;
        let mut draining = false;
        let mut beat = heartbeat::ticker();
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
        let (sqs, url) = (self.settings.sqs.clone(), self.settings.queue_url.clone());
        Stats::add(&self.settings.stats.delete_calls, 1);
        self.requests.spawn(
            items,
            async move { delete_batch(&sqs, &url, receipts).await },
        );
    }

    fn settle(
        &mut self,
        items: Vec<(MessageKey, u32)>,
        result: Option<Vec<(MessageKey, Deleted)>>,
    ) {
        let results = result.unwrap_or_default();
        let mut retry_code = None;
        let mut settled = 0;
        for (key, outcome) in results {
            match outcome {
                Deleted::Yes => {
                    settled += 1;
                    if let Some(held) = self.settings.in_flight.remove(key) {
                        Stats::add(&self.settings.stats.deleted, 1);
                        let histograms = &self.settings.stats.histograms;
                        histograms.receive_to_delete.observe(held.as_secs_f64());
                    }
                }
                Deleted::Refused(code) => {
                    settled += 1;
                    tracing::warn!(error = %code,
                        "the queue refused to delete a finished message; it will be redelivered and published again with the same event ids");
                    Stats::add(&self.settings.stats.delete_failed, 1);
                    self.settings.in_flight.remove(key);
                }
                Deleted::Retry(code) => retry_code = Some(code),
            }
        }
        match &retry_code {
            Some(code) if settled == 0 => {
                self.settings.health.failed("DeleteMessageBatch", code);
                self.settings.stats.sqs_call_failed(SqsCall::Delete);
            }
            _ => self.settings.health.succeeded(),
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

/// One DeleteMessageBatch call; every receipt gets an outcome.
async fn delete_batch(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipts: Vec<(MessageKey, String)>,
) -> Vec<(MessageKey, Deleted)> {
    if receipts.is_empty() {
        return Vec::new();
    }
    let entries = receipts
        .iter()
        .filter_map(|(key, receipt)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(key.to_string())
                .receipt_handle(receipt)
                .build()
                .ok()
        })
        .collect();
    let out = match sqs
        .delete_message_batch()
        .queue_url(queue_url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) => {
            let code = error_code(&e);
            return receipts
                .into_iter()
                .map(|(k, _)| (k, Deleted::Retry(code.clone())))
                .collect();
        }
    };
    let mut outcomes: std::collections::HashMap<String, Deleted> = out
        .successful
        .into_iter()
        .map(|s| (s.id, Deleted::Yes))
        .collect();
    for f in out.failed {
        let outcome = if f.sender_fault {
            Deleted::Refused(f.code)
        } else {
            Deleted::Retry(f.code)
        };
        outcomes.insert(f.id, outcome);
    }
    // An entry the reply does not mention is retried.
    receipts
        .into_iter()
        .map(|(k, _)| {
            (
                k,
                outcomes
                    .remove(&k.to_string())
                    .unwrap_or(Deleted::Retry("missing_entry".into())),
            )
        })
        .collect()
}
