//! Checks a stream against a manifest: each valid submission complete, in document order, on
//! one shard, with the ids the name-based rule gives; nothing from broken submissions;
//! duplicates counted, and each identical to its first occurrence.

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::Value;
use telemetry_aws::stream::ShardRecords;
use telemetry_fleet::manifest::Entry;
use uuid::Uuid;

/// The findings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Valid submissions in the manifest.
    pub valid_expected: usize,
    /// Of those, complete and in order on one shard.
    pub valid_ok: usize,
    /// Events of the valid submissions.
    pub events_expected: usize,
    /// Of those, not in the stream: lost (must be 0).
    pub events_lost: usize,
    /// Valid submissions whose events are out of document order or split over shards (must
    /// be 0).
    pub order_violations: usize,
    /// Broken submissions in the manifest.
    pub broken_expected: usize,
    /// Records read.
    pub records: usize,
    /// Records beyond the first occurrence of their event id (allowed: at least once).
    pub duplicates: usize,
    /// One line per violation of a guarantee.
    pub violations: Vec<String>,
}

impl Report {
    /// True when no guarantee was violated.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "records read            {}", self.records)?;
        writeln!(
            f,
            "valid submissions       {} expected, {} complete and in order",
            self.valid_expected, self.valid_ok
        )?;
        writeln!(
            f,
            "valid events            {} expected, {} lost, {} submissions out of order",
            self.events_expected, self.events_lost, self.order_violations
        )?;
        writeln!(
            f,
            "broken submissions      {} expected, none may appear",
            self.broken_expected
        )?;
        writeln!(
            f,
            "duplicates              {} (same ids, same content)",
            self.duplicates
        )?;
        writeln!(f, "violations              {}", self.violations.len())?;
        for v in self.violations.iter().take(20) {
            writeln!(f, "  - {v}")?;
        }
        if self.violations.len() > 20 {
            writeln!(f, "  ... and {} more", self.violations.len() - 20)?;
        }
        write!(f, "{}", if self.passed() { "PASSED" } else { "FAILED" })
    }
}

/// What the stream shows for one submission.
#[derive(Default)]
struct Seen {
    shards: HashSet<String>,
    /// Event ids in first-occurrence order.
    first: Vec<String>,
    /// Each event id's first record (without `time_processed`, which may differ on a retry).
    content: HashMap<String, Value>,
}

fn without_time_processed(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("time_processed");
    }
    v
}

/// Verifies `shards` (read parents first) against the manifest.
pub fn verify(manifest: &[Entry], shards: &[ShardRecords]) -> Report {
    let mut report = Report::default();
    let mut seen: HashMap<String, Seen> = HashMap::new();
    for shard in shards {
        for (_, data) in &shard.records {
            report.records += 1;
            let Ok(event) = serde_json::from_slice::<Value>(data) else {
                report
                    .violations
                    .push(format!("a record in {} is not JSON", shard.shard_id));
                continue;
            };
            let sub = event["submission_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let id = event["event_id"].as_str().unwrap_or_default().to_owned();
            let s = seen.entry(sub.clone()).or_default();
            s.shards.insert(shard.shard_id.clone());
            let content = without_time_processed(event);
            match s.content.get(&id) {
                Some(first) => {
                    report.duplicates += 1;
                    if *first != content {
                        report.violations.push(format!(
                            "event {id} of {sub} repeats with different content"
                        ));
                    }
                }
                None => {
                    s.first.push(id.clone());
                    s.content.insert(id, content);
                }
            }
        }
    }
    let mut known = HashSet::new();
    for entry in manifest {
        known.insert(entry.submission_id.as_str());
        if !entry.is_valid() {
            report.broken_expected += 1;
            if let Some(s) = seen
                .get(&entry.submission_id)
                .filter(|s| !s.first.is_empty())
            {
                report.violations.push(format!(
                    "broken submission {} ({}) has {} events in the stream",
                    entry.submission_id,
                    entry.kind,
                    s.first.len()
                ));
            }
            continue;
        }
        report.valid_expected += 1;
        report.events_expected += entry.events.len();
        match check_valid(entry, seen.get(&entry.submission_id)) {
            Ok(()) => report.valid_ok += 1,
            Err(v) => {
                report.events_lost += v.lost;
                report.order_violations += usize::from(v.out_of_order);
                report.violations.push(v.line);
            }
        }
    }
    for (sub, s) in &seen {
        if !known.contains(sub.as_str()) {
            report.violations.push(format!(
                "submission {sub} is in the stream ({} events) but not in the manifest",
                s.first.len()
            ));
        }
    }
    report
}

/// Why a valid submission fails its check.
struct Violation {
    line: String,
    /// Its events not in the stream.
    lost: usize,
    /// Its events are split over shards, or the ones present are out of document order.
    out_of_order: bool,
}

impl Violation {
    fn other(line: String) -> Violation {
        Violation {
            line,
            lost: 0,
            out_of_order: false,
        }
    }
}

fn check_valid(entry: &Entry, seen: Option<&Seen>) -> Result<(), Violation> {
    let sub = &entry.submission_id;
    let (Ok(sub_id), Ok(dev_id)) = (Uuid::parse_str(sub), Uuid::parse_str(&entry.device_id)) else {
        return Err(Violation::other(format!(
            "manifest entry {sub} is valid but its ids are not UUIDs"
        )));
    };
    let expected: Vec<String> = (0..entry.events.len())
        .map(|i| {
            telemetry_model::event_id::event_id(
                dev_id,
                sub_id,
                u32::try_from(i).unwrap_or(u32::MAX),
            )
            .to_string()
        })
        .collect();
    let Some(s) = seen else {
        return if expected.is_empty() {
            Ok(())
        } else {
            Err(Violation {
                line: format!("submission {sub} is missing ({} events)", expected.len()),
                lost: expected.len(),
                out_of_order: false,
            })
        };
    };
    let missing = expected
        .iter()
        .filter(|id| !s.content.contains_key(*id))
        .count();
    // The events present, in stream order, must be in document order.
    let present: Vec<&String> = s.first.iter().filter(|id| expected.contains(id)).collect();
    let in_order = present
        .iter()
        .zip(expected.iter().filter(|id| s.content.contains_key(*id)))
        .all(|(a, b)| *a == b);
    let split = s.shards.len() > 1;
    if split || !in_order || missing > 0 {
        let mut what = Vec::new();
        if split {
            what.push(format!("is split over {} shards", s.shards.len()));
        }
        if !in_order {
            what.push("is out of order (first occurrences differ from document order)".to_owned());
        }
        if missing > 0 {
            what.push(format!("misses {missing} of {} events", expected.len()));
        }
        return Err(Violation {
            line: format!("submission {sub} {}", what.join(", ")),
            lost: missing,
            out_of_order: split || !in_order,
        });
    }
    if s.first.len() != expected.len() {
        return Err(Violation::other(format!(
            "submission {sub} has events with ids the name-based rule does not give"
        )));
    }
    for (i, (id, want)) in expected.iter().zip(&entry.events).enumerate() {
        let got = &s.content[id];
        if got["type"] != want.event_type.as_str()
            || got["type_specific_data"] != want.type_specific_data
        {
            return Err(Violation::other(format!(
                "submission {sub}: event {i} differs from what was sent"
            )));
        }
        if got["device_id"] != entry.device_id.to_lowercase().as_str() {
            return Err(Violation::other(format!(
                "submission {sub}: event {i} has the wrong device id"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_fleet::generator::Fleet;
    use telemetry_fleet::profile::{breakable, Profile};
    use telemetry_model::{PartitionKeySource, Submission};

    /// A stream as the collector writes it for `n` fleet submissions (some broken), on two
    /// shards, and the manifest.
    fn stream(n: usize) -> (Vec<Entry>, Vec<ShardRecords>) {
        let profile = Profile {
            events_per_type: 1..=3,
            broken: breakable().map(|k| (k, 0.02)).collect(),
        };
        let mut fleet = Fleet::new(5, profile, 3);
        let mut manifest = Vec::new();
        let mut shards: Vec<ShardRecords> = (0..2)
            .map(|i| ShardRecords {
                shard_id: format!("shard-{i}"),
                records: Vec::new(),
                arrived_ms: Vec::new(),
            })
            .collect();
        for _ in 0..n {
            let g = fleet.next_submission();
            if let Ok(s) = Submission::decode(g.body.as_bytes()) {
                let r = s
                    .explode(
                        "2021-03-29T12:06:20.123+00:00",
                        PartitionKeySource::DeviceId,
                    )
                    .expect("fits");
                let shard = usize::from(r.partition_key.as_bytes()[0] % 2);
                for d in r.iter() {
                    shards[shard]
                        .records
                        .push((r.partition_key.clone(), d.to_vec()));
                }
            }
            manifest.push(g.entry);
        }
        (manifest, shards)
    }

    #[test]
    fn a_faithful_stream_passes_and_duplicates_are_only_counted() {
        let (manifest, mut shards) = stream(300);
        let report = verify(&manifest, &shards);
        assert!(report.passed(), "{report}");
        assert!(report.broken_expected > 0 && report.valid_ok == report.valid_expected);
        assert!(report.events_expected > report.valid_expected);
        assert_eq!((report.events_lost, report.order_violations), (0, 0));
        let copy = shards[0].records[3].clone();
        shards[0].records.push(copy);
        let report = verify(&manifest, &shards);
        assert!(report.passed(), "{report}");
        assert_eq!(report.duplicates, 1);
    }

    #[test]
    fn a_reordered_event_fails() {
        let (manifest, mut shards) = stream(50);
        // Swap the first two records of one submission (same partition key, so same shard).
        let recs = &mut shards[0].records;
        let i = (0..recs.len() - 1)
            .find(|&i| {
                let sub = |d: &[u8]| {
                    serde_json::from_slice::<Value>(d).expect("json")["submission_id"].clone()
                };
                sub(&recs[i].1) == sub(&recs[i + 1].1)
            })
            .expect("a submission with two events");
        recs.swap(i, i + 1);
        let report = verify(&manifest, &shards);
        assert!(!report.passed());
        assert!(report.violations[0].contains("out of order"), "{report}");
        assert_eq!((report.events_lost, report.order_violations), (0, 1));
    }

    #[test]
    fn a_missing_event_fails() {
        let (manifest, mut shards) = stream(50);
        shards[1].records.remove(0);
        let report = verify(&manifest, &shards);
        assert!(!report.passed());
        assert!(
            report.violations.iter().any(|v| v.contains("misses 1")),
            "{report}"
        );
        assert_eq!((report.events_lost, report.order_violations), (1, 0));
    }

    #[test]
    fn a_split_submission_and_events_of_broken_ones_fail() {
        let (mut manifest, mut shards) = stream(50);
        let moved = shards[0].records.pop().expect("a record");
        shards[1].records.push(moved);
        let report = verify(&manifest, &shards);
        assert!(report.violations.iter().any(|v| v.contains("split")));
        assert_eq!((report.events_lost, report.order_violations), (0, 1));
        let (_, shards) = stream(50);
        let valid = manifest
            .iter_mut()
            .find(|e| e.is_valid())
            .expect("a valid entry");
        valid.kind = "bad_ip".into();
        let report = verify(&manifest, &shards);
        assert!(
            report
                .violations
                .iter()
                .any(|v| v.contains("broken submission")),
            "{report}"
        );
    }
}
