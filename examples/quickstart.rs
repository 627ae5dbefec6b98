//! The README's main job: the whole loop on one machine, in one process.
//!
//! 1. The reference collector (`telemetry-collector`) starts on a loopback port,
//!    storing into a SQLite file in a new temporary directory (kept afterwards).
//! 2. The delivery pipeline is installed pointing at it, as a service does in `main`.
//! 3. A small instrumented axum chat service ("chat-api") starts on another port.
//! 4. A client drives a few hundred requests over a few dozen sessions through it.
//! 5. The pipeline is shut down (everything queued is delivered) and its counters printed.
//! 6. A report is read back from the collector over its HTTP API: what it stored,
//!    the sessions, the latency of each service function, the plan it learned.
//!
//! Run: `cargo run --example quickstart`; add `-- --keep-open` to keep the
//! collector running after the report (until Ctrl-C) and explore it with the
//! `telemetry-collector` CLI or in the web UI it serves (its address is
//! printed). Lines starting with `report: ` are a stable format: `.ci/run`
//! checks their numbers.
//!
//! The traffic is deterministic (every "random" choice is a hash of the request's
//! ids), so every run stores the same events; only times and durations differ.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::error::Error;
use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use telemetry::{instrumented, Context, TelemetryEvent};
use telemetry_collector::client::Client;
use telemetry_collector::Collector;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type BoxError = Box<dyn Error + Send + Sync>;

/// `source.service` of every event, and the declarer of the plan.
const SERVICE: &str = "chat-api";
const SERVICE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The traffic: sessions, requests in all, and how many clients talk at once.
const SESSIONS: usize = 30;
const REQUESTS: usize = 300;
const CONCURRENCY: usize = 4;
/// Sessions belong to fewer users, so the heavier users run into their quota.
const USERS: usize = 12;
/// Requests a user may make per day.
const DAILY_LIMIT: u32 = 24;
/// How long shutting the pipeline down may take to deliver what is queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Event kinds: structs, checked at compile time, listed in the catalog.

/// A session began: the first request the service saw with this `sid`.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "OE_START")]
struct SessionStart {
    /// The client application, from its `user-agent`.
    client: String,
}

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
    /// Not marked `redact`, yet never sent: scrubbing catches keys like `*_token`.
    api_token: &'static str,
}

// ---------------------------------------------------------------------------
// The service layer. It knows nothing of users or sessions, yet its events carry
// them: each call is a `tracing` span and one `OE_INTERACT` event, in the context
// of the request that made it.

#[derive(Debug)]
struct QuotaExceeded {
    used: u32,
}

impl std::fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "quota exceeded: {} of {DAILY_LIMIT} requests used today", self.used)
    }
}

#[derive(Debug)]
struct ModelOverloaded;

impl std::fmt::Display for ModelOverloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("model small-1 is overloaded, try again later")
    }
}

/// `err`: a returned `Err` makes the event's `outcome` `error`, with its text.
#[instrumented(event = "OE_INTERACT", fields(used), err)]
fn check_quota(used: u32) -> Result<u32, QuotaExceeded> {
    if used >= DAILY_LIMIT {
        return Err(QuotaExceeded { used });
    }
    Ok(DAILY_LIMIT - used)
}

/// The message is not recorded (`skip`), only its length.
#[instrumented(event = "OE_INTERACT", skip(text), fields(text_len = text.len()))]
async fn moderate(text: &str) -> &'static str {
    // A classifier call takes a moment.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let (verdict, score) = if text.contains("spam") {
        ("block", 0.97)
    } else {
        ("allow", 0.04)
    };
    telemetry::record("verdict", verdict);
    // A typed event inside an instrumented call carries the call's span id.
    telemetry::emit(Moderation {
        verdict,
        score,
        text: text.to_string(),
    });
    verdict
}

/// The model call. `roll` stands in for the model's mood (a hash of the
/// message's id, so every run is the same): one call in 25 fails, one in 20 is
/// slow, which gives the latency a tail for p99 to show.
#[instrumented(event = "OE_INTERACT", skip(question, roll), fields(question_len = question.len()), err)]
async fn answer(question: String, roll: u64) -> Result<String, ModelOverloaded> {
    telemetry::record("model", "small-1");
    if roll.is_multiple_of(25) {
        return Err(ModelOverloaded);
    }
    let millis = if roll % 20 == 1 { 60 + roll % 40 } else { 3 + roll % 17 };
    tokio::time::sleep(Duration::from_millis(millis)).await;
    let reply = format!("Here is what I know about \"{}\"...", question.trim_end_matches('?'));
    telemetry::emit(Answer {
        output_chars: reply.chars().count() as u32,
        model: "small-1",
        api_token: "sk_live_123",
    });
    Ok(reply)
}

// ---------------------------------------------------------------------------
// The chat service: axum, with the telemetry context taken from the headers by
// `telemetry::http::TelemetryLayer`.

/// What a real chat service would keep in a database.
#[derive(Default)]
struct ChatState {
    /// Sessions seen so far: the first request of a `sid` starts its session.
    sessions: Mutex<HashSet<String>>,
    /// Requests let through today, per user.
    used: Mutex<HashMap<String, u32>>,
}

/// A lock that a panicked request cannot make unusable for the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(serde::Deserialize)]
struct ChatRequest {
    text: String,
}

/// `POST /v1/chat`: 200 with a reply, 429 over quota, 422 blocked, 503 model overloaded.
async fn chat(State(state): State<Arc<ChatState>>, headers: HeaderMap, Json(req): Json<ChatRequest>) -> Response {
    let ctx = Context::current();
    if let Some(sid) = ctx.sid() {
        if lock(&state.sessions).insert(sid.to_owned()) {
            let client = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
            telemetry::emit(SessionStart {
                client: client.unwrap_or("unknown").to_owned(),
            });
        }
    }

    let uid = ctx.uid().unwrap_or("anonymous").to_owned();
    let used = lock(&state.used).get(&uid).copied().unwrap_or(0);
    if let Err(e) = check_quota(used) {
        return (StatusCode::TOO_MANY_REQUESTS, e.to_string()).into_response();
    }
    *lock(&state.used).entry(uid).or_default() += 1;

    if moderate(&req.text).await == "block" {
        return (StatusCode::UNPROCESSABLE_ENTITY, "blocked by moderation").into_response();
    }

    // The model call runs on its own task, as a real service would run it so that
    // a client hanging up does not cancel it half-way. `telemetry::spawn` takes
    // the context and span along; a plain `tokio::spawn` would carry no ids.
    let roll = roll(ctx.gdata_id().unwrap_or_default(), "model");
    match telemetry::spawn(answer(req.text, roll)).await {
        Ok(Ok(reply)) => Json(json!({ "reply": reply })).into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The running chat service.
struct ChatApi {
    url: String,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
}

impl ChatApi {
    async fn start() -> Result<ChatApi, BoxError> {
        let app = Router::new()
            .route("/v1/chat", post(chat))
            // The request's context from `x-user-id`, `x-session-id`, `x-content-id`
            // and W3C `traceparent`; one `HTTP_REQUEST` event per request.
            .layer(telemetry::http::TelemetryLayer::new().request_events(true))
            .with_state(Arc::new(ChatState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = served.await {
                eprintln!("chat-api stopped: {e}");
            }
        });
        Ok(ChatApi { url, stop, server })
    }

    /// Stops taking requests and waits for those in progress.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
    }
}

// ---------------------------------------------------------------------------
// The traffic: a few dozen conversations, a few at a time.

/// A number from a string: the same on every run and every platform (FNV-1a,
/// then a SplitMix64 finish so the low bits are as good as the high ones).
fn roll(key: &str, salt: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in salt.bytes().chain([0]).chain(key.bytes()) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

const QUESTIONS: &[&str] = &[
    "how do I bake bread?",
    "what is a sourdough starter?",
    "summarize this article for me",
    "translate 'good morning' into French",
    "why is the sky blue?",
    "write a haiku about autumn",
    "how long should I boil an egg?",
    "explain rust lifetimes simply",
];
const SPAM: &str = "buy cheap followers now!!! spam spam";
const CLIENTS: &[&str] = &["chat-web/3.2", "chat-ios/2.9", "chat-android/2.8"];

/// One conversation.
struct SessionPlan {
    index: usize,
    uid: String,
    sid: String,
    client: &'static str,
    turns: usize,
}

/// The conversations, grouped by the client that plays them. A user's sessions
/// all go to one client and run one after the other, so the quota is reached on
/// the same requests every run.
fn plan() -> Vec<Vec<SessionPlan>> {
    let mut clients: Vec<Vec<SessionPlan>> = (0..CONCURRENCY).map(|_| Vec::new()).collect();
    for session in 0..SESSIONS {
        let user = session % USERS;
        // 8 to 12 turns, averaging REQUESTS / SESSIONS over every five sessions.
        let turns = REQUESTS / SESSIONS + session % 5 - 2;
        clients[user % CONCURRENCY].push(SessionPlan {
            index: session,
            uid: format!("user_{user:02}"),
            sid: format!("session_{session:02}"),
            client: CLIENTS[user % CLIENTS.len()],
            turns,
        });
    }
    clients
}

/// What driving the service did.
struct Driven {
    sessions: usize,
    requests: usize,
    by_status: BTreeMap<u16, usize>,
    elapsed: Duration,
}

async fn drive(chat_url: &str) -> Result<Driven, BoxError> {
    let plan = plan();
    let sessions = plan.iter().map(Vec::len).sum();
    let requests: usize = plan.iter().flatten().map(|s| s.turns).sum();
    let http = reqwest::Client::new();
    let done = Arc::new(AtomicUsize::new(0));
    let progress = tokio::spawn(show_progress(done.clone(), requests));
    let started = Instant::now();

    let mut clients = Vec::new();
    for conversations in plan {
        let (http, done, url) = (http.clone(), done.clone(), format!("{chat_url}/v1/chat"));
        clients.push(tokio::spawn(async move {
            let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
            for session in conversations {
                for turn in 0..session.turns {
                    // The message's id: the request's `gdata_id`.
                    let content_id = format!("msg_{:02}_{turn:02}", session.index);
                    let pick = roll(&content_id, "text");
                    let text = if pick.is_multiple_of(11) {
                        SPAM
                    } else {
                        QUESTIONS[(pick % QUESTIONS.len() as u64) as usize]
                    };
                    let response = http
                        .post(&url)
                        .header("x-user-id", &session.uid)
                        .header("x-session-id", &session.sid)
                        .header("x-content-id", &content_id)
                        .header(header::USER_AGENT, session.client)
                        .json(&json!({ "text": text }))
                        .send()
                        .await?;
                    *by_status.entry(response.status().as_u16()).or_default() += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<_, reqwest::Error>(by_status)
        }));
    }

    let mut by_status = BTreeMap::new();
    let mut failed = None;
    for client in clients {
        match client.await? {
            Ok(counts) => counts
                .into_iter()
                .for_each(|(s, n)| *by_status.entry(s).or_default() += n),
            Err(e) => failed = Some(e),
        }
    }
    progress.abort();
    draw_progress(done.load(Ordering::Relaxed), requests);
    eprintln!();
    if let Some(e) = failed {
        return Err(format!("the chat service did not answer: {e}").into());
    }
    Ok(Driven {
        sessions,
        requests,
        by_status,
        elapsed: started.elapsed(),
    })
}

/// Redraws the progress bar on stderr while the traffic runs (only on a
/// terminal: in a log, the final line alone is drawn, by `drive`).
async fn show_progress(done: Arc<AtomicUsize>, total: usize) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    loop {
        draw_progress(done.load(Ordering::Relaxed), total);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn draw_progress(done: usize, total: usize) {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH / total.max(1)).min(WIDTH);
    eprint!(
        "\r[{}{}] {done}/{total}",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled)
    );
}

// ---------------------------------------------------------------------------
// The report, read back from the collector.

/// A `[{key, count}]` list of `/v1/stats` as `key=count, ...`.
fn counts(list: &Value) -> String {
    let items: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}={}", c["key"].as_str().unwrap_or("?"), c["count"]))
        .collect();
    items.join(", ")
}

/// What the collector holds, read over its HTTP API (the same calls the
/// `telemetry-collector` CLI makes).
async fn report(client: &Client, pipeline: &telemetry::Stats, driven: &Driven) -> Result<(), BoxError> {
    let stats = client.get("/v1/stats", &[]).await?;
    let stored = &stats["stored"];
    println!();
    println!(
        "report: driven sessions={} requests={}",
        driven.sessions, driven.requests
    );
    println!(
        "report: emitted={} delivered={} stored={}",
        pipeline.emitted,
        pipeline.delivered,
        stored["events"].as_u64().unwrap_or(0)
    );
    println!("report: sessions={}", stored["sessions"].as_u64().unwrap_or(0));
    let mut by_kind: Vec<(&str, u64)> = stored["by_kind"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (c["key"].as_str().unwrap_or("?"), c["count"].as_u64().unwrap_or(0)))
        .collect();
    // By name, so the lines come in the same order on every run.
    by_kind.sort();
    for (kind, count) in by_kind {
        println!("report: kind {kind} = {count}");
    }
    println!("outcomes of OE_INTERACT: {}", counts(&stored["by_outcome"]));
    match stored["rejected"].as_u64().unwrap_or(0) {
        0 => println!("rejected by the collector: none"),
        n => println!(
            "rejected by the collector: {n} ({}); see GET /v1/rejected",
            counts(&stored["rejected_by_reason"])
        ),
    }

    println!("OE_INTERACT duration_us by function:");
    println!(
        "  {:<26} {:>6} {:>10} {:>10}",
        "function", "calls", "p50 (us)", "p99 (us)"
    );
    for d in stored["durations"].as_array().into_iter().flatten() {
        let function = format!(
            "{}::{}",
            d["module"].as_str().unwrap_or("?"),
            d["function"].as_str().unwrap_or("?")
        );
        let number = |key: &str| d[key].as_u64().unwrap_or(0);
        println!(
            "  {function:<26} {:>6} {:>10} {:>10}",
            number("calls"),
            number("p50_us"),
            number("p99_us")
        );
    }

    let plan = client.get("/v1/catalog", &[]).await?;
    let kinds = plan["kinds"].as_array().cloned().unwrap_or_default();
    println!("report: plan kinds={}", kinds.len());
    for kind in &kinds {
        let fields: Vec<String> = kind["entry"]["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                let redacted = if f["redacted"] == true { " (redacted)" } else { "" };
                format!(
                    "{}: {}{redacted}",
                    f["name"].as_str().unwrap_or("?"),
                    f["type"].as_str().unwrap_or("?")
                )
            })
            .collect();
        let declared_by: Vec<&str> = kind["declared_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["service"].as_str())
            .collect();
        println!(
            "  {} v{} {{{}}} declared by {}",
            kind["event_type"].as_str().unwrap_or("?"),
            kind["schema_version"],
            fields.join(", "),
            declared_by.join(", ")
        );
    }

    // One session as it happened: what `telemetry-collector query --sid` shows.
    let sid = "session_00";
    let session = client.get(&format!("/v1/sessions/{sid}"), &[]).await?;
    let events = session["events"].as_array().cloned().unwrap_or_default();
    println!("session {sid}, oldest first ({} events, the first 8):", events.len());
    for event in events.iter().take(8) {
        println!("  {}", describe(event));
    }
    Ok(())
}

/// One stored event as a line: time, kind, trace, and its most telling data.
fn describe(event: &Value) -> String {
    let data = &event["event_data"];
    let detail = match event["event_type"].as_str().unwrap_or("?") {
        "OE_INTERACT" => format!(
            "{} {} in {} us{}",
            data["function"].as_str().unwrap_or("?"),
            data["outcome"].as_str().unwrap_or("?"),
            data["duration_us"],
            data["error"].as_str().map(|e| format!(": {e}")).unwrap_or_default()
        ),
        _ => data.to_string(),
    };
    let time = event["timestamp"].as_str().unwrap_or("");
    let trace = event["trace_id"].as_str().unwrap_or("");
    format!(
        "{} {:<13} {} trace {}.. {detail}",
        time.get(11..26).unwrap_or(time),
        event["event_type"].as_str().unwrap_or("?"),
        event["gdata_id"].as_str().unwrap_or("-"),
        trace.get(..8).unwrap_or(trace)
    )
}

/// How to look further, with the collector's own CLI.
fn print_explore(db: &Path, live_url: Option<&str>) {
    let cli = "cargo run -p telemetry-collector --";
    println!("database: {}", db.display());
    println!("explore it:");
    let url = match live_url {
        Some(url) => url.to_string(),
        None => {
            println!("  {cli} serve --db {}   # reopen it, on 127.0.0.1:4318", db.display());
            "http://127.0.0.1:4318".to_string()
        }
    };
    println!("  {cli} stats --url {url}");
    println!("  {cli} query --url {url} --sid session_00");
    println!("  {cli} catalog show --url {url}");
    // The tracking plan as a file: what `serve --plan` enforces and `catalog diff` compares.
    let plan = db.with_file_name("plan.json");
    match std::fs::write(&plan, telemetry::catalog().to_json_pretty()) {
        Ok(()) => {
            println!(
                "  {cli} serve --db {} --plan {}   # enforce this plan",
                db.display(),
                plan.display()
            );
            println!(
                "  {cli} catalog diff {} NEW.json   # after a change to the kinds",
                plan.display()
            );
        }
        Err(e) => eprintln!("could not write {}: {e}", plan.display()),
    }
}

// ---------------------------------------------------------------------------

fn parse_args() -> Result<bool, BoxError> {
    let mut keep_open = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--keep-open" => keep_open = true,
            "-h" | "--help" => {
                println!("usage: cargo run --example quickstart [-- --keep-open]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --keep-open)").into()),
        }
    }
    Ok(keep_open)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let keep_open = parse_args()?;
    // Warnings of the pipeline and the collector (an unreachable endpoint, a plan
    // conflict) go to stderr; nothing else does.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .init();
    // What this program defines, checked once at start-up: two types claiming
    // one kind and version with different schemas would stop it here.
    telemetry::catalog().check()?;

    // 1. The collector, in this process, with its database in a directory that
    //    outlives the run so it can be explored afterwards.
    let dir = tempfile::Builder::new()
        .prefix("telemetry-quickstart-")
        .tempdir()?
        .keep();
    let db = dir.join("telemetry.db");
    let collector = Collector::builder().db(&db).listen("127.0.0.1:0").start().await?;
    let collector_url = collector.url().to_string();
    println!("collector: {collector_url}, database {}", db.display());
    if let Some(ui) = collector.ui_url() {
        println!("web UI: {ui} (add `-- --keep-open` to browse it after the run)");
    }

    // 2. The pipeline, as a service installs it: events are batched and sent in
    //    the background, no request ever waits for them, and the tracking plan
    //    (`telemetry::catalog()`) is declared to the collector when it starts.
    let pipeline = telemetry::Pipeline::builder()
        .endpoint(format!("{collector_url}/v1/events"))
        .service(SERVICE)
        .service_version(SERVICE_VERSION)
        .install()?;

    // 3. The chat service, and 4. its traffic.
    let chat_api = ChatApi::start().await?;
    println!(
        "{SERVICE}: {}, driving {REQUESTS} requests over {SESSIONS} sessions, {CONCURRENCY} at a time",
        chat_api.url
    );
    let driven = drive(&chat_api.url).await?;
    chat_api.stop().await;
    // The pipeline declares the plan in the background when it starts, and
    // shutdown does not wait for that: give it its turn, so the report has it.
    let declared_by = Instant::now() + Duration::from_secs(5);
    while pipeline.stats().catalog_sent == 0 && Instant::now() < declared_by {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let statuses: Vec<String> = driven.by_status.iter().map(|(s, n)| format!("{s} x {n}")).collect();
    println!(
        "driven: {} requests in {:.2} s: {}",
        driven.requests,
        driven.elapsed.as_secs_f64(),
        statuses.join(", ")
    );

    // 5. Delivery of what is still queued. `shutdown` blocks (it waits for the
    //    worker thread), so it runs off the async threads.
    let stats = tokio::task::spawn_blocking(move || pipeline.shutdown(FLUSH_TIMEOUT)).await?;
    println!(
        "pipeline: emitted={} delivered={} rejected={} dropped={} (duplicates {}, retried {}, pending {}; catalog sent {})",
        stats.emitted,
        stats.delivered,
        stats.rejected,
        stats.dropped,
        stats.duplicates,
        stats.retried,
        stats.pending,
        stats.catalog_sent
    );

    // 6. The report, read back over the collector's API.
    let client = Client::new(&collector_url, None);
    report(&client, &stats, &driven).await?;
    print_explore(&db, keep_open.then_some(collector_url.as_str()));

    // 7. Optionally, keep the collector up to explore it live, in the browser too.
    if keep_open {
        if let Some(ui) = collector.ui_url() {
            println!("web UI: {ui}   (sessions: {ui}sessions/session_00, plan: {ui}kinds)");
        }
        println!("the collector keeps running at {collector_url}; Ctrl-C to stop it");
        tokio::signal::ctrl_c().await?;
    }
    collector.shutdown().await;
    Ok(())
}
