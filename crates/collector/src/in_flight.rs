//! The messages the collector holds: received and not yet deleted or handed back.
//!
//! This is where the **bounded memory** guarantee lives. Two semaphores bound what is held:
//! a receive loop takes one submission permit per message *before* it asks SQS for messages,
//! and a valid submission takes one record permit per event before it goes to the publisher.
//! Permits return only when the message leaves the registry (deleted or handed back), so a
//! slow Kinesis pauses receiving instead of growing memory.
//!
//! The registry also keeps each message's receipt handle and visibility deadline, for the
//! visibility extender, the deleter and the hand-back at shutdown.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The collector's own key for a held message. SQS message ids are not used as keys: the same
/// message can be held twice (received again after its visibility ran out).
pub(crate) type MessageKey = u64;

#[derive(Debug)]
struct Held {
    receipt_handle: String,
    received_at: Instant,
    visible_until: Instant,
    dispatched: bool,
    records: u32,
    // Released when the message leaves the registry: its submission permit (none in tests)
    // and, once dispatched, its record permits.
    _submission: Option<OwnedSemaphorePermit>,
    _records: Option<OwnedSemaphorePermit>,
}

/// The held messages by key. Keys are this collector's own counter, not outside data, so they
/// need no protection against chosen collisions: a multiplicative hash spreads them.
type HeldMap = HashMap<MessageKey, Held, BuildHasherDefault<KeyHasher>>;

/// A [`MessageKey`] times an odd constant: one multiplication instead of SipHash. The map picks
/// a bucket by the hash's low bits, and for consecutive keys (the counter) the low bits of the
/// product run through every value as the key's do, so buckets fill evenly; the top bits,
/// which the map also reads, are well mixed.
#[derive(Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; bytes are folded in for completeness.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// The registry of held messages and the two bounds on it.
#[derive(Debug)]
pub(crate) struct InFlight {
    // A std mutex: every critical section is a few map operations and never awaits.
    held: Mutex<HeldMap>,
    next_key: AtomicU64,
    submissions: Arc<Semaphore>,
    records: Arc<Semaphore>,
    max_records: u32,
    held_records: AtomicU64,
    count: watch::Sender<usize>,
}

impl InFlight {
    /// A registry holding at most `max_submissions` messages and `max_records` events.
    pub(crate) fn new(max_submissions: usize, max_records: u32) -> Self {
        InFlight {
            held: Mutex::new(HeldMap::default()),
            next_key: AtomicU64::new(1),
            submissions: Arc::new(Semaphore::new(max_submissions)),
            records: Arc::new(Semaphore::new(max_records as usize)),
            max_records,
            held_records: AtomicU64::new(0),
            count: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HeldMap> {
        // A panic while holding this lock cannot leave the map half-changed (single inserts
        // and removes), so a poisoned lock is still safe to use.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for at least one submission permit, then takes up to `max` without waiting more.
    /// `None` only if the semaphore were closed, which this registry never does.
    pub(crate) async fn reserve(&self, max: u32) -> Option<OwnedSemaphorePermit> {
        let mut permit = self.submissions.clone().acquire_owned().await.ok()?;
        for _ in 1..max {
            match self.submissions.clone().try_acquire_owned() {
                Ok(p) => permit.merge(p),
                Err(_) => break,
            }
        }
        Some(permit)
    }

    /// Registers a received message with its share of the reserved permits.
    pub(crate) fn insert(
        &self,
        receipt_handle: String,
        visible_until: Instant,
        permit: Option<OwnedSemaphorePermit>,
    ) -> MessageKey {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let mut held = self.lock();
        held.insert(
            key,
            Held {
                receipt_handle,
                received_at: Instant::now(),
                visible_until,
                dispatched: false,
                records: 0,
                _submission: permit,
                _records: None,
            },
        );
        self.count.send_replace(held.len());
        key
    }

    /// Waits for record permits for a submission of `events` events (a submission larger than
    /// the whole bound waits for all of it and then goes alone), attaches them to `key` and
    /// marks it dispatched. False if the message is no longer held (handed back meanwhile).
    pub(crate) async fn reserve_records(&self, key: MessageKey, events: usize) -> bool {
        let n = u32::try_from(events)
            .unwrap_or(u32::MAX)
            .clamp(1, self.max_records);
        let Ok(permit) = self.records.clone().acquire_many_owned(n).await else {
            return false;
        };
        let mut held = self.lock();
        let Some(h) = held.get_mut(&key) else {
            return false;
        };
        h._records = Some(permit);
        h.records = n;
        h.dispatched = true;
        self.held_records.fetch_add(u64::from(n), Ordering::Relaxed);
        true
    }

    /// Marks a message as passed on (to the publisher or the deleter) without record permits.
    pub(crate) fn mark_dispatched(&self, key: MessageKey) {
        if let Some(h) = self.lock().get_mut(&key) {
            h.dispatched = true;
        }
    }

    /// Removes a message (deleted or handed back), releasing its permits. How long it was held;
    /// `None` if it was not held.
    pub(crate) fn remove(&self, key: MessageKey) -> Option<std::time::Duration> {
        let mut held = self.lock();
        let h = held.remove(&key)?;
        self.count.send_replace(held.len());
        drop(held);
        self.held_records
            .fetch_sub(u64::from(h.records), Ordering::Relaxed);
        Some(h.received_at.elapsed())
    }

    /// True while `key` is held.
    pub(crate) fn is_held(&self, key: MessageKey) -> bool {
        self.lock().contains_key(&key)
    }

    /// The receipt handles of `keys` still held, in the same order (absent ones skipped).
    pub(crate) fn receipts(&self, keys: &[MessageKey]) -> Vec<(MessageKey, String)> {
        let held = self.lock();
        keys.iter()
            .filter_map(|k| held.get(k).map(|h| (*k, h.receipt_handle.clone())))
            .collect()
    }

    /// Messages whose visibility ends before `horizon`: they need an extension.
    pub(crate) fn expiring_before(&self, horizon: Instant) -> Vec<(MessageKey, String)> {
        let held = self.lock();
        held.iter()
            .filter(|(_, h)| h.visible_until < horizon)
            .map(|(k, h)| (*k, h.receipt_handle.clone()))
            .collect()
    }

    /// Records a new visibility deadline for `key`.
    pub(crate) fn extended(&self, key: MessageKey, visible_until: Instant) {
        if let Some(h) = self.lock().get_mut(&key) {
            h.visible_until = visible_until;
        }
    }

    /// Every held message; `only_undispatched` limits it to those never passed on.
    pub(crate) fn all(&self, only_undispatched: bool) -> Vec<(MessageKey, String)> {
        let held = self.lock();
        held.iter()
            .filter(|(_, h)| !only_undispatched || !h.dispatched)
            .map(|(k, h)| (*k, h.receipt_handle.clone()))
            .collect()
    }

    /// How many messages are held.
    pub(crate) fn len(&self) -> usize {
        *self.count.borrow()
    }

    /// How many events the held submissions carry (as counted against the record bound).
    pub(crate) fn records(&self) -> u64 {
        self.held_records.load(Ordering::Relaxed)
    }

    /// Resolves once nothing is held.
    pub(crate) async fn wait_empty(&self) {
        let mut rx = self.count.subscribe();
        // The sender lives in self, so the channel cannot close while we wait.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}
