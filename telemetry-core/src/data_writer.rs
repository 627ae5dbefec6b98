//! Writes an event's `event_data` straight into wire JSON, applying the type's
//! `redact`/`skip` rules and the sink's [`Scrubber`] on the way.
//!
//! This is the transport's per-event work, so it builds nothing in between: the
//! value is serialized once, through [`Scrub`], a serde `Serializer` adapter that
//! forwards everything to `serde_json`'s writer and only steps in at object keys
//! (struct fields and map entries, at any depth): a key the rules or the scrubber
//! name gets `"[REDACTED]"` (or, for a `skip` rule, nothing) instead of its value.
//!
//! Keys come out in the order serde writes them (declaration order for a struct),
//! and `f32` values in their own shortest form (`0.12`, not `0.11999999731779099`),
//! because serde_json's writer, not `serde_json::Value`, prints the numbers.

use serde::ser::{self, Serialize, Serializer};
use serde_json::Value;

use crate::event::EventDataError;
use crate::scrub::{Scrubber, REDACTED};

/// The name serde_json gives `RawValue`'s serialization: already-written JSON
/// text, which the adapter parses so that the keys inside are scrubbed too.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Where an event writes its `event_data`: the output buffer and the sink's scrubbing rules.
///
/// [`TelemetryEvent::write_event_data`](crate::TelemetryEvent::write_event_data) receives one.
/// A hand-written implementation serializes its value with [`DataWriter::serialize`]:
///
/// ```
/// use telemetry_core::{DataWriter, Scrubber};
/// #[derive(serde::Serialize)]
/// struct Login { user: &'static str, password: &'static str }
///
/// let mut out = Vec::new();
/// let scrubber = Scrubber::default();
/// DataWriter::new(&mut out, &scrubber).serialize(&Login { user: "ann", password: "hunter2" }).unwrap();
/// assert_eq!(out, br#"{"user":"ann","password":"[REDACTED]"}"#);
/// ```
pub struct DataWriter<'a> {
    out: &'a mut Vec<u8>,
    scrubber: &'a Scrubber,
    /// Whether the one object has been written.
    wrote: bool,
}

impl<'a> DataWriter<'a> {
    /// A writer appending to `out`, scrubbing by `scrubber`.
    pub fn new(out: &'a mut Vec<u8>, scrubber: &'a Scrubber) -> Self {
        DataWriter {
            out,
            scrubber,
            wrote: false,
        }
    }

    /// Writes `value` as the `event_data` object, scrubbed.
    ///
    /// On error nothing is left in the buffer. `value` must serialize to a JSON
    /// object (a struct or a map); anything else is [`EventDataError::NotAnObject`].
    pub fn serialize<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EventDataError> {
        self.serialize_with(value, &KeyRules::NONE)
    }

    /// Writes `value` like [`serialize`](Self::serialize), with a type's own rules
    /// for its top-level keys (what `#[telemetry(redact)]` and `#[telemetry(skip)]` declare).
    ///
    /// ```
    /// use telemetry_core::{DataWriter, KeyRules, Scrubber};
    /// #[derive(serde::Serialize)]
    /// struct Signup { plan: &'static str, email: &'static str, internal: u32 }
    ///
    /// let mut out = Vec::new();
    /// let rules = KeyRules::new(&["email"], &["internal"]);
    /// let scrubber = Scrubber::default();
    /// DataWriter::new(&mut out, &scrubber)
    ///     .serialize_with(&Signup { plan: "pro", email: "a@b.c", internal: 7 }, &rules)
    ///     .unwrap();
    /// assert_eq!(out, br#"{"plan":"pro","email":"[REDACTED]"}"#);
    /// ```
    pub fn serialize_with<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        rules: &KeyRules<'_>,
    ) -> Result<(), EventDataError> {
        if self.wrote {
            return Err(EventDataError::NotAnObject(
                "a second object (write_event_data must write exactly one)",
            ));
        }
        let start = self.out.len();
        let mut json = serde_json::Serializer::new(&mut *self.out);
        let written = if rules.is_empty() && !self.scrubber.is_enabled() {
            value.serialize(&mut json)
        } else {
            value.serialize(Scrub {
                inner: &mut json,
                scrubber: self.scrubber,
                rules: Some(rules),
            })
        };
        if let Err(e) = written {
            self.out.truncate(start);
            return Err(EventDataError::Serialize(e));
        }
        match self.out.get(start) {
            Some(b'{') => {
                self.wrote = true;
                Ok(())
            }
            first => {
                let what = json_type_of_first_byte(first.copied());
                self.out.truncate(start);
                Err(EventDataError::NotAnObject(what))
            }
        }
    }
}

impl DataWriter<'_> {
    /// `Ok` once exactly one object was written: what the envelope needs.
    pub(crate) fn finished(&self) -> Result<(), EventDataError> {
        match self.wrote {
            true => Ok(()),
            false => Err(EventDataError::NotAnObject(
                "nothing (write_event_data wrote no object)",
            )),
        }
    }
}

/// Which JSON type a value is, from the first byte serde_json wrote for it.
fn json_type_of_first_byte(first: Option<u8>) -> &'static str {
    match first {
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') | None => "null",
        Some(_) => "a number",
    }
}

/// A type's own rules for the top-level keys of its `event_data`: the keys of
/// `#[telemetry(redact)]` fields are replaced, those of `#[telemetry(skip)]` fields
/// left out. Generated by `#[derive(TelemetryEvent)]`; scrubbing by key comes on top.
#[derive(Debug, Default, Clone)]
pub struct KeyRules<'k> {
    redact: &'k [&'k str],
    skip: &'k [&'k str],
    /// Keys known only at run time: those a `#[serde(flatten)]` field contributes.
    more_redact: Vec<String>,
    more_skip: Vec<String>,
}

impl<'k> KeyRules<'k> {
    /// No rules.
    pub const NONE: KeyRules<'static> = KeyRules::new(&[], &[]);

    /// Replace the values under `redact`, leave out those under `skip`.
    pub const fn new(redact: &'k [&'k str], skip: &'k [&'k str]) -> Self {
        KeyRules {
            redact,
            skip,
            more_redact: Vec::new(),
            more_skip: Vec::new(),
        }
    }

    /// Also replace every key `flattened` (a `#[serde(flatten)]` field) writes.
    pub fn redact_flattened<T: Serialize + ?Sized>(mut self, flattened: &T) -> Result<Self, EventDataError> {
        self.more_redact.extend(flattened_keys(flattened)?);
        Ok(self)
    }

    /// Also leave out every key `flattened` (a `#[serde(flatten)]` field) writes.
    pub fn skip_flattened<T: Serialize + ?Sized>(mut self, flattened: &T) -> Result<Self, EventDataError> {
        self.more_skip.extend(flattened_keys(flattened)?);
        Ok(self)
    }

    fn is_empty(&self) -> bool {
        self.redact.is_empty() && self.skip.is_empty() && self.more_redact.is_empty() && self.more_skip.is_empty()
    }

    fn action(&self, key: &str) -> Option<KeyAction> {
        if self.is_empty() {
            return None;
        }
        if self.skip.contains(&key) || self.more_skip.iter().any(|k| k == key) {
            Some(KeyAction::Skip)
        } else if self.redact.contains(&key) || self.more_redact.iter().any(|k| k == key) {
            Some(KeyAction::Redact)
        } else {
            None
        }
    }
}

/// The keys a `#[serde(flatten)]` field contributes to its parent.
fn flattened_keys<T: Serialize + ?Sized>(value: &T) -> Result<Vec<String>, EventDataError> {
    match serde_json::to_value(value).map_err(EventDataError::Serialize)? {
        Value::Object(map) => Ok(map.into_iter().map(|(k, _)| k).collect()),
        // `flatten` of `None` contributes nothing.
        _ => Ok(Vec::new()),
    }
}

/// What happens to the value under a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyAction {
    Keep,
    Redact,
    Skip,
}

/// The action for `key`: the type's rules (top level only), then the scrubber.
fn action_for(key: &str, rules: Option<&KeyRules<'_>>, scrubber: &Scrubber) -> KeyAction {
    decide(key, rules, || scrubber.key_matches(key))
}

/// [`action_for`] a struct field's name, which the scrubber can remember.
fn action_for_field(key: &'static str, rules: Option<&KeyRules<'_>>, scrubber: &Scrubber) -> KeyAction {
    decide(key, rules, || scrubber.static_key_matches(key))
}

fn decide(key: &str, rules: Option<&KeyRules<'_>>, scrubbed: impl FnOnce() -> bool) -> KeyAction {
    match rules.and_then(|r| r.action(key)) {
        Some(action) => action,
        None if scrubbed() => KeyAction::Redact,
        None => KeyAction::Keep,
    }
}

/// The serializer adapter: `inner` does the writing; keys are checked on the way.
/// `rules` is set only for the top-level object (and the wrappers around it:
/// `Some`, newtype structs), never for nested ones.
struct Scrub<'r, S> {
    inner: S,
    scrubber: &'r Scrubber,
    rules: Option<&'r KeyRules<'r>>,
}

/// A value to serialize through [`Scrub`] whatever serializer serde hands it.
struct Scrubbed<'r, T: ?Sized> {
    value: &'r T,
    scrubber: &'r Scrubber,
    rules: Option<&'r KeyRules<'r>>,
}

impl<'r, T: ?Sized> Scrubbed<'r, T> {
    /// `value` below the top level: scrubbed, without the type's rules.
    fn nested(value: &'r T, scrubber: &'r Scrubber) -> Self {
        Scrubbed {
            value,
            scrubber,
            rules: None,
        }
    }
}

impl<T: Serialize + ?Sized> Serialize for Scrubbed<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.rules.is_none() && !self.scrubber.is_enabled() {
            return self.value.serialize(serializer);
        }
        self.value.serialize(Scrub {
            inner: serializer,
            scrubber: self.scrubber,
            rules: self.rules,
        })
    }
}

impl<'r, S> Scrub<'r, S> {
    /// What happens to the value of an enum variant that serde_json writes as
    /// `{"<variant>": ...}`: the name is a key like any other (a `skip` rule on
    /// it redacts: the object is already begun).
    fn variant_action(&self, variant: &'static str) -> KeyAction {
        action_for_field(variant, self.rules, self.scrubber)
    }

    /// `value` nested one level down: scrubbed, but the top-level rules no longer apply.
    fn nested<'v, T: ?Sized>(&self, value: &'v T) -> Scrubbed<'v, T>
    where
        'r: 'v,
    {
        Scrubbed::nested(value, self.scrubber)
    }

    /// `value` wrapped by a transparent layer (`Some`, a newtype): same level, same rules.
    fn same_level<'v, T: ?Sized>(&self, value: &'v T) -> Scrubbed<'v, T>
    where
        'r: 'v,
    {
        Scrubbed {
            value,
            scrubber: self.scrubber,
            rules: self.rules,
        }
    }
}

macro_rules! forward_scalars {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<S::Ok, S::Error> {
            self.inner.$method(v)
        })*
    };
}

impl<'r, S: Serializer> Serializer for Scrub<'r, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Elements<'r, S::SerializeSeq>;
    type SerializeTuple = Elements<'r, S::SerializeTuple>;
    type SerializeTupleStruct = Elements<'r, S::SerializeTupleStruct>;
    type SerializeTupleVariant = TupleVariant<'r, S>;
    type SerializeMap = Entries<'r, S::SerializeMap>;
    type SerializeStruct = Fields<'r, S>;
    type SerializeStructVariant = Fields<'r, S>;

    forward_scalars!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let value = self.same_level(value);
        self.inner.serialize_some(&value)
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }

    fn serialize_unit_variant(self, name: &'static str, index: u32, variant: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<S::Ok, S::Error> {
        let value = self.same_level(value);
        self.inner.serialize_newtype_struct(name, &value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        // serde_json writes `{"<variant>": value}`: the variant's name is a key.
        if self.variant_action(variant) != KeyAction::Keep {
            return self.inner.serialize_newtype_variant(name, index, variant, REDACTED);
        }
        let value = self.nested(value);
        self.inner.serialize_newtype_variant(name, index, variant, &value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Ok(Elements::new(self.inner.serialize_seq(len)?, self.scrubber))
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        Ok(Elements::new(self.inner.serialize_tuple(len)?, self.scrubber))
    }

    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeTupleStruct, S::Error> {
        Ok(Elements::new(
            self.inner.serialize_tuple_struct(name, len)?,
            self.scrubber,
        ))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        if self.variant_action(variant) != KeyAction::Keep {
            let written = self.inner.serialize_newtype_variant(name, index, variant, REDACTED)?;
            return Ok(TupleVariant::Replaced(written));
        }
        Ok(TupleVariant::Elements(Elements::new(
            self.inner.serialize_tuple_variant(name, index, variant, len)?,
            self.scrubber,
        )))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Ok(Entries {
            inner: self.inner.serialize_map(len)?,
            scrubber: self.scrubber,
            rules: self.rules,
            pending: KeyAction::Keep,
        })
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeStruct, S::Error> {
        if name == RAW_VALUE_TOKEN {
            // Already-written JSON: parsed at its one field, then scrubbed like any value.
            return Ok(Fields {
                state: FieldsState::Raw(Some(self.inner)),
                scrubber: self.scrubber,
                rules: self.rules,
            });
        }
        Ok(Fields {
            state: FieldsState::Struct(self.inner.serialize_struct(name, len)?),
            scrubber: self.scrubber,
            rules: self.rules,
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        if self.variant_action(variant) != KeyAction::Keep {
            let written = self.inner.serialize_newtype_variant(name, index, variant, REDACTED)?;
            return Ok(Fields {
                state: FieldsState::Replaced(written),
                scrubber: self.scrubber,
                rules: None,
            });
        }
        Ok(Fields {
            state: FieldsState::Variant(self.inner.serialize_struct_variant(name, index, variant, len)?),
            scrubber: self.scrubber,
            rules: None,
        })
    }

    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The elements of a sequence, tuple or tuple variant: each scrubbed.
struct Elements<'r, C> {
    inner: C,
    scrubber: &'r Scrubber,
}

impl<'r, C> Elements<'r, C> {
    fn new(inner: C, scrubber: &'r Scrubber) -> Self {
        Elements { inner, scrubber }
    }

    fn wrap<'v, T: ?Sized>(&self, value: &'v T) -> Scrubbed<'v, T>
    where
        'r: 'v,
    {
        Scrubbed::nested(value, self.scrubber)
    }
}

macro_rules! elements_impl {
    ($trait:ident, $method:ident) => {
        impl<C: ser::$trait> ser::$trait for Elements<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                let value = self.wrap(value);
                self.inner.$method(&value)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}

elements_impl!(SerializeSeq, serialize_element);
elements_impl!(SerializeTuple, serialize_element);
elements_impl!(SerializeTupleStruct, serialize_field);

/// A tuple variant's elements, or, when its name is a scrubbed key, what
/// replaced them.
enum TupleVariant<'r, S: Serializer> {
    Elements(Elements<'r, S::SerializeTupleVariant>),
    Replaced(S::Ok),
}

impl<S: Serializer> ser::SerializeTupleVariant for TupleVariant<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        match self {
            TupleVariant::Elements(elements) => {
                let value = elements.wrap(value);
                elements.inner.serialize_field(&value)
            }
            TupleVariant::Replaced(_) => Ok(()),
        }
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        match self {
            TupleVariant::Elements(elements) => elements.inner.end(),
            TupleVariant::Replaced(written) => Ok(written),
        }
    }
}

/// The entries of a map (also a struct with `#[serde(flatten)]` fields, which serde
/// writes as a map). The key decides what happens to the value that follows.
struct Entries<'r, M> {
    inner: M,
    scrubber: &'r Scrubber,
    rules: Option<&'r KeyRules<'r>>,
    pending: KeyAction,
}

impl<M: ser::SerializeMap> ser::SerializeMap for Entries<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), M::Error> {
        self.pending = key
            .serialize(KeyText {
                rules: self.rules,
                scrubber: self.scrubber,
            })
            // A key that is not text: serde_json refuses it below, with its own message.
            .unwrap_or(KeyAction::Keep);
        if self.pending == KeyAction::Skip {
            return Ok(());
        }
        self.inner.serialize_key(key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), M::Error> {
        match self.pending {
            KeyAction::Skip => Ok(()),
            KeyAction::Redact => self.inner.serialize_value(REDACTED),
            KeyAction::Keep => self.inner.serialize_value(&Scrubbed::nested(value, self.scrubber)),
        }
    }

    fn end(self) -> Result<M::Ok, M::Error> {
        self.inner.end()
    }
}

/// The fields of a struct or struct variant, or the one field of a `RawValue`.
struct Fields<'r, S: Serializer> {
    state: FieldsState<S>,
    scrubber: &'r Scrubber,
    rules: Option<&'r KeyRules<'r>>,
}

enum FieldsState<S: Serializer> {
    Struct(S::SerializeStruct),
    Variant(S::SerializeStructVariant),
    /// A `RawValue`: the serializer until its text arrives, then what it wrote.
    Raw(Option<S>),
    RawDone(S::Ok),
    /// A struct variant whose name is a scrubbed key: `"[REDACTED]"` was written
    /// in its place, its fields are ignored.
    Replaced(S::Ok),
}

impl<S: Serializer> Fields<'_, S> {
    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), S::Error> {
        use ser::SerializeStruct as _;
        let action = action_for_field(key, self.rules, self.scrubber);
        let nested = Scrubbed::nested(value, self.scrubber);
        match &mut self.state {
            FieldsState::Struct(s) => match action {
                KeyAction::Keep => s.serialize_field(key, &nested),
                KeyAction::Redact => s.serialize_field(key, REDACTED),
                KeyAction::Skip => s.skip_field(key),
            },
            FieldsState::Variant(s) => {
                use ser::SerializeStructVariant as _;
                match action {
                    KeyAction::Keep => s.serialize_field(key, &nested),
                    KeyAction::Redact => s.serialize_field(key, REDACTED),
                    KeyAction::Skip => s.skip_field(key),
                }
            }
            FieldsState::Raw(inner) => {
                let Some(inner) = inner.take() else {
                    return Err(ser::Error::custom("RawValue with more than one field"));
                };
                // The field is the raw text as a string: read it back through
                // serde_json (rare path; no serializer of our own needed).
                let quoted = serde_json::to_string(value).map_err(ser::Error::custom)?;
                let text: String = serde_json::from_str(&quoted).map_err(ser::Error::custom)?;
                let parsed: Value = serde_json::from_str(&text).map_err(ser::Error::custom)?;
                let written = Scrubbed {
                    value: &parsed,
                    scrubber: self.scrubber,
                    rules: self.rules,
                }
                .serialize(inner)?;
                self.state = FieldsState::RawDone(written);
                Ok(())
            }
            FieldsState::RawDone(_) => Err(ser::Error::custom("RawValue with more than one field")),
            FieldsState::Replaced(_) => Ok(()),
        }
    }

    fn finish(self) -> Result<S::Ok, S::Error> {
        use ser::SerializeStruct as _;
        match self.state {
            FieldsState::Struct(s) => s.end(),
            FieldsState::Variant(s) => ser::SerializeStructVariant::end(s),
            FieldsState::RawDone(ok) | FieldsState::Replaced(ok) => Ok(ok),
            FieldsState::Raw(_) => Err(ser::Error::custom("RawValue without its text")),
        }
    }
}

impl<S: Serializer> ser::SerializeStruct for Fields<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), S::Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.finish()
    }
}

impl<S: Serializer> ser::SerializeStructVariant for Fields<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), S::Error> {
        self.field(key, value)
    }
    fn end(self) -> Result<S::Ok, S::Error> {
        self.finish()
    }
}

/// Reads a map key as text (as serde_json would write it) and decides its action.
struct KeyText<'r> {
    rules: Option<&'r KeyRules<'r>>,
    scrubber: &'r Scrubber,
}

/// The error of the small serializers here; never seen by users (see `serialize_key`).
type Refused = serde::de::value::Error;

impl KeyText<'_> {
    fn decide(&self, key: &str) -> Result<KeyAction, Refused> {
        Ok(action_for(key, self.rules, self.scrubber))
    }

    fn decide_display(&self, key: impl std::fmt::Display) -> Result<KeyAction, Refused> {
        self.decide(&key.to_string())
    }
}

macro_rules! key_as_display {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Result<KeyAction, Refused> {
            self.decide_display(v)
        })*
    };
}

macro_rules! refuse {
    ($($method:ident($($arg:ty),*) -> $ret:ty),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<$ret, Refused> {
            Err(ser::Error::custom("not text"))
        })*
    };
}

impl Serializer for KeyText<'_> {
    type Ok = KeyAction;
    type Error = Refused;
    type SerializeSeq = ser::Impossible<KeyAction, Refused>;
    type SerializeTuple = ser::Impossible<KeyAction, Refused>;
    type SerializeTupleStruct = ser::Impossible<KeyAction, Refused>;
    type SerializeTupleVariant = ser::Impossible<KeyAction, Refused>;
    type SerializeMap = ser::Impossible<KeyAction, Refused>;
    type SerializeStruct = ser::Impossible<KeyAction, Refused>;
    type SerializeStructVariant = ser::Impossible<KeyAction, Refused>;

    fn serialize_str(self, v: &str) -> Result<KeyAction, Refused> {
        self.decide(v)
    }
    fn serialize_char(self, v: char) -> Result<KeyAction, Refused> {
        self.decide(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<KeyAction, Refused> {
        self.decide(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<KeyAction, Refused> {
        v.serialize(self)
    }
    key_as_display!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
    );
    fn serialize_f32(self, v: f32) -> Result<KeyAction, Refused> {
        // As serde_json writes a float key (`1e20`, not Display's digits).
        self.decide(&serde_json::to_string(&v).map_err(ser::Error::custom)?)
    }
    fn serialize_f64(self, v: f64) -> Result<KeyAction, Refused> {
        self.decide(&serde_json::to_string(&v).map_err(ser::Error::custom)?)
    }
    refuse!(
        serialize_bytes(&[u8]) -> KeyAction,
        serialize_none() -> KeyAction,
        serialize_unit() -> KeyAction,
        serialize_unit_struct(&'static str) -> KeyAction,
        serialize_seq(Option<usize>) -> Self::SerializeSeq,
        serialize_tuple(usize) -> Self::SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant,
        serialize_map(Option<usize>) -> Self::SerializeMap,
        serialize_struct(&'static str, usize) -> Self::SerializeStruct,
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant,
    );
    fn serialize_some<T: Serialize + ?Sized>(self, key: &T) -> Result<KeyAction, Refused> {
        // serde_json writes `Some(k)` as `k`.
        key.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<KeyAction, Refused> {
        Err(ser::Error::custom("not text"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::{json, Value};

    use super::*;

    fn write<T: Serialize + ?Sized>(
        value: &T,
        rules: &KeyRules<'_>,
        scrubber: &Scrubber,
    ) -> Result<String, EventDataError> {
        let mut out = b"prefix".to_vec();
        let result = DataWriter::new(&mut out, scrubber).serialize_with(value, rules);
        assert!(out.starts_with(b"prefix"), "what was in the buffer is kept");
        match result {
            Ok(()) => Ok(String::from_utf8(out[6..].to_vec()).unwrap()),
            Err(e) => {
                assert_eq!(out, b"prefix", "a failed write leaves nothing behind");
                Err(e)
            }
        }
    }

    fn scrubbed<T: Serialize + ?Sized>(value: &T) -> String {
        write(value, &KeyRules::NONE, &Scrubber::default()).unwrap()
    }

    #[derive(Serialize)]
    enum Shape {
        Tuple(u8, &'static str),
        Struct { token: &'static str, side: u8 },
        Newtype(BTreeMap<&'static str, u8>),
        Unit,
    }

    #[derive(Serialize)]
    struct Wrapper(Inner);

    #[derive(Serialize)]
    struct Inner {
        secret: u8,
        ok: u8,
    }

    #[test]
    fn keys_are_scrubbed_inside_every_serde_shape() {
        let shapes = vec![
            Shape::Tuple(1, "x"),
            Shape::Struct { token: "t", side: 2 },
            Shape::Newtype([("password", 1), ("n", 2)].into_iter().collect()),
            Shape::Unit,
        ];
        assert_eq!(
            scrubbed(&BTreeMap::from([("shapes", &shapes)])),
            r#"{"shapes":[{"Tuple":[1,"x"]},{"Struct":{"token":"[REDACTED]","side":2}},{"Newtype":{"n":2,"password":"[REDACTED]"}},"Unit"]}"#
        );
        // Through a newtype struct and an Option: the same object, scrubbed.
        assert_eq!(
            scrubbed(&Some(Wrapper(Inner { secret: 1, ok: 2 }))),
            r#"{"secret":"[REDACTED]","ok":2}"#
        );
    }

    #[derive(Serialize)]
    #[allow(dead_code)]
    enum Credential {
        ApiKey(&'static str),
        Password { value: &'static str },
        Token(u8, &'static str),
        Name(&'static str),
    }

    #[test]
    fn enum_variant_names_are_keys_and_scrubbed_like_keys() {
        let creds = [
            Credential::ApiKey("sk-live"),
            Credential::Password { value: "hunter2" },
            Credential::Token(1, "t"),
            Credential::Name("ann"),
        ];
        assert_eq!(
            scrubbed(&BTreeMap::from([("login", &creds)])),
            concat!(
                r#"{"login":[{"ApiKey":"[REDACTED]"},{"Password":"[REDACTED]"},"#,
                r#"{"Token":"[REDACTED]"},{"Name":"ann"}]}"#
            )
        );
        // The same as scrubbing the parsed value (the tree walk's reading).
        let mut tree = serde_json::to_value(BTreeMap::from([("login", &creds)])).unwrap();
        Scrubber::default().scrub_value(&mut tree);
        assert_eq!(
            serde_json::from_str::<Value>(&scrubbed(&BTreeMap::from([("login", &creds)]))).unwrap(),
            tree
        );
    }

    #[test]
    fn option_and_float_map_keys_are_read_as_serde_json_writes_them() {
        let by_option = BTreeMap::from([(Some("password"), "hunter2"), (Some("user"), "ann")]);
        assert_eq!(
            scrubbed(&BTreeMap::from([("m", by_option)])),
            r#"{"m":{"password":"[REDACTED]","user":"ann"}}"#
        );
        let extra = Scrubber::default().with_extra_patterns(["1e+20"]);
        let mut out = Vec::new();
        let by_float = FloatKeys(1e20, 2.5);
        DataWriter::new(&mut out, &extra).serialize(&by_float).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"1e+20":"[REDACTED]","2.5":2}"#);
    }

    /// A map with float keys (no std map has them: floats are not `Ord`/`Hash`).
    struct FloatKeys(f64, f64);

    impl Serialize for FloatKeys {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeMap as _;
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry(&self.0, &1)?;
            map.serialize_entry(&self.1, &2)?;
            map.end()
        }
    }

    #[test]
    fn a_writer_takes_exactly_one_object() {
        let mut out = Vec::new();
        let scrubber = Scrubber::default();
        let mut writer = DataWriter::new(&mut out, &scrubber);
        assert!(matches!(writer.finished(), Err(EventDataError::NotAnObject(_))));
        writer.serialize(&json!({"a": 1})).unwrap();
        writer.finished().unwrap();
        assert!(matches!(
            writer.serialize(&json!({"b": 2})),
            Err(EventDataError::NotAnObject(_))
        ));
        assert_eq!(out, br#"{"a":1}"#);
    }

    #[test]
    fn map_keys_that_are_not_strings_are_read_as_serde_json_writes_them() {
        let by_number = BTreeMap::from([(1u32, "a"), (20, "b")]);
        assert_eq!(scrubbed(&json!({"m": by_number})), r#"{"m":{"1":"a","20":"b"}}"#);
        let extra = Scrubber::default().with_extra_patterns(["20", "k"]);
        assert_eq!(
            write(&BTreeMap::from([("m", by_number)]), &KeyRules::NONE, &extra).unwrap(),
            r#"{"m":{"1":"a","20":"[REDACTED]"}}"#
        );
        let by_char = BTreeMap::from([('k', 1), ('z', 2)]);
        assert_eq!(
            write(&BTreeMap::from([("m", by_char)]), &KeyRules::NONE, &extra).unwrap(),
            r#"{"m":{"k":"[REDACTED]","z":2}}"#
        );
    }

    #[test]
    fn raw_json_is_read_and_scrubbed_too() {
        let raw = serde_json::value::to_raw_value(&json!({"user": {"api_key": "k", "name": "ann"}})).unwrap();
        assert_eq!(
            scrubbed(&BTreeMap::from([("payload", &raw)])),
            r#"{"payload":{"user":{"api_key":"[REDACTED]","name":"ann"}}}"#
        );
        // At the top level the type's rules still apply to its keys.
        let top = serde_json::value::to_raw_value(&json!({"email": "a@b", "plan": "pro"})).unwrap();
        assert_eq!(
            write(&top, &KeyRules::new(&["email"], &[]), &Scrubber::disabled()).unwrap(),
            r#"{"email":"[REDACTED]","plan":"pro"}"#
        );
    }

    #[test]
    fn rules_apply_to_top_level_keys_only_and_before_scrubbing() {
        let value = json!({"email": "a@b", "internal": 1, "nested": {"email": "kept", "internal": 2}});
        let rules = KeyRules::new(&["email"], &["internal"]);
        assert_eq!(
            write(&value, &rules, &Scrubber::disabled()).unwrap(),
            r#"{"email":"[REDACTED]","nested":{"email":"kept","internal":2}}"#
        );
    }

    #[test]
    fn flattened_fields_are_redacted_or_skipped_by_the_keys_they_write() {
        #[derive(Serialize)]
        struct Event {
            plan: &'static str,
            #[serde(flatten)]
            contact: BTreeMap<&'static str, &'static str>,
            #[serde(flatten)]
            debug: BTreeMap<&'static str, u8>,
        }
        let event = Event {
            plan: "pro",
            contact: BTreeMap::from([("email", "a@b"), ("phone", "1")]),
            debug: BTreeMap::from([("trace_level", 3)]),
        };
        let rules = KeyRules::NONE
            .redact_flattened(&event.contact)
            .unwrap()
            .skip_flattened(&event.debug)
            .unwrap();
        assert_eq!(
            write(&event, &rules, &Scrubber::default()).unwrap(),
            r#"{"plan":"pro","email":"[REDACTED]","phone":"[REDACTED]"}"#
        );
    }

    #[test]
    fn f32_values_keep_their_shortest_form() {
        #[derive(Serialize)]
        struct Ratio {
            r: f32,
        }
        assert_eq!(scrubbed(&Ratio { r: 0.12 }), r#"{"r":0.12}"#);
    }

    #[test]
    fn values_that_are_not_objects_are_refused_by_type() {
        for (value, what) in [
            (json!("text"), "a string"),
            (json!(3), "a number"),
            (json!(-3.5), "a number"),
            (json!([1]), "an array"),
            (json!(true), "a boolean"),
            (json!(null), "null"),
        ] {
            for scrubber in [Scrubber::default(), Scrubber::disabled()] {
                match write(&value, &KeyRules::NONE, &scrubber) {
                    Err(EventDataError::NotAnObject(got)) => assert_eq!(got, what, "{value}"),
                    other => panic!("{value}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_serialize_error_midway_leaves_the_buffer_as_it_was() {
        struct Failing;
        impl Serialize for Failing {
            fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(ser::Error::custom("refused"))
            }
        }
        let value = BTreeMap::from([("a", vec![None, Some(Failing)])]);
        match write(&value, &KeyRules::NONE, &Scrubber::default()) {
            Err(EventDataError::Serialize(e)) => assert!(e.to_string().contains("refused"), "{e}"),
            other => panic!("{other:?}"),
        }
        // A map key serde_json refuses: its own error, not a panic or bad JSON.
        let bad_key = BTreeMap::from([((1, 2), "v")]);
        assert!(matches!(
            write(&BTreeMap::from([("m", bad_key)]), &KeyRules::NONE, &Scrubber::default()),
            Err(EventDataError::Serialize(_))
        ));
    }

    fn json_object() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("password".to_string()),
            Just("authorName".to_string()),
            Just("X-Api-Key".to_string()),
            Just("user_ssn".to_string()),
            "[a-zA-Z_.-]{1,12}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z ]{0,8}".prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map("[a-zA-Z_]{1,10}", value, 0..6).prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    proptest! {
        /// Streaming scrubbing agrees with scrubbing a parsed `Value` (the
        /// `Scrubber`'s own, separately tested, tree walk).
        #[test]
        fn streaming_agrees_with_scrubbing_the_value_tree(value in json_object()) {
            let scrubber = Scrubber::default();
            let written: Value = serde_json::from_str(&scrubbed(&value)).unwrap();
            let mut expected = value.clone();
            scrubber.scrub_value(&mut expected);
            prop_assert_eq!(written, expected);
        }
    }
}
