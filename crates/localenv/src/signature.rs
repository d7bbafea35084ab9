//! SigV4 signature checks, as AWS makes them: the proxy recomputes each request's signature from
//! its method, path, signed headers and body with the secret key of the access key it names
//! (the known test credentials), using the `aws-sigv4` crate's signer (the one the SDK signs
//! with), and refuses a request whose signature differs, whose credential scope names another
//! service or day, or whose `X-Amz-Date` is more than 15 minutes away from now. The emulators
//! check nothing; production does, and a request altered after signing (by a buggy middleware,
//! or a retry that changed the body) fails there, so it fails here. The proxy checks the calls
//! of the AWS JSON protocol (those with an `X-Amz-Target`, every call the SDKs make to SQS and
//! Kinesis); anything else passes unchecked.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::date_time::{DateTime, Format};
use hyper::HeaderMap;
use serde_json::{json, Value};

use crate::faults::Service;

/// The access key id of the test credentials (`telemetry_aws::Clients::for_endpoints` signs
/// with them, and `run-local` gives them to the processes it starts).
pub const TEST_ACCESS_KEY_ID: &str = "test";
/// The secret access key of the test credentials.
pub const TEST_SECRET_ACCESS_KEY: &str = "test";

/// How far a request's `X-Amz-Date` may be from the proxy's clock, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The credentials the proxy knows: access key id to secret access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    keys: BTreeMap<String, String>,
}

impl SignatureCheck {
    /// Knows the test credentials ([`TEST_ACCESS_KEY_ID`], [`TEST_SECRET_ACCESS_KEY`]).
    pub fn test_credentials() -> SignatureCheck {
        SignatureCheck {
            keys: BTreeMap::new(),
        }
        .with_key(TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY)
    }

    /// Knows another access key too.
    #[must_use]
    pub fn with_key(mut self, access_key_id: &str, secret_access_key: &str) -> SignatureCheck {
        self.keys
            .insert(access_key_id.to_owned(), secret_access_key.to_owned());
        self
    }

    /// Checks the signature of a request to `service` made of `method`, `path_and_query`,
    /// `headers` and `body`, at `now`.
    pub fn verify(
        &self,
        service: Service,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), Refusal> {
        let Some(authorization) = headers.get("authorization") else {
            return Err(Refusal::Missing);
        };
        let auth = Authorization::parse(authorization.to_str().map_err(|_| incomplete())?)?;
        let secret = self
            .keys
            .get(auth.access_key_id)
            .ok_or(Refusal::UnknownKey)?;
        let expected_service = match service {
            Service::Kinesis => "kinesis",
            Service::Sqs => "sqs",
        };
        if auth.service != expected_service {
            return Err(Refusal::Incomplete(format!(
                "Credential should be scoped to correct service: '{expected_service}'."
            )));
        }
        let amz_date = headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(incomplete)?;
        let signed_at = parse_amz_date(amz_date).ok_or_else(incomplete)?;
        if !amz_date.starts_with(auth.date) {
            return Err(Refusal::Incomplete(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                auth.date,
                amz_date.get(..8).unwrap_or(amz_date)
            )));
        }
        let skew = match now.duration_since(signed_at) {
            Ok(past) => past,
            Err(future) => future.duration(),
        };
        if skew > MAX_SKEW {
            return Err(Refusal::Expired(amz_date.to_owned()));
        }

        let host = headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(incomplete)?;
        let uri = format!("https://{host}{path_and_query}");
        // The signer takes the host from the URI when no host header is signed: make sure there
        // is one to take.
        let parsed: hyper::Uri = uri.parse().map_err(|_| incomplete())?;
        if parsed.host().is_none() {
            return Err(incomplete());
        }
        let mut signed = Vec::new();
        for name in auth.signed_headers.split(';') {
            let mut values = headers.get_all(name).iter().peekable();
            if values.peek().is_none() {
                return Err(Refusal::Mismatch);
            }
            for value in values {
                signed.push((name, value.to_str().map_err(|_| Refusal::Mismatch)?));
            }
        }
        let request = SignableRequest::new(
            method,
            uri.as_str(),
            signed.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|_| incomplete())?;
        let identity: Identity =
            Credentials::new(auth.access_key_id, secret, None, None, "telemetry-localenv").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(auth.region)
            .name(auth.service)
            .time(signed_at)
            .settings(SigningSettings::default())
            .build()
            .map_err(|_| incomplete())?
            .into();
        let (_, signature) = sign(request, &params)
            .map_err(|_| Refusal::Mismatch)?
            .into_parts();
        if signature == auth.signature {
            Ok(())
        } else {
            Err(Refusal::Mismatch)
        }
    }
}

/// Signs `request` (whose body is `body`) for `service_name` with the test credentials, as the
/// SDK does: for the proxy's own calls to the emulator (kinesalite wants an `Authorization`
/// header, though it checks none). `false` when it could not be signed.
pub(crate) fn sign_with_test_credentials<B>(
    request: &mut hyper::Request<B>,
    service_name: &str,
    body: &[u8],
) -> bool {
    let identity: Identity = Credentials::new(
        TEST_ACCESS_KEY_ID,
        TEST_SECRET_ACCESS_KEY,
        None,
        None,
        "telemetry-localenv",
    )
    .into();
    let Ok(params) = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(service_name)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
    else {
        return false;
    };
    let params = params.into();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
    let uri = request.uri().to_string();
    let Ok(signable) = SignableRequest::new(
        request.method().as_str(),
        uri.as_str(),
        headers,
        SignableBody::Bytes(body),
    ) else {
        return false;
    };
    let Ok(signed) = sign(signable, &params) else {
        return false;
    };
    let (instructions, _) = signed.into_parts();
    instructions.apply_to_request_http1x(request);
    true
}

/// Why a request's signature was refused; the message is AWS's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No `Authorization` header.
    #[error("Missing Authentication Token")]
    Missing,
    /// An `Authorization` header that is not a SigV4 one, or a request without what it signs.
    #[error("{0}")]
    Incomplete(String),
    /// An access key the proxy does not know.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// The signature differs from the one recomputed.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    Mismatch,
    /// Signed more than 15 minutes away from now.
    #[error("Signature expired: {0} is now earlier or later than 15 min. from the server's time")]
    Expired(String),
}

impl Refusal {
    /// The HTTP status and AWS JSON error body AWS answers with. SQS's JSON protocol prefixes
    /// its front door's error types with `com.amazon.coral.service#` (an SQS JSON request signed
    /// with a wrong secret gets HTTP 403 and `com.amazon.coral.service#InvalidSignatureException`);
    /// Kinesis names them bare. The SDK reads the part after `#`.
    pub fn answer(&self, service: Service) -> (u16, Value) {
        let (status, kind) = match self {
            Refusal::Missing => (403, "MissingAuthenticationTokenException"),
            Refusal::Incomplete(_) => (400, "IncompleteSignatureException"),
            Refusal::UnknownKey => (403, "UnrecognizedClientException"),
            Refusal::Mismatch | Refusal::Expired(_) => (403, "InvalidSignatureException"),
        };
        let kind = match service {
            Service::Kinesis => kind.to_owned(),
            Service::Sqs => format!("com.amazon.coral.service#{kind}"),
        };
        (status, json!({"__type": kind, "message": self.to_string()}))
    }
}

fn incomplete() -> Refusal {
    Refusal::Incomplete(
        "Authorization header requires 'Credential', 'Signature', 'SignedHeaders' and an X-Amz-Date header.".to_owned(),
    )
}

/// The parts of an `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request,
/// SignedHeaders=host;x-amz-date, Signature=hex` header.
#[derive(Debug, PartialEq, Eq)]
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(header: &'a str) -> Result<Authorization<'a>, Refusal> {
        let rest = header
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or_else(incomplete)?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed_headers = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {}
            }
        }
        let mut scope = credential.ok_or_else(incomplete)?.split('/');
        let mut next = || {
            scope
                .next()
                .filter(|s| !s.is_empty())
                .ok_or_else(incomplete)
        };
        let (access_key_id, date, region, service) = (next()?, next()?, next()?, next()?);
        if next()? != "aws4_request" {
            return Err(incomplete());
        }
        Ok(Authorization {
            access_key_id,
            date,
            region,
            service,
            signed_headers: signed_headers.ok_or_else(incomplete)?,
            signature: signature.ok_or_else(incomplete)?,
        })
    }
}

/// `20240102T030405Z` as a time.
fn parse_amz_date(basic: &str) -> Option<SystemTime> {
    let b = basic.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' || !digits(0..8) || !digits(9..15) {
        return None;
    }
    let extended = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &basic[0..4],
        &basic[4..6],
        &basic[6..8],
        &basic[9..11],
        &basic[11..13],
        &basic[13..15]
    );
    let time = DateTime::from_str(&extended, Format::DateTime).ok()?;
    SystemTime::try_from(time).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers_are_read_part_by_part() {
        let a = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=test/20240102/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(
            a,
            Authorization {
                access_key_id: "test",
                date: "20240102",
                region: "us-east-1",
                service: "kinesis",
                signed_headers: "host;x-amz-date",
                signature: "abc",
            }
        );
        for bad in [
            "Basic abc",
            "AWS4-HMAC-SHA256 Credential=test/20240102/us-east-1/kinesis, SignedHeaders=host, Signature=a",
            "AWS4-HMAC-SHA256 Credential=test/20240102/us-east-1/kinesis/aws4_request, Signature=a",
            "AWS4-HMAC-SHA256 Credential=//us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=a",
        ] {
            assert!(
                matches!(Authorization::parse(bad), Err(Refusal::Incomplete(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn amz_dates_are_read_in_their_basic_form() {
        let t = parse_amz_date("20240102T030405Z").unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_704_164_645);
        for bad in [
            "2024-01-02T03:04:05Z",
            "20240102T030405",
            "2024010xT030405Z",
            "20241302T030405Z",
            "20240102T030405Zé",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    fn signed(body: &'static [u8]) -> hyper::Request<&'static [u8]> {
        let mut request = hyper::Request::post("http://127.0.0.1:4567/")
            .header("host", "127.0.0.1:4567")
            .header("x-amz-target", "Kinesis_20131202.ListStreams")
            .header("content-type", "application/x-amz-json-1.1")
            .body(body)
            .unwrap();
        assert!(sign_with_test_credentials(&mut request, "kinesis", body));
        request
    }

    fn check(request: &hyper::Request<&[u8]>, body: &[u8], now: SystemTime) -> Result<(), Refusal> {
        SignatureCheck::test_credentials().verify(
            Service::Kinesis,
            "POST",
            "/",
            request.headers(),
            body,
            now,
        )
    }

    #[test]
    fn a_request_passes_as_signed_and_fails_once_altered() {
        let request = signed(b"{}");
        let now = SystemTime::now();
        assert_eq!(check(&request, b"{}", now), Ok(()));
        assert_eq!(check(&request, b"{ }", now), Err(Refusal::Mismatch));
        let mut altered = signed(b"{}");
        altered.headers_mut().insert(
            "x-amz-target",
            "Kinesis_20131202.DeleteStream".parse().unwrap(),
        );
        assert_eq!(check(&altered, b"{}", now), Err(Refusal::Mismatch));
        let mut unsigned = signed(b"{}");
        unsigned.headers_mut().remove("authorization");
        assert_eq!(check(&unsigned, b"{}", now), Err(Refusal::Missing));
        let later = now + Duration::from_secs(16 * 60);
        assert!(matches!(
            check(&request, b"{}", later),
            Err(Refusal::Expired(_))
        ));
        assert_eq!(
            SignatureCheck::test_credentials().verify(
                Service::Sqs,
                "POST",
                "/",
                request.headers(),
                b"{}",
                now
            ),
            Err(Refusal::Incomplete(
                "Credential should be scoped to correct service: 'sqs'.".to_owned()
            ))
        );
        let strangers = SignatureCheck {
            keys: BTreeMap::new(),
        }
        .with_key("other", "secret");
        assert_eq!(
            strangers.verify(Service::Kinesis, "POST", "/", request.headers(), b"{}", now),
            Err(Refusal::UnknownKey)
        );
    }

    #[test]
    fn sqs_names_its_front_door_errors_with_the_coral_prefix() {
        let (status, body) = Refusal::Mismatch.answer(Service::Sqs);
        assert_eq!(status, 403);
        assert_eq!(
            body["__type"],
            "com.amazon.coral.service#InvalidSignatureException"
        );
        let (status, body) = Refusal::Mismatch.answer(Service::Kinesis);
        assert_eq!(status, 403);
        assert_eq!(body["__type"], "InvalidSignatureException");
        assert!(body["message"].as_str().unwrap().starts_with(
            "The request signature we calculated does not match the signature you provided."
        ));
    }
}
