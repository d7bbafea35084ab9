//! SQS and Kinesis clients, built once per process.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kinesis::config::Credentials;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

/// The two clients a process needs, and the SDK configuration each was built from (with its
/// endpoint, when one was given in code), for clients built on the SDK's parts (the
/// collector's lean client) to resolve, sign and refresh exactly as these do.
#[derive(Debug, Clone)]
pub struct Clients {
    /// SQS, for submissions.
    pub sqs: aws_sdk_sqs::Client,
    /// Kinesis, for events.
    pub kinesis: aws_sdk_kinesis::Client,
    /// The configuration of the SQS client.
    pub sqs_config: SdkConfig,
    /// The configuration of the Kinesis client.
    pub kinesis_config: SdkConfig,
}

/// The longest SQS long-poll wait (20 s) plus room for the response.
const SQS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// A PutRecords of 5 MiB takes well under a second when Kinesis is healthy; an attempt that
/// hangs longer is abandoned and its records retried (a duplicate at worst, never a loss).
const KINESIS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl Clients {
    /// Clients from the standard chain: environment, profiles, web identity, instance roles,
    /// and the `AWS_ENDPOINT_URL*` variables. Credentials are never logged.
    pub async fn from_env() -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::from_sdk_config(&sdk)
    }

    /// Clients for emulators at explicit endpoints, with static test credentials.
    pub async fn for_endpoints(sqs_endpoint: &str, kinesis_endpoint: &str) -> Self {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "static"))
            .load()
            .await;
        let sqs_config = sdk.to_builder().endpoint_url(sqs_endpoint).build();
        let kinesis_config = sdk.to_builder().endpoint_url(kinesis_endpoint).build();
        Self::build(sqs_config, kinesis_config)
    }

    /// Clients from an already loaded SDK configuration.
    pub fn from_sdk_config(sdk: &SdkConfig) -> Self {
        Self::build(sdk.clone(), sdk.clone())
    }

    fn build(sqs_config: SdkConfig, kinesis_config: SdkConfig) -> Self {
        let sqs = aws_sdk_sqs::config::Builder::from(&sqs_config);
        let kinesis = aws_sdk_kinesis::config::Builder::from(&kinesis_config);
        let timeouts = |attempt| {
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(attempt)
                .build()
        };
        // SQS calls are retried by the SDK a few times (standard mode, with its retry quota);
        // the collector's loops back off around that. Kinesis is not retried by the SDK: the
        // publisher retries each record itself, because it must see every per-record result
        // to keep the order of a submission, and one policy is easier to reason about.
        let sqs = sqs
            .stalled_stream_protection(
                aws_sdk_sqs::config::StalledStreamProtectionConfig::disabled(),
            )
            .timeout_config(timeouts(SQS_ATTEMPT_TIMEOUT))
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .build();
        let kinesis = kinesis
            .stalled_stream_protection(
                aws_sdk_kinesis::config::StalledStreamProtectionConfig::disabled(),
            )
            .timeout_config(timeouts(KINESIS_ATTEMPT_TIMEOUT))
            .retry_config(RetryConfig::disabled())
            .build();
        Clients {
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            kinesis: aws_sdk_kinesis::Client::from_conf(kinesis),
            sqs_config,
            kinesis_config,
        }
    }
}
