//! The time on each line: RFC 3339, UTC, six fractional digits, `Z`, the same
//! text as the events' `timestamp` (`telemetry_core::Timestamp`, which formats
//! with the `time` crate).

use std::fmt;

use telemetry_core::Timestamp;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The timer of the human formats, and the text of the JSON `timestamp`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UtcMicros;

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(w, "{}", Timestamp::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_wire_format_timestamps() {
        let mut text = String::new();
        UtcMicros.format_time(&mut Writer::new(&mut text)).unwrap();
        assert_eq!(text.len(), "2026-12-02T01:02:03.456789Z".len(), "{text}");
        assert!(text.ends_with('Z') && text.as_bytes()[19] == b'.', "{text}");
        assert!(text.parse::<Timestamp>().is_ok(), "{text}");
    }
}
