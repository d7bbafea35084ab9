//! Submissions for tests: valid ones with the events they must produce, and broken ones of
//! every class the contract names.

use base64::Engine as _;
use serde_json::{json, Value};
use telemetry_model::DropReason;
use uuid::Uuid;

/// A valid submission and what the stream must show for it.
#[derive(Debug, Clone)]
pub struct Valid {
    pub body: String,
    pub submission_id: Uuid,
    pub device_id: Uuid,
    /// `type_specific_data` of each event, in document order.
    pub events: Vec<(&'static str, Value)>,
}

pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A valid submission with `n_proc` new_process then `n_conn` network_connection events.
/// The values are numbered so that any reordering shows.
pub fn valid(n_proc: usize, n_conn: usize) -> Valid {
    let (submission_id, device_id) = (Uuid::new_v4(), Uuid::new_v4());
    let procs: Vec<Value> = (0..n_proc)
        .map(|i| json!({"cmdl": format!("proc-{i}.exe --flag \"q\""), "user": format!("user{i}")}))
        .collect();
    let conns: Vec<Value> = (0..n_conn)
        .map(|i| {
            json!({"source_ip": "192.168.0.2", "destination_ip": format!("10.{}.{}.{}", i / 65536 % 256, i / 256 % 256, i % 256), "destination_port": i % 65536})
        })
        .collect();
    let events = procs
        .iter()
        .map(|v| ("new_process", v.clone()))
        .chain(conns.iter().map(|v| ("network_connection", v.clone())))
        .collect();
    // Built by hand: json!() would sort the keys of `events`.
    let text = format!(
        r#"{{"submission_id":"{submission_id}","device_id":"{device_id}","time_created":"2021-03-28T15:44:18.592840","events":{{"new_process":{},"network_connection":{}}}}}"#,
        Value::from(procs),
        Value::from(conns)
    );
    Valid {
        body: b64(&text),
        submission_id,
        device_id,
        events,
    }
}

/// One broken body for each class of fault, with the reason it must be dropped for.
pub fn broken_kinds() -> Vec<(DropReason, String)> {
    let ok = || {
        json!({
            "submission_id": Uuid::new_v4().to_string(),
            "device_id": Uuid::new_v4().to_string(),
            "time_created": "2021-03-28T15:44:18",
            "events": {
                "new_process": [{"cmdl": "a.exe", "user": "u"}],
                "network_connection": [{"source_ip": "1.2.3.4", "destination_ip": "5.6.7.8", "destination_port": 80}]
            }
        })
    };
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = ok();
        f(&mut v);
        b64(&v.to_string())
    };
    vec![
        (DropReason::BadBase64, "{not base64}".to_owned()),
        (
            DropReason::NotUtf8,
            base64::engine::general_purpose::STANDARD.encode([0xc3, 0x28, b'{']),
        ),
        (DropReason::NotJson, b64("{\"submission_id\": ")),
        (DropReason::NotObject, b64("[1, 2, 3]")),
        (
            DropReason::MissingField,
            edit(&|v| {
                v.as_object_mut().map(|o| o.remove("device_id"));
            }),
        ),
        (
            DropReason::WrongType,
            edit(&|v| v["events"]["new_process"][0]["cmdl"] = Value::Null),
        ),
        (
            DropReason::BadSubmissionId,
            edit(&|v| v["submission_id"] = json!("not-an-uuid")),
        ),
        (
            DropReason::BadDeviceId,
            edit(&|v| v["device_id"] = json!("not-an-uuid")),
        ),
        (
            DropReason::BadTimeCreated,
            edit(&|v| v["time_created"] = json!("28/03/2021")),
        ),
        (
            DropReason::BadIp,
            edit(&|v| v["events"]["network_connection"][0]["destination_ip"] = json!("not-an-ip")),
        ),
        (
            DropReason::BadPort,
            edit(&|v| v["events"]["network_connection"][0]["destination_port"] = json!(70000)),
        ),
        (
            DropReason::UnknownEventType,
            edit(&|v| v["events"]["file_write"] = json!([])),
        ),
        (
            DropReason::DuplicateField,
            b64(&ok().to_string().replacen('{', "{\"device_id\":\"x\",", 1)),
        ),
    ]
}
