//! Devices and the submissions they make.

use base64::Engine as _;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use telemetry_model::DropReason;
use uuid::Uuid;

use crate::manifest::{Entry, ExpectedEvent};
use crate::profile::Profile;

const CMDLS: [&str; 6] = [
    "notepad.exe",
    "calc.exe",
    "C:\\Windows\\System32\\svchost.exe -k netsvcs",
    "powershell.exe -NoProfile -Command \"Get-Process\"",
    "chrome.exe --type=renderer",
    "cmd.exe /c whoami",
];
const USERS: [&str; 4] = ["john", "mary", "admin", "SYSTEM"];
const DESTINATIONS: [&str; 6] = [
    "23.13.252.39",
    "142.250.74.110",
    "151.101.1.69",
    "104.16.132.229",
    "8.8.8.8",
    "13.107.42.14",
];

/// One generated submission: the SQS message body and what it must produce.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The message body.
    pub body: String,
    /// The manifest entry.
    pub entry: Entry,
}

/// A fleet of devices making submissions by a profile, repeatably for a seed.
#[derive(Debug)]
pub struct Fleet {
    devices: Vec<Uuid>,
    profile: Profile,
    rng: SmallRng,
    /// The `time_created` of every submission, when not the device's local time now.
    time_created: Option<String>,
}

/// The parts of a submission, edited to break it, then rendered to JSON text.
struct Parts {
    submission_id: String,
    device_id: String,
    time_created: Option<String>,
    procs: Vec<Value>,
    conns: Vec<Value>,
    unknown_type: bool,
    duplicate_key: bool,
}

impl Parts {
    /// JSON text with the keys in the order the original sensor writes them (a JSON map type
    /// would sort `network_connection` before `new_process`).
    fn render(&self) -> String {
        let mut text = String::from("{");
        if self.duplicate_key {
            text.push_str(&format!(
                "\"device_id\": {}, ",
                Value::from(self.device_id.as_str())
            ));
        }
        text.push_str(&format!(
            "\"submission_id\": {}, \"device_id\": {}, ",
            Value::from(self.submission_id.as_str()),
            Value::from(self.device_id.as_str())
        ));
        if let Some(t) = &self.time_created {
            text.push_str(&format!("\"time_created\": {}, ", Value::from(t.as_str())));
        }
        text.push_str(&format!(
            "\"events\": {{\"new_process\": {}, \"network_connection\": {}",
            Value::from(self.procs.clone()),
            Value::from(self.conns.clone())
        ));
        if self.unknown_type {
            text.push_str(", \"file_write\": [{\"path\": \"C:\\\\temp\\\\x\"}]");
        }
        text.push_str("}}");
        text
    }
}

/// The device's local time as Python's `datetime.now().isoformat()` writes it.
pub fn local_isoformat() -> String {
    let now = chrono::Local::now().naive_local();
    if now.and_utc().timestamp_subsec_micros() == 0 {
        now.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        now.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Fleet {
    /// `size` devices (at least one) with ids drawn from `seed`.
    pub fn new(size: usize, profile: Profile, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let devices = (0..size.max(1)).map(|_| uuid_from(&mut rng)).collect();
        Fleet {
            devices,
            profile,
            rng,
            time_created: None,
        }
    }

    /// The fleet, every submission of which says it was created at `time` instead of the
    /// device's local time now: for checks that `time_created` passes through unchanged.
    pub fn created_at(mut self, time: &str) -> Self {
        self.time_created = Some(time.to_owned());
        self
    }

    /// How many devices the fleet has.
    pub fn size(&self) -> usize {
        self.devices.len()
    }

    /// A submission from a random device.
    pub fn next_submission(&mut self) -> Generated {
        let device = self.rng.gen_range(0..self.devices.len());
        self.submission_from(device)
    }

    /// A submission from device number `device` (modulo the fleet size), valid or broken by
    /// the profile.
    pub fn submission_from(&mut self, device: usize) -> Generated {
        let kind = self.pick_kind();
        let (procs, conns) = self.events();
        self.submission(device, kind, procs, conns)
    }

    /// A submission from a random device, broken in exactly one way, so that `kind` is the
    /// reason it is dropped for (one of [`crate::profile::breakable`]).
    pub fn broken_submission(&mut self, kind: DropReason) -> Generated {
        let device = self.rng.gen_range(0..self.devices.len());
        let (procs, conns) = self.events();
        self.submission(device, Some(kind), procs, conns)
    }

    /// A valid submission from a random device with exactly `new_process` then
    /// `network_connection` events, the values of each numbered by its position (`proc-3.exe`,
    /// `user3`; destination `10.0.0.3`, port 3), so that a reordered or mixed-up event shows
    /// in the stream.
    pub fn numbered_submission(
        &mut self,
        new_process: usize,
        network_connection: usize,
    ) -> Generated {
        let device = self.rng.gen_range(0..self.devices.len());
        let procs = (0..new_process)
            .map(|i| json!({"cmdl": format!("proc-{i}.exe --flag \"q\""), "user": format!("user{i}")}))
            .collect();
        let conns = (0..network_connection)
            .map(|i| {
                let ip = format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256);
                json!({"source_ip": "192.168.0.2", "destination_ip": ip, "destination_port": i % 65536})
            })
            .collect();
        self.submission(device, None, procs, conns)
    }

    /// Events drawn by the profile: its number of each type, values from the small pools.
    fn events(&mut self) -> (Vec<Value>, Vec<Value>) {
        let range = self.profile.events_per_type.clone();
        let (n_proc, n_conn) = (self.rng.gen_range(range.clone()), self.rng.gen_range(range));
        let procs: Vec<Value> = (0..n_proc)
            .map(|_| {
                json!({"cmdl": CMDLS[self.rng.gen_range(0..CMDLS.len())], "user": USERS[self.rng.gen_range(0..USERS.len())]})
            })
            .collect();
        let conns: Vec<Value> = (0..n_conn)
            .map(|_| {
                json!({
                    "source_ip": format!("192.168.0.{}", self.rng.gen_range(1..=254)),
                    "destination_ip": DESTINATIONS[self.rng.gen_range(0..DESTINATIONS.len())],
                    "destination_port": self.rng.gen_range(0..=65535),
                })
            })
            .collect();
        (procs, conns)
    }

    /// A submission of device number `device` with these events, broken as `kind` says (valid
    /// for `None`), with the manifest entry of what it must produce.
    fn submission(
        &mut self,
        device: usize,
        kind: Option<DropReason>,
        procs: Vec<Value>,
        conns: Vec<Value>,
    ) -> Generated {
        let device_id = self.devices[device % self.devices.len()];
        let mut parts = Parts {
            submission_id: uuid_from(&mut self.rng).to_string(),
            device_id: device_id.to_string(),
            time_created: Some(self.time_created.clone().unwrap_or_else(local_isoformat)),
            procs,
            conns,
            unknown_type: false,
            duplicate_key: false,
        };
        let events = parts
            .procs
            .iter()
            .map(|d| ExpectedEvent {
                event_type: "new_process".into(),
                type_specific_data: d.clone(),
            })
            .chain(parts.conns.iter().map(|d| ExpectedEvent {
                event_type: "network_connection".into(),
                type_specific_data: d.clone(),
            }))
            .collect();
        let body = match kind {
            None => b64(parts.render()),
            Some(kind) => self.break_in(kind, &mut parts),
        };
        let entry = Entry {
            submission_id: parts.submission_id.clone(),
            device_id: parts.device_id.clone(),
            kind: kind.map_or("valid", DropReason::as_str).to_owned(),
            events: if kind.is_none() { events } else { Vec::new() },
        };
        Generated { body, entry }
    }

    fn pick_kind(&mut self) -> Option<DropReason> {
        let mut r: f64 = self.rng.gen();
        for (kind, share) in &self.profile.broken {
            if r < *share {
                return Some(*kind);
            }
            r -= share;
        }
        None
    }

    /// Breaks the submission in exactly one way, so that `kind` is the reason it is dropped for.
    fn break_in(&mut self, kind: DropReason, parts: &mut Parts) -> String {
        let first_proc = |parts: &mut Parts| {
            if parts.procs.is_empty() {
                parts
                    .procs
                    .push(json!({"cmdl": "notepad.exe", "user": "john"}));
            }
        };
        let first_conn = |parts: &mut Parts| {
            if parts.conns.is_empty() {
                parts.conns.push(json!({"source_ip": "192.168.0.2", "destination_ip": "8.8.8.8", "destination_port": 53}));
            }
        };
        match kind {
            DropReason::BadBase64 => return parts.render(),
            DropReason::NotUtf8 => {
                let mut bytes = parts.render().into_bytes();
                bytes.insert(1, 0xff);
                return b64(bytes);
            }
            DropReason::NotJson => {
                let text = parts.render();
                return b64(&text[..text.len() / 2]);
            }
            DropReason::NotObject => return b64(format!("[{}]", parts.render())),
            DropReason::DuplicateField => parts.duplicate_key = true,
            DropReason::MissingField => parts.time_created = None,
            DropReason::WrongType => {
                first_proc(parts);
                parts.procs[0]["cmdl"] = Value::Null;
            }
            DropReason::BadSubmissionId => parts.submission_id = "not-an-uuid".into(),
            DropReason::BadDeviceId => parts.device_id = "not-an-uuid".into(),
            DropReason::BadTimeCreated => parts.time_created = Some("28/03/2021 15:44".into()),
            DropReason::BadIp => {
                first_conn(parts);
                parts.conns[0]["destination_ip"] = json!("not-an-ip");
            }
            DropReason::BadPort => {
                first_conn(parts);
                parts.conns[0]["destination_port"] = json!(self.rng.gen_range(65_536..=1_000_000));
            }
            DropReason::UnknownEventType => parts.unknown_type = true,
            // Not produced by the fleet (an event over 1 MiB needs a body over SQS's limit).
            DropReason::RecordTooLarge => {}
        }
        b64(parts.render())
    }
}

fn uuid_from(rng: &mut impl Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.gen()).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::breakable;
    use telemetry_model::Submission;

    #[test]
    fn every_broken_kind_is_dropped_for_that_reason_and_valid_ones_pass() {
        for kind in breakable() {
            let profile = Profile {
                events_per_type: 0..=2,
                broken: vec![(kind, 1.0)],
            };
            let mut fleet = Fleet::new(3, profile, 7);
            for _ in 0..20 {
                let g = fleet.next_submission();
                assert_eq!(g.entry.kind, kind.as_str());
                let err = Submission::decode(g.body.as_bytes())
                    .and_then(|s| s.explode("t", Default::default()).map(drop));
                assert_eq!(err.map_err(|e| e.reason), Err(kind), "{}", g.body);
            }
        }
        let mut fleet = Fleet::new(
            10,
            Profile {
                broken: vec![],
                ..Profile::default()
            },
            1,
        );
        for _ in 0..50 {
            let g = fleet.next_submission();
            let s = Submission::decode(g.body.as_bytes()).expect("valid");
            assert_eq!(s.events().len(), g.entry.events.len());
            assert_eq!(s.submission_id().to_string(), g.entry.submission_id);
        }
    }

    #[test]
    fn a_broken_submission_is_dropped_for_its_kind_whatever_the_profile() {
        let mut fleet = Fleet::new(2, Profile::default(), 5);
        for kind in breakable() {
            let g = fleet.broken_submission(kind);
            assert_eq!(g.entry.kind, kind.as_str());
            assert!(g.entry.events.is_empty());
            let err = Submission::decode(g.body.as_bytes())
                .and_then(|s| s.explode("t", Default::default()).map(drop));
            assert_eq!(err.map_err(|e| e.reason), Err(kind), "{}", g.body);
        }
    }

    #[test]
    fn a_numbered_submission_holds_exactly_the_events_asked_for_each_one_distinct() {
        let mut fleet =
            Fleet::new(3, Profile::default(), 6).created_at("2021-03-28T15:44:18.592840");
        let g = fleet.numbered_submission(300, 2);
        let s = Submission::decode(g.body.as_bytes()).expect("valid");
        assert_eq!(s.events().len(), 302);
        assert_eq!(g.entry.events.len(), 302);
        assert!(g.entry.is_valid());
        let types: Vec<&str> = g
            .entry
            .events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect();
        assert_eq!(types[..300], ["new_process"; 300]);
        assert_eq!(types[300..], ["network_connection"; 2]);
        let distinct: std::collections::HashSet<String> = g
            .entry
            .events
            .iter()
            .map(|e| e.type_specific_data.to_string())
            .collect();
        assert_eq!(distinct.len(), 302, "every event's values differ");
        assert_eq!(
            g.entry.events[1].type_specific_data["cmdl"],
            "proc-1.exe --flag \"q\""
        );
        assert_eq!(
            g.entry.events[301].type_specific_data["destination_ip"],
            "10.0.0.1"
        );
        let text = base64::engine::general_purpose::STANDARD
            .decode(&g.body)
            .expect("base64");
        let json: Value = serde_json::from_slice(&text).expect("JSON");
        assert_eq!(json["time_created"], "2021-03-28T15:44:18.592840");
        assert_eq!(json["device_id"], g.entry.device_id);
    }

    #[test]
    fn a_seed_repeats_the_fleet() {
        let ids = |seed| {
            let mut f = Fleet::new(5, Profile::default(), seed);
            (0..10)
                .map(|_| f.next_submission().entry.submission_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(3), ids(3));
        assert_ne!(ids(3), ids(4));
    }

    #[test]
    fn the_default_profile_breaks_about_four_percent() {
        let mut fleet = Fleet::new(10, Profile::default(), 11);
        let broken = (0..10_000)
            .filter(|_| !fleet.next_submission().entry.is_valid())
            .count();
        assert!((250..=550).contains(&broken), "{broken} of 10,000 broken");
    }
}
