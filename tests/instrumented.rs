//! `#[instrumented(event = "...")]`: one `tracing` span and one event per call,
//! on every kind of function users write.

mod support;

use std::future::Future as _;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Value};
use support::SpanLog;
use telemetry::testing::{capture, capture_async};
use telemetry::{instrumented, Context, Envelope, FutureExt as _, TelemetryEvent};

#[derive(Debug, Serialize, Clone)]
struct ChatRequest {
    query: String,
}

fn only(events: &[Envelope]) -> &Envelope {
    assert_eq!(events.len(), 1, "{events:#?}");
    &events[0]
}

fn fields(e: &Envelope) -> &Value {
    &e.event_data["fields"]
}

// ---- sync functions, fields, record -------------------------------------------

#[instrumented(event = "OE_INTERACT", fields(query_len = req.query.len()))]
fn handle(req: ChatRequest, n: u32) -> u32 {
    telemetry::record("chunks", 42);
    n * 2
}

#[test]
fn a_sync_call_emits_one_event_with_context_declared_and_recorded_fields() {
    let ctx = Context::new().with_uid("u1").with_sid("s1").with_gdata_id("q1");
    let events = capture(|| {
        let _g = ctx.enter();
        assert_eq!(handle(ChatRequest { query: "hello".into() }, 21), 42);
    });
    let e = only(&events);
    assert_eq!(e.event_type, "OE_INTERACT");
    assert_eq!(
        (e.uid.as_deref(), e.sid.as_deref(), e.gdata_id.as_deref()),
        (Some("u1"), Some("s1"), Some("q1"))
    );
    assert_eq!(e.trace_id, Some(ctx.trace_id()));
    assert!(e.span_id.is_some());
    let data = &e.event_data;
    assert_eq!(data["function"], "handle");
    assert_eq!(data["module"], "instrumented");
    assert_eq!(data["outcome"], "ok");
    assert_eq!(data["error"], Value::Null);
    assert!(data["duration_us"].is_u64());
    // Only what `fields` names: the arguments themselves are not leaked.
    assert_eq!(fields(e), &json!({"query_len": 5, "chunks": 42}));
}

#[instrumented(event = "OE_SIGILS", fields(label = %name, dbg = ?tags, name, total = tags.len() * 10))]
fn sigils(name: &str, tags: Vec<u8>) {
    let local_note = "from the body";
    telemetry::record("note", local_note);
}

#[test]
fn field_sigils_pick_serde_display_or_debug_and_bare_names_take_the_parameter() {
    let events = capture(|| sigils("ann", vec![1, 2]));
    assert_eq!(
        fields(only(&events)),
        &json!({"label": "ann", "dbg": "[1, 2]", "name": "ann", "total": 20, "note": "from the body"})
    );
}

#[test]
fn record_outside_an_instrumented_call_does_nothing() {
    let events = capture(|| telemetry::record("stray", 1));
    assert!(events.is_empty());
}

#[test]
fn outside_a_capture_the_function_just_runs() {
    assert_eq!(handle(ChatRequest { query: "x".into() }, 4), 8);
}

// ---- outcomes --------------------------------------------------------------------

#[derive(Debug)]
struct ChatError(&'static str);
impl std::fmt::Display for ChatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chat failed: {}", self.0)
    }
}

#[instrumented(event = "OE_FALLIBLE", err)]
fn fallible(fail: bool) -> Result<u32, ChatError> {
    if fail {
        return Err(ChatError("model timeout"));
    }
    Ok(7)
}

#[instrumented(event = "OE_FALLIBLE_DEBUG", err(Debug))]
fn fallible_debug() -> Result<(), ChatError> {
    Err(ChatError("x"))
}

#[instrumented(event = "OE_FALLIBLE_SILENT")]
fn fallible_silent() -> std::io::Result<()> {
    Err(std::io::Error::other("disk"))
}

fn parse_number(s: &str) -> Result<i64, std::num::ParseIntError> {
    s.parse()
}

#[instrumented(event = "OE_QUESTION_MARK", err)]
fn with_question_mark(s: &str) -> Result<i64, Box<dyn std::error::Error>> {
    let n = parse_number(s)?;
    Ok(n + 1)
}

#[test]
fn returned_err_is_outcome_error_with_its_text_only_under_err() {
    let events = capture(|| {
        assert_eq!(fallible(false).unwrap(), 7);
        assert!(fallible(true).is_err());
        assert!(fallible_debug().is_err());
        assert!(fallible_silent().is_err());
        assert!(with_question_mark("nope").is_err());
        assert_eq!(with_question_mark("41").unwrap(), 42);
    });
    let summary: Vec<(String, Value)> = events
        .iter()
        .map(|e| {
            (
                e.event_data["outcome"].as_str().unwrap().to_string(),
                e.event_data["error"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ok".into(), Value::Null),
            ("error".into(), json!("chat failed: model timeout")),
            ("error".into(), json!("ChatError(\"x\")")),
            ("error".into(), Value::Null), // no `err`: the outcome, not the text
            ("error".into(), json!("invalid digit found in string")),
            ("ok".into(), Value::Null),
        ]
    );
}

#[derive(Serialize, Debug)]
struct Reply {
    text: &'static str,
}

#[instrumented(event = "OE_RET", ret)]
fn returns_value() -> Reply {
    Reply { text: "hi" }
}

#[instrumented(event = "OE_RET_RESULT", ret, err)]
fn returns_ok(fail: bool) -> Result<u8, ChatError> {
    if fail {
        Err(ChatError("no"))
    } else {
        Ok(3)
    }
}

#[instrumented(event = "OE_RET_DEBUG", ret(Debug))]
fn returns_debug() -> Option<&'static str> {
    Some("x")
}

#[test]
fn ret_records_the_value_or_the_ok_value_as_fields_return() {
    let events = capture(|| {
        returns_value();
        let _ = returns_ok(false);
        let _ = returns_ok(true);
        returns_debug();
    });
    assert_eq!(fields(&events[0]), &json!({"return": {"text": "hi"}}));
    assert_eq!(fields(&events[1]), &json!({"return": 3}));
    assert_eq!(fields(&events[2]), &json!({}));
    assert_eq!(fields(&events[3]), &json!({"return": "Some(\"x\")"}));
}

#[instrumented(event = "OE_PANICS")]
fn panics() -> u8 {
    panic!("boom")
}

#[test]
fn a_panicking_call_reports_panic_and_the_panic_goes_on() {
    let events = capture(|| {
        let result = std::panic::catch_unwind(panics);
        assert!(result.is_err(), "the panic must propagate to the caller");
    });
    assert_eq!(only(&events).event_data["outcome"], "panic");
}

// ---- async: outcomes, cancellation, duration -------------------------------------

#[instrumented(event = "OE_ASYNC", fields(id), err)]
async fn fetch(id: u32, fail: bool) -> Result<String, ChatError> {
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    telemetry::record("cache", "miss");
    if fail {
        return Err(ChatError("upstream"));
    }
    Ok(format!("item {id}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_call_measures_from_first_poll_and_keeps_fields_across_awaits() {
    let ctx = Context::new().with_sid("s_async");
    let (out, events) = capture_async(ctx.clone().scope(async {
        let fut = fetch(9, false);
        // Created but not yet polled: the clock has not started.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        fut.await
    }))
    .await;
    assert_eq!(out.unwrap(), "item 9");
    let e = only(&events);
    assert_eq!(e.sid.as_deref(), Some("s_async"));
    assert_eq!(e.event_data["outcome"], "ok");
    let us = e.event_data["duration_us"].as_u64().unwrap();
    // The body sleeps 20 ms; the 300 ms before the first poll must not count.
    assert!((20_000..250_000).contains(&us), "duration_us = {us}");
    assert_eq!(fields(e), &json!({"id": 9, "cache": "miss"}));

    let (out, events) = capture_async(fetch(1, true)).await;
    assert!(out.is_err());
    assert_eq!(
        (&only(&events).event_data["outcome"], &only(&events).event_data["error"]),
        (&json!("error"), &json!("chat failed: upstream"))
    );
}

#[tokio::test]
async fn a_future_dropped_before_it_finishes_reports_cancelled() {
    let ctx = Context::new().with_uid("impatient");
    let ((), events) = capture_async(ctx.scope(async {
        let timed_out = tokio::time::timeout(std::time::Duration::from_millis(5), fetch(2, false)).await;
        assert!(timed_out.is_err());
    }))
    .await;
    let e = only(&events);
    assert_eq!(e.event_data["outcome"], "cancelled");
    assert_eq!(
        e.uid.as_deref(),
        Some("impatient"),
        "the cancelled event keeps its context"
    );
}

#[instrumented(event = "OE_ASYNC_PANIC")]
async fn async_panics() {
    tokio::task::yield_now().await;
    panic!("async boom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_panic_reports_panic_even_when_the_runtime_catches_it() {
    let sink = Arc::new(telemetry::testing::CapturingSink::default());
    let joined = tokio::spawn(sink.scope(async_panics())).await;
    assert!(joined.unwrap_err().is_panic());
    let events = sink.take_envelopes();
    assert_eq!(only(&events).event_data["outcome"], "panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_futures_are_send_and_spawnable() {
    let sink = Arc::new(telemetry::testing::CapturingSink::default());
    let out = tokio::spawn(sink.scope(fetch(3, false).with_current_context()))
        .await
        .unwrap();
    assert_eq!(out.unwrap(), "item 3");
    assert_eq!(sink.take_envelopes().len(), 1);
}

// ---- methods, generics, traits ---------------------------------------------------

#[derive(Debug)]
struct Counter {
    hits: u32,
}

impl Counter {
    #[instrumented(event = "OE_METHOD", skip(self))]
    fn get(&self) -> u32 {
        self.hits
    }

    #[instrumented(event = "OE_METHOD", skip(self), fields(by))]
    fn bump(&mut self, by: u32) -> &mut Self {
        self.hits += by;
        self
    }

    #[instrumented(event = "OE_METHOD", skip(self))]
    fn into_hits(self) -> u32 {
        self.hits
    }

    #[instrumented(event = "OE_METHOD", skip(self))]
    fn shared(self: Arc<Self>) -> u32 {
        self.hits
    }

    #[instrumented(event = "OE_METHOD")]
    fn new_counter(hits: u32) -> Counter {
        Counter { hits }
    }

    #[instrumented(event = "OE_METHOD", skip(self))]
    async fn get_async(&self) -> u32 {
        tokio::task::yield_now().await;
        self.hits
    }
}

#[instrumented(event = "OE_GENERIC", fields(len = items.len()))]
fn first_or<T, D>(items: &[T], default: D) -> T
where
    T: Clone + std::fmt::Debug,
    D: Into<T> + std::fmt::Debug,
{
    items.first().cloned().unwrap_or_else(|| default.into())
}

#[instrumented(event = "OE_IMPL_TRAIT", skip_all)]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[instrumented(event = "OE_EARLY_RETURN", fields(input = n))]
fn classify(n: i32) -> &'static str {
    if n < 0 {
        return "negative";
    }
    match n {
        0 => "zero",
        _ => "positive",
    }
}

#[test]
fn methods_associated_generic_impl_trait_and_early_return_functions_all_emit() {
    let events = capture(|| {
        let mut c = Counter::new_counter(1);
        c.bump(2).bump(3);
        assert_eq!(c.get(), 6);
        assert_eq!(Arc::new(Counter { hits: 4 }).shared(), 4);
        assert_eq!(c.into_hits(), 6);
        assert_eq!(first_or::<u64, u8>(&[], 9), 9);
        assert_eq!(evens(7).collect::<Vec<_>>(), [0, 2, 4, 6]);
        assert_eq!(classify(-5), "negative");
        assert_eq!(classify(0), "zero");
    });
    let functions: Vec<&str> = events
        .iter()
        .map(|e| e.event_data["function"].as_str().unwrap())
        .collect();
    assert_eq!(
        functions,
        [
            "new_counter",
            "bump",
            "bump",
            "get",
            "shared",
            "into_hits",
            "first_or",
            "evens",
            "classify",
            "classify"
        ]
    );
    assert_eq!(fields(&events[1]), &json!({"by": 2}));
    assert_eq!(fields(&events[6]), &json!({"len": 0}));
    assert_eq!(fields(&events[8]), &json!({"input": -5}));
}

trait Store {
    async fn load(&self, key: &str) -> Option<String>;
}

struct MemStore;

impl Store for MemStore {
    #[instrumented(event = "OE_TRAIT_ASYNC", skip(self), fields(key))]
    async fn load(&self, key: &str) -> Option<String> {
        tokio::task::yield_now().await;
        Some(key.to_uppercase())
    }
}

#[async_trait::async_trait]
trait Service {
    async fn call(&self, input: u32) -> Result<u32, ChatError>;
}

struct Doubler;

#[async_trait::async_trait]
impl Service for Doubler {
    #[instrumented(event = "OE_ASYNC_TRAIT", skip(self), fields(input), err, ret)]
    async fn call(&self, input: u32) -> Result<u32, ChatError> {
        tokio::task::yield_now().await;
        telemetry::record("step", "doubled");
        if input == 0 {
            return Err(ChatError("zero"));
        }
        Ok(input * 2)
    }
}

#[tokio::test]
async fn async_methods_async_fns_in_trait_impls_and_async_trait_methods_emit() {
    let ((), events) = capture_async(async {
        assert_eq!(Counter { hits: 5 }.get_async().await, 5);
        assert_eq!(MemStore.load("k").await.as_deref(), Some("K"));
        assert_eq!(Doubler.call(4).await.unwrap(), 8);
        assert!(Doubler.call(0).await.is_err());
    })
    .await;
    let functions: Vec<&str> = events
        .iter()
        .map(|e| e.event_data["function"].as_str().unwrap())
        .collect();
    assert_eq!(functions, ["get_async", "load", "call", "call"]);
    assert_eq!(fields(&events[1]), &json!({"key": "k"}));
    assert_eq!(fields(&events[2]), &json!({"input": 4, "step": "doubled", "return": 8}));
    assert_eq!(
        (&events[3].event_data["outcome"], &events[3].event_data["error"]),
        (&json!("error"), &json!("chat failed: zero"))
    );
}

// ---- nesting, ids, typed events inside -------------------------------------------

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "OE_MODERATION")]
struct Moderation {
    verdict: &'static str,
}

#[instrumented(event = "OE_INNER")]
fn inner() {
    telemetry::record("inner_step", 1);
    telemetry::emit(Moderation { verdict: "allow" });
}

#[instrumented(event = "OE_OUTER")]
fn outer() {
    telemetry::record("before", true);
    inner();
    telemetry::record("after", true);
}

#[test]
fn nested_calls_share_the_trace_and_differ_in_span_and_typed_events_carry_the_call_span() {
    let log = SpanLog::default();
    let ctx = Context::new().with_uid("u_nest");
    let events = log.during(|| capture(|| ctx.scope_sync(outer)));
    let [moderation, inner_e, outer_e] = [&events[0], &events[1], &events[2]];
    assert_eq!(
        (
            moderation.event_type.as_str(),
            inner_e.event_type.as_str(),
            outer_e.event_type.as_str()
        ),
        ("OE_MODERATION", "OE_INNER", "OE_OUTER")
    );
    assert_eq!(
        moderation.span_id, inner_e.span_id,
        "a typed emit carries the running call's span id"
    );
    assert_ne!(inner_e.span_id, outer_e.span_id);
    // The call tree: the outer call is a root (its context had no span), the
    // inner call's parent is the outer call, and the typed event sits in the inner.
    assert_eq!(outer_e.parent_span_id, None);
    assert_eq!(inner_e.parent_span_id, outer_e.span_id);
    assert_eq!(moderation.parent_span_id, outer_e.span_id);
    // `record` goes to the innermost running call, and the outer one gets its own back.
    assert_eq!(fields(inner_e), &json!({"inner_step": 1}));
    assert_eq!(fields(outer_e), &json!({"before": true, "after": true}));
    for e in &events {
        assert_eq!(e.trace_id, Some(ctx.trace_id()));
        assert_eq!(e.uid.as_deref(), Some("u_nest"));
    }
    let spans = log.spans();
    let inner_span = spans.iter().find(|s| s.name == "inner").unwrap();
    assert_eq!(
        inner_span.parent.as_deref(),
        Some("outer"),
        "the inner span's parent is the outer span"
    );
    assert_eq!(inner_span.fields["span_id"], inner_e.span_id.unwrap().to_string());
}

#[test]
fn a_root_call_without_context_starts_a_trace() {
    let events = capture(outer);
    assert!(events[0].trace_id.is_some());
    assert_eq!(events[0].trace_id, events[1].trace_id);
}

trait ScopeSync {
    fn scope_sync<R>(&self, f: impl FnOnce() -> R) -> R;
}
impl ScopeSync for Context {
    fn scope_sync<R>(&self, f: impl FnOnce() -> R) -> R {
        let _g = self.enter();
        f()
    }
}

// ---- the tracing span -------------------------------------------------------------

#[instrumented(
    event = "OE_SPAN_FIELDS",
    name = "chat.handle",
    level = "debug",
    target = "chat_api",
    skip(secret),
    fields(query_len = req.query.len(), model = %"small-1")
)]
fn span_fields(req: &ChatRequest, secret: &str, attempt: u8) {
    telemetry::record("query_len", 99);
    let _ = secret;
}

#[test]
fn the_span_carries_name_level_target_ids_parameters_and_declared_fields() {
    let log = SpanLog::default();
    let ctx = Context::new().with_uid("u9").with_sid("s9").with_gdata_id("g9");
    log.during(|| capture(|| ctx.scope_sync(|| span_fields(&ChatRequest { query: "abc".into() }, "hunter2", 2))));
    let spans = log.spans();
    let span = &spans[0];
    assert_eq!(
        (span.name.as_str(), span.level.as_str(), span.target.as_str()),
        ("chat.handle", "DEBUG", "chat_api")
    );
    let f = &span.fields;
    assert_eq!(f["event_type"], "OE_SPAN_FIELDS");
    assert_eq!(
        (f["uid"].as_str(), f["sid"].as_str(), f["gdata_id"].as_str()),
        ("u9", "s9", "g9")
    );
    assert_eq!(f["trace_id"], ctx.trace_id().to_string());
    assert_eq!(f["req"], r#"ChatRequest { query: "abc" }"#);
    assert_eq!(f["attempt"], "2");
    assert!(
        !span.declared.contains(&"secret".to_string()),
        "skipped parameters are not on the span"
    );
    assert_eq!(f["model"], "small-1");
    assert_eq!(f["query_len"], "99", "record() updates a declared span field");
}

#[test]
fn spans_are_created_outside_a_capture_too() {
    let log = SpanLog::default();
    log.during(|| classify(3));
    assert_eq!(log.spans().len(), 1);
    assert!(log.spans()[0].fields.contains_key("span_id"));
}

// ---- args -----------------------------------------------------------------------

#[derive(Debug)]
#[allow(dead_code)] // read only through Debug
struct NotSerialize(u8);

#[instrumented(event = "OE_ARGS", args, skip(password))]
fn login(user: &str, password: &str, attempt: u32, device: NotSerialize) -> bool {
    let _ = (password, device);
    attempt < 3
}

#[test]
fn args_records_every_parameter_not_skipped_with_serde_or_debug() {
    let events = capture(|| login("ann", "hunter2", 1, NotSerialize(7)));
    assert_eq!(
        fields(only(&events)),
        &json!({"user": "ann", "attempt": 1, "device": "NotSerialize(7)"})
    );
}

// ---- catalog ----------------------------------------------------------------------

#[test]
fn every_use_site_registers_in_the_catalog() {
    let catalog = telemetry::catalog();
    let sites: Vec<_> = catalog.get("OE_ARGS", 1).collect();
    assert_eq!(sites.len(), 1);
    let site = sites[0];
    assert_eq!(site.origin, telemetry::Origin::Function);
    assert_eq!(site.rust_path, "instrumented::login");
    assert_eq!(site.declared_fields, ["user", "attempt", "device"]);
    assert!(
        site.defined_at.starts_with("tests/instrumented.rs:"),
        "{}",
        site.defined_at
    );
    assert_eq!(
        site.schema["properties"]["outcome"]["enum"],
        json!(["ok", "error", "cancelled", "panic"])
    );
    // Six methods share OE_METHOD with different fields: one schema, no conflict.
    assert_eq!(catalog.get("OE_METHOD", 1).count(), 6);
    catalog.check().expect("no conflicts");
}

// ---- shapes the body's own type inference relies on ------------------------------

struct Profile {
    name: String,
    scores: Vec<u32>,
}

impl Profile {
    #[instrumented(event = "OE_SHAPES", skip(self))]
    fn name(&self) -> &str {
        &self.name // `&String` coerced to `&str`
    }

    #[instrumented(event = "OE_SHAPES", skip(self))]
    fn scores_mut(&mut self) -> &mut Vec<u32> {
        &mut self.scores // a reference borrowed from `&mut self` escapes the body
    }

    #[instrumented(event = "OE_SHAPES", skip(self))]
    async fn name_async(&self) -> &str {
        &self.name
    }
}

#[instrumented(event = "OE_SHAPES", err)]
fn boxed_error(fail: bool) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    if fail {
        return Err("plain str into a boxed error".into());
    }
    Ok(1)
}

#[instrumented(event = "OE_SHAPES")]
fn boxed_display(n: u8) -> Box<dyn std::fmt::Display> {
    if n == 0 {
        return Box::new("zero");
    }
    Box::new(n)
}

#[instrumented(event = "OE_SHAPES", fields(n))]
fn impl_trait_arg(items: impl IntoIterator<Item = u32> + std::fmt::Debug, n: u8) -> u32 {
    items.into_iter().sum::<u32>() + u32::from(n)
}

#[instrumented(event = "OE_SHAPES", fields(a, b))]
fn destructured((a, b): (u32, u32), _: u8, mut c: u32) -> u32 {
    c += a + b;
    c
}

#[tokio::test]
async fn coercions_escaping_borrows_impl_trait_and_pattern_parameters_compile_and_emit() {
    let ((), events) = capture_async(async {
        let mut p = Profile {
            name: "ann".into(),
            scores: vec![],
        };
        assert_eq!(p.name(), "ann");
        p.scores_mut().push(3);
        assert_eq!(p.scores, [3]);
        assert_eq!(p.name_async().await, "ann");
        assert_eq!(
            boxed_error(true).unwrap_err().to_string(),
            "plain str into a boxed error"
        );
        assert_eq!(boxed_display(0).to_string(), "zero");
        assert_eq!(impl_trait_arg(vec![1, 2], 3), 6);
        assert_eq!(destructured((1, 2), 0, 3), 6);
    })
    .await;
    let functions: Vec<&str> = events
        .iter()
        .map(|e| e.event_data["function"].as_str().unwrap())
        .collect();
    assert_eq!(
        functions,
        [
            "name",
            "scores_mut",
            "name_async",
            "boxed_error",
            "boxed_display",
            "impl_trait_arg",
            "destructured"
        ]
    );
    assert_eq!(events[3].event_data["error"], "plain str into a boxed error");
    assert_eq!(fields(&events[6]), &json!({"a": 1, "b": 2}));
}

// ---- self and reserved names on the span ----------------------------------------

#[derive(Debug)]
#[allow(dead_code)] // read only through Debug, on the span
struct Repo {
    table: &'static str,
}

impl Repo {
    #[instrumented(event = "OE_SELF_SPAN")]
    fn find(&self, uid: &str) -> usize {
        uid.len()
    }
}

#[test]
fn self_is_recorded_on_the_span_and_a_parameter_named_uid_does_not_shadow_the_context_uid() {
    let log = SpanLog::default();
    let ctx = Context::new().with_uid("context-user");
    log.during(|| capture(|| ctx.scope_sync(|| Repo { table: "users" }.find("param-user"))));
    let span = &log.spans()[0];
    assert_eq!(span.fields["self"], r#"Repo { table: "users" }"#);
    assert_eq!(span.fields["uid"], "context-user");
    assert_eq!(span.fields["arg.uid"], r#""param-user""#);
    assert_eq!(
        span.declared.iter().filter(|f| *f == "uid").count(),
        1,
        "{:?}",
        span.declared
    );
}

// ---- crate path ------------------------------------------------------------------

mod reexport {
    pub use telemetry as renamed;
}

#[reexport::renamed::instrumented(event = "OE_CRATE_PATH", crate = "crate::reexport::renamed")]
fn through_a_reexport() -> u8 {
    5
}

#[test]
fn crate_path_override_is_used() {
    let events = capture(through_a_reexport);
    assert_eq!(only(&events).event_type, "OE_CRATE_PATH");
}

// ---- async nesting, interleaving, cancellation edge cases ------------------------

#[instrumented(event = "OE_ASYNC_INNER", fields(tag))]
async fn async_inner(tag: &'static str) {
    telemetry::record("mine", tag);
    tokio::task::yield_now().await;
    telemetry::record("after_yield", tag);
}

#[instrumented(event = "OE_ASYNC_OUTER")]
async fn async_outer() {
    // Two instrumented futures interleaved on one task: each keeps its own fields.
    futures::join!(async_inner("a"), async_inner("b"));
}

#[tokio::test]
async fn async_calls_nest_and_interleaved_calls_keep_their_own_fields() {
    let log = SpanLog::default();
    let ctx = Context::new().with_sid("s_join");
    let sink = Arc::new(telemetry::testing::CapturingSink::default());
    {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry().with(log.clone());
        let _default = tracing::subscriber::set_default(subscriber);
        sink.scope(ctx.clone().scope(async_outer())).await;
    }
    let events = sink.take_envelopes();
    assert_eq!(events.len(), 3);
    let outer = events.iter().find(|e| e.event_type == "OE_ASYNC_OUTER").unwrap();
    for inner in events.iter().filter(|e| e.event_type == "OE_ASYNC_INNER") {
        let tag = fields(inner)["tag"].clone();
        assert_eq!(fields(inner), &json!({"tag": tag, "mine": tag, "after_yield": tag}));
        assert_eq!(inner.trace_id, Some(ctx.trace_id()));
        assert_ne!(inner.span_id, outer.span_id);
    }
    let spans = log.spans();
    assert!(spans
        .iter()
        .filter(|s| s.name == "async_inner")
        .all(|s| s.parent.as_deref() == Some("async_outer")));
}

#[test]
fn a_future_dropped_before_its_first_poll_never_started_and_emits_nothing() {
    // Documented: an `async fn`'s body (and so its call) starts at the first poll.
    let events = capture(|| drop(fetch(4, false)));
    assert!(events.is_empty());
}

#[test]
fn a_future_cancelled_while_its_owner_panics_reports_cancelled_not_panic() {
    let events = capture(|| {
        let result = std::panic::catch_unwind(|| {
            let mut fut = Box::pin(fetch(5, false));
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            let _rt = rt.enter();
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            panic!("the owner fails while the call is pending");
        });
        assert!(result.is_err());
    });
    assert_eq!(only(&events).event_data["outcome"], "cancelled");
}

#[instrumented(event = "OE_SAVE")]
fn save_answer() {
    // The content id is known only once the answer is stored.
    telemetry::set_gdata_id("answer_7");
}

#[test]
fn set_gdata_id_inside_a_call_goes_into_its_event_and_not_the_callers_context() {
    let ctx = Context::new().with_uid("u_save");
    let (events, after) = {
        let _guard = ctx.enter();
        let events = capture(save_answer);
        (events, Context::current())
    };
    assert_eq!(events[0].gdata_id.as_deref(), Some("answer_7"));
    assert_eq!(events[0].uid.as_deref(), Some("u_save"));
    assert_eq!(after.gdata_id(), None);
}

// ---- parameters without Debug ------------------------------------------------------

/// Neither `Debug` nor `Serialize`.
struct Opaque {
    hits: u32,
}

impl Opaque {
    #[instrumented(event = "OE_OPAQUE", args)]
    fn hits(&self, by: u32, other: &Opaque) -> u32 {
        self.hits + by + other.hits
    }

    #[instrumented(event = "OE_OPAQUE")]
    async fn hits_async(self, key: Opaque) -> u32 {
        self.hits + key.hits
    }
}

#[tokio::test]
async fn parameters_without_debug_including_self_are_simply_not_recorded() {
    let log = SpanLog::default();
    let events = log.during(|| capture(|| assert_eq!(Opaque { hits: 1 }.hits(2, &Opaque { hits: 3 }), 6)));
    let span = &log.spans()[0];
    assert_eq!(span.fields["by"], "2");
    assert!(
        !span.fields.contains_key("self") && !span.fields.contains_key("other"),
        "{:?}",
        span.fields
    );
    // Declared (tracing needs its fields up front), never recorded.
    assert!(span.declared.contains(&"self".to_string()), "{:?}", span.declared);
    // `args` records the others and leaves these out.
    assert_eq!(fields(only(&events)), &json!({"by": 2}));

    let (n, events) = capture_async(Opaque { hits: 4 }.hits_async(Opaque { hits: 5 })).await;
    assert_eq!((n, only(&events).event_data["outcome"].as_str()), (9, Some("ok")));
}

// ---- fields declared for later -----------------------------------------------------

#[instrumented(event = "OE_LATER", fields(tokens = tracing::field::Empty, model = field::Empty, n))]
fn later(n: u32, record_tokens: bool) -> u32 {
    if record_tokens {
        telemetry::record("tokens", n * 10);
    }
    n
}

use tracing::field;

#[test]
fn fields_declared_with_empty_are_on_the_span_filled_by_record_and_absent_if_never_recorded() {
    let log = SpanLog::default();
    let events = log.during(|| {
        capture(|| {
            later(4, true);
            later(5, false);
        })
    });
    assert_eq!(events.len(), 2);
    assert_eq!(fields(&events[0]), &json!({"n": 4, "tokens": 40}));
    assert_eq!(fields(&events[1]), &json!({"n": 5}), "never recorded: absent");
    let spans = log.spans();
    assert!(
        spans[0].declared.contains(&"tokens".to_string()),
        "{:?}",
        spans[0].declared
    );
    assert!(
        spans[0].declared.contains(&"model".to_string()),
        "{:?}",
        spans[0].declared
    );
    assert_eq!(
        spans[0].fields["tokens"], "40",
        "record() fills the declared span field"
    );
    assert!(!spans[1].fields.contains_key("tokens"), "{:?}", spans[1].fields);
    let catalog = telemetry::catalog();
    let site = catalog
        .get("OE_LATER", 1)
        .find(|k| k.rust_path.ends_with("::later"))
        .expect("registered");
    assert_eq!(site.declared_fields, ["tokens", "model", "n"]);
}

// ---- err and ret as tracing events ---------------------------------------------------

#[instrumented(event = "OE_TRACE_EV", err, ret)]
fn traced(fail: bool) -> Result<u32, ChatError> {
    if fail {
        Err(ChatError("quota exceeded"))
    } else {
        Ok(7)
    }
}

#[instrumented(event = "OE_TRACE_EV", level = "debug", target = "chat_api", err(Debug), ret(Debug))]
async fn traced_debug(fail: bool) -> Result<&'static str, ChatError> {
    if fail {
        Err(ChatError("boom"))
    } else {
        Ok("fine")
    }
}

#[instrumented(event = "OE_TRACE_EV", ret)]
fn traced_plain() -> Reply {
    Reply { text: "hi" }
}

#[test]
fn err_emits_an_error_event_and_ret_a_span_level_event_inside_the_calls_span() {
    let log = SpanLog::default();
    let events = log.during(|| {
        capture(|| {
            let _ = traced(false);
            let _ = traced(true);
            traced_plain();
        })
    });
    let spans = log.spans();
    let seen = log.events();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    // Ok: `return` at the span's level, the value as the event records it.
    assert_eq!(
        (seen[0].level.as_str(), seen[0].target.as_str()),
        ("INFO", "instrumented")
    );
    assert_eq!(seen[0].fields["return"], "7");
    assert!(!seen[0].fields.contains_key("error"));
    // Err: ERROR with `error = %e`, and no `return`.
    assert_eq!(seen[1].level, "ERROR");
    assert_eq!(seen[1].fields["error"], "chat failed: quota exceeded");
    assert!(!seen[1].fields.contains_key("return"));
    assert_eq!(seen[2].fields["return"], r#"{"text":"hi"}"#);
    // Each inside its own call's span.
    for (event, span) in seen.iter().zip(&spans) {
        assert_eq!(event.parent.as_deref(), Some(span.name.as_str()));
        assert_eq!(event.parent_span_id.as_ref(), span.fields.get("span_id"));
    }
    // event_data is unchanged.
    assert_eq!(fields(&events[0]), &json!({"return": 7}));
    assert_eq!(events[1].event_data["error"], "chat failed: quota exceeded");
}

#[tokio::test]
async fn async_err_debug_and_ret_debug_events_use_debug_the_spans_level_and_target() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let log = SpanLog::default();
    let subscriber = tracing_subscriber::registry().with(log.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    assert_eq!(traced_debug(false).await.unwrap(), "fine");
    assert!(traced_debug(true).await.is_err());
    let seen = log.events();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!((seen[0].level.as_str(), seen[0].target.as_str()), ("DEBUG", "chat_api"));
    assert_eq!(seen[0].fields["return"], "\"fine\"");
    assert_eq!((seen[1].level.as_str(), seen[1].target.as_str()), ("ERROR", "chat_api"));
    assert_eq!(seen[1].fields["error"], r#"ChatError("boom")"#);
    let spans = log.spans();
    for (event, span) in seen.iter().zip(&spans) {
        assert_eq!(event.parent.as_deref(), Some("traced_debug"));
        assert_eq!(event.parent_span_id.as_ref(), span.fields.get("span_id"));
    }
}

#[test]
fn an_error_event_is_logged_even_when_the_span_is_filtered_out() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let log = SpanLog::default();
    let subscriber = tracing_subscriber::registry()
        .with(log.clone())
        .with(tracing_subscriber::filter::LevelFilter::WARN);
    tracing::subscriber::with_default(subscriber, || {
        let _ = traced(true);
        let _ = traced(false);
    });
    assert!(log.spans().is_empty());
    let seen = log.events();
    assert_eq!(
        seen.len(),
        1,
        "the INFO return event is filtered, the ERROR one is not: {seen:#?}"
    );
    assert_eq!(seen[0].fields["error"], "chat failed: quota exceeded");
}
