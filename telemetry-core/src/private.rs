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

/// `err`: the `Display` text of an `Err`.
pub fn err_display<T, E: std::fmt::Display>(ret: &Result<T, E>) -> Option<String> {
    ret.as_ref().err().map(ToString::to_string)
}
/// `err(Debug)`: the `Debug` text of an `Err`.
pub fn err_debug<T, E: std::fmt::Debug>(ret: &Result<T, E>) -> Option<String> {
    ret.as_ref().err().map(|e| format!("{e:?}"))
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
/// serde impl (on `Arg`) and the Debug impl (on `&Arg`) sit at different autoref
/// levels and never compete, whatever the parameter's own type.
pub struct Arg<'a, T: ?Sized>(pub &'a T);

/// `args`: a parameter with serde when it implements `Serialize`...
pub trait ArgSerde {
    /// The recorded value.
    fn __telemetry_arg(&self) -> FieldValue;
}
impl<T: Serialize + ?Sized> ArgSerde for Arg<'_, T> {
    fn __telemetry_arg(&self) -> FieldValue {
        serialize_field(self.0)
    }
}
/// ...else as its `Debug` text.
pub trait ArgDebug {
    /// The recorded value.
    fn __telemetry_arg(&self) -> FieldValue;
}
impl<T: std::fmt::Debug + ?Sized> ArgDebug for &Arg<'_, T> {
    fn __telemetry_arg(&self) -> FieldValue {
        FieldValue::text(format!("{:?}", self.0))
    }
}
