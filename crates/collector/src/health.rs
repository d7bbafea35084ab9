//! Whether a dependency (SQS, Kinesis) answers, shared by every task that calls it, so that an
//! outage logs one line when it starts and one when it ends, not an error per try; readiness
//! ([`crate::status`]) reads how long an outage has lasted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The reachability of one dependency.
#[derive(Debug)]
pub struct Health {
    name: &'static str,
    // A copy of `since.is_some()`, for the lock-free check on every successful call; written
    // only under the lock, so the two never disagree for long.
    failing: AtomicBool,
    // When the outage in progress started; locked only when the state may change.
    since: Mutex<Option<Instant>>,
}

impl Health {
    /// A dependency named `name`, assumed reachable.
    pub const fn new(name: &'static str) -> Self {
        Health {
            name,
            failing: AtomicBool::new(false),
            since: Mutex::new(None),
        }
    }

    /// A call failed as a whole with `code`: logs if this starts an outage.
    pub fn failed(&self, call: &str, code: &str) {
        let mut since = self.since.lock().unwrap_or_else(|e| e.into_inner());
        if since.is_none() {
            *since = Some(Instant::now());
            self.failing.store(true, Ordering::Relaxed);
            tracing::warn!(
                service = self.name,
                call,
                error = code,
                "{} calls are failing; retrying with backoff, nothing is acknowledged meanwhile",
                self.name
            );
        }
    }

    /// A call succeeded: logs if this ends an outage.
    pub fn succeeded(&self) {
        if !self.failing.load(Ordering::Relaxed) {
            return;
        }
        let mut since = self.since.lock().unwrap_or_else(|e| e.into_inner());
        if since.take().is_some() {
            self.failing.store(false, Ordering::Relaxed);
            tracing::info!(service = self.name, "{} calls succeed again", self.name);
        }
    }

    /// True while the last call failed.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// How long calls have been failing, if they are.
    pub fn failing_for(&self) -> Option<Duration> {
        let since = *self.since.lock().unwrap_or_else(|e| e.into_inner());
        since.map(|t| t.elapsed())
    }

    /// The dependency's name, as in log lines.
    pub fn name(&self) -> &'static str {
        self.name
    }
}
