//! What the probes report: the collector's phase, whether SQS and Kinesis answer, and what it
//! holds. Shared by the pipeline (which writes it) and the HTTP listener (which reads it).
//!
//! Ready (`/readyz`) means: started (the queue and the stream were found), not shutting down,
//! and neither SQS nor Kinesis failing for [`UNREACHABLE_AFTER`] or more. A single failed call
//! does not make a collector unready; an outage does, and ends it with the first success.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::in_flight::InFlight;
use crate::reachability::Reachability;

/// How long a dependency must have been failing to count as unreachable.
pub(crate) const UNREACHABLE_AFTER: Duration = Duration::from_secs(10);

/// The collector's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Waiting for the queue and the stream.
    Starting = 0,
    /// Receiving and publishing.
    Running = 1,
    /// A shutdown signal came: draining, then handing back.
    Stopping = 2,
}

/// The shared state the probes read.
#[derive(Debug)]
pub struct Status {
    phase: AtomicU8,
    /// The main queue's reachability.
    pub(crate) sqs: Arc<Reachability>,
    /// The stream's reachability.
    pub(crate) kinesis: Arc<Reachability>,
    // The registry of held messages and its bounds (submissions, records), once it exists.
    in_flight: OnceLock<(Arc<InFlight>, u64, u64)>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            phase: AtomicU8::new(Phase::Starting as u8),
            sqs: Arc::new(Reachability::new("SQS")),
            kinesis: Arc::new(Reachability::new("Kinesis")),
            in_flight: OnceLock::new(),
        }
    }
}

impl Status {
    /// Moves to `phase`.
    pub(crate) fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Starting,
            1 => Phase::Running,
            _ => Phase::Stopping,
        }
    }

    /// Gives the probes the registry of held messages and its bounds (submissions, records).
    pub(crate) fn set_in_flight(
        &self,
        in_flight: Arc<InFlight>,
        max_submissions: u64,
        max_records: u64,
    ) {
        let _ = self
            .in_flight
            .set((in_flight, max_submissions, max_records));
    }

    /// Held submissions and records, zero before the pipeline starts.
    pub fn held(&self) -> (u64, u64) {
        self.in_flight
            .get()
            .map_or((0, 0), |(f, _, _)| (f.len() as u64, f.records()))
    }

    /// The bounds on held submissions and records, zero before the pipeline starts.
    pub fn limits(&self) -> (u64, u64) {
        self.in_flight.get().map_or((0, 0), |(_, s, r)| (*s, *r))
    }

    /// Ready, or the reasons it is not.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let mut reasons = Vec::new();
        match self.phase() {
            Phase::Starting => {
                reasons.push("starting: waiting for the queue and the stream".into())
            }
            Phase::Stopping => reasons.push("shutting down".into()),
            Phase::Running => {}
        }
        for reachability in [&self.sqs, &self.kinesis] {
            if let Some(d) = reachability
                .failing_for()
                .filter(|d| *d >= UNREACHABLE_AFTER)
            {
                reasons.push(format!(
                    "{} calls failing for {} s",
                    reachability.name(),
                    d.as_secs()
                ));
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_while_running_and_not_after_a_shutdown_signal() {
        let status = Status::default();
        assert!(status.readiness().is_err(), "starting");
        status.set_phase(Phase::Running);
        assert_eq!(status.readiness(), Ok(()));
        status.kinesis.failed("PutRecords", "dispatch_failure");
        assert_eq!(
            status.readiness(),
            Ok(()),
            "one failed call is not an outage"
        );
        status.kinesis.succeeded();
        status.set_phase(Phase::Stopping);
        assert_eq!(status.readiness(), Err(vec!["shutting down".to_owned()]));
    }
}
