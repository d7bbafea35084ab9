//! SigV4 checks at the proxy: a request signed right passes; one altered after signing (its body
//! or a signed header), or signed with a key the proxy does not know, is refused as AWS refuses
//! it, and never reaches the emulator.

use aws_sdk_kinesis::config::Credentials;
use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use telemetry_aws::Clients;
use telemetry_localenv::emulators;
use telemetry_localenv::profile::Profile;
use telemetry_localenv::proxy::Proxy;
use telemetry_localenv::signature::SignatureCheck;

use crate::support::{record, Kinesis, NOWHERE};

/// Changes a request after the SDK signed it, as a middleware or a proxy on the way might.
#[derive(Debug)]
struct Tamper(fn(&mut HttpRequest));

impl Intercept for Tamper {
    fn name(&self) -> &'static str {
        "Tamper"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        (self.0)(context.request_mut());
        Ok(())
    }
}

/// The body with one byte changed (same length, so Content-Length still holds).
fn alter_body(request: &mut HttpRequest) {
    let mut bytes = request.body().bytes().expect("an in-memory body").to_vec();
    let last = bytes
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .expect("a letter");
    bytes[last] = if bytes[last] == b'a' { b'b' } else { b'a' };
    *request.body_mut() = SdkBody::from(bytes);
}

/// A header the signature covers, changed.
fn alter_signed_header(request: &mut HttpRequest) {
    let authorization = request
        .headers()
        .get("authorization")
        .expect("signed")
        .to_owned();
    assert!(
        authorization.contains("SignedHeaders=") && authorization.contains("content-type"),
        "content-type is signed: {authorization}"
    );
    request
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
}

/// The call was refused by the proxy with HTTP 403 and `code` (as the SDK reads it).
fn assert_refused<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, code: &str) {
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(err.code(), Some(code));
}

fn signature_checked() -> Profile {
    Profile {
        signatures: Some(SignatureCheck::test_credentials()),
        ..Profile::emulator()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinesis_refuses_requests_altered_after_signing() {
    let k = Kinesis::start(1).await;
    let proxy = Proxy::builder(k.emulator.addr)
        .profile(signature_checked())
        .start()
        .await
        .expect("proxy");
    let clients = Clients::for_endpoints(NOWHERE, &proxy.url()).await;
    let kinesis = &clients.kinesis;

    // Signed right, with the test credentials: passes.
    kinesis
        .list_streams()
        .send()
        .await
        .expect("a signed call passes");
    kinesis
        .put_records()
        .stream_name(&k.stream)
        .records(record("k", b"signed".to_vec()))
        .send()
        .await
        .expect("a signed PutRecords passes");
    assert_eq!(proxy.injected().bad_signatures, 0);
    let forwarded = proxy.injected().forwarded;

    let tampered = |f: fn(&mut HttpRequest)| {
        aws_sdk_kinesis::Client::from_conf(
            kinesis.config().to_builder().interceptor(Tamper(f)).build(),
        )
    };
    let err = tampered(alter_body)
        .put_records()
        .stream_name(&k.stream)
        .records(record("k", b"altered".to_vec()))
        .send()
        .await
        .expect_err("an altered body is refused");
    assert_refused(&err, "InvalidSignatureException");
    assert!(err.message().unwrap_or_default().starts_with(
        "The request signature we calculated does not match the signature you provided."
    ));

    let err = tampered(alter_signed_header)
        .list_streams()
        .send()
        .await
        .expect_err("an altered signed header is refused");
    assert_refused(&err, "InvalidSignatureException");

    let stranger = aws_sdk_kinesis::Client::from_conf(
        kinesis
            .config()
            .to_builder()
            .credentials_provider(Credentials::new("stranger", "secret", None, None, "test"))
            .build(),
    );
    let err = stranger
        .list_streams()
        .send()
        .await
        .expect_err("an unknown key is refused");
    assert_refused(&err, "UnrecognizedClientException");

    assert_eq!(proxy.injected().bad_signatures, 3);
    assert_eq!(
        proxy.injected().forwarded,
        forwarded,
        "no refused request reached the emulator"
    );
    let stored: Vec<Vec<u8>> = k.records().await.into_iter().map(|(_, d)| d).collect();
    assert_eq!(stored, vec![b"signed".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_refuses_requests_altered_after_signing_in_its_own_vocabulary() {
    let moto = tokio::task::spawn_blocking(emulators::moto)
        .await
        .expect("spawn")
        .expect("moto: run scripts/install-emulators.sh");
    let proxy = Proxy::builder(moto.addr)
        .profile(signature_checked())
        .start()
        .await
        .expect("proxy");
    let clients = Clients::for_endpoints(&proxy.url(), NOWHERE).await;
    let sqs = &clients.sqs;
    sqs.create_queue()
        .queue_name("signed")
        .send()
        .await
        .expect("a signed call passes");

    let tampered = aws_sdk_sqs::Client::from_conf(
        sqs.config()
            .to_builder()
            .interceptor(Tamper(alter_body))
            .build(),
    );
    let err = tampered
        .create_queue()
        .queue_name("altered")
        .send()
        .await
        .expect_err("an altered body is refused");
    // SQS's JSON protocol answers com.amazon.coral.service#InvalidSignatureException; the SDK
    // reads the code after the '#'.
    assert_refused(&err, "InvalidSignatureException");
    assert!(proxy.injected().bad_signatures >= 1);
    let queues = clients.sqs.list_queues().send().await.expect("ListQueues");
    let urls = queues.queue_urls();
    assert!(urls.iter().any(|u| u.ends_with("/signed")));
    assert!(
        !urls.iter().any(|u| u.ends_with("/altered")),
        "the refused CreateQueue never reached moto"
    );
}
