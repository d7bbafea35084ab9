//! The dead-letter queue (optional, `DEAD_LETTER_QUEUE_NAME`): broken submissions kept as
//! evidence instead of only being counted and deleted.
//!
//! A dropped submission goes here instead of straight to the deleter. Its body is sent to the
//! dead-letter queue unchanged, with message attributes that say why ([`attributes`]), and only
//! once SQS has accepted that copy does the original go to the deleter. A send that fails
//! (outage, throttling, the queue deleted, a key the role may not use) is retried with
//! [`Backoff::CALLS`] for as long as the original is held: meanwhile the visibility extender
//! keeps it invisible like any held message, and at shutdown it is handed back like the rest.
//! So a broken submission is always in the main queue or the dead-letter queue (for a moment in
//! both), never lost. It can be in the dead-letter queue twice (a send whose reply was lost, a
//! message handed back just after its send succeeded): at least once, like the stream.
//!
//! **One SendMessage per drop, not SendMessageBatch.** Drops are rare (the simulated fleet
//! breaks about 4 % of its submissions), so batches would save few calls (the main queue
//! already costs about 0.23 SQS calls per message). Batching would also need packing by size,
//! since a batch's total payload has the same limit as one message, and splitting the retries
//! of entries that fail alone. Per drop, each letter is a small task that retries its own send,
//! with at most [`MAX_SENDS`] sends in flight. The one case retries cannot cure: a body already
//! at the main queue's size limit plus these attributes can exceed the dead-letter queue's
//! limit; that message stays in the main queue (counted as failed sends in the summary) until
//! an operator raises the dead-letter queue's maximum message size, or moves it by hand.

use std::future::Future;
use std::sync::Arc;

use aws_sdk_sqs::types::MessageAttributeValue;
use telemetry_aws::error_code;
use telemetry_model::DropReason;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use crate::in_flight::{InFlight, MessageKey};
use crate::reachability::Reachability;
use crate::stats::Stats;
use telemetry_aws::backoff::Backoff;

/// SendMessage calls in flight at once.
pub(crate) const MAX_SENDS: usize = 8;

/// Message attribute: the drop reason's stable name, e.g. `bad_ip`.
pub(crate) const REASON: &str = "drop_reason";
/// Message attribute: where and what was wrong, as logged, cut to [`DETAIL_MAX_BYTES`].
pub(crate) const DETAIL: &str = "drop_detail";
/// Message attribute: the SQS message id of the original message.
pub(crate) const ORIGINAL_MESSAGE_ID: &str = "original_message_id";
/// Message attribute: the name of the queue the submission was read from.
pub(crate) const ORIGINAL_QUEUE: &str = "original_queue_name";

/// The longest detail kept, in bytes: the model's details are a field path and a short quoted
/// value, far below this; the cap only keeps a hostile or future detail from bloating the
/// message.
pub(crate) const DETAIL_MAX_BYTES: usize = 1024;

/// A dropped submission to keep: the held message it came from and what to send.
#[derive(Debug, Clone)]
pub(crate) struct Letter {
    /// The held message; deleted only once the letter is in the dead-letter queue.
    pub key: MessageKey,
    /// The original message's SQS id.
    pub message_id: String,
    /// The original body, unchanged.
    pub body: String,
    /// Why it was dropped.
    pub reason: DropReason,
    /// Where and what, as logged.
    pub detail: String,
}

/// The message attributes of a letter, `(name, value)`, all of type String. A value that
/// would be empty is left out (SQS refuses empty attribute values); the detail and the message
/// id pass through [`attribute_text`].
pub(crate) fn attributes(letter: &Letter, original_queue: &str) -> Vec<(&'static str, String)> {
    [
        (REASON, letter.reason.as_str().to_owned()),
        (DETAIL, attribute_text(&letter.detail, DETAIL_MAX_BYTES)),
        (ORIGINAL_MESSAGE_ID, attribute_text(&letter.message_id, 128)),
        (ORIGINAL_QUEUE, original_queue.to_owned()),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .collect()
}

/// `text` as an SQS attribute value can carry it: characters SQS refuses (controls other than
/// tab and line breaks, non-characters) become U+FFFD, and a text longer than `max_bytes` is cut
/// on a character boundary and ends with `…`, so the result is at most `max_bytes` long.
pub(crate) fn attribute_text(text: &str, max_bytes: usize) -> String {
    const ELLIPSIS: char = '…';
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
            || c >= '\u{10000}'
    };
    let mut clean: String = text
        .chars()
        .map(|c| if allowed(c) { c } else { '\u{FFFD}' })
        .collect();
    if clean.len() <= max_bytes {
        return clean;
    }
    let mut end = max_bytes.saturating_sub(ELLIPSIS.len_utf8());
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean.truncate(end);
    if max_bytes >= ELLIPSIS.len_utf8() {
        clean.push(ELLIPSIS);
    }
    clean
}

/// Where letters are sent. The collector uses [`SqsLetterSink`]; unit tests use fakes.
pub(crate) trait LetterSink: Send + Sync + 'static {
    /// Sends one message with `body` and String `attributes`; `Err` carries a short code.
    fn send(
        &self,
        body: &str,
        attributes: &[(&'static str, String)],
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// The dead-letter queue in SQS.
#[derive(Debug, Clone)]
pub(crate) struct SqsLetterSink {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsLetterSink {
    /// The queue at `queue_url` through `client`.
    pub(crate) fn new(client: aws_sdk_sqs::Client, queue_url: String) -> Self {
        SqsLetterSink { client, queue_url }
    }
}

impl LetterSink for SqsLetterSink {
    async fn send(&self, body: &str, attributes: &[(&'static str, String)]) -> Result<(), String> {
        let mut call = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body);
        for (name, value) in attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|_| "construction".to_owned())?;
            call = call.message_attributes(*name, value);
        }
        call.send().await.map(|_| ()).map_err(|e| error_code(&e))
    }
}

/// What the dead-letter task needs besides its sink.
#[derive(Debug, Clone)]
pub(crate) struct DeadLetterSettings {
    /// The name of the queue submissions are read from, for [`ORIGINAL_QUEUE`].
    pub original_queue: String,
    /// Held messages: a letter is sent only while its message is held.
    pub in_flight: Arc<InFlight>,
    /// A letter's message goes here once the letter is in the dead-letter queue.
    pub deleter: mpsc::UnboundedSender<MessageKey>,
    /// Counters.
    pub stats: Arc<Stats>,
    /// The dead-letter queue's reachability (its own: it can fail while the main queue works).
    pub reachability: Arc<Reachability>,
    /// Backoff between failed sends of one letter.
    pub backoff: Backoff,
}

/// Sends letters to the dead-letter queue, then passes their messages to the deleter.
#[derive(Debug)]
pub(crate) struct DeadLetter<S> {
    sink: S,
    settings: DeadLetterSettings,
    slots: Semaphore,
}

impl<S: LetterSink> DeadLetter<S> {
    /// Letters go to `sink`.
    pub(crate) fn new(sink: S, settings: DeadLetterSettings) -> Self {
        DeadLetter {
            sink,
            settings,
            slots: Semaphore::new(MAX_SENDS),
        }
    }

    /// Runs until `intake` is closed and every letter taken in is settled (sent, or its message
    /// no longer held). Aborting it abandons the letters; their messages stay held until the
    /// shutdown hands them back.
    pub(crate) async fn run(self, mut intake: mpsc::UnboundedReceiver<Letter>) {
        let this = Arc::new(self);
        let mut letters = JoinSet::new();
        let mut intake_open = true;
        while intake_open || !letters.is_empty() {
            tokio::select! {
                got = intake.recv(), if intake_open => match got {
                    Some(letter) => {
                        letters.spawn(Arc::clone(&this).deliver(letter));
                    }
                    None => intake_open = false,
                },
                Some(_) = letters.join_next(), if !letters.is_empty() => {}
            }
        }
    }

    /// Sends one letter until it is accepted or its message is no longer held (handed back at
    /// shutdown: it will be received and dropped again, so nothing is lost).
    async fn deliver(self: Arc<Self>, letter: Letter) {
        let s = &self.settings;
        let attributes = attributes(&letter, &s.original_queue);
        let mut failures = 0u32;
        loop {
            let result = {
                let Ok(_slot) = self.slots.acquire().await else {
                    return;
                };
                if !s.in_flight.is_held(letter.key) {
                    return;
                }
                self.sink.send(&letter.body, &attributes).await
            };
            match result {
                Ok(()) => {
                    s.reachability.succeeded();
                    Stats::add(&s.stats.dead_lettered, 1);
                    tracing::debug!(message_id = %letter.message_id, reason = letter.reason.as_str(),
                        "kept a broken submission in the dead-letter queue");
                    let _ = s.deleter.send(letter.key);
                    return;
                }
                Err(code) => {
                    s.reachability.failed("SendMessage", &code);
                    Stats::add(&s.stats.dead_letter_failures, 1);
                    tracing::debug!(message_id = %letter.message_id, error = %code,
                        "could not send a broken submission to the dead-letter queue; it stays held and is retried");
                    failures = failures.saturating_add(1);
                    tokio::time::sleep(s.backoff.delay(failures)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
