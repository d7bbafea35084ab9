//! A generator-based fuzz test of the decoder and validator: hostile SQS message bodies, made
//! from a seeded RNG, go through [`Submission::decode`] (base64, UTF-8, JSON, validation) and
//! [`Submission::from_json`], and every valid result through [`Submission::explode`] (the record
//! encoder). cargo-fuzz would need a nightly toolchain; this runs on stable, in the suite.
//!
//! What is generated, and why (each input is one of these kinds):
//!
//! - `valid`: a random valid submission (random key order, escaped keys, extra fields, Unicode,
//!   either UUID case, every `time_created` form): it must decode, with every event, so that the
//!   generators below start from input the validator really accepts.
//! - `mutated`: a valid text with byte flips, interesting bytes and tokens, deleted, duplicated
//!   and spliced ranges, truncation: the syntax paths of the parser.
//! - `structural`: a valid tree with duplicated, missing and renamed keys and values of every
//!   wrong type put anywhere: every validation rule, alone and together.
//! - `numbers`: numbers at the edges of every type (i64/u64 min and max and one past them, `-0`,
//!   `1e308`, `1e309`, huge exponents, thousands of digits, non-JSON forms such as `01`, `+1`,
//!   `NaN`) in `destination_port` (the one number of the contract), in every other field, and in
//!   ignored extra fields (`pid`, `ppid`, which a newer sensor might send).
//! - `deep`: 100 to 50,000 levels of `[`, `{"a":` and `[{"events":` in every position,
//!   balanced or not (a few hundred thousand in huge inputs): no stack overflow.
//! - `not_utf8`: valid base64 of bytes that are not UTF-8 (lone continuation bytes, overlong
//!   forms, surrogates, truncated sequences): the UTF-8 check.
//! - `bad_base64`: valid bodies with padding removed or added, stray, URL-safe and non-ASCII
//!   characters, line breaks, bad lengths, non-canonical final symbols: the base64 layer.
//! - `random`: random bytes, base64 of random bytes, and base64 of random JSON token soup.
//! - `huge`: one input in [`HUGE_EVERY`], 1 to 14 MB: long strings (plain and escaped) in every
//!   field and as keys, 100,000 events (valid, or junk elements), 100,000 keys or event types,
//!   a million digits, hundreds of thousands of brackets, megabytes of random body.
//!
//! What is checked, for every input:
//!
//! - nothing panics (a panic is caught and reported with the seed and the input's index);
//! - the peak heap of decoding stays under [`PARSE_FACTOR`] × the input's length +
//!   [`SLACK_BYTES`], and that of exploding under [`EXPLODE_FACTOR`] × the body's length +
//!   [`SLACK_BYTES`] (an event's record repeats the submission's ids and times, so the output is
//!   larger than the input by design). The peak is counted by `allocation-counter`, per thread
//!   and per call, in requested bytes (a growing vector counts its old and new buffers);
//! - the two layers agree: `decode(base64(text)) == from_json(text)`;
//! - base64 of bytes that are not UTF-8 is `not_utf8`; a drop's detail stays short whatever the
//!   input; records are one per event and each is JSON.
//!
//! Run: `cargo test -p telemetry-model --test fuzz -- --nocapture` (a short run, in the suite),
//! or `FUZZ_INPUTS=1000000 cargo test --release -p telemetry-model --test fuzz -- --nocapture`
//! (the long run, figures in `docs/guarantees.md`, "Hostile input"). `FUZZ_SEED` picks another
//! seed (the default is fixed, so a run is reproducible and the suite is deterministic);
//! `FUZZ_START` starts at an input index, so that a failure is replayed with
//! `FUZZ_SEED=<seed> FUZZ_START=<index> FUZZ_INPUTS=1`.

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use base64::Engine as _;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use serde::de::IgnoredAny;
use telemetry_model::{DropReason, Invalid, PartitionKeySource, Submission};

/// The fixed default seed (any value would do).
const DEFAULT_SEED: u64 = 0x5eed_0004_f022_2026;
/// Inputs of a run without `FUZZ_INPUTS`: a debug build runs them in well under 30 s on the
/// 2-core development machine.
const DEFAULT_INPUTS: u64 = 15_000;
/// One input in this many is a huge one (megabytes).
const HUGE_EVERY: u64 = 1_000;

/// Bound on the peak heap of `decode` and `from_json`, per byte of their input. Measured worst
/// 6.54 (a million inputs): a valid list of minimal events, `{"cmdl":"","user":""},` is 22
/// bytes of text for a 48-byte event, in a vector that holds its old and new buffers while it
/// grows (3 × 48 / 22 = 6.5). From base64 it is less: 4.9 plus the decoded text, 0.75.
const PARSE_FACTOR: u64 = 8;
/// Bound on the peak heap of `explode`, per byte of the message body. Measured worst 11.28:
/// the same minimal events, 29 bytes of body each, become records of about 330 bytes (the
/// contract's envelope) in the submission's one buffer, plus an 8-byte end offset each.
const EXPLODE_FACTOR: u64 = 16;
/// Fixed allowance on top of the linear bounds (parser state, messages, small vectors).
const SLACK_BYTES: u64 = 64 * 1024;
/// Inputs at least this long say what the per-byte factors really are; below it the fixed
/// allowance dominates.
const FACTOR_MIN_LEN: usize = 64 * 1024;
/// A drop's detail is for humans and logs: short whatever the input.
const MAX_DETAIL_BYTES: usize = 256;

const TIME_PROCESSED: &str = "2021-03-29T12:06:20.123+00:00";

#[test]
fn hostile_input_neither_panics_nor_allocates_without_bound() {
    let seed = env_u64("FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let start = env_u64("FUZZ_START").unwrap_or(0);
    let inputs = env_u64("FUZZ_INPUTS").unwrap_or(DEFAULT_INPUTS);
    counter_is_installed();

    let began = Instant::now();
    let mut stats = Stats::default();
    for index in start..start.saturating_add(inputs) {
        let input_began = Instant::now();
        let mut rng = rng_for(seed, index);
        let case = generate(&mut rng, index);
        let checked = panic::catch_unwind(AssertUnwindSafe(|| check(&case, &mut rng)));
        let problem = match checked {
            Ok(Ok(seen)) => {
                stats.add(index, &case, &seen, input_began.elapsed().as_secs_f64());
                continue;
            }
            Ok(Err(problem)) => problem,
            Err(payload) => format!("panicked: {}", panic_message(&*payload)),
        };
        panic!(
            "fuzz failure at seed {seed:#x}, input {index} ({}, {} bytes): {problem}\n\
             body starts {:?}\n\
             replay: FUZZ_SEED={seed:#x} FUZZ_START={index} FUZZ_INPUTS=1 \
             cargo test -p telemetry-model --test fuzz -- --nocapture",
            case.label(),
            case.body.len(),
            String::from_utf8_lossy(&case.body[..case.body.len().min(160)]),
        );
    }
    stats.print(seed, start, began.elapsed().as_secs_f64());
}

/// Fails when the global allocator does not count: the bounds would then hold trivially.
fn counter_is_installed() {
    let (v, peak) = measured(|| vec![1u8; 1 << 20]);
    assert!(
        peak >= 1 << 20 && v.len() == 1 << 20,
        "allocation-counter is not counting ({peak} bytes seen for a 1 MiB vector)"
    );
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse(),
    };
    match parsed {
        Ok(n) => Some(n),
        Err(e) => panic!("{name}={value:?} is not a number: {e}"),
    }
}

/// Each input has its own generator, so any one can be replayed without the ones before it.
fn rng_for(seed: u64, index: u64) -> SmallRng {
    SmallRng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Runs `f` and returns its result and the peak of the heap it held on this thread.
fn measured<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(f()));
    match out {
        Some(value) => (value, info.bytes_max),
        None => unreachable!("measure runs its closure"),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(not a string)".to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Checking one input.

/// What one input did.
struct Seen {
    /// `None` when valid and published whole; else the drop reason.
    outcome: Option<DropReason>,
    /// Peak heap of decode and from_json, and the length each read.
    parse: [(u64, usize); 2],
    /// Peak heap of explode, for a valid submission.
    explode: Option<u64>,
}

fn check(case: &Case, rng: &mut SmallRng) -> Result<Seen, String> {
    let (decoded, decode_peak) = measured(|| Submission::decode(&case.body));
    within("decode", decode_peak, case.body.len(), PARSE_FACTOR)?;
    let mut parse = [(decode_peak, case.body.len()), (0, 0)];

    // The JSON layer alone: on the text the body encodes, or on the body itself when it is text.
    let text = case
        .text
        .as_deref()
        .or_else(|| std::str::from_utf8(&case.body).ok());
    if let Some(text) = text {
        let (parsed, peak) = measured(|| Submission::from_json(text));
        within("from_json", peak, text.len(), PARSE_FACTOR)?;
        parse[1] = (peak, text.len());
        if case.text.is_some() && parsed != decoded {
            return Err(format!(
                "the layers disagree: decode gives {}, from_json {}",
                show(&decoded),
                show(&parsed)
            ));
        }
        short_detail(&parsed)?;
    }
    short_detail(&decoded)?;

    if case.not_utf8 && !matches!(&decoded, Err(e) if e.reason == DropReason::NotUtf8) {
        return Err(format!(
            "base64 of bytes that are not UTF-8 gave {}",
            show(&decoded)
        ));
    }
    if let Some(events) = case.valid_events {
        match &decoded {
            Ok(s) if s.events().len() == events => {}
            other => {
                return Err(format!(
                    "a valid submission of {events} events gave {}",
                    show(other)
                ))
            }
        }
    }

    let submission = match decoded {
        Ok(s) => s,
        Err(e) => {
            return Ok(Seen {
                outcome: Some(e.reason),
                parse,
                explode: None,
            })
        }
    };
    let key = if rng.gen() {
        PartitionKeySource::DeviceId
    } else {
        PartitionKeySource::SubmissionId
    };
    let (records, peak) = measured(|| submission.explode(TIME_PROCESSED, key));
    within("explode", peak, case.body.len(), EXPLODE_FACTOR)?;
    let outcome = match records {
        Ok(records) => {
            if records.len() != submission.events().len() {
                return Err(format!(
                    "{} events exploded into {} records",
                    submission.events().len(),
                    records.len()
                ));
            }
            for (i, data) in records.iter().enumerate() {
                if let Err(e) = serde_json::from_slice::<IgnoredAny>(data) {
                    return Err(format!("record {i} is not JSON: {e}"));
                }
            }
            None
        }
        Err(e) if e.reason == DropReason::RecordTooLarge => Some(e.reason),
        Err(e) => return Err(format!("explode failed with {e}")),
    };
    Ok(Seen {
        outcome,
        parse,
        explode: Some(peak),
    })
}

fn within(what: &str, peak: u64, len: usize, factor: u64) -> Result<(), String> {
    let bound = factor * len as u64 + SLACK_BYTES;
    if peak <= bound {
        return Ok(());
    }
    Err(format!(
        "{what} held {peak} bytes of heap for {len} bytes of input, over the bound \
         {factor} x {len} + {SLACK_BYTES} = {bound}"
    ))
}

fn short_detail(result: &Result<Submission, Invalid>) -> Result<(), String> {
    match result {
        Err(e) if e.detail.len() > MAX_DETAIL_BYTES => Err(format!(
            "a detail of {} bytes: {:?}...",
            e.detail.len(),
            cut(&e.detail, 120)
        )),
        _ => Ok(()),
    }
}

fn show(result: &Result<Submission, Invalid>) -> String {
    match result {
        Ok(s) => format!("a valid submission of {} events", s.events().len()),
        Err(e) => format!("{}: {}", e.reason, cut(&e.detail, 120)),
    }
}

/// The first `max` bytes of `s`, cut on a char boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

// ---------------------------------------------------------------------------------------------
// Figures.

#[derive(Default)]
struct Stats {
    inputs: u64,
    by_kind: [u64; Kind::ALL.len()],
    /// Seconds spent on each kind, generating and checking.
    seconds_by_kind: [f64; Kind::ALL.len()],
    valid: u64,
    dropped: [u64; DropReason::ALL.len()],
    largest: usize,
    /// Worst peak per byte among inputs of at least FACTOR_MIN_LEN: (factor, index, kind, len).
    worst_parse: Option<(f64, u64, String, usize)>,
    worst_explode: Option<(f64, u64, String, usize)>,
    /// Largest peak of any input shorter than FACTOR_MIN_LEN.
    small_peak: u64,
}

impl Stats {
    fn add(&mut self, index: u64, case: &Case, seen: &Seen, seconds: f64) {
        self.inputs += 1;
        self.by_kind[case.kind as usize] += 1;
        self.seconds_by_kind[case.kind as usize] += seconds;
        match seen.outcome {
            None => self.valid += 1,
            Some(reason) => self.dropped[reason.index()] += 1,
        }
        self.largest = self.largest.max(case.body.len());
        for (peak, len) in seen.parse {
            Self::note(
                &mut self.worst_parse,
                &mut self.small_peak,
                peak,
                len,
                index,
                case,
            );
        }
        if let Some(peak) = seen.explode {
            let len = case.body.len();
            Self::note(
                &mut self.worst_explode,
                &mut self.small_peak,
                peak,
                len,
                index,
                case,
            );
        }
    }

    fn note(
        worst: &mut Option<(f64, u64, String, usize)>,
        small_peak: &mut u64,
        peak: u64,
        len: usize,
        index: u64,
        case: &Case,
    ) {
        if len < FACTOR_MIN_LEN {
            *small_peak = (*small_peak).max(peak);
            return;
        }
        let factor = peak as f64 / len as f64;
        if worst.as_ref().is_none_or(|(w, ..)| factor > *w) {
            *worst = Some((factor, index, case.label(), len));
        }
    }

    fn print(&self, seed: u64, start: u64, seconds: f64) {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "fuzz: seed {seed:#x}, inputs {start}..{}: {} inputs in {seconds:.1} s",
            start + self.inputs,
            self.inputs
        );
        let kinds: Vec<String> = Kind::ALL
            .iter()
            .map(|k| {
                let i = *k as usize;
                format!(
                    "{} {} ({:.1} s)",
                    k.name(),
                    self.by_kind[i],
                    self.seconds_by_kind[i]
                )
            })
            .collect();
        let _ = writeln!(out, "  kinds: {}", kinds.join(", "));
        let mut outcomes = vec![format!("valid {}", self.valid)];
        for reason in DropReason::ALL {
            outcomes.push(format!("{reason} {}", self.dropped[reason.index()]));
        }
        let _ = writeln!(out, "  outcomes: {}", outcomes.join(", "));
        let _ = writeln!(out, "  largest input: {} bytes", self.largest);
        for (what, worst, bound) in [
            ("decode/from_json", &self.worst_parse, PARSE_FACTOR),
            ("explode", &self.worst_explode, EXPLODE_FACTOR),
        ] {
            match worst {
                Some((factor, index, label, len)) => {
                    let _ = writeln!(
                        out,
                        "  worst {what} peak heap: {factor:.2} x input (input {index}, {label}, \
                         {len} bytes); bound {bound} x input + {SLACK_BYTES}"
                    );
                }
                None => {
                    let _ = writeln!(out, "  {what}: no input of {FACTOR_MIN_LEN} bytes or more");
                }
            }
        }
        let _ = writeln!(
            out,
            "  largest peak heap of an input under {FACTOR_MIN_LEN} bytes: {} bytes",
            self.small_peak
        );
        print!("{out}");
    }
}

// ---------------------------------------------------------------------------------------------
// Generating inputs.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Valid,
    Mutated,
    Structural,
    Numbers,
    Deep,
    NotUtf8,
    BadBase64,
    Random,
    Huge,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Valid,
        Kind::Mutated,
        Kind::Structural,
        Kind::Numbers,
        Kind::Deep,
        Kind::NotUtf8,
        Kind::BadBase64,
        Kind::Random,
        Kind::Huge,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Valid => "valid",
            Kind::Mutated => "mutated",
            Kind::Structural => "structural",
            Kind::Numbers => "numbers",
            Kind::Deep => "deep",
            Kind::NotUtf8 => "not_utf8",
            Kind::BadBase64 => "bad_base64",
            Kind::Random => "random",
            Kind::Huge => "huge",
        }
    }
}

/// One generated input.
struct Case {
    kind: Kind,
    /// The SQS message body.
    body: Vec<u8>,
    /// The text the body is the base64 of, when there is one and it is UTF-8.
    text: Option<String>,
    /// The body is base64 of bytes that are not UTF-8.
    not_utf8: bool,
    /// The input is valid by construction, with this many events.
    valid_events: Option<usize>,
    /// What a huge input is made of, for reports.
    shape: &'static str,
}

impl Case {
    /// A body that is the base64 of `bytes`.
    fn encoding(kind: Kind, bytes: Vec<u8>) -> Case {
        let body = b64(&bytes);
        match String::from_utf8(bytes) {
            Ok(text) => Case {
                kind,
                body,
                text: Some(text),
                not_utf8: false,
                valid_events: None,
                shape: "",
            },
            Err(_) => Case {
                kind,
                body,
                text: None,
                not_utf8: true,
                valid_events: None,
                shape: "",
            },
        }
    }

    /// The kind, and for a huge input what it is made of.
    fn label(&self) -> String {
        if self.shape.is_empty() {
            self.kind.name().to_owned()
        } else {
            format!("{}/{}", self.kind.name(), self.shape)
        }
    }

    /// A body made directly, not by encoding a text.
    fn raw(kind: Kind, body: Vec<u8>) -> Case {
        Case {
            kind,
            body,
            text: None,
            not_utf8: false,
            valid_events: None,
            shape: "",
        }
    }
}

fn insert(bytes: &mut Vec<u8>, at: usize, new: &[u8]) {
    bytes.splice(at..at, new.iter().copied());
}

fn b64(bytes: &[u8]) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .into_bytes()
}

fn generate(rng: &mut SmallRng, index: u64) -> Case {
    if index % HUGE_EVERY == HUGE_EVERY - 1 {
        return huge(rng);
    }
    match rng.gen_range(0..100) {
        0..=9 => {
            let (tree, events) = valid_tree(rng);
            let mut case = Case::encoding(Kind::Valid, tree.text(rng).into_bytes());
            case.valid_events = Some(events);
            case
        }
        10..=29 => Case::encoding(Kind::Mutated, mutated(rng)),
        30..=49 => Case::encoding(Kind::Structural, structural(rng).into_bytes()),
        50..=64 => Case::encoding(Kind::Numbers, numbers(rng).into_bytes()),
        65..=71 => Case::encoding(Kind::Deep, deep(rng).into_bytes()),
        72..=79 => Case::encoding(Kind::NotUtf8, not_utf8(rng)),
        80..=89 => Case::raw(Kind::BadBase64, bad_base64(rng)),
        _ => random(rng),
    }
}

/// A JSON value as a tree that keeps key order and repeated keys, with literals written as is.
#[derive(Clone)]
enum J {
    /// Written verbatim: numbers, `true`, broken tokens.
    Lit(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn obj(fields: Vec<(&str, J)>) -> J {
        J::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn text(&self, rng: &mut SmallRng) -> String {
        let mut out = String::new();
        // A tenth of the documents are spaced out with every kind of JSON whitespace.
        let spaced = rng.gen_ratio(1, 10);
        self.write(&mut out, rng, spaced);
        out
    }

    fn write(&self, out: &mut String, rng: &mut SmallRng, spaced: bool) {
        let ws = |out: &mut String, rng: &mut SmallRng| {
            if spaced {
                out.push([' ', '\n', '\t', '\r'][rng.gen_range(0..4)]);
            }
        };
        match self {
            J::Lit(s) => out.push_str(s),
            J::Str(s) => write_str(out, s, rng),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(out, rng);
                    item.write(out, rng, spaced);
                }
                ws(out, rng);
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    ws(out, rng);
                    write_str(out, key, rng);
                    ws(out, rng);
                    out.push(':');
                    ws(out, rng);
                    value.write(out, rng, spaced);
                }
                ws(out, rng);
                out.push('}');
            }
        }
    }
}

/// A JSON string; one in twenty escapes every character as `\uXXXX` (surrogate pairs beyond
/// the BMP), so that keys and values arrive as owned, unescaped strings instead of borrowed.
fn write_str(out: &mut String, s: &str, rng: &mut SmallRng) {
    if !rng.gen_ratio(1, 20) {
        out.push_str(&serde_json::Value::from(s).to_string());
        return;
    }
    out.push('"');
    let mut units = [0u16; 2];
    for c in s.chars() {
        for unit in c.encode_utf16(&mut units) {
            let _ = write!(out, "\\u{unit:04X}");
        }
    }
    out.push('"');
}

const NEW_PROCESS: &str = "new_process";
const NETWORK_CONNECTION: &str = "network_connection";

fn uuid(rng: &mut SmallRng) -> String {
    let id = uuid::Builder::from_random_bytes(rng.gen()).into_uuid();
    let s = id.hyphenated().to_string();
    if rng.gen_ratio(1, 8) {
        s.to_uppercase()
    } else {
        s
    }
}

/// A valid `time_created`: every form the rule accepts.
fn time_created(rng: &mut SmallRng) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        rng.gen_range(1..=9999),
        rng.gen_range(1..=12),
        rng.gen_range(1..=28),
        rng.gen_range(0..24),
        rng.gen_range(0..60),
        rng.gen_range(0..60)
    );
    if rng.gen_ratio(3, 4) {
        s.push('.');
        for _ in 0..rng.gen_range(1..=9) {
            s.push(char::from(b'0' + rng.gen_range(0..10)));
        }
    }
    match rng.gen_range(0..6) {
        0 => s.push('Z'),
        1 => {
            let sign = if rng.gen() { '+' } else { '-' };
            let _ = write!(
                s,
                "{sign}{:02}:{:02}",
                rng.gen_range(0..24),
                rng.gen_range(0..60)
            );
        }
        _ => {}
    }
    s
}

fn ipv4(rng: &mut SmallRng) -> String {
    let [a, b, c, d]: [u8; 4] = rng.gen();
    format!("{a}.{b}.{c}.{d}")
}

/// A string a sensor might send: command lines, names, and the characters that need escaping.
fn text_value(rng: &mut SmallRng) -> String {
    const PIECES: [&str; 16] = [
        "notepad.exe",
        "C:\\Windows\\system32\\svchost.exe -k netsvcs",
        "powershell -enc \"SQBFAFgA\"",
        "john",
        "NT AUTHORITY\\SYSTEM",
        "/usr/bin/env bash -c 'echo $HOME'",
        "\n\r\t\u{8}\u{c}",
        "\u{0}\u{1}\u{1f}\u{7f}",
        "é日本語",
        "\u{1F600}\u{10FFFF}",
        "\u{2028}\u{2029}\u{FEFF}",
        "</script>",
        "\"quoted\"",
        "\\\\server\\share",
        " ",
        "",
    ];
    let mut s = String::new();
    for _ in 0..rng.gen_range(0..4) {
        s.push_str(PIECES[rng.gen_range(0..PIECES.len())]);
    }
    s
}

/// Fields a newer sensor might add, ignored by the validator but still parsed.
fn extra_field(rng: &mut SmallRng) -> (String, J) {
    let names = ["pid", "ppid", "sensor_version", "x", "", "events_", "Cmdl"];
    let value = match rng.gen_range(0..5) {
        0 => J::Lit(rng.gen_range(0..100_000).to_string()),
        1 => J::Str(text_value(rng)),
        2 => J::Lit("null".into()),
        3 => J::Arr(vec![J::Lit("1".into()), J::Obj(vec![])]),
        _ => J::obj(vec![("nested", J::Lit("true".into()))]),
    };
    (names[rng.gen_range(0..names.len())].to_owned(), value)
}

fn with_extras(rng: &mut SmallRng, mut fields: Vec<(String, J)>) -> J {
    if rng.gen_ratio(1, 4) {
        for _ in 0..rng.gen_range(1..=3) {
            let at = rng.gen_range(0..=fields.len());
            fields.insert(at, extra_field(rng));
        }
    }
    fields.shuffle(rng);
    J::Obj(fields)
}

fn new_process(rng: &mut SmallRng) -> J {
    let fields = vec![
        ("cmdl".to_owned(), J::Str(text_value(rng))),
        ("user".to_owned(), J::Str(text_value(rng))),
    ];
    with_extras(rng, fields)
}

fn network_connection(rng: &mut SmallRng) -> J {
    let fields = vec![
        ("source_ip".to_owned(), J::Str(ipv4(rng))),
        ("destination_ip".to_owned(), J::Str(ipv4(rng))),
        (
            "destination_port".to_owned(),
            J::Lit(rng.gen_range(0..=65535).to_string()),
        ),
    ];
    with_extras(rng, fields)
}

/// A valid submission and its number of events.
fn valid_tree(rng: &mut SmallRng) -> (J, usize) {
    let mut groups = Vec::new();
    let mut events = 0;
    for (key, make) in [
        (NEW_PROCESS, new_process as fn(&mut SmallRng) -> J),
        (NETWORK_CONNECTION, network_connection),
    ] {
        // A type is absent a fifth of the time, and has an empty list another fifth.
        if rng.gen_ratio(1, 5) {
            continue;
        }
        let n = if rng.gen_ratio(1, 4) {
            0
        } else {
            rng.gen_range(1..=6)
        };
        events += n;
        groups.push((key.to_owned(), J::Arr((0..n).map(|_| make(rng)).collect())));
    }
    groups.shuffle(rng);
    let fields = vec![
        ("submission_id".to_owned(), J::Str(uuid(rng))),
        ("device_id".to_owned(), J::Str(uuid(rng))),
        ("time_created".to_owned(), J::Str(time_created(rng))),
        ("events".to_owned(), J::Obj(groups)),
    ];
    (with_extras(rng, fields), events)
}

/// Numbers at the edges of every type, and forms JSON does not allow.
fn edge_number(rng: &mut SmallRng) -> String {
    // Separated by white space: none of them contains any.
    const EDGES: &str = "\
        0 -0 0.0 -0.0 1 -1 443 443.0 4.43e2 1e3 1E3 1e+3 65535 65536 65535.5 6.5535e4
        2147483647 2147483648 -2147483649 4294967295 4294967296 9223372036854775807
        9223372036854775808 -9223372036854775808 -9223372036854775809
        18446744073709551615 18446744073709551616 -18446744073709551616 1e308
        1.7976931348623157e308 1.7976931348623159e308 1e309 -1e309 5e-324 1e-400
        0e99999999999999999999 1e99999999999999999999 1e-99999999999999999999 01 +1 .5
        5. NaN -Infinity";
    match rng.gen_range(0..10) {
        0 => {
            // Thousands of digits, in an integer or a fraction.
            let digits: String = (0..rng.gen_range(20..5_000))
                .map(|_| char::from(b'0' + rng.gen_range(0..10)))
                .collect();
            match rng.gen_range(0..4) {
                0 => format!("1{digits}"),
                1 => format!("-9{digits}"),
                2 => format!("0.{digits}"),
                _ => format!("1{digits}e-{}", digits.len()),
            }
        }
        1 => format!(
            "{}e{}{}",
            rng.gen_range(0..10),
            ["", "+", "-"][rng.gen_range(0..3)],
            rng.gen::<u64>()
        ),
        2 => rng.gen::<i64>().to_string(),
        3 => rng.gen::<u64>().to_string(),
        4 => format!(
            "{:e}",
            rng.gen::<f64>() * 10f64.powi(rng.gen_range(-320..320))
        ),
        _ => {
            let edges: Vec<&str> = EDGES.split_whitespace().collect();
            edges[rng.gen_range(0..edges.len())].to_owned()
        }
    }
}

/// Any JSON value of any kind, small.
fn any_value(rng: &mut SmallRng) -> J {
    match rng.gen_range(0..12) {
        0 => J::Lit("null".into()),
        1 => J::Lit(["true", "false"][rng.gen_range(0..2)].into()),
        2 | 3 => J::Lit(edge_number(rng)),
        4 => J::Str(text_value(rng)),
        5 => J::Str(
            [
                "not-an-uuid",
                "not-an-ip",
                "8be019740f154d4f809f257a6de4d3f9",
                "{8be01974-0f15-4d4f-809f-257a6de4d3f9}",
                "urn:uuid:8be01974-0f15-4d4f-809f-257a6de4d3f9",
                "8be01974-0f15-4d4f-809f-257a6de4d3fg",
                "8be01974-0f15-4d4f-809f-257a6de4d3f9 ",
                "192.168.0.256",
                "192.168.0.02",
                "1.2.3",
                "1.2.3.4:80",
                "::1",
                "2021-02-29T00:00:00",
                "2021-03-28 15:44:18",
                "2021-03-28T15:44:18.1234567890",
                "2021-03-28T24:00:00",
                "2021-03-28T15:44:18+0200",
                "２０２１-03-28T15:44:18",
                "yesterday",
                "",
            ][rng.gen_range(0..20)]
            .into(),
        ),
        6 => J::Str(uuid(rng)),
        7 => J::Str(ipv4(rng)),
        8 => J::Arr(vec![]),
        9 => J::Obj(vec![]),
        10 => J::Arr(
            (0..rng.gen_range(1..4))
                .map(|_| J::Str(ipv4(rng)))
                .collect(),
        ),
        _ => new_process(rng),
    }
}

/// A valid text with byte-level damage.
fn mutated(rng: &mut SmallRng) -> Vec<u8> {
    const BYTES: &[u8] = b"\"\\{}[]:,0-e.+ \x00\x1f\x7f\x80\xbf\xc0\xff";
    const TOKENS: [&str; 14] = [
        "null",
        "true",
        "\"\"",
        "{}",
        "[]",
        "-0",
        "1e309",
        "\\u0000",
        "\\ud800",
        "\\udc00",
        ",",
        ":",
        "\"events\":{}",
        "\"submission_id\":\"x\"",
    ];
    let (tree, _) = valid_tree(rng);
    let mut bytes = tree.text(rng).into_bytes();
    for _ in 0..rng.gen_range(1..=4) {
        let len = bytes.len();
        let at = rng.gen_range(0..=len);
        match rng.gen_range(0..8) {
            0 if len > 0 => bytes[at.min(len - 1)] ^= 1 << rng.gen_range(0..8),
            1 if len > 0 => bytes[at.min(len - 1)] = BYTES[rng.gen_range(0..BYTES.len())],
            2 => {
                let token = TOKENS[rng.gen_range(0..TOKENS.len())];
                insert(&mut bytes, at, token.as_bytes());
            }
            3 => {
                let end = rng.gen_range(at..=len.min(at + 40));
                bytes.drain(at..end);
            }
            4 => {
                let end = rng.gen_range(at..=len.min(at + 80));
                let copy = bytes[at..end].to_vec();
                let to = rng.gen_range(0..=len);
                insert(&mut bytes, to, &copy);
            }
            5 => bytes.truncate(at),
            6 => {
                // Splice: this text's head, another valid text's tail.
                let (other, _) = valid_tree(rng);
                let other = other.text(rng).into_bytes();
                let from = rng.gen_range(0..=other.len());
                bytes.truncate(at);
                bytes.extend_from_slice(&other[from..]);
            }
            _ => {
                let byte = rng.gen::<u8>();
                bytes.insert(at, byte);
            }
        }
    }
    bytes
}

/// A valid tree with damage to its structure: keys duplicated, removed or renamed, values of
/// the wrong type anywhere.
fn structural(rng: &mut SmallRng) -> String {
    let (mut tree, _) = valid_tree(rng);
    for _ in 0..rng.gen_range(1..=3) {
        damage(&mut tree, rng);
    }
    tree.text(rng)
}

/// Walks down from `node` to a random place and damages it.
fn damage(node: &mut J, rng: &mut SmallRng) {
    const RENAMES: [&str; 10] = [
        "Submission_id",
        "submission_id ",
        "device-id",
        "events2",
        "file_write",
        "new_process\u{0}",
        "network-connection",
        "NEW_PROCESS",
        "",
        "destination_port\u{200b}",
    ];
    let children = match node {
        J::Obj(fields) => fields.len(),
        J::Arr(items) => items.len(),
        _ => 0,
    };
    if children > 0 && rng.gen_ratio(2, 3) {
        let i = rng.gen_range(0..children);
        match node {
            J::Obj(fields) => damage(&mut fields[i].1, rng),
            J::Arr(items) => damage(&mut items[i], rng),
            _ => {}
        }
        return;
    }
    match node {
        J::Obj(fields) if !fields.is_empty() => {
            let i = rng.gen_range(0..fields.len());
            match rng.gen_range(0..4) {
                0 => {
                    // A duplicated key, with the same or another value.
                    let mut copy = fields[i].clone();
                    if rng.gen() {
                        copy.1 = any_value(rng);
                    }
                    let at = rng.gen_range(0..=fields.len());
                    fields.insert(at, copy);
                }
                1 => {
                    fields.remove(i);
                }
                2 => fields[i].0 = RENAMES[rng.gen_range(0..RENAMES.len())].to_owned(),
                _ => fields[i].1 = any_value(rng),
            }
        }
        J::Arr(items) if !items.is_empty() && rng.gen() => {
            let i = rng.gen_range(0..items.len());
            items[i] = any_value(rng);
        }
        _ => *node = any_value(rng),
    }
}

/// A valid tree with an edge number in a field: mostly the port, also anywhere else.
fn numbers(rng: &mut SmallRng) -> String {
    let (tree, _) = valid_tree(rng);
    let J::Obj(mut fields) = tree else {
        return edge_number(rng);
    };
    let number = J::Lit(edge_number(rng));
    match rng.gen_range(0..6) {
        0..=2 => {
            // destination_port of a network_connection event (one is added if there is none).
            let conn = network_connection(rng);
            let mut place = None;
            for (key, value) in &mut fields {
                if key == "events" {
                    place = Some(value);
                }
            }
            if let Some(J::Obj(groups)) = place {
                let list = match groups.iter_mut().find(|(k, _)| k == NETWORK_CONNECTION) {
                    Some((_, J::Arr(list))) => list,
                    _ => {
                        groups.push((NETWORK_CONNECTION.to_owned(), J::Arr(vec![])));
                        match groups.last_mut() {
                            Some((_, J::Arr(list))) => list,
                            _ => unreachable!("just pushed a list"),
                        }
                    }
                };
                if list.is_empty() {
                    list.push(conn);
                }
                let i = rng.gen_range(0..list.len());
                if let J::Obj(event) = &mut list[i] {
                    for (key, value) in event.iter_mut() {
                        if key == "destination_port" {
                            *value = number.clone();
                        }
                    }
                }
            }
        }
        3 => {
            // In an ignored extra field.
            let name = ["pid", "ppid", "sensor_version"][rng.gen_range(0..3)];
            let at = rng.gen_range(0..=fields.len());
            fields.insert(at, (name.to_owned(), number));
        }
        4 => {
            // In place of any other field of the submission.
            let i = rng.gen_range(0..fields.len());
            fields[i].1 = number;
        }
        _ => return edge_number(rng),
    }
    J::Obj(fields).text(rng)
}

/// Deep nesting in every position.
fn deep(rng: &mut SmallRng) -> String {
    // Around serde_json's limit of 128 levels where values are read, then thousands; huge
    // inputs bring a million.
    let depth = match rng.gen_range(0..8) {
        0..=2 => rng.gen_range(100..200),
        3 => rng.gen_range(120..140),
        4..=6 => rng.gen_range(1_000..10_000),
        _ => rng.gen_range(10_000..50_000),
    };
    let (tree, _) = valid_tree(rng);
    nested(rng, depth, tree)
}

/// A valid tree with one place replaced by `depth` levels of arrays or objects.
fn nested(rng: &mut SmallRng, depth: usize, tree: J) -> String {
    let (open, close) = match rng.gen_range(0..3) {
        0 => ("[", "]"),
        1 => ("{\"a\":", "}"),
        _ => ("[{\"events\":", "}]"),
    };
    let balanced = rng.gen_ratio(3, 4);
    let mut nest = open.repeat(depth);
    nest.push_str(["1", "null", "{}", "[]", "\"x\""][rng.gen_range(0..5)]);
    if balanced {
        nest.push_str(&close.repeat(depth));
    } else {
        nest.push_str(&close.repeat(rng.gen_range(0..depth)));
    }
    // A placeholder marks the place in the tree, then the nesting replaces it in the text.
    const MARK: &str = "\u{1}deep\u{1}";
    let mark = || J::Lit(MARK.to_owned());
    let J::Obj(mut fields) = tree else {
        return nest;
    };
    match rng.gen_range(0..6) {
        0 => return nest,
        1 => {
            let i = rng.gen_range(0..fields.len());
            fields[i].1 = mark();
        }
        2 => fields.push(("extra".into(), mark())),
        3 => fields.push(("events".into(), J::obj(vec![(NEW_PROCESS, mark())]))),
        4 => fields.push((
            "events".into(),
            J::obj(vec![(NEW_PROCESS, J::Arr(vec![mark()]))]),
        )),
        _ => fields.push((
            "events".into(),
            J::obj(vec![(
                NEW_PROCESS,
                J::Arr(vec![J::obj(vec![
                    ("cmdl", mark()),
                    ("user", J::Str("u".into())),
                ])]),
            )]),
        )),
    }
    let text = J::Obj(fields).text(rng);
    text.replacen(MARK, &nest, 1)
}

/// Base64 of a valid text with bytes that are not UTF-8 in it.
fn not_utf8(rng: &mut SmallRng) -> Vec<u8> {
    const BAD: [&[u8]; 10] = [
        b"\xff",
        b"\xfe",
        b"\x80",
        b"\xbf",
        b"\xc0\x80",
        b"\xc1\xbf",
        b"\xed\xa0\x80",
        b"\xed\xbf\xbf",
        b"\xf4\x90\x80\x80",
        b"\xe2\x82",
    ];
    let (tree, _) = valid_tree(rng);
    let mut bytes = tree.text(rng).into_bytes();
    for _ in 0..rng.gen_range(1..=3) {
        let bad = BAD[rng.gen_range(0..BAD.len())];
        // Inside a string most of the time, where a parser would copy it.
        let quotes: Vec<usize> = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'"')
            .map(|(i, _)| i + 1)
            .collect();
        let at = if rng.gen_ratio(3, 4) && !quotes.is_empty() {
            quotes[rng.gen_range(0..quotes.len())]
        } else {
            rng.gen_range(0..=bytes.len())
        };
        insert(&mut bytes, at, bad);
    }
    bytes
}

/// A valid body with damage to its base64.
fn bad_base64(rng: &mut SmallRng) -> Vec<u8> {
    let (tree, _) = valid_tree(rng);
    let mut body = b64(tree.text(rng).as_bytes());
    for _ in 0..rng.gen_range(1..=2) {
        let len = body.len();
        let at = rng.gen_range(0..=len);
        match rng.gen_range(0..9) {
            0 => {
                while body.last() == Some(&b'=') {
                    body.pop();
                }
            }
            1 => body.extend_from_slice(&b"===="[..rng.gen_range(1..=4)]),
            2 => body.insert(at, b'='),
            3 => {
                let stray = [b'!', b'-', b'_', b' ', b'\n', b'\r', b'.', 0x80, 0xff, 0];
                body.insert(at, stray[rng.gen_range(0..stray.len())]);
            }
            4 => {
                // MIME-style line breaks every 76 characters.
                let lines: Vec<&[u8]> = body.chunks(76).collect();
                body = lines.join(&b"\r\n"[..]);
            }
            5 => body.truncate(at),
            6 => {
                for b in &mut body {
                    *b = match *b {
                        b'+' => b'-',
                        b'/' => b'_',
                        other => other,
                    };
                }
                body.insert(at, [b'-', b'_'][rng.gen_range(0..2)]);
            }
            7 => {
                // A final symbol with its unused bits set: not canonical.
                let end = body.iter().rposition(|b| *b != b'=').unwrap_or(0);
                if let Some(b) = body.get_mut(end) {
                    *b = [b'B', b'f', b'/', b'9'][rng.gen_range(0..4)];
                }
            }
            _ => insert(&mut body, 0, b"data:application/json;base64,"),
        }
    }
    body
}

/// Random bytes, base64 of random bytes, and base64 of random JSON tokens.
fn random(rng: &mut SmallRng) -> Case {
    // JSON tokens, separated by white space.
    const TOKENS: &str = r#"
        { } [ ] : , null true "x" "\ud800" "2021-03-28T15:44:18"
        "submission_id" "device_id" "time_created" "events" "new_process" "network_connection"
        "cmdl" "user" "source_ip" "destination_ip" "destination_port"
    "#;
    let mut bytes = vec![0u8; rng.gen_range(0..4_096)];
    rng.fill_bytes(&mut bytes);
    match rng.gen_range(0..4) {
        0 => Case::raw(Kind::Random, bytes),
        1 => Case::encoding(Kind::Random, bytes),
        _ => {
            let tokens: Vec<&str> = TOKENS.split_whitespace().collect();
            let mut text = String::new();
            for _ in 0..rng.gen_range(1..300) {
                match rng.gen_range(0..30) {
                    0 => text.push_str(&uuid(rng)),
                    1 => text.push_str(&serde_json::Value::from(uuid(rng)).to_string()),
                    2 => text.push_str(&serde_json::Value::from(ipv4(rng)).to_string()),
                    3 => text.push_str(&edge_number(rng)),
                    _ => text.push_str(tokens[rng.gen_range(0..tokens.len())]),
                }
            }
            Case::encoding(Kind::Random, text.into_bytes())
        }
    }
}

/// Megabytes: long strings, 100,000 events, keys or types, a million digits or brackets.
fn huge(rng: &mut SmallRng) -> Case {
    let size = rng.gen_range(1 << 20..4 << 20);
    let long = |rng: &mut SmallRng| -> String {
        match rng.gen_range(0..3) {
            0 => "x".repeat(size),
            // Escapes make the parser copy the string instead of borrowing it.
            1 => "a\\n\\u00e9\\ud83d\\ude00".repeat(size / 20),
            _ => "é日本".repeat(size / 8),
        }
    };
    // A submission with valid ids and time, and `events` as given.
    let with_events = |rng: &mut SmallRng, events: &str| {
        format!(
            r#"{{"submission_id":"{}","device_id":"{}","time_created":"{}","events":{{{}}}}}"#,
            uuid(rng),
            uuid(rng),
            time_created(rng),
            events
        )
    };
    let list = |n: usize, item: &str| {
        let mut s = String::with_capacity(n * (item.len() + 1));
        for i in 0..n {
            if i > 0 {
                s.push(',');
            }
            s.push_str(item);
        }
        s
    };
    let mut valid_events = None;
    const SHAPES: [&str; 12] = [
        "long_cmdl",
        "long_id",
        "long_key",
        "new_process_events",
        "network_events",
        "junk_events",
        "many_keys",
        "many_types",
        "million_digits",
        "deep",
        "random_bytes",
        "long_text",
    ];
    let choice = rng.gen_range(0..SHAPES.len());
    let shape = SHAPES[choice];
    let text = match choice {
        0 => {
            // A long command line: valid, then too large for one record when over 1 MiB.
            valid_events = Some(1);
            let cmdl = long(rng);
            with_events(
                rng,
                &format!(r#""new_process":[{{"cmdl":"{cmdl}","user":"u"}}]"#),
            )
        }
        1 => format!(
            r#"{{"submission_id":"{}","device_id":"x","time_created":"x","events":{{}}}}"#,
            long(rng)
        ),
        2 => {
            let key = long(rng);
            with_events(rng, &format!(r#""new_process":[],"{key}":[]"#))
        }
        3 => {
            let n = rng.gen_range(100_000..150_000);
            valid_events = Some(n);
            let events = list(n, r#"{"cmdl":"","user":""}"#);
            with_events(rng, &format!(r#""new_process":[{events}]"#))
        }
        4 => {
            let n = rng.gen_range(100_000..120_000);
            valid_events = Some(n);
            let event = format!(
                r#"{{"source_ip":"{}","destination_ip":"{}","destination_port":0}}"#,
                ipv4(rng),
                ipv4(rng)
            );
            let events = list(n, &event);
            with_events(rng, &format!(r#""network_connection":[{events}]"#))
        }
        5 => {
            // Junk where events belong: every element is read before validation.
            let junk = ["1", "{}", "null", "[]", "\"\"", "{\"cmdl\":1}"][rng.gen_range(0..6)];
            let events = list(rng.gen_range(100_000..300_000), junk);
            with_events(rng, &format!(r#""new_process":[{events}]"#))
        }
        6 => {
            // 100,000 keys in an event, or at the top.
            let n = rng.gen_range(100_000..200_000);
            let keys: Vec<String> = (0..n).map(|i| format!(r#""k{i}":{i}"#)).collect();
            let keys = keys.join(",");
            if rng.gen() {
                with_events(
                    rng,
                    &format!(r#""new_process":[{{{keys},"cmdl":"c","user":"u"}}]"#),
                )
            } else {
                with_events(rng, "").replacen('{', &format!("{{{keys},"), 1)
            }
        }
        7 => {
            // 100,000 event types: the same one (duplicate) or unknown ones.
            let n = rng.gen_range(100_000..150_000);
            let groups: Vec<String> = if rng.gen() {
                (0..n).map(|_| r#""new_process":[]"#.to_owned()).collect()
            } else {
                (0..n).map(|i| format!(r#""t{i}":[]"#)).collect()
            };
            with_events(rng, &groups.join(","))
        }
        8 => {
            // A million digits in the port.
            let digits = "9".repeat(size);
            let event = format!(
                r#"{{"source_ip":"1.1.1.1","destination_ip":"2.2.2.2","destination_port":{}}}"#,
                digits
            );
            with_events(rng, &format!(r#""network_connection":[{event}]"#))
        }
        9 => {
            // Up to 11 bytes a level: a quarter to all of `size`.
            let (tree, _) = valid_tree(rng);
            nested(rng, size / 11, tree)
        }
        10 => {
            let mut bytes = vec![0u8; size];
            rng.fill_bytes(&mut bytes);
            let mut case = if rng.gen() {
                Case::encoding(Kind::Huge, bytes)
            } else {
                Case::raw(Kind::Huge, bytes)
            };
            case.shape = shape;
            return case;
        }
        _ => long(rng),
    };
    let mut case = Case::encoding(Kind::Huge, text.into_bytes());
    case.valid_events = valid_events;
    case.shape = shape;
    case
}
