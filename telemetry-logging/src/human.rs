//! The formats for people: `compact` (one line) and `pretty` (one line, then the
//! location and the enclosing spans on lines of their own).
//!
//! Both start with the time, the level and, inside a telemetry context, its ids in
//! brackets, with the same names as the JSON keys so one search finds both:
//!
//! ```text
//! 2026-12-02T01:02:03.456789Z  INFO [uid=u1 sid=s1 trace_id=4bf9… span_id=00f0…] handle: my::module: answered tokens=12
//! ```
//!
//! Fields are `name=value`: strings quoted, `%x` values as `Display`, `?x` as
//! `Debug`, and an error value as its `Display` followed by its `source()` chain,
//! `error=outer: middle: root`. Control characters in values (other than newline
//! and tab) are escaped, so a value cannot drive the terminal.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{Compact, Format, Writer};
use tracing_subscriber::fmt::time::FormatTime as _;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::fields::{debug_string, display_string, field_name, is_log_metadata, sources, write_sanitized};
use crate::ids::LineIds;
use crate::timestamp::UtcMicros;

/// Formats the fields of events and spans for the human formats.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HumanFields;

impl<'writer> FormatFields<'writer> for HumanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = HumanVisitor {
            message: None,
            rest: String::new(),
            sanitize: writer.sanitizes_ansi_escapes(),
        };
        fields.record(&mut visitor);
        visitor.write_to(&mut writer)
    }
}

/// Collects the message (written first) and the other fields as `name=value`.
struct HumanVisitor {
    message: Option<String>,
    rest: String,
    sanitize: bool,
}

impl HumanVisitor {
    fn put(&mut self, field: &Field, value: &str) {
        let name = field.name();
        if is_log_metadata(name) {
            return;
        }
        let name = field_name(name);
        if name == "message" {
            self.message = Some(value.to_owned());
            return;
        }
        if !self.rest.is_empty() {
            self.rest.push(' ');
        }
        let _ = write_sanitized(&mut self.rest, name, self.sanitize);
        self.rest.push('=');
        let _ = write_sanitized(&mut self.rest, value, self.sanitize);
    }

    fn write_to(&self, writer: &mut Writer<'_>) -> fmt::Result {
        if let Some(message) = &self.message {
            write_sanitized(writer, message, self.sanitize)?;
            if !self.rest.is_empty() {
                writer.write_char(' ')?;
            }
        }
        writer.write_str(&self.rest)
    }
}

impl Visit for HumanVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.put(field, value);
        } else {
            self.put(field, &debug_string(&value));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = display_string(value);
        for source in sources(value) {
            text.push_str(": ");
            text.push_str(&source);
        }
        self.put(field, &text);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, &debug_string(value));
    }
}

/// One line per event: the common start, then `tracing-subscriber`'s compact
/// layout (spans, target, fields, span fields).
#[derive(Debug)]
pub(crate) struct CompactText {
    rest: Format<Compact, ()>,
}

impl CompactText {
    pub(crate) fn new() -> Self {
        CompactText {
            rest: tracing_subscriber::fmt::format()
                .compact()
                .without_time()
                .with_level(false)
                .with_target(true),
        }
    }
}

impl<S, N> FormatEvent<S, N> for CompactText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        write_start(&mut writer, meta.level())?;
        self.rest.format_event(ctx, writer, event)
    }
}

/// The first line as compact's (without spans), then `at file:line` and one
/// `in target::span with fields` line per enclosing span, innermost first.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PrettyText;

impl<S, N> FormatEvent<S, N> for PrettyText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        writer.write_str("  ")?;
        write_start(&mut writer, meta.level())?;
        let (bold, reset) = if writer.has_ansi_escapes() {
            ("\x1b[1m", "\x1b[0m")
        } else {
            ("", "")
        };
        write!(writer, "{bold}{}{reset}: ", meta.target())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')?;
        if let Some(file) = meta.file() {
            match meta.line() {
                Some(line) => writeln!(writer, "    at {file}:{line}")?,
                None => writeln!(writer, "    at {file}")?,
            }
        }
        for span in ctx.event_scope().into_iter().flatten() {
            let span_meta = span.metadata();
            write!(
                writer,
                "    in {}::{bold}{}{reset}",
                span_meta.target(),
                span_meta.name()
            )?;
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<N>>() {
                if !fields.is_empty() {
                    write!(writer, " with {fields}")?;
                }
            }
            writer.write_char('\n')?;
        }
        Ok(())
    }
}

/// The start both formats share: the time, the level, and the context's ids.
fn write_start(writer: &mut Writer<'_>, level: &Level) -> fmt::Result {
    let ansi = writer.has_ansi_escapes();
    if ansi {
        writer.write_str("\x1b[2m")?;
    }
    UtcMicros.format_time(writer)?;
    if ansi {
        writer.write_str("\x1b[0m")?;
    }
    writer.write_char(' ')?;
    if ansi {
        write!(writer, "{}{:>5}\x1b[0m ", level_color(level), level.as_str())?;
    } else {
        write!(writer, "{:>5} ", level.as_str())?;
    }
    let ids = LineIds::current();
    if !ids.is_empty() {
        // The ids come from request headers: as untrusted as any field value.
        let sanitize = writer.sanitizes_ansi_escapes();
        let mut first = true;
        let mut result = writer.write_char('[');
        ids.for_each(|key, value| {
            if result.is_ok() {
                let sep = if first { "" } else { " " };
                first = false;
                result = write!(writer, "{sep}{key}=").and_then(|()| write_sanitized(writer, value, sanitize));
            }
        });
        result?;
        writer.write_str("] ")?;
    }
    Ok(())
}

fn level_color(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "\x1b[35m",
        Level::DEBUG => "\x1b[34m",
        Level::INFO => "\x1b[32m",
        Level::WARN => "\x1b[33m",
        Level::ERROR => "\x1b[31m",
    }
}
