//! What the fault-injecting [`Proxy`](crate::proxy::Proxy) does to the calls it forwards: the
//! plan a test steers, and the pure rewriting of AWS JSON-protocol requests and responses that
//! fails chosen entries inside a batch call.
//!
//! Both services speak JSON over HTTP/1.1 here (`X-Amz-Target: Kinesis_20131202.PutRecords`,
//! `AmazonSQS.DeleteMessageBatch`). Entry faults are real partial failures: a failed entry is
//! not forwarded, so Kinesis never stores a record the response calls failed, and SQS never
//! deletes a message whose delete the response calls failed.

use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};

/// How a request fails as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RequestFault {
    /// HTTP 500, `InternalFailure`; not forwarded.
    #[default]
    Internal,
    /// HTTP 503, `ServiceUnavailable`; not forwarded.
    Unavailable,
    /// HTTP 400 with the service's throttling error; not forwarded.
    Throttling,
    /// The connection is closed without an answer; not forwarded.
    Reset,
    /// Forwarded (so it takes effect), then answered with HTTP 500: the caller cannot know.
    LostResponse,
}

/// The error of an entry failed inside a batch response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntryFault {
    /// Kinesis `ProvisionedThroughputExceededException` (SQS: `RequestThrottled`).
    #[default]
    Throughput,
    /// Kinesis `InternalFailure` (SQS: `InternalError`).
    Internal,
    /// Either, at random.
    Mixed,
}

/// What the proxy does; a test replaces it whenever it likes.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Refuse connections (accept and close at once) and close the open ones.
    pub down: bool,
    /// The operations the faults below apply to (the `X-Amz-Target` action, e.g.
    /// `PutRecords`); empty for every operation.
    pub operations: Vec<String>,
    /// Added before a request is forwarded.
    pub latency: Duration,
    /// Share of requests failed as a whole (0..=1).
    pub request_share: f64,
    /// How they fail.
    pub request_fault: RequestFault,
    /// Share of entries failed inside `PutRecords` and `DeleteMessageBatch` (0..=1).
    pub entry_share: f64,
    /// How they fail.
    pub entry_fault: EntryFault,
}

impl Plan {
    /// The proxy forwards everything untouched.
    pub fn healthy() -> Plan {
        Plan::default()
    }

    /// True when the faults apply to `operation`.
    pub fn applies_to(&self, operation: &str) -> bool {
        self.operations.is_empty() || self.operations.iter().any(|o| o == operation)
    }

    /// Limits the faults to the named operations.
    #[must_use]
    pub fn only(mut self, operations: &[&str]) -> Plan {
        self.operations = operations.iter().map(|o| (*o).to_owned()).collect();
        self
    }
}

/// The two services' error vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `Kinesis_20131202.*`
    Kinesis,
    /// `AmazonSQS.*`
    Sqs,
}

/// The service and the action named by an `X-Amz-Target` header.
pub fn target(header: &str) -> Option<(Service, &str)> {
    let (prefix, action) = header.split_once('.')?;
    match prefix {
        "AmazonSQS" => Some((Service::Sqs, action)),
        p if p.starts_with("Kinesis_") => Some((Service::Kinesis, action)),
        _ => None,
    }
}

/// The status and JSON body of a request failed as a whole.
pub fn request_error(service: Service, fault: RequestFault) -> (u16, Value) {
    let (status, kind) = match (service, fault) {
        (_, RequestFault::Unavailable) => (503, "ServiceUnavailable"),
        (Service::Kinesis, RequestFault::Throttling) => {
            (400, "ProvisionedThroughputExceededException")
        }
        (Service::Sqs, RequestFault::Throttling) => (400, "com.amazonaws.sqs#RequestThrottled"),
        _ => (500, "InternalFailure"),
    };
    (
        status,
        json!({"__type": kind, "message": "injected by the fault proxy"}),
    )
}

/// The array of entries of a batch call, and whether the call has one we fail entries of.
fn entries_key(service: Service, action: &str) -> Option<&'static str> {
    match (service, action) {
        (Service::Kinesis, "PutRecords") => Some("Records"),
        (Service::Sqs, "DeleteMessageBatch") => Some("Entries"),
        _ => None,
    }
}

/// A batch request with some entries taken out, to be failed in the answer.
#[derive(Debug)]
pub struct Split {
    /// The request to forward, without the failed entries; `None` when every entry failed.
    pub forward: Option<Value>,
    /// For each entry of the original request, in order: the error it gets, or `None` when it
    /// is forwarded.
    failed: Vec<Option<Value>>,
    service: Service,
}

impl Split {
    /// Entries failed by the proxy.
    pub fn injected(&self) -> usize {
        self.failed.iter().filter(|f| f.is_some()).count()
    }
}

/// Takes a share of the entries out of a batch request. `None` when the call is not a batch
/// call, the body is not what the service sends, or no entry was chosen.
pub fn split_entries(
    service: Service,
    action: &str,
    request: &[u8],
    plan: &Plan,
    rng: &mut impl Rng,
) -> Option<Split> {
    entries_key(service, action)?;
    if plan.entry_share <= 0.0 {
        return None;
    }
    let body: Value = serde_json::from_slice(request).ok()?;
    split_by(service, action, body, |entry| {
        random_entry_fault(service, plan, entry, rng)
    })
}

/// The error an entry gets from the plan's share of entry faults, or `None` when the dice spare
/// it.
pub fn random_entry_fault(
    service: Service,
    plan: &Plan,
    entry: &Value,
    rng: &mut impl Rng,
) -> Option<Value> {
    (plan.entry_share > 0.0 && rng.gen_bool(plan.entry_share.clamp(0.0, 1.0)))
        .then(|| entry_error(service, plan.entry_fault, entry, rng))
}

/// Takes out of a batch request the entries `fail` answers an error for (in the service's
/// vocabulary for a failed entry), keeping the others in order. This one machinery serves every
/// reason to fail an entry: the plan's random share, and the shard limits of the production
/// profile. `None` when the call is not a batch call, the body is not what the service sends,
/// or no entry failed.
pub fn split_by(
    service: Service,
    action: &str,
    mut body: Value,
    mut fail: impl FnMut(&Value) -> Option<Value>,
) -> Option<Split> {
    let key = entries_key(service, action)?;
    let entries = body.get_mut(key)?.as_array_mut()?;
    let mut failed = Vec::with_capacity(entries.len());
    let mut kept = Vec::with_capacity(entries.len());
    for entry in entries.drain(..) {
        match fail(&entry) {
            Some(error) => failed.push(Some(error)),
            None => {
                failed.push(None);
                kept.push(entry);
            }
        }
    }
    if failed.iter().all(Option::is_none) {
        return None;
    }
    let forward = if kept.is_empty() {
        None
    } else {
        *entries = kept;
        Some(body)
    };
    Some(Split {
        forward,
        failed,
        service,
    })
}

fn entry_error(service: Service, fault: EntryFault, entry: &Value, rng: &mut impl Rng) -> Value {
    let internal = match fault {
        EntryFault::Throughput => false,
        EntryFault::Internal => true,
        EntryFault::Mixed => rng.gen_bool(0.5),
    };
    match service {
        Service::Kinesis => json!({
            "ErrorCode": if internal { "InternalFailure" } else { "ProvisionedThroughputExceededException" },
            "ErrorMessage": "injected by the fault proxy",
        }),
        Service::Sqs => json!({
            "Id": entry.get("Id").cloned().unwrap_or(Value::Null),
            "SenderFault": false,
            "Code": if internal { "InternalError" } else { "RequestThrottled" },
            "Message": "injected by the fault proxy",
        }),
    }
}

/// The answer to the original request: the emulator's answer to the forwarded part (`None`
/// when nothing was forwarded) merged with the injected failures, entries in request order.
/// `None` when the emulator's answer is not what the service sends.
pub fn merge(split: &Split, answer: Option<&[u8]>) -> Option<Value> {
    let answer: Value = match answer {
        Some(bytes) => serde_json::from_slice(bytes).ok()?,
        None => json!({}),
    };
    match split.service {
        Service::Kinesis => {
            let empty = Vec::new();
            let mut forwarded = answer
                .get("Records")
                .and_then(Value::as_array)
                .unwrap_or(&empty)
                .iter();
            let mut records = Vec::with_capacity(split.failed.len());
            for failed in &split.failed {
                match failed {
                    Some(error) => records.push(error.clone()),
                    None => records.push(forwarded.next()?.clone()),
                }
            }
            let failed_count = records
                .iter()
                .filter(|r| r.get("ErrorCode").is_some())
                .count();
            let mut out = answer.clone();
            let obj = out.as_object_mut()?;
            obj.insert("Records".to_owned(), Value::Array(records));
            obj.insert("FailedRecordCount".to_owned(), json!(failed_count));
            Some(out)
        }
        Service::Sqs => {
            let successful = answer
                .get("Successful")
                .cloned()
                .unwrap_or_else(|| json!([]));
            let mut failed: Vec<Value> = answer
                .get("Failed")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            failed.extend(split.failed.iter().flatten().cloned());
            Some(json!({"Successful": successful, "Failed": failed}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn plan(share: f64) -> Plan {
        Plan {
            entry_share: share,
            ..Plan::default()
        }
    }

    #[test]
    fn targets_name_service_and_action() {
        assert_eq!(
            target("Kinesis_20131202.PutRecords"),
            Some((Service::Kinesis, "PutRecords"))
        );
        assert_eq!(
            target("AmazonSQS.ReceiveMessage"),
            Some((Service::Sqs, "ReceiveMessage"))
        );
        assert_eq!(target("Other.Thing"), None);
        assert_eq!(target("nodot"), None);
    }

    #[test]
    fn failed_records_are_not_forwarded_and_answers_keep_request_order() {
        let request = json!({"StreamName": "s", "Records": (0..100)
            .map(|i| json!({"Data": i.to_string(), "PartitionKey": "k"}))
            .collect::<Vec<_>>()});
        let bytes = serde_json::to_vec(&request).unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let split =
            split_entries(Service::Kinesis, "PutRecords", &bytes, &plan(0.2), &mut rng).unwrap();
        let forward = split.forward.clone().unwrap();
        let sent: Vec<&str> = forward["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Data"].as_str().unwrap())
            .collect();
        assert_eq!(sent.len() + split.injected(), 100);
        assert!(split.injected() > 5 && split.injected() < 40);
        // The emulator answers the forwarded records in order; sequence numbers name the data.
        let answer = json!({"FailedRecordCount": 0, "Records": sent.iter()
            .map(|d| json!({"SequenceNumber": d, "ShardId": "shardId-0"}))
            .collect::<Vec<_>>()});
        let merged = merge(&split, Some(&serde_json::to_vec(&answer).unwrap())).unwrap();
        let records = merged["Records"].as_array().unwrap();
        assert_eq!(records.len(), 100);
        assert_eq!(merged["FailedRecordCount"], json!(split.injected()));
        for (i, r) in records.iter().enumerate() {
            if let Some(seq) = r["SequenceNumber"].as_str() {
                assert_eq!(
                    seq,
                    i.to_string(),
                    "answer {i} belongs to request entry {i}"
                );
            } else {
                assert_eq!(r["ErrorCode"], "ProvisionedThroughputExceededException");
            }
        }
    }

    #[test]
    fn a_batch_failed_whole_is_answered_without_forwarding() {
        let request = json!({"QueueUrl": "q", "Entries": [{"Id": "0", "ReceiptHandle": "a"},
            {"Id": "1", "ReceiptHandle": "b"}]});
        let bytes = serde_json::to_vec(&request).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut p = plan(1.0);
        p.entry_fault = EntryFault::Internal;
        let split =
            split_entries(Service::Sqs, "DeleteMessageBatch", &bytes, &p, &mut rng).unwrap();
        assert!(split.forward.is_none());
        let merged = merge(&split, None).unwrap();
        assert_eq!(merged["Successful"], json!([]));
        let ids: Vec<&str> = merged["Failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["Id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["0", "1"]);
        assert_eq!(merged["Failed"][0]["Code"], "InternalError");
    }

    #[test]
    fn other_calls_and_zero_shares_are_left_alone() {
        let mut rng = SmallRng::seed_from_u64(1);
        let body = br#"{"QueueUrl":"q","MaxNumberOfMessages":10}"#;
        assert!(
            split_entries(Service::Sqs, "ReceiveMessage", body, &plan(1.0), &mut rng).is_none()
        );
        let records = br#"{"Records":[{"Data":"AA==","PartitionKey":"k"}]}"#;
        assert!(split_entries(
            Service::Kinesis,
            "PutRecords",
            records,
            &plan(0.0),
            &mut rng
        )
        .is_none());
        assert!(split_entries(
            Service::Kinesis,
            "PutRecords",
            b"not json",
            &plan(1.0),
            &mut rng
        )
        .is_none());
    }

    #[test]
    fn whole_request_errors_use_each_service_vocabulary() {
        let (status, body) = request_error(Service::Kinesis, RequestFault::Throttling);
        assert_eq!(status, 400);
        assert_eq!(body["__type"], "ProvisionedThroughputExceededException");
        let (status, _) = request_error(Service::Sqs, RequestFault::Unavailable);
        assert_eq!(status, 503);
        assert_eq!(request_error(Service::Sqs, RequestFault::Internal).0, 500);
    }
}
