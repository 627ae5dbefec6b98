//! W3C context propagation: the `traceparent` and `tracestate` headers of W3C Trace Context
//! (Level 2) and the `baggage` header of W3C Baggage.
//!
//! Header values arrive as raw bytes (an HTTP header value need not be UTF-8), and a request may
//! carry several headers of the same name, so every parser takes all the values of its header, in
//! the order they arrived. No parser panics, whatever the bytes.
//!
//! The three headers fail differently, as their specs ask:
//! - [`TraceParent::parse`] is strict: anything off and the caller restarts the trace.
//! - [`TraceState::parse`] is all or nothing: one bad list member and the whole header is discarded.
//! - [`Baggage::parse`] is lenient: a bad member is dropped and the others are kept.

mod baggage;
mod traceparent;
mod tracestate;

pub use baggage::{Baggage, BaggageMember, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS};
pub use traceparent::{TraceFlags, TraceParent, TraceParentError};
pub use tracestate::{TraceState, TraceStateError, MAX_TRACESTATE_MEMBERS, TRACESTATE_PROPAGATED_LEN};

/// The `traceparent` header name, lowercase as the Trace Context spec says to send it.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The `tracestate` header name, lowercase as the Trace Context spec says to send it.
pub const TRACESTATE_HEADER: &str = "tracestate";
/// The `baggage` header name, lowercase as the Baggage spec says to send it.
pub const BAGGAGE_HEADER: &str = "baggage";

/// `bytes` without leading and trailing optional whitespace: OWS is spaces and horizontal tabs
/// (RFC 7230, section 3.2.3), which all three specs borrow.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// `bytes` split around the first `separator`, which belongs to neither side.
fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|b| *b == separator)?;
    Some((bytes.get(..at)?, bytes.get(at + 1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_ows_removes_spaces_and_tabs_only_at_the_ends() {
        assert_eq!(trim_ows(b" \t a b \t "), b"a b");
        assert_eq!(trim_ows(b"ab"), b"ab");
        assert_eq!(trim_ows(b" \t "), b"");
        assert_eq!(trim_ows(b""), b"");
        assert_eq!(trim_ows(b"\na\r"), b"\na\r", "only SP and HTAB are OWS");
    }

    #[test]
    fn split_once_splits_at_the_first_separator() {
        assert_eq!(split_once(b"k=b==", b'='), Some((&b"k"[..], &b"b=="[..])));
        assert_eq!(split_once(b"=", b'='), Some((&b""[..], &b""[..])));
        assert_eq!(split_once(b"k", b'='), None);
    }
}
