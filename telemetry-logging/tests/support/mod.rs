//! What the tests share: a writer into memory, capture of what a subscriber
//! built by the crate writes, and a JSON reader that keeps repeated keys.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use telemetry_logging::LogBuilder;

/// A writer into shared memory: clone it, hand one to the builder, read the other.
#[derive(Clone, Default)]
pub struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("UTF-8 output")
    }

    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }

    /// Every line, parsed; panics on a line that is not a JSON object.
    pub fn json(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|line| {
                let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
                assert!(value.is_object(), "{line}");
                value
            })
            .collect()
    }
}

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with the subscriber `builder` builds (writing into a buffer) as the
/// thread's default, drops the guard (which flushes) and returns the buffer.
pub fn capture(builder: LogBuilder, f: impl FnOnce()) -> Buffer {
    let buffer = Buffer::default();
    let (subscriber, guard) = builder
        .writer(buffer.clone())
        .env_from(|_| None)
        .build()
        .expect("valid settings");
    tracing::subscriber::with_default(subscriber, f);
    drop(guard);
    buffer
}

/// [`capture`] of JSON lines with the defaults (`info`).
pub fn capture_json(f: impl FnOnce()) -> Vec<Value> {
    capture(telemetry_logging::builder(), f).json()
}

/// A line's keys in order, repeats kept (a `Value` would keep only the last).
pub fn keys(line: &str) -> Vec<String> {
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                keys.push(key);
            }
            Ok(keys)
        }
    }
    let mut de = serde_json::Deserializer::from_str(line);
    (&mut de).deserialize_map(Keys).expect("a JSON object")
}

/// An error with a source, for chains.
#[derive(Debug)]
pub struct ChainError {
    pub text: &'static str,
    pub source: Option<Box<ChainError>>,
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl std::error::Error for ChainError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// outer -> middle -> root.
pub fn three_level_error() -> ChainError {
    let root = ChainError {
        text: "root",
        source: None,
    };
    let middle = ChainError {
        text: "middle",
        source: Some(Box::new(root)),
    };
    ChainError {
        text: "outer",
        source: Some(Box::new(middle)),
    }
}
