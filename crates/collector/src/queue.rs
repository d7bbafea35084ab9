//! The SQS queue as the collector uses it: receive, delete in batches, change visibility in
//! batches. A small trait ([`Queue`]) so that the decisions of the receiver, the deleter and the
//! visibility extender are unit-tested against an in-memory queue (`queue::memory`, tests
//! only); the collector runs on [`LeanQueue`] (the lean client, `AWS_CLIENT=lean`, the
//! default) or [`SqsQueue`] (the official SDK's client, `AWS_CLIENT=sdk`). What a batch reply
//! means for each entry is decided once, here, for both ([`BatchReply::outcomes`]).

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
};
use telemetry_aws::error_code;

use crate::in_flight::MessageKey;

#[cfg(test)]
pub(crate) mod memory;

/// A received message, as the collector reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// SQS's id of the message (for logs and the dead-letter queue).
    pub message_id: String,
    /// The handle to delete it or change its visibility; a message without one cannot be held.
    pub receipt_handle: Option<String>,
    /// The submission.
    pub body: String,
    /// When SQS took the message in (`SentTimestamp`, epoch milliseconds), if it said.
    pub sent_at_ms: Option<u64>,
}

/// How one entry of a batch call (delete, change visibility) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryOutcome {
    /// Done.
    Done,
    /// Refused for good: a sender fault, such as an expired receipt handle. Trying again
    /// cannot help.
    Refused(String),
    /// Not done, and may be if tried again: a server fault, a failed call, or an entry the
    /// reply did not mention.
    Retry(String),
}

/// The per-entry part of a batch call's reply, by the collector's key of each entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BatchReply {
    /// Entries done.
    pub done: Vec<MessageKey>,
    /// Entries failed: the code, and whether SQS blames the sender.
    pub failed: Vec<(MessageKey, String, bool)>,
}

impl BatchReply {
    /// One outcome per key of `sent`, in that order. An entry the reply does not mention is
    /// retried (`missing_entry`): it was not done, as far as anyone can tell.
    pub(crate) fn outcomes(self, sent: &[MessageKey]) -> Vec<(MessageKey, EntryOutcome)> {
        let mut by_key: HashMap<MessageKey, EntryOutcome> = self
            .done
            .into_iter()
            .map(|k| (k, EntryOutcome::Done))
            .collect();
        for (key, code, sender_fault) in self.failed {
            let outcome = if sender_fault {
                EntryOutcome::Refused(code)
            } else {
                EntryOutcome::Retry(code)
            };
            by_key.insert(key, outcome);
        }
        sent.iter()
            .map(|k| {
                let outcome = by_key
                    .remove(k)
                    .unwrap_or_else(|| EntryOutcome::Retry("missing_entry".to_owned()));
                (*k, outcome)
            })
            .collect()
    }
}

/// The calls the collector makes on its queue. `Err` is a call that failed as a whole, with a
/// short code (as [`telemetry_aws::error_code`] gives it).
pub(crate) trait Queue: Send + Sync + 'static {
    /// ReceiveMessage: up to `max` messages (1..=10), long-polling `wait`, hidden from other
    /// consumers for `visibility`.
    fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> impl Future<Output = Result<Vec<Message>, String>> + Send;

    /// DeleteMessageBatch of up to ten `(key, receipt handle)` entries.
    fn delete(
        &self,
        entries: &[(MessageKey, String)],
    ) -> impl Future<Output = Result<BatchReply, String>> + Send;

    /// ChangeMessageVisibilityBatch of up to ten entries to `timeout` (zero hands them back).
    fn change_visibility(
        &self,
        entries: &[(MessageKey, String)],
        timeout: Duration,
    ) -> impl Future<Output = Result<BatchReply, String>> + Send;
}

/// An SQS queue through the SDK.
#[derive(Debug, Clone)]
pub(crate) struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url` through `client`.
    pub(crate) fn new(client: aws_sdk_sqs::Client, url: String) -> Self {
        SqsQueue { client, url }
    }
}

/// Seconds as SQS takes them (an `i32`; the settings keep them far below its limit).
fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

impl Queue for SqsQueue {
    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, String> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            // For the lag histogram: when SQS took the message in.
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .wait_time_seconds(secs(wait))
            .visibility_timeout(secs(visibility))
            .send()
            .await
            .map_err(|e| error_code(&e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let sent_at_ms = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|t| t.parse().ok());
                Message {
                    message_id: m.message_id.unwrap_or_default(),
                    receipt_handle: m.receipt_handle,
                    body: m.body.unwrap_or_default(),
                    sent_at_ms,
                }
            })
            .collect())
    }

    async fn delete(&self, entries: &[(MessageKey, String)]) -> Result<BatchReply, String> {
        let request = entries
            .iter()
            .filter_map(|(key, receipt)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(key.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .ok()
            })
            .collect();
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| error_code(&e))?;
        Ok(reply(out.successful.into_iter().map(|s| s.id), out.failed))
    }

    async fn change_visibility(
        &self,
        entries: &[(MessageKey, String)],
        timeout: Duration,
    ) -> Result<BatchReply, String> {
        let request = entries
            .iter()
            .filter_map(|(key, receipt)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(key.to_string())
                    .receipt_handle(receipt)
                    .visibility_timeout(secs(timeout))
                    .build()
                    .ok()
            })
            .collect();
        let out = self
            .client
            .change_message_visibility_batch()
            .queue_url(&self.url)
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| error_code(&e))?;
        Ok(reply(out.successful.into_iter().map(|s| s.id), out.failed))
    }
}

/// An SQS queue through the lean client (`AWS_CLIENT=lean`): the same calls, written and read
/// without the SDK's request machinery (`telemetry-aws-lean`).
#[derive(Debug, Clone)]
pub(crate) struct LeanQueue {
    sqs: telemetry_aws_lean::Sqs,
    url: String,
}

impl LeanQueue {
    /// The queue at `url` through `sqs`.
    pub(crate) fn new(sqs: telemetry_aws_lean::Sqs, url: String) -> Self {
        LeanQueue { sqs, url }
    }
}

impl Queue for LeanQueue {
    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, String> {
        let receive = telemetry_aws_lean::Receive {
            queue_url: &self.url,
            max_messages: i32::try_from(max).unwrap_or(10),
            visibility_timeout_secs: secs(visibility),
            wait_time_secs: secs(wait),
        };
        let messages = self.sqs.receive(receive).await.map_err(|e| e.code)?;
        Ok(messages
            .into_iter()
            .map(|m| Message {
                message_id: m.message_id.unwrap_or_default(),
                receipt_handle: m.receipt_handle,
                body: m.body.unwrap_or_default(),
                sent_at_ms: m.sent_timestamp_ms,
            })
            .collect())
    }

    async fn delete(&self, entries: &[(MessageKey, String)]) -> Result<BatchReply, String> {
        let ids = ids(entries);
        let outcomes = self
            .sqs
            .delete_batch(&self.url, &lean_entries(&ids, entries))
            .await
            .map_err(|e| e.code)?;
        Ok(lean_reply(entries, outcomes))
    }

    async fn change_visibility(
        &self,
        entries: &[(MessageKey, String)],
        timeout: Duration,
    ) -> Result<BatchReply, String> {
        let ids = ids(entries);
        let outcomes = self
            .sqs
            .change_visibility_batch(&self.url, &lean_entries(&ids, entries), secs(timeout))
            .await
            .map_err(|e| e.code)?;
        Ok(lean_reply(entries, outcomes))
    }
}

/// The batch entries' ids: the collector's keys, as text (as on the SDK path).
fn ids(entries: &[(MessageKey, String)]) -> Vec<String> {
    entries.iter().map(|(k, _)| k.to_string()).collect()
}

fn lean_entries<'a>(
    ids: &'a [String],
    entries: &'a [(MessageKey, String)],
) -> Vec<telemetry_aws_lean::BatchEntry<'a>> {
    ids.iter()
        .zip(entries)
        .map(|(id, (_, receipt))| telemetry_aws_lean::BatchEntry {
            id,
            receipt_handle: receipt,
        })
        .collect()
}

/// The lean client's per-entry outcomes (one per entry, in order) as the reply the SDK path
/// reads: an entry the answer did not mention (`missing_entry`) is left out, as it was from
/// the answer, so [`BatchReply::outcomes`] decides it the same way on both paths.
fn lean_reply(
    entries: &[(MessageKey, String)],
    outcomes: Vec<telemetry_aws_lean::EntryOutcome>,
) -> BatchReply {
    use telemetry_aws_lean::EntryOutcome as Lean;
    let mut reply = BatchReply::default();
    for ((key, _), outcome) in entries.iter().zip(outcomes) {
        match outcome {
            Lean::Done => reply.done.push(*key),
            Lean::Refused(code) => reply.failed.push((*key, code, true)),
            Lean::Retry(code) if code == "missing_entry" => {}
            Lean::Retry(code) => reply.failed.push((*key, code, false)),
        }
    }
    reply
}

/// A batch reply from the ids SQS echoes back (the collector's keys, as text). An id that is
/// not one of ours is ignored, so its entry counts as not mentioned.
fn reply(done: impl Iterator<Item = String>, failed: Vec<BatchResultErrorEntry>) -> BatchReply {
    BatchReply {
        done: done.filter_map(|id| id.parse().ok()).collect(),
        failed: failed
            .into_iter()
            .filter_map(|f| Some((f.id.parse().ok()?, f.code, f.sender_fault)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_entry_is_done_refused_or_retried_and_a_missing_one_is_retried() {
        let reply = BatchReply {
            done: vec![1, 99],
            failed: vec![
                (2, "ReceiptHandleIsInvalid".into(), true),
                (3, "InternalError".into(), false),
            ],
        };
        assert_eq!(
            reply.outcomes(&[1, 2, 3, 4]),
            vec![
                (1, EntryOutcome::Done),
                (2, EntryOutcome::Refused("ReceiptHandleIsInvalid".into())),
                (3, EntryOutcome::Retry("InternalError".into())),
                (4, EntryOutcome::Retry("missing_entry".into())),
            ],
            "99 was not sent: ignored; 4 was not mentioned: retried"
        );
    }

    #[test]
    fn the_lean_clients_outcomes_are_decided_as_the_sdks_replies() {
        use telemetry_aws_lean::EntryOutcome as Lean;
        let entries: Vec<(MessageKey, String)> =
            (1..=4).map(|k| (k, format!("receipt-{k}"))).collect();
        let reply = lean_reply(
            &entries,
            vec![
                Lean::Done,
                Lean::Refused("ReceiptHandleIsInvalid".into()),
                Lean::Retry("InternalError".into()),
                Lean::Retry("missing_entry".into()),
            ],
        );
        assert_eq!(
            reply.outcomes(&[1, 2, 3, 4]),
            vec![
                (1, EntryOutcome::Done),
                (2, EntryOutcome::Refused("ReceiptHandleIsInvalid".into())),
                (3, EntryOutcome::Retry("InternalError".into())),
                (4, EntryOutcome::Retry("missing_entry".into())),
            ]
        );
    }

    #[test]
    fn ids_that_are_not_ours_are_ignored() {
        let error = |id: &str| {
            BatchResultErrorEntry::builder()
                .id(id)
                .code("E")
                .sender_fault(true)
                .build()
                .expect("an entry")
        };
        let r = reply(
            ["7".to_owned(), "x".to_owned()].into_iter(),
            vec![error("8"), error("")],
        );
        assert_eq!(r.done, vec![7]);
        assert_eq!(r.failed, vec![(8, "E".to_owned(), true)]);
    }
}
