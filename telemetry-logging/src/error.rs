//! Why the logs could not be set up as asked.

use std::fmt;

use crate::format::{ParseLogFormatError, FORMAT_ENV};

/// Why [`LogBuilder::try_init`](crate::LogBuilder::try_init) (or `build`,
/// `into_layer`) refused. Each message names the setting and what was wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogInitError {
    /// A filter directive does not parse.
    BadFilter {
        /// Where the filter came from: `RUST_LOG` or `LogBuilder::filter`.
        origin: &'static str,
        /// The directive that does not parse.
        directive: String,
        /// Why, as `tracing-subscriber` says it.
        reason: String,
    },
    /// `TELEMETRY_LOG_FORMAT` is not a format name.
    BadFormat(ParseLogFormatError),
    /// `buffered_lines(0)`: the buffer must hold at least one line.
    ZeroBufferedLines,
    /// A global `tracing` subscriber is already set (by an earlier `init`, or by
    /// another crate); there can be only one per process.
    AlreadyInitialized,
    /// `into_layer` was called on a builder with `with_layer` layers, which only
    /// a subscriber built here can hold: add them to your own registry instead.
    LayersWithoutSubscriber {
        /// How many layers were added.
        layers: usize,
    },
    /// The delivery pipeline could not be started.
    #[cfg(feature = "pipeline")]
    Pipeline(telemetry_transport::ConfigError),
}

impl fmt::Display for LogInitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogInitError::BadFilter {
                origin,
                directive,
                reason,
            } => write!(f, "{origin}: filter directive {directive:?} is not valid: {reason}"),
            LogInitError::BadFormat(e) => write!(f, "{FORMAT_ENV}: {e}"),
            LogInitError::ZeroBufferedLines => {
                f.write_str("buffered_lines: must be at least 1 (the default is 128000)")
            }
            LogInitError::AlreadyInitialized => f.write_str(
                "a global tracing subscriber is already set (an earlier init, or another crate's); \
                 use LogBuilder::build or into_layer to set up logs beside it",
            ),
            LogInitError::LayersWithoutSubscriber { layers } => write!(
                f,
                "into_layer returns only the logging layer, but with_layer added {layers} layer(s): \
                 add them to your own registry instead"
            ),
            #[cfg(feature = "pipeline")]
            LogInitError::Pipeline(e) => write!(f, "the delivery pipeline: {e}"),
        }
    }
}

impl std::error::Error for LogInitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogInitError::BadFormat(e) => Some(e),
            #[cfg(feature = "pipeline")]
            LogInitError::Pipeline(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ParseLogFormatError> for LogInitError {
    fn from(e: ParseLogFormatError) -> Self {
        LogInitError::BadFormat(e)
    }
}

#[cfg(feature = "pipeline")]
impl From<telemetry_transport::ConfigError> for LogInitError {
    fn from(e: telemetry_transport::ConfigError) -> Self {
        LogInitError::Pipeline(e)
    }
}
