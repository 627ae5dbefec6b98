//! The formats for people: the ids in brackets, error chains, the pretty layout.

mod support;

use support::{capture, three_level_error};
use telemetry_core::{Context, SpanId};
use telemetry_logging::LogFormat;

fn text(format: LogFormat, f: impl FnOnce()) -> String {
    capture(telemetry_logging::builder().format(format), f).text()
}

#[test]
fn compact_shows_the_ids_message_fields_and_error_chain_on_one_line() {
    let span = SpanId::random();
    let ctx = Context::new().with_uid("u1").with_sid("s1").with_span_id(span);
    let err = three_level_error();
    let out = text(LogFormat::Compact, || {
        let _entered = ctx.enter();
        tracing::info_span!("handle", route = "/chat").in_scope(|| {
            tracing::warn!(
                tokens = 12,
                name = "x",
                error = &err as &dyn std::error::Error,
                "answered"
            );
        });
    });
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    let line = lines[0];
    let ids = format!("[uid=u1 sid=s1 trace_id={} span_id={span}] ", ctx.trace_id());
    let (start, rest) = line
        .split_once(" WARN ")
        .unwrap_or_else(|| panic!("no level in {line}"));
    assert!(
        start.trim_end().parse::<telemetry_core::Timestamp>().is_ok(),
        "{start:?}"
    );
    assert!(rest.starts_with(&ids), "{rest}");
    assert!(rest.contains("handle"), "the span: {rest}");
    assert!(
        rest.contains(&format!(
            "{}: answered tokens=12 name=\"x\" error=outer: middle: root",
            module_path!()
        )),
        "{rest}"
    );
    assert!(rest.contains("route=\"/chat\""), "the span's fields: {rest}");
    assert!(!line.contains('\u{1b}'), "no colors on a writer: {line:?}");
}

#[test]
fn outside_a_context_there_is_no_bracket() {
    let out = text(LogFormat::Compact, || tracing::info!("plain"));
    assert!(!out.contains('['), "{out}");
    assert!(out.contains(" INFO "), "{out}");
    assert!(out.trim_end().ends_with("plain"), "{out}");
}

#[test]
fn pretty_puts_location_and_spans_on_lines_of_their_own() {
    let ctx = Context::new().with_gdata_id("g1");
    let err = three_level_error();
    let out = text(LogFormat::Pretty, || {
        let _entered = ctx.enter();
        let outer = tracing::info_span!("request", n = 1);
        let _outer = outer.enter();
        tracing::info_span!("call").in_scope(|| {
            tracing::error!(error = &err as &dyn std::error::Error, "failed");
        });
    });
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("  "), "{out}");
    assert!(
        lines[0].contains(&format!("ERROR [gdata_id=g1 trace_id={}] ", ctx.trace_id())),
        "{out}"
    );
    assert!(lines[0].ends_with("failed error=outer: middle: root"), "{out}");
    assert!(
        lines[1].starts_with("    at ") && lines[1].contains("human.rs:"),
        "{out}"
    );
    assert_eq!(lines[2], format!("    in {}::call", module_path!()));
    assert_eq!(lines[3], format!("    in {}::request with n=1", module_path!()));
}

#[test]
fn control_characters_in_values_and_ids_are_escaped() {
    let ctx = Context::new().with_uid("evil\u{1b}[2J");
    let out = text(LogFormat::Compact, || {
        let _entered = ctx.enter();
        tracing::info!(value = "a\u{7}b", "msg\u{1b}[31m");
    });
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("uid=evil\\u{1b}[2J"), "{out}");
    assert!(out.contains("msg\\u{1b}[31m"), "{out}");
}
