//! The per-service endpoint variables, read by `aws_config` from the real environment: this
//! file is its own test binary, so setting variables here touches no other test.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use aws_config::BehaviorVersion;
use aws_smithy_http_client::test_util::capture_request;
use telemetry_aws_lean::endpoint;

#[tokio::test]
async fn aws_endpoint_url_per_service_wins_over_the_global_one() {
    std::env::set_var("AWS_REGION", "eu-west-1");
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKID");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret");
    std::env::set_var("AWS_ENDPOINT_URL", "http://127.0.0.1:1111");
    std::env::set_var("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:2222");
    std::env::remove_var("AWS_ENDPOINT_URL_SQS");
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let kinesis = endpoint::kinesis(&sdk).await.unwrap();
    let sqs = endpoint::sqs(&sdk).await.unwrap();
    assert_eq!(kinesis.host, "127.0.0.1:2222");
    assert_eq!(sqs.host, "127.0.0.1:1111");
    assert_eq!(kinesis.signing_region, "eu-west-1");

    // The same choice as the SDK's own clients make from the same configuration.
    let (http, captured) = capture_request(None);
    let client = aws_sdk_kinesis::Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(&sdk)
            .http_client(http)
            .build(),
    );
    let _ = client.list_streams().send().await;
    assert_eq!(captured.expect_request().uri(), kinesis.uri.to_string());
    let (http, captured) = capture_request(None);
    let client = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .http_client(http)
            .build(),
    );
    let _ = client.list_queues().send().await;
    assert_eq!(captured.expect_request().uri(), sqs.uri.to_string());
}
