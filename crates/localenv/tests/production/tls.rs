//! TLS trusted the standard way: the processes of the project build their clients with
//! `telemetry_aws::Clients::from_env`, the AWS SDK's default HTTPS client (hyper 1, rustls 0.23),
//! whose roots come from rustls-native-certs, which reads `SSL_CERT_FILE`. A child process (this
//! test binary again, running the ignored test below) given `SSL_CERT_FILE=<the CA file>` talks
//! HTTPS to production-shaped proxies (TLS, round-trip time, shard limits, signature checks);
//! the same child without it fails with a certificate error. A child process, because the SDK
//! reads the roots once per process.

use std::path::Path;
use std::process::{Command, Output};

use aws_smithy_types::error::display::DisplayErrorContext;
use telemetry_aws::Clients;
use telemetry_localenv::emulators;
use telemetry_localenv::faults::Service;
use telemetry_localenv::proxy::Proxy;
use telemetry_localenv::signature::{TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};
use telemetry_localenv::tls::Ca;

use crate::support::{record, Kinesis};

const CHILD: &str = "tls::child_calls_the_proxies_with_the_clients_every_binary_builds";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_trust_the_proxy_through_ssl_cert_file() {
    let k = Kinesis::start(1).await;
    let moto = tokio::task::spawn_blocking(emulators::moto)
        .await
        .expect("spawn")
        .expect("moto: run scripts/install-emulators.sh");
    let cert_file =
        std::env::temp_dir().join(format!("localenv-ca-{}.pem", uuid::Uuid::new_v4().simple()));
    let ca = Ca::generate(&cert_file).expect("a CA");
    let kinesis = Proxy::production(k.emulator.addr, Service::Kinesis, &ca)
        .await
        .expect("kinesis proxy");
    let sqs = Proxy::production(moto.addr, Service::Sqs, &ca)
        .await
        .expect("sqs proxy");
    assert!(kinesis.url().starts_with("https://127.0.0.1:"));

    let (sqs_url, kinesis_url, stream) = (sqs.url(), kinesis.url(), k.stream.clone());
    let child = move |cert: Option<&Path>| {
        let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
        cmd.args([
            "--exact",
            CHILD,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY)
        .env("AWS_ENDPOINT_URL_SQS", &sqs_url)
        .env("AWS_ENDPOINT_URL_KINESIS", &kinesis_url)
        .env("CHILD_STREAM", &stream);
        if let Some(cert) = cert {
            cmd.env("SSL_CERT_FILE", cert);
        }
        cmd.output().expect("run the child")
    };
    let said = |out: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };

    let trusted = tokio::task::spawn_blocking({
        let child = child.clone();
        let cert = ca.cert_file().to_owned();
        move || child(Some(&cert))
    })
    .await
    .expect("child");
    assert!(trusted.status.success(), "{}", said(&trusted));
    assert!(said(&trusted).contains("CHILD OK"), "{}", said(&trusted));
    assert_eq!(kinesis.injected().bad_signatures, 0);
    assert_eq!(sqs.injected().bad_signatures, 0);
    let stored: Vec<Vec<u8>> = k.records().await.into_iter().map(|(_, d)| d).collect();
    assert_eq!(stored, vec![b"over TLS".to_vec()]);

    let handshakes = kinesis.injected().failed_handshakes;
    let untrusted = tokio::task::spawn_blocking(move || child(None))
        .await
        .expect("child");
    assert!(!untrusted.status.success(), "{}", said(&untrusted));
    let said = said(&untrusted);
    assert!(said.contains("CHILD ERR"), "{said}");
    // "TLS handshake failed: invalid peer certificate: UnknownIssuer"
    assert!(
        said.contains("invalid peer certificate: UnknownIssuer"),
        "a certificate error: {said}"
    );
    assert!(kinesis.injected().failed_handshakes > handshakes);
    let _ = std::fs::remove_file(&cert_file);
}

/// Run by the test above, in a child process: one call to each service with the clients every
/// binary builds (from the environment), over HTTPS.
#[tokio::test]
#[ignore = "run in a child process by processes_trust_the_proxy_through_ssl_cert_file"]
async fn child_calls_the_proxies_with_the_clients_every_binary_builds() {
    let clients = Clients::from_env().await;
    let stream = std::env::var("CHILD_STREAM").expect("CHILD_STREAM");
    let put = clients
        .kinesis
        .put_records()
        .stream_name(&stream)
        .records(record("k", b"over TLS".to_vec()))
        .send()
        .await;
    let listed = match put {
        Ok(_) => clients.sqs.list_queues().send().await.map(|_| ()),
        Err(e) => {
            println!("CHILD ERR {}", DisplayErrorContext(&e));
            std::process::exit(1);
        }
    };
    match listed {
        Ok(()) => println!("CHILD OK"),
        Err(e) => {
            println!("CHILD ERR {}", DisplayErrorContext(&e));
            std::process::exit(1);
        }
    }
}
