//! Submissions for tests, made by the sensor fleet's generator (`telemetry-fleet`): valid ones
//! with the events they must produce, and broken ones of every class the contract names.

use base64::Engine as _;
use telemetry_fleet::generator::{Fleet, Generated};
use telemetry_fleet::manifest::ExpectedEvent;
use telemetry_fleet::profile::{breakable, Profile};
use telemetry_model::DropReason;
use uuid::Uuid;

/// The `time_created` of every valid submission, which the stream must show unchanged.
pub const TIME_CREATED: &str = "2021-03-28T15:44:18.592840";

/// A valid submission and what the stream must show for it.
#[derive(Debug, Clone)]
pub struct Valid {
    pub body: String,
    pub submission_id: Uuid,
    pub device_id: Uuid,
    /// Each event's type and `type_specific_data`, in document order.
    pub events: Vec<ExpectedEvent>,
}

impl From<Generated> for Valid {
    fn from(g: Generated) -> Self {
        assert!(g.entry.is_valid(), "a valid submission: {:?}", g.entry);
        Valid {
            body: g.body,
            submission_id: Uuid::parse_str(&g.entry.submission_id).expect("submission id"),
            device_id: Uuid::parse_str(&g.entry.device_id).expect("device id"),
            events: g.entry.events,
        }
    }
}

pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A fleet of one device with fresh ids.
fn fleet() -> Fleet {
    Fleet::new(1, Profile::default(), rand::random())
}

/// A valid submission with `n_proc` new_process then `n_conn` network_connection events.
/// The values are numbered so that any reordering shows.
pub fn valid(n_proc: usize, n_conn: usize) -> Valid {
    fleet()
        .created_at(TIME_CREATED)
        .numbered_submission(n_proc, n_conn)
        .into()
}

/// One broken body for each class of fault, with the reason it must be dropped for.
pub fn broken_kinds() -> Vec<(DropReason, String)> {
    let mut fleet = fleet();
    breakable()
        .map(|kind| (kind, fleet.broken_submission(kind).body))
        .collect()
}
