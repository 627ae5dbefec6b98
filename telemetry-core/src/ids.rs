//! W3C trace and span ids, and the UUIDv7 event id.
//!
//! Ids are made from `fastrand`'s thread-local generator (wyrand, seeded per thread
//! from a hash of the time and thread id): an emit must not pay for a system call.
//! Ids need to be unique, not secret.

use std::fmt;
use std::num::{NonZeroU128, NonZeroU64};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdParseError {
    what: &'static str,
    expected_len: usize,
}

impl fmt::Display for IdParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} must be {} lowercase hex characters, not all zero",
            self.what, self.expected_len
        )
    }
}

impl std::error::Error for IdParseError {}

fn parse_lower_hex(s: &str, len: usize) -> Option<u128> {
    if s.len() != len || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

macro_rules! hex_id {
    ($(#[$doc:meta])* $name:ident, $int:ident, $nonzero:ty, $hex_len:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($nonzero);

        impl $name {
            /// A fresh random id (never zero).
            pub fn random() -> Self {
                loop {
                    if let Some(v) = <$nonzero>::new(fastrand::$int(..)) {
                        return $name(v);
                    }
                }
            }

            /// The id from its integer value; `None` for zero, which W3C reserves as invalid.
            pub const fn from_int(value: $int) -> Option<Self> {
                match <$nonzero>::new(value) {
                    Some(v) => Some($name(v)),
                    None => None,
                }
            }

            /// The id's integer value.
            pub const fn to_int(self) -> $int {
                self.0.get()
            }

            /// The id as its lowercase hex text, without allocating.
            pub fn to_hex(self) -> [u8; $hex_len] {
                let mut out = [0u8; $hex_len];
                let mut value = self.0.get();
                for digit in out.iter_mut().rev() {
                    *digit = HEX_DIGITS[(value & 0xf) as usize];
                    value >>= 4;
                }
                out
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let hex = self.to_hex();
                // Only ASCII hex digits were written.
                f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_lower_hex(s, $hex_len)
                    .and_then(|v| <$nonzero>::new(v as $int))
                    .map($name)
                    .ok_or(IdParseError { what: $what, expected_len: $hex_len })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let hex = self.to_hex();
                serializer.serialize_str(std::str::from_utf8(&hex).map_err(serde::ser::Error::custom)?)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_id!(
    /// A W3C trace id: 16 bytes, written as 32 lowercase hex characters, never all zero.
    ///
    /// ```
    /// use telemetry_core::TraceId;
    /// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
    /// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert!("00000000000000000000000000000000".parse::<TraceId>().is_err());
    /// ```
    TraceId, u128, NonZeroU128, 32, "trace_id"
);

hex_id!(
    /// A W3C span id: 8 bytes, written as 16 lowercase hex characters, never all zero.
    ///
    /// ```
    /// use telemetry_core::SpanId;
    /// let id = SpanId::random();
    /// assert_eq!(id.to_string().len(), 16);
    /// assert_eq!(id.to_string().parse::<SpanId>().unwrap(), id);
    /// ```
    SpanId, u64, NonZeroU64, 16, "span_id"
);

/// A fresh UUIDv7 from the given Unix time in milliseconds and 74 random bits.
pub(crate) fn new_event_id(unix_millis: u64) -> uuid::Uuid {
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&fastrand::u64(..).to_le_bytes());
    random[8..].copy_from_slice(&fastrand::u16(..).to_le_bytes());
    uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid()
}

/// Serde for `event_id`: writes the lowercase hyphenated form and accepts only that form.
pub(crate) mod event_id_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    use uuid::Uuid;

    pub fn serialize<S: Serializer, I: std::borrow::Borrow<Uuid>>(id: &I, serializer: S) -> Result<S::Ok, S::Error> {
        let id: &Uuid = id.borrow();
        let mut buf = Uuid::encode_buffer();
        serializer.serialize_str(id.hyphenated().encode_lower(&mut buf))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Uuid, D::Error> {
        let s = String::deserialize(deserializer)?;
        let id = Uuid::try_parse(&s).map_err(serde::de::Error::custom)?;
        let mut buf = Uuid::encode_buffer();
        if id.hyphenated().encode_lower(&mut buf) != s.as_str() {
            return Err(serde::de::Error::custom(format!(
                "event_id {s:?} must be a lowercase hyphenated UUID"
            )));
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_bad_text() {
        for _ in 0..100 {
            let t = TraceId::random();
            assert_eq!(t.to_string().parse::<TraceId>().unwrap(), t);
            assert_eq!(t.to_string().len(), 32);
            assert_eq!(t.to_string(), format!("{:032x}", t.to_int()));
        }
        assert_eq!(SpanId::from_int(1).unwrap().to_string(), "0000000000000001");
        assert!("000000000000000A".parse::<SpanId>().is_err(), "uppercase");
        assert!("0000000000000000".parse::<SpanId>().is_err(), "zero");
        assert!("00000000000001".parse::<SpanId>().is_err(), "short");
        assert!("+000000000000001".parse::<SpanId>().is_err(), "sign");
        assert!(SpanId::from_int(0).is_none());
    }

    #[test]
    fn event_ids_are_v7_unique_and_time_ordered_across_millis() {
        let a = new_event_id(1_700_000_000_000);
        let b = new_event_id(1_700_000_000_001);
        assert_eq!(a.get_version_num(), 7);
        assert_ne!(a, new_event_id(1_700_000_000_000));
        assert!(a < b);
    }
}
