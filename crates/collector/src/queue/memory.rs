//! An in-memory queue for unit tests of the receiver, the deleter and the visibility extender:
//! messages become invisible when received and visible again when their visibility runs out
//! (on tokio's clock, so tests can pause it), deletes and visibility changes act on receipt
//! handles, every call is logged, and faults come from a policy the test sets: a whole call
//! failed, or one entry done, refused, failed or left out of the reply.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::{BatchReply, Message, Queue};
use crate::in_flight::{InFlight, MessageKey};

/// Which batch call an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    Receive,
    Delete,
    ChangeVisibility,
}

/// What the queue answers for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Done as asked.
    Done,
    /// Failed with this code; the bool is SQS's `SenderFault`.
    Fail(&'static str, bool),
    /// Left out of the reply (and not done).
    Omit,
}

type EntryPolicy = Box<dyn FnMut(Call, MessageKey) -> Answer + Send>;
type CallPolicy = Box<dyn FnMut(Call) -> Option<&'static str> + Send>;

struct Stored {
    message: Message,
    visible_at: Instant,
    /// Sending order, so messages are received first in, first out.
    order: u64,
}

/// What the queue did, for the test to read.
#[derive(Debug, Default, Clone)]
pub(crate) struct Log {
    /// `max` of every ReceiveMessage, in order.
    pub(crate) receives: Vec<u32>,
    /// The keys of every DeleteMessageBatch, in order.
    pub(crate) deletes: Vec<Vec<MessageKey>>,
    /// When each DeleteMessageBatch came.
    pub(crate) delete_times: Vec<Instant>,
    /// The keys, timeout and time of every ChangeMessageVisibilityBatch, in order.
    pub(crate) changes: Vec<(Vec<MessageKey>, Duration, Instant)>,
}

struct State {
    /// By receipt handle once received; by message id before.
    messages: HashMap<String, Stored>,
    /// Numbers message ids and receipt handles.
    next: u64,
    log: Log,
    entry_policy: EntryPolicy,
    call_policy: CallPolicy,
}

/// The in-memory queue; clones share it.
#[derive(Clone)]
pub(crate) struct MemoryQueue(Arc<Mutex<State>>);

impl Default for MemoryQueue {
    fn default() -> Self {
        MemoryQueue(Arc::new(Mutex::new(State {
            messages: HashMap::new(),
            next: 0,
            log: Log::default(),
            entry_policy: Box::new(|_, _| Answer::Done),
            call_policy: Box::new(|_| None),
        })))
    }
}

impl MemoryQueue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a visible message with `body`.
    pub(crate) fn send(&self, body: &str) {
        let mut s = self.state();
        s.next = s.next.saturating_add(1);
        let order = s.next;
        let id = format!("m-{order}");
        let message = Message {
            message_id: id.clone(),
            receipt_handle: None,
            body: body.to_owned(),
            sent_at_ms: None,
        };
        let visible_at = Instant::now();
        s.messages.insert(
            id,
            Stored {
                message,
                visible_at,
                order,
            },
        );
    }

    /// How each entry of later batch calls is answered.
    pub(crate) fn answer_entries(
        &self,
        policy: impl FnMut(Call, MessageKey) -> Answer + Send + 'static,
    ) {
        self.state().entry_policy = Box::new(policy);
    }

    /// Which later batch calls fail as a whole, with which code.
    pub(crate) fn fail_calls(
        &self,
        policy: impl FnMut(Call) -> Option<&'static str> + Send + 'static,
    ) {
        self.state().call_policy = Box::new(policy);
    }

    /// What the queue did so far.
    pub(crate) fn log(&self) -> Log {
        self.state().log.clone()
    }

    /// Messages not deleted, visible or not.
    pub(crate) fn len(&self) -> usize {
        self.state().messages.len()
    }

    /// Up to `max` visible messages, now hidden for `visibility` under a new receipt handle.
    fn take_visible(&self, max: u32, visibility: Duration) -> Vec<Message> {
        let mut s = self.state();
        let now = Instant::now();
        let mut ready: Vec<(u64, String)> = s
            .messages
            .iter()
            .filter(|(_, m)| m.visible_at <= now)
            .map(|(k, m)| (m.order, k.clone()))
            .collect();
        ready.sort();
        ready.truncate(max as usize);
        let mut got = Vec::with_capacity(ready.len());
        for (_, key) in ready {
            let Some(mut stored) = s.messages.remove(&key) else {
                continue;
            };
            s.next = s.next.saturating_add(1);
            let receipt = format!("r-{}", s.next);
            stored.message.receipt_handle = Some(receipt.clone());
            stored.visible_at = now + visibility;
            got.push(stored.message.clone());
            s.messages.insert(receipt, stored);
        }
        got
    }

    fn batch(
        &self,
        call: Call,
        entries: &[(MessageKey, String)],
        timeout: Duration,
    ) -> Result<BatchReply, String> {
        let mut s = self.state();
        let keys = entries.iter().map(|(k, _)| *k).collect();
        match call {
            Call::Delete => {
                s.log.deletes.push(keys);
                s.log.delete_times.push(Instant::now());
            }
            Call::ChangeVisibility => s.log.changes.push((keys, timeout, Instant::now())),
            Call::Receive => {}
        }
        if let Some(code) = (s.call_policy)(call) {
            return Err(code.to_owned());
        }
        let mut reply = BatchReply::default();
        for (key, receipt) in entries {
            match (s.entry_policy)(call, *key) {
                Answer::Done => {}
                Answer::Fail(code, sender) => {
                    reply.failed.push((*key, code.to_owned(), sender));
                    continue;
                }
                Answer::Omit => continue,
            }
            let found = match call {
                Call::Delete => s.messages.remove(receipt).is_some(),
                Call::ChangeVisibility => match s.messages.get_mut(receipt) {
                    Some(m) => {
                        m.visible_at = Instant::now() + timeout;
                        true
                    }
                    None => false,
                },
                Call::Receive => false,
            };
            if found {
                reply.done.push(*key);
            } else {
                // As SQS answers a receipt handle it does not know.
                reply
                    .failed
                    .push((*key, "ReceiptHandleIsInvalid".to_owned(), true));
            }
        }
        Ok(reply)
    }
}

impl Queue for MemoryQueue {
    async fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, String> {
        {
            let mut s = self.state();
            s.log.receives.push(max);
            if let Some(code) = (s.call_policy)(Call::Receive) {
                return Err(code.to_owned());
            }
        }
        // A long poll: answers as soon as something is visible, or empty after `wait`.
        let deadline = Instant::now() + wait;
        loop {
            let got = self.take_visible(max, visibility);
            let now = Instant::now();
            if !got.is_empty() || now >= deadline {
                return Ok(got);
            }
            tokio::time::sleep((deadline - now).min(Duration::from_millis(10))).await;
        }
    }

    async fn delete(&self, entries: &[(MessageKey, String)]) -> Result<BatchReply, String> {
        self.batch(Call::Delete, entries, Duration::ZERO)
    }

    async fn change_visibility(
        &self,
        entries: &[(MessageKey, String)],
        timeout: Duration,
    ) -> Result<BatchReply, String> {
        self.batch(Call::ChangeVisibility, entries, timeout)
    }
}

/// Sends `n` messages and receives them, registering each as held as a receive loop would
/// (visible for 30 s); their keys in sending order.
pub(crate) async fn hold(queue: &MemoryQueue, in_flight: &InFlight, n: usize) -> Vec<MessageKey> {
    const VISIBILITY: Duration = Duration::from_secs(30);
    for i in 0..n {
        queue.send(&format!("message {i}"));
    }
    let mut keys = Vec::with_capacity(n);
    while keys.len() < n {
        let got = queue
            .receive(10, Duration::ZERO, VISIBILITY)
            .await
            .unwrap_or_default();
        assert!(!got.is_empty(), "the queue holds what was sent");
        for m in got {
            let receipt = m.receipt_handle.unwrap_or_default();
            keys.push(in_flight.insert(receipt, Instant::now() + VISIBILITY, None));
        }
    }
    keys
}

/// Waits on the test's (paused) clock until `condition` holds, checking every 10 ms; fails the
/// test after ten minutes of that clock.
pub(crate) async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
