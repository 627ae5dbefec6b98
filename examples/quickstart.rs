//! The README's main job: define typed events, instrument service functions,
//! propagate the user / session / content context from a "handler" into them and
//! a spawned task, and print every event exactly as it would go on the wire.
//!
//! Run: `cargo run --example quickstart`
//!
//! Events go to a sink that prints them, so the demo needs no collector (the
//! reference collector is a later issue; `telemetry::Pipeline` delivers to one
//! over HTTP). The printing happens on the caller's thread only because this is
//! a demo: the real sink serializes on its own worker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use telemetry::{instrumented, Context, EnvelopeConfig, EventRecord, FutureExt as _, Sink, TelemetryEvent};

/// A moderation decision on a user's message.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_MODERATION", version = 2)]
struct Moderation {
    verdict: &'static str,
    score: f32,
    /// The message itself never leaves the process.
    #[telemetry(redact)]
    text: String,
}

/// A chat answer was produced.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_ANSWER")]
struct Answer {
    output_chars: u32,
    model: &'static str,
    /// Not marked `redact`, yet never sent: scrubbing catches keys like `*token*`.
    api_token: &'static str,
}

#[derive(Debug)]
struct QuotaExceeded(u32);

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "quota exceeded: {} requests today", self.0)
    }
}

/// The service layer knows nothing of users or sessions, yet its events carry
/// them. Each call is a `tracing` span and one `OE_INTERACT` event.
#[instrumented(event = "OE_INTERACT", skip(text), fields(text_len = text.len()))]
async fn moderate(text: &str) -> &'static str {
    let verdict = if text.contains("spam") { "block" } else { "allow" };
    telemetry::record("verdict", verdict);
    // A typed event inside carries this call's span id.
    telemetry::emit(Moderation {
        verdict,
        score: 0.12,
        text: text.to_string(),
    });
    verdict
}

#[instrumented(event = "OE_INTERACT", fields(used), err)]
fn check_quota(used: u32) -> Result<u32, QuotaExceeded> {
    if used >= 100 {
        return Err(QuotaExceeded(used));
    }
    Ok(100 - used)
}

#[instrumented(event = "OE_INTERACT")]
async fn answer() {
    telemetry::emit(Answer {
        output_chars: 420,
        model: "small-1",
        api_token: "sk_live_123",
    });
}

/// Prints each event as one JSON line.
struct PrintSink {
    config: EnvelopeConfig,
    printed: AtomicUsize,
}

impl Sink for PrintSink {
    fn accept(&self, record: EventRecord) {
        match record.to_envelope(&self.config) {
            Ok(envelope) => {
                self.printed.fetch_add(1, Ordering::Relaxed);
                println!("{}", String::from_utf8_lossy(&envelope.to_json()));
            }
            Err(e) => eprintln!("rejected: {e}"),
        }
    }
}

/// What an HTTP handler does: build the context from the request, run the work in it.
async fn handle_chat(uid: &str, sid: &str, query_id: &str, text: &str, used_today: u32) {
    let ctx = Context::new().with_uid(uid).with_sid(sid).with_gdata_id(query_id);
    ctx.scope(async {
        if check_quota(used_today).is_err() {
            return;
        }
        if moderate(text).await == "allow" {
            // Background work keeps the context only when asked.
            tokio::spawn(answer().with_current_context())
                .await
                .expect("answer task");
        }
    })
    .await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // What the linked program defines, checked once at start-up.
    let catalog = telemetry::catalog();
    catalog.check().expect("conflicting event kinds");
    for kind in catalog.kinds() {
        let fields: Vec<String> = kind
            .fields
            .iter()
            .map(|f| format!("{}: {}", f.name, f.json_type))
            .collect();
        eprintln!(
            "kind {} v{} ({}) {{{}}} declared fields {:?}",
            kind.event_type,
            kind.schema_version,
            kind.rust_path,
            fields.join(", "),
            kind.declared_fields
        );
    }

    let sink = Arc::new(PrintSink {
        config: EnvelopeConfig::default()
            .with_service("quickstart")
            .with_service_version(env!("CARGO_PKG_VERSION")),
        printed: AtomicUsize::new(0),
    });
    telemetry::set_global_sink(sink.clone());

    handle_chat("user_123", "session_abc", "q_1", "how do I bake bread?", 3).await;
    handle_chat("user_456", "session_def", "q_2", "buy spam now", 41).await;
    handle_chat("user_789", "session_ghi", "q_3", "one more?", 100).await;

    eprintln!("{} events printed", sink.printed.load(Ordering::Relaxed));
}
