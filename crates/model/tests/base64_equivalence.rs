//! The body decoder (`base64-simd`, for speed) accepts exactly what the `base64` crate's strict
//! standard engine accepts, and decodes it to the same bytes: padding required, the standard
//! alphabet only, no whitespace, and no stray bits after the last byte.

use base64::Engine as _;
use proptest::prelude::*;
use telemetry_model::{DropReason, Submission};

/// What the strict `base64` engine makes of `body`.
fn reference(body: &[u8]) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// What the decoder `Submission::decode` uses makes of it.
fn ours(body: &[u8]) -> Option<Vec<u8>> {
    base64_simd::STANDARD.decode_to_vec(body).ok()
}

/// Whether `Submission::decode` itself takes `body` as base64 (any later finding, not JSON and
/// so on, means it did): the test of the decoder as the collector calls it.
fn taken_as_base64(body: &[u8]) -> bool {
    Submission::decode(body).map_or_else(|e| e.reason != DropReason::BadBase64, |_| true)
}

/// Bodies near valid base64: valid encodings of arbitrary bytes, then a few bytes changed to
/// characters from the standard and URL-safe alphabets, padding, whitespace and junk.
fn near_base64() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop::sample::select(b"AQgw+/=-_ \n\r\t!\x00\xff".to_vec()),
        ),
        0..3,
    );
    (
        prop::collection::vec(any::<u8>(), 0..200),
        edits,
        any::<u8>(),
    )
        .prop_map(|(bytes, edits, cut)| {
            let mut body = base64::engine::general_purpose::STANDARD
                .encode(&bytes)
                .into_bytes();
            if !body.is_empty() {
                for (at, b) in edits {
                    let i = at.index(body.len());
                    body[i] = b;
                }
                if cut % 7 == 0 {
                    body.truncate(body.len() - 1);
                }
            }
            body
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn near_valid_bodies_decode_alike(body in near_base64()) {
        prop_assert_eq!(ours(&body), reference(&body));
        prop_assert_eq!(taken_as_base64(&body), reference(&body).is_some());
    }

    #[test]
    fn arbitrary_bytes_decode_alike(body in prop::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(ours(&body), reference(&body));
        prop_assert_eq!(taken_as_base64(&body), reference(&body).is_some());
    }
}

#[test]
fn stray_bits_after_the_last_byte_are_refused_as_the_reference_refuses_them() {
    // "QQ==" is "A"; "QR==" carries bits after it, which a strict decoder refuses.
    for body in [
        &b"QR=="[..],
        b"QUF=",
        b"QQ",
        b"QQ=",
        b"Q===",
        b"QQ==QQ==",
        b" QQ==",
    ] {
        assert_eq!(reference(body), None, "{body:?}");
        assert_eq!(ours(body), None, "{body:?}");
        let refused = Submission::decode(body).expect_err("bad base64");
        assert_eq!(refused.reason, DropReason::BadBase64, "{body:?}");
    }
}
