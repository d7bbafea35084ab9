//! HTTP: kept-alive HTTP/1.1 connections (hyper 1, hyper-util's pooled client) over rustls,
//! set up as the SDK's default HTTPS client sets up its own:
//!
//! - trust: the platform's roots through `rustls-native-certs` (which honours `SSL_CERT_FILE`
//!   and `SSL_CERT_DIR`), the SDK's `NATIVE_ROOTS`; no bundled roots;
//! - crypto: rustls on aws-lc-rs, the SDK's default, restricted to the cipher suites the SDK
//!   allows (TLS 1.3 AES-GCM; TLS 1.2 ECDHE with AES-GCM or ChaCha20-Poly1305);
//! - TCP_NODELAY on, connect timeout 3 s, no proxy (the SDK's default client uses none either),
//!   idle connections kept 90 s (hyper-util's default, which the SDK keeps);
//! - an attempt timeout around the whole exchange, as the SDK's `operation_attempt_timeout`
//!   (30 s for SQS, room for a 20 s long poll; 10 s for Kinesis), and no retries: every
//!   failure returns to the caller, whose loops already back off.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::failure::{CallError, SetupError};

/// The SDK path's connect timeout (`telemetry_aws::clients`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// An answer with its status, the error headers AWS JSON uses, and the whole body.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `x-amzn-errortype`, when present.
    pub error_type: Option<HeaderValue>,
    /// `x-amzn-query-error` (SQS), when present.
    pub query_error: Option<HeaderValue>,
    /// `date`: the service's clock, for clock skew.
    pub date: Option<HeaderValue>,
    /// Whether an `age` header says a cache answered (its `date` is then stale).
    pub from_cache: bool,
    /// The body.
    pub body: Bytes,
}

/// A pool of connections to AWS, with one attempt timeout.
#[derive(Debug, Clone)]
pub struct Transport {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    attempt_timeout: Duration,
}

impl Transport {
    /// Connections that give up on an exchange after `attempt_timeout`.
    pub fn new(attempt_timeout: Duration) -> Result<Self, SetupError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            // The pool's idle timer needs a timer to run.
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Transport {
            client,
            attempt_timeout,
        })
    }

    /// Sends `request` and reads the whole answer, within the attempt timeout.
    pub async fn send(&self, request: http::Request<Full<Bytes>>) -> Result<Answer, CallError> {
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                if is_timeout(&e) {
                    CallError::timeout()
                } else {
                    CallError::connection()
                }
            })?;
            let (parts, body) = response.into_parts();
            // A body cut off midway is a lost answer, like a dropped connection.
            let body = body
                .collect()
                .await
                .map_err(|_| CallError::connection())?
                .to_bytes();
            Ok(Answer {
                status: parts.status.as_u16(),
                error_type: parts.headers.get("x-amzn-errortype").cloned(),
                query_error: parts.headers.get("x-amzn-query-error").cloned(),
                date: parts.headers.get(http::header::DATE).cloned(),
                from_cache: parts.headers.contains_key(http::header::AGE),
                body,
            })
        };
        tokio::time::timeout(self.attempt_timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(CallError::timeout()))
    }
}

/// The system's trusted roots, read once per process: both services' transports trust the
/// same, and reading them (every file of `SSL_CERT_DIR`, PEM parsing) is most of a start's CPU.
fn native_roots() -> rustls::RootCertStore {
    static ROOTS: OnceLock<rustls::RootCertStore> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            // Unreadable certificates are skipped, as the SDK skips them; with no root at all
            // every TLS handshake fails, which the first call reports.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            roots
        })
        .clone()
}

/// A connect timeout shows as an I/O `TimedOut` somewhere in the error's chain.
fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        source = err.source();
    }
    false
}

/// The SDK's rustls settings: native roots, aws-lc-rs, its cipher suites.
fn tls_config() -> Result<rustls::ClientConfig, SetupError> {
    let base = rustls::crypto::aws_lc_rs::default_provider();
    let allowed = [
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        rustls::CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];
    let cipher_suites = allowed
        .iter()
        .filter_map(|wanted| {
            base.cipher_suites
                .iter()
                .find(|s| s.suite() == *wanted)
                .copied()
        })
        .collect();
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites,
        ..base
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| SetupError::Tls(e.to_string()))?
        .with_root_certificates(native_roots())
        .with_no_client_auth();
    Ok(config)
}
