//! A submission: an SQS message body parsed and validated as a whole.
//!
//! Decoding runs in three stages, and the first fault found decides the [`DropReason`]:
//!
//! 1. the body is standard base64 with padding ([`DropReason::BadBase64`]), of UTF-8
//!    ([`DropReason::NotUtf8`]), of syntactically valid JSON ([`DropReason::NotJson`]);
//! 2. the JSON is read into a loose, borrowed shape that accepts any value in any place, so that
//!    a wrong type is a finding rather than a parse error; the events are validated as they are
//!    read, in the order of the keys of `events` (the document order the output must keep), and
//!    only the valid ones and the first fault are kept, so the heap held stays a small multiple
//!    of the input whatever it holds;
//! 3. the loose shape is checked field by field, in document order of the contract:
//!    `submission_id`, `device_id`, `time_created`, then the first fault of the events, if any.
//!
//! Policy for what the contract leaves open (the reasons: `docs/contract.md`, "What makes a
//! submission valid"):
//! extra fields, at the top or in an event, are ignored and not passed on; UUIDs must be the
//! hyphenated 8-4-4-4-12 form, either case, and are written out lower-case; a raw JSON body
//! (not base64) is [`DropReason::BadBase64`]; a key repeated in one object is
//! [`DropReason::DuplicateField`].

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use uuid::Uuid;

use crate::drop_reason::{quoted, DropReason, Invalid};
use crate::event::{EventData, EventType};
use crate::time_created;

/// A valid submission. It can only be obtained from [`Submission::decode`] or
/// [`Submission::from_json`], so holding one means every rule of the contract held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    submission_id: Uuid,
    device_id: Uuid,
    time_created: String,
    events: Vec<EventData>,
}

impl Submission {
    /// Decodes an SQS message body: base64 of a UTF-8 JSON object.
    pub fn decode(body: &[u8]) -> Result<Self, Invalid> {
        // SIMD base64, strict as the `base64` crate's standard engine (padding required, no
        // whitespace, no stray bits after the last byte): tests/base64_equivalence.rs.
        let json = base64_simd::STANDARD
            .decode_to_vec(body)
            .map_err(|e| Invalid::new(DropReason::BadBase64, e.to_string()))?;
        let text = std::str::from_utf8(&json)
            .map_err(|e| Invalid::new(DropReason::NotUtf8, e.to_string()))?;
        Self::from_json(text)
    }

    /// Parses and validates the JSON text of a submission.
    pub fn from_json(text: &str) -> Result<Self, Invalid> {
        let raw: RawSubmission<'_> = serde_json::from_str(text)
            .map_err(|e| Invalid::new(DropReason::NotJson, e.to_string()))?;
        raw.validate()
    }

    /// The submission's id.
    pub fn submission_id(&self) -> Uuid {
        self.submission_id
    }

    /// The id of the device that sent it.
    pub fn device_id(&self) -> Uuid {
        self.device_id
    }

    /// The device's local creation time, exactly as sent.
    pub fn time_created(&self) -> &str {
        &self.time_created
    }

    /// The events in document order: the keys of `events` in the order they appear, each
    /// list in array order.
    pub fn events(&self) -> &[EventData] {
        &self.events
    }
}

// ---------------------------------------------------------------------------------------------
// Stage 2: the loose shape. Every visitor here accepts any JSON value; only syntax errors fail.

/// The JSON kind of a value, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Number,
    Bool,
    Null,
    Array,
    Object,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
            Kind::Array => "an array",
            Kind::Object => "an object",
        })
    }
}

/// A scalar kept (borrowed where the input has no escapes); arrays and objects are skipped.
#[derive(Debug)]
enum Loose<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Other(Kind),
}

impl Loose<'_> {
    fn kind(&self) -> Kind {
        match self {
            Loose::Str(_) => Kind::String,
            Loose::U64(_) | Loose::I64(_) | Loose::F64(_) => Kind::Number,
            Loose::Other(k) => *k,
        }
    }
}

/// Implements `expecting` and the non-container `visit_*` methods of a visitor whose value has
/// a variant for "some other kind of JSON value".
macro_rules! visit_other_kinds {
    ($expecting:literal, $other:expr) => {
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str($expecting)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other(Kind::Bool))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other(Kind::Number))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other(Kind::Number))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other(Kind::Number))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($other(Kind::String))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other(Kind::Null))
        }
    };
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Loose::Other(Kind::Bool))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::I64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose::U64(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Loose::F64(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Other(Kind::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq).map(|()| Loose::Other(Kind::Array))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map).map(|()| Loose::Other(Kind::Object))
    }
}

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

/// An object key, borrowed where it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Stores a field's value, remembering the first key that appears twice.
fn put<T>(slot: &mut Option<T>, value: T, key: &str, duplicate: &mut Option<String>) {
    if slot.is_some() {
        duplicate.get_or_insert_with(|| key.to_owned());
    } else {
        *slot = Some(value);
    }
}

/// The top-level value: an object with the four known fields, or some other kind.
#[derive(Debug)]
enum RawSubmission<'a> {
    Object(RawFields<'a>),
    Other(Kind),
}

#[derive(Debug, Default)]
struct RawFields<'a> {
    submission_id: Option<Loose<'a>>,
    device_id: Option<Loose<'a>>,
    time_created: Option<Loose<'a>>,
    events: Option<RawEvents>,
    duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for RawSubmission<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TopVisitor;
        impl<'de> Visitor<'de> for TopVisitor {
            type Value = RawSubmission<'de>;
            visit_other_kinds!("a submission object", RawSubmission::Other);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|()| RawSubmission::Other(Kind::Array))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut f = RawFields::default();
                while let Some(Key(key)) = map.next_key()? {
                    match key.as_ref() {
                        "submission_id" => put(
                            &mut f.submission_id,
                            map.next_value()?,
                            &key,
                            &mut f.duplicate,
                        ),
                        "device_id" => {
                            put(&mut f.device_id, map.next_value()?, &key, &mut f.duplicate)
                        }
                        "time_created" => put(
                            &mut f.time_created,
                            map.next_value()?,
                            &key,
                            &mut f.duplicate,
                        ),
                        "events" => put(&mut f.events, map.next_value()?, &key, &mut f.duplicate),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(RawSubmission::Object(f))
            }
        }
        d.deserialize_any(TopVisitor)
    }
}

/// `events`: its events, validated as they are read, or some other kind of value.
#[derive(Debug)]
enum RawEvents {
    Groups(Groups),
    Other(Kind),
}

/// The events of `events`, validated one by one as the parser reads them, so that what is held
/// is the valid events, never a raw shape per element of the input: a list of 100,000 `1`s or
/// `{}`s costs a few bytes of heap, not a raw event each.
#[derive(Debug, Default)]
struct Groups {
    /// The event types seen so far.
    seen: Vec<EventType>,
    /// The valid events so far, in document order.
    events: Vec<EventData>,
    /// The first fault in document order: an unknown or repeated type, a list that is not a
    /// list, a broken event. After it nothing more is kept, but everything is still read the
    /// same way, so that a syntax error further on still makes the submission `not_json`.
    fault: Option<Invalid>,
}

impl Groups {
    fn fail(&mut self, fault: Invalid) {
        if self.fault.is_none() {
            self.fault = Some(fault);
            self.events = Vec::new();
        }
    }
}

impl<'de> Deserialize<'de> for RawEvents {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EventsVisitor;
        impl<'de> Visitor<'de> for EventsVisitor {
            type Value = RawEvents;
            visit_other_kinds!("an events object", RawEvents::Other);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|()| RawEvents::Other(Kind::Array))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut groups = Groups::default();
                while let Some(Key(key)) = map.next_key()? {
                    // Checked in the order the validation rules give: the type, then whether
                    // it came before, then its value.
                    let event_type = match EventType::from_key(&key) {
                        None => {
                            groups.fail(Invalid::new(
                                DropReason::UnknownEventType,
                                format!("events: {} is not a known event type", quoted(&key)),
                            ));
                            None
                        }
                        Some(t) if groups.seen.contains(&t) => {
                            groups.fail(duplicate(&format!("events.{key}")));
                            None
                        }
                        Some(t) => {
                            groups.seen.push(t);
                            Some(t)
                        }
                    };
                    let seed = GroupSeed {
                        event_type,
                        key: &key,
                        groups: &mut groups,
                    };
                    if let GroupShape::Other(kind) = map.next_value_seed(seed)? {
                        if event_type.is_some() {
                            groups.fail(wrong_type(format!("events.{key}"), "an array", kind));
                        }
                    }
                }
                Ok(RawEvents::Groups(groups))
            }
        }
        d.deserialize_any(EventsVisitor)
    }
}

/// What the value of an event type was: a list (its events went into [`Groups`]), or some
/// other kind of value.
enum GroupShape {
    List,
    Other(Kind),
}

/// Reads the value of one event type into `groups`. With no `event_type` (an unknown or
/// repeated type) its events are read the same way and dropped.
struct GroupSeed<'k, 'g> {
    event_type: Option<EventType>,
    key: &'k str,
    groups: &'g mut Groups,
}

impl<'de> DeserializeSeed<'de> for GroupSeed<'_, '_> {
    type Value = GroupShape;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GroupSeed<'_, '_> {
    type Value = GroupShape;
    visit_other_kinds!("a list of events", GroupShape::Other);
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map).map(|()| GroupShape::Other(Kind::Object))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut index = 0;
        while let Some(raw) = seq.next_element::<RawEvent<'de>>()? {
            if let (Some(event_type), None) = (self.event_type, &self.groups.fault) {
                match validate_event(event_type, raw, self.key, index) {
                    Ok(event) => self.groups.events.push(event),
                    Err(fault) => self.groups.fail(fault),
                }
            }
            index += 1;
        }
        Ok(GroupShape::List)
    }
}

/// One event: the fields of either type (those of the other type are ignored at validation),
/// or some other kind of value.
#[derive(Debug)]
enum RawEvent<'a> {
    Object(RawEventFields<'a>),
    Other(Kind),
}

#[derive(Debug, Default)]
struct RawEventFields<'a> {
    cmdl: Option<Loose<'a>>,
    user: Option<Loose<'a>>,
    source_ip: Option<Loose<'a>>,
    destination_ip: Option<Loose<'a>>,
    destination_port: Option<Loose<'a>>,
    duplicate: Option<String>,
}

impl<'de> Deserialize<'de> for RawEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = RawEvent<'de>;
            visit_other_kinds!("an event object", RawEvent::Other);
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                drain_seq(seq).map(|()| RawEvent::Other(Kind::Array))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut f = RawEventFields::default();
                while let Some(Key(key)) = map.next_key()? {
                    let slot = match key.as_ref() {
                        "cmdl" => &mut f.cmdl,
                        "user" => &mut f.user,
                        "source_ip" => &mut f.source_ip,
                        "destination_ip" => &mut f.destination_ip,
                        "destination_port" => &mut f.destination_port,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    put(slot, map.next_value()?, &key, &mut f.duplicate);
                }
                Ok(RawEvent::Object(f))
            }
        }
        d.deserialize_any(EventVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Stage 3: validation of the loose shape, first fault in document order wins.

impl RawSubmission<'_> {
    fn validate(self) -> Result<Submission, Invalid> {
        let f = match self {
            RawSubmission::Object(f) => f,
            RawSubmission::Other(kind) => {
                return Err(Invalid::new(
                    DropReason::NotObject,
                    format!("the submission is {kind}, not a JSON object"),
                ))
            }
        };
        if let Some(key) = f.duplicate {
            return Err(duplicate(&key));
        }
        let submission_id = uuid_field(
            f.submission_id,
            Place::top("submission_id"),
            DropReason::BadSubmissionId,
        )?;
        let device_id = uuid_field(
            f.device_id,
            Place::top("device_id"),
            DropReason::BadDeviceId,
        )?;
        let time_created = string_field(f.time_created, Place::top("time_created"))?;
        if !time_created::is_valid(&time_created) {
            return Err(Invalid::new(
                DropReason::BadTimeCreated,
                format!(
                    "time_created: {} is not an ISO 8601 date-time",
                    quoted(&time_created)
                ),
            ));
        }
        let groups = match f.events {
            None => return Err(missing("events")),
            Some(RawEvents::Other(kind)) => return Err(wrong_type("events", "an object", kind)),
            Some(RawEvents::Groups(groups)) => groups,
        };
        if let Some(fault) = groups.fault {
            return Err(fault);
        }
        Ok(Submission {
            submission_id,
            device_id,
            time_created: time_created.into_owned(),
            events: groups.events,
        })
    }
}

/// Where a field is, for messages: `device_id` or `events.new_process[2].cmdl`. Formatted only
/// when a message is written, so valid submissions pay nothing for it.
#[derive(Clone, Copy)]
struct Place<'a> {
    /// The event type key and the event's index, for an event field.
    event: Option<(&'a str, usize)>,
    field: &'a str,
}

impl<'a> Place<'a> {
    const fn top(field: &'a str) -> Self {
        Place { event: None, field }
    }
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.event {
            Some((key, index)) => write!(f, "events.{key}[{index}].{}", self.field),
            None => f.write_str(self.field),
        }
    }
}

fn validate_event(
    event_type: EventType,
    raw: RawEvent<'_>,
    key: &str,
    index: usize,
) -> Result<EventData, Invalid> {
    let at = |field| Place {
        event: Some((key, index)),
        field,
    };
    let f = match raw {
        RawEvent::Object(f) => f,
        RawEvent::Other(kind) => {
            return Err(wrong_type(
                format!("events.{key}[{index}]"),
                "an object",
                kind,
            ))
        }
    };
    if let Some(name) = f.duplicate {
        return Err(duplicate(&at(&name).to_string()));
    }
    Ok(match event_type {
        EventType::NewProcess => EventData::NewProcess {
            cmdl: string_field(f.cmdl, at("cmdl"))?.into_owned(),
            user: string_field(f.user, at("user"))?.into_owned(),
        },
        EventType::NetworkConnection => EventData::NetworkConnection {
            source_ip: ipv4_field(f.source_ip, at("source_ip"))?,
            destination_ip: ipv4_field(f.destination_ip, at("destination_ip"))?,
            destination_port: port_field(f.destination_port, at("destination_port"))?,
        },
    })
}

fn missing(name: impl fmt::Display) -> Invalid {
    Invalid::new(DropReason::MissingField, format!("{name} is missing"))
}

fn duplicate(name: &str) -> Invalid {
    Invalid::new(
        DropReason::DuplicateField,
        format!("{name} appears more than once"),
    )
}

fn wrong_type(name: impl fmt::Display, expected: &str, found: Kind) -> Invalid {
    Invalid::new(
        DropReason::WrongType,
        format!("{name} must be {expected}, found {found}"),
    )
}

fn string_field<'a>(value: Option<Loose<'a>>, name: Place<'_>) -> Result<Cow<'a, str>, Invalid> {
    match value {
        None => Err(missing(name)),
        Some(Loose::Str(s)) => Ok(s),
        Some(other) => Err(wrong_type(name, "a string", other.kind())),
    }
}

fn uuid_field(
    value: Option<Loose<'_>>,
    name: Place<'_>,
    reason: DropReason,
) -> Result<Uuid, Invalid> {
    let s = string_field(value, name)?;
    // Only the hyphenated form (36 chars): the uuid crate also takes simple, braced and urn forms.
    match Uuid::try_parse(&s) {
        Ok(id) if s.len() == 36 => Ok(id),
        _ => Err(Invalid::new(
            reason,
            format!("{name}: {} is not a hyphenated UUID", quoted(&s)),
        )),
    }
}

fn ipv4_field(value: Option<Loose<'_>>, name: Place<'_>) -> Result<Ipv4Addr, Invalid> {
    let s = string_field(value, name)?;
    // std's parser takes exactly four decimal octets 0..=255 and refuses leading zeros.
    s.parse().map_err(|_| {
        Invalid::new(
            DropReason::BadIp,
            format!("{name}: {} is not an IPv4 address", quoted(&s)),
        )
    })
}

fn port_field(value: Option<Loose<'_>>, name: Place<'_>) -> Result<u16, Invalid> {
    let bad = |shown: String| {
        Invalid::new(
            DropReason::BadPort,
            format!("{name}: {shown} is not an integer in 0..=65535"),
        )
    };
    match value {
        None => Err(missing(name)),
        Some(Loose::U64(n)) => u16::try_from(n).map_err(|_| bad(n.to_string())),
        Some(Loose::I64(n)) => Err(bad(n.to_string())),
        // Debug, not Display: `443.0` stays visibly a fraction, and 1e300 is five characters
        // instead of three hundred digits.
        Some(Loose::F64(n)) => Err(bad(format!("{n:?}"))),
        Some(other) => Err(wrong_type(name, "an integer", other.kind())),
    }
}
