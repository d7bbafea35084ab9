//! Whether to change the shard count, and to what: pure logic, no AWS, no clock (the time is an
//! argument), so every rule below has a unit test.
//!
//! Per-shard use is what was asked of the stream over the window, in shards at full use
//! ([`crate::traffic::Rates::shards_demanded`]: what it took in, plus the records it refused
//! when the source sees them), divided by the open shards. While it stays in the
//! band `[low, high]` nothing changes. Outside, the wanted count is
//! `ceil(shards_demanded / target)` with `target = (low + high) / 2`, bounded by
//! `[min_shards, max_shards]` and by what one UpdateShardCount may do: at most double and at
//! least half the open count. A call is only made while the stream is ACTIVE, after the
//! cooldown since the last call, and while fewer than `max_calls_per_day` calls were made in
//! the last 24 hours (AWS allows 10); the last [`SPLITS_RESERVED`] of those are kept for
//! splits, so that a day of falling load cannot spend every call on merges and leave none for
//! the next rise. A stream that refused writes in the window (or whose refusals the source
//! should see but could not) is never merged: fewer shards would refuse more. Every "no
//! change" carries its reason, for the log.
//!
//! What got through depends on the load alone, not on the current count, so under a steady
//! load the count moves towards one value and stays there. Throttles do depend on the count
//! (fewer shards refuse more), which is why they only ever add to demand (at most one
//! doubling's worth, see [`crate::cloudwatch`]) and forbid merges: a stream split because it
//! was throttled is not merged back while it still is, and once it is not, what got through
//! decides as before.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::traffic::{Rates, Throttles};

/// The rolling period of AWS's limit on UpdateShardCount calls.
pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Calls of the daily budget only a split (scale up) may use.
pub const SPLITS_RESERVED: u32 = 2;

/// The rules, from the settings (checked by the config: `low < high`, `min <= max`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Below this per-shard use, shards are removed.
    pub low: f64,
    /// Above this per-shard use, shards are added.
    pub high: f64,
    /// The fewest open shards wanted.
    pub min_shards: u32,
    /// The most open shards wanted (a cost ceiling).
    pub max_shards: u32,
    /// The least time between two calls.
    pub cooldown: Duration,
    /// Calls allowed in any 24 hours.
    pub max_calls_per_day: u32,
}

impl Policy {
    /// The per-shard use a change aims at: the middle of the band.
    pub fn target(&self) -> f64 {
        (self.low + self.high) / 2.0
    }
}

/// The calls made so far (attempts: a call whose answer was lost may have taken effect).
#[derive(Debug, Clone, Default)]
pub struct History {
    calls: VecDeque<Instant>,
}

impl History {
    /// Remembers a call made at `at`, and forgets calls older than a day.
    pub fn record(&mut self, at: Instant) {
        self.calls
            .retain(|t| at.saturating_duration_since(*t) < DAY);
        self.calls.push_back(at);
    }

    /// The calls of the 24 hours before `now`, oldest first.
    fn last_day(&self, now: Instant) -> impl Iterator<Item = Instant> + '_ {
        self.calls
            .iter()
            .copied()
            .filter(move |t| now.saturating_duration_since(*t) < DAY)
    }

    /// The last call.
    pub fn last(&self) -> Option<Instant> {
        self.calls.back().copied()
    }
}

/// The stream's state as DescribeStreamSummary gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// ACTIVE in provisioned mode: its shard count may be changed.
    Active,
    /// ACTIVE in on-demand mode: Kinesis scales it, UpdateShardCount is refused.
    OnDemand,
    /// Any other state (CREATING, UPDATING, DELETING), by name.
    Other(String),
}

/// What a tick knows.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// The stream's state.
    pub status: Status,
    /// Open shards now.
    pub open_shards: u32,
    /// The window's averages, or why there are none (window filling, reading behind).
    pub measured: Result<Rates, String>,
}

/// Why a change is wanted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Why {
    /// Per-shard use above the band.
    AboveHigh {
        /// Per-shard use.
        per_shard_use: f64,
        /// The band's top.
        high: f64,
    },
    /// Per-shard use below the band.
    BelowLow {
        /// Per-shard use.
        per_shard_use: f64,
        /// The band's bottom.
        low: f64,
    },
    /// In the band, but the open count is outside `[min_shards, max_shards]`.
    OutsideBounds {
        /// The fewest shards wanted.
        min_shards: u32,
        /// The most shards wanted.
        max_shards: u32,
    },
}

/// Why the count stays.
#[derive(Debug, Clone, PartialEq)]
pub enum Keep {
    /// The stream is not ACTIVE (UPDATING after a call).
    NotActive(String),
    /// The stream is on-demand.
    OnDemand,
    /// No open shard is listed (a stream being deleted).
    NoOpenShards,
    /// No measurement yet, or a stale one.
    NotMeasured(String),
    /// Per-shard use is in the band.
    InBand {
        /// Per-shard use.
        per_shard_use: f64,
    },
    /// Outside the band, but the open count is already what the load needs.
    AtWanted {
        /// Per-shard use.
        per_shard_use: f64,
    },
    /// More shards are needed but the count is at `max_shards`.
    AtMaxShards {
        /// The count the load needs.
        needed: u32,
    },
    /// Fewer shards would do but the count is at `min_shards`.
    AtMinShards {
        /// The count the load needs.
        needed: u32,
    },
    /// Fewer shards would do, but the stream refused writes in the window: never merged.
    Throttled {
        /// The count it would go to.
        to: u32,
        /// Records refused per second.
        throttled_per_sec: f64,
    },
    /// Fewer shards would do, but whether the stream refused writes is not known (a
    /// throttles datapoint missing): not merged.
    ThrottlesUnknown {
        /// The count it would go to.
        to: u32,
    },
    /// A change is due but the last call is too recent.
    Cooldown {
        /// The count it would go to.
        to: u32,
        /// Time left.
        remaining: Duration,
    },
    /// A change is due but the calls of the last 24 hours reached the limit.
    DailyLimit {
        /// The count it would go to.
        to: u32,
        /// Calls in the last 24 hours.
        calls: u32,
        /// Until the oldest of them is a day old.
        next_in: Duration,
    },
}

/// The outcome of a tick.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Call UpdateShardCount.
    Change {
        /// Open shards now.
        from: u32,
        /// Target shard count.
        to: u32,
        /// Why.
        why: Why,
    },
    /// Leave the count.
    Keep(Keep),
}

/// Decides from the rules, the calls made, what is observed, at `now`.
pub fn decide(policy: &Policy, history: &History, seen: &Observation, now: Instant) -> Decision {
    let keep = |k| Decision::Keep(k);
    match &seen.status {
        Status::Active => {}
        Status::OnDemand => return keep(Keep::OnDemand),
        Status::Other(s) => return keep(Keep::NotActive(s.clone())),
    }
    let open = seen.open_shards;
    if open == 0 {
        return keep(Keep::NoOpenShards);
    }
    let rates = match &seen.measured {
        Ok(r) => r,
        Err(why) => return keep(Keep::NotMeasured(why.clone())),
    };
    let used = rates.shards_demanded.max(0.0);
    let per_shard_use = used / f64::from(open);

    let (wanted, why) = if per_shard_use > policy.high {
        (
            needed(used, policy.target()),
            Why::AboveHigh {
                per_shard_use,
                high: policy.high,
            },
        )
    } else if per_shard_use < policy.low {
        (
            needed(used, policy.target()),
            Why::BelowLow {
                per_shard_use,
                low: policy.low,
            },
        )
    } else {
        (
            open,
            Why::OutsideBounds {
                min_shards: policy.min_shards,
                max_shards: policy.max_shards,
            },
        )
    };
    // `max` then `min` rather than `clamp`: never a panic, even on settings that slipped
    // past the config's checks.
    let bounded = wanted.max(policy.min_shards).min(policy.max_shards);
    let to = bounded.max(open.div_ceil(2)).min(open.saturating_mul(2));
    if to == open {
        return keep(match why {
            Why::OutsideBounds { .. } => Keep::InBand { per_shard_use },
            _ if wanted > open && bounded == open => Keep::AtMaxShards { needed: wanted },
            _ if wanted < open && bounded == open => Keep::AtMinShards { needed: wanted },
            _ => Keep::AtWanted { per_shard_use },
        });
    }
    if to < open {
        match rates.throttles {
            Throttles::PerSec(throttled_per_sec) if throttled_per_sec > 0.0 => {
                return keep(Keep::Throttled {
                    to,
                    throttled_per_sec,
                })
            }
            Throttles::Unknown => return keep(Keep::ThrottlesUnknown { to }),
            Throttles::PerSec(_) | Throttles::NotSeen => {}
        }
    }
    if let Some(last) = history.last() {
        let since = now.saturating_duration_since(last);
        if since < policy.cooldown {
            return keep(Keep::Cooldown {
                to,
                remaining: policy.cooldown - since,
            });
        }
    }
    let mut last_day = history.last_day(now);
    if let Some(oldest) = last_day.next() {
        let calls = u32::try_from(last_day.count())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        // A merge leaves the last calls of the budget to splits (fewer with a small budget:
        // one call a day is always usable).
        let reserved = if to < open {
            SPLITS_RESERVED.min(policy.max_calls_per_day.saturating_sub(1))
        } else {
            0
        };
        if calls.saturating_add(reserved) >= policy.max_calls_per_day {
            return keep(Keep::DailyLimit {
                to,
                calls,
                next_in: DAY.saturating_sub(now.saturating_duration_since(oldest)),
            });
        }
    }
    Decision::Change {
        from: open,
        to,
        why,
    }
}

/// The shards `used` needs at `target` use each (at least one).
fn needed(used: f64, target: f64) -> u32 {
    let n = (used / target).ceil();
    // A float-to-int `as` saturates (NaN gives 0); the bounds are applied by the caller.
    (n as u32).max(1)
}

impl Decision {
    /// A short, stable label for logs: `scale_up`, `scale_down` or `keep`.
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Change { from, to, .. } if to > from => "scale_up",
            Decision::Change { .. } => "scale_down",
            Decision::Keep(_) => "keep",
        }
    }

    /// A short, stable label of the reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Decision::Change { why, .. } => match why {
                Why::AboveHigh { .. } => "above_high",
                Why::BelowLow { .. } => "below_low",
                Why::OutsideBounds { .. } => "outside_bounds",
            },
            Decision::Keep(k) => match k {
                Keep::NotActive(_) => "not_active",
                Keep::OnDemand => "on_demand",
                Keep::NoOpenShards => "no_open_shards",
                Keep::NotMeasured(_) => "not_measured",
                Keep::InBand { .. } => "in_band",
                Keep::AtWanted { .. } => "at_wanted",
                Keep::AtMaxShards { .. } => "at_max_shards",
                Keep::AtMinShards { .. } => "at_min_shards",
                Keep::Throttled { .. } => "throttled",
                Keep::ThrottlesUnknown { .. } => "throttles_unknown",
                Keep::Cooldown { .. } => "cooldown",
                Keep::DailyLimit { .. } => "daily_limit",
            },
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Change { from, to, why } => {
                match why {
                    Why::AboveHigh {
                        per_shard_use,
                        high,
                    } => write!(f, "per-shard use {per_shard_use:.3} is above {high}")?,
                    Why::BelowLow { per_shard_use, low } => {
                        write!(f, "per-shard use {per_shard_use:.3} is below {low}")?;
                    }
                    Why::OutsideBounds {
                        min_shards,
                        max_shards,
                    } => write!(
                        f,
                        "{from} open shards are outside {min_shards}..={max_shards}"
                    )?,
                }
                write!(f, ": {from} -> {to} shards")
            }
            Decision::Keep(k) => match k {
                Keep::NotActive(s) => write!(f, "the stream is {s}, not ACTIVE"),
                Keep::OnDemand => write!(f, "the stream is on-demand: Kinesis scales it"),
                Keep::NoOpenShards => write!(f, "the stream has no open shard"),
                Keep::NotMeasured(why) => write!(f, "not measured: {why}"),
                Keep::InBand { per_shard_use } => {
                    write!(f, "per-shard use {per_shard_use:.3} is in the band")
                }
                Keep::AtWanted { per_shard_use } => write!(
                    f,
                    "per-shard use {per_shard_use:.3} is outside the band, but the open count \
                     is what the load needs"
                ),
                Keep::AtMaxShards { needed } => {
                    write!(f, "{needed} shards needed, but the count is at the maximum")
                }
                Keep::AtMinShards { needed } => {
                    write!(
                        f,
                        "{needed} shards would do, but the count is at the minimum"
                    )
                }
                Keep::Throttled {
                    to,
                    throttled_per_sec,
                } => write!(
                    f,
                    "would go to {to} shards, but the stream refused {throttled_per_sec:.1} \
                     records/s: a throttled stream is never merged"
                ),
                Keep::ThrottlesUnknown { to } => write!(
                    f,
                    "would go to {to} shards, but whether the stream refused writes is not \
                     known: not merged"
                ),
                Keep::Cooldown { to, remaining } => write!(
                    f,
                    "would go to {to} shards, cooldown: {:.0} s left",
                    remaining.as_secs_f64().ceil()
                ),
                Keep::DailyLimit { to, calls, next_in } => write!(
                    f,
                    "would go to {to} shards, but {calls} calls were made in 24 h: next in {:.0} s",
                    next_in.as_secs_f64().ceil()
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const POLICY: Policy = Policy {
        low: 0.3,
        high: 0.75,
        min_shards: 1,
        max_shards: 16,
        cooldown: Duration::from_secs(300),
        max_calls_per_day: 10,
    };

    fn seen(open: u32, shards_used: f64) -> Observation {
        Observation {
            status: Status::Active,
            open_shards: open,
            measured: Ok(Rates::accepted(60, shards_used * 1_000.0, 0.0, shards_used)),
        }
    }

    /// What a source that sees throttles gives: `taken` shards' worth taken in, and
    /// `throttled` records/s refused (at AWS's 1,000 records/s a shard).
    fn seen_throttled(open: u32, taken: f64, throttles: Throttles) -> Observation {
        let throttled = throttles.per_sec().unwrap_or(0.0);
        Observation {
            status: Status::Active,
            open_shards: open,
            measured: Ok(Rates {
                seconds: 60,
                records_per_sec: taken * 1_000.0,
                bytes_per_sec: 0.0,
                shards_used: taken,
                throttles,
                shards_demanded: taken + throttled / 1_000.0,
            }),
        }
    }

    fn now() -> Instant {
        // Far enough from the process start that subtracting a day never underflows.
        Instant::now() + 2 * DAY
    }

    fn decide_now(open: u32, used: f64) -> Decision {
        decide_with(&POLICY, open, used)
    }

    /// Decides under `policy`, with no call made before.
    fn decide_with(policy: &Policy, open: u32, used: f64) -> Decision {
        decide(policy, &History::default(), &seen(open, used), now())
    }

    fn change(from: u32, to: u32) -> impl Fn(&Decision) -> bool {
        move |d| matches!(d, Decision::Change { from: f, to: t, .. } if *f == from && *t == to)
    }

    #[test]
    fn in_the_band_nothing_changes() {
        for used in [0.3, 0.5, 0.75] {
            let d = decide_now(1, used);
            assert!(
                matches!(d, Decision::Keep(Keep::InBand { .. })),
                "{used}: {d}"
            );
            assert_eq!(d.reason(), "in_band");
        }
        assert!(matches!(
            decide_now(4, 2.0),
            Decision::Keep(Keep::InBand { .. })
        ));
    }

    #[test]
    fn above_the_band_it_aims_at_the_middle() {
        // 1.0 shards' worth at target 0.525: ceil(1.905) = 2.
        let d = decide_now(1, 1.0);
        assert!(change(1, 2)(&d), "{d}");
        assert_eq!(d.label(), "scale_up");
        assert_eq!(d.reason(), "above_high");
        assert_eq!(
            d.to_string(),
            "per-shard use 1.000 is above 0.75: 1 -> 2 shards"
        );
        // 4 shards at 0.8 each: 3.2 / 0.525 = 6.1 -> 7.
        assert!(change(4, 7)(&decide_now(4, 3.2)));
    }

    #[test]
    fn below_the_band_it_aims_at_the_middle_but_never_below_one() {
        assert!(change(8, 4)(&decide_now(8, 0.0)), "halving at most");
        assert!(change(8, 5)(&decide_now(8, 2.2)), "2.2 / 0.525 = 4.19 -> 5");
        assert!(change(2, 1)(&decide_now(2, 0.1)));
        let d = decide_now(2, 0.0);
        assert_eq!(d.label(), "scale_down");
        assert_eq!(d.reason(), "below_low");
    }

    #[test]
    fn one_call_at_most_doubles_or_halves() {
        assert!(change(1, 2)(&decide_now(1, 10.0)));
        assert!(change(3, 6)(&decide_now(3, 10.0)));
        assert!(change(16, 8)(&decide_now(16, 0.0)));
        // Half of 5 is 2.5: AWS refuses fewer than 3.
        assert!(change(5, 3)(&decide_now(5, 0.0)));
    }

    #[test]
    fn the_bounds_hold_and_say_so() {
        let at_max = Policy {
            max_shards: 4,
            ..POLICY
        };
        let d = decide_with(&at_max, 4, 4.0);
        assert_eq!(d, Decision::Keep(Keep::AtMaxShards { needed: 8 }));
        assert_eq!(
            d.to_string(),
            "8 shards needed, but the count is at the maximum"
        );
        let at_min = Policy {
            min_shards: 2,
            ..POLICY
        };
        let d = decide_with(&at_min, 2, 0.0);
        assert_eq!(d, Decision::Keep(Keep::AtMinShards { needed: 1 }));
        let d = decide_with(&at_max, 3, 3.0);
        assert!(change(3, 4)(&d), "capped at the maximum: {d}");
    }

    #[test]
    fn a_count_outside_the_bounds_is_brought_inside_even_in_the_band() {
        let p = Policy {
            min_shards: 4,
            max_shards: 6,
            ..POLICY
        };
        let d = decide_with(&p, 1, 0.5);
        assert!(change(1, 2)(&d), "{d}");
        assert_eq!(d.reason(), "outside_bounds");
        let d = decide_with(&p, 10, 5.0);
        assert!(change(10, 6)(&d), "{d}");
    }

    #[test]
    fn out_of_band_but_already_at_the_needed_count_is_kept() {
        // A narrow band: 0.76 shards' worth on 2 shards is 0.38 each, below 0.7, yet
        // ceil(0.76 / 0.725) = 2 is what it needs.
        let narrow = Policy {
            low: 0.7,
            high: 0.75,
            ..POLICY
        };
        let d = decide_with(&narrow, 2, 0.76);
        assert!(matches!(d, Decision::Keep(Keep::AtWanted { .. })), "{d}");
    }

    #[test]
    fn nothing_is_decided_while_the_stream_is_not_active_or_not_measured() {
        let mut s = seen(1, 5.0);
        s.status = Status::Other("UPDATING".into());
        let d = decide(&POLICY, &History::default(), &s, now());
        assert_eq!(d, Decision::Keep(Keep::NotActive("UPDATING".into())));
        assert_eq!(d.to_string(), "the stream is UPDATING, not ACTIVE");
        s.status = Status::OnDemand;
        assert_eq!(
            decide(&POLICY, &History::default(), &s, now()),
            Decision::Keep(Keep::OnDemand)
        );
        let mut s = seen(1, 5.0);
        s.measured = Err("window filling: 3 of 60 s".into());
        let d = decide(&POLICY, &History::default(), &s, now());
        assert_eq!(d.reason(), "not_measured");
        assert_eq!(d.to_string(), "not measured: window filling: 3 of 60 s");
        let s = seen(0, 5.0);
        assert_eq!(
            decide(&POLICY, &History::default(), &s, now()),
            Decision::Keep(Keep::NoOpenShards)
        );
    }

    #[test]
    fn the_cooldown_follows_every_call() {
        let t0 = now();
        let mut h = History::default();
        h.record(t0);
        let d = decide(&POLICY, &h, &seen(1, 5.0), t0 + Duration::from_secs(100));
        assert_eq!(
            d,
            Decision::Keep(Keep::Cooldown {
                to: 2,
                remaining: Duration::from_secs(200)
            })
        );
        assert_eq!(d.to_string(), "would go to 2 shards, cooldown: 200 s left");
        let d = decide(&POLICY, &h, &seen(1, 5.0), t0 + Duration::from_secs(300));
        assert!(change(1, 2)(&d), "{d}");
    }

    #[test]
    fn at_most_the_daily_calls_in_any_rolling_24_hours() {
        let t0 = now() - DAY;
        let mut h = History::default();
        // Ten calls an hour apart, the first 23 h 30 min before `at`.
        for i in 0..10u32 {
            h.record(t0 + Duration::from_secs(30 * 60) + i * Duration::from_secs(3600));
        }
        let at = t0 + DAY;
        let d = decide(&POLICY, &h, &seen(1, 5.0), at);
        assert_eq!(
            d,
            Decision::Keep(Keep::DailyLimit {
                to: 2,
                calls: 10,
                next_in: Duration::from_secs(30 * 60)
            })
        );
        assert_eq!(d.reason(), "daily_limit");
        // Once the oldest is a day old, nine remain: one more call is allowed.
        let d = decide(
            &POLICY,
            &h,
            &seen(1, 5.0),
            at + Duration::from_secs(30 * 60),
        );
        assert!(change(1, 2)(&d), "{d}");
        let three = Policy {
            max_calls_per_day: 3,
            ..POLICY
        };
        let d = decide(&three, &h, &seen(1, 5.0), at + Duration::from_secs(30 * 60));
        assert_eq!(d.reason(), "daily_limit");
    }

    #[test]
    fn the_last_calls_of_the_day_are_kept_for_splits() {
        let t0 = now() - DAY;
        let mut h = History::default();
        for i in 0..7u32 {
            h.record(t0 + Duration::from_secs(30 * 60) + i * Duration::from_secs(3600));
        }
        let at = t0 + DAY;
        // Seven calls made: an eighth may merge (two left for splits)...
        assert!(change(4, 2)(&decide(&POLICY, &h, &seen(4, 0.1), at)));
        h.record(at - Duration::from_secs(600));
        // ...a ninth may not, but a split may use the reserve to the end.
        let merge = decide(&POLICY, &h, &seen(4, 0.1), at);
        assert_eq!(merge.reason(), "daily_limit", "{merge}");
        assert!(change(1, 2)(&decide(&POLICY, &h, &seen(1, 5.0), at)));
        h.record(at - Duration::from_secs(500));
        assert!(change(1, 2)(&decide(&POLICY, &h, &seen(1, 5.0), at)));
        h.record(at - Duration::from_secs(400));
        let split = decide(&POLICY, &h, &seen(1, 5.0), at);
        assert_eq!(split.reason(), "daily_limit", "ten calls: {split}");
    }

    #[test]
    fn a_throttled_stream_is_never_merged_even_at_low_accepted_load() {
        // 4 shards taking in 0.2 shards' worth (0.05 each, far below 0.3), but 10 records/s
        // refused (a hot key on one shard): merging would refuse more.
        let s = seen_throttled(4, 0.2, Throttles::PerSec(10.0));
        let d = decide(&POLICY, &History::default(), &s, now());
        assert_eq!(
            d,
            Decision::Keep(Keep::Throttled {
                to: 2,
                throttled_per_sec: 10.0
            })
        );
        assert_eq!(d.reason(), "throttled");
        assert_eq!(
            d.to_string(),
            "would go to 2 shards, but the stream refused 10.0 records/s: a throttled stream \
             is never merged"
        );
        // Idle but throttled (every write refused): still no merge.
        let s = seen_throttled(2, 0.0, Throttles::PerSec(0.5));
        let d = decide(&POLICY, &History::default(), &s, now());
        assert_eq!(d.reason(), "throttled", "{d}");
        // Not even to come within SUPERVISOR_MAX_SHARDS.
        let few = Policy {
            max_shards: 2,
            ..POLICY
        };
        let s = seen_throttled(4, 1.5, Throttles::PerSec(1.0));
        assert_eq!(
            decide(&few, &History::default(), &s, now()).reason(),
            "throttled"
        );
        // The same load with no refusal seen merges.
        let s = seen_throttled(4, 0.2, Throttles::PerSec(0.0));
        assert!(change(4, 2)(&decide(
            &POLICY,
            &History::default(),
            &s,
            now()
        )));
    }

    #[test]
    fn throttles_not_known_stop_a_merge_but_not_a_split() {
        let s = seen_throttled(4, 0.2, Throttles::Unknown);
        let d = decide(&POLICY, &History::default(), &s, now());
        assert_eq!(d, Decision::Keep(Keep::ThrottlesUnknown { to: 2 }));
        assert_eq!(d.reason(), "throttles_unknown");
        let s = seen_throttled(1, 1.0, Throttles::Unknown);
        assert!(change(1, 2)(&decide(
            &POLICY,
            &History::default(),
            &s,
            now()
        )));
    }

    #[test]
    fn throttles_push_demand_over_the_threshold_and_split() {
        // 2 shards taking in 0.7 each: in the band on what was taken in...
        let taken = seen_throttled(2, 1.4, Throttles::PerSec(0.0));
        let d = decide(&POLICY, &History::default(), &taken, now());
        assert!(matches!(d, Decision::Keep(Keep::InBand { .. })), "{d}");
        // ...but 600 records/s refused besides: 2.0 shards asked for, 1.0 a shard, above 0.75;
        // ceil(2.0 / 0.525) = 4.
        let s = seen_throttled(2, 1.4, Throttles::PerSec(600.0));
        let d = decide(&POLICY, &History::default(), &s, now());
        assert!(change(2, 4)(&d), "{d}");
        assert_eq!(d.reason(), "above_high");
        assert_eq!(
            d.to_string(),
            "per-shard use 1.000 is above 0.75: 2 -> 4 shards"
        );
    }

    #[test]
    fn a_saturated_stream_seen_from_the_stream_is_split() {
        // The stream source sees no throttles; collectors that keep the shard limits wait at
        // them, so a saturated stream takes in a full shard's worth per shard.
        let d = decide_now(2, 2.0);
        assert!(change(2, 4)(&d), "{d}");
        assert_eq!(d.reason(), "above_high");
        // At exactly the split threshold it is in the band; above it, split.
        assert_eq!(decide_now(2, 1.5).reason(), "in_band");
        assert!(change(2, 3)(&decide_now(2, 1.51)));
    }

    #[test]
    fn the_history_forgets_calls_older_than_a_day() {
        let t0 = now();
        let mut h = History::default();
        for i in 0..50u32 {
            h.record(t0 + i * Duration::from_secs(3 * 3600));
        }
        assert!(h.calls.len() <= 8, "{}", h.calls.len());
    }

    fn policy() -> impl Strategy<Value = Policy> {
        (
            0.0..0.99f64,
            0.01..1.0f64,
            1..200u32,
            0..200u32,
            0..3u64,
            1..=10u32,
        )
            .prop_filter_map("low < high", |(low, width, min, extra, cooldown, calls)| {
                let high = low + width * (1.0 - low);
                (low < high).then_some(Policy {
                    low,
                    high,
                    min_shards: min,
                    max_shards: min + extra,
                    cooldown: Duration::from_secs(cooldown * 60),
                    max_calls_per_day: calls,
                })
            })
    }

    proptest! {
        /// Whatever the load, a change respects AWS's per-call limits and the bounds, moves
        /// towards what the load needs, and is only made for a reason that holds.
        #[test]
        fn a_change_respects_every_limit(p in policy(), open in 1..2_000u32, used in 0.0..5_000.0f64) {
            let d = decide_with(&p, open, used);
            let per = used / f64::from(open);
            if let Decision::Change { from, to, why } = d {
                prop_assert_eq!(from, open);
                prop_assert_ne!(to, open);
                prop_assert!(to <= open * 2 && to >= open.div_ceil(2), "{} -> {}", open, to);
                let wanted = needed(used, p.target()).max(p.min_shards).min(p.max_shards);
                match why {
                    Why::AboveHigh { .. } => prop_assert!(per > p.high),
                    Why::BelowLow { .. } => prop_assert!(per < p.low),
                    Why::OutsideBounds { .. } => {
                        prop_assert!(open < p.min_shards || open > p.max_shards);
                    }
                }
                if to > open {
                    prop_assert!(to <= p.max_shards && to <= wanted.max(p.min_shards));
                } else {
                    prop_assert!(to >= p.min_shards && to >= wanted);
                }
            } else {
                // Kept in the band, or at the count the load needs, or at a bound.
                let wanted = needed(used, p.target()).max(p.min_shards).min(p.max_shards);
                let in_band = per >= p.low && per <= p.high;
                let bounded_in_band = open >= p.min_shards && open <= p.max_shards;
                prop_assert!((in_band && bounded_in_band) || wanted == open, "{}", d);
            }
        }

        /// Under a steady load the count never flaps: after a change, the next decision keeps
        /// the count or moves further in the same direction.
        #[test]
        fn a_steady_load_never_flaps(p in policy(), open in 1..2_000u32, used in 0.0..5_000.0f64) {
            let mut open = open;
            let mut direction = 0i64;
            for _ in 0..40 {
                match decide_with(&p, open, used) {
                    Decision::Change { to, .. } => {
                        let step = (i64::from(to) - i64::from(open)).signum();
                        prop_assert!(direction == 0 || step == direction, "reversed at {}", open);
                        direction = step;
                        open = to;
                    }
                    Decision::Keep(_) => break,
                }
            }
            prop_assert!(
                matches!(decide_with(&p, open, used), Decision::Keep(_)),
                "settles within 40 calls"
            );
        }

        /// Whatever the load and the settings, a stream that refused writes is never merged.
        #[test]
        fn a_throttled_stream_is_never_merged(p in policy(), open in 1..2_000u32, taken in 0.0..5_000.0f64, throttled in 0.001..10_000.0f64) {
            for throttles in [Throttles::PerSec(throttled), Throttles::Unknown] {
                let d = decide(&p, &History::default(), &seen_throttled(open, taken, throttles), now());
                if let Decision::Change { to, .. } = d {
                    prop_assert!(to > open, "{} -> {}", open, to);
                }
            }
        }

        /// No call during the cooldown, past the daily limit or while not ACTIVE.
        #[test]
        fn no_call_when_a_guard_holds(p in policy(), open in 1..500u32, used in 0.0..1_000.0f64, ago in 0..600u64) {
            let t = now();
            let mut h = History::default();
            h.record(t - Duration::from_secs(ago));
            let d = decide(&p, &h, &seen(open, used), t);
            if Duration::from_secs(ago) < p.cooldown || p.max_calls_per_day <= 1 {
                prop_assert!(matches!(d, Decision::Keep(_)), "{}", d);
            }
            let mut s = seen(open, used);
            s.status = Status::Other("UPDATING".into());
            prop_assert!(matches!(decide(&p, &History::default(), &s, t), Decision::Keep(Keep::NotActive(_))));
        }
    }
}
