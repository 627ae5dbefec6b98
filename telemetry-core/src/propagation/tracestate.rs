//! The `tracestate` header (W3C Trace Context Level 2, "Tracestate Header").

use std::fmt;

use super::{split_once, trim_ows};

/// Most list members a `tracestate` may have; one more and the whole header is invalid.
pub const MAX_TRACESTATE_MEMBERS: usize = 32;
/// Most characters [`TraceState::to_header`] sends ("Vendors SHOULD propagate at least 512
/// characters of a combined header").
pub const TRACESTATE_PROPAGATED_LEN: usize = 512;
/// Entries longer than this are the first to go when the header must be truncated.
const LONG_ENTRY_LEN: usize = 128;
const MAX_KEY_LEN: usize = 256;
const MAX_VALUE_LEN: usize = 256;

/// A parsed `tracestate` header: vendors' `key=value` entries, left-most (most recent) first.
///
/// Parsing is all or nothing, as the spec has it: one invalid list member, a duplicate key or more
/// than 32 members and [`parse`](Self::parse) fails, and the caller propagates no tracestate.
/// Empty list members are allowed and skipped.
///
/// ```
/// use telemetry_core::propagation::TraceState;
///
/// let state = TraceState::parse(["rojo=00f067aa0ba902b7".as_bytes(), "congo=t61rcWkgMzE,".as_bytes()]).unwrap();
/// assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
/// assert_eq!(state.to_header().as_deref(), Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
///
/// assert!(TraceState::parse(["rojo=1,FOO=2".as_bytes()]).is_err(), "upper-case key");
/// assert_eq!(TraceState::parse(["".as_bytes()]).unwrap().to_header(), None);
/// ```
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct TraceState {
    entries: Vec<(String, String)>,
}

impl TraceState {
    /// An empty tracestate.
    pub fn new() -> Self {
        TraceState::default()
    }

    /// Parses the `tracestate` header from all the values the request carried.
    ///
    /// The values are read in order as one list, as if joined by `,` (RFC 7230, section 3.2.2, which
    /// the spec cites for multiple header fields). Surrounding spaces and tabs of each member are
    /// ignored; empty members are skipped and do not count towards the 32.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<TraceState, TraceStateError> {
        let mut entries: Vec<(String, String)> = Vec::new();
        for value in values {
            for member in value.split(|b| *b == b',').map(trim_ows) {
                if member.is_empty() {
                    continue;
                }
                let position = entries.len();
                if position == MAX_TRACESTATE_MEMBERS {
                    return Err(TraceStateError::TooManyMembers);
                }
                let (key, value) = split_once(member, b'=').ok_or(TraceStateError::MissingEquals { position })?;
                if !is_valid_key(key) {
                    return Err(TraceStateError::InvalidKey { position });
                }
                if !is_valid_value(value) {
                    return Err(TraceStateError::InvalidValue { position });
                }
                // Both are checked ASCII, so the conversion loses nothing.
                let key = String::from_utf8_lossy(key).into_owned();
                // "Only one entry per key is allowed" ("Combined Header Value").
                if entries.iter().any(|(k, _)| *k == key) {
                    return Err(TraceStateError::DuplicateKey { key });
                }
                entries.push((key, String::from_utf8_lossy(value).into_owned()));
            }
        }
        Ok(TraceState { entries })
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The value of `key`'s entry.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The `(key, value)` entries, left-most first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sets `key`'s entry and moves it to the left-most place, as a vendor does for its own entry
    /// ("Mutating the tracestate Field": modified keys MUST be moved to the beginning). When that
    /// makes 33 entries, the right-most is dropped.
    ///
    /// Fails, changing nothing, when `key` or `value` is not valid (see [`TraceStateError`]).
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), TraceStateError> {
        if !is_valid_key(key.as_bytes()) {
            return Err(TraceStateError::InvalidKey { position: 0 });
        }
        if !is_valid_value(value.as_bytes()) {
            return Err(TraceStateError::InvalidValue { position: 0 });
        }
        self.remove(key);
        self.entries.insert(0, (key.to_string(), value.to_string()));
        self.entries.truncate(MAX_TRACESTATE_MEMBERS);
        Ok(())
    }

    /// Removes `key`'s entry and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        let at = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(at).1)
    }

    /// The header value to send, `None` when there is nothing to send ("Vendors MUST accept empty
    /// tracestate headers but SHOULD avoid sending them").
    ///
    /// At most 512 characters, truncated by whole entries as "tracestate Limits" asks: first the
    /// entries longer than 128 characters, right-most first and only as many as needed, then
    /// entries from the right.
    pub fn to_header(&self) -> Option<String> {
        let kept = self.kept_for_header();
        if kept.is_empty() {
            return None;
        }
        let entries: Vec<String> = kept.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Some(entries.join(","))
    }

    /// The entries that [`to_header`](Self::to_header) sends.
    fn kept_for_header(&self) -> Vec<&(String, String)> {
        let entry_len = |(k, v): &(String, String)| k.len() + 1 + v.len();
        let header_len = |kept: &[&(String, String)]| {
            kept.iter().map(|e| entry_len(e)).sum::<usize>() + kept.len().saturating_sub(1)
        };
        let mut kept: Vec<&(String, String)> = self.entries.iter().collect();
        while header_len(&kept) > TRACESTATE_PROPAGATED_LEN {
            // The left-most entries are the most recent, so the right-most go first.
            let victim = kept
                .iter()
                .rposition(|e| entry_len(e) > LONG_ENTRY_LEN)
                .or(kept.len().checked_sub(1));
            match victim {
                Some(at) => kept.remove(at),
                None => break,
            };
        }
        kept
    }
}

/// Whether `key` is a tracestate key.
///
/// The rule this project uses is Trace Context Level 2's ("Key"):
/// `key = ( lcalpha / DIGIT ) 0*255( keychar )` with
/// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`: 1 to 256 characters, the first a
/// lowercase letter or a digit. Level 1 had a separate `tenant@system` form with its own length
/// limits; Level 2 folded `@` into the key characters, so `foo@@bar` is a valid key.
fn is_valid_key(key: &[u8]) -> bool {
    let is_key_char = |b: &u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@');
    match key.split_first() {
        Some((first, rest)) => {
            key.len() <= MAX_KEY_LEN
                && (first.is_ascii_lowercase() || first.is_ascii_digit())
                && rest.iter().all(is_key_char)
        }
        None => false,
    }
}

/// Whether `value` is a tracestate value ("Value"): `value = 0*255(chr) nblk-chr` with
/// `chr = %x20 / nblk-chr` and `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`, so 1 to 256 printable
/// ASCII characters other than `,` and `=`, not ending with a space.
fn is_valid_value(value: &[u8]) -> bool {
    let is_chr = |b: &u8| matches!(b, b' '..=b'~') && *b != b',' && *b != b'=';
    (1..=MAX_VALUE_LEN).contains(&value.len()) && value.iter().all(is_chr) && value.last() != Some(&b' ')
}

/// Why a `tracestate` header was rejected; the caller then propagates no tracestate.
///
/// `position` counts the non-empty list members from 0, across all the header values.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum TraceStateError {
    /// More than 32 list members.
    TooManyMembers,
    /// A list member has no `=`.
    MissingEquals {
        /// Which member.
        position: usize,
    },
    /// A list member's key breaks the key rule.
    InvalidKey {
        /// Which member.
        position: usize,
    },
    /// A list member's value breaks the value rule.
    InvalidValue {
        /// Which member.
        position: usize,
    },
    /// Two list members have the same key.
    DuplicateKey {
        /// The key (a valid one, so safe to log).
        key: String,
    },
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceStateError::TooManyMembers => {
                write!(f, "tracestate has more than {MAX_TRACESTATE_MEMBERS} list members")
            }
            TraceStateError::MissingEquals { position } => write!(f, "tracestate list member {position} has no '='"),
            TraceStateError::InvalidKey { position } => write!(
                f,
                "tracestate list member {position} has an invalid key \
                 (1-256 of a-z 0-9 _ - * / @, starting with a-z or 0-9)"
            ),
            TraceStateError::InvalidValue { position } => write!(
                f,
                "tracestate list member {position} has an invalid value \
                 (1-256 printable ASCII characters other than ',' and '=', not ending with a space)"
            ),
            TraceStateError::DuplicateKey { key } => write!(f, "tracestate key {key:?} appears more than once"),
        }
    }
}

impl std::error::Error for TraceStateError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(value: &str) -> Result<TraceState, TraceStateError> {
        TraceState::parse([value.as_bytes()])
    }

    fn entries(state: &TraceState) -> Vec<(&str, &str)> {
        state.iter().collect()
    }

    /// `count` members `bar01=01,bar02=02,...`.
    fn members(count: usize) -> String {
        (1..=count)
            .map(|i| format!("bar{i:02}={i:02}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn parses_members_in_order() {
        let state = parse("foo=1,bar=2").unwrap();
        assert_eq!(entries(&state), [("foo", "1"), ("bar", "2")]);
        assert_eq!(state.get("bar"), Some("2"));
        assert_eq!(state.get("baz"), None);
        assert_eq!(state.len(), 2);
    }

    #[test]
    fn combines_several_header_values_in_order() {
        let state = TraceState::parse(["foo=1,bar=2".as_bytes(), b"rojo=1,congo=2", b"baz=3"]).unwrap();
        assert_eq!(
            entries(&state),
            [("foo", "1"), ("bar", "2"), ("rojo", "1"), ("congo", "2"), ("baz", "3")]
        );
    }

    #[test]
    fn an_empty_header_gives_an_empty_state_that_is_not_sent() {
        let empty = parse("").unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.to_header(), None);
        assert!(parse(" , \t,, ").unwrap().is_empty(), "only commas and whitespace");
        assert_eq!(TraceState::parse(std::iter::empty()), Ok(TraceState::new()));
    }

    #[test]
    fn an_empty_value_next_to_others_is_ignored() {
        let expected = parse("foo=1").unwrap();
        assert_eq!(TraceState::parse(["foo=1".as_bytes(), b""]), Ok(expected.clone()));
        assert_eq!(TraceState::parse(["".as_bytes(), b"foo=1"]), Ok(expected));
    }

    #[test]
    fn skips_empty_members() {
        assert_eq!(entries(&parse("a=1,,b=2").unwrap()), [("a", "1"), ("b", "2")]);
        assert_eq!(entries(&parse(",a=1, ,b=2,").unwrap()), [("a", "1"), ("b", "2")]);
    }

    #[test]
    fn allows_whitespace_around_members() {
        let expected = [("foo", "1"), ("bar", "2"), ("baz", "3")];
        assert_eq!(entries(&parse("foo=1 \t , \t bar=2, \t baz=3").unwrap()), expected);
        assert_eq!(entries(&parse("foo=1\t \t,\t \tbar=2,\t \tbaz=3").unwrap()), expected);
        assert_eq!(entries(&parse("\t foo=1 \t").unwrap()), [("foo", "1")]);
    }

    #[test]
    fn keeps_32_members() {
        let state = parse(&members(32)).unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(state.get("bar01"), Some("01"));
        assert_eq!(state.get("bar32"), Some("32"));
    }

    #[test]
    fn rejects_33_members_across_header_values() {
        assert_eq!(parse(&members(33)), Err(TraceStateError::TooManyMembers));
        let thirty_two = members(32);
        assert_eq!(
            TraceState::parse([thirty_two.as_bytes(), b"bar33=33"]),
            Err(TraceStateError::TooManyMembers)
        );
    }

    #[test]
    fn rejects_duplicate_keys() {
        let duplicate = Err(TraceStateError::DuplicateKey { key: "foo".into() });
        assert_eq!(parse("foo=1,foo=1"), duplicate);
        assert_eq!(parse("foo=1,foo=2"), duplicate);
        assert_eq!(TraceState::parse(["foo=1".as_bytes(), b"foo=2"]), duplicate);
    }

    #[test]
    fn accepts_keys_up_to_256_characters() {
        let key = "z".repeat(256);
        assert_eq!(parse(&format!("foo=1,{key}=1")).unwrap().get(&key), Some("1"));
        let key = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        assert!(parse(&format!("{key}=1")).is_ok());
    }

    #[test]
    fn rejects_a_key_of_257_characters() {
        let key = "z".repeat(257);
        assert_eq!(
            parse(&format!("foo=1,{key}=1")),
            Err(TraceStateError::InvalidKey { position: 1 })
        );
    }

    #[test]
    fn key_rule() {
        assert!(parse("foo@@bar=1").is_ok(), "Level 2 allows any number of @");
        assert!(parse("0foo=1").is_ok(), "a digit may come first");
        let all = "abcdefghijklmnopqrstuvwxyz0123456789_-*/@=1";
        assert!(parse(all).is_ok());
        assert_eq!(parse("@foo=1"), Err(TraceStateError::InvalidKey { position: 0 }));
        assert_eq!(parse("_foo=1"), Err(TraceStateError::InvalidKey { position: 0 }));
        assert_eq!(parse("FOO=1"), Err(TraceStateError::InvalidKey { position: 0 }));
        assert_eq!(parse("foo.bar=1"), Err(TraceStateError::InvalidKey { position: 0 }));
        assert_eq!(parse("foo =1"), Err(TraceStateError::InvalidKey { position: 0 }));
        assert_eq!(parse("=1"), Err(TraceStateError::InvalidKey { position: 0 }));
    }

    #[test]
    fn value_rule() {
        // Every allowed character: printable ASCII but ',' and '='.
        let all: String = (b' '..=b'~')
            .filter(|b| !matches!(b, b',' | b'='))
            .map(char::from)
            .collect();
        assert_eq!(parse(&format!("foo={all}")).unwrap().get("foo"), Some(all.as_str()));
        assert_eq!(
            parse("foo= leading").unwrap().get("foo"),
            Some(" leading"),
            "leading spaces are kept"
        );
        assert_eq!(
            parse(&format!("foo={}", "v".repeat(256)))
                .unwrap()
                .get("foo")
                .map(str::len),
            Some(256)
        );
        assert_eq!(
            parse(&format!("foo={}", "v".repeat(257))),
            Err(TraceStateError::InvalidValue { position: 0 })
        );
        assert_eq!(parse("foo=bar=baz"), Err(TraceStateError::InvalidValue { position: 0 }));
        assert_eq!(parse("foo="), Err(TraceStateError::InvalidValue { position: 0 }));
        assert_eq!(parse("foo=,bar=3"), Err(TraceStateError::InvalidValue { position: 0 }));
        assert_eq!(parse("foo=a\tb"), Err(TraceStateError::InvalidValue { position: 0 }));
        assert_eq!(parse("foo"), Err(TraceStateError::MissingEquals { position: 0 }));
    }

    #[test]
    fn one_invalid_member_invalidates_the_whole_header() {
        assert_eq!(
            TraceState::parse(["foo=1,bar=2".as_bytes(), b"baz=\x7f"]),
            Err(TraceStateError::InvalidValue { position: 2 })
        );
        assert_eq!(
            parse("foo=1,bar=caf\u{e9}"),
            Err(TraceStateError::InvalidValue { position: 1 })
        );
        assert_eq!(
            TraceState::parse([&b"foo=\xff\xfe"[..]]),
            Err(TraceStateError::InvalidValue { position: 0 })
        );
    }

    #[test]
    fn to_header_joins_entries_without_whitespace() {
        let state = parse(" foo=1 ,\tbar= 2 ").unwrap();
        assert_eq!(state.to_header().as_deref(), Some("foo=1,bar= 2"));
    }

    #[test]
    fn to_header_drops_long_entries_first_even_when_not_last() {
        // 'a' is 131 characters, the others 71 each: 131 + 6 * 71 + 6 commas = 563 > 512.
        let long = format!("a={}", "x".repeat(129));
        let short: Vec<String> = (0..6).map(|i| format!("s{i}={}", "y".repeat(68))).collect();
        let state = parse(&format!("{long},{}", short.join(","))).unwrap();
        let header = state.to_header().unwrap();
        assert_eq!(header, short.join(","));
        assert!(header.len() <= TRACESTATE_PROPAGATED_LEN);
    }

    #[test]
    fn to_header_then_drops_entries_from_the_end() {
        // 8 entries of 100 characters: 8 * 100 + 7 = 807 > 512; 5 fit (504).
        let all: Vec<String> = (0..8).map(|i| format!("k{i}={}", "v".repeat(97))).collect();
        let state = parse(&all.join(",")).unwrap();
        assert_eq!(state.to_header().unwrap(), all[..5].join(","));
    }

    #[test]
    fn to_header_drops_only_as_many_long_entries_as_needed() {
        // Two 200-character entries and one short: 200 + 200 + 5 + 2 = 407 fits; add a third long
        // one in the middle and the right-most long one goes.
        let long = |c: char| format!("{c}={}", c.to_string().repeat(198));
        let (a, b, c) = (long('a'), long('b'), long('c'));
        assert_eq!(
            parse(&format!("{a},{b},k=123")).unwrap().to_header(),
            Some(format!("{a},{b},k=123"))
        );
        assert_eq!(
            parse(&format!("{a},{b},{c},k=123")).unwrap().to_header(),
            Some(format!("{a},{b},k=123"))
        );
    }

    #[test]
    fn to_header_of_exactly_512_characters_is_whole() {
        // 4 entries of 127 characters and 3 commas: 511; make the last 128 for 512.
        let mut all: Vec<String> = (0..3).map(|i| format!("k{i}={}", "v".repeat(124))).collect();
        all.push(format!("k3={}", "v".repeat(125)));
        let header = all.join(",");
        assert_eq!(header.len(), 512);
        assert_eq!(parse(&header).unwrap().to_header(), Some(header));
    }

    #[test]
    fn insert_moves_the_entry_to_the_front() {
        let mut state = parse("rojo=1,congo=2").unwrap();
        state.insert("congo", "3").unwrap();
        assert_eq!(entries(&state), [("congo", "3"), ("rojo", "1")]);
        state.insert("new", "4").unwrap();
        assert_eq!(state.to_header().as_deref(), Some("new=4,congo=3,rojo=1"));
        assert_eq!(
            state.insert("Bad", "1"),
            Err(TraceStateError::InvalidKey { position: 0 })
        );
        assert_eq!(
            state.insert("ok", "a,b"),
            Err(TraceStateError::InvalidValue { position: 0 })
        );
        assert_eq!(
            state.insert("ok", "trailing "),
            Err(TraceStateError::InvalidValue { position: 0 })
        );
        assert_eq!(state.len(), 3);
        assert_eq!(state.remove("rojo").as_deref(), Some("1"));
        assert_eq!(state.remove("rojo"), None);
    }

    #[test]
    fn insert_keeps_at_most_32_entries() {
        let mut state = parse(&members(32)).unwrap();
        state.insert("new", "1").unwrap();
        assert_eq!(state.len(), 32);
        assert_eq!(state.get("bar32"), None, "the right-most entry went");
        assert_eq!(state.get("new"), Some("1"));
    }

    #[test]
    fn errors_say_what_was_wrong() {
        assert_eq!(
            TraceStateError::TooManyMembers.to_string(),
            "tracestate has more than 32 list members"
        );
        assert_eq!(
            TraceStateError::DuplicateKey { key: "foo".into() }.to_string(),
            "tracestate key \"foo\" appears more than once"
        );
        assert!(TraceStateError::InvalidKey { position: 3 }
            .to_string()
            .contains("member 3 has an invalid key"));
    }

    /// Headers made of valid members (mostly), with empty members and whitespace between them.
    fn near_valid_values() -> impl Strategy<Value = Vec<String>> {
        let key = prop_oneof![
            16 => "[a-z0-9][a-z0-9_*/@-]{0,12}",
            2 => "[a-z0-9][a-z0-9_*/@-]{120,130}",
            1 => "[A-Z.@ ]{1,3}"
        ];
        let value = prop_oneof![
            16 => "[\\x20-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{0,12}[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]",
            2 => "[\\x21-\\x2b\\x2d-\\x3c\\x3e-\\x7e]{100,250}",
            1 => "[=\\x00-\\x7f]{0,3}"
        ];
        let member = prop_oneof![8 => (key, value).prop_map(|(k, v)| format!("{k}={v}")), 1 => Just(String::new())];
        let list = (prop::collection::vec((member, "[ \t]{0,2}"), 0..12)).prop_map(|members| {
            members
                .into_iter()
                .map(|(m, ows)| format!("{ows}{m}{ows}"))
                .collect::<Vec<_>>()
                .join(",")
        });
        prop::collection::vec(list, 0..4)
    }

    proptest! {
        // ProptestConfig::default() has 256 cases and honours PROPTEST_CASES.
        #![proptest_config(ProptestConfig::default())]

        #[test]
        fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = TraceState::parse([bytes.as_slice()]);
        }

        #[test]
        fn any_several_values_never_panic(
            values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..4)
        ) {
            let _ = TraceState::parse(values.iter().map(Vec::as_slice));
        }

        #[test]
        fn reparsing_to_header_gives_the_same_state(values in near_valid_values()) {
            if let Ok(state) = TraceState::parse(values.iter().map(String::as_bytes)) {
                let header = state.to_header();
                let again = match &header {
                    Some(header) => TraceState::parse([header.as_bytes()]).unwrap(),
                    None => TraceState::new(),
                };
                prop_assert!(header.as_ref().is_none_or(|h| h.len() <= TRACESTATE_PROPAGATED_LEN));
                let kept: Vec<(&str, &str)> =
                    state.kept_for_header().iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                prop_assert_eq!(entries(&again), kept);
                // What fits is sent whole.
                let whole_len = state.iter().map(|(k, v)| k.len() + 1 + v.len() + 1).sum::<usize>();
                let whole_len = whole_len.saturating_sub(1);
                if whole_len <= TRACESTATE_PROPAGATED_LEN {
                    prop_assert_eq!(&again, &state);
                }
                // Sending again changes nothing.
                prop_assert_eq!(again.to_header(), header);
            }
        }
    }
}
