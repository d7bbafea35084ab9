//! Writing JSON string values into a request buffer, escaped exactly as the SDK's serializer
//! (`aws-smithy-json`) escapes them, so that a lean request is byte for byte the SDK's; and
//! reading string values of an answer without copying them.

use std::borrow::Cow;

/// A string value of an answer, borrowed from the answer's bytes unless it had escapes.
///
/// serde borrows a `Cow<str>` field marked `#[serde(borrow)]`, but not one inside an `Option`
/// (serde-rs/serde#1497): `Option<Cow<str>>` copies every value. An `Option<Text>` borrows.
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Text<'a>(#[serde(borrow)] pub(crate) Cow<'a, str>);

/// Appends `s` as a JSON string literal, quotes included.
///
/// The SDK escapes `"`, `\`, `\b`, `\f`, `\n`, `\r`, `\t` by name and the other control
/// characters as `\u00xx` (lower-case hex); everything else, non-ASCII included, is copied.
pub(crate) fn string(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    // Queue URLs, ids, receipt handles and partition keys never need escaping: copy them whole.
    if is_plain(bytes) {
        buf.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                b'"' => buf.extend_from_slice(b"\\\""),
                b'\\' => buf.extend_from_slice(b"\\\\"),
                0x08 => buf.extend_from_slice(b"\\b"),
                0x0C => buf.extend_from_slice(b"\\f"),
                b'\n' => buf.extend_from_slice(b"\\n"),
                b'\r' => buf.extend_from_slice(b"\\r"),
                b'\t' => buf.extend_from_slice(b"\\t"),
                0..=0x1F => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    buf.extend_from_slice(b"\\u00");
                    buf.push(HEX[usize::from(b >> 4)]);
                    buf.push(HEX[usize::from(b & 0xF)]);
                }
                _ => buf.push(b),
            }
        }
    }
    buf.push(b'"');
}

/// The most bytes [`string`] writes for `s`: every byte escaped as `\u00xx`, plus quotes.
/// Used only when a string needs escaping; the plain case is `s.len() + 2`.
pub(crate) fn string_len_bound(s: &str) -> usize {
    if is_plain(s.as_bytes()) {
        s.len() + 2
    } else {
        s.len() * 6 + 2
    }
}

/// True if no byte needs escaping. Every byte is looked at (no early exit), which the compiler
/// turns into SIMD compares: several times faster than `any` on the keys and handles of every
/// request, which are always plain.
fn is_plain(bytes: &[u8]) -> bool {
    !bytes.iter().fold(false, |seen, &b| seen | needs_escape(b))
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends a decimal integer.
pub(crate) fn integer(buf: &mut Vec<u8>, n: i64) {
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow, default)]
        plain: Option<Text<'a>>,
        #[serde(borrow, default)]
        escaped: Option<Text<'a>>,
        #[serde(borrow, default)]
        absent: Option<Text<'a>>,
    }

    #[test]
    fn an_optional_text_is_borrowed_unless_it_had_escapes() {
        let body = br#"{"plain":"49654-shardId-000000000001","escaped":"a\"b"}"#;
        let answer: Answer<'_> = serde_json::from_slice(body).unwrap();
        let plain = answer.plain.unwrap().0;
        assert!(matches!(plain, Cow::Borrowed("49654-shardId-000000000001")));
        let escaped = answer.escaped.unwrap().0;
        assert!(matches!(&escaped, Cow::Owned(s) if s == "a\"b"));
        assert!(answer.absent.is_none());
    }

    fn written(s: &str) -> String {
        let mut buf = Vec::new();
        string(&mut buf, s);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn plain_strings_are_copied() {
        assert_eq!(
            written("https://sqs/1/q é"),
            "\"https://sqs/1/q é\"".to_owned()
        );
    }

    #[test]
    fn escapes_match_serde_json_and_the_sdk() {
        for s in [
            "a\"b\\c",
            "\u{1}\u{8}\u{c}\n\r\t\u{1f}",
            "x\u{7f}y",
            "é\"\u{0}",
        ] {
            assert_eq!(written(s), serde_json::to_string(s).unwrap(), "{s:?}");
            assert!(written(s).len() <= string_len_bound(s));
        }
    }
}
