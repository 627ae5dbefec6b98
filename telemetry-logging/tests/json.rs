//! The JSON line: its keys, the context's ids, field types, collisions, errors.
//! Each test builds its own subscriber and uses it as a thread (or task) default,
//! so tests run in parallel without a global subscriber.

mod support;

use serde_json::{json, Value};
use support::{capture, capture_json, keys, three_level_error, Buffer};
use telemetry_core::{Context, SpanId, Timestamp};
use tracing::instrument::WithSubscriber as _;

#[test]
fn ids_are_top_level_keys_inside_a_scoped_future_also_after_a_repoll() {
    let buffer = Buffer::default();
    let (subscriber, guard) = telemetry_logging::builder()
        .writer(buffer.clone())
        .env_from(|_| None)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);
    let span = SpanId::random();
    let ctx = Context::new()
        .with_uid("u1")
        .with_sid("s1")
        .with_gdata_id("g1")
        .with_span_id(span);
    let trace = ctx.trace_id().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let task = ctx.scope(async {
            tracing::info!(step = 1, "before the yield");
            tokio::task::yield_now().await;
            tracing::info!(step = 2, "after the yield");
        });
        // The task may be polled again on the other worker thread.
        tokio::spawn(task.with_subscriber(dispatch.clone())).await.unwrap();
        tokio::spawn(async { tracing::info!("no context here") }.with_subscriber(dispatch))
            .await
            .unwrap();
    });
    drop(runtime);
    drop(guard);
    let lines = buffer.json();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines[..2] {
        assert_eq!(line["uid"], "u1", "{line}");
        assert_eq!(line["sid"], "s1");
        assert_eq!(line["gdata_id"], "g1");
        assert_eq!(line["trace_id"], trace.as_str());
        assert_eq!(line["span_id"], span.to_string().as_str());
    }
    assert_eq!(
        (lines[0]["step"].clone(), lines[1]["step"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(lines[1]["message"], "after the yield");
    // Lowercase hex of the right lengths.
    let hex = |v: &Value, len: usize| {
        let s = v.as_str().unwrap();
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    assert!(hex(&lines[0]["trace_id"], 32) && hex(&lines[0]["span_id"], 16));
    // The line outside any context has no id keys at all (not nulls).
    let outside = lines[2].as_object().unwrap();
    for key in ["uid", "sid", "gdata_id", "trace_id", "span_id"] {
        assert!(!outside.contains_key(key), "{key} in {outside:?}");
    }
}

#[test]
fn a_context_writes_only_the_ids_it_has() {
    let ctx = Context::new().with_sid("only-sid");
    let lines = capture_json(|| {
        let _entered = ctx.enter();
        tracing::info!("partial");
    });
    let line = lines[0].as_object().unwrap();
    assert_eq!(line["sid"], "only-sid");
    assert_eq!(line["trace_id"], ctx.trace_id().to_string().as_str());
    for key in ["uid", "gdata_id", "span_id"] {
        assert!(!line.contains_key(key), "{key} in {line:?}");
    }
}

#[test]
fn keys_come_in_a_fixed_order_and_the_message_is_always_there() {
    let ctx = Context::new()
        .with_uid("u")
        .with_sid("s")
        .with_gdata_id("g")
        .with_span_id(SpanId::random());
    let buffer = capture(telemetry_logging::builder(), || {
        let _entered = ctx.enter();
        tracing::info_span!("handle").in_scope(|| {
            tracing::warn!(target: "my::module", zeta = 1, alpha = 2, "hello {}", "world");
        });
        tracing::info!(only = "fields");
    });
    let lines = buffer.lines();
    assert_eq!(
        keys(&lines[0]),
        [
            "timestamp",
            "level",
            "target",
            "message",
            "zeta",
            "alpha",
            "uid",
            "sid",
            "gdata_id",
            "trace_id",
            "span_id",
            "span"
        ]
    );
    let json = buffer.json();
    assert_eq!(json[0]["message"], "hello world");
    assert_eq!(json[0]["level"], "WARN");
    assert_eq!(json[0]["target"], "my::module");
    assert_eq!(json[0]["span"], "handle");
    // No message: an empty one, and no span outside any.
    assert_eq!(json[1]["message"], "");
    assert_eq!(json[1]["level"], "INFO");
    assert_eq!(json[1]["target"], module_path!());
    assert!(json[1].get("span").is_none());
}

#[test]
fn the_timestamp_is_rfc3339_utc_with_microseconds() {
    let lines = capture_json(|| tracing::info!("tick"));
    let text = lines[0]["timestamp"].as_str().unwrap();
    assert_eq!(text.len(), 27, "{text}");
    assert!(text.ends_with('Z') && &text[19..20] == ".", "{text}");
    let parsed: Timestamp = text.parse().expect("wire-format timestamp");
    let now = Timestamp::now().unix_micros();
    assert!((now - parsed.unix_micros()).abs() < 60_000_000, "{text} is not now");
}

#[test]
fn field_values_keep_their_types() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Point {
        x: i32,
    }
    let lines = capture_json(|| {
        tracing::info!(
            unsigned = 3u64,
            negative = -2i64,
            ratio = 0.25,
            flag = true,
            name = "text",
            debugged = ?Point { x: 1 },
            shown = %"displayed",
            wide = u128::MAX,
            small_wide = 7i128,
            nan = f64::NAN,
            r#type = "raw",
            "typed"
        )
    });
    let line = &lines[0];
    assert_eq!(line["unsigned"], json!(3));
    assert_eq!(line["negative"], json!(-2));
    assert_eq!(line["ratio"], json!(0.25));
    assert_eq!(line["flag"], json!(true));
    assert_eq!(line["name"], json!("text"));
    assert_eq!(line["debugged"], json!("Point { x: 1 }"));
    assert_eq!(line["shown"], json!("displayed"));
    assert_eq!(line["wide"], json!(u128::MAX.to_string()), "beyond 64 bits: a string");
    assert_eq!(line["small_wide"], json!(7));
    assert_eq!(line["nan"], json!("NaN"), "JSON has no NaN");
    assert_eq!(line["type"], json!("raw"));
}

#[test]
fn a_field_named_like_a_reserved_key_is_prefixed_never_repeated() {
    let ctx = Context::new().with_uid("real-uid");
    let buffer = capture(telemetry_logging::builder(), || {
        let _entered = ctx.enter();
        tracing::info!(
            level = "custom",
            uid = "fake",
            timestamp = 5,
            target = "t",
            trace_id = 1,
            "collide"
        );
    });
    let text = buffer.lines().remove(0);
    let all = keys(&text);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(all.len(), unique.len(), "repeated keys in {text}");
    let line = &buffer.json()[0];
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields.level"], "custom");
    assert_eq!(line["uid"], "real-uid");
    assert_eq!(line["fields.uid"], "fake");
    assert_eq!(line["fields.timestamp"], 5);
    assert_eq!(line["fields.target"], "t");
    assert_eq!(line["fields.trace_id"], 1);
    assert_eq!(line["trace_id"], ctx.trace_id().to_string().as_str());
}

#[test]
fn an_error_is_written_with_its_source_chain() {
    let err = three_level_error();
    let lines = capture_json(|| {
        tracing::error!(error = &err as &dyn std::error::Error, "the call failed");
        let lone = std::io::Error::other("alone");
        tracing::error!(cause = &lone as &dyn std::error::Error);
    });
    assert_eq!(lines[0]["error"], "outer");
    assert_eq!(lines[0]["error.sources"], json!(["middle", "root"]));
    assert_eq!(lines[0]["message"], "the call failed");
    // With no source, no `.sources` key.
    assert_eq!(lines[1]["cause"], "alone");
    assert!(lines[1].get("cause.sources").is_none(), "{}", lines[1]);
}

#[test]
fn a_failing_display_still_gives_a_json_line() {
    struct Failing;
    impl std::fmt::Display for Failing {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("half")?;
            Err(std::fmt::Error)
        }
    }
    let lines = capture_json(|| tracing::info!(value = %Failing, "odd value"));
    assert_eq!(lines[0]["value"], "half");
    assert_eq!(lines[0]["message"], "odd value");
}

#[test]
fn strings_are_escaped_as_json_requires() {
    let lines = capture_json(|| tracing::info!(quote = "a \"b\"\n\u{1b}[31m", "line\nbreak"));
    assert_eq!(lines.len(), 1, "one line per event, newlines escaped");
    assert_eq!(lines[0]["quote"], "a \"b\"\n\u{1b}[31m");
    assert_eq!(lines[0]["message"], "line\nbreak");
}

#[test]
fn the_default_filter_is_info_and_a_builder_filter_replaces_it() {
    let lines = capture_json(|| {
        tracing::debug!("hidden");
        tracing::info!("shown");
    });
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "shown");

    let buffer = capture(telemetry_logging::builder().filter("warn,chatty=debug"), || {
        tracing::info!("hidden");
        tracing::debug!(target: "chatty", "shown");
        tracing::warn!("shown too");
    });
    let messages: Vec<Value> = buffer.json().iter().map(|l| l["message"].clone()).collect();
    assert_eq!(messages, [json!("shown"), json!("shown too")]);
}

#[test]
fn rust_log_is_the_filter_when_the_builder_sets_none() {
    let buffer = Buffer::default();
    let (subscriber, guard) = telemetry_logging::builder()
        .writer(buffer.clone())
        .env_from(|name| (name == "RUST_LOG").then(|| "error".to_owned()))
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!("hidden");
        tracing::error!("shown");
    });
    drop(guard);
    let lines = buffer.json();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "shown");
}
