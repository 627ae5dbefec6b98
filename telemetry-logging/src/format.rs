//! Which format the lines are written in, and how it is chosen.

use std::fmt;
use std::str::FromStr;

/// The environment variable that chooses the format: `json`, `pretty` or
/// `compact` (any case, surrounding spaces ignored; empty means unset).
pub const FORMAT_ENV: &str = "TELEMETRY_LOG_FORMAT";

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// One JSON object per line, with the ids as top-level keys: for machines
    /// (the default when the output is not a terminal).
    Json,
    /// Several lines per event (location and enclosing spans on lines of their
    /// own): for reading one event at a time.
    Pretty,
    /// One line per event: for a terminal (the default there).
    Compact,
}

impl LogFormat {
    /// The names [`FORMAT_ENV`] accepts, as they are written.
    pub const NAMES: [&'static str; 3] = ["json", "pretty", "compact"];

    /// The format used when neither the builder nor [`FORMAT_ENV`] chose one:
    /// [`LogFormat::Compact`] for a terminal, [`LogFormat::Json`] otherwise.
    pub fn default_for(output_is_terminal: bool) -> LogFormat {
        if output_is_terminal {
            LogFormat::Compact
        } else {
            LogFormat::Json
        }
    }

    /// The format's name, as [`FORMAT_ENV`] spells it.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Json => "json",
            LogFormat::Pretty => "pretty",
            LogFormat::Compact => "compact",
        }
    }

    /// The format to use: the builder's choice, else the variable's value (an
    /// empty one counts as unset), else the default for the output.
    pub(crate) fn resolve(
        explicit: Option<LogFormat>,
        env_value: Option<&str>,
        output_is_terminal: bool,
    ) -> Result<LogFormat, ParseLogFormatError> {
        if let Some(format) = explicit {
            return Ok(format);
        }
        match env_value.map(str::trim) {
            Some(value) if !value.is_empty() => value.parse(),
            _ => Ok(LogFormat::default_for(output_is_terminal)),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LogFormat {
    type Err = ParseLogFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        [LogFormat::Json, LogFormat::Pretty, LogFormat::Compact]
            .into_iter()
            .find(|format| format.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseLogFormatError { value: s.to_owned() })
    }
}

/// A format name that is not one of [`LogFormat::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLogFormatError {
    value: String,
}

impl ParseLogFormatError {
    /// The value that was given.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ParseLogFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a log format: expected one of {}",
            self.value,
            LogFormat::NAMES.join(", ")
        )
    }
}

impl std::error::Error for ParseLogFormatError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_in_any_case_and_with_spaces() {
        for (text, format) in [
            ("json", LogFormat::Json),
            ("JSON", LogFormat::Json),
            (" Pretty ", LogFormat::Pretty),
            ("compact", LogFormat::Compact),
            ("CoMpAcT", LogFormat::Compact),
        ] {
            assert_eq!(text.parse::<LogFormat>(), Ok(format), "{text:?}");
        }
        for format in [LogFormat::Json, LogFormat::Pretty, LogFormat::Compact] {
            assert_eq!(format.to_string().parse::<LogFormat>(), Ok(format));
        }
    }

    #[test]
    fn an_unknown_name_is_an_error_naming_it_and_the_allowed_ones() {
        let err = "xml".parse::<LogFormat>().unwrap_err();
        assert_eq!(err.value(), "xml");
        let message = err.to_string();
        assert!(message.contains("\"xml\""), "{message}");
        for name in LogFormat::NAMES {
            assert!(message.contains(name), "{message} lacks {name}");
        }
        assert!("".parse::<LogFormat>().is_err());
        assert!("jsonl".parse::<LogFormat>().is_err());
    }

    #[test]
    fn a_terminal_gets_text_anything_else_json() {
        assert_eq!(LogFormat::resolve(None, None, true), Ok(LogFormat::Compact));
        assert_eq!(LogFormat::resolve(None, None, false), Ok(LogFormat::Json));
        // An empty variable is unset.
        assert_eq!(LogFormat::resolve(None, Some("  "), false), Ok(LogFormat::Json));
    }

    #[test]
    fn the_variable_overrides_the_terminal_and_the_builder_overrides_the_variable() {
        assert_eq!(LogFormat::resolve(None, Some("json"), true), Ok(LogFormat::Json));
        assert_eq!(LogFormat::resolve(None, Some("pretty"), false), Ok(LogFormat::Pretty));
        assert_eq!(
            LogFormat::resolve(Some(LogFormat::Compact), Some("json"), false),
            Ok(LogFormat::Compact)
        );
        // A bad variable is not read when the builder chose.
        assert_eq!(
            LogFormat::resolve(Some(LogFormat::Json), Some("xml"), true),
            Ok(LogFormat::Json)
        );
        assert!(LogFormat::resolve(None, Some("xml"), true).is_err());
    }
}
