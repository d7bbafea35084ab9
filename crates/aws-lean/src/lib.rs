//! A lean client for the collector's three hot AWS calls: Kinesis **PutRecords**, SQS
//! **ReceiveMessage**, and SQS **DeleteMessageBatch** / **ChangeMessageVisibilityBatch**
//! (which share their code). Everything else stays on the official SDK.
//!
//! # Why
//!
//! The collector spent about 9 µs of CPU per event, most of it in the SDK's per-request
//! machinery: its serializers and parsers build and walk a typed model of every request and
//! answer (a `PutRecordsRequestEntry` and a `Blob` copy per record), the orchestrator runs
//! its interceptors, and SigV4 derives the signing key again on every request. This crate
//! writes the same requests straight into a reused buffer and reads the answers with borrowed
//! deserialization. `benches/hot_calls.rs` measures both paths on whole calls to a local
//! server: the client's CPU per fleet-shaped event (8 per message; a PutRecords record, an
//! eighth of a ReceiveMessage and of a DeleteMessageBatch message) is 5.7 us through the SDK
//! and 1.5 to 1.8 us lean (two runs, shared machine). Of the lean PutRecords' 0.9 us per record,
//! about half is SigV4's SHA-256 of the body, which no client can skip.
//!
//! # What stays the SDK's
//!
//! - **Credentials**: the provider chain of the loaded `SdkConfig` *and its identity cache*
//!   ([`identity`]): environment, profiles, SSO, web identity and instance roles, refreshed
//!   as for the SDK's clients.
//! - **Endpoints**: resolved once at start by each SDK's own resolver from the same settings
//!   ([`endpoint`]): region, FIPS, dual-stack, `AWS_ENDPOINT_URL`,
//!   `AWS_ENDPOINT_URL_KINESIS`, `AWS_ENDPOINT_URL_SQS`.
//! - **Signing**: `aws-sigv4`'s key derivation and signature ([`signing`]), with the day's key
//!   kept; tests compare every call's `Authorization` with the SDK's, byte for byte. Signatures
//!   are dated by the service's clock as the SDK dates them: the skew its answers' `Date`
//!   shows is measured on every answer and applied to later requests.
//! - **The wire format**: the SDK's AWS JSON protocol (`x-amz-json-1.1` for Kinesis,
//!   `x-amz-json-1.0` for SQS), its request bodies byte for byte, its error codes.
//! - **Everything else**: every control-plane call (queue URL, stream description, shard
//!   listing, creating resources) goes through `telemetry_aws::Clients`.
//!
//! # The API
//!
//! [`LeanClients::from_sdk_config`] builds a [`Kinesis`] and an [`Sqs`] from a loaded
//! `aws_config::SdkConfig`, as `telemetry_aws::Clients::from_sdk_config` builds the SDK's:
//!
//! - [`Kinesis::put_records`] takes borrowed [`Record`]s (`&str` key, `&[u8]` data: a
//!   `telemetry_model::Records`' `data[i]` and `partition_key` as they are) and returns one
//!   [`RecordOutcome`] per record, in order, or a [`CallError`] for the whole request: what
//!   the collector's `RecordSink` returns (`Acked` / `Failed(code)`, `Err(code)`).
//! - [`Sqs::receive`] returns [`Message`]s (id, receipt handle, body, `SentTimestamp`);
//!   [`Sqs::delete_batch`] and [`Sqs::change_visibility_batch`] take [`BatchEntry`]s (id,
//!   receipt handle) and return one [`EntryOutcome`] per entry, in order: `Done`, `Refused`
//!   (sender fault: give up, as the deleter's `Deleted::Refused`) or `Retry`.
//! - A [`CallError`] carries the same short `code` as `telemetry_aws::error_code` (the service's
//!   code, `timeout`, `connection`, `http_<status>`, `response`) and a [`FailureKind`]:
//!   throttled, sender fault, server fault, lost answer, unreadable answer, not sent.
//!
//! [`Kinesis::put_records_request`], [`Sqs::receive_request`] and [`Sqs::batch_request`] give
//! the signed request a call would send, for the tests that compare it with the SDK's.
//!
//! The clients do not retry: every failure returns to the caller, whose loops already back
//! off (the SDK path retried SQS calls up to 3 attempts inside the call; Kinesis not at all).
//!
//! # Decisions
//!
//! - **Name**: `telemetry-aws-lean`, beside `telemetry-aws`: it is the same AWS plumbing,
//!   leaner, and the name says which calls to look for here and which there.
//! - **HTTP**: hyper 1 with hyper-util's pooled client, HTTP/1.1 kept alive, rustls with the
//!   SDK's roots (native, honouring `SSL_CERT_FILE`) and cipher suites, and the SDK path's
//!   timeouts: connect 3 s, attempt 10 s for Kinesis and 30 s for SQS ([`transport`]).
//! - **Signing**: the canonical request of the one shape sent (`POST /`, its six or seven
//!   headers) is written directly, the body hashed once, and `aws-sigv4`'s
//!   `calculate_signature` applied with a signing key derived by `generate_signing_key` once
//!   per day, region, service and secret. Measured (`-- sigv4/`): 2.0 us per request besides
//!   the payload hash, against 8.0 us for `aws_sigv4::http_request::sign` given the same hash
//!   (its generic canonical request, and the key derived again: 1.4 us). Hashing the body is
//!   the same SHA-256 either way (`sha2`, on the CPU's SHA extensions; aws-lc-rs' was no
//!   faster here) and dominates large requests: about 36 us for 40 KiB.
//! - **Buffers**: a request is written into a buffer sized for it up front, taken from a
//!   small pool and returned when the answer is in.
//! - **Base64**: `base64-simd`, the encoder the SDK itself uses, straight from the record's
//!   slice into the request.
//! - **CBOR**: not used. Kinesis also accepts `application/x-amz-cbor-1.1`, which would spare
//!   base64 (a quarter of the request's bytes, and the encoding); kinesalite speaks it too (its source
//!   handles that content type). It was not tried: the JSON protocol is what the SDK sends
//!   today and what the signature tests compare with byte for byte.

mod clock_skew;
pub mod endpoint;
pub mod failure;
pub mod identity;
mod json;
pub mod kinesis;
mod service;
pub mod signing;
pub mod sqs;
pub mod transport;

use std::time::Duration;

use aws_types::SdkConfig;

pub use failure::{CallError, FailureKind, SetupError};
pub use kinesis::{Kinesis, Record, RecordOutcome};
pub use sqs::{BatchEntry, EntryOutcome, Message, Receive, Sqs};

use clock_skew::ClockSkew;
use identity::Identities;
use service::Service;
use transport::Transport;

/// The SDK path's attempt timeout for SQS: the longest long poll (20 s) plus room for the
/// answer (`telemetry_aws::clients`).
pub const SQS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// The SDK path's attempt timeout for Kinesis: a 5 MiB PutRecords takes well under a second
/// when Kinesis is healthy (`telemetry_aws::clients`).
pub const KINESIS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The lean clients of one process.
#[derive(Debug, Clone)]
pub struct LeanClients {
    /// Kinesis PutRecords.
    pub kinesis: Kinesis,
    /// SQS receive, delete and change-visibility batches.
    pub sqs: Sqs,
}

impl LeanClients {
    /// Clients with the credentials, identity cache, region, endpoints and clock of `sdk`.
    pub async fn from_sdk_config(sdk: &SdkConfig) -> Result<Self, SetupError> {
        Self::from_sdk_configs(sdk, sdk).await
    }

    /// Clients for SQS from `sqs` and for Kinesis from `kinesis` (the same configuration but
    /// for an endpoint set in code on each, as `telemetry_aws::Clients::for_endpoints` does);
    /// the credentials, identity cache and clock are `sqs`'s.
    pub async fn from_sdk_configs(
        sqs: &SdkConfig,
        kinesis: &SdkConfig,
    ) -> Result<Self, SetupError> {
        let sdk = sqs;
        let identities = Identities::from_sdk_config(sdk)?;
        let clock = sdk
            .time_source()
            .ok_or(SetupError::Missing("a time source"))?;
        let skew_correction = sdk.disable_clock_skew_correction() != Some(true);
        let kinesis = Service::new(
            endpoint::kinesis(kinesis).await?,
            kinesis::CONTENT_TYPE,
            &[],
            identities.clone(),
            Transport::new(KINESIS_ATTEMPT_TIMEOUT)?,
            clock.clone(),
            ClockSkew::new(skew_correction),
        );
        let sqs = Service::new(
            endpoint::sqs(sqs).await?,
            sqs::CONTENT_TYPE,
            sqs::PROTOCOL_HEADERS,
            identities,
            Transport::new(SQS_ATTEMPT_TIMEOUT)?,
            clock,
            ClockSkew::new(skew_correction),
        );
        Ok(LeanClients {
            kinesis: Kinesis::new(kinesis),
            sqs: Sqs::new(sqs),
        })
    }
}
