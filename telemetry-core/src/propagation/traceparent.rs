//! The `traceparent` header (W3C Trace Context Level 2, "Traceparent Header").

use std::fmt;
use std::ops::BitOr;

use super::trim_ows;
use crate::ids::{SpanId, TraceId};

/// Length of a version-00 value: `00-` + 32 + `-` + 16 + `-` + 2.
const V00_LEN: usize = 55;

/// The `trace-flags` of a `traceparent`: the bits this implementation knows, every other bit zero.
///
/// Trace Context says vendors MUST set the flags they do not know to zero ("Other Flags"), so
/// [`TraceFlags::from_bits`] keeps only [`SAMPLED`](Self::SAMPLED) and [`RANDOM`](Self::RANDOM).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set.
    pub const NONE: TraceFlags = TraceFlags(0);
    /// The caller may have recorded trace data (bit 0).
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);
    /// The trace id's right-most 7 bytes are random (bit 1, Trace Context Level 2).
    pub const RANDOM: TraceFlags = TraceFlags(0x02);

    const KNOWN: u8 = Self::SAMPLED.0 | Self::RANDOM.0;

    /// The flags from their byte, with the bits this implementation does not know cleared.
    pub const fn from_bits(bits: u8) -> Self {
        TraceFlags(bits & Self::KNOWN)
    }

    /// The flags as their byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the sampled flag is set.
    pub const fn sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Whether the random flag is set.
    pub const fn random(self) -> bool {
        self.0 & Self::RANDOM.0 != 0
    }

    /// These flags with the sampled flag set to `sampled`.
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            TraceFlags(self.0 | Self::SAMPLED.0)
        } else {
            TraceFlags(self.0 & !Self::SAMPLED.0)
        }
    }
}

impl BitOr for TraceFlags {
    type Output = TraceFlags;
    fn bitor(self, rhs: TraceFlags) -> TraceFlags {
        TraceFlags(self.0 | rhs.0)
    }
}

/// A parsed `traceparent` header: the caller's trace id, its span id and the trace flags.
///
/// Parsing follows W3C Trace Context: version `00` must be exactly
/// `00-<32 hex>-<16 hex>-<2 hex>` in lowercase, with neither id all zeros; a higher version is
/// read for the same three fields and anything after them is ignored; version `ff` is forbidden.
/// [`to_header`](Self::to_header) always writes version `00`, the highest this crate knows.
///
/// ```
/// use telemetry_core::propagation::TraceParent;
///
/// let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// let parent = TraceParent::parse([header.as_bytes()]).unwrap();
/// assert_eq!(parent.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(parent.parent_id.to_string(), "00f067aa0ba902b7");
/// assert!(parent.flags.sampled());
/// assert_eq!(parent.to_header(), header);
///
/// // Two traceparent headers cannot be told apart: the trace restarts.
/// assert!(TraceParent::parse([header.as_bytes(), header.as_bytes()]).is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TraceParent {
    /// The id of the whole trace.
    pub trace_id: TraceId,
    /// The id of the caller's span, the parent of the span this request starts.
    pub parent_id: SpanId,
    /// The trace flags, unknown bits cleared.
    pub flags: TraceFlags,
}

impl TraceParent {
    /// Parses the `traceparent` header from all the values the request carried.
    ///
    /// No value is [`TraceParentError::Missing`]; more than one is
    /// [`TraceParentError::Duplicated`], since the spec's test suite expects a restarted trace then.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<TraceParent, TraceParentError> {
        let mut values = values.into_iter();
        let value = values.next().ok_or(TraceParentError::Missing)?;
        if values.next().is_some() {
            return Err(TraceParentError::Duplicated);
        }
        Self::parse_one(value)
    }

    /// Parses one `traceparent` header value, surrounding spaces and tabs allowed.
    pub fn parse_one(value: &[u8]) -> Result<TraceParent, TraceParentError> {
        let value = trim_ows(value);
        if value.is_empty() {
            return Err(TraceParentError::Empty);
        }
        // "The value is US-ASCII encoded": a future version's unknown fields are not read, but they
        // must still be text.
        if !value.iter().all(|b| (b' '..=b'~').contains(b)) {
            return Err(TraceParentError::NotAscii);
        }

        // "Versioning of traceparent": the version is 2 hex digits followed by a dash, else the
        // trace restarts; ff is invalid.
        let version = hex_field(value, 0, 2, true).ok_or(TraceParentError::InvalidVersion)?;
        if version == 0xff {
            return Err(TraceParentError::ForbiddenVersion);
        }
        // The fields sit at the same positions in every version. Each id is checked with the dash
        // after it, so an id one digit too long or too short fails as that id.
        let trace_id = hex_field(value, 3, 32, true)
            .and_then(TraceId::from_int)
            .ok_or(TraceParentError::InvalidTraceId)?;
        let parent_id = hex_field(value, 36, 16, true)
            .and_then(|id| u64::try_from(id).ok())
            .and_then(SpanId::from_int)
            .ok_or(TraceParentError::InvalidParentId)?;
        let flags = hex_field(value, 53, 2, false)
            .and_then(|bits| u8::try_from(bits).ok())
            .ok_or(TraceParentError::InvalidFlags)?;

        match (version, value.get(V00_LEN)) {
            (_, None) => {}
            // Version 00 is exactly 55 characters.
            (0, Some(_)) => return Err(TraceParentError::TrailingData),
            // A higher version may add fields, each after a dash; we must not read them.
            (_, Some(b'-')) => {}
            (_, Some(_)) => return Err(TraceParentError::InvalidFutureFormat),
        }
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags: TraceFlags::from_bits(flags),
        })
    }

    /// The header value to send: always version `00`, 55 lowercase characters.
    pub fn to_header(&self) -> String {
        // Only ASCII hex digits and dashes are written.
        String::from_utf8_lossy(&self.to_header_bytes()).into_owned()
    }

    /// [`to_header`](Self::to_header)'s value without allocating: what an
    /// outgoing call writes into its headers.
    pub fn to_header_bytes(&self) -> [u8; 55] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 55];
        out[..3].copy_from_slice(b"00-");
        out[3..35].copy_from_slice(&self.trace_id.to_hex());
        out[35] = b'-';
        out[36..52].copy_from_slice(&self.parent_id.to_hex());
        out[52] = b'-';
        out[53] = HEX[usize::from(self.flags.bits() >> 4)];
        out[54] = HEX[usize::from(self.flags.bits() & 0xf)];
        out
    }
}

impl fmt::Display for TraceParent {
    /// Writes [`to_header`](Self::to_header)'s value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header())
    }
}

/// The value of the `len` lowercase hex digits at `start`, if they are there (and followed by a
/// dash when `dash_after`). Byte by byte, so that no sign or upper case gets through.
fn hex_field(value: &[u8], start: usize, len: usize, dash_after: bool) -> Option<u128> {
    let end = start.checked_add(len)?;
    if dash_after && value.get(end) != Some(&b'-') {
        return None;
    }
    value.get(start..end)?.iter().try_fold(0u128, |acc, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some((acc << 4) | u128::from(digit))
    })
}

/// Why a `traceparent` header was rejected; the caller then starts a new trace.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum TraceParentError {
    /// The request had no `traceparent` header.
    Missing,
    /// The request had more than one `traceparent` header.
    Duplicated,
    /// The value was empty or only whitespace.
    Empty,
    /// The value had a byte that is not printable ASCII.
    NotAscii,
    /// The version was not 2 lowercase hex digits followed by `-`.
    InvalidVersion,
    /// The version was `ff`, which the spec forbids.
    ForbiddenVersion,
    /// The trace id was not 32 lowercase hex digits followed by `-`, or was all zeros.
    InvalidTraceId,
    /// The parent id was not 16 lowercase hex digits followed by `-`, or was all zeros.
    InvalidParentId,
    /// The trace flags were not 2 lowercase hex digits.
    InvalidFlags,
    /// A version-00 value went on after the trace flags.
    TrailingData,
    /// A higher version's trace flags were followed by something other than `-`.
    InvalidFutureFormat,
}

impl fmt::Display for TraceParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceParentError::Missing => "no traceparent header",
            TraceParentError::Duplicated => "more than one traceparent header",
            TraceParentError::Empty => "traceparent is empty",
            TraceParentError::NotAscii => "traceparent has a byte that is not printable ASCII",
            TraceParentError::InvalidVersion => "traceparent version is not 2 lowercase hex digits followed by '-'",
            TraceParentError::ForbiddenVersion => "traceparent version ff is forbidden",
            TraceParentError::InvalidTraceId => {
                "traceparent trace-id is not 32 lowercase hex digits followed by '-', or is all zeros"
            }
            TraceParentError::InvalidParentId => {
                "traceparent parent-id is not 16 lowercase hex digits followed by '-', or is all zeros"
            }
            TraceParentError::InvalidFlags => "traceparent trace-flags are not 2 lowercase hex digits",
            TraceParentError::TrailingData => "traceparent version 00 goes on after the trace-flags",
            TraceParentError::InvalidFutureFormat => {
                "traceparent of a later version has something other than '-' after the trace-flags"
            }
        })
    }
}

impl std::error::Error for TraceParentError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TRACE: &str = "12345678901234567890123456789012";
    const PARENT: &str = "1234567890123456";
    const VALID: &str = "00-12345678901234567890123456789012-1234567890123456-01";

    fn parse(value: &str) -> Result<TraceParent, TraceParentError> {
        TraceParent::parse_one(value.as_bytes())
    }

    fn with(version: &str, trace: &str, parent: &str, flags: &str) -> String {
        format!("{version}-{trace}-{parent}-{flags}")
    }

    #[test]
    fn parses_a_valid_version_00_value() {
        let parent = parse(VALID).unwrap();
        assert_eq!(parent.trace_id.to_string(), TRACE);
        assert_eq!(parent.parent_id.to_string(), PARENT);
        assert_eq!(parent.flags, TraceFlags::SAMPLED);
        assert!(!parse(&with("00", TRACE, PARENT, "00")).unwrap().flags.sampled());
    }

    #[test]
    fn rejects_version_ff() {
        assert_eq!(
            parse(&with("ff", TRACE, PARENT, "01")),
            Err(TraceParentError::ForbiddenVersion)
        );
    }

    #[test]
    fn rejects_versions_of_the_wrong_length() {
        assert_eq!(
            parse(&with("0", TRACE, PARENT, "01")),
            Err(TraceParentError::InvalidVersion)
        );
        assert_eq!(
            parse(&with("000", TRACE, PARENT, "01")),
            Err(TraceParentError::InvalidVersion)
        );
        assert_eq!(
            parse(&with("0000", TRACE, PARENT, "01")),
            Err(TraceParentError::InvalidVersion)
        );
    }

    #[test]
    fn rejects_illegal_characters_in_the_version() {
        assert_eq!(
            parse(&with(".0", TRACE, PARENT, "01")),
            Err(TraceParentError::InvalidVersion)
        );
        assert_eq!(
            parse(&with("0.", TRACE, PARENT, "01")),
            Err(TraceParentError::InvalidVersion)
        );
    }

    #[test]
    fn rejects_upper_case_hex_in_every_field() {
        assert_eq!(
            parse(&with("0A", TRACE, PARENT, "01")),
            Err(TraceParentError::InvalidVersion)
        );
        assert_eq!(
            parse(&with("00", "1234567890123456789012345678901A", PARENT, "01")),
            Err(TraceParentError::InvalidTraceId)
        );
        assert_eq!(
            parse(&with("00", TRACE, "123456789012345A", "01")),
            Err(TraceParentError::InvalidParentId)
        );
        assert_eq!(
            parse(&with("00", TRACE, PARENT, "0A")),
            Err(TraceParentError::InvalidFlags)
        );
    }

    #[test]
    fn rejects_an_all_zero_trace_id() {
        assert_eq!(
            parse(&with("00", "00000000000000000000000000000000", PARENT, "01")),
            Err(TraceParentError::InvalidTraceId)
        );
    }

    #[test]
    fn rejects_an_all_zero_parent_id() {
        assert_eq!(
            parse(&with("00", TRACE, "0000000000000000", "01")),
            Err(TraceParentError::InvalidParentId)
        );
    }

    #[test]
    fn rejects_illegal_characters_in_the_ids() {
        let dotted_trace = "1234567890123456789012345678901.";
        assert_eq!(
            parse(&with("00", dotted_trace, PARENT, "01")),
            Err(TraceParentError::InvalidTraceId)
        );
        assert_eq!(
            parse(&with("00", TRACE, ".234567890123456", "01")),
            Err(TraceParentError::InvalidParentId)
        );
    }

    #[test]
    fn rejects_a_trace_id_of_31_or_33_digits() {
        let short = &TRACE[1..];
        let long = format!("{TRACE}3");
        assert_eq!(
            parse(&with("00", short, PARENT, "01")),
            Err(TraceParentError::InvalidTraceId)
        );
        assert_eq!(
            parse(&with("00", &long, PARENT, "01")),
            Err(TraceParentError::InvalidTraceId)
        );
        // A later version reads by position too.
        assert_eq!(
            parse(&with("cc", &long, PARENT, "01")),
            Err(TraceParentError::InvalidTraceId)
        );
    }

    #[test]
    fn rejects_a_parent_id_of_15_or_17_digits() {
        let short = &PARENT[1..];
        let long = format!("{PARENT}7");
        assert_eq!(
            parse(&with("00", TRACE, short, "01")),
            Err(TraceParentError::InvalidParentId)
        );
        assert_eq!(
            parse(&with("00", TRACE, &long, "01")),
            Err(TraceParentError::InvalidParentId)
        );
    }

    #[test]
    fn rejects_flags_of_the_wrong_length_or_characters() {
        assert_eq!(
            parse(&with("00", TRACE, PARENT, "1")),
            Err(TraceParentError::InvalidFlags)
        );
        // Read as flags `00` and then a stray `1`.
        assert_eq!(
            parse(&with("00", TRACE, PARENT, "001")),
            Err(TraceParentError::TrailingData)
        );
        assert_eq!(
            parse(&with("00", TRACE, PARENT, ".0")),
            Err(TraceParentError::InvalidFlags)
        );
        assert_eq!(
            parse(&with("00", TRACE, PARENT, "0.")),
            Err(TraceParentError::InvalidFlags)
        );
    }

    #[test]
    fn rejects_plus_signs() {
        // A parser built on from_str_radix would take these.
        assert_eq!(
            parse(&with("+0", TRACE, PARENT, "01")),
            Err(TraceParentError::InvalidVersion)
        );
        let signed_trace = "+2345678901234567890123456789012";
        assert_eq!(
            parse(&with("00", signed_trace, PARENT, "01")),
            Err(TraceParentError::InvalidTraceId)
        );
        assert_eq!(
            parse(&with("00", TRACE, "+234567890123456", "01")),
            Err(TraceParentError::InvalidParentId)
        );
        assert_eq!(
            parse(&with("00", TRACE, PARENT, "+1")),
            Err(TraceParentError::InvalidFlags)
        );
    }

    #[test]
    fn rejects_version_00_with_anything_after_the_flags() {
        assert_eq!(parse(&format!("{VALID}.")), Err(TraceParentError::TrailingData));
        assert_eq!(
            parse(&format!("{VALID}-what-the-future-will-be-like")),
            Err(TraceParentError::TrailingData)
        );
        assert_eq!(parse(&format!("{VALID}-")), Err(TraceParentError::TrailingData));
    }

    #[test]
    fn accepts_a_future_version_and_resends_it_as_version_00() {
        let future = parse(&with("cc", TRACE, PARENT, "01")).unwrap();
        assert_eq!(future, parse(VALID).unwrap());
        assert_eq!(future.to_header(), VALID);

        let extended = parse(&format!(
            "{}-what-the-future-will-be-like",
            with("cc", TRACE, PARENT, "01")
        ))
        .unwrap();
        assert_eq!(extended, future);
        assert_eq!(extended.to_header(), VALID);
    }

    #[test]
    fn rejects_a_future_version_with_a_non_dash_after_the_flags() {
        let value = format!("{}.what-the-future-will-be-like", with("cc", TRACE, PARENT, "01"));
        assert_eq!(parse(&value), Err(TraceParentError::InvalidFutureFormat));
    }

    #[test]
    fn rejects_a_future_version_shorter_than_55_characters() {
        assert_eq!(
            parse(&with("cc", TRACE, PARENT, "1")),
            Err(TraceParentError::InvalidFlags)
        );
        assert_eq!(
            parse(&format!("cc-{TRACE}-{PARENT}-")),
            Err(TraceParentError::InvalidFlags)
        );
        // No dash after the parent id: the parent id is at fault.
        assert_eq!(
            parse(&format!("cc-{TRACE}-{PARENT}")),
            Err(TraceParentError::InvalidParentId)
        );
    }

    #[test]
    fn trims_surrounding_spaces_and_tabs() {
        let expected = parse(VALID).unwrap();
        assert_eq!(parse(&format!(" {VALID}")), Ok(expected));
        assert_eq!(parse(&format!("\t{VALID}")), Ok(expected));
        assert_eq!(parse(&format!("{VALID} ")), Ok(expected));
        assert_eq!(parse(&format!("{VALID}\t")), Ok(expected));
        assert_eq!(parse(&format!("\t {VALID} \t")), Ok(expected));
    }

    #[test]
    fn keeps_sampled_and_random_and_clears_other_flags() {
        let flags = |f: &str| parse(&with("00", TRACE, PARENT, f)).unwrap().flags;
        assert_eq!(flags("03").bits(), 0x03);
        assert_eq!(flags("09").bits(), 0x01);
        assert_eq!(flags("ff").bits(), 0x03);
        assert!(flags("02").random());
        assert!(!flags("02").sampled());
        assert_eq!(parse(&with("00", TRACE, PARENT, "09")).unwrap().to_header(), VALID);
        assert_eq!(
            parse(&with("00", TRACE, PARENT, "03")).unwrap().to_header(),
            with("00", TRACE, PARENT, "03")
        );
    }

    #[test]
    fn trace_flags_helpers() {
        assert_eq!(TraceFlags::from_bits(0xff), TraceFlags::SAMPLED | TraceFlags::RANDOM);
        assert_eq!(TraceFlags::default(), TraceFlags::NONE);
        assert!(TraceFlags::NONE.with_sampled(true).sampled());
        assert_eq!(TraceFlags::from_bits(0x03).with_sampled(false), TraceFlags::RANDOM);
    }

    #[test]
    fn rejects_two_header_values() {
        let two = [VALID.as_bytes(), VALID.as_bytes()];
        assert_eq!(TraceParent::parse(two), Err(TraceParentError::Duplicated));
    }

    #[test]
    fn parse_takes_exactly_one_value() {
        assert_eq!(TraceParent::parse([VALID.as_bytes()]), parse(VALID));
        assert_eq!(TraceParent::parse(std::iter::empty()), Err(TraceParentError::Missing));
    }

    #[test]
    fn rejects_an_empty_value() {
        assert_eq!(parse(""), Err(TraceParentError::Empty));
        assert_eq!(parse(" \t "), Err(TraceParentError::Empty));
    }

    #[test]
    fn rejects_non_ascii_and_non_utf8_bytes() {
        assert_eq!(
            parse(&format!("{}-é", with("cc", TRACE, PARENT, "01"))),
            Err(TraceParentError::NotAscii)
        );
        let mut bytes = VALID.as_bytes().to_vec();
        bytes[10] = 0xff;
        assert_eq!(TraceParent::parse_one(&bytes), Err(TraceParentError::NotAscii));
        assert_eq!(parse(&format!("{VALID}\n")), Err(TraceParentError::NotAscii));
    }

    #[test]
    fn to_header_is_version_00_lowercase_55_characters() {
        let parent = TraceParent {
            trace_id: TraceId::from_int(0xABC).unwrap(),
            parent_id: SpanId::from_int(u64::MAX).unwrap(),
            flags: TraceFlags::RANDOM,
        };
        assert_eq!(
            parent.to_header(),
            "00-00000000000000000000000000000abc-ffffffffffffffff-02"
        );
        assert_eq!(parent.to_header().len(), V00_LEN);
        assert_eq!(parent.to_string(), parent.to_header());
    }

    #[test]
    fn errors_say_what_was_wrong() {
        assert_eq!(
            TraceParentError::InvalidFlags.to_string(),
            "traceparent trace-flags are not 2 lowercase hex digits"
        );
        let error: Box<dyn std::error::Error> = Box::new(TraceParentError::Duplicated);
        assert_eq!(error.to_string(), "more than one traceparent header");
    }

    /// Values close to valid ones, so that many are accepted: any 2-character version (mostly hex),
    /// ids that may be short, long, zero or upper case, and an optional tail.
    fn near_valid() -> impl Strategy<Value = String> {
        let version = prop_oneof![Just("00".to_string()), Just("cc".to_string()), "[0-9a-fA-F+.]{1,3}"];
        let trace = prop_oneof![4 => "[0-9a-f]{32}", 1 => "[0-9a-fA-F]{31,33}", 1 => Just("0".repeat(32))];
        let parent = prop_oneof![4 => "[0-9a-f]{16}", 1 => "[0-9a-fA-F]{15,17}", 1 => Just("0".repeat(16))];
        let flags = prop_oneof![4 => "[0-9a-f]{2}", 1 => "[0-9a-fA-F+]{1,3}"];
        let tail = prop_oneof![Just(String::new()), "[-. a-z]{0,8}"];
        let ows = "[ \t]{0,2}";
        (ows, version, trace, parent, flags, tail, ows)
            .prop_map(|(l, v, t, p, f, tail, r)| format!("{l}{v}-{t}-{p}-{f}{tail}{r}"))
    }

    proptest! {
        // ProptestConfig::default() has 256 cases and honours PROPTEST_CASES.
        #![proptest_config(ProptestConfig::default())]

        #[test]
        fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = TraceParent::parse_one(&bytes);
        }

        #[test]
        fn any_several_values_never_panic(
            values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..4)
        ) {
            let _ = TraceParent::parse(values.iter().map(Vec::as_slice));
        }

        #[test]
        fn accepted_values_round_trip(value in near_valid()) {
            if let Ok(parent) = TraceParent::parse_one(value.as_bytes()) {
                let header = parent.to_header();
                prop_assert_eq!(header.len(), V00_LEN);
                prop_assert!(header.starts_with("00-"));
                prop_assert_eq!(TraceParent::parse_one(header.as_bytes()), Ok(parent));
            }
        }

        #[test]
        fn every_valid_parent_round_trips(trace in 1u128.., parent in 1u64.., bits in any::<u8>()) {
            let parent = TraceParent {
                trace_id: TraceId::from_int(trace).unwrap(),
                parent_id: SpanId::from_int(parent).unwrap(),
                flags: TraceFlags::from_bits(bits),
            };
            prop_assert_eq!(TraceParent::parse_one(parent.to_header().as_bytes()), Ok(parent));
        }
    }
}
