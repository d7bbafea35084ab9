//! SigV4 for a JSON-protocol call: `POST /` with a fixed set of headers.
//!
//! The cryptography is the SDK's own signer crate, `aws-sigv4`: [`generate_signing_key`] and
//! [`calculate_signature`]. What this module adds is the canonical request of the one request
//! shape the lean client sends, written straight into a buffer, and a signing key kept for its
//! day, region, service and secret (the SDK derives it again, four HMACs, on every request).
//! The body is hashed once, here. Tests compare the `Authorization` it produces with the SDK's
//! for the same request, credentials and clock, and run the `post-*` vectors of the SigV4 test
//! suite that `aws-sigv4` ships.
//!
//! The signed headers are exactly those the lean client sends, in canonical (sorted) order:
//! `content-length`, `content-type`, `host`, `x-amz-date`, `x-amz-security-token` (with
//! temporary credentials), `x-amz-target`, and for SQS `x-amzn-query-mode`. Their values are
//! never padded with spaces, so the canonical form (trimmed values) is the value itself. The
//! SDK signs these and three more of its own bookkeeping (`amz-sdk-invocation-id`,
//! `amz-sdk-request`, `x-amz-user-agent`), which the lean client does not send: AWS verifies
//! whatever `SignedHeaders` lists.

use std::sync::Mutex;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use chrono::{DateTime, Datelike, Timelike, Utc};
use sha2::{Digest, Sha256};

/// The signature algorithm, as it appears in the string to sign and the header.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The headers signing adds to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `x-amz-date`: `20150830T123600Z`.
    pub amz_date: String,
    /// `authorization`.
    pub authorization: String,
    /// `x-amz-security-token`, with temporary credentials.
    pub security_token: Option<String>,
}

/// Signs requests for one region and service, keeping the day's signing key.
#[derive(Debug)]
pub struct Signer {
    region: String,
    service: String,
    key: Mutex<Option<CachedKey>>,
}

#[derive(Debug)]
struct CachedKey {
    /// `YYYYMMDD`.
    date: [u8; 8],
    access_key_id: String,
    secret: String,
    key: Vec<u8>,
}

impl Signer {
    /// A signer for `service` (the signing name: `kinesis`, `sqs`) in `region`.
    pub fn new(region: &str, service: &str) -> Self {
        Signer {
            region: region.to_owned(),
            service: service.to_owned(),
            key: Mutex::new(None),
        }
    }

    /// Signs `POST /` (no query) with `headers` and `body`, at `time`, with `credentials`.
    ///
    /// `headers` are the request's headers to sign, but `x-amz-date` and
    /// `x-amz-security-token`, which signing adds: lower-case names, sorted, values without
    /// surrounding or repeated spaces (their canonical form). The lean client signs
    /// `content-length`, `content-type`, `host` and `x-amz-target`.
    pub fn sign(
        &self,
        credentials: &Credentials,
        time: SystemTime,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Signature {
        debug_assert!(
            headers.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted headers"
        );
        let amz_date = amz_date(time);
        let date = &amz_date[..8];
        let token = credentials.session_token();
        let added = [
            Some(("x-amz-date", amz_date.as_str())),
            token.map(|t| ("x-amz-security-token", t)),
        ];
        let mut added = added.into_iter().flatten().peekable();
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 2);
        for &header in headers {
            while let Some(a) = added.next_if(|a| a.0 < header.0) {
                all.push(a);
            }
            all.push(header);
        }
        all.extend(added);

        let mut signed_headers = String::with_capacity(all.iter().map(|h| h.0.len() + 1).sum());
        let mut canonical = Vec::with_capacity(
            64 + all.iter().map(|h| h.0.len() + h.1.len() + 2).sum::<usize>() * 2,
        );
        canonical.extend_from_slice(b"POST\n/\n\n");
        for (name, value) in &all {
            canonical.extend_from_slice(name.as_bytes());
            canonical.push(b':');
            canonical.extend_from_slice(value.as_bytes());
            canonical.push(b'\n');
            if !signed_headers.is_empty() {
                signed_headers.push(';');
            }
            signed_headers.push_str(name);
        }
        canonical.push(b'\n');
        canonical.extend_from_slice(signed_headers.as_bytes());
        canonical.push(b'\n');
        // The body is hashed once, here.
        canonical.extend_from_slice(&hex(&Sha256::digest(body)));

        let scope = format!("{date}/{}/{}/aws4_request", self.region, self.service);
        let mut string_to_sign = Vec::with_capacity(ALGORITHM.len() + 100 + scope.len());
        string_to_sign.extend_from_slice(ALGORITHM.as_bytes());
        string_to_sign.push(b'\n');
        string_to_sign.extend_from_slice(amz_date.as_bytes());
        string_to_sign.push(b'\n');
        string_to_sign.extend_from_slice(scope.as_bytes());
        string_to_sign.push(b'\n');
        string_to_sign.extend_from_slice(&hex(&Sha256::digest(&canonical)));

        let signature = self.with_key(credentials, time, date, |key| {
            calculate_signature(key, &string_to_sign)
        });
        let authorization = format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            credentials.access_key_id()
        );
        Signature {
            amz_date,
            authorization,
            security_token: token.map(str::to_owned),
        }
    }

    /// Runs `f` with the signing key of `date` for these credentials, derived once a day (or
    /// when the credentials change).
    fn with_key<T>(
        &self,
        credentials: &Credentials,
        time: SystemTime,
        date: &str,
        f: impl FnOnce(&[u8]) -> T,
    ) -> T {
        // A poisoned lock only means another signing panicked; the key in it is still whole.
        let mut cached = self.key.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cached.as_ref().is_some_and(|c| {
            c.date == date.as_bytes()
                && c.access_key_id == credentials.access_key_id()
                && c.secret == credentials.secret_access_key()
        });
        if !fresh {
            let key = generate_signing_key(
                credentials.secret_access_key(),
                time,
                &self.region,
                &self.service,
            );
            let mut day = [0u8; 8];
            day.copy_from_slice(&date.as_bytes()[..8]);
            *cached = Some(CachedKey {
                date: day,
                access_key_id: credentials.access_key_id().to_owned(),
                secret: credentials.secret_access_key().to_owned(),
                key: key.as_ref().to_vec(),
            });
        }
        match cached.as_ref() {
            Some(c) => f(&c.key),
            // Just set above.
            None => f(&[]),
        }
    }
}

/// `time` as SigV4's `YYYYMMDD'T'HHMMSS'Z'`, in UTC.
pub fn amz_date(time: SystemTime) -> String {
    let t: DateTime<Utc> = time.into();
    let mut s = String::with_capacity(16);
    push_digits(&mut s, u32::try_from(t.year()).unwrap_or(0), 4);
    push_digits(&mut s, t.month(), 2);
    push_digits(&mut s, t.day(), 2);
    s.push('T');
    push_digits(&mut s, t.hour(), 2);
    push_digits(&mut s, t.minute(), 2);
    push_digits(&mut s, t.second(), 2);
    s.push('Z');
    s
}

/// The last `width` decimal digits of `n`, zero-padded.
fn push_digits(s: &mut String, n: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (n / 10u32.pow(place)) % 10;
        s.push(char::from_digit(digit, 10).unwrap_or('0'));
    }
}

/// Lower-case hex of a digest.
fn hex(bytes: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xF)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn amz_date_is_utc_and_zero_padded() {
        // 2015-08-30T12:36:00Z, the time of the SigV4 test suite.
        let t = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(t), "20150830T123600Z");
        assert_eq!(
            amz_date(UNIX_EPOCH + Duration::from_secs(61)),
            "19700101T000101Z"
        );
    }

    #[test]
    fn the_key_is_derived_again_for_a_new_day_or_new_credentials() {
        let signer = Signer::new("us-east-1", "kinesis");
        let creds = Credentials::new("AKID", "secret", None, None, "test");
        let headers = [
            ("content-length", "2"),
            ("content-type", "application/x-amz-json-1.1"),
            ("host", "kinesis.us-east-1.amazonaws.com"),
            ("x-amz-target", "Kinesis_20131202.PutRecords"),
        ];
        let day1 = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let day2 = day1 + Duration::from_secs(86_400);
        // The same request signed by a fresh signer (no cached key) and a warm one agree,
        // across a day change and a credentials change.
        for (creds, time) in [
            (creds.clone(), day1),
            (creds.clone(), day1 + Duration::from_secs(5)),
            (creds.clone(), day2),
            (
                Credentials::new("AKID", "rotated", None, None, "test"),
                day2,
            ),
        ] {
            let warm = signer.sign(&creds, time, &headers, b"{}");
            let cold = Signer::new("us-east-1", "kinesis").sign(&creds, time, &headers, b"{}");
            assert_eq!(warm, cold);
        }
    }
}
