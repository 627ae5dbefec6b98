//! How field values become text, shared by both formats: never failing, never
//! panicking, whatever the value's `Display` or `Debug` does.

use std::error::Error;
use std::fmt::{self, Write as _};

/// The deepest `source()` chain followed (a chain can be cyclic).
pub(crate) const MAX_SOURCES: usize = 32;

/// The field names the `log` bridge uses for a record's metadata; they are
/// shown as the line's target and location, not as fields.
const LOG_METADATA_FIELDS: [&str; 4] = ["log.target", "log.module_path", "log.file", "log.line"];

/// A field's name as written: a raw identifier (`r#type`) loses its `r#`.
pub(crate) fn field_name(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// Whether a field is the `log` bridge's metadata rather than a field of the record.
pub(crate) fn is_log_metadata(name: &str) -> bool {
    LOG_METADATA_FIELDS.contains(&name)
}

/// `value`'s `Display` text. A `Display` that fails leaves what it wrote so far
/// (`format!` would panic instead).
pub(crate) fn display_string(value: &dyn fmt::Display) -> String {
    let mut out = String::new();
    let _ = write!(out, "{value}");
    out
}

/// `value`'s `Debug` text, like [`display_string`].
pub(crate) fn debug_string(value: &dyn fmt::Debug) -> String {
    let mut out = String::new();
    let _ = write!(out, "{value:?}");
    out
}

/// The `Display` text of each error in `error`'s `source()` chain, after `error`
/// itself (at most [`MAX_SOURCES`]).
pub(crate) fn sources(error: &(dyn Error + 'static)) -> Vec<String> {
    std::iter::successors(error.source(), |&e| e.source())
        .take(MAX_SOURCES)
        .map(|e| display_string(e))
        .collect()
}

/// Writes `text` to `out`, with control characters other than newline and tab
/// escaped when `sanitize` (so a value cannot send escape sequences to a terminal).
pub(crate) fn write_sanitized(out: &mut dyn fmt::Write, text: &str, sanitize: bool) -> fmt::Result {
    if !sanitize || !text.chars().any(needs_escape) {
        return out.write_str(text);
    }
    for c in text.chars() {
        if needs_escape(c) {
            write!(out, "\\u{{{:x}}}", c as u32)?;
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

fn needs_escape(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing;
    impl fmt::Display for Failing {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("partial")?;
            Err(fmt::Error)
        }
    }

    #[derive(Debug)]
    struct Cyclic;
    impl fmt::Display for Cyclic {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("again")
        }
    }
    impl Error for Cyclic {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&Cyclic)
        }
    }

    #[test]
    fn a_failing_display_gives_what_it_wrote_instead_of_panicking() {
        assert_eq!(display_string(&Failing), "partial");
    }

    #[test]
    fn a_cyclic_source_chain_is_cut() {
        assert_eq!(sources(&Cyclic).len(), MAX_SOURCES);
    }

    #[test]
    fn escape_sequences_are_escaped_newlines_kept() {
        let mut out = String::new();
        write_sanitized(&mut out, "a\x1b[31mred\nb\tc\u{9b}", true).unwrap();
        assert_eq!(out, "a\\u{1b}[31mred\nb\tc\\u{9b}");
        out.clear();
        write_sanitized(&mut out, "a\x1b", false).unwrap();
        assert_eq!(out, "a\x1b");
    }

    #[test]
    fn raw_identifiers_lose_their_prefix_and_log_metadata_is_recognized() {
        assert_eq!(field_name("r#type"), "type");
        assert_eq!(field_name("kind"), "kind");
        assert!(is_log_metadata("log.target"));
        assert!(!is_log_metadata("log.other"));
    }
}
