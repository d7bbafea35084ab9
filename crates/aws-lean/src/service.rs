//! One AWS JSON-protocol service: where its calls go, how they are signed and sent, and the
//! request buffers they are written into.
//!
//! A call is `POST /` with the body in `content-type: application/x-amz-json-1.x` and the
//! operation in `x-amz-target`; the answer is JSON, or an AWS JSON error
//! ([`crate::failure`]).

use std::sync::Mutex;

use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http_body_util::Full;

use crate::clock_skew::ClockSkew;
use crate::endpoint::Endpoint;
use crate::failure::{self, CallError, FailureKind};
use crate::identity::Identities;
use crate::signing::Signer;
use crate::transport::Transport;

/// Request buffers kept for reuse: a call takes one, writes its request into it, and gives it
/// back when the answer is in (when nothing else holds the bytes any more). As many as the
/// collector has calls of one service in flight by default (8 PutRecords, 16 delete batches).
const KEPT_BUFFERS: usize = 16;
/// A buffer larger than this is freed rather than kept, so that the pool stays under 16 MiB
/// per service: a PutRecords of 500 fleet-shaped records is about 260 KiB; a rare larger one
/// (a request can reach 5 MiB of data, 6.7 MiB in base64) allocates its own.
const MAX_KEPT_CAPACITY: usize = 1024 * 1024;

/// A service's endpoint, signer, credentials and connections.
#[derive(Debug)]
pub(crate) struct Service {
    endpoint: Endpoint,
    content_type: HeaderValue,
    content_type_str: &'static str,
    /// Headers of the protocol sent (and signed) with every call, after `x-amz-target` in
    /// canonical order: SQS' `x-amzn-query-mode: true`.
    protocol_headers: &'static [(&'static str, &'static str)],
    signer: Signer,
    identities: Identities,
    transport: Transport,
    buffers: Mutex<Vec<Vec<u8>>>,
    /// The clock signatures are dated by; the SDK configuration's, so tests can fix it.
    clock: aws_smithy_async::time::SharedTimeSource,
    /// The service's clock against ours, from its answers.
    skew: ClockSkew,
}

impl Service {
    pub(crate) fn new(
        endpoint: Endpoint,
        content_type: &'static str,
        protocol_headers: &'static [(&'static str, &'static str)],
        identities: Identities,
        transport: Transport,
        clock: aws_smithy_async::time::SharedTimeSource,
        skew: ClockSkew,
    ) -> Self {
        let signer = Signer::new(&endpoint.signing_region, &endpoint.signing_name);
        Service {
            endpoint,
            content_type: HeaderValue::from_static(content_type),
            content_type_str: content_type,
            protocol_headers,
            signer,
            identities,
            transport,
            buffers: Mutex::new(Vec::new()),
            clock,
            skew,
        }
    }

    /// An empty buffer with room for at least `capacity` bytes, reused when one is kept.
    pub(crate) fn buffer(&self, capacity: usize) -> Vec<u8> {
        let kept = self.buffers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buf = kept.unwrap_or_default();
        buf.clear();
        buf.reserve(capacity);
        buf
    }

    fn keep(&self, body: Bytes) {
        // Only a buffer nothing else holds comes back: hyper has dropped its copy by the time
        // the answer is read, so this is the usual case.
        if let Ok(buf) = body.try_into_mut() {
            if buf.capacity() > MAX_KEPT_CAPACITY {
                return;
            }
            let mut kept = self.buffers.lock().unwrap_or_else(|e| e.into_inner());
            if kept.len() < KEPT_BUFFERS {
                kept.push(Vec::from(buf));
            }
        }
    }

    /// The request for `target` with `body`, signed: what [`Service::call`] sends.
    pub(crate) async fn request(
        &self,
        target: &'static str,
        body: Bytes,
    ) -> Result<http::Request<Full<Bytes>>, CallError> {
        let credentials = self
            .identities
            .credentials()
            .await
            // The SDK reports a credentials failure as a dispatch failure: `connection`.
            .map_err(|_| CallError::new(FailureKind::NotSent, "connection"))?;
        let length = itoa::Buffer::new().format(body.len()).to_owned();
        let mut signed: Vec<(&str, &str)> = Vec::with_capacity(4 + self.protocol_headers.len());
        signed.extend([
            ("content-length", length.as_str()),
            ("content-type", self.content_type_str),
            ("host", self.endpoint.host.as_str()),
            ("x-amz-target", target),
        ]);
        signed.extend_from_slice(self.protocol_headers);
        let signature = self.signer.sign(
            &credentials,
            self.skew.apply(self.clock.now()),
            &signed,
            &body,
        );
        let mut request = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.endpoint.uri.clone())
            .header(HOST, &self.endpoint.host)
            .header(CONTENT_TYPE, self.content_type.clone())
            .header(CONTENT_LENGTH, length)
            .header("x-amz-target", HeaderValue::from_static(target))
            .header("x-amz-date", signature.amz_date)
            .header(AUTHORIZATION, signature.authorization);
        for &(name, value) in self.protocol_headers {
            request = request.header(name, HeaderValue::from_static(value));
        }
        if let Some(token) = signature.security_token {
            request = request.header("x-amz-security-token", token);
        }
        // Every value above is ASCII we made or a credential; a token with bytes a header
        // cannot carry fails here, as a request that cannot be built.
        request
            .body(Full::new(body))
            .map_err(|_| CallError::new(FailureKind::NotSent, "construction"))
    }

    /// Signs and sends `body` to `target`; the body of a 2xx answer, else the call's failure.
    pub(crate) async fn call(
        &self,
        target: &'static str,
        body: Vec<u8>,
    ) -> Result<Bytes, CallError> {
        let body = Bytes::from(body);
        let request = self.request(target, body.clone()).await?;
        let sent = self.clock.now();
        let answer = self.transport.send(request).await;
        self.keep(body);
        let answer = answer?;
        self.skew.observe(
            sent,
            self.clock.now(),
            answer.date.as_ref().and_then(|v| v.to_str().ok()),
            answer.from_cache,
        );
        if (200..300).contains(&answer.status) {
            Ok(answer.body)
        } else {
            Err(failure::from_answer(
                answer.status,
                answer.error_type.as_ref().and_then(|v| v.to_str().ok()),
                answer.query_error.as_ref().and_then(|v| v.to_str().ok()),
                &answer.body,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn service() -> Service {
        service_at("https://sqs.us-east-1.amazonaws.com").await
    }

    async fn service_at(endpoint_url: &str) -> Service {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .region(aws_types::region::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKID", "secret", None, None, "test",
            ))
            .load()
            .await;
        Service::new(
            crate::endpoint::sqs(&sdk).await.unwrap(),
            crate::sqs::CONTENT_TYPE,
            crate::sqs::PROTOCOL_HEADERS,
            Identities::from_sdk_config(&sdk).unwrap(),
            Transport::new(std::time::Duration::from_secs(1)).unwrap(),
            sdk.time_source().unwrap(),
            ClockSkew::new(true),
        )
    }

    #[tokio::test]
    async fn a_request_buffer_is_used_again_once_nothing_holds_it() {
        let service = service().await;
        let mut first = service.buffer(4096);
        first.extend_from_slice(b"{}");
        let allocation = first.as_ptr();
        let body = Bytes::from(first);
        let request = service
            .request("AmazonSQS.ReceiveMessage", body.clone())
            .await;
        // While the request still holds the bytes, they are not taken back.
        service.keep(body.clone());
        let other = service.buffer(16);
        assert_ne!(other.as_ptr(), allocation);
        drop(request);
        service.keep(body);
        let again = service.buffer(16);
        assert_eq!(again.as_ptr(), allocation);
        assert!(again.is_empty() && again.capacity() >= 4096);

        // A buffer too large to keep is freed.
        drop(again);
        let large = Bytes::from(service.buffer(MAX_KEPT_CAPACITY + 1));
        service.keep(large);
        assert!(service.buffers.lock().unwrap().is_empty());
    }

    /// A server that answers every request with `{}` and a `Date` an hour ahead.
    async fn an_hour_ahead() -> std::net::SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut chunk = [0u8; 4096];
            // One request with a two-byte body: the end of the headers, then two bytes.
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") || !seen.ends_with(b"{}") {
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the request ended early");
                seen.extend_from_slice(&chunk[..n]);
            }
            let date = aws_smithy_types::DateTime::from(
                std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
            )
            .fmt(aws_smithy_types::date_time::Format::HttpDate)
            .unwrap();
            let answer =
                format!("HTTP/1.1 200 OK\r\ndate: {date}\r\ncontent-length: 2\r\n\r\n{{}}");
            stream.write_all(answer.as_bytes()).await.unwrap();
            // Hold the connection open until the client is done with it.
            let _ = stream.read(&mut chunk).await;
        });
        addr
    }

    #[tokio::test]
    async fn requests_after_an_answer_are_dated_by_the_services_clock() {
        let service = service_at(&format!("http://{}", an_hour_ahead().await)).await;
        let before = service
            .request("AmazonSQS.ReceiveMessage", Bytes::from_static(b"{}"))
            .await
            .unwrap();
        service
            .call("AmazonSQS.ReceiveMessage", b"{}".to_vec())
            .await
            .unwrap();
        let after = service
            .request("AmazonSQS.ReceiveMessage", Bytes::from_static(b"{}"))
            .await
            .unwrap();
        let dated = |r: &http::Request<Full<Bytes>>| {
            let text = r.headers()["x-amz-date"].to_str().unwrap().to_owned();
            chrono::NaiveDateTime::parse_from_str(&text, "%Y%m%dT%H%M%SZ")
                .unwrap()
                .and_utc()
                .timestamp()
        };
        let moved = dated(&after) - dated(&before);
        assert!((3590..=3610).contains(&moved), "moved by {moved} s");
    }
}
