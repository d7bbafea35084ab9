//! Proof that AWS would accept the lean requests: no emulator checks signatures, so each lean
//! request is compared, byte for byte, with the request the SDK itself makes for the same
//! input, credentials (with and without a session token) and clock: the same URL, body,
//! signed headers and `Authorization`.
//!
//! The SDK also signs three headers of its own bookkeeping (`amz-sdk-invocation-id`, a random
//! id; `amz-sdk-request`; `x-amz-user-agent`) that the lean client does not send; an
//! interceptor removes them before the SDK signs, so both requests list the same headers.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_smithy_async::time::StaticTimeSource;
use aws_smithy_http_client::test_util::capture_request;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::region::Region;
use aws_types::SdkConfig;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use telemetry_aws_lean::{BatchEntry, LeanClients, Receive, Record};

/// Headers both requests must carry with equal values: every header the lean client signs,
/// and the signature itself.
const COMPARED: [&str; 7] = [
    "authorization",
    "content-length",
    "content-type",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-target",
    "x-amzn-query-mode",
];

/// 2024-02-29T23:59:58Z: a leap day, a second before a date change.
fn clock() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_709_251_198)
}

fn credentials(with_token: bool) -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        with_token
            .then(|| "IQoJb3JpZ2luX2VjEPT//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+token=".to_owned()),
        None,
        "parity",
    )
}

async fn sdk_config(with_token: bool, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials(with_token))
        .time_source(StaticTimeSource::new(clock()))
        .load()
        .await
}

#[derive(Debug)]
struct WithoutSdkBookkeeping;

impl Intercept for WithoutSdkBookkeeping {
    fn name(&self) -> &'static str {
        "WithoutSdkBookkeeping"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let headers = context.request_mut().headers_mut();
        for name in [
            "amz-sdk-invocation-id",
            "amz-sdk-request",
            "x-amz-user-agent",
        ] {
            headers.remove(name);
        }
        Ok(())
    }
}

/// What is compared of a request: URL, the compared headers, body.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    uri: String,
    headers: Vec<(String, Option<String>)>,
    body: String,
}

fn seen_sdk(request: &HttpRequest) -> Seen {
    Seen {
        uri: request.uri().to_string(),
        headers: COMPARED
            .iter()
            .map(|&name| {
                (
                    name.to_owned(),
                    request.headers().get(name).map(str::to_owned),
                )
            })
            .collect(),
        body: String::from_utf8(request.body().bytes().expect("in memory").to_vec()).unwrap(),
    }
}

async fn seen_lean(request: http::Request<Full<Bytes>>) -> Seen {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Seen {
        uri: parts.uri.to_string(),
        headers: COMPARED
            .iter()
            .map(|&name| {
                (
                    name.to_owned(),
                    parts
                        .headers
                        .get(name)
                        .map(|v| v.to_str().unwrap().to_owned()),
                )
            })
            .collect(),
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn kinesis_sdk(
    sdk: &SdkConfig,
) -> (
    aws_sdk_kinesis::Client,
    aws_smithy_http_client::test_util::CaptureRequestReceiver,
) {
    let (http, captured) = capture_request(None);
    let config = aws_sdk_kinesis::config::Builder::from(sdk)
        .http_client(http)
        .interceptor(WithoutSdkBookkeeping)
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .build();
    (aws_sdk_kinesis::Client::from_conf(config), captured)
}

fn sqs_sdk(
    sdk: &SdkConfig,
) -> (
    aws_sdk_sqs::Client,
    aws_smithy_http_client::test_util::CaptureRequestReceiver,
) {
    let (http, captured) = capture_request(None);
    let config = aws_sdk_sqs::config::Builder::from(sdk)
        .http_client(http)
        .interceptor(WithoutSdkBookkeeping)
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        .build();
    (aws_sdk_sqs::Client::from_conf(config), captured)
}

/// Fleet-like records, and the awkward cases: empty data, every byte value, a key that needs
/// escaping.
fn records() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "6f1b2c3d-0000-4000-8000-000000000001".to_owned(),
            br#"{"event_id":"e","type":"new_process","type_specific_data":{"cmdl":"calc.exe","user":"john"}}"#.to_vec(),
        ),
        ("key \"quoted\"\n".to_owned(), Vec::new()),
        ("k".to_owned(), (0..=255u8).collect()),
    ]
}

#[tokio::test]
async fn put_records_is_the_sdks_request() {
    for with_token in [false, true] {
        let sdk = sdk_config(with_token, "eu-west-1").await;
        let records = records();
        let (client, captured) = kinesis_sdk(&sdk);
        let entries = records
            .iter()
            .map(|(key, data)| {
                aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                    .partition_key(key)
                    .data(aws_sdk_kinesis::primitives::Blob::new(data.clone()))
                    .build()
                    .unwrap()
            })
            .collect();
        let _ = client
            .put_records()
            .stream_name("events-stream")
            .set_records(Some(entries))
            .send()
            .await;
        let sdk_request = seen_sdk(&captured.expect_request());

        let lean = LeanClients::from_sdk_config(&sdk).await.unwrap();
        let borrowed: Vec<Record<'_>> = records
            .iter()
            .map(|(key, data)| Record {
                partition_key: key,
                data,
            })
            .collect();
        let lean_request = lean
            .kinesis
            .put_records_request("events-stream", &borrowed)
            .await
            .unwrap();
        assert_eq!(
            seen_lean(lean_request).await,
            sdk_request,
            "token: {with_token}"
        );
        assert_eq!(
            sdk_request.headers[4].1.is_some(),
            with_token,
            "the session token is sent exactly when there is one"
        );
    }
}

#[tokio::test]
async fn receive_message_is_the_sdks_request() {
    for with_token in [false, true] {
        let sdk = sdk_config(with_token, "us-east-1").await;
        let queue_url = "https://sqs.us-east-1.amazonaws.com/123456789012/submissions";
        let (client, captured) = sqs_sdk(&sdk);
        let _ = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            )
            .wait_time_seconds(20)
            .visibility_timeout(30)
            .send()
            .await;
        let sdk_request = seen_sdk(&captured.expect_request());

        let lean = LeanClients::from_sdk_config(&sdk).await.unwrap();
        let lean_request = lean
            .sqs
            .receive_request(Receive {
                queue_url,
                max_messages: 10,
                visibility_timeout_secs: 30,
                wait_time_secs: 20,
            })
            .await
            .unwrap();
        assert_eq!(
            seen_lean(lean_request).await,
            sdk_request,
            "token: {with_token}"
        );
    }
}

const RECEIPTS: [&str; 2] = [
    "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a+/=",
    "AQEBzbVv+ycX\"odd\"/Jk1gR0pRx8mEJFQgUfL==",
];

/// The SDK's DeleteMessageBatch (no timeout) or ChangeMessageVisibilityBatch request for
/// [`RECEIPTS`], ids `0`, `1`, ...
async fn sdk_batch_request(sdk: &SdkConfig, queue_url: &str, secs: Option<i32>) -> Seen {
    let (client, captured) = sqs_sdk(sdk);
    let numbered = RECEIPTS
        .iter()
        .enumerate()
        .map(|(i, r)| (i.to_string(), *r));
    let _ = match secs {
        None => client
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(
                numbered
                    .map(|(id, r)| {
                        aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                            .id(id)
                            .receipt_handle(r)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Some(secs) => client
            .change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(
                numbered
                    .map(|(id, r)| {
                        aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                            .id(id)
                            .receipt_handle(r)
                            .visibility_timeout(secs)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
    };
    seen_sdk(&captured.expect_request())
}

#[tokio::test]
async fn delete_and_change_visibility_batches_are_the_sdks_requests() {
    for (with_token, secs, region) in [
        (false, None, "us-east-1"),
        (true, None, "eu-central-1"),
        (false, Some(0), "ap-southeast-2"),
        (true, Some(43_200), "us-west-2"),
    ] {
        let sdk = sdk_config(with_token, region).await;
        let queue_url = format!("https://sqs.{region}.amazonaws.com/123456789012/submissions");
        let sdk_request = sdk_batch_request(&sdk, &queue_url, secs).await;

        let lean = LeanClients::from_sdk_config(&sdk).await.unwrap();
        let ids: Vec<String> = (0..RECEIPTS.len()).map(|i| i.to_string()).collect();
        let entries: Vec<BatchEntry<'_>> = ids
            .iter()
            .zip(RECEIPTS)
            .map(|(id, receipt_handle)| BatchEntry { id, receipt_handle })
            .collect();
        let lean_request = lean
            .sqs
            .batch_request(&queue_url, &entries, secs)
            .await
            .unwrap();
        assert_eq!(
            seen_lean(lean_request).await,
            sdk_request,
            "token: {with_token}, visibility: {secs:?}"
        );
    }
}

#[tokio::test]
async fn fips_dual_stack_endpoints_are_signed_as_the_sdk_signs_them() {
    let sdk = sdk_config(true, "us-east-1")
        .await
        .to_builder()
        .use_fips(true)
        .use_dual_stack(true)
        .build();
    let (client, captured) = kinesis_sdk(&sdk);
    let entry = aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
        .partition_key("k")
        .data(aws_sdk_kinesis::primitives::Blob::new(b"x".to_vec()))
        .build()
        .unwrap();
    let _ = client
        .put_records()
        .stream_name("s")
        .records(entry)
        .send()
        .await;
    let sdk_request = seen_sdk(&captured.expect_request());
    let lean = LeanClients::from_sdk_config(&sdk).await.unwrap();
    let lean_request = lean
        .kinesis
        .put_records_request(
            "s",
            &[Record {
                partition_key: "k",
                data: b"x",
            }],
        )
        .await
        .unwrap();
    assert_eq!(seen_lean(lean_request).await, sdk_request);
    assert!(sdk_request.uri.contains("fips"), "{}", sdk_request.uri);
}
