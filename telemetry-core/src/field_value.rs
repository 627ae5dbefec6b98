//! The value of one `fields` entry of an instrumented call.
//!
//! Fields are captured on the caller's thread, so capturing must be cheap: the
//! common values (numbers, booleans, short text) are kept as they are, with no
//! allocation for numbers and text up to 22 bytes ([`FieldText`]), one for longer
//! text; anything else is serialized once to JSON text. Parsing into `event_data` happens on the sink's worker.

use serde::ser::{Impossible, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// One captured field value.
#[derive(Debug, Clone)]
pub enum FieldValue {
    /// `null` (also `None` and `()`).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// An `f32`, kept as one so it is written in its own shortest form (`0.12`).
    F32(f32),
    /// An `f64`.
    F64(f64),
    /// Text.
    Str(FieldText),
    /// Anything else, as JSON text.
    Json(Box<RawValue>),
}

impl FieldValue {
    /// Captures `value`: scalars directly, everything else through serde_json. A
    /// value serde refuses is kept as the refusal's text, not lost silently.
    pub fn capture<T: Serialize + ?Sized>(value: &T) -> Self {
        match value.serialize(ScalarCapture) {
            Ok(v) => v,
            Err(NotScalar) => match serde_json::value::to_raw_value(value) {
                Ok(raw) => FieldValue::Json(raw),
                Err(e) => FieldValue::Str(format!("<unserializable: {e}>").into()),
            },
        }
    }

    /// Text as a field value.
    pub fn text(text: impl Into<FieldText>) -> Self {
        FieldValue::Str(text.into())
    }

    /// The JSON value for `event_data`.
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Null => Value::Null,
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::I64(n) => Value::from(*n),
            FieldValue::U64(n) => Value::from(*n),
            // Through its shortest decimal form: `0.12f32` stays 0.12, not 0.11999999731779099.
            FieldValue::F32(f) => f.to_string().parse::<f64>().ok().map_or(Value::Null, Value::from),
            FieldValue::F64(f) => Value::from(*f),
            FieldValue::Str(s) => Value::String(s.to_string()),
            FieldValue::Json(raw) => serde_json::from_str(raw.get()).unwrap_or(Value::Null),
        }
    }
}

/// The text of a [`FieldValue::Str`]: up to 22 bytes kept inline (a model name,
/// an id, an enum variant: no allocation on the caller's thread), longer text
/// boxed. Reads as a `str`.
///
/// ```
/// # use telemetry_core::FieldText;
/// let short = FieldText::from("small-1");
/// assert_eq!(&*short, "small-1");
/// let long = FieldText::from("a".repeat(100));
/// assert_eq!(long.len(), 100);
/// ```
#[derive(Clone)]
pub struct FieldText(TextRepr);

/// The most bytes kept inline: with the length, 23 bytes, which with the tag
/// keeps `FieldText` as small as a `Box<str>` plus one word.
const INLINE_TEXT: usize = 22;

#[derive(Clone)]
enum TextRepr {
    Inline { len: u8, bytes: [u8; INLINE_TEXT] },
    Boxed(Box<str>),
}

impl std::ops::Deref for FieldText {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.0 {
            // Always valid: the bytes were copied whole from a `str` (never cut).
            TextRepr::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            TextRepr::Boxed(text) => text,
        }
    }
}

impl From<&str> for FieldText {
    fn from(text: &str) -> Self {
        if text.len() <= INLINE_TEXT {
            let mut bytes = [0; INLINE_TEXT];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            FieldText(TextRepr::Inline {
                len: text.len() as u8,
                bytes,
            })
        } else {
            FieldText(TextRepr::Boxed(text.into()))
        }
    }
}

impl From<String> for FieldText {
    fn from(text: String) -> Self {
        if text.len() <= INLINE_TEXT {
            FieldText::from(text.as_str())
        } else {
            FieldText(TextRepr::Boxed(text.into_boxed_str()))
        }
    }
}

impl From<Box<str>> for FieldText {
    fn from(text: Box<str>) -> Self {
        FieldText(TextRepr::Boxed(text))
    }
}

impl std::fmt::Debug for FieldText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for FieldText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl PartialEq for FieldValue {
    /// Equal when they mean the same JSON.
    fn eq(&self, other: &Self) -> bool {
        self.to_json() == other.to_json()
    }
}

impl Serialize for FieldValue {
    /// As the value it captured: scalars directly, anything else as its JSON
    /// (a `RawValue`, which a scrubbing serializer reads and scrubs inside).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldValue::Null => serializer.serialize_unit(),
            FieldValue::Bool(b) => serializer.serialize_bool(*b),
            FieldValue::I64(n) => serializer.serialize_i64(*n),
            FieldValue::U64(n) => serializer.serialize_u64(*n),
            FieldValue::F32(f) => serializer.serialize_f32(*f),
            FieldValue::F64(f) => serializer.serialize_f64(*f),
            FieldValue::Str(s) => serializer.serialize_str(s),
            FieldValue::Json(raw) => raw.serialize(serializer),
        }
    }
}

impl std::fmt::Display for FieldValue {
    /// As JSON text (what a span records).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldValue::Json(raw) => f.write_str(raw.get()),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

#[derive(Debug)]
struct NotScalar;

impl std::fmt::Display for NotScalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a scalar")
    }
}

impl std::error::Error for NotScalar {}

impl serde::ser::Error for NotScalar {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        NotScalar
    }
}

/// A serializer that accepts only scalars; compound values fall back to JSON text.
struct ScalarCapture;

macro_rules! scalar {
    ($($method:ident($ty:ty) => $variant:expr;)*) => {
        $(fn $method(self, v: $ty) -> Result<FieldValue, NotScalar> {
            #[allow(clippy::redundant_closure_call)]
            Ok(($variant)(v))
        })*
    };
}

impl Serializer for ScalarCapture {
    type Ok = FieldValue;
    type Error = NotScalar;
    type SerializeSeq = Impossible<FieldValue, NotScalar>;
    type SerializeTuple = Impossible<FieldValue, NotScalar>;
    type SerializeTupleStruct = Impossible<FieldValue, NotScalar>;
    type SerializeTupleVariant = Impossible<FieldValue, NotScalar>;
    type SerializeMap = Impossible<FieldValue, NotScalar>;
    type SerializeStruct = Impossible<FieldValue, NotScalar>;
    type SerializeStructVariant = Impossible<FieldValue, NotScalar>;

    scalar! {
        serialize_bool(bool) => FieldValue::Bool;
        serialize_i8(i8) => |v| FieldValue::I64(i64::from(v));
        serialize_i16(i16) => |v| FieldValue::I64(i64::from(v));
        serialize_i32(i32) => |v| FieldValue::I64(i64::from(v));
        serialize_i64(i64) => FieldValue::I64;
        serialize_u8(u8) => |v| FieldValue::U64(u64::from(v));
        serialize_u16(u16) => |v| FieldValue::U64(u64::from(v));
        serialize_u32(u32) => |v| FieldValue::U64(u64::from(v));
        serialize_u64(u64) => FieldValue::U64;
        serialize_f32(f32) => FieldValue::F32;
        serialize_f64(f64) => FieldValue::F64;
        serialize_char(char) => |v: char| FieldValue::Str(FieldText::from(&*v.encode_utf8(&mut [0; 4])));
        serialize_str(&str) => |v: &str| FieldValue::Str(v.into());
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<FieldValue, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_none(self) -> Result<FieldValue, NotScalar> {
        Ok(FieldValue::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<FieldValue, NotScalar> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<FieldValue, NotScalar> {
        Ok(FieldValue::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<FieldValue, NotScalar> {
        Ok(FieldValue::Null)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<FieldValue, NotScalar> {
        Ok(FieldValue::Str(variant.into()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<FieldValue, NotScalar> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<FieldValue, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotScalar> {
        Err(NotScalar)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotScalar> {
        Err(NotScalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[derive(serde::Serialize)]
    struct Point {
        x: i32,
    }

    #[derive(serde::Serialize)]
    enum Mode {
        Fast,
        Slow(u8),
    }

    proptest! {
        #[test]
        fn text_reads_back_as_it_was_written_inline_or_boxed(text in "\\PC{0,40}") {
            let kept = FieldText::from(text.as_str());
            prop_assert_eq!(&*kept, text.as_str());
            prop_assert_eq!(matches!(kept.0, TextRepr::Inline { .. }), text.len() <= INLINE_TEXT);
            prop_assert_eq!(&*FieldText::from(text.clone()), text.as_str());
            prop_assert_eq!(&*FieldText::from(text.clone().into_boxed_str()), text.as_str());
        }
    }

    #[test]
    fn a_field_is_as_small_as_before_inline_text() {
        // Two declared fields stay within a small allocation (see `CallSite::fields`).
        assert!(
            std::mem::size_of::<FieldValue>() <= 32,
            "{}",
            std::mem::size_of::<FieldValue>()
        );
        assert_eq!(std::mem::size_of::<FieldText>(), 24);
    }

    #[test]
    fn scalars_are_kept_and_everything_else_becomes_json_text() {
        assert_eq!(FieldValue::capture(&42u32), FieldValue::U64(42));
        assert_eq!(FieldValue::capture(&-1i8), FieldValue::I64(-1));
        assert_eq!(FieldValue::capture(&true), FieldValue::Bool(true));
        assert_eq!(FieldValue::capture("hi"), FieldValue::Str("hi".into()));
        assert_eq!(FieldValue::capture(&'é'), FieldValue::Str("é".into()));
        assert_eq!(FieldValue::capture(&Some(3u8)), FieldValue::U64(3));
        assert_eq!(FieldValue::capture(&None::<u8>), FieldValue::Null);
        assert_eq!(FieldValue::capture(&Mode::Fast), FieldValue::Str("Fast".into()));
        let cases = [
            (FieldValue::capture(&Point { x: 1 }), json!({"x": 1})),
            (FieldValue::capture(&vec![1, 2]), json!([1, 2])),
            (FieldValue::capture(&Mode::Slow(2)), json!({"Slow": 2})),
            (FieldValue::capture(&0.12f32), json!(0.12)),
            (FieldValue::capture(&5i128), json!(5)),
        ];
        for (captured, expected) in cases {
            assert_eq!(captured.to_json(), expected, "{captured:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
        ))]
        /// The fast path gives exactly what serde_json would (f32 aside, which it gets right).
        #[test]
        fn capture_agrees_with_serde_json(i in any::<i64>(), u in any::<u64>(), f in any::<f64>(), s in ".{0,12}", b in any::<bool>()) {
            prop_assert_eq!(FieldValue::capture(&i).to_json(), json!(i));
            prop_assert_eq!(FieldValue::capture(&u).to_json(), json!(u));
            prop_assert_eq!(FieldValue::capture(&f).to_json(), json!(f));
            prop_assert_eq!(FieldValue::capture(&s).to_json(), json!(s));
            prop_assert_eq!(FieldValue::capture(&b).to_json(), json!(b));
            prop_assert_eq!(FieldValue::capture(&(i, s.clone())).to_json(), json!([i, s]));
        }
    }
}
