//! The `tracing-subscriber` fmt layer that writes the lines: the chosen format,
//! the human field formatter (also used for spans' fields), the non-blocking writer.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::NonBlocking;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::format::LogFormat;
use crate::human::{CompactText, HumanFields, PrettyText};
use crate::json::JsonLines;

/// One event formatter for every [`LogFormat`], so the layer has one type.
#[derive(Debug)]
pub(crate) enum LineFormat {
    Json(JsonLines),
    Compact(CompactText),
    Pretty(PrettyText),
}

impl LineFormat {
    pub(crate) fn new(format: LogFormat) -> Self {
        match format {
            LogFormat::Json => LineFormat::Json(JsonLines),
            LogFormat::Compact => LineFormat::Compact(CompactText::new()),
            LogFormat::Pretty => LineFormat::Pretty(PrettyText),
        }
    }
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        match self {
            LineFormat::Json(f) => f.format_event(ctx, writer, event),
            LineFormat::Compact(f) => f.format_event(ctx, writer, event),
            LineFormat::Pretty(f) => f.format_event(ctx, writer, event),
        }
    }
}

/// The layer's type.
pub(crate) type FmtLayer<S> = tracing_subscriber::fmt::Layer<S, HumanFields, LineFormat, NonBlocking>;

/// The layer writing `format` to `writer`; ANSI colors only when `ansi`.
pub(crate) fn fmt_layer<S>(format: LogFormat, ansi: bool, writer: NonBlocking) -> FmtLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(HumanFields)
        .event_format(LineFormat::new(format))
        .with_writer(writer)
        .with_ansi(ansi)
        // A line that cannot be formatted is left out rather than replaced by
        // tracing-subscriber's note, which is not JSON (our formatters do not fail).
        .log_internal_errors(false)
}
