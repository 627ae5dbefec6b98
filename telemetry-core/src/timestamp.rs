//! The envelope's `timestamp`: RFC 3339, UTC, exactly six fractional digits, `Z`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::PrimitiveDateTime;

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
}

impl Timestamp {
    /// The wire text, `YYYY-MM-DDTHH:MM:SS.ffffffZ`, written without allocating:
    /// the transport writes one per event, so this is a few divisions, not a
    /// general date formatter. Instants outside years 0000-9999 (never a clock
    /// reading) are written as the epoch rather than failing a whole event.
    pub fn to_wire_bytes(self) -> [u8; 27] {
        // 0000-01-01T00:00:00Z and 10000-01-01T00:00:00Z.
        const MIN: i64 = -62_167_219_200_000_000;
        const MAX: i64 = 253_402_300_800_000_000;
        let micros = if (MIN..MAX).contains(&self.unix_micros) {
            self.unix_micros
        } else {
            0
        };
        let second = micros.div_euclid(1_000_000);
        let mut out = *b"0000-00-00T00:00:00.000000Z";
        // Events come in bursts: the date and time up to the second are usually
        // the previous event's, remembered per thread.
        let head = LAST_SECOND
            .try_with(|last| {
                let (known, head) = last.get();
                if known == second {
                    return head;
                }
                let head = second_text(second);
                last.set((second, head));
                head
            })
            .unwrap_or_else(|_| second_text(second));
        out[..19].copy_from_slice(&head);
        put_digits(&mut out[20..26], micros.rem_euclid(1_000_000) as u64);
        out
    }
}

thread_local! {
    /// The last second formatted on this thread, and its text.
    static LAST_SECOND: std::cell::Cell<(i64, [u8; 19])> = const { std::cell::Cell::new((i64::MIN, [0; 19])) };
}

/// `YYYY-MM-DDTHH:MM:SS` of the second `second` seconds after the epoch.
fn second_text(second: i64) -> [u8; 19] {
    let days = second.div_euclid(86_400);
    let of_day = second.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = *b"0000-00-00T00:00:00";
    put_digits(&mut out[0..4], year as u64);
    put_digits(&mut out[5..7], u64::from(month));
    put_digits(&mut out[8..10], u64::from(day));
    put_digits(&mut out[11..13], (of_day / 3600) as u64);
    put_digits(&mut out[14..16], (of_day / 60 % 60) as u64);
    put_digits(&mut out[17..19], (of_day % 60) as u64);
    out
}

/// Writes `value` as decimal digits filling `out`, zero-padded on the left.
fn put_digits(out: &mut [u8], mut value: u64) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01: the era arithmetic
/// published by Howard Hinnant ("chrono-Compatible Low-Level Date Algorithms"),
/// eras of 400 years starting on March 1st so leap days fall at a year's end.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_wire_bytes();
        // Only ASCII digits and punctuation were written.
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
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
        let bytes = self.to_wire_bytes();
        serializer.serialize_str(std::str::from_utf8(&bytes).map_err(serde::ser::Error::custom)?)
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

    proptest::proptest! {
        /// The hand-written formatter agrees with the `time` crate over years 0000-9999.
        #[test]
        fn formatting_agrees_with_the_time_crate(micros in -62_167_219_200_000_000i64..253_402_300_800_000_000) {
            let expected = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
                .unwrap()
                .format(WIRE_FORMAT)
                .unwrap();
            let t = Timestamp { unix_micros: micros };
            proptest::prop_assert_eq!(t.to_string(), expected);
            proptest::prop_assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        }
    }

    #[test]
    fn the_remembered_second_is_only_reused_within_that_second() {
        let text = |micros| Timestamp { unix_micros: micros }.to_string();
        let base = 1_795_515_302_000_000; // 2026-11-24T10:15:02
        assert_eq!(text(base + 1), "2026-11-24T10:15:02.000001Z");
        assert_eq!(text(base + 999_999), "2026-11-24T10:15:02.999999Z");
        assert_eq!(text(base + 1_000_000), "2026-11-24T10:15:03.000000Z");
        assert_eq!(text(base), "2026-11-24T10:15:02.000000Z");
        // Either side of the epoch, where the second is rounded down.
        assert_eq!(text(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(text(-1_000_000), "1969-12-31T23:59:59.000000Z");
        assert_eq!(text(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(text(-1_000_001), "1969-12-31T23:59:58.999999Z");
    }

    #[test]
    fn leap_days_and_range_ends_format_exactly() {
        for (text, micros) in [
            ("2024-02-29T23:59:59.999999Z", 1_709_251_199_999_999),
            ("2000-02-29T00:00:00.000000Z", 951_782_400_000_000),
            ("1969-12-31T23:59:59.999999Z", -1),
            ("0000-01-01T00:00:00.000000Z", -62_167_219_200_000_000),
            ("9999-12-31T23:59:59.999999Z", 253_402_300_799_999_999),
        ] {
            assert_eq!(Timestamp { unix_micros: micros }.to_string(), text);
        }
        // Outside the four-digit years: the epoch, not a failed event.
        assert_eq!(
            Timestamp { unix_micros: i64::MAX }.to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            Timestamp { unix_micros: i64::MIN }.to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn system_time_conversion_is_exact_to_the_microsecond() {
        let st = UNIX_EPOCH + Duration::from_micros(1_795_515_302_123_456);
        assert_eq!(Timestamp::from_system_time(st).to_system_time(), st);
    }
}
