//! Every validation rule, table-driven: a valid base submission is broken in one way per row,
//! and the row says which reason the drop must carry. Regressions found by the fuzz test
//! (`tests/fuzz.rs`) are at the end; the heap is counted per thread by `allocation-counter`.

// Test helpers panic on broken test data by design.
#![allow(clippy::expect_used)]

use base64::Engine as _;
use serde_json::{json, Value};
use telemetry_model::{DropReason, EventData, Submission};

fn base() -> Value {
    json!({
        "submission_id": "8be01974-0f15-4d4f-809f-257a6de4d3f9",
        "device_id": "31980191-fa99-4768-8a7b-0e81397ca6ef",
        "time_created": "2021-03-28T15:44:18.592840",
        "events": {
            "new_process": [
                {"cmdl": "notepad.exe", "user": "john"},
                {"cmdl": "calc.exe", "user": "admin"}
            ],
            "network_connection": [
                {"source_ip": "192.168.0.2", "destination_ip": "23.13.252.39", "destination_port": 43696}
            ]
        }
    })
}

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(text)
        .into_bytes()
}

/// The base submission with `edit` applied to the value at `path` (keys, or indexes in lists).
fn edited(path: &[&str], edit: impl FnOnce(&mut Value)) -> String {
    let mut v = base();
    let mut cur = &mut v;
    for p in path {
        cur = match p.parse::<usize>() {
            Ok(i) => &mut cur[i],
            Err(_) => &mut cur[*p],
        };
    }
    edit(cur);
    v.to_string()
}

fn with(path: &[&str], value: Value) -> String {
    edited(path, |slot| *slot = value)
}

fn without(path: &[&str]) -> String {
    let (last, parents) = path.split_last().expect("non-empty path");
    edited(parents, |obj| {
        obj.as_object_mut().expect("object").remove(*last);
    })
}

fn reason_of_json(text: &str) -> Option<DropReason> {
    Submission::decode(&b64(text)).err().map(|e| e.reason)
}

#[test]
fn the_base_submission_is_valid() {
    let s = Submission::decode(&b64(&base().to_string())).expect("valid");
    assert_eq!(s.events().len(), 3);
}

#[test]
fn body_encoding_rules() {
    use DropReason::*;
    let good = base().to_string();
    let std_b64 = String::from_utf8(b64(&good)).expect("ascii");
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        ("empty body", b"".to_vec(), NotJson),
        (
            "raw JSON body, not base64",
            good.clone().into_bytes(),
            BadBase64,
        ),
        (
            "padding removed",
            std_b64.trim_end_matches('=').as_bytes().to_vec(),
            BadBase64,
        ),
        ("url-safe alphabet", b"-_-_".to_vec(), BadBase64),
        (
            "line breaks inside",
            format!("{}\n{}", &std_b64[..8], &std_b64[8..]).into_bytes(),
            BadBase64,
        ),
        (
            "stray character",
            format!("{std_b64}!").into_bytes(),
            BadBase64,
        ),
        (
            "not UTF-8 inside",
            base64::engine::general_purpose::STANDARD
                .encode([0xff, 0xfe, b'{'])
                .into_bytes(),
            NotUtf8,
        ),
        ("not JSON", b64("hello"), NotJson),
        ("truncated JSON", b64(&good[..good.len() - 1]), NotJson),
        ("trailing garbage", b64(&format!("{good}x")), NotJson),
        ("two objects", b64(&format!("{good}{good}")), NotJson),
        ("a JSON array", b64("[1,2]"), NotObject),
        ("a JSON string", b64("\"x\""), NotObject),
        ("JSON null", b64("null"), NotObject),
        ("a JSON number", b64("12"), NotObject),
    ];
    for (name, body, want) in cases {
        let got = Submission::decode(&body).err().map(|e| e.reason);
        assert_eq!(got, Some(want), "{name}");
    }
}

#[test]
fn field_rules() {
    use DropReason::*;
    let np = |f: &str| ["events", "new_process", "0", f].map(str::to_owned);
    let nc = |f: &str| ["events", "network_connection", "0", f].map(str::to_owned);
    let cases: Vec<(&str, String, DropReason)> = vec![
        (
            "submission_id missing",
            without(&["submission_id"]),
            MissingField,
        ),
        ("device_id missing", without(&["device_id"]), MissingField),
        (
            "time_created missing",
            without(&["time_created"]),
            MissingField,
        ),
        ("events missing", without(&["events"]), MissingField),
        (
            "submission_id not-an-uuid",
            with(&["submission_id"], json!("not-an-uuid")),
            BadSubmissionId,
        ),
        (
            "submission_id simple form",
            with(
                &["submission_id"],
                json!("8be019740f154d4f809f257a6de4d3f9"),
            ),
            BadSubmissionId,
        ),
        (
            "submission_id braced",
            with(
                &["submission_id"],
                json!("{8be01974-0f15-4d4f-809f-257a6de4d3f9}"),
            ),
            BadSubmissionId,
        ),
        (
            "submission_id a number",
            with(&["submission_id"], json!(12)),
            WrongType,
        ),
        (
            "submission_id null",
            with(&["submission_id"], Value::Null),
            WrongType,
        ),
        (
            "device_id not-an-uuid",
            with(&["device_id"], json!("not-an-uuid")),
            BadDeviceId,
        ),
        (
            "device_id bad hex",
            with(
                &["device_id"],
                json!("31980191-fa99-4768-8a7b-0e81397ca6eg"),
            ),
            BadDeviceId,
        ),
        (
            "device_id an object",
            with(&["device_id"], json!({})),
            WrongType,
        ),
        (
            "time_created not a date",
            with(&["time_created"], json!("yesterday")),
            BadTimeCreated,
        ),
        (
            "time_created impossible date",
            with(&["time_created"], json!("2021-02-30T10:00:00")),
            BadTimeCreated,
        ),
        (
            "time_created a number",
            with(&["time_created"], json!(1616946258)),
            WrongType,
        ),
        ("events an array", with(&["events"], json!([])), WrongType),
        ("events null", with(&["events"], Value::Null), WrongType),
        (
            "unknown event type",
            with(&["events", "file_write"], json!([])),
            UnknownEventType,
        ),
        (
            "event list an object",
            with(&["events", "new_process"], json!({})),
            WrongType,
        ),
        (
            "event list null",
            with(&["events", "new_process"], Value::Null),
            WrongType,
        ),
        (
            "event a string",
            with(&["events", "new_process", "0"], json!("notepad")),
            WrongType,
        ),
        (
            "event null",
            with(&["events", "network_connection", "0"], Value::Null),
            WrongType,
        ),
        (
            "cmdl null",
            with(&np("cmdl").each_ref().map(String::as_str), Value::Null),
            WrongType,
        ),
        (
            "cmdl missing",
            without(&np("cmdl").each_ref().map(String::as_str)),
            MissingField,
        ),
        (
            "user a number",
            with(&np("user").each_ref().map(String::as_str), json!(1)),
            WrongType,
        ),
        (
            "user missing",
            without(&np("user").each_ref().map(String::as_str)),
            MissingField,
        ),
        (
            "destination_ip not-an-ip",
            with(
                &nc("destination_ip").each_ref().map(String::as_str),
                json!("not-an-ip"),
            ),
            BadIp,
        ),
        (
            "source_ip octet 256",
            with(
                &nc("source_ip").each_ref().map(String::as_str),
                json!("192.168.0.256"),
            ),
            BadIp,
        ),
        (
            "source_ip leading zero",
            with(
                &nc("source_ip").each_ref().map(String::as_str),
                json!("192.168.0.02"),
            ),
            BadIp,
        ),
        (
            "source_ip three octets",
            with(
                &nc("source_ip").each_ref().map(String::as_str),
                json!("192.168.0"),
            ),
            BadIp,
        ),
        (
            "source_ip IPv6",
            with(
                &nc("source_ip").each_ref().map(String::as_str),
                json!("::1"),
            ),
            BadIp,
        ),
        (
            "source_ip with port",
            with(
                &nc("source_ip").each_ref().map(String::as_str),
                json!("1.2.3.4:80"),
            ),
            BadIp,
        ),
        (
            "source_ip missing",
            without(&nc("source_ip").each_ref().map(String::as_str)),
            MissingField,
        ),
        (
            "destination_ip a number",
            with(
                &nc("destination_ip").each_ref().map(String::as_str),
                json!(16909060),
            ),
            WrongType,
        ),
        (
            "port 65536",
            with(
                &nc("destination_port").each_ref().map(String::as_str),
                json!(65536),
            ),
            BadPort,
        ),
        (
            "port -1",
            with(
                &nc("destination_port").each_ref().map(String::as_str),
                json!(-1),
            ),
            BadPort,
        ),
        (
            "port 443.0",
            with(
                &nc("destination_port").each_ref().map(String::as_str),
                json!(443.0),
            ),
            BadPort,
        ),
        (
            "port 1e3",
            with(
                &nc("destination_port").each_ref().map(String::as_str),
                json!(1e3),
            ),
            BadPort,
        ),
        (
            "port u64 max",
            with(
                &nc("destination_port").each_ref().map(String::as_str),
                json!(u64::MAX),
            ),
            BadPort,
        ),
        (
            "port a string",
            with(
                &nc("destination_port").each_ref().map(String::as_str),
                json!("443"),
            ),
            WrongType,
        ),
        (
            "port null",
            with(
                &nc("destination_port").each_ref().map(String::as_str),
                Value::Null,
            ),
            WrongType,
        ),
        (
            "port missing",
            without(&nc("destination_port").each_ref().map(String::as_str)),
            MissingField,
        ),
    ];
    for (name, text, want) in cases {
        assert_eq!(reason_of_json(&text), Some(want), "{name}: {text}");
    }
}

#[test]
fn deep_nesting_neither_overflows_the_stack_nor_passes() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    // Deep values where a scalar belongs: skipped without recursion, then the type is wrong.
    let text = with(&["submission_id"], Value::Null).replace("null", &deep(100_000));
    assert_eq!(reason_of_json(&text), Some(DropReason::WrongType));
    // Deep values in an ignored extra field: skipped, the submission stays valid.
    let text = base()
        .to_string()
        .replacen('{', &format!("{{\"x\":{},", deep(100_000)), 1);
    assert!(Submission::decode(&b64(&text)).is_ok());
    // Unbalanced nesting is a syntax error.
    assert_eq!(
        reason_of_json(&"[".repeat(100_000)),
        Some(DropReason::NotJson)
    );
}

#[test]
fn duplicate_keys_are_refused_at_every_level() {
    let top = r#"{"submission_id":"8be01974-0f15-4d4f-809f-257a6de4d3f9","submission_id":"8be01974-0f15-4d4f-809f-257a6de4d3f9","device_id":"31980191-fa99-4768-8a7b-0e81397ca6ef","time_created":"2021-03-28T15:44:18","events":{}}"#;
    let types = r#"{"submission_id":"8be01974-0f15-4d4f-809f-257a6de4d3f9","device_id":"31980191-fa99-4768-8a7b-0e81397ca6ef","time_created":"2021-03-28T15:44:18","events":{"new_process":[],"new_process":[]}}"#;
    let field = r#"{"submission_id":"8be01974-0f15-4d4f-809f-257a6de4d3f9","device_id":"31980191-fa99-4768-8a7b-0e81397ca6ef","time_created":"2021-03-28T15:44:18","events":{"new_process":[{"cmdl":"a","cmdl":"b","user":"u"}]}}"#;
    for text in [top, types, field] {
        assert_eq!(
            reason_of_json(text),
            Some(DropReason::DuplicateField),
            "{text}"
        );
    }
}

#[test]
fn open_cases_follow_the_documented_policy() {
    // Extra fields are ignored at the top and in events.
    let mut v = base();
    v["sensor_version"] = json!("9.1");
    v["events"]["new_process"][0]["pid"] = json!(4242);
    v["events"]["network_connection"][0]["cmdl"] = Value::Null;
    let s = Submission::decode(&b64(&v.to_string())).expect("extra fields are ignored");
    assert_eq!(s.events().len(), 3);

    // Upper-case UUIDs are accepted and written out lower-case.
    let text = with(
        &["device_id"],
        json!("31980191-FA99-4768-8A7B-0E81397CA6EF"),
    );
    let s = Submission::decode(&b64(&text)).expect("upper-case UUID accepted");
    assert_eq!(
        s.device_id().to_string(),
        "31980191-fa99-4768-8a7b-0e81397ca6ef"
    );

    // Absent or empty types, and no events at all, are valid.
    let s = Submission::decode(&b64(&with(&["events"], json!({})))).expect("no events");
    assert!(s.events().is_empty());
    let s =
        Submission::decode(&b64(&with(&["events", "new_process"], json!([])))).expect("empty list");
    assert_eq!(s.events().len(), 1);

    // Port 0 and 65535 are valid; a time without a fraction is valid.
    for port in [0, 65535] {
        let text = with(
            &["events", "network_connection", "0", "destination_port"],
            json!(port),
        );
        assert!(Submission::decode(&b64(&text)).is_ok(), "port {port}");
    }
    assert!(
        Submission::decode(&b64(&with(&["time_created"], json!("2021-03-28T15:44:18")))).is_ok()
    );
}

#[test]
fn the_first_fault_in_document_order_decides_the_reason() {
    let mut v = base();
    v["device_id"] = json!("not-an-uuid");
    v["events"]["network_connection"][0]["destination_ip"] = json!("not-an-ip");
    assert_eq!(
        reason_of_json(&v.to_string()),
        Some(DropReason::BadDeviceId)
    );
}

#[test]
fn document_order_follows_the_order_of_the_keys() {
    let text = r#"{"events":{"network_connection":[{"source_ip":"1.1.1.1","destination_ip":"2.2.2.2","destination_port":1}],"new_process":[{"cmdl":"a","user":"u"},{"cmdl":"b","user":"u"}]},"submission_id":"8be01974-0f15-4d4f-809f-257a6de4d3f9","device_id":"31980191-fa99-4768-8a7b-0e81397ca6ef","time_created":"2021-03-28T15:44:18"}"#;
    let s = Submission::from_json(text).expect("valid");
    let kinds: Vec<_> = s.events().iter().map(|e| e.event_type().as_str()).collect();
    assert_eq!(kinds, ["network_connection", "new_process", "new_process"]);
    assert!(matches!(&s.events()[2], EventData::NewProcess { cmdl, .. } if cmdl == "b"));
}

#[test]
fn details_name_the_place_and_cut_hostile_values() {
    let huge = "x".repeat(100_000);
    let text = with(
        &["events", "network_connection", "0", "destination_ip"],
        json!(huge),
    );
    let err = Submission::decode(&b64(&text)).expect_err("bad ip");
    assert!(
        err.detail
            .starts_with("events.network_connection[0].destination_ip: "),
        "{}",
        err.detail
    );
    assert!(
        err.detail.len() < 200,
        "detail is {} bytes",
        err.detail.len()
    );
}

#[test]
fn a_float_port_is_shown_short_and_as_a_float() {
    // Found by the fuzz test: 1e300 was shown with all its 301 digits.
    for (port, shown) in [("1e300", "1e300"), ("443.0", "443.0"), ("-0", "-0.0")] {
        let text = with(
            &["events", "network_connection", "0", "destination_port"],
            Value::Null,
        )
        .replace("null", port);
        let err = Submission::from_json(&text).expect_err("bad port");
        assert_eq!(err.reason, DropReason::BadPort, "{port}");
        assert_eq!(
            err.detail,
            format!(
                "events.network_connection[0].destination_port: {shown} is not an integer in \
                 0..=65535"
            )
        );
    }
}

/// The peak heap, on this thread, of running `f`.
fn peak_heap<T>(f: impl FnOnce() -> T) -> u64 {
    allocation_counter::measure(|| drop(f())).bytes_max
}

#[test]
fn events_cost_heap_in_proportion_to_what_is_kept_not_to_the_elements_read() {
    // Found by the fuzz test: every element of an event list was held as a raw event of 144
    // bytes until validation, so a list of 1s or {}s took 50 to 100 times its text in heap.
    let head = r#"{"submission_id":"8be01974-0f15-4d4f-809f-257a6de4d3f9","device_id":"31980191-fa99-4768-8a7b-0e81397ca6ef","time_created":"2021-03-28T15:44:18","events":{"new_process":["#;
    for (junk, reason) in [
        ("1", DropReason::WrongType),
        ("null", DropReason::WrongType),
        ("{}", DropReason::MissingField),
        (r#"{"cmdl":1}"#, DropReason::WrongType),
    ] {
        let text = format!("{head}{}]}}}}", vec![junk; 200_000].join(","));
        let body = b64(&text);
        assert_eq!(reason_of_json(&text), Some(reason), "{junk}");
        // The decoded text, and next to nothing for the events.
        let peak = peak_heap(|| Submission::decode(&body));
        assert!(
            peak <= text.len() as u64 + 64 * 1024,
            "{junk}: {peak} bytes of heap for {} bytes of text",
            text.len()
        );
    }
    // Valid events are kept: 48 bytes each, in a vector that grows by doubling.
    let event = r#"{"cmdl":"","user":""}"#;
    let text = format!("{head}{}]}}}}", vec![event; 100_000].join(","));
    let peak = peak_heap(|| Submission::from_json(&text).map(|s| s.events().len()));
    assert!(
        peak <= 5 * text.len() as u64,
        "{peak} bytes of heap for {} bytes of text",
        text.len()
    );
}
