//! The reading commands: each asks a running collector over its API.

use std::time::Duration;

use clap::Args;
use serde_json::Value;
use telemetry_collector::client::Client;

use super::output;

#[derive(Args, Debug)]
pub struct ConnectArgs {
    /// The collector's base URL.
    #[arg(long, env = "TELEMETRY_COLLECTOR_URL", default_value = "http://127.0.0.1:4318")]
    url: String,
    /// Its bearer token.
    #[arg(long, env = "TELEMETRY_COLLECTOR_TOKEN")]
    token: Option<String>,
    /// JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

impl ConnectArgs {
    fn client(&self) -> Client {
        Client::new(&self.url, self.token.clone())
    }
}

#[derive(Args, Debug)]
pub struct Filters {
    /// Only this kind.
    #[arg(long)]
    event_type: Option<String>,
    /// Only this session.
    #[arg(long)]
    sid: Option<String>,
    /// Only this user.
    #[arg(long)]
    uid: Option<String>,
    /// Only this content id.
    #[arg(long)]
    gdata_id: Option<String>,
    /// Only this trace.
    #[arg(long)]
    trace_id: Option<String>,
    /// Only this service.
    #[arg(long)]
    service: Option<String>,
}

impl Filters {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("event_type", &self.event_type),
            ("sid", &self.sid),
            ("uid", &self.uid),
            ("gdata_id", &self.gdata_id),
            ("trace_id", &self.trace_id),
            ("service", &self.service),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    filters: Filters,
    /// Events at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Events before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// How many events (newest first).
    #[arg(long, default_value_t = 20)]
    limit: u32,
}

pub async fn query(args: QueryArgs) -> Result<(), String> {
    let mut query = args.filters.pairs();
    query.extend(args.since.map(|v| ("since", v)));
    query.extend(args.until.map(|v| ("until", v)));
    let client = args.connect.client();
    let mut printed = 0u32;
    let mut cursor: Option<String> = None;
    let mut table = output::EventTable::new(args.connect.json);
    while printed < args.limit {
        let mut q = query.clone();
        q.push(("limit", (args.limit - printed).min(1000).to_string()));
        q.extend(cursor.clone().map(|c| ("cursor", c)));
        let page = client.get("/v1/events", &q).await?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        printed += events.len() as u32;
        for event in &events {
            table.row(event);
        }
        match page["next_cursor"].as_str() {
            Some(next) if !events.is_empty() => cursor = Some(next.to_string()),
            _ => break,
        }
    }
    table.finish();
    Ok(())
}

#[derive(Args, Debug)]
pub struct TailArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    filters: Filters,
    /// How often to ask, in milliseconds.
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
    /// Stop after this many events (0: follow until interrupted).
    #[arg(long, default_value_t = 0)]
    count: u64,
}

/// Follows new events: asks for those stored after the last one seen.
pub async fn tail(args: TailArgs) -> Result<(), String> {
    let client = args.connect.client();
    // Start after the last event stored (by storage order, not event time: a
    // sender with a clock ahead must not make tail replay the past).
    let newest = client.get("/v1/events", &[("limit", "1".to_string())]).await?;
    let mut after = newest["last_seq"].as_i64().unwrap_or(0);
    eprintln!("following events stored after #{after} (Ctrl-C to stop)");
    let mut table = output::EventTable::new(args.connect.json);
    let mut seen = 0u64;
    loop {
        let mut q = args.filters.pairs();
        q.push(("after_seq", after.to_string()));
        q.push(("limit", "1000".to_string()));
        let page = client.get("/v1/events", &q).await?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        for event in &events {
            after = after.max(event["seq"].as_i64().unwrap_or(after));
            table.row(event);
            table.flush();
            seen += 1;
            if args.count > 0 && seen >= args.count {
                return Ok(());
            }
        }
        if events.len() < 1000 {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
    }
}

pub async fn stats(args: ConnectArgs) -> Result<(), String> {
    let stats = args.client().get("/v1/stats", &[]).await?;
    if args.json {
        outln!("{stats}");
    } else {
        output::print_stats(&stats);
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct RejectedArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// How many (newest first).
    #[arg(long, default_value_t = 20)]
    limit: u32,
    /// Check every kept rejection again under the collector's current rules and
    /// plan, and store those that now pass.
    #[arg(long)]
    replay: bool,
}

pub async fn rejected(args: RejectedArgs) -> Result<(), String> {
    if args.replay {
        let answer = args.connect.client().post("/v1/rejected/replay").await?;
        if args.connect.json {
            outln!("{answer}");
        } else {
            outln!(
                "{} replayed and stored ({} of them already were), {} still rejected",
                cell(&answer["replayed"]),
                cell(&answer["duplicates"]),
                cell(&answer["still_rejected"])
            );
        }
        return Ok(());
    }
    let page = args
        .connect
        .client()
        .get("/v1/rejected", &[("limit", args.limit.to_string())])
        .await?;
    let rows = page["rejected"].as_array().cloned().unwrap_or_default();
    if args.connect.json {
        for row in rows {
            outln!("{row}");
        }
    } else {
        output::print_rejected(&rows);
    }
    Ok(())
}

pub async fn catalog(args: ConnectArgs) -> Result<(), String> {
    let plan = args.client().get("/v1/catalog", &[]).await?;
    if args.json {
        outln!("{plan}");
    } else {
        output::print_plan(&plan);
    }
    Ok(())
}

/// A value as short text for a table cell: control characters escaped (an id
/// from an event must not drive the terminal) and at most 80 characters.
pub fn cell(v: &Value) -> String {
    let text = match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if i == 80 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
