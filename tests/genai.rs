//! GenAI spans, metrics and events, exported over OTLP to a loopback server and
//! compared with the peer: the same loop (model call, tool call, model call) in
//! Pydantic AI 2.x (`tests/peers/`). The Rust trace has the same span names,
//! kinds and parentage, and a superset of its `gen_ai.*` attribute keys; every
//! `gen_ai.*` key is one the conventions (or the peer) define. Under CI the peer
//! is run live (`tests/peers/install.sh` makes its venv) and must still print
//! the recorded trace.

#[path = "../telemetry-transport/tests/otlp_support/mod.rs"]
mod otlp_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::Span;
use otlp_support::OtlpServer;
use prost::Message as _;
use serde_json::{json, Value};
use telemetry::genai::{self, Agent, ChatRequest, ChatResponse, Message, Settings, ToolCall};
use telemetry::testing::CapturingSink;
use telemetry::{Context, Pipeline};
use tracing_subscriber::layer::SubscriberExt as _;

/// The `gen_ai.*` attributes of the OpenTelemetry GenAI conventions (registry,
/// semconv 1.37) that this SDK may set, and those Pydantic AI adds of its own.
const CONVENTIONS: &[&str] = &[
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.agent.name",
    "gen_ai.agent.id",
    "gen_ai.conversation.id",
    "gen_ai.request.model",
    "gen_ai.request.temperature",
    "gen_ai.request.max_tokens",
    "gen_ai.request.top_p",
    "gen_ai.request.seed",
    "gen_ai.request.frequency_penalty",
    "gen_ai.request.presence_penalty",
    "gen_ai.request.stop_sequences",
    "gen_ai.response.model",
    "gen_ai.response.id",
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.name",
    "gen_ai.tool.call.id",
    "gen_ai.tool.type",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.embeddings.dimension.count",
];
/// Pydantic AI's own (not in the conventions' registry).
const PEER_ONLY: &[&str] = &[
    "gen_ai.agent.call.id",
    "gen_ai.aggregated_usage.input_tokens",
    "gen_ai.aggregated_usage.output_tokens",
];

const MODEL: &str = "function:scripted_model:";

/// The peer's loop, in Rust: the agent asks the model, runs the tool it asked
/// for, asks again.
async fn weather_agent() {
    let run = Agent::new("support_agent").conversation_id("conv-1").run();
    let tools = json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]);
    let question = Message::user("What is the weather in Paris?");
    let first = run.chat(
        ChatRequest::new("function", MODEL)
            .server("127.0.0.1", 8080)
            .temperature(0.0)
            .max_tokens(256)
            .system_instructions("Be brief.")
            .tool_definitions(tools.clone())
            .messages(vec![question.clone()]),
    );
    first.scope(tokio::time::sleep(Duration::from_millis(5))).await;
    let asked = Message::tool_call("call_1", "get_weather", json!({"city": "Paris"}));
    first.finish(
        ChatResponse::new()
            .id("resp-1")
            .model(MODEL)
            .finish_reason("tool_call")
            .usage(56, 5)
            .output(vec![asked.clone()]),
    );
    let tool = run.tool(
        ToolCall::new("get_weather")
            .call_id("call_1")
            .arguments(json!({"city": "Paris"})),
    );
    tool.finish(json!("sunny in Paris"));
    let second = run.chat(
        ChatRequest::new("function", MODEL)
            .tool_definitions(tools)
            .messages(vec![
                question,
                asked,
                Message::tool_result("call_1", "get_weather", json!("sunny in Paris")),
            ]),
    );
    second.finish(
        ChatResponse::new()
            .id("resp-2")
            .model(MODEL)
            .finish_reason("stop")
            .usage(59, 11)
            .output(vec![
                Message::assistant("It is sunny in Paris.").with_finish_reason("stop")
            ]),
    );
    assert_eq!(run.usage(), (115, 16));
    run.finish();
}

struct Trace {
    spans: Vec<Span>,
    events: Vec<telemetry::Envelope>,
    metrics: Vec<ExportMetricsServiceRequest>,
}

/// Runs the loop with a pipeline exporting spans to a loopback OTLP server.
async fn trace_of_the_loop(capture_content: bool) -> Trace {
    genai::configure(Settings::default().capture_content(capture_content));
    let server = OtlpServer::start_on_its_own_runtime();
    let guard = Pipeline::builder()
        .otlp_endpoint(server.base())
        .otlp_logs(false)
        .otlp_traces(true)
        .start()
        .unwrap();
    let sink = Arc::new(CapturingSink::default());
    {
        let subscriber = tracing_subscriber::registry().with(guard.otel_layer().unwrap());
        let _default = tracing::subscriber::set_default(subscriber);
        let ctx = Context::new().with_uid("user_1").with_sid("session_1");
        sink.scope(telemetry::FutureExt::with_context(weather_agent(), ctx))
            .await;
    }
    let events = sink.take_envelopes();
    tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(10)))
        .await
        .unwrap();
    let spans = server
        .trace_requests()
        .into_iter()
        .flat_map(|r| r.resource_spans)
        .flat_map(|r| r.scope_spans)
        .flat_map(|s| s.spans)
        .collect();
    let metrics = server
        .requests("/v1/metrics")
        .iter()
        .map(|r| ExportMetricsServiceRequest::decode(r.body.as_slice()).unwrap())
        .collect();
    Trace { spans, events, metrics }
}

/// name, kind, parent name, attribute keys: the shape the peer's JSON records.
fn shape(spans: &[Span]) -> Vec<(String, String, Option<String>, BTreeSet<String>)> {
    let mut spans: Vec<&Span> = spans.iter().collect();
    spans.sort_by_key(|s| s.start_time_unix_nano);
    let name_of = |id: &[u8]| spans.iter().find(|s| s.span_id == id).map(|s| s.name.clone());
    spans
        .iter()
        .map(|s| {
            let kind = match s.kind {
                1 => "internal",
                2 => "server",
                3 => "client",
                _ => "other",
            };
            let keys = s.attributes.iter().map(|kv| kv.key.clone()).collect();
            (s.name.clone(), kind.to_string(), name_of(&s.parent_span_id), keys)
        })
        .collect()
}

fn peer_file(name: &str) -> Value {
    let path = format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn compare_with_peer(ours: &Trace, peer: &Value) {
    let ours = shape(&ours.spans);
    let peer = peer["spans"].as_array().unwrap();
    assert_eq!(ours.len(), peer.len(), "{ours:#?}");
    for ((name, kind, parent, keys), theirs) in ours.iter().zip(peer) {
        assert_eq!(name, theirs["name"].as_str().unwrap());
        assert_eq!(kind, theirs["kind"].as_str().unwrap(), "{name}");
        assert_eq!(parent.as_deref(), theirs["parent"].as_str(), "{name}");
        let missing: Vec<&str> = theirs["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .filter(|k| k.starts_with("gen_ai.") && !keys.contains(*k))
            .collect();
        assert!(missing.is_empty(), "{name} lacks the peer's {missing:?}");
        for key in keys.iter().filter(|k| k.starts_with("gen_ai.")) {
            assert!(
                CONVENTIONS.contains(&key.as_str()) || PEER_ONLY.contains(&key.as_str()),
                "{name}: {key} is not a GenAI convention attribute"
            );
        }
    }
}

fn string_attr(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match &kv.value.as_ref()?.value {
            Some(V::StringValue(s)) => Some(s.clone()),
            Some(V::IntValue(i)) => Some(i.to_string()),
            Some(V::DoubleValue(d)) => Some(d.to_string()),
            Some(V::ArrayValue(a)) => Some(format!(
                "{:?}",
                a.values.iter().map(|v| v.value.clone()).collect::<Vec<_>>()
            )),
            _ => None,
        })
}

/// One test, the two settings in turn: the settings and OpenTelemetry's meter
/// provider are process-wide.
#[tokio::test]
async fn the_loop_matches_pydantic_ai_with_content_and_without() {
    with_content().await;
    content_is_left_out_unless_asked_for().await;
}

async fn with_content() {
    let trace = trace_of_the_loop(true).await;
    compare_with_peer(&trace, &peer_file("pydantic_ai_spans_content.json"));
    let chat = trace
        .spans
        .iter()
        .find(|s| string_attr(s, "gen_ai.response.id").as_deref() == Some("resp-1"))
        .unwrap();
    // Request parameters and server, set when the span starts; the response's when it arrives.
    for (key, value) in [
        ("gen_ai.request.temperature", "0"),
        ("gen_ai.request.max_tokens", "256"),
        ("server.address", "127.0.0.1"),
        ("server.port", "8080"),
        ("gen_ai.usage.input_tokens", "56"),
        ("gen_ai.usage.output_tokens", "5"),
        ("gen_ai.provider.name", "function"),
        ("gen_ai.system", "function"),
    ] {
        assert_eq!(string_attr(chat, key).as_deref(), Some(value), "{key}");
    }
    assert!(string_attr(chat, "gen_ai.response.finish_reasons")
        .unwrap()
        .contains("tool_call"));
    let input: Value = serde_json::from_str(&string_attr(chat, "gen_ai.input.messages").unwrap()).unwrap();
    assert_eq!(input[0]["parts"][0]["content"], "What is the weather in Paris?");
    let instructions: Value = serde_json::from_str(&string_attr(chat, "gen_ai.system_instructions").unwrap()).unwrap();
    assert_eq!(instructions[0]["content"], "Be brief.");
    let schema: Value = serde_json::from_str(&string_attr(chat, "logfire.json_schema").unwrap()).unwrap();
    assert!(schema["properties"]["gen_ai.input.messages"].is_object());
    let agent = trace
        .spans
        .iter()
        .find(|s| s.name == "invoke_agent support_agent")
        .unwrap();
    assert_eq!(
        string_attr(agent, "gen_ai.aggregated_usage.input_tokens").as_deref(),
        Some("115")
    );
    assert_eq!(
        string_attr(agent, "gen_ai.aggregated_usage.output_tokens").as_deref(),
        Some("16")
    );
    let tool = trace
        .spans
        .iter()
        .find(|s| s.name == "execute_tool get_weather")
        .unwrap();
    assert_eq!(
        string_attr(tool, "gen_ai.tool.call.arguments").as_deref(),
        Some(r#"{"city":"Paris"}"#)
    );
    assert_eq!(
        string_attr(tool, "gen_ai.tool.call.result").as_deref(),
        Some(r#""sunny in Paris""#)
    );
    assert_eq!(string_attr(tool, "gen_ai.tool.type").as_deref(), Some("function"));

    // One OE_LLM_CALL per model call, with the user's ids and the chat span's id.
    let calls: Vec<&telemetry::Envelope> = trace.events.iter().filter(|e| e.event_type == "OE_LLM_CALL").collect();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(
            (call.uid.as_deref(), call.sid.as_deref()),
            (Some("user_1"), Some("session_1"))
        );
        let span = trace
            .spans
            .iter()
            .find(|s| s.span_id == call.span_id.unwrap().to_int().to_be_bytes())
            .expect("the event's span is exported");
        assert!(span.name.starts_with("chat "), "{}", span.name);
        assert_eq!(call.event_data["model"], MODEL);
        assert_eq!(call.event_data["agent"], "support_agent");
        assert_eq!(call.event_data["outcome"], "ok");
    }
    assert_eq!(calls[0].event_data["input_tokens"], 56);
    assert_eq!(calls[1].event_data["output_tokens"], 11);
    assert_eq!(calls[1].event_data["finish_reason"], "stop");

    // The metrics, with the conventions' buckets.
    let metrics: BTreeMap<String, Data> = trace
        .metrics
        .iter()
        .flat_map(|r| &r.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter_map(|m| Some((m.name.clone(), m.data.clone()?)))
        .collect();
    let Some(Data::Histogram(tokens)) = metrics.get("gen_ai.client.token.usage") else {
        panic!("token usage histogram in {:?}", metrics.keys())
    };
    assert_eq!(tokens.data_points[0].explicit_bounds, genai::TOKEN_BUCKETS);
    let total: f64 = tokens.data_points.iter().filter_map(|p| p.sum).sum();
    assert_eq!(total, 131.0, "56 + 5 + 59 + 11");
    let Some(Data::Histogram(duration)) = metrics.get("gen_ai.client.operation.duration") else {
        panic!("duration histogram")
    };
    assert_eq!(duration.data_points[0].explicit_bounds, genai::DURATION_BUCKETS);
    assert_eq!(duration.data_points.iter().map(|p| p.count).sum::<u64>(), 2);
}

async fn content_is_left_out_unless_asked_for() {
    let trace = trace_of_the_loop(false).await;
    compare_with_peer(&trace, &peer_file("pydantic_ai_spans_no_content.json"));
    let all: String = trace
        .spans
        .iter()
        .flat_map(|s| s.attributes.iter().map(|kv| format!("{:?}", kv.value)))
        .collect();
    for secret in ["What is the weather", "sunny in Paris", "Be brief", "\\\"city\\\""] {
        assert!(!all.contains(secret), "{secret} leaked");
    }
    let tool = trace
        .spans
        .iter()
        .find(|s| s.name == "execute_tool get_weather")
        .unwrap();
    assert!(string_attr(tool, "gen_ai.tool.call.arguments").is_none());
}

/// The peer, run live: it must still print what `tests/peers/` recorded.
#[test]
fn the_recorded_peer_trace_is_what_pydantic_ai_prints() {
    let python = std::env::var("PYDANTIC_AI_PYTHON")
        .unwrap_or_else(|_| format!("{}/target/pyenv/bin/python", env!("CARGO_MANIFEST_DIR")));
    if !std::path::Path::new(&python).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Pydantic AI peer is not installed ({python}): run tests/peers/install.sh"
        );
        eprintln!("SKIPPED: no Pydantic AI venv at {python} (tests/peers/install.sh makes it)");
        return;
    }
    let script = format!("{}/tests/peers/pydantic_ai_trace.py", env!("CARGO_MANIFEST_DIR"));
    for (flag, file) in [
        ("--include-content", "pydantic_ai_spans_content.json"),
        ("--no-include-content", "pydantic_ai_spans_no_content.json"),
    ] {
        let out = std::process::Command::new(&python)
            .arg(&script)
            .arg(flag)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let live: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(live["spans"], peer_file(file)["spans"], "{flag}");
    }
}
