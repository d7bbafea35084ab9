//! Whether a dependency (SQS, Kinesis) answers, shared by every task that calls it, so that an
//! outage logs one line when it starts and one when it ends, not an error per try; readiness
//! ([`crate::readiness`]) reads how long an outage has lasted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The reachability of one dependency.
#[derive(Debug)]
pub(crate) struct Reachability {
    name: &'static str,
    // A copy of `since.is_some()`, for the lock-free check on every successful call; written
    // only under the lock, so the two never disagree for long.
    failing: AtomicBool,
    // When the outage in progress started; locked only when the state may change.
    since: Mutex<Option<Instant>>,
}

impl Reachability {
    /// A dependency named `name`, assumed reachable.
    pub(crate) const fn new(name: &'static str) -> Self {
        Reachability {
            name,
            failing: AtomicBool::new(false),
            since: Mutex::new(None),
        }
    }

    /// A call failed as a whole with `code`: logs if this starts an outage.
    pub(crate) fn failed(&self, call: &str, code: &str) {
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
    pub(crate) fn succeeded(&self) {
        if !self.failing.load(Ordering::Relaxed) {
            return;
        }
        let mut since = self.since.lock().unwrap_or_else(|e| e.into_inner());
        if since.take().is_some() {
            self.failing.store(false, Ordering::Relaxed);
            tracing::info!(service = self.name, "{} calls succeed again", self.name);
        }
    }

    /// How long calls have been failing, if they are.
    pub(crate) fn failing_for(&self) -> Option<Duration> {
        let since = *self.since.lock().unwrap_or_else(|e| e.into_inner());
        since.map(|t| t.elapsed())
    }

    /// The dependency's name, as in log lines.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }
}
