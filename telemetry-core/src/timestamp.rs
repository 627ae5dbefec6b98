//! The envelope's `timestamp`: RFC 3339, UTC, exactly six fractional digits, `Z`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const WIRE_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// A point in time with microsecond precision, as the wire format writes it.
///
/// Capturing one ([`Timestamp::now`]) is a clock read; formatting happens only when
/// the envelope is serialized, off the caller's path.
///
/// ```
/// use telemetry_core::Timestamp;
/// let t: Timestamp = "2026-11-24T10:15:02.123456Z".parse().unwrap();
/// assert_eq!(t.to_string(), "2026-11-24T10:15:02.123456Z");
/// assert_eq!(t.unix_micros(), 1_795_515_302_123_456);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_micros: i64,
}

/// Why a string is not a wire-format timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampParseError(String);

impl fmt::Display for TimestampParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timestamp {:?} is not RFC 3339 UTC with six fractional digits and `Z`, like 2026-11-24T10:15:02.123456Z",
            self.0
        )
    }
}

impl std::error::Error for TimestampParseError {}

impl Timestamp {
    /// The current time from the system clock.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Converts a `SystemTime`, truncating to microseconds.
    pub fn from_system_time(t: SystemTime) -> Self {
        let unix_micros = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX),
        };
        Timestamp { unix_micros }
    }

    /// Microseconds since the Unix epoch.
    pub const fn unix_micros(self) -> i64 {
        self.unix_micros
    }

    /// Milliseconds since the Unix epoch, clamped at zero (for the UUIDv7 time field).
    pub(crate) fn unix_millis_saturating(self) -> u64 {
        u64::try_from(self.unix_micros / 1000).unwrap_or(0)
    }

    /// The `SystemTime` this timestamp stands for.
    pub fn to_system_time(self) -> SystemTime {
        let magnitude = Duration::from_micros(self.unix_micros.unsigned_abs());
        if self.unix_micros >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }

    fn to_datetime(self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.unix_micros) * 1000).ok()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every i64 of microseconds is inside `time`'s range (+-9999 years) except far
        // outliers; those clamp to the epoch rather than fail a whole event.
        let dt = self.to_datetime().unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let text = dt.format(WIRE_FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `time`'s `[year]` also takes a sign and more digits; the wire format is
        // exactly `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
        if s.len() != 27 || !s.as_bytes()[0].is_ascii_digit() {
            return Err(TimestampParseError(s.to_string()));
        }
        let dt = PrimitiveDateTime::parse(s, WIRE_FORMAT)
            .map_err(|_| TimestampParseError(s.to_string()))?
            .assume_utc();
        let micros = dt.unix_timestamp_nanos() / 1000;
        Ok(Timestamp {
            unix_micros: i64::try_from(micros).map_err(|_| TimestampParseError(s.to_string()))?,
        })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_six_digits_and_z_even_on_whole_seconds() {
        let t = Timestamp {
            unix_micros: 1_795_515_302_000_000,
        };
        assert_eq!(t.to_string(), "2026-11-24T10:15:02.000000Z");
        let t = Timestamp { unix_micros: 1 };
        assert_eq!(t.to_string(), "1970-01-01T00:00:00.000001Z");
    }

    #[test]
    fn now_round_trips_through_text() {
        let t = Timestamp::now();
        let text = t.to_string();
        assert_eq!(text.len(), 27, "{text}");
        assert!(text.ends_with('Z'));
        assert_eq!(text.parse::<Timestamp>().unwrap(), t);
    }

    #[test]
    fn rejects_other_rfc3339_spellings() {
        for bad in [
            "2026-11-24T10:15:02.123456+00:00",
            "2026-11-24T10:15:02.123Z",
            "2026-11-24T10:15:02Z",
            "2026-11-24 10:15:02.123456Z",
            "2026-11-24T10:15:02.1234567Z",
            "+2026-11-24T10:15:02.123456Z",
            "-2026-11-24T10:15:02.123456Z",
            "+02026-11-24T10:15:02.123456Z",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn system_time_conversion_is_exact_to_the_microsecond() {
        let st = UNIX_EPOCH + Duration::from_micros(1_795_515_302_123_456);
        assert_eq!(Timestamp::from_system_time(st).to_system_time(), st);
    }
}
