//! LLM agents traced with the OpenTelemetry GenAI semantic conventions, as
//! Pydantic AI emits them, plus a typed product event per model call
//! ([`LlmCall`], `OE_LLM_CALL`) so the collector answers "tokens per user per
//! day" without a trace backend (feature `genai`, part of `otlp`).
//!
//! The spans are `tracing` spans (`otel.name`, `otel.kind` name them for
//! OpenTelemetry), so they reach any subscriber, and, with spans over OTLP
//! (`Pipeline::builder().otlp_traces(true)`), the backend, under the same ids
//! as the events emitted inside them:
//!
//! | span | kind | from |
//! |---|---|---|
//! | `invoke_agent {agent}` | internal | [`Agent::run`] |
//! | `chat {model}` | client | [`AgentRun::chat`] or [`ChatRequest::start`] |
//! | `execute_tool {tool}` | internal | [`AgentRun::tool`] or [`ToolCall::start`] |
//! | `embeddings {model}` | client | [`Embeddings::start`] |
//!
//! ```
//! use telemetry::genai::{Agent, ChatRequest, ChatResponse, Message, ToolCall};
//! # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! # rt.block_on(async {
//! let run = Agent::new("support_agent").conversation_id("session_abc").run();
//! let chat = run.chat(
//!     ChatRequest::new("openai", "gpt-4o-mini")
//!         .server("api.openai.com", 443)
//!         .temperature(0.2)
//!         .messages(vec![Message::user("What is the weather in Paris?")]),
//! );
//! // ... the HTTP call, inside the span and its context:
//! chat.scope(async { /* reqwest ... */ }).await;
//! chat.finish(ChatResponse::new().id("chatcmpl-1").model("gpt-4o-mini-2024-07-18")
//!     .finish_reason("tool_calls").usage(56, 5));
//! let tool = run.tool(ToolCall::new("get_weather").call_id("call_1")
//!     .arguments(serde_json::json!({"city": "Paris"})));
//! tool.finish(serde_json::json!("sunny"));
//! run.finish();
//! # });
//! ```
//!
//! **Content** (messages, instructions, tool arguments and results) is recorded
//! only when asked for: [`Settings::capture_content`] or
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`. It is scrubbed
//! (the wire format's secret keys) and cut to [`Settings::max_content_bytes`]
//! keeping the JSON valid, with a `logfire.json_schema` so Logfire renders it.
//! Without it the messages' structure is kept (roles, part types, tool names
//! and call ids), as Pydantic AI does.
//!
//! **Metrics**: `gen_ai.client.token.usage` and `gen_ai.client.operation.duration`,
//! histograms with the conventions' buckets, on OpenTelemetry's global meter
//! provider (the pipeline installs one with `otlp_traces`).

mod content;
mod event;
mod metrics;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use opentelemetry::{Array, StringValue, Value as OtelValue};
use serde_json::Value;
use telemetry_core::{Context, SpanId};
use tracing::field::Empty;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub use content::Message;
pub use event::LlmCall;
pub use metrics::{DURATION_BUCKETS, TOKEN_BUCKETS};

type OnCall = Arc<dyn Fn(&Context, &LlmCall) + Send + Sync>;

/// How GenAI calls are recorded; see [`configure`].
#[derive(Clone)]
pub struct Settings {
    capture_content: bool,
    max_content_bytes: usize,
    on_call: Option<OnCall>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("capture_content", &self.capture_content)
            .field("max_content_bytes", &self.max_content_bytes)
            .field("on_call", &self.on_call.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Default for Settings {
    /// Content off unless `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`
    /// is `true`; 16 KiB per content attribute; `OE_LLM_CALL` events.
    fn default() -> Self {
        let env = std::env::var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT").unwrap_or_default();
        Settings {
            capture_content: matches!(env.trim().to_ascii_lowercase().as_str(), "true" | "1"),
            max_content_bytes: 16 * 1024,
            on_call: None,
        }
    }
}

impl Settings {
    /// Record message content, tool arguments and results (off by default).
    pub fn capture_content(mut self, on: bool) -> Self {
        self.capture_content = on;
        self
    }
    /// The most bytes of JSON one content attribute holds (default 16 KiB).
    pub fn max_content_bytes(mut self, bytes: usize) -> Self {
        self.max_content_bytes = bytes.max(64);
        self
    }
    /// Emit your own event per model call instead of [`LlmCall`] (another name,
    /// your fields): `on_call(|ctx, call| ctx.emit(MyLlmCall::from(call)))`.
    /// Emit nothing with `on_call(|_, _| {})`.
    pub fn on_call(mut self, f: impl Fn(&Context, &LlmCall) + Send + Sync + 'static) -> Self {
        self.on_call = Some(Arc::new(f));
        self
    }
}

static SETTINGS: RwLock<Option<Settings>> = RwLock::new(None);

/// Sets how GenAI calls are recorded, process-wide.
///
/// ```
/// telemetry::genai::configure(telemetry::genai::Settings::default().max_content_bytes(4096));
/// ```
pub fn configure(settings: Settings) {
    *SETTINGS.write().unwrap_or_else(|p| p.into_inner()) = Some(settings);
}

fn settings() -> Settings {
    let mut settings = SETTINGS.write().unwrap_or_else(|p| p.into_inner());
    // The environment is read once, at the first call, not per call.
    settings.get_or_insert_with(Settings::default).clone()
}

/// A span the GenAI API opened, with the context its events carry.
#[derive(Debug)]
struct Opened {
    span: tracing::Span,
    context: Context,
    started: Instant,
}

impl Opened {
    /// Opens a span made by `make` as a child of `parent` (else of the current
    /// span and context), under a context of its own, bound to the exporter.
    fn new(parent: Option<&Opened>, make: impl FnOnce() -> tracing::Span) -> Opened {
        let parent_context = match parent {
            Some(p) => p.context.clone(),
            None => Context::try_current().unwrap_or_default(),
        };
        let mut context = parent_context.child(SpanId::random());
        let in_parent = |f: &mut dyn FnMut()| match parent {
            Some(p) => p.span.in_scope(f),
            None => f(),
        };
        let mut span = tracing::Span::none();
        let mut make = Some(make);
        in_parent(&mut || span = make.take().map(|m| m()).unwrap_or_else(tracing::Span::none));
        let mut rebound = None;
        in_parent(&mut || rebound = telemetry_core::bind_span(&span, &context));
        if let Some(parent) = rebound {
            context = context.with_parent_span_id(parent);
        }
        Opened {
            span,
            context,
            started: Instant::now(),
        }
    }

    fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        telemetry_core::FutureExt::with_context(future.instrument(self.span.clone()), self.context.clone())
    }

    fn error(&self, error_type: &str) {
        self.span.record("error.type", error_type);
        self.span.record("otel.status_code", "ERROR");
    }
}

/// An agent: a name, and the conversation its runs belong to.
#[derive(Debug, Clone)]
pub struct Agent {
    name: String,
    conversation_id: Option<String>,
}

impl Agent {
    /// An agent called `name` (`gen_ai.agent.name`).
    pub fn new(name: impl Into<String>) -> Self {
        Agent {
            name: name.into(),
            conversation_id: None,
        }
    }

    /// `gen_ai.conversation.id` (a session id is a good one).
    pub fn conversation_id(mut self, id: impl Into<String>) -> Self {
        self.conversation_id = Some(id.into());
        self
    }

    /// Starts a run: the `invoke_agent {agent}` span, under the current span
    /// and context. Finish it with [`AgentRun::finish`] (or drop it).
    pub fn run(&self) -> AgentRun {
        let call_id = uuid::Uuid::now_v7().to_string();
        let opened = Opened::new(None, || {
            let span = tracing::info_span!(target: "telemetry::genai", "invoke_agent",
                otel.name = %format!("invoke_agent {}", self.name), otel.kind = "internal",
                otel.status_code = Empty, error.type = Empty,
                gen_ai.operation.name = "invoke_agent", gen_ai.agent.name = %self.name,
                gen_ai.agent.call.id = %call_id, gen_ai.conversation.id = Empty,
                gen_ai.aggregated_usage.input_tokens = Empty, gen_ai.aggregated_usage.output_tokens = Empty);
            if let Some(id) = &self.conversation_id {
                span.record("gen_ai.conversation.id", id.as_str());
            }
            span
        });
        AgentRun {
            opened,
            agent: Arc::new(RunInfo {
                name: self.name.clone(),
                call_id,
                conversation_id: self.conversation_id.clone(),
                input_tokens: AtomicU64::new(0),
                output_tokens: AtomicU64::new(0),
            }),
            finished: false,
        }
    }
}

/// What a run's calls share: the agent's ids, and its usage so far.
#[derive(Debug)]
struct RunInfo {
    name: String,
    call_id: String,
    conversation_id: Option<String>,
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
}

impl RunInfo {
    fn record_on(&self, span: &tracing::Span) {
        span.record("gen_ai.agent.name", self.name.as_str());
        span.record("gen_ai.agent.call.id", self.call_id.as_str());
        if let Some(id) = &self.conversation_id {
            span.record("gen_ai.conversation.id", id.as_str());
        }
    }
}

/// One agent run: the `invoke_agent` span. Its model calls add up to
/// `gen_ai.aggregated_usage.*`, recorded when it finishes.
#[derive(Debug)]
pub struct AgentRun {
    opened: Opened,
    agent: Arc<RunInfo>,
    finished: bool,
}

impl AgentRun {
    /// The span, to enter or instrument with.
    pub fn span(&self) -> &tracing::Span {
        &self.opened.span
    }

    /// The context of the run (its span id is the span's).
    pub fn context(&self) -> &Context {
        &self.opened.context
    }

    /// Runs `future` inside the run's span and context.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        self.opened.scope(future)
    }

    /// A model call of this run.
    pub fn chat(&self, request: ChatRequest) -> ChatCall {
        request.open(Some(&self.opened), Some(self.agent.clone()))
    }

    /// A tool call of this run.
    pub fn tool(&self, tool: ToolCall) -> ToolSpan {
        tool.open(Some(&self.opened), Some(&self.agent))
    }

    /// The tokens the run's calls used so far: (input, output).
    pub fn usage(&self) -> (u64, u64) {
        (
            self.agent.input_tokens.load(Ordering::Relaxed),
            self.agent.output_tokens.load(Ordering::Relaxed),
        )
    }

    /// Ends the run, recording its aggregated usage.
    pub fn finish(mut self) {
        self.end();
    }

    /// Ends the run as failed.
    pub fn fail(mut self, error_type: &str) {
        self.opened.error(error_type);
        self.end();
    }

    fn end(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let (input, output) = self.usage();
        self.opened.span.record("gen_ai.aggregated_usage.input_tokens", input);
        self.opened.span.record("gen_ai.aggregated_usage.output_tokens", output);
    }
}

impl Drop for AgentRun {
    fn drop(&mut self) {
        self.end();
    }
}

/// A model call about to be made: `chat {model}` with its request parameters.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    provider: String,
    model: String,
    server: Option<(String, u16)>,
    temperature: Option<f64>,
    max_tokens: Option<u64>,
    top_p: Option<f64>,
    seed: Option<i64>,
    frequency_penalty: Option<f64>,
    presence_penalty: Option<f64>,
    stop_sequences: Vec<String>,
    system_instructions: Option<String>,
    messages: Vec<Message>,
    tool_definitions: Option<Value>,
}

impl ChatRequest {
    /// A call to `model` at `provider` (`openai`, `anthropic`, ...:
    /// `gen_ai.provider.name`, and the older `gen_ai.system`).
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        ChatRequest {
            provider: provider.into(),
            model: model.into(),
            server: None,
            temperature: None,
            max_tokens: None,
            top_p: None,
            seed: None,
            frequency_penalty: None,
            presence_penalty: None,
            stop_sequences: Vec::new(),
            system_instructions: None,
            messages: Vec::new(),
            tool_definitions: None,
        }
    }
    /// `server.address` and `server.port`.
    pub fn server(mut self, address: impl Into<String>, port: u16) -> Self {
        self.server = Some((address.into(), port));
        self
    }
    /// `gen_ai.request.temperature`.
    pub fn temperature(mut self, t: f64) -> Self {
        self.temperature = Some(t);
        self
    }
    /// `gen_ai.request.max_tokens`.
    pub fn max_tokens(mut self, n: u64) -> Self {
        self.max_tokens = Some(n);
        self
    }
    /// `gen_ai.request.top_p`.
    pub fn top_p(mut self, p: f64) -> Self {
        self.top_p = Some(p);
        self
    }
    /// `gen_ai.request.seed`.
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// `gen_ai.request.frequency_penalty`.
    pub fn frequency_penalty(mut self, p: f64) -> Self {
        self.frequency_penalty = Some(p);
        self
    }
    /// `gen_ai.request.presence_penalty`.
    pub fn presence_penalty(mut self, p: f64) -> Self {
        self.presence_penalty = Some(p);
        self
    }
    /// `gen_ai.request.stop_sequences`.
    pub fn stop_sequences(mut self, stops: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.stop_sequences = stops.into_iter().map(Into::into).collect();
        self
    }
    /// The system prompt (`gen_ai.system_instructions`, content).
    pub fn system_instructions(mut self, text: impl Into<String>) -> Self {
        self.system_instructions = Some(text.into());
        self
    }
    /// The messages sent (`gen_ai.input.messages`, content).
    pub fn messages(mut self, messages: Vec<Message>) -> Self {
        self.messages = messages;
        self
    }
    /// The tools offered (`gen_ai.tool.definitions`: a JSON array of schemas,
    /// not content, so always recorded).
    pub fn tool_definitions(mut self, definitions: Value) -> Self {
        self.tool_definitions = Some(definitions);
        self
    }

    /// Starts the call outside any agent run (under the current span and context).
    pub fn start(self) -> ChatCall {
        self.open(None, None)
    }

    fn open(self, parent: Option<&Opened>, agent: Option<Arc<RunInfo>>) -> ChatCall {
        let settings = settings();
        let opened = Opened::new(parent, || {
            let span = tracing::info_span!(target: "telemetry::genai", "chat",
                otel.name = %format!("chat {}", self.model), otel.kind = "client", otel.status_code = Empty,
                gen_ai.operation.name = "chat", gen_ai.provider.name = %self.provider,
                gen_ai.system = %self.provider, gen_ai.request.model = %self.model,
                server.address = Empty, server.port = Empty,
                gen_ai.request.temperature = Empty, gen_ai.request.max_tokens = Empty,
                gen_ai.request.top_p = Empty, gen_ai.request.seed = Empty,
                gen_ai.request.frequency_penalty = Empty, gen_ai.request.presence_penalty = Empty,
                gen_ai.agent.name = Empty, gen_ai.agent.call.id = Empty, gen_ai.conversation.id = Empty,
                gen_ai.response.model = Empty, gen_ai.response.id = Empty,
                gen_ai.usage.input_tokens = Empty, gen_ai.usage.output_tokens = Empty,
                gen_ai.usage.cache_read.input_tokens = Empty, gen_ai.usage.reasoning.output_tokens = Empty,
                error.type = Empty, gen_ai.input.messages = Empty, gen_ai.output.messages = Empty,
                gen_ai.system_instructions = Empty, gen_ai.tool.definitions = Empty,
                logfire.json_schema = Empty);
            if let Some((address, port)) = &self.server {
                span.record("server.address", address.as_str());
                span.record("server.port", i64::from(*port));
            }
            let optional = [
                ("gen_ai.request.temperature", self.temperature),
                ("gen_ai.request.top_p", self.top_p),
                ("gen_ai.request.frequency_penalty", self.frequency_penalty),
                ("gen_ai.request.presence_penalty", self.presence_penalty),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    span.record(key, value);
                }
            }
            if let Some(n) = self.max_tokens {
                span.record("gen_ai.request.max_tokens", n);
            }
            if let Some(seed) = self.seed {
                span.record("gen_ai.request.seed", seed);
            }
            if let Some(agent) = &agent {
                agent.record_on(&span);
            }
            if !self.stop_sequences.is_empty() {
                span.set_attribute("gen_ai.request.stop_sequences", strings(&self.stop_sequences));
            }
            let mut json_keys = Vec::new();
            if !self.messages.is_empty() {
                let text =
                    content::messages_attribute(&self.messages, settings.capture_content, settings.max_content_bytes);
                span.record("gen_ai.input.messages", text.as_str());
                json_keys.push("gen_ai.input.messages");
            }
            if let Some(instructions) = self.system_instructions.as_ref().filter(|_| settings.capture_content) {
                let parts = Value::Array(vec![serde_json::json!({"type": "text", "content": instructions})]);
                let text = content::bounded(parts, settings.max_content_bytes);
                span.record("gen_ai.system_instructions", text.as_str());
                json_keys.push("gen_ai.system_instructions");
            }
            if let Some(definitions) = &self.tool_definitions {
                span.record("gen_ai.tool.definitions", definitions.to_string().as_str());
                json_keys.push("gen_ai.tool.definitions");
            }
            if !json_keys.is_empty() {
                json_keys.push("gen_ai.output.messages");
                span.record("logfire.json_schema", content::json_schema(&json_keys).as_str());
            }
            span
        });
        ChatCall {
            opened,
            request: self,
            agent,
            settings,
            finished: false,
        }
    }
}

fn strings(items: &[String]) -> OtelValue {
    OtelValue::Array(Array::String(
        items.iter().map(|s| StringValue::from(s.clone())).collect(),
    ))
}

/// What the model answered.
#[derive(Debug, Clone, Default)]
pub struct ChatResponse {
    id: Option<String>,
    model: Option<String>,
    finish_reasons: Vec<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
    output: Vec<Message>,
}

impl ChatResponse {
    /// An empty response; set what the provider said.
    pub fn new() -> Self {
        Self::default()
    }
    /// `gen_ai.response.id`.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// `gen_ai.response.model`.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    /// Adds to `gen_ai.response.finish_reasons`.
    pub fn finish_reason(mut self, reason: impl Into<String>) -> Self {
        self.finish_reasons.push(reason.into());
        self
    }
    /// `gen_ai.usage.input_tokens` and `output_tokens`.
    pub fn usage(mut self, input: u64, output: u64) -> Self {
        self.input_tokens = Some(input);
        self.output_tokens = Some(output);
        self
    }
    /// `gen_ai.usage.cache_read.input_tokens`.
    pub fn cache_read_tokens(mut self, n: u64) -> Self {
        self.cache_read_tokens = Some(n);
        self
    }
    /// `gen_ai.usage.reasoning.output_tokens`.
    pub fn reasoning_tokens(mut self, n: u64) -> Self {
        self.reasoning_tokens = Some(n);
        self
    }
    /// The messages received (`gen_ai.output.messages`, content).
    pub fn output(mut self, messages: Vec<Message>) -> Self {
        self.output = messages;
        self
    }
}

/// A model call under way: the `chat {model}` span. [`finish`](Self::finish)
/// it with the response, or [`fail`](Self::fail) it; dropped unfinished, it
/// counts as cancelled. Either way the metrics are recorded and one
/// [`LlmCall`] event is emitted.
#[derive(Debug)]
pub struct ChatCall {
    opened: Opened,
    request: ChatRequest,
    agent: Option<Arc<RunInfo>>,
    settings: Settings,
    finished: bool,
}

impl ChatCall {
    /// The span, to enter or instrument with.
    pub fn span(&self) -> &tracing::Span {
        &self.opened.span
    }
    /// The call's context (its span id is the span's).
    pub fn context(&self) -> &Context {
        &self.opened.context
    }
    /// Runs `future` (the HTTP request) inside the call's span and context.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        self.opened.scope(future)
    }

    /// The model answered.
    pub fn finish(mut self, response: ChatResponse) {
        let span = &self.opened.span;
        if let Some(id) = &response.id {
            span.record("gen_ai.response.id", id.as_str());
        }
        if let Some(model) = &response.model {
            span.record("gen_ai.response.model", model.as_str());
        }
        if !response.finish_reasons.is_empty() {
            span.set_attribute("gen_ai.response.finish_reasons", strings(&response.finish_reasons));
        }
        let counts = [
            ("gen_ai.usage.input_tokens", response.input_tokens),
            ("gen_ai.usage.output_tokens", response.output_tokens),
            ("gen_ai.usage.cache_read.input_tokens", response.cache_read_tokens),
            ("gen_ai.usage.reasoning.output_tokens", response.reasoning_tokens),
        ];
        for (key, value) in counts {
            if let Some(value) = value {
                span.record(key, value);
            }
        }
        if !response.output.is_empty() {
            let text = content::messages_attribute(
                &response.output,
                self.settings.capture_content,
                self.settings.max_content_bytes,
            );
            span.record("gen_ai.output.messages", text.as_str());
        }
        if let Some(agent) = &self.agent {
            agent
                .input_tokens
                .fetch_add(response.input_tokens.unwrap_or(0), Ordering::Relaxed);
            agent
                .output_tokens
                .fetch_add(response.output_tokens.unwrap_or(0), Ordering::Relaxed);
        }
        self.end(Some(&response), None);
    }

    /// The call failed (`error.type`: an exception type, an HTTP status...).
    pub fn fail(mut self, error_type: &str) {
        self.opened.error(error_type);
        self.end(None, Some(error_type));
    }

    fn end(&mut self, response: Option<&ChatResponse>, error: Option<&str>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let duration = self.opened.started.elapsed();
        let outcome = match (response, error) {
            (Some(_), _) => "ok",
            (None, Some(_)) => "error",
            (None, None) => "cancelled",
        };
        metrics::record(&metrics::Measured {
            operation: "chat",
            provider: &self.request.provider,
            request_model: &self.request.model,
            response_model: response.and_then(|r| r.model.as_deref()),
            server_address: self.request.server.as_ref().map(|(a, _)| a.as_str()),
            error_type: error.or((outcome == "cancelled").then_some("cancelled")),
            duration,
            input_tokens: response.and_then(|r| r.input_tokens),
            output_tokens: response.and_then(|r| r.output_tokens),
        });
        let call = LlmCall {
            operation: "chat".into(),
            provider: self.request.provider.clone(),
            model: self.request.model.clone(),
            response_model: response.and_then(|r| r.model.clone()),
            agent: self.agent.as_ref().map(|a| a.name.clone()),
            input_tokens: response.and_then(|r| r.input_tokens),
            output_tokens: response.and_then(|r| r.output_tokens),
            cache_read_tokens: response.and_then(|r| r.cache_read_tokens),
            reasoning_tokens: response.and_then(|r| r.reasoning_tokens),
            duration_ms: duration.as_secs_f64() * 1000.0,
            finish_reason: response.and_then(|r| r.finish_reasons.first().cloned()),
            outcome: outcome.into(),
            error_type: error.map(str::to_string),
        };
        emit_call(&self.settings, &self.opened.context, call);
    }
}

impl Drop for ChatCall {
    fn drop(&mut self) {
        if !self.finished {
            self.opened.error("cancelled");
            self.end(None, None);
        }
    }
}

fn emit_call(settings: &Settings, context: &Context, call: LlmCall) {
    match &settings.on_call {
        Some(f) => f(context, &call),
        None => context.emit(call),
    }
}

/// A tool call about to run: `execute_tool {tool}`.
#[derive(Debug, Clone)]
pub struct ToolCall {
    name: String,
    call_id: Option<String>,
    kind: String,
    arguments: Option<Value>,
}

impl ToolCall {
    /// A call of the tool `name` (`gen_ai.tool.name`).
    pub fn new(name: impl Into<String>) -> Self {
        ToolCall {
            name: name.into(),
            call_id: None,
            kind: "function".into(),
            arguments: None,
        }
    }
    /// `gen_ai.tool.call.id`, the id the model gave the call.
    pub fn call_id(mut self, id: impl Into<String>) -> Self {
        self.call_id = Some(id.into());
        self
    }
    /// `gen_ai.tool.type`: `function` (default), `extension`, `datastore`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }
    /// `gen_ai.tool.call.arguments` (content).
    pub fn arguments(mut self, arguments: Value) -> Self {
        self.arguments = Some(arguments);
        self
    }
    /// Starts the call outside any agent run.
    pub fn start(self) -> ToolSpan {
        self.open(None, None)
    }

    fn open(self, parent: Option<&Opened>, agent: Option<&Arc<RunInfo>>) -> ToolSpan {
        let settings = settings();
        let opened = Opened::new(parent, || {
            let span = tracing::info_span!(target: "telemetry::genai", "execute_tool",
                otel.name = %format!("execute_tool {}", self.name), otel.kind = "internal",
                otel.status_code = Empty, error.type = Empty,
                gen_ai.operation.name = "execute_tool", gen_ai.tool.name = %self.name,
                gen_ai.tool.call.id = Empty, gen_ai.tool.type = %self.kind,
                gen_ai.agent.name = Empty, gen_ai.agent.call.id = Empty, gen_ai.conversation.id = Empty,
                gen_ai.tool.call.arguments = Empty, gen_ai.tool.call.result = Empty,
                logfire.json_schema = Empty);
            if let Some(id) = &self.call_id {
                span.record("gen_ai.tool.call.id", id.as_str());
            }
            if let Some(agent) = agent {
                agent.record_on(&span);
            }
            if settings.capture_content {
                if let Some(arguments) = &self.arguments {
                    let text = content::content_attribute(arguments.clone(), settings.max_content_bytes);
                    span.record("gen_ai.tool.call.arguments", text.as_str());
                }
                span.record(
                    "logfire.json_schema",
                    content::json_schema(&["gen_ai.tool.call.arguments", "gen_ai.tool.call.result"]).as_str(),
                );
            }
            span
        });
        ToolSpan { opened, settings }
    }
}

/// A tool call under way.
#[derive(Debug)]
pub struct ToolSpan {
    opened: Opened,
    settings: Settings,
}

impl ToolSpan {
    /// The span, to enter or instrument with.
    pub fn span(&self) -> &tracing::Span {
        &self.opened.span
    }
    /// The call's context.
    pub fn context(&self) -> &Context {
        &self.opened.context
    }
    /// Runs `future` (the tool) inside the call's span and context.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        self.opened.scope(future)
    }
    /// The tool returned `result` (`gen_ai.tool.call.result`, content).
    pub fn finish(self, result: Value) {
        if self.settings.capture_content {
            let text = content::content_attribute(result, self.settings.max_content_bytes);
            self.opened.span.record("gen_ai.tool.call.result", text.as_str());
        }
    }
    /// The tool failed.
    pub fn fail(self, error_type: &str) {
        self.opened.error(error_type);
    }
}

/// An embeddings call: `embeddings {model}`.
#[derive(Debug, Clone)]
pub struct Embeddings {
    provider: String,
    model: String,
    server: Option<(String, u16)>,
}

impl Embeddings {
    /// A call to `model` at `provider`.
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        Embeddings {
            provider: provider.into(),
            model: model.into(),
            server: None,
        }
    }
    /// `server.address` and `server.port`.
    pub fn server(mut self, address: impl Into<String>, port: u16) -> Self {
        self.server = Some((address.into(), port));
        self
    }
    /// Starts the call under the current span and context.
    pub fn start(self) -> EmbeddingsCall {
        let opened = Opened::new(None, || {
            let span = tracing::info_span!(target: "telemetry::genai", "embeddings",
                otel.name = %format!("embeddings {}", self.model), otel.kind = "client",
                otel.status_code = Empty, error.type = Empty,
                gen_ai.operation.name = "embeddings", gen_ai.provider.name = %self.provider,
                gen_ai.system = %self.provider, gen_ai.request.model = %self.model,
                server.address = Empty, server.port = Empty,
                gen_ai.response.model = Empty, gen_ai.usage.input_tokens = Empty,
                gen_ai.embeddings.dimension.count = Empty);
            if let Some((address, port)) = &self.server {
                span.record("server.address", address.as_str());
                span.record("server.port", i64::from(*port));
            }
            span
        });
        EmbeddingsCall {
            opened,
            request: self,
            settings: settings(),
        }
    }
}

/// An embeddings call under way.
#[derive(Debug)]
pub struct EmbeddingsCall {
    opened: Opened,
    request: Embeddings,
    settings: Settings,
}

impl EmbeddingsCall {
    /// The span.
    pub fn span(&self) -> &tracing::Span {
        &self.opened.span
    }
    /// Runs `future` inside the call's span and context.
    pub fn scope<F: Future>(&self, future: F) -> impl Future<Output = F::Output> {
        self.opened.scope(future)
    }
    /// The provider answered: the tokens read, and the vectors' dimension.
    pub fn finish(self, input_tokens: u64, dimensions: u64) {
        let span = &self.opened.span;
        span.record("gen_ai.usage.input_tokens", input_tokens);
        span.record("gen_ai.embeddings.dimension.count", dimensions);
        let duration = self.opened.started.elapsed();
        metrics::record(&metrics::Measured {
            operation: "embeddings",
            provider: &self.request.provider,
            request_model: &self.request.model,
            response_model: None,
            server_address: self.request.server.as_ref().map(|(a, _)| a.as_str()),
            error_type: None,
            duration,
            input_tokens: Some(input_tokens),
            output_tokens: None,
        });
        let call = LlmCall {
            operation: "embeddings".into(),
            provider: self.request.provider.clone(),
            model: self.request.model.clone(),
            response_model: None,
            agent: None,
            input_tokens: Some(input_tokens),
            output_tokens: None,
            cache_read_tokens: None,
            reasoning_tokens: None,
            duration_ms: duration.as_secs_f64() * 1000.0,
            finish_reason: None,
            outcome: "ok".into(),
            error_type: None,
        };
        emit_call(&self.settings, &self.opened.context, call);
    }
}
