//! The `OE_LLM_CALL` event of `telemetry::genai` without any exporter: one per
//! model call, in the caller's context, `cancelled` for a call dropped
//! unfinished, `error` for a failed one, and a kind of the user's own instead
//! with `Settings::on_call`. One test: the settings are process-wide.

use telemetry::genai::{self, ChatRequest, ChatResponse, Embeddings, LlmCall, Settings};
use telemetry::testing::capture;
use telemetry::{Context, TelemetryEvent};

#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "APP_MODEL_USAGE", version = 1)]
struct ModelUsage {
    model: String,
    tokens: u64,
}

#[test]
fn each_model_call_is_one_event_with_its_outcome_and_can_be_renamed() {
    genai::configure(Settings::default());
    let ctx = Context::new().with_uid("u1").with_sid("s1").with_gdata_id("q1");
    let events = capture(|| {
        let _entered = ctx.enter();
        ChatRequest::new("openai", "gpt-4o").start().finish(
            ChatResponse::new()
                .model("gpt-4o-2024")
                .finish_reason("stop")
                .usage(10, 3)
                .cache_read_tokens(4),
        );
        let dropped = ChatRequest::new("openai", "gpt-4o").start();
        drop(dropped);
        ChatRequest::new("anthropic", "claude").start().fail("http.503");
        Embeddings::new("openai", "text-embedding-3-small")
            .start()
            .finish(12, 1536);
    });
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, ["OE_LLM_CALL"; 4]);
    for e in &events {
        assert_eq!(
            (e.uid.as_deref(), e.sid.as_deref(), e.gdata_id.as_deref()),
            (Some("u1"), Some("s1"), Some("q1"))
        );
        assert!(e.span_id.is_some(), "the call's own span id");
        assert_eq!(e.parent_span_id, None, "a root span: no span was open");
    }
    let d = |i: usize| &events[i].event_data;
    assert_eq!(
        (
            d(0)["outcome"].as_str(),
            d(0)["input_tokens"].as_u64(),
            d(0)["output_tokens"].as_u64()
        ),
        (Some("ok"), Some(10), Some(3))
    );
    assert_eq!(
        (d(0)["response_model"].as_str(), d(0)["finish_reason"].as_str()),
        (Some("gpt-4o-2024"), Some("stop"))
    );
    assert_eq!(d(0)["cache_read_tokens"], 4);
    assert!(d(0)["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(d(1)["outcome"], "cancelled");
    assert_eq!(
        (d(2)["outcome"].as_str(), d(2)["error_type"].as_str()),
        (Some("error"), Some("http.503"))
    );
    assert_eq!(
        (d(3)["operation"].as_str(), d(3)["input_tokens"].as_u64()),
        (Some("embeddings"), Some(12))
    );
    assert_eq!(
        telemetry::catalog().get(LlmCall::KIND.name(), 1).count(),
        1,
        "OE_LLM_CALL is in the plan"
    );

    // Renamed: the user's own kind instead.
    genai::configure(Settings::default().on_call(|ctx, call: &LlmCall| {
        ctx.emit(ModelUsage {
            model: call.model.clone(),
            tokens: call.input_tokens.unwrap_or(0) + call.output_tokens.unwrap_or(0),
        })
    }));
    let events = capture(|| {
        ChatRequest::new("openai", "gpt-4o")
            .start()
            .finish(ChatResponse::new().usage(7, 2));
    });
    genai::configure(Settings::default());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "APP_MODEL_USAGE");
    assert_eq!(events[0].event_data["tokens"], 9);
}
