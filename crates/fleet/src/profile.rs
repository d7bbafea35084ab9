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

/// Parses `KIND=SHARE` (e.g. `bad_ip=0.02`): a [`breakable`] kind and a share in 0..=1.
pub fn parse_share(s: &str) -> Result<(DropReason, f64), String> {
    let (kind, share) = s.split_once('=').ok_or("expected KIND=SHARE")?;
    let kind = breakable()
        .find(|k| k.as_str() == kind)
        .ok_or_else(|| format!("unknown kind {kind:?}"))?;
    let share: f64 = share
        .parse()
        .map_err(|_| format!("share {share:?} is not a number"))?;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!("share {share} is not in 0..=1"));
    }
    Ok((kind, share))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_a_breakable_kind_and_a_number_in_0_to_1() {
        assert_eq!(parse_share("bad_ip=0.02"), Ok((DropReason::BadIp, 0.02)));
        assert_eq!(parse_share("not_json=1"), Ok((DropReason::NotJson, 1.0)));
        for bad in [
            "bad_ip",
            "bad_ip=x",
            "bad_ip=1.5",
            "bad_ip=NaN",
            "record_too_large=0.1",
            "nope=0.1",
        ] {
            assert!(parse_share(bad).is_err(), "{bad}");
        }
    }
}
