//! The event-name rule of the wire format (section 1, `event_type`).
//!
//! This file has no dependencies on purpose: `telemetry-macros` includes it with
//! `#[path]`, so the compile-time check of `#[telemetry(event = "...")]` and the
//! runtime check of the collector are the same code.

/// Longest event name the wire format allows.
pub const MAX_EVENT_NAME_LEN: usize = 64;

/// Why a string is not a valid event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventNameError {
    /// The name is the empty string.
    Empty,
    /// The name is longer than [`MAX_EVENT_NAME_LEN`] bytes; holds the length.
    TooLong(usize),
    /// The first character is not an ASCII letter.
    BadFirstChar,
    /// A character other than an ASCII letter, digit, `_`, `.` or `-`; holds its byte offset.
    BadChar(usize),
}

impl EventNameError {
    /// A sentence saying what is wrong, for compile errors and rejection reasons.
    pub fn describe(&self, name: &str) -> String {
        match *self {
            EventNameError::Empty => "event name is empty; it needs 1 to 64 characters".to_string(),
            EventNameError::TooLong(len) => {
                format!("event name {name:?} is {len} characters long; the limit is {MAX_EVENT_NAME_LEN}")
            }
            EventNameError::BadFirstChar => {
                format!("event name {name:?} must start with an ASCII letter")
            }
            EventNameError::BadChar(at) => {
                let ch = name[at..].chars().next().unwrap_or('?');
                let what = if ch == ' ' {
                    "has a space".to_string()
                } else {
                    format!("has the character {ch:?}")
                };
                format!(
                    "event name {name:?} {what} at byte {at}; only ASCII letters, digits, `_`, `.` and `-` are allowed"
                )
            }
        }
    }
}

/// Checks `name` against the wire format's rule: 1 to 64 characters, an ASCII
/// letter first, then ASCII letters, digits, `_`, `.` or `-`.
///
/// It is a `const fn`, so it can also be used in constant assertions.
///
/// ```
/// use telemetry_core::{validate_event_name, EventNameError};
/// assert!(validate_event_name("OE_INTERACT").is_ok());
/// assert_eq!(validate_event_name("oe interact"), Err(EventNameError::BadChar(2)));
/// ```
pub const fn validate_event_name(name: &str) -> Result<(), EventNameError> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Err(EventNameError::Empty);
    }
    if !bytes[0].is_ascii_alphabetic() {
        return Err(EventNameError::BadFirstChar);
    }
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-') {
            return Err(EventNameError::BadChar(i));
        }
        i += 1;
    }
    // Every byte is ASCII by now, so bytes are characters.
    if bytes.len() > MAX_EVENT_NAME_LEN {
        return Err(EventNameError::TooLong(bytes.len()));
    }
    Ok(())
}
