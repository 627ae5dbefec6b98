//! Runtime support for the code the macros generate. Not a public API: names here
//! change without notice. Generated code reaches it as `::telemetry::__private`.

pub use inventory;
pub use schemars;
pub use serde;
pub use serde_json;

pub use crate::call::{out_of_line, CallEntered, CallFrame, CallResult, CallSite, InstrumentedCall, Outcome};
pub use crate::catalog::{call_schema, KindRegistration, Origin};
pub use crate::field_value::FieldValue;

/// A field value with serde (the `fields(k = expr)` form).
pub fn serialize_field<T: Serialize + ?Sized>(value: &T) -> FieldValue {
    FieldValue::capture(value)
}
pub use crate::data_writer::{DataWriter, KeyRules};
pub use crate::event::{EventDataError, EventKind, TelemetryEvent};
pub use tracing;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::scrub::REDACTED;

/// Marks a property schema as always redacted.
pub const REDACTED_SCHEMA_KEY: &str = "x-telemetry-redacted";

/// Marks a property schema as open because its Rust type has no JSON Schema:
/// `{"x-telemetry-unchecked": {"rust_type": "Vec<ModelInfo>", "fix": "..."}}`.
pub const UNCHECKED_SCHEMA_KEY: &str = "x-telemetry-unchecked";

/// `alloc::vec::Vec<my_app::ModelInfo>` as `Vec<ModelInfo>`: every path cut to its
/// last segment.
pub(crate) fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut path = String::new();
    let flush = |path: &mut String, out: &mut String| {
        out.push_str(path.rsplit("::").next().unwrap_or_default());
        path.clear();
    };
    for c in full.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            path.push(c);
        } else {
            flush(&mut path, &mut out);
            out.push(c);
        }
    }
    flush(&mut path, &mut out);
    out
}

/// What to do about a type without a JSON Schema, read from its full name: enable
/// schemars' feature for the crates it supports, else derive it on the types
/// that are neither std's nor primitives.
pub(crate) fn schema_fix(full: &str) -> String {
    const FEATURES: &[(&str, &str)] = &[("uuid", "uuid1"), ("chrono", "chrono04"), ("url", "url2")];
    let paths: Vec<&str> = full
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .filter(|p| p.contains("::"))
        .collect();
    let mut fixes: Vec<String> = Vec::new();
    let mut derive_on: Vec<String> = Vec::new();
    for path in paths {
        let krate = path.split("::").next().unwrap_or_default();
        if matches!(krate, "core" | "alloc" | "std") {
            continue;
        }
        if let Some((_, feature)) = FEATURES.iter().find(|(c, _)| *c == krate) {
            let fix = format!("enable schemars' `{feature}` feature (schemars 1)");
            if !fixes.contains(&fix) {
                fixes.push(fix);
            }
        } else {
            let name = format!("`{}`", path.rsplit("::").next().unwrap_or_default());
            if !derive_on.contains(&name) {
                derive_on.push(name);
            }
        }
    }
    if !derive_on.is_empty() {
        fixes.insert(
            0,
            format!(
                "derive `schemars::JsonSchema` on {}, schemars 1",
                derive_on.join(" and ")
            ),
        );
    }
    if fixes.is_empty() {
        fixes.push("implement `schemars::JsonSchema` for it (schemars 1), or use `#[schemars(with = ...)]`".into());
    }
    fixes.join("; ")
}

/// The schema of a redacted value.
fn redacted_schema() -> Value {
    serde_json::json!({"type": "string", "const": REDACTED, REDACTED_SCHEMA_KEY: true})
}

/// Builds the object schema of an event's `event_data`, one field at a time, with
/// the keys the macro computed from the serde attributes.
pub struct ObjectSchema<'g> {
    generator: &'g mut SchemaGenerator,
    properties: Map<String, Value>,
    required: Vec<Value>,
    description: Option<&'static str>,
}

impl<'g> ObjectSchema<'g> {
    /// Starts an object schema.
    pub fn new(generator: &'g mut SchemaGenerator, description: Option<&'static str>) -> Self {
        ObjectSchema {
            generator,
            properties: Map::new(),
            required: Vec::new(),
            description,
        }
    }

    /// A field serialized under `key`.
    pub fn field<T: JsonSchema + ?Sized>(
        &mut self,
        key: &str,
        required: bool,
        description: Option<&'static str>,
    ) -> &mut Self {
        let schema = self.generator.subschema_for::<T>().to_value();
        self.insert(key, schema, required, description)
    }

    /// A field whose type has no `schemars::JsonSchema` impl: an open schema (any
    /// value), marked so [`Catalog::check`](crate::Catalog::check) lists it as
    /// unchecked, with the fix.
    pub fn unchecked_field<T: ?Sized>(
        &mut self,
        key: &str,
        required: bool,
        description: Option<&'static str>,
    ) -> &mut Self {
        let full = std::any::type_name::<T>();
        let schema = serde_json::json!({
            UNCHECKED_SCHEMA_KEY: {"rust_type": short_type_name(full), "fix": schema_fix(full)}
        });
        self.insert(key, schema, required, description)
    }

    /// A `#[telemetry(redact)]` field: always the marker string, whatever its type.
    pub fn redacted_field(&mut self, key: &str, required: bool, description: Option<&'static str>) -> &mut Self {
        self.insert(key, redacted_schema(), required, description)
    }

    fn insert(&mut self, key: &str, mut schema: Value, required: bool, description: Option<&'static str>) -> &mut Self {
        if let (Some(d), Value::Object(obj)) = (description, &mut schema) {
            obj.insert("description".into(), Value::String(d.into()));
        }
        self.properties.insert(key.to_string(), schema);
        if required {
            self.required.push(Value::String(key.to_string()));
        }
        self
    }

    /// A `#[serde(flatten)]` field: its properties join this object's.
    pub fn flatten<T: JsonSchema + ?Sized>(&mut self, redacted: bool) -> &mut Self {
        let inner = T::json_schema(self.generator).to_value();
        if let Some(props) = inner.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let v = if redacted { redacted_schema() } else { v.clone() };
                self.properties.insert(k.clone(), v);
            }
        }
        if let Some(req) = inner.get("required").and_then(Value::as_array) {
            self.required.extend(req.iter().cloned());
        }
        self
    }

    /// The finished schema.
    pub fn finish(&mut self) -> Schema {
        let mut obj = Map::new();
        obj.insert("type".into(), Value::String("object".into()));
        if let Some(d) = self.description {
            obj.insert("description".into(), Value::String(d.into()));
        }
        obj.insert("properties".into(), Value::Object(std::mem::take(&mut self.properties)));
        obj.insert("required".into(), Value::Array(std::mem::take(&mut self.required)));
        Schema::from(obj)
    }
}

/// The field type `T` of a derived event, for picking its schema step by autoref
/// specialization: `(&SchemaOf::<T>::NEW).__telemetry_schema(..)` finds
/// [`FieldSchemaChecked`] when `T: JsonSchema`, else [`FieldSchemaOpen`].
pub struct SchemaOf<T: ?Sized>(std::marker::PhantomData<T>);

impl<T: ?Sized> SchemaOf<T> {
    /// The probe.
    pub const NEW: Self = SchemaOf(std::marker::PhantomData);
}

/// A field type with a JSON Schema: its own.
pub trait FieldSchemaChecked {
    /// Adds the field to `schema`.
    fn __telemetry_schema(&self, schema: &mut ObjectSchema<'_>, key: &str, required: bool, doc: Option<&'static str>);
}
impl<T: JsonSchema + ?Sized> FieldSchemaChecked for SchemaOf<T> {
    fn __telemetry_schema(&self, schema: &mut ObjectSchema<'_>, key: &str, required: bool, doc: Option<&'static str>) {
        schema.field::<T>(key, required, doc);
    }
}
/// Any other field type: an open schema, listed as unchecked.
pub trait FieldSchemaOpen {
    /// Adds the field to `schema`.
    fn __telemetry_schema(&self, schema: &mut ObjectSchema<'_>, key: &str, required: bool, doc: Option<&'static str>);
}
impl<T: ?Sized> FieldSchemaOpen for &SchemaOf<T> {
    fn __telemetry_schema(&self, schema: &mut ObjectSchema<'_>, key: &str, required: bool, doc: Option<&'static str>) {
        schema.unchecked_field::<T>(key, required, doc);
    }
}

// ---- #[instrumented] support -------------------------------------------------
//
// The generated code picks an implementation by "autoref specialization": for a
// receiver `x: &T`, `x.method()` finds an impl on `T` itself before one on `&T`,
// so `Result` (or `Serialize`) types take the first and everything else the
// fallback, decided at compile time with no runtime cost.

/// `outcome` of a `Result` return value: `error` for `Err`.
pub trait ResultOutcome {
    /// The outcome.
    fn __telemetry_outcome(&self) -> Outcome;
}
impl<T, E> ResultOutcome for Result<T, E> {
    fn __telemetry_outcome(&self) -> Outcome {
        if self.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Error
        }
    }
}
/// `outcome` of any other return value: `ok`.
pub trait PlainOutcome {
    /// The outcome.
    fn __telemetry_outcome(&self) -> Outcome {
        Outcome::Ok
    }
}
impl<T: ?Sized> PlainOutcome for &T {}

/// The error type of a function with `err`: how it is written. This crate's own
/// trait, so a missing `Display` names the fix.
#[diagnostic::on_unimplemented(
    message = "`err` records the error with `Display`, and `{Self}` does not implement `std::fmt::Display`",
    label = "`{Self}` is not `Display`",
    note = "write `err(Debug)` to record the error's `Debug` text instead, or implement `Display` for `{Self}`"
)]
pub trait ErrDisplay {
    /// The error as `Display`.
    fn __telemetry_display(&self) -> &dyn std::fmt::Display;
}
impl<E: std::fmt::Display> ErrDisplay for E {
    fn __telemetry_display(&self) -> &dyn std::fmt::Display {
        self
    }
}
/// The error type of a function with `err(Debug)`.
#[diagnostic::on_unimplemented(
    message = "`err(Debug)` records the error with `Debug`, and `{Self}` does not implement `std::fmt::Debug`",
    label = "`{Self}` is not `Debug`",
    note = "derive or implement `Debug` for `{Self}`, or write `err` to record its `Display` text"
)]
pub trait ErrDebug {
    /// The error as `Debug`.
    fn __telemetry_debug(&self) -> &dyn std::fmt::Debug;
}
impl<E: std::fmt::Debug> ErrDebug for E {
    fn __telemetry_debug(&self) -> &dyn std::fmt::Debug {
        self
    }
}

/// `err`: the `Err` of a returned `Result`, as `Display`. The event's `error` and
/// the `tracing` event both go through here, so a missing impl is one error.
#[inline]
pub fn err_display<T, E: ErrDisplay>(ret: &Result<T, E>) -> Option<&dyn std::fmt::Display> {
    ret.as_ref().err().map(ErrDisplay::__telemetry_display)
}
/// `err(Debug)`: the `Err` of a returned `Result`, as `Debug`.
#[inline]
pub fn err_debug<T, E: ErrDebug>(ret: &Result<T, E>) -> Option<&dyn std::fmt::Debug> {
    ret.as_ref().err().map(ErrDebug::__telemetry_debug)
}

/// The text `ret(Debug)` recorded (unquoted), or any other value as its JSON.
pub fn ret_text(value: &FieldValue) -> &dyn std::fmt::Display {
    match value {
        FieldValue::Str(s) => s,
        other => other,
    }
}

/// A parameter on the span: with `Debug` when it implements it, else not at all
/// (`(&SpanArg(&p)).__telemetry_span_arg()` picks [`SpanArgDebug`] first).
pub struct SpanArg<'a, T: ?Sized>(pub &'a T);

/// A `Debug` parameter: recorded as `#[tracing::instrument]` records it.
pub trait SpanArgDebug {
    /// The span's value.
    type Value: tracing::Value;
    /// The span's value.
    fn __telemetry_span_arg(&self) -> Self::Value;
}
impl<'a, T: std::fmt::Debug + ?Sized> SpanArgDebug for SpanArg<'a, T> {
    type Value = tracing::field::DebugValue<&'a T>;
    fn __telemetry_span_arg(&self) -> Self::Value {
        tracing::field::debug(self.0)
    }
}
/// Any other parameter: declared on the span, never recorded.
pub trait SpanArgSkip {
    /// Nothing.
    fn __telemetry_span_arg(&self) -> tracing::field::Empty;
}
impl<T: ?Sized> SpanArgSkip for &SpanArg<'_, T> {
    fn __telemetry_span_arg(&self) -> tracing::field::Empty {
        tracing::field::Empty
    }
}

/// `ret` of a `Result`: its `Ok` value with serde (nothing for `Err`).
pub trait ResultRetSerde {
    /// The recorded return value.
    fn __telemetry_ret_serde(&self) -> Option<FieldValue>;
}
impl<T: Serialize, E> ResultRetSerde for Result<T, E> {
    fn __telemetry_ret_serde(&self) -> Option<FieldValue> {
        self.as_ref().ok().map(serialize_field)
    }
}
/// `ret` of any other value, with serde.
pub trait PlainRetSerde {
    /// The recorded return value.
    fn __telemetry_ret_serde(&self) -> Option<FieldValue>;
}
impl<T: Serialize + ?Sized> PlainRetSerde for &T {
    fn __telemetry_ret_serde(&self) -> Option<FieldValue> {
        Some(serialize_field(*self))
    }
}
/// `ret(Debug)` of a `Result`: its `Ok` value's `Debug` text.
pub trait ResultRetDebug {
    /// The recorded return value.
    fn __telemetry_ret_debug(&self) -> Option<FieldValue>;
}
impl<T: std::fmt::Debug, E> ResultRetDebug for Result<T, E> {
    fn __telemetry_ret_debug(&self) -> Option<FieldValue> {
        self.as_ref().ok().map(|v| FieldValue::text(format!("{v:?}")))
    }
}
/// `ret(Debug)` of any other value.
pub trait PlainRetDebug {
    /// The recorded return value.
    fn __telemetry_ret_debug(&self) -> Option<FieldValue>;
}
impl<T: std::fmt::Debug + ?Sized> PlainRetDebug for &T {
    fn __telemetry_ret_debug(&self) -> Option<FieldValue> {
        Some(FieldValue::text(format!("{:?}", *self)))
    }
}

/// Calls `f` once. Passing the body's closure through here makes it `FnOnce`, so
/// a `&mut self` method can return a reference borrowed from `self`.
#[inline(always)]
pub fn call_once<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// A parameter recorded by `args`. The wrapper fixes the receiver type, so the
/// impls sit at different autoref levels and never compete, whatever the
/// parameter's own type: `(&&Arg(&p)).__telemetry_arg()` finds the serde impl
/// (on `&Arg`) first, then the Debug one (on `&&Arg`), then the one that records
/// nothing (on `Arg`).
pub struct Arg<'a, T: ?Sized>(pub &'a T);

/// `args`: a parameter with serde when it implements `Serialize`...
pub trait ArgSerde {
    /// The recorded value.
    fn __telemetry_arg(&self) -> Option<FieldValue>;
}
impl<T: Serialize + ?Sized> ArgSerde for &Arg<'_, T> {
    fn __telemetry_arg(&self) -> Option<FieldValue> {
        Some(serialize_field(self.0))
    }
}
/// ...else as its `Debug` text...
pub trait ArgDebug {
    /// The recorded value.
    fn __telemetry_arg(&self) -> Option<FieldValue>;
}
impl<T: std::fmt::Debug + ?Sized> ArgDebug for &&Arg<'_, T> {
    fn __telemetry_arg(&self) -> Option<FieldValue> {
        Some(FieldValue::text(format!("{:?}", self.0)))
    }
}
/// ...else not at all.
pub trait ArgSkip {
    /// Nothing.
    fn __telemetry_arg(&self) -> Option<FieldValue>;
}
impl<T: ?Sized> ArgSkip for Arg<'_, T> {
    fn __telemetry_arg(&self) -> Option<FieldValue> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{schema_fix, short_type_name};

    #[test]
    fn type_names_are_shortened_to_their_last_segments() {
        assert_eq!(
            short_type_name("alloc::vec::Vec<app::llm::ModelInfo>"),
            "Vec<ModelInfo>"
        );
        assert_eq!(
            short_type_name("core::option::Option<(u32, &str, [app::A; 2])>"),
            "Option<(u32, &str, [A; 2])>"
        );
    }

    #[test]
    fn the_fix_names_the_types_to_derive_on_or_the_schemars_feature() {
        assert_eq!(
            schema_fix("alloc::vec::Vec<app::ModelInfo>"),
            "derive `schemars::JsonSchema` on `ModelInfo`, schemars 1"
        );
        assert_eq!(
            schema_fix("std::collections::hash::map::HashMap<app::Key, app::Value>"),
            "derive `schemars::JsonSchema` on `Key` and `Value`, schemars 1"
        );
        assert_eq!(
            schema_fix("core::option::Option<uuid::Uuid>"),
            "enable schemars' `uuid1` feature (schemars 1)"
        );
        assert_eq!(
            schema_fix("chrono::datetime::DateTime<chrono::offset::utc::Utc>"),
            "enable schemars' `chrono04` feature (schemars 1)"
        );
        assert_eq!(
            schema_fix("(url::Url, app::Page)"),
            "derive `schemars::JsonSchema` on `Page`, schemars 1; enable schemars' `url2` feature (schemars 1)"
        );
    }
}
