//! A forward-only reader of JSON text, for turning the batch's envelopes into
//! protobuf without building a tree.
//!
//! Why not serde_json: the OTLP lane reads back every envelope the worker just
//! wrote, and parsing into a borrowed tree (`Deserialize` into enums and
//! vectors) was two thirds of the lane's cost. This reader hands each value to
//! its caller as it passes, so the protobuf writer can write it straight out.
//! It accepts JSON (RFC 8259) and refuses what serde_json refuses (`None`: the
//! caller counts the event as unreadable). Strings with escapes and
//! non-integer numbers are decoded by serde_json itself, so values read here
//! are exactly those the JSON lane reads.

use std::borrow::Cow;

/// How many arrays and objects may be open at once, the whole document's
/// included (serde_json's own limit).
pub(crate) const MAX_DEPTH: usize = 127;

/// A JSON number as OTLP carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    /// A fraction, an exponent, or an integer past `i64` (OTLP has no `u64`).
    Float(f64),
}

/// The reader: a position in text that is valid UTF-8.
pub(crate) struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    /// A reader of `bytes`, or `None` if they are not UTF-8 (checked once here,
    /// so that every string read later is a slice of valid text).
    pub fn new(bytes: &'a [u8]) -> Option<Self> {
        Some(Scanner {
            text: std::str::from_utf8(bytes).ok()?,
            at: 0,
        })
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not whitespace, without taking it.
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes().get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Whether only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// `literal` (`true`, `false`, `null`) at the current position.
    fn literal(&mut self, literal: &str) -> Option<()> {
        self.text[self.at..]
            .starts_with(literal)
            .then(|| self.at += literal.len())
    }

    /// `null`, if that is what comes next (taken), else nothing is taken.
    pub fn null(&mut self) -> bool {
        self.peek() == Some(b'n') && self.literal("null").is_some()
    }

    /// `true` or `false`.
    pub fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal("true").map(|_| true),
            b'f' => self.literal("false").map(|_| false),
            _ => None,
        }
    }

    /// A string, borrowed from the text unless it has escapes.
    pub fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.at;
        let bytes = self.bytes();
        let mut escaped = false;
        loop {
            let i = self.at + memchr::memchr2(b'"', b'\\', bytes.get(self.at..)?)?;
            if bytes[i] == b'"' {
                self.at = i + 1;
                break;
            }
            escaped = true;
            // The escaped character is never the closing quote.
            self.at = i + 2;
        }
        if !escaped {
            let text = &self.text[start..self.at - 1];
            // A raw control character is not JSON (escaped text is checked by serde_json).
            if text.bytes().any(|b| b < 0x20) {
                return None;
            }
            return Some(Cow::Borrowed(text));
        }
        // With its quotes: serde_json decodes the escapes (and refuses bad ones).
        serde_json::from_str::<String>(&self.text[start - 1..self.at])
            .ok()
            .map(Cow::Owned)
    }

    /// A number: an integer that fits `i64`, else a double.
    pub fn number(&mut self) -> Option<Number> {
        self.peek()?;
        let start = self.at;
        let bytes = self.bytes();
        let mut end = start;
        let mut integer = true;
        while let Some(&b) = bytes.get(end) {
            match b {
                b'0'..=b'9' | b'-' => {}
                b'.' | b'e' | b'E' | b'+' => integer = false,
                _ => break,
            }
            end += 1;
        }
        let text = &self.text[start..end];
        if text.is_empty() {
            return None;
        }
        self.at = end;
        let digits = text.strip_prefix('-').unwrap_or(text);
        if integer && !(digits.len() > 1 && digits.starts_with('0')) {
            match text.parse::<i64>() {
                // serde_json reads `-0` as the double -0.0.
                Ok(0) if text == "-0" => return Some(Number::Float(-0.0)),
                Ok(i) => return Some(Number::Int(i)),
                Err(_) => {}
            }
        }
        // serde_json's own reading, so both lanes read the same double (and
        // refuse what JSON does not allow, such as `01` or `1.`).
        serde_json::from_str::<f64>(text).ok().map(Number::Float)
    }

    /// The members of an object: `each` is called with each key and must read
    /// its value.
    pub fn object(&mut self, mut each: impl FnMut(&mut Self, Cow<'a, str>) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            each(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The items of an array: `each` is called for each and must read it.
    pub fn array(&mut self, mut each: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            each(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads any value, inside `depth` open arrays and objects, and forgets it.
    pub fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' if depth < MAX_DEPTH => self.object(|s, _| s.skip(depth + 1)),
            b'[' if depth < MAX_DEPTH => self.array(|s| s.skip(depth + 1)),
            b't' | b'f' => self.boolean().map(drop),
            b'n' => self.null().then_some(()),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> Scanner<'_> {
        Scanner::new(text.as_bytes()).unwrap()
    }

    #[test]
    fn strings_borrow_unless_escaped_and_decode_like_serde_json() {
        let mut s = scan(r#" "plain" "t\u00e9\"q\\" "" "#);
        assert!(matches!(s.string(), Some(Cow::Borrowed("plain"))));
        assert!(matches!(s.string(), Some(Cow::Owned(t)) if t == "té\"q\\"));
        assert_eq!(s.string().as_deref(), Some(""));
        assert!(s.at_end());
        for bad in [
            "\"open",
            r#""\x""#,
            r#""\"#,
            r#""\ud800""#,
            r#""a\"#,
            "\"a\u{1}b\"",
            "\"a\u{1f}\\n\"",
        ] {
            assert_eq!(scan(bad).string(), None, "{bad:?}");
        }
    }

    #[test]
    fn numbers_are_integers_when_they_fit_and_doubles_otherwise() {
        let cases = [
            ("0", Number::Int(0)),
            ("-12", Number::Int(-12)),
            ("9223372036854775807", Number::Int(i64::MAX)),
            ("18446744073709551615", Number::Float(18446744073709551615.0)),
            ("-9223372036854775809", Number::Float(-9223372036854775809.0)),
            ("1.5", Number::Float(1.5)),
            ("-2e3", Number::Float(-2000.0)),
            ("1E+2", Number::Float(100.0)),
        ];
        for (text, expected) in cases {
            assert_eq!(scan(text).number(), Some(expected), "{text}");
        }
        assert!(matches!(scan("-0").number(), Some(Number::Float(z)) if z == 0.0 && z.is_sign_negative()));
        for bad in ["01", "-01", "01.", "1.", "-", "+1", "1e", ".5"] {
            assert_eq!(scan(bad).number(), None, "{bad}");
        }
    }

    #[test]
    fn objects_and_arrays_hand_over_each_member_and_refuse_broken_ones() {
        let mut keys = Vec::new();
        let mut s = scan(r#"{"a": [1, {"b": null}], "c": true, "d": {}}"#);
        s.object(|s, key| {
            keys.push(key.into_owned());
            s.skip(0)
        })
        .unwrap();
        assert_eq!(keys, ["a", "c", "d"]);
        assert!(s.at_end());
        for bad in [
            r#"{"a" 1}"#,
            r#"{"a":1,}"#,
            "[1 2]",
            "[1,]",
            "{",
            r#"{"a":nul}"#,
            "[tru]",
        ] {
            assert_eq!(scan(bad).skip(0), None, "{bad}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(scan(&deep).skip(0), None, "nesting past the limit");
        let fine = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(scan(&fine).skip(0), Some(()));
        // The same limit as serde_json's.
        assert!(serde_json::from_str::<serde_json::Value>(&fine).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&deep).is_err());
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_up_front() {
        assert!(Scanner::new(b"\"\xff\"").is_none());
    }
}
