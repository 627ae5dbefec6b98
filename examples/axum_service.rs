//! The recipe for an axum service, as README's "An axum service" shows it: logs
//! that carry the ids, the context from each request's headers, work spawned
//! with it, and a shutdown on SIGTERM that loses nothing.
//!
//! ```sh
//! TELEMETRY_ENDPOINT=http://127.0.0.1:4318/v1/events cargo run --example axum_service
//! curl -H 'x-session-id: s1' -H 'x-user-id: u1' -d 'hello' http://127.0.0.1:3000/chat
//! ```
//!
//! With `--self-test` it starts a collector of its own, sends itself one request,
//! and stops as SIGTERM would stop it (what `cargo test` runs).

use std::error::Error;

use axum::routing::post;
use axum::Router;
use telemetry::http::TelemetryLayer;
use telemetry::{instrumented, TelemetryEvent};

/// A chat message came in.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_CHAT")]
struct ChatReceived {
    chars: usize,
}

/// The answer, as a service function: a span, one `OE_ANSWER` event per call.
#[instrumented(event = "OE_ANSWER", skip_all, fields(chars = question.len()))]
async fn answer(question: String) -> String {
    tracing::info!("answering"); // this log line carries uid, sid, trace_id, span_id
    question.to_uppercase()
}

async fn chat(question: String) -> String {
    telemetry::emit(ChatReceived { chars: question.len() });
    // A task of its own, so a client hanging up does not cancel the answer half-way:
    // `telemetry::spawn` takes the request's context and span along.
    telemetry::spawn(answer(question)).await.unwrap_or_default()
}

fn app() -> Router {
    Router::new()
        .route("/chat", post(chat))
        // uid, sid, gdata_id from x-user-id, x-session-id, x-content-id; the trace
        // from `traceparent`; one HTTP_REQUEST event per request.
        .layer(TelemetryLayer::new().request_events(true))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    if std::env::args().any(|a| a == "--self-test") {
        return self_test().await;
    }
    // Logs and the delivery pipeline in one call (TELEMETRY_* variables honoured).
    // The guard flushes both when dropped: keep it until the end of `main`.
    let telemetry = telemetry::logging::builder()
        .pipeline(telemetry::Pipeline::from_env()?.service("chat-api"))
        .try_init()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    axum::serve(listener, app())
        .with_graceful_shutdown(telemetry::shutdown_signal()) // SIGTERM or Ctrl-C
        .await?;
    drop(telemetry); // delivers what is still queued, then stops
    Ok(())
}

/// The same service against a collector of its own, for `cargo test`.
async fn self_test() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let collector = telemetry_collector::Collector::builder()
        .db(dir.path().join("telemetry.db"))
        .listen("127.0.0.1:0")
        .start()
        .await?;
    let telemetry = telemetry::logging::builder()
        .writer(std::io::sink())
        .pipeline(
            telemetry::Pipeline::builder()
                .endpoint(format!("{}/v1/events", collector.url()))
                .service("chat-api"),
        )
        .try_init()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/chat", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let reply = reqwest::Client::new()
        .post(&url)
        .header("x-session-id", "s_recipe")
        .body("hello")
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(reply, "HELLO");
    let _ = stop.send(());
    server.await??;
    drop(telemetry); // what `main` does after the graceful shutdown
                     // OE_CHAT, OE_ANSWER and HTTP_REQUEST: all delivered before the guard returned.
    let stored = collector.stats().accepted;
    collector.shutdown().await;
    if stored != 3 {
        return Err(format!("expected 3 events stored, got {stored}").into());
    }
    println!("axum_service self-test: 3 events stored");
    Ok(())
}
