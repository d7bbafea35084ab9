//! The shape of the submissions a fleet sends.

use std::ops::RangeInclusive;

use telemetry_model::DropReason;

/// Events per type and the share of broken submissions per kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Events of each type per submission (each type drawn separately).
    pub events_per_type: RangeInclusive<usize>,
    /// For each broken kind, the share of submissions broken that way (0.0..=1.0).
    pub broken: Vec<(DropReason, f64)>,
}

/// The kinds the fleet can produce: every class the contract names. (`record_too_large` needs
/// an event over 1 MiB, which no SQS message can carry.)
pub fn breakable() -> impl Iterator<Item = DropReason> {
    DropReason::ALL
        .into_iter()
        .filter(|k| *k != DropReason::RecordTooLarge)
}

impl Default for Profile {
    /// The original simulator: 3-5 events of each type; about 1 % of submissions with a bad
    /// submission id, 1 % a bad device id (`"not-an-uuid"`), 1 % a `null` cmdl, 1 % a
    /// `"not-an-ip"` destination.
    fn default() -> Self {
        Profile {
            events_per_type: 3..=5,
            broken: vec![
                (DropReason::BadSubmissionId, 0.01),
                (DropReason::BadDeviceId, 0.01),
                (DropReason::WrongType, 0.01),
                (DropReason::BadIp, 0.01),
            ],
        }
    }
}

impl Profile {
    /// Sets the share of one kind (replacing the default share of that kind).
    pub fn set_share(&mut self, kind: DropReason, share: f64) {
        self.broken.retain(|(k, _)| *k != kind);
        self.broken.push((kind, share));
    }

    /// The total share of broken submissions.
    pub fn broken_total(&self) -> f64 {
        self.broken.iter().map(|(_, s)| s).sum()
    }
}
