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
    failing: AtomicBool,
    // When the outage in progress started; taken only when the state changes.
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
        if !self.failing.swap(true, Ordering::Relaxed) {
            *self.since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
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
        if self.failing.swap(false, Ordering::Relaxed) {
            *self.since.lock().unwrap_or_else(|e| e.into_inner()) = None;
            tracing::info!(service = self.name, "{} calls succeed again", self.name);
        }
    }

    /// True while the last call failed.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// How long calls have been failing, if they are.
    pub fn failing_for(&self) -> Option<Duration> {
        if !self.is_failing() {
            return None;
        }
        let since = *self.since.lock().unwrap_or_else(|e| e.into_inner());
        since.map(|t| t.elapsed())
    }

    /// The dependency's name, as in log lines.
    pub fn name(&self) -> &'static str {
        self.name
    }
}
