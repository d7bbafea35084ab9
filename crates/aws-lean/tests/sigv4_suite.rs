//! The `post-*` SigV4 test vectors shipped with `aws-sigv4`, signed by the lean signer: each
//! `Authorization` must be the suite's (see `tests/sigv4-vectors/README.md`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use aws_credential_types::Credentials;
use telemetry_aws_lean::signing::Signer;

#[derive(serde::Deserialize)]
struct Context {
    credentials: ContextCredentials,
    region: String,
    service: String,
    timestamp: String,
}

#[derive(serde::Deserialize)]
struct ContextCredentials {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
}

/// The request's headers as the signer takes them: lower-case names, trimmed values, sorted;
/// and its body.
fn request(text: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = head.lines();
    assert_eq!(
        lines.next(),
        Some("POST / HTTP/1.1"),
        "the signer signs POST / only"
    );
    let mut headers: Vec<(String, String)> = lines
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap();
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    headers.sort();
    (headers, body.as_bytes().to_vec())
}

#[test]
fn the_post_vectors_sign_as_the_suite_expects() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4-vectors");
    let mut checked = 0;
    for case in std::fs::read_dir(&dir).unwrap() {
        let case = case.unwrap().path();
        if !case.is_dir() {
            continue;
        }
        let read = |name: &str| std::fs::read_to_string(case.join(name)).unwrap();
        let context: Context = serde_json::from_str(&read("context.json")).unwrap();
        let time: chrono::DateTime<chrono::Utc> = context.timestamp.parse().unwrap();
        let credentials = Credentials::new(
            context.credentials.access_key_id,
            context.credentials.secret_access_key,
            context.credentials.token,
            None,
            "suite",
        );
        let (headers, body) = request(&read("request.txt"));
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let signature = Signer::new(&context.region, &context.service).sign(
            &credentials,
            time.into(),
            &headers,
            &body,
        );
        let expected = read("header-signed-request.txt");
        let authorization = expected
            .lines()
            .find_map(|l| l.strip_prefix("Authorization:"))
            .unwrap();
        assert_eq!(signature.authorization, authorization, "{}", case.display());
        assert!(expected.contains(&format!("X-Amz-Date:{}", signature.amz_date)));
        checked += 1;
    }
    assert_eq!(checked, 5, "every vector copied is checked");
}
