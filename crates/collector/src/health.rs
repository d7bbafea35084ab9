//! Whether a dependency (SQS, Kinesis) answers, shared by every task that calls it, so that an
//! outage logs one line when it starts and one when it ends, not an error per try.

use std::sync::atomic::{AtomicBool, Ordering};

/// The reachability of one dependency.
#[derive(Debug)]
pub struct Health {
    name: &'static str,
    failing: AtomicBool,
}

impl Health {
    /// A dependency named `name`, assumed reachable.
    pub const fn new(name: &'static str) -> Self {
        Health {
            name,
            failing: AtomicBool::new(false),
        }
    }

    /// A call failed as a whole with `code`: logs if this starts an outage.
    pub fn failed(&self, call: &str, code: &str) {
        if !self.failing.swap(true, Ordering::Relaxed) {
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
            tracing::info!(service = self.name, "{} calls succeed again", self.name);
        }
    }

    /// True while the last call failed.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }
}
