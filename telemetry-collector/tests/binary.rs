//! The real `telemetry-collector` binary, spawned as a process: serve from
//! flags and from `TELEMETRY_COLLECTOR_*`, the reading commands, SIGTERM, and
//! a SIGKILL mid-ingestion with the SDK retrying into a restarted process.

mod support;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{event, request};

const BIN: &str = env!("CARGO_BIN_EXE_telemetry-collector");

/// A `serve` process and the URL it printed.
struct Served {
    child: Child,
    url: String,
}

fn serve(db: &Path, listen: &str, env: &[(&str, &str)]) -> Served {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve").stdout(Stdio::piped()).stderr(Stdio::null());
    if env.is_empty() {
        cmd.arg("--db").arg(db).arg("--listen").arg(listen);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Served { child, url }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// POSTs events and returns the 200 answer (these tests run no async runtime of their own).
fn post(url: &str, body: &Value) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .post(format!("{url}/v1/events"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    })
}

#[test]
fn serve_then_query_stats_rejected_and_tail_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&dir.path().join("t.db"), "127.0.0.1:0", &[]);
    let mut bad = event(99);
    bad["event_type"] = "9lives".into();
    let answer = post(&server.url, &request((0..30).map(event).chain([bad]).collect()));
    assert_eq!(answer["accepted"], 30);

    let (code, out, err) = cli(&[
        "query",
        "--url",
        &server.url,
        "--sid",
        "session_1",
        "--json",
        "--limit",
        "100",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6);
    assert!(lines.iter().all(|e| e["sid"] == "session_1"));

    let (code, out, _) = cli(&["query", "--url", &server.url, "--limit", "3"]);
    assert_eq!(code, 0);
    assert!(out.lines().next().unwrap().starts_with("timestamp"), "{out}");
    assert_eq!(out.lines().count(), 4, "a header and three rows: {out}");

    let (code, out, _) = cli(&["stats", "--url", &server.url, "--json"]);
    assert_eq!(code, 0);
    let stats: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["stored"]["events"], 30);
    let (_, out, _) = cli(&["stats", "--url", &server.url]);
    assert!(out.contains("30 events stored over 5 sessions"), "{out}");
    assert!(out.contains("app::svc::chat"), "{out}");

    let (code, out, _) = cli(&["rejected", "--url", &server.url, "--json"]);
    assert_eq!(code, 0);
    let rejected: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(rejected["reasons"][0]
        .as_str()
        .unwrap()
        .contains("must start with an ASCII letter"));

    // tail shows what comes after it started, then stops at --count.
    let mut tail = Command::new(BIN)
        .args([
            "tail",
            "--url",
            &server.url,
            "--json",
            "--count",
            "2",
            "--interval-ms",
            "50",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once tail says where it starts, what is posted next is what it shows.
    let mut started = String::new();
    BufReader::new(tail.stderr.take().unwrap())
        .read_line(&mut started)
        .unwrap();
    assert!(started.starts_with("following events stored after #30"), "{started}");
    post(&server.url, &request(vec![event(1000), event(1001)]));
    let out = tail.wait_with_output().unwrap();
    let tailed: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let durations: Vec<u64> = tailed
        .iter()
        .map(|e| e["event_data"]["duration_us"].as_u64().unwrap())
        .collect();
    assert_eq!(durations, [1000, 1001]);

    // A reader that goes away (`| head`): the command ends quietly, no panic.
    let mut query = Command::new(BIN)
        .args(["query", "--url", &server.url, "--limit", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(query.stdout.take());
    let out = query.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));

    let (code, _, err) = cli(&["stats", "--url", "http://127.0.0.1:1"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach"), "{err}");
}

#[test]
fn serve_takes_its_settings_from_the_environment_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("env.db");
    let mut server = serve(
        &db,
        "",
        &[
            ("TELEMETRY_COLLECTOR_DB", db.to_str().unwrap()),
            ("TELEMETRY_COLLECTOR_LISTEN", "127.0.0.1:0"),
            ("TELEMETRY_COLLECTOR_TOKEN", "t0ken"),
            ("TELEMETRY_COLLECTOR_DURABILITY", "full"),
        ],
    );
    let (code, _, err) = cli(&["stats", "--url", &server.url]);
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");
    let (code, _, err) = cli(&["stats", "--url", &server.url, "--token", "t0ken"]);
    assert_eq!(code, 0, "{err}");
    assert!(db.exists());
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// `serve` with `args`: its first two lines of output and the child.
fn serve_lines(args: &[&str]) -> (Child, String, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut first, mut second) = (String::new(), String::new());
    out.read_line(&mut first).unwrap();
    if !args.contains(&"--no-ui") {
        out.read_line(&mut second).unwrap();
    }
    (child, first.trim().to_string(), second.trim().to_string())
}

fn get_status(url: &str) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async { reqwest::get(url).await.unwrap().status().as_u16() })
}

#[test]
fn serve_prints_the_web_ui_address_on_loopback_and_no_ui_turns_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ui.db");
    let db = db.to_str().unwrap();
    let (mut child, first, second) = serve_lines(&["--db", db, "--listen", "127.0.0.1:0"]);
    let url = first.strip_prefix("listening on ").unwrap().to_string();
    assert_eq!(second, format!("web UI at {url}/"));
    assert_eq!(get_status(&format!("{url}/sessions/s1")), 200);
    let _ = child.kill();
    let _ = child.wait();

    let (mut child, first, _) = serve_lines(&["--db", db, "--listen", "127.0.0.1:0", "--no-ui"]);
    let url = first.strip_prefix("listening on ").unwrap().to_string();
    assert_eq!(get_status(&format!("{url}/")), 404);
    assert_eq!(get_status(&format!("{url}/healthz")), 200);
    let _ = child.kill();
    let _ = child.wait();

    let (code, _, err) = cli(&["serve", "--ui", "--no-ui"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--no-ui"), "{err}");
}

#[test]
fn a_bad_option_is_an_error_naming_it() {
    let (code, _, err) = cli(&["serve", "--durability", "sometimes"]);
    assert_eq!(code, 2);
    assert!(err.contains("durability") && err.contains("normal"), "{err}");
}

#[test]
fn a_sigkill_mid_ingestion_loses_nothing_and_stores_nothing_twice() {
    use telemetry::TelemetryEvent;
    #[derive(TelemetryEvent, serde::Serialize)]
    #[telemetry(event = "T_CRASH")]
    struct Crash {
        n: u64,
    }

    const TOTAL: u64 = 30_000;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let first = serve(&db, "127.0.0.1:0", &[]);
    let addr = first.url.trim_start_matches("http://").to_string();
    let guard = telemetry::Pipeline::builder()
        .endpoint(format!("{}/v1/events", first.url))
        .service("crash-test")
        .queue_capacity(TOTAL as usize)
        .batch_size(200)
        .flush_interval(Duration::from_millis(20))
        .start()
        .unwrap();
    let sink = guard.sink().unwrap();
    let mut first = Some(first);
    let mut delivered_at_kill = 0;
    telemetry::with_sink(sink, || {
        for n in 0..TOTAL {
            telemetry::emit(Crash { n });
            if n % 1000 == 999 {
                std::thread::sleep(Duration::from_millis(20));
            }
            if n == TOTAL / 2 {
                let mut server = first.take().unwrap();
                server.child.kill().unwrap(); // SIGKILL
                server.child.wait().unwrap();
                delivered_at_kill = guard.stats().delivered;
            }
        }
    });
    assert!(delivered_at_kill > 0, "nothing was delivered before the kill");
    // Every 200 the SDK saw before the kill is in the database.
    let stored_at_kill: u64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert!(
        stored_at_kill >= delivered_at_kill,
        "{stored_at_kill} stored < {delivered_at_kill} acknowledged"
    );

    let second = serve(&db, &addr, &[]);
    let stats = guard.shutdown(Duration::from_secs(60));
    assert_eq!(
        (stats.delivered, stats.dropped, stats.pending),
        (TOTAL, 0, 0),
        "{stats:?}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (count, distinct): (u64, u64) = conn
        .query_row(
            "SELECT COUNT(*), COUNT(DISTINCT json_extract(event_data, '$.n')) FROM events WHERE event_type = 'T_CRASH'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((count, distinct), (TOTAL, TOTAL));
    drop(second);
}

#[test]
fn catalog_diff_exits_1_on_a_breaking_change_that_kept_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let plan = |score: &str, version: u32| {
        serde_json::json!({
            "format": "telemetry-tracking-plan/1", "sdk": "telemetry-rust/0.1.0",
            "kinds": [{"event_type": "OE_MODERATION", "schema_version": version, "rust_path": "a::M",
                       "origin": "struct", "defined_at": "a.rs:1", "fields": [],
                       "schema": {"type": "object", "properties": {"score": {"type": score}}, "required": ["score"]}}]
        })
        .to_string()
    };
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let old = write("old.json", plan("number", 2));
    let same = write("same.json", plan("number", 2));
    let broken = write("broken.json", plan("string", 2));
    let bumped = write("bumped.json", plan("string", 3));
    let garbage = write("garbage.json", "{".into());

    let (code, out, _) = cli(&["catalog", "diff", &old, &same]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = cli(&["catalog", "diff", &old, &broken]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("event_data.score: type number -> string (breaking)"),
        "{out}"
    );
    let (code, out, _) = cli(&["catalog", "diff", &old, &broken, "--format", "json"]);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["breaking_without_version_bump"][0]["event_type"],
        "OE_MODERATION"
    );
    // The same change under a new version: v2 superseded, v3 added; nothing kept its version.
    let (code, out, _) = cli(&["catalog", "diff", &old, &bumped]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = cli(&["catalog", "diff", &old, &garbage]);
    assert_eq!(code, 2);
    assert!(err.contains("garbage.json"), "{err}");
}
