//! The transform: a valid submission explodes into one record per event, in document order,
//! with exactly the contract's fields and stable ids. Property tests run the whole round trip
//! (generated submission -> JSON -> base64 -> decode -> explode -> parse the records).

// Test helpers panic on broken test data by design.
#![allow(clippy::expect_used)]

use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use telemetry_model::event_id::event_id;
use telemetry_model::record::time_processed_now;
use telemetry_model::{PartitionKeySource, Submission, MAX_RECORD_BYTES};
use uuid::Uuid;

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(text)
        .into_bytes()
}

#[test]
fn records_have_exactly_the_contract_fields() {
    // A raw string, not json!(): serde_json's map would sort the keys of `events`.
    let text = r#"{"submission_id": "8be01974-0f15-4d4f-809f-257a6de4d3f9",
        "device_id": "31980191-fa99-4768-8a7b-0e81397ca6ef",
        "time_created": "2021-03-28T15:44:18.592840",
        "events": {
            "new_process": [{"cmdl": "notepad.exe", "user": "john"}],
            "network_connection": [{"source_ip": "192.168.0.2", "destination_ip": "23.13.252.39", "destination_port": 43696}]
        }}"#;
    let s = Submission::decode(&b64(text)).expect("valid");
    let records = s
        .explode(
            "2021-03-29T12:06:20.123+00:00",
            PartitionKeySource::DeviceId,
        )
        .expect("fits");
    assert_eq!(
        records.partition_key,
        "31980191-fa99-4768-8a7b-0e81397ca6ef"
    );
    let events: Vec<Value> = records
        .iter()
        .map(|d| serde_json::from_slice(d).expect("json"))
        .collect();
    let dev = Uuid::parse_str("31980191-fa99-4768-8a7b-0e81397ca6ef").expect("uuid");
    let sub = Uuid::parse_str("8be01974-0f15-4d4f-809f-257a6de4d3f9").expect("uuid");
    assert_eq!(
        events[0],
        json!({
            "event_id": event_id(dev, sub, 0).to_string(),
            "type": "new_process",
            "device_id": "31980191-fa99-4768-8a7b-0e81397ca6ef",
            "submission_id": "8be01974-0f15-4d4f-809f-257a6de4d3f9",
            "time_processed": "2021-03-29T12:06:20.123+00:00",
            "time_created": "2021-03-28T15:44:18.592840",
            "type_specific_data": {"cmdl": "notepad.exe", "user": "john"}
        })
    );
    assert_eq!(
        events[1]["type_specific_data"],
        json!({"source_ip": "192.168.0.2", "destination_ip": "23.13.252.39", "destination_port": 43696})
    );
    assert_eq!(
        events[1]["event_id"],
        json!(event_id(dev, sub, 1).to_string())
    );
    let keys: Vec<&str> = events[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 7);

    let by_submission = s
        .explode("t", PartitionKeySource::SubmissionId)
        .expect("fits");
    assert_eq!(
        by_submission.partition_key,
        "8be01974-0f15-4d4f-809f-257a6de4d3f9"
    );
}

#[test]
fn time_processed_is_rfc3339_utc_with_milliseconds() {
    let t = time_processed_now();
    assert_eq!(t.len(), "2021-03-29T12:06:20.123+00:00".len(), "{t}");
    assert!(t.ends_with("+00:00"), "{t}");
    assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok(), "{t}");
}

#[test]
fn an_event_too_large_for_one_record_drops_the_whole_submission() {
    let big = "x".repeat(MAX_RECORD_BYTES);
    let text = json!({
        "submission_id": "8be01974-0f15-4d4f-809f-257a6de4d3f9",
        "device_id": "31980191-fa99-4768-8a7b-0e81397ca6ef",
        "time_created": "2021-03-28T15:44:18",
        "events": {"new_process": [{"cmdl": "ok", "user": "u"}, {"cmdl": big, "user": "u"}]}
    })
    .to_string();
    let s = Submission::from_json(&text).expect("valid JSON");
    let err = s
        .explode("t", PartitionKeySource::DeviceId)
        .expect_err("too large");
    assert_eq!(err.reason, telemetry_model::DropReason::RecordTooLarge);
}

#[test]
fn a_submissions_records_are_allocated_once_at_their_size() {
    // Found by the fuzz test: the encoder's size estimate was short by about 20 bytes, so every
    // record regrew to twice its size, and a submission's records held twice their bytes.
    let text = r#"{"submission_id":"8be01974-0f15-4d4f-809f-257a6de4d3f9",
        "device_id":"31980191-fa99-4768-8a7b-0e81397ca6ef","time_created":"2021-03-28T15:44:18.592840+02:00",
        "events":{"new_process":[{"cmdl":"","user":""},{"cmdl":"notepad.exe","user":"john"}],
        "network_connection":[{"source_ip":"255.255.255.255","destination_ip":"255.255.255.255","destination_port":65535},
            {"source_ip":"1.2.3.4","destination_ip":"5.6.7.8","destination_port":0}]}}"#;
    let s = Submission::from_json(text).expect("valid");
    let records = s
        .explode(&time_processed_now(), PartitionKeySource::DeviceId)
        .expect("fits");
    // Exact but for the unused digits of the short addresses and port: 8 + 8 + 4.
    assert_eq!(records.capacity(), records.data_bytes() + 20);
    // Strings that need escaping are counted exactly too, each escape as serde_json writes it.
    let text = r#"{"submission_id":"8be01974-0f15-4d4f-809f-257a6de4d3f9",
        "device_id":"31980191-fa99-4768-8a7b-0e81397ca6ef","time_created":"2021-03-28T15:44:18.592840+02:00",
        "events":{"new_process":[{"cmdl":"a\"b\\c\nd\te\u0001f\u001fg\u007f\b\f\r","user":"Jos\u00e9 \u2603"}],
        "network_connection":[]}}"#;
    let s = Submission::from_json(text).expect("valid");
    let records = s
        .explode(&time_processed_now(), PartitionKeySource::DeviceId)
        .expect("fits");
    assert_eq!(records.len(), 1);
    assert_eq!(records.capacity(), records.data_bytes());
}

#[derive(Debug, Clone)]
enum GenEvent {
    Process(String, String),
    Connection(Ipv4Addr, Ipv4Addr, u16),
}

fn gen_event_lists() -> impl Strategy<Value = (Vec<GenEvent>, Vec<GenEvent>, bool)> {
    let process = (any::<String>(), any::<String>()).prop_map(|(c, u)| GenEvent::Process(c, u));
    let conn = (any::<u32>(), any::<u32>(), any::<u16>())
        .prop_map(|(a, b, p)| GenEvent::Connection(Ipv4Addr::from(a), Ipv4Addr::from(b), p));
    (
        prop::collection::vec(process, 0..8),
        prop::collection::vec(conn, 0..8),
        any::<bool>(),
    )
}

fn to_json(e: &GenEvent) -> Value {
    match e {
        GenEvent::Process(c, u) => json!({"cmdl": c, "user": u}),
        GenEvent::Connection(s, d, p) => {
            json!({"source_ip": s.to_string(), "destination_ip": d.to_string(), "destination_port": p})
        }
    }
}

proptest! {
    #[test]
    fn round_trip_keeps_every_event_in_document_order(
        sub in any::<u128>(), dev in any::<u128>(),
        micros in prop::option::of(0u32..1_000_000),
        (procs, conns, conns_first) in gen_event_lists(),
    ) {
        let (sub, dev) = (Uuid::from_u128(sub), Uuid::from_u128(dev));
        let time_created = match micros {
            Some(us) => format!("2021-03-28T15:44:18.{us:06}"),
            None => "2021-03-28T15:44:18".to_owned(),
        };
        let procs_json: Vec<Value> = procs.iter().map(to_json).collect();
        let conns_json: Vec<Value> = conns.iter().map(to_json).collect();
        // Build the text by hand so the key order of `events` is the generated one.
        let events = if conns_first {
            format!(r#"{{"network_connection":{},"new_process":{}}}"#, Value::from(conns_json), Value::from(procs_json))
        } else {
            format!(r#"{{"new_process":{},"network_connection":{}}}"#, Value::from(procs_json), Value::from(conns_json))
        };
        let text = format!(
            r#"{{"submission_id":"{sub}","device_id":"{}","time_created":"{time_created}","events":{events}}}"#,
            dev.hyphenated().to_string().to_uppercase()
        );
        let s = Submission::decode(&b64(&text)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let records = s.explode("2021-03-29T12:06:20.123+00:00", PartitionKeySource::DeviceId)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expected: Vec<&GenEvent> = if conns_first {
            conns.iter().chain(procs.iter()).collect()
        } else {
            procs.iter().chain(conns.iter()).collect()
        };
        prop_assert_eq!(records.len(), expected.len());
        prop_assert_eq!(&records.partition_key, &dev.to_string());
        for (i, (data, want)) in records.iter().zip(expected).enumerate() {
            let got: Value = serde_json::from_slice(data).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let position = u32::try_from(i).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&got["event_id"], &json!(event_id(dev, sub, position).to_string()));
            prop_assert_eq!(&got["device_id"], &json!(dev.to_string()));
            prop_assert_eq!(&got["submission_id"], &json!(sub.to_string()));
            prop_assert_eq!(&got["time_created"], &json!(time_created));
            prop_assert_eq!(&got["type_specific_data"], &to_json(want));
            let kind = if matches!(want, GenEvent::Process(..)) { "new_process" } else { "network_connection" };
            prop_assert_eq!(&got["type"], &json!(kind));
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Submission::decode(&body);
        let _ = Submission::decode(&b64(&String::from_utf8_lossy(&body)));
    }

    #[test]
    fn arbitrary_json_never_panics(text in "[\\[\\]{}\",:0-9a-z_.\\- ]{0,256}") {
        if let Ok(s) = Submission::from_json(&text) {
            prop_assert!(s.explode("t", PartitionKeySource::DeviceId).is_ok());
        }
    }
}
