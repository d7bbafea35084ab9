//! SQS ReceiveMessage, DeleteMessageBatch and ChangeMessageVisibilityBatch, in the SDK's
//! protocol (`application/x-amz-json-1.0`, target `AmazonSQS.<Operation>`), byte for byte its
//! request bodies; answers read with borrowed deserialization (a message's body is the one
//! string that is usually escaped, so the only one that allocates while parsing). `MD5OfBody`
//! is not checked, as the SDK does not check it either (TLS guards the body in transit).

use std::borrow::Cow;
use std::sync::Arc;

use serde::Deserialize;

use crate::failure::{bounded, CallError};
use crate::json::{self, Text};
use crate::service::Service;

/// The content type of SQS' JSON protocol.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// Sent with every SQS call, as the SDK sends it: SQS' JSON protocol in its query-compatible
/// mode, whose errors carry the query protocol's codes (`x-amzn-query-error`).
pub const PROTOCOL_HEADERS: &[(&str, &str)] = &[("x-amzn-query-mode", "true")];
/// The target of ReceiveMessage.
pub const RECEIVE_MESSAGE: &str = "AmazonSQS.ReceiveMessage";
/// The target of DeleteMessageBatch.
pub const DELETE_MESSAGE_BATCH: &str = "AmazonSQS.DeleteMessageBatch";
/// The target of ChangeMessageVisibilityBatch.
pub const CHANGE_MESSAGE_VISIBILITY_BATCH: &str = "AmazonSQS.ChangeMessageVisibilityBatch";

/// What a ReceiveMessage asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receive<'a> {
    /// The queue.
    pub queue_url: &'a str,
    /// Messages at most (1..=10).
    pub max_messages: i32,
    /// The visibility timeout of the messages received.
    pub visibility_timeout_secs: i32,
    /// The long-poll wait (0..=20).
    pub wait_time_secs: i32,
}

/// A received message. The request asks for the `SentTimestamp` attribute only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The message id.
    pub message_id: Option<String>,
    /// The receipt handle, to delete it or change its visibility.
    pub receipt_handle: Option<String>,
    /// The body.
    pub body: Option<String>,
    /// When SQS took the message in (its `SentTimestamp`), epoch milliseconds.
    pub sent_timestamp_ms: Option<u64>,
}

/// One entry of a delete or change-visibility batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry<'a> {
    /// The caller's id of the entry, unique in the batch (SQS: up to 80 of `[A-Za-z0-9_-]`).
    pub id: &'a str,
    /// The message's receipt handle.
    pub receipt_handle: &'a str,
}

/// How one entry of a batch ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    /// Done.
    Done,
    /// Refused for what it is (a sender fault, such as an expired receipt handle): trying
    /// again will not help.
    Refused(String),
    /// Failed on SQS' side, or missing from the answer (`missing_entry`): try again.
    Retry(String),
}

/// The three hot SQS calls. Cheap to clone; safe to call from many tasks at once.
#[derive(Debug, Clone)]
pub struct Sqs {
    service: Arc<Service>,
}

impl Sqs {
    pub(crate) fn new(service: Service) -> Self {
        Sqs {
            service: Arc::new(service),
        }
    }

    /// Receives up to `receive.max_messages` messages, with their `SentTimestamp`.
    pub async fn receive(&self, receive: Receive<'_>) -> Result<Vec<Message>, CallError> {
        let mut buf = self.service.buffer(receive_len(&receive));
        write_receive(&mut buf, &receive);
        let answer = self.service.call(RECEIVE_MESSAGE, buf).await?;
        read_receive(&answer)
    }

    /// Deletes `entries` (1..=10) in one DeleteMessageBatch: one outcome per entry, in order.
    pub async fn delete_batch(
        &self,
        queue_url: &str,
        entries: &[BatchEntry<'_>],
    ) -> Result<Vec<EntryOutcome>, CallError> {
        let mut buf = self.service.buffer(batch_len(queue_url, entries));
        write_batch(&mut buf, queue_url, entries, None);
        let answer = self.service.call(DELETE_MESSAGE_BATCH, buf).await?;
        read_batch(&answer, entries)
    }

    /// Sets the visibility timeout of `entries` (1..=10) to `visibility_timeout_secs` in one
    /// ChangeMessageVisibilityBatch (0 hands the messages back): one outcome per entry.
    pub async fn change_visibility_batch(
        &self,
        queue_url: &str,
        entries: &[BatchEntry<'_>],
        visibility_timeout_secs: i32,
    ) -> Result<Vec<EntryOutcome>, CallError> {
        let mut buf = self.service.buffer(batch_len(queue_url, entries));
        write_batch(&mut buf, queue_url, entries, Some(visibility_timeout_secs));
        let answer = self
            .service
            .call(CHANGE_MESSAGE_VISIBILITY_BATCH, buf)
            .await?;
        read_batch(&answer, entries)
    }

    /// The signed request [`Sqs::receive`] would send: for tests that compare it with the
    /// SDK's, and for benchmarks.
    pub async fn receive_request(
        &self,
        receive: Receive<'_>,
    ) -> Result<http::Request<http_body_util::Full<bytes::Bytes>>, CallError> {
        let mut buf = Vec::with_capacity(receive_len(&receive));
        write_receive(&mut buf, &receive);
        self.service.request(RECEIVE_MESSAGE, buf.into()).await
    }

    /// The signed request [`Sqs::delete_batch`] (without a timeout) or
    /// [`Sqs::change_visibility_batch`] (with one) would send.
    pub async fn batch_request(
        &self,
        queue_url: &str,
        entries: &[BatchEntry<'_>],
        visibility_timeout_secs: Option<i32>,
    ) -> Result<http::Request<http_body_util::Full<bytes::Bytes>>, CallError> {
        let mut buf = Vec::with_capacity(batch_len(queue_url, entries));
        write_batch(&mut buf, queue_url, entries, visibility_timeout_secs);
        let target = match visibility_timeout_secs {
            None => DELETE_MESSAGE_BATCH,
            Some(_) => CHANGE_MESSAGE_VISIBILITY_BATCH,
        };
        self.service.request(target, buf.into()).await
    }
}

fn receive_len(receive: &Receive<'_>) -> usize {
    const FIXED: usize = concat!(
        r#"{"QueueUrl":,"MessageSystemAttributeNames":["SentTimestamp"],"#,
        r#""MaxNumberOfMessages":,"VisibilityTimeout":,"WaitTimeSeconds":}"#
    )
    .len();
    // Three numbers of at most 11 characters (`-2147483648`).
    FIXED + 3 * 11 + json::string_len_bound(receive.queue_url)
}

/// Appends the ReceiveMessage body to `buf`.
pub fn write_receive(buf: &mut Vec<u8>, receive: &Receive<'_>) {
    buf.extend_from_slice(br#"{"QueueUrl":"#);
    json::string(buf, receive.queue_url);
    buf.extend_from_slice(
        br#","MessageSystemAttributeNames":["SentTimestamp"],"MaxNumberOfMessages":"#,
    );
    json::integer(buf, i64::from(receive.max_messages));
    buf.extend_from_slice(br#","VisibilityTimeout":"#);
    json::integer(buf, i64::from(receive.visibility_timeout_secs));
    buf.extend_from_slice(br#","WaitTimeSeconds":"#);
    json::integer(buf, i64::from(receive.wait_time_secs));
    buf.push(b'}');
}

fn batch_len(queue_url: &str, entries: &[BatchEntry<'_>]) -> usize {
    const PER_ENTRY: usize = r#"{"Id":,"ReceiptHandle":,"VisibilityTimeout":-2147483648},"#.len();
    32 + json::string_len_bound(queue_url)
        + entries
            .iter()
            .map(|e| {
                PER_ENTRY + json::string_len_bound(e.id) + json::string_len_bound(e.receipt_handle)
            })
            .sum::<usize>()
}

/// Appends a DeleteMessageBatch body (no timeout) or a ChangeMessageVisibilityBatch body (the
/// same timeout on every entry) to `buf`.
pub fn write_batch(
    buf: &mut Vec<u8>,
    queue_url: &str,
    entries: &[BatchEntry<'_>],
    visibility_timeout_secs: Option<i32>,
) {
    buf.extend_from_slice(br#"{"QueueUrl":"#);
    json::string(buf, queue_url);
    buf.extend_from_slice(br#","Entries":["#);
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(br#"{"Id":"#);
        json::string(buf, entry.id);
        buf.extend_from_slice(br#","ReceiptHandle":"#);
        json::string(buf, entry.receipt_handle);
        if let Some(secs) = visibility_timeout_secs {
            buf.extend_from_slice(br#","VisibilityTimeout":"#);
            json::integer(buf, i64::from(secs));
        }
        buf.push(b'}');
    }
    buf.extend_from_slice(b"]}");
}

#[derive(Deserialize)]
struct ReceiveAnswer<'a> {
    #[serde(borrow, default, rename = "Messages")]
    messages: Vec<ReceivedMessage<'a>>,
}

#[derive(Deserialize)]
struct ReceivedMessage<'a> {
    #[serde(borrow, default, rename = "MessageId")]
    message_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "ReceiptHandle")]
    receipt_handle: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "Body")]
    body: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "Attributes")]
    attributes: Option<Attributes<'a>>,
}

#[derive(Deserialize)]
struct Attributes<'a> {
    #[serde(borrow, default, rename = "SentTimestamp")]
    sent_timestamp: Option<Text<'a>>,
}

/// The messages of a ReceiveMessage answer.
pub fn read_receive(answer: &[u8]) -> Result<Vec<Message>, CallError> {
    let answer: ReceiveAnswer<'_> =
        serde_json::from_slice(answer).map_err(|_| CallError::unreadable())?;
    Ok(answer
        .messages
        .into_iter()
        .map(|m| Message {
            message_id: m.message_id.map(Cow::into_owned),
            receipt_handle: m.receipt_handle.map(Cow::into_owned),
            // An escaped body was unescaped into its own String: into_owned moves it.
            body: m.body.map(Cow::into_owned),
            sent_timestamp_ms: m
                .attributes
                .and_then(|a| a.sent_timestamp)
                .and_then(|t| t.0.parse().ok()),
        })
        .collect())
}

#[derive(Deserialize)]
struct BatchAnswer<'a> {
    #[serde(borrow, default, rename = "Successful")]
    successful: Vec<BatchSuccess<'a>>,
    #[serde(borrow, default, rename = "Failed")]
    failed: Vec<BatchFailure<'a>>,
}

#[derive(Deserialize)]
struct BatchSuccess<'a> {
    #[serde(borrow, rename = "Id")]
    id: Cow<'a, str>,
}

#[derive(Deserialize)]
struct BatchFailure<'a> {
    #[serde(borrow, rename = "Id")]
    id: Cow<'a, str>,
    #[serde(default, rename = "SenderFault")]
    sender_fault: bool,
    #[serde(borrow, rename = "Code")]
    code: Cow<'a, str>,
}

/// One outcome per entry, in entry order, from a batch answer: an entry the answer does not
/// mention is retried (`missing_entry`).
pub fn read_batch(
    answer: &[u8],
    entries: &[BatchEntry<'_>],
) -> Result<Vec<EntryOutcome>, CallError> {
    let answer: BatchAnswer<'_> =
        serde_json::from_slice(answer).map_err(|_| CallError::unreadable())?;
    // At most ten entries: a scan beats a map.
    Ok(entries
        .iter()
        .map(|entry| {
            if let Some(f) = answer.failed.iter().find(|f| f.id == entry.id) {
                if f.sender_fault {
                    EntryOutcome::Refused(bounded(&f.code))
                } else {
                    EntryOutcome::Retry(bounded(&f.code))
                }
            } else if answer.successful.iter().any(|s| s.id == entry.id) {
                EntryOutcome::Done
            } else {
                EntryOutcome::Retry("missing_entry".to_owned())
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_answer_with_escaped_body_and_timestamp() {
        let answer = br#"{"Messages":[{"Attributes":{"SentTimestamp":"1700000000123"},
            "Body":"{\"device_id\":\"d\",\"events\":[]}","MD5OfBody":"x",
            "MessageId":"m1","ReceiptHandle":"r1"},{"MessageId":"m2"}]}"#;
        let messages = read_receive(answer).unwrap();
        assert_eq!(
            messages,
            vec![
                Message {
                    message_id: Some("m1".into()),
                    receipt_handle: Some("r1".into()),
                    body: Some(r#"{"device_id":"d","events":[]}"#.into()),
                    sent_timestamp_ms: Some(1_700_000_000_123),
                },
                Message {
                    message_id: Some("m2".into()),
                    receipt_handle: None,
                    body: None,
                    sent_timestamp_ms: None,
                }
            ]
        );
        assert!(read_receive(b"{}").unwrap().is_empty());
        assert_eq!(read_receive(b"[").unwrap_err().code, "response");
    }

    #[test]
    fn batch_outcomes_follow_the_entries() {
        let entries = [
            BatchEntry {
                id: "0",
                receipt_handle: "a",
            },
            BatchEntry {
                id: "1",
                receipt_handle: "b",
            },
            BatchEntry {
                id: "2",
                receipt_handle: "c",
            },
            BatchEntry {
                id: "3",
                receipt_handle: "d",
            },
        ];
        let answer = br#"{"Successful":[{"Id":"2"},{"Id":"0"}],"Failed":[
            {"Id":"1","SenderFault":true,"Code":"ReceiptHandleIsInvalid","Message":"x"},
            {"Id":"9","SenderFault":false,"Code":"InternalError"}]}"#;
        assert_eq!(
            read_batch(answer, &entries).unwrap(),
            vec![
                EntryOutcome::Done,
                EntryOutcome::Refused("ReceiptHandleIsInvalid".into()),
                EntryOutcome::Done,
                EntryOutcome::Retry("missing_entry".into()),
            ]
        );
        let server = br#"{"Failed":[{"Id":"0","SenderFault":false,"Code":"InternalError"}]}"#;
        assert_eq!(
            read_batch(server, &entries[..1]).unwrap(),
            vec![EntryOutcome::Retry("InternalError".into())]
        );
    }

    #[test]
    fn bodies_are_the_sdk_shape() {
        let mut buf = Vec::new();
        write_batch(
            &mut buf,
            "http://q/1/s",
            &[BatchEntry {
                id: "7",
                receipt_handle: "r+/=",
            }],
            Some(0),
        );
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            r#"{"QueueUrl":"http://q/1/s","Entries":[{"Id":"7","ReceiptHandle":"r+/=","VisibilityTimeout":0}]}"#
        );
        let extreme = Receive {
            queue_url: "u",
            max_messages: i32::MIN,
            visibility_timeout_secs: i32::MIN,
            wait_time_secs: i32::MIN,
        };
        let mut buf = Vec::new();
        write_receive(&mut buf, &extreme);
        assert_eq!(buf.len(), receive_len(&extreme));
    }
}
