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
        }
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

    /// A submission from device number `device` (modulo the fleet size).
    pub fn submission_from(&mut self, device: usize) -> Generated {
        let device_id = self.devices[device % self.devices.len()];
        let kind = self.pick_kind();
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
        let mut parts = Parts {
            submission_id: uuid_from(&mut self.rng).to_string(),
            device_id: device_id.to_string(),
            time_created: Some(local_isoformat()),
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
            Some(kind) => self.broken(kind, &mut parts),
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
    fn broken(&mut self, kind: DropReason, parts: &mut Parts) -> String {
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
