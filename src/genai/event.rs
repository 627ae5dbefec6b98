//! The product event of a model call: what no tracing SDK gives, LLM use per
//! user and session, answered by the collector alone.

use crate::TelemetryEvent;

/// One model call (`chat`, `embeddings`): `OE_LLM_CALL` v1, emitted when the
/// call finishes (or fails, or is dropped unfinished), in the call's context:
/// its `uid`/`sid`/`gdata_id`, and its span as `span_id`. "Tokens per user per
/// day" is a `GROUP BY uid, day` over these; "cost per session" a sum by `sid`.
///
/// To send your own kind instead (another name, more fields), see
/// [`Settings::on_call`](super::Settings::on_call).
#[derive(TelemetryEvent, serde::Serialize, Debug, Clone, PartialEq)]
#[telemetry(event = "OE_LLM_CALL", version = 1, crate = "crate")]
pub struct LlmCall {
    /// `chat` or `embeddings`.
    pub operation: String,
    /// `openai`, `anthropic`, `gcp.vertex_ai`... (`gen_ai.provider.name`).
    pub provider: String,
    /// The model asked for.
    pub model: String,
    /// The model that answered, when the provider says.
    pub response_model: Option<String>,
    /// The agent the call was made for, if any.
    pub agent: Option<String>,
    /// Prompt tokens.
    pub input_tokens: Option<u64>,
    /// Completion tokens.
    pub output_tokens: Option<u64>,
    /// Prompt tokens served from the provider's cache.
    pub cache_read_tokens: Option<u64>,
    /// Reasoning tokens (part of the output).
    pub reasoning_tokens: Option<u64>,
    /// From the call's start to its end, in milliseconds.
    pub duration_ms: f64,
    /// The first finish reason (`stop`, `tool_calls`, `length`...).
    pub finish_reason: Option<String>,
    /// `ok`, `error` or `cancelled` (dropped before it finished).
    pub outcome: String,
    /// The error's type when `outcome` is `error`.
    pub error_type: Option<String>,
}
