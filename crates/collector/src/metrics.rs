//! `/metrics`: the counters of [`Stats`] and the state of [`Status`], read at each scrape and
//! written in the Prometheus exposition format (OpenMetrics text) by `prometheus-client`.
//!
//! Every name starts with `telemetry_collector_`. Label sets are bounded: `reason` (the
//! contract's drop reasons), `error_code` ([`PutFailure`]), `call` ([`SqsCall`]), `version`.
//! The counters are the same atomics the summary line reads, so the log and the metrics never
//! disagree.

use std::fmt::Error;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use telemetry_model::DropReason;

use crate::histogram::Histogram;
use crate::readiness::Status;
use crate::stats::{PutFailure, SqsCall, Stats};

/// The prefix of every metric name.
pub(crate) const PREFIX: &str = "telemetry_collector";

/// The content type of [`encode`]'s output.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reads the collector's state at each scrape.
#[derive(Debug)]
struct Exporter {
    stats: Arc<Stats>,
    status: Arc<Status>,
}

/// Every metric, in the exposition format.
pub(crate) fn encode(stats: &Arc<Stats>, status: &Arc<Status>) -> Result<String, Error> {
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register_collector(Box::new(Exporter {
        stats: Arc::clone(stats),
        status: Arc::clone(status),
    }));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}

fn counter(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    c: &AtomicU64,
) -> Result<(), Error> {
    let value = ConstCounter::new(c.load(Relaxed));
    value.encode(e.encode_descriptor(name, help, None, value.metric_type())?)
}

fn counters_by<'a>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &'static str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) -> Result<(), Error> {
    let mut family =
        e.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
    for (value, n) in values {
        ConstCounter::new(n).encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: u64) -> Result<(), Error> {
    let value = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    value.encode(e.encode_descriptor(name, help, None, value.metric_type())?)
}

fn histogram(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    h: &Histogram,
) -> Result<(), Error> {
    h.encode(e.encode_descriptor(name, help, None, h.metric_type())?)
}

impl Collector for Exporter {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), Error> {
        let s = &self.stats;
        let e = &mut e;
        counter(
            e,
            "messages_received",
            "Messages returned by ReceiveMessage.",
            &s.received,
        )?;
        counter(
            e,
            "receive_calls",
            "ReceiveMessage calls that succeeded.",
            &s.receive_calls,
        )?;
        counter(
            e,
            "submissions_valid",
            "Submissions that passed validation.",
            &s.valid,
        )?;
        counters_by(
            e,
            "submissions_dropped",
            "Broken submissions dropped, by the contract's reason.",
            "reason",
            DropReason::ALL
                .iter()
                .map(|r| (r.as_str(), s.dropped[r.index()].load(Relaxed))),
        )?;
        counter(
            e,
            "dead_lettered",
            "Dropped submissions kept by the dead-letter queue.",
            &s.dead_lettered,
        )?;
        counter(
            e,
            "dead_letter_failures",
            "Sends to the dead-letter queue that failed (retried).",
            &s.dead_letter_failures,
        )?;
        counter(
            e,
            "submissions_published",
            "Submissions whose every event has a sequence number.",
            &s.submissions_published,
        )?;
        counter(
            e,
            "events_published",
            "Events acknowledged by Kinesis.",
            &s.events_published,
        )?;
        counter(
            e,
            "put_records_requests",
            "PutRecords requests sent.",
            &s.put_requests,
        )?;
        counters_by(
            e,
            "put_records_failed_records",
            "Records that came back failed, by error code (request_failed: the whole request).",
            "error_code",
            PutFailure::ALL
                .iter()
                .zip(&s.put_failed_by_kind)
                .map(|(k, n)| (k.as_str(), n.load(Relaxed))),
        )?;
        counter(
            e,
            "put_records_retries",
            "Failed records sent again after their backoff.",
            &s.put_retries,
        )?;
        counter(
            e,
            "delete_batches",
            "DeleteMessageBatch calls sent.",
            &s.delete_calls,
        )?;
        counter(
            e,
            "messages_deleted",
            "Messages deleted from the queue.",
            &s.deleted,
        )?;
        counter(
            e,
            "delete_failed_entries",
            "Delete entries refused for good (the message comes back: a duplicate).",
            &s.delete_failed,
        )?;
        counter(
            e,
            "visibility_extensions",
            "Visibility extensions that succeeded.",
            &s.visibility_extended,
        )?;
        counter(
            e,
            "handed_back",
            "Messages handed back to the queue (visibility 0) at shutdown.",
            &s.handed_back,
        )?;
        counters_by(
            e,
            "sqs_call_failures",
            "SQS calls that failed as a whole (each retried), by call.",
            "call",
            SqsCall::ALL
                .iter()
                .zip(&s.sqs_call_failures_by_call)
                .map(|(c, n)| (c.as_str(), n.load(Relaxed))),
        )?;

        let (submissions, records) = self.status.held();
        let (max_submissions, max_records) = self.status.limits();
        gauge(
            e,
            "submissions_in_flight",
            "Messages held: received, not yet deleted or handed back.",
            submissions,
        )?;
        gauge(
            e,
            "records_in_flight",
            "Events of the held submissions.",
            records,
        )?;
        gauge(
            e,
            "submissions_in_flight_limit",
            "MAX_SUBMISSIONS_IN_FLIGHT.",
            max_submissions,
        )?;
        gauge(
            e,
            "records_in_flight_limit",
            "MAX_RECORDS_IN_FLIGHT.",
            max_records,
        )?;
        let p = &s.publisher;
        gauge(
            e,
            "put_records_requests_in_flight",
            "PutRecords requests in flight.",
            p.requests_in_flight.load(Relaxed),
        )?;
        gauge(
            e,
            "put_records_requests_limit",
            "The adaptive limit on PutRecords requests in flight (at most DATA_STREAM_MAX_REQUESTS_IN_FLIGHT).",
            p.requests_limit.load(Relaxed),
        )?;
        gauge(
            e,
            "stream_shards",
            "Open shards in the publisher's map of the stream.",
            p.shards.load(Relaxed),
        )?;
        gauge(
            e,
            "ready",
            "1 when /readyz answers 200.",
            u64::from(self.status.readiness().is_ok()),
        )?;
        let mut info = e.encode_descriptor(
            "build_info",
            "The collector's version.",
            None,
            ConstGauge::new(1i64).metric_type(),
        )?;
        ConstGauge::new(1i64)
            .encode(info.encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?)?;

        let h = &s.histograms;
        histogram(
            e,
            "receive_to_delete_seconds",
            "Seconds from receiving a message to deleting it.",
            &h.receive_to_delete,
        )?;
        histogram(
            e,
            "event_lag_seconds",
            "Seconds from SQS's SentTimestamp to time_processed, per valid submission.",
            &h.event_lag,
        )?;
        histogram(
            e,
            "submission_lag_seconds",
            "Seconds from SQS's SentTimestamp to the acknowledgement of the submission's last record, per valid submission.",
            &h.submission_lag,
        )?;
        histogram(
            e,
            "put_records_duration_seconds",
            "Seconds each PutRecords call took, answered or failed.",
            &h.put_records_seconds,
        )?;
        histogram(
            e,
            "shard_token_wait_seconds",
            "Seconds a record waited for its shard's write tokens (records that waited).",
            &h.token_wait_seconds,
        )?;
        histogram(
            e,
            "put_records_batch_records",
            "Records per PutRecords request.",
            &h.put_batch_records,
        )?;
        histogram(
            e,
            "receive_batch_messages",
            "Messages per successful ReceiveMessage call.",
            &h.receive_batch_messages,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_exposed_with_its_labels() {
        let stats = Arc::new(Stats::default());
        let status = Arc::new(Status::default());
        Stats::add(&stats.events_published, 7);
        stats.dropped(DropReason::BadIp);
        stats.put_failed(
            PutFailure::of_record("ProvisionedThroughputExceededException"),
            3,
        );
        stats.put_failed(PutFailure::Request, 2);
        stats.sqs_call_failed(SqsCall::Delete);
        stats.histograms.put_batch_records.observe(42.0);
        let text = encode(&stats, &status).expect("encodes");
        for line in [
            "telemetry_collector_events_published_total 7",
            "telemetry_collector_submissions_dropped_total{reason=\"bad_ip\"} 1",
            "telemetry_collector_put_records_failed_records_total{error_code=\"ProvisionedThroughputExceededException\"} 3",
            "telemetry_collector_put_records_failed_records_total{error_code=\"request_failed\"} 2",
            "telemetry_collector_sqs_call_failures_total{call=\"DeleteMessageBatch\"} 1",
            "telemetry_collector_put_records_batch_records_count 1",
            "telemetry_collector_put_records_batch_records_bucket{le=\"50.0\"} 1",
            "telemetry_collector_ready 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert_eq!(stats.snapshot().put_failed_records, 5);
        assert!(text.ends_with("# EOF\n"));
    }
}
