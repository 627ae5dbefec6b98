//! An LLM agent, traced: model call, tool call, model call, against a fake LLM
//! on loopback that speaks OpenAI's chat-completions shape.
//!
//! What runs, all in this process:
//! - the reference collector (SQLite in a temporary directory) takes the events;
//! - a small OTLP/HTTP receiver stands in for a trace backend (an OpenTelemetry
//!   Collector, Logfire...) and keeps the spans;
//! - a fake OpenAI server answers `POST /v1/chat/completions`: first a tool call
//!   to `get_weather`, then, once it has the tool's result, the answer;
//! - the agent, in a user's session, under `telemetry::genai`.
//!
//! It prints the log lines as they happen (JSON, each with the trace and span ids
//! and the user's ids), then the trace tree the receiver got, then the events the
//! collector stored, one `OE_LLM_CALL` per model call: the same ids throughout.
//!
//! Run: `cargo run --example agent --features otlp`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{json, Value};
use telemetry::genai::{Agent, ChatRequest, ChatResponse, Message, ToolCall};
use telemetry::{Context, FutureExt as _};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const MODEL: &str = "gpt-4o-mini";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let dir = std::env::temp_dir().join(format!("telemetry-agent-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let collector = telemetry_collector::Collector::builder()
        .db(dir.join("telemetry.db"))
        .listen("127.0.0.1:0")
        .start()
        .await?;
    let spans = Arc::new(Mutex::new(Vec::<Span>::new()));
    let otlp = serve(
        Router::new()
            .route("/v1/traces", post(receive_spans))
            .route("/v1/metrics", post(|| async { "" })) // the GenAI histograms: taken, not shown
            .with_state(spans.clone()),
    )
    .await?;
    let llm = serve(Router::new().route("/v1/chat/completions", post(fake_openai))).await?;

    // One pipeline: events to the collector, spans over OTLP with the same ids,
    // log lines on stdout carrying them.
    let telemetry = telemetry::logging::builder()
        .format(telemetry::logging::LogFormat::Json)
        .filter("info,telemetry::transport=warn")
        .pipeline(
            telemetry::Pipeline::builder()
                .endpoint(format!("{}/v1/events", collector.url()))
                .otlp_endpoint(&otlp)
                .otlp_logs(false)
                .otlp_traces(true)
                .service("weather-agent"),
        )
        .try_init()?;

    let user = Context::new().with_uid("user_42").with_sid("session_7");
    async {
        let answer = ask(&llm, "What is the weather in Paris?").await?;
        tracing::info!(answer = %answer, "agent answered");
        Ok::<_, BoxError>(())
    }
    .with_context(user)
    .await?;

    drop(telemetry); // flushes the events and the spans
    println!("\n== the trace, as the OTLP receiver got it");
    print_tree(&spans.lock().unwrap());
    println!("\n== the events, as the collector stored them");
    let client = telemetry_collector::client::Client::new(collector.url(), None);
    let events = client.get("/v1/events", &[("limit", "50".to_string())]).await?;
    for event in events["events"].as_array().into_iter().flatten().rev() {
        let data = &event["event_data"];
        println!(
            "{:<12} uid={} sid={} trace={} span={}  {}",
            event["event_type"].as_str().unwrap_or("?"),
            event["uid"].as_str().unwrap_or("-"),
            event["sid"].as_str().unwrap_or("-"),
            event["trace_id"].as_str().unwrap_or("-"),
            event["span_id"].as_str().unwrap_or("-"),
            match event["event_type"].as_str() {
                Some("OE_LLM_CALL") => format!(
                    "model={} tokens={}+{} finish={} {:.1} ms",
                    data["model"],
                    data["input_tokens"],
                    data["output_tokens"],
                    data["finish_reason"],
                    data["duration_ms"].as_f64().unwrap_or(0.0)
                ),
                _ => data.to_string(),
            }
        );
    }
    collector.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The agent loop: ask the model, run the tools it asks for, ask again.
async fn ask(llm: &str, question: &str) -> Result<String, BoxError> {
    let http = reqwest::Client::new();
    let run = Agent::new("weather_agent").conversation_id("session_7").run();
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let mut messages = vec![Message::user(question)];
    let mut wire = vec![json!({"role": "user", "content": question})];
    for _round in 0..4 {
        let call = run.chat(
            ChatRequest::new("openai", MODEL)
                .server("127.0.0.1", port_of(llm))
                .temperature(0.0)
                .tool_definitions(tools.clone())
                .messages(messages.clone()),
        );
        let body = json!({"model": MODEL, "messages": wire, "tools": tools, "temperature": 0.0});
        let reply: Value = call
            .scope(async {
                tracing::info!("calling the model");
                http.post(format!("{llm}/v1/chat/completions"))
                    .json(&body)
                    .send()
                    .await?
                    .json()
                    .await
            })
            .await?;
        let choice = &reply["choices"][0];
        let finish = choice["finish_reason"].as_str().unwrap_or("stop").to_string();
        let usage = &reply["usage"];
        let mut response = ChatResponse::new()
            .id(reply["id"].as_str().unwrap_or_default())
            .model(reply["model"].as_str().unwrap_or(MODEL))
            .finish_reason(finish.clone())
            .usage(
                usage["prompt_tokens"].as_u64().unwrap_or(0),
                usage["completion_tokens"].as_u64().unwrap_or(0),
            );
        let Some(tool_calls) = choice["message"]["tool_calls"].as_array().filter(|c| !c.is_empty()) else {
            let text = choice["message"]["content"].as_str().unwrap_or_default().to_string();
            response = response.output(vec![Message::assistant(text.clone()).with_finish_reason(finish)]);
            call.finish(response);
            run.finish();
            return Ok(text);
        };
        let mut asked = Vec::new();
        for tc in tool_calls {
            let arguments: Value = serde_json::from_str(tc["function"]["arguments"].as_str().unwrap_or("{}"))?;
            asked.push(Message::tool_call(
                tc["id"].as_str().unwrap_or(""),
                "get_weather",
                arguments,
            ));
        }
        call.finish(response.output(asked.clone()));
        wire.push(choice["message"].clone());
        for (tc, message) in tool_calls.iter().zip(asked) {
            let id = tc["id"].as_str().unwrap_or("").to_string();
            let arguments: Value = serde_json::from_str(tc["function"]["arguments"].as_str().unwrap_or("{}"))?;
            let tool = run.tool(
                ToolCall::new("get_weather")
                    .call_id(id.clone())
                    .arguments(arguments.clone()),
            );
            let result = tool
                .scope(get_weather(arguments["city"].as_str().unwrap_or("?").to_string()))
                .await;
            tool.finish(json!(result));
            messages.push(message);
            messages.push(Message::tool_result(id.clone(), "get_weather", json!(result)));
            wire.push(json!({"role": "tool", "tool_call_id": id, "content": result}));
        }
    }
    run.fail("too_many_rounds");
    Err("the model kept asking for tools".into())
}

/// The tool. Its log line carries the tool span's ids and the user's.
async fn get_weather(city: String) -> String {
    tracing::info!(%city, "looking up the weather");
    tokio::time::sleep(Duration::from_millis(3)).await;
    format!("sunny in {city}")
}

/// The fake LLM: OpenAI's chat-completions shape, a tool call first, then text.
async fn fake_openai(Json(request): Json<Value>) -> Json<Value> {
    let messages = request["messages"].as_array().cloned().unwrap_or_default();
    let prompt_tokens = serde_json::to_string(&messages).map(|s| s.len() / 4).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let tool_result = messages.iter().rev().find(|m| m["role"] == "tool");
    let (message, finish, completion_tokens) = match tool_result {
        None => (
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}),
            "tool_calls",
            9,
        ),
        Some(result) => (
            json!({"role": "assistant", "content": format!("It is {}.", result["content"].as_str().unwrap_or("?"))}),
            "stop",
            7,
        ),
    };
    Json(json!({
        "id": format!("chatcmpl-{}", messages.len()),
        "object": "chat.completion",
        "model": format!("{}-2024-07-18", request["model"].as_str().unwrap_or(MODEL)),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }))
}

async fn receive_spans(
    axum::extract::State(spans): axum::extract::State<Arc<Mutex<Vec<Span>>>>,
    body: axum::body::Bytes,
) -> &'static str {
    if let Ok(request) = ExportTraceServiceRequest::decode(body) {
        let mut spans = spans.lock().unwrap();
        for resource in request.resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    ""
}

/// Serves `app` on a free loopback port; its base URL.
async fn serve(app: Router) -> Result<String, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}"))
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(80)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The spans as a tree, children in start order, with a few GenAI attributes.
fn print_tree(spans: &[Span]) {
    let mut children: HashMap<String, Vec<&Span>> = HashMap::new();
    let ids: Vec<String> = spans.iter().map(|s| hex(&s.span_id)).collect();
    for span in spans {
        let parent = hex(&span.parent_span_id);
        let key = if ids.contains(&parent) { parent } else { String::new() };
        children.entry(key).or_default().push(span);
    }
    for list in children.values_mut() {
        list.sort_by_key(|s| s.start_time_unix_nano);
    }
    fn show(span: &Span, depth: usize, children: &HashMap<String, Vec<&Span>>) {
        let ms = (span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano)) as f64 / 1e6;
        let attrs: Vec<String> = span
            .attributes
            .iter()
            .filter(|kv| {
                [
                    "gen_ai.usage.input_tokens",
                    "gen_ai.usage.output_tokens",
                    "gen_ai.tool.call.id",
                    "gen_ai.response.model",
                ]
                .contains(&kv.key.as_str())
            })
            .map(|kv| format!("{}={}", kv.key.trim_start_matches("gen_ai."), value_text(kv)))
            .collect();
        println!(
            "{}{} [span {}] {:.1} ms {}",
            "  ".repeat(depth),
            span.name,
            hex(&span.span_id),
            ms,
            attrs.join(" ")
        );
        for child in children.get(&hex(&span.span_id)).into_iter().flatten() {
            show(child, depth + 1, children);
        }
    }
    if let Some(first) = spans.first() {
        println!("trace {}", hex(&first.trace_id));
    }
    for root in children.get("").into_iter().flatten() {
        show(root, 0, &children);
    }
}

fn value_text(kv: &opentelemetry_proto::tonic::common::v1::KeyValue) -> String {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(V::StringValue(s)) => s.clone(),
        Some(V::IntValue(i)) => i.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
