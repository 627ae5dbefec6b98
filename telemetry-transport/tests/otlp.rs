//! Events as OTLP log records, against a real OTLP/HTTP server on loopback that
//! decodes every body with the `opentelemetry-proto` types: what a record holds
//! (protobuf and JSON), the `OTEL_*` configuration, and the fault scenarios of
//! `scenarios.rs` under OTLP's rules (only 429/502/503/504 and connection errors
//! are retried; 400, 500 and partial successes are final and counted).

mod otlp_support;
mod support;

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use otlp_support::{OtlpAction, OtlpServer};
use support::Numbered;
use telemetry_core::{Context, SpanId};
use telemetry_transport::{OtlpProtocol, Pipeline, PipelineBuilder, PipelineGuard, Stats};

/// An event with nested data, to check maps, arrays and integer types.
#[derive(serde::Serialize)]
struct Moderation {
    verdict: &'static str,
    score: f64,
    tokens: u64,
    huge: u64,
    labels: Vec<&'static str>,
    detail: Detail,
    outcome: &'static str,
}

#[derive(serde::Serialize)]
struct Detail {
    model: &'static str,
    flagged: bool,
    missing: Option<u8>,
}

impl telemetry_core::TelemetryEvent for Moderation {
    const KIND: &'static telemetry_core::EventKind = &telemetry_core::EventKind::new("OE_MODERATION", 2);
    fn write_event_data(&self, out: &mut telemetry_core::DataWriter<'_>) -> Result<(), telemetry_core::EventDataError> {
        out.serialize(self)
    }
}

fn moderation() -> Moderation {
    Moderation {
        verdict: "allow",
        score: 0.25,
        tokens: 42,
        huge: u64::MAX,
        labels: vec!["a", "b"],
        detail: Detail {
            model: "m1",
            flagged: false,
            missing: None,
        },
        outcome: "error",
    }
}

fn otlp(server: &OtlpServer) -> PipelineBuilder {
    Pipeline::builder()
        .otlp_endpoint(server.base())
        .service("chat-api")
        .service_version("1.2.3")
        .flush_interval(Duration::from_millis(50))
}

fn emit_n(guard: &PipelineGuard, count: u64) {
    telemetry_core::with_sink(guard.sink().expect("running"), || {
        for n in 0..count {
            telemetry_core::emit(Numbered::new(n));
        }
    });
}

fn attrs(kvs: &[KeyValue]) -> HashMap<String, Option<V>> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().and_then(|v| v.value)))
        .collect()
}

fn s(v: &str) -> Option<V> {
    Some(V::StringValue(v.into()))
}

fn records(server: &OtlpServer) -> Vec<LogRecord> {
    server
        .log_requests()
        .into_iter()
        .flat_map(|r| r.resource_logs)
        .flat_map(|r| r.scope_logs)
        .flat_map(|s| s.log_records)
        .collect()
}

/// The `n` of each record (the `Numbered` events), sorted.
fn numbers(server: &OtlpServer) -> Vec<i64> {
    let mut ns: Vec<i64> = records(server)
        .iter()
        .map(|r| match attrs(&r.attributes).get("n") {
            Some(Some(V::IntValue(n))) => *n,
            other => panic!("no n: {other:?}"),
        })
        .collect();
    ns.sort();
    ns
}

/// The counting invariant, as in `scenarios.rs`, and a row of the table.
fn assert_settled(stats: &Stats) {
    assert_eq!(
        stats.emitted,
        stats.delivered + stats.rejected + stats.dropped + stats.pending,
        "{stats:?}"
    );
    assert_eq!(stats.pending, 0, "{stats:?}");
    let scenario = std::thread::current().name().unwrap_or("?").to_string();
    println!(
        "| otlp {scenario} | {} | {} | {} | {} | {} |",
        stats.emitted, stats.delivered, stats.rejected, stats.dropped, stats.retried
    );
}

async fn one_record(protocol: OtlpProtocol) -> (OtlpServer, LogRecord, Context) {
    let server = OtlpServer::start().await;
    let guard = otlp(&server)
        .otlp_protocol(protocol)
        .otlp_header("x-api-key", "k 1")
        .resource_attribute("deployment.environment", "test")
        .start()
        .unwrap();
    let ctx = Context::new()
        .with_uid("user_1")
        .with_sid("session_1")
        .with_gdata_id("content_1")
        .with_span_id(SpanId::random());
    telemetry_core::with_sink(guard.sink().unwrap(), || {
        let _entered = ctx.enter();
        telemetry_core::emit(moderation());
    });
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_eq!((stats.emitted, stats.delivered), (1, 1), "{stats:?}");
    let request = server.requests("/v1/logs").remove(0);
    assert_eq!(request.content_type, protocol.content_type());
    assert_eq!(request.headers.get("x-api-key").unwrap(), "k 1");
    let export = server.log_requests().remove(0);
    let resource = attrs(&export.resource_logs[0].resource.as_ref().unwrap().attributes);
    assert_eq!(resource["service.name"], s("chat-api"));
    assert_eq!(resource["service.version"], s("1.2.3"));
    assert_eq!(resource["telemetry.sdk.name"], s("telemetry-rust"));
    assert_eq!(resource["telemetry.sdk.language"], s("rust"));
    assert!(resource.contains_key("telemetry.sdk.version"));
    assert_eq!(resource["deployment.environment"], s("test"));
    assert_eq!(
        export.resource_logs[0].scope_logs[0].scope.as_ref().unwrap().name,
        "telemetry-rust"
    );
    let record = records(&server).remove(0);
    (server, record, ctx)
}

fn check_record(record: &LogRecord, ctx: &Context) {
    assert_eq!(record.event_name, "OE_MODERATION");
    assert_eq!(record.body.as_ref().and_then(|b| b.value.clone()), s("OE_MODERATION"));
    assert_eq!(record.trace_id, ctx.trace_id().to_int().to_be_bytes());
    assert_eq!(record.span_id, ctx.span_id().unwrap().to_int().to_be_bytes());
    assert!(
        record.time_unix_nano > 1_700_000_000_000_000_000,
        "{}",
        record.time_unix_nano
    );
    assert!(record.observed_time_unix_nano >= record.time_unix_nano);
    // outcome "error": the record is an error.
    assert_eq!((record.severity_number, record.severity_text.as_str()), (17, "ERROR"));
    let a = attrs(&record.attributes);
    let Some(V::StringValue(id)) = &a["event.id"] else {
        panic!("event.id")
    };
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert_eq!(a["event.schema_version"], Some(V::IntValue(2)));
    assert_eq!(a["user.id"], s("user_1"));
    assert_eq!(a["session.id"], s("session_1"));
    assert_eq!(a["gdata.id"], s("content_1"));
    assert_eq!(a["verdict"], s("allow"));
    assert_eq!(a["score"], Some(V::DoubleValue(0.25)));
    assert_eq!(a["tokens"], Some(V::IntValue(42)));
    // Over i64: OTLP has no unsigned integers.
    assert_eq!(a["huge"], Some(V::DoubleValue(u64::MAX as f64)));
    let Some(V::ArrayValue(labels)) = &a["labels"] else {
        panic!("labels")
    };
    assert_eq!(
        labels.values.iter().map(|v| v.value.clone()).collect::<Vec<_>>(),
        [s("a"), s("b")]
    );
    let Some(V::KvlistValue(detail)) = &a["detail"] else {
        panic!("detail")
    };
    let detail = attrs(&detail.values);
    assert_eq!(detail["model"], s("m1"));
    assert_eq!(detail["flagged"], Some(V::BoolValue(false)));
    assert_eq!(detail["missing"], None);
    // The envelope's keys come first, in this order, then event_data's.
    let keys: Vec<&str> = record.attributes.iter().map(|kv| kv.key.as_str()).take(5).collect();
    assert_eq!(
        keys,
        ["event.id", "event.schema_version", "user.id", "session.id", "gdata.id"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protobuf_record_carries_the_event_its_ids_and_the_resource() {
    let (_server, record, ctx) = one_record(OtlpProtocol::HttpProtobuf).await;
    check_record(&record, &ctx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_follows_the_otlp_json_mapping() {
    let (server, record, ctx) = one_record(OtlpProtocol::HttpJson).await;
    check_record(&record, &ctx);
    // The raw text: lowerCamelCase keys, hex ids, 64-bit integers as strings, enums as integers.
    let raw: serde_json::Value = serde_json::from_slice(&server.requests("/v1/logs")[0].body).unwrap();
    let record = &raw["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
    assert_eq!(record["traceId"], ctx.trace_id().to_string());
    assert_eq!(record["spanId"], ctx.span_id().unwrap().to_string());
    assert_eq!(record["eventName"], "OE_MODERATION");
    assert_eq!(record["severityNumber"], 17);
    assert!(record["timeUnixNano"].is_string(), "{record}");
    assert!(record["observedTimeUnixNano"].is_string(), "{record}");
    let version = record["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv["key"] == "event.schema_version")
        .unwrap();
    assert_eq!(version["value"], serde_json::json!({"intValue": "2"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_environment_variables_configure_the_export() {
    let server = OtlpServer::start().await;
    let vars = HashMap::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", server.base()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20abc,x-team=core".to_string(),
        ),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_string()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_string()),
        ("OTEL_SERVICE_NAME", "from-otel".to_string()),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=core".to_string()),
    ]);
    let guard = Pipeline::builder()
        .with_env_from(|name| vars.get(name).cloned())
        .unwrap()
        .flush_interval(Duration::from_millis(20))
        .start()
        .unwrap();
    emit_n(&guard, 3);
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_eq!(stats.delivered, 3, "{stats:?}");
    let request = server.requests("/v1/logs").remove(0);
    assert!(request.gzip);
    assert_eq!(request.content_type, "application/json");
    assert_eq!(request.headers.get("authorization").unwrap(), "Bearer abc");
    assert_eq!(request.headers.get("x-team").unwrap(), "core");
    let export = server.log_requests().remove(0);
    let resource = attrs(&export.resource_logs[0].resource.as_ref().unwrap().attributes);
    assert_eq!(resource["service.name"], s("from-otel"));
    assert_eq!(resource["team"], s("core"));
    assert_eq!(numbers(&server), [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_statuses_are_retried_with_the_same_records() {
    let server = OtlpServer::start().await;
    server.script([
        OtlpAction::Status(503, None),
        OtlpAction::Status(502, None),
        OtlpAction::Status(504, None),
    ]);
    let guard = otlp(&server).batch_size(100).start().unwrap();
    emit_n(&guard, 100);
    let stats = guard.shutdown(Duration::from_secs(20));
    assert_settled(&stats);
    assert_eq!(
        (stats.delivered, stats.retried, stats.rejected),
        (100, 3, 0),
        "{stats:?}"
    );
    assert_eq!(numbers(&server), (0..100).collect::<Vec<_>>());
    // The refused attempts carried the same event ids as the accepted one.
    let ids = |r: &otlp_support::Received| -> Vec<AnyValue> {
        otlp_support::decode_logs(r).resource_logs[0].scope_logs[0]
            .log_records
            .iter()
            .map(|l| l.attributes[0].value.clone().unwrap())
            .collect()
    };
    let all = server.requests("/v1/logs");
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|r| ids(r) == ids(&all[0])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_honours_retry_after() {
    let server = OtlpServer::start().await;
    server.script([OtlpAction::Status(429, Some(1))]);
    let guard = otlp(&server).start().unwrap();
    emit_n(&guard, 10);
    let stats = guard.shutdown(Duration::from_secs(10));
    assert_settled(&stats);
    assert_eq!((stats.delivered, stats.retried), (10, 1), "{stats:?}");
    let times = server.state.request_times.lock().unwrap().clone();
    assert!(
        times[1] - times[0] >= Duration::from_millis(950),
        "{:?}",
        times[1] - times[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_and_internal_error_are_final_and_counted() {
    for status in [400, 500] {
        let server = OtlpServer::start().await;
        server.script([OtlpAction::Status(status, None)]);
        let guard = otlp(&server).batch_size(50).start().unwrap();
        emit_n(&guard, 50);
        assert!(guard.flush(Duration::from_secs(5)));
        emit_n(&guard, 5);
        let stats = guard.shutdown(Duration::from_secs(5));
        assert_settled(&stats);
        assert_eq!(
            (stats.delivered, stats.rejected_by_reason.by_collector, stats.retried),
            (5, 50, 0),
            "{status}: {stats:?}"
        );
        assert_eq!(server.requests("/v1/logs").len(), 2, "{status}: not retried");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_success_counts_its_rejections_and_is_not_retried() {
    let server = OtlpServer::start().await;
    server.script([OtlpAction::Partial(3, "3 records had no timestamp")]);
    let guard = otlp(&server).batch_size(20).start().unwrap();
    emit_n(&guard, 20);
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_settled(&stats);
    assert_eq!(
        (stats.delivered, stats.rejected_by_reason.by_collector, stats.retried),
        (17, 3, 0),
        "{stats:?}"
    );
    assert_eq!(server.requests("/v1/logs").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_past_the_timeout_is_retried_at_least_once_delivered() {
    let server = OtlpServer::start().await;
    server.script([OtlpAction::Slow(Duration::from_millis(1500))]);
    let guard = otlp(&server).otlp_timeout(Duration::from_millis(300)).start().unwrap();
    emit_n(&guard, 10);
    let stats = guard.shutdown(Duration::from_secs(10));
    assert_settled(&stats);
    assert_eq!((stats.delivered, stats.retried), (10, 1), "{stats:?}");
    // OTLP backends do not deduplicate: the slow attempt was kept too, so each
    // record arrived twice, with the same event.id (what a downstream dedup keys on).
    let ns = numbers(&server);
    assert_eq!(ns.len(), 20);
    assert!((0..10).all(|n| ns.iter().filter(|&&m| m == n).count() == 2));
}

/// The OTLP lane encodes the next batch while a request is out (one delivery
/// more than `max_in_flight`), but never has more requests out than that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_at_once_stay_within_max_in_flight_while_the_next_batch_is_encoded() {
    // With 3 allowed, at least 2 at once (batches become ready one after
    // another, so a loaded machine may not reach 3); with 1, exactly 1.
    for (in_flight, expected) in [(1u64, 1..=1u64), (3, 2..=3)] {
        let server = OtlpServer::start().await;
        server.script(std::iter::repeat_n(OtlpAction::Slow(Duration::from_millis(300)), 8));
        let guard = otlp(&server)
            .batch_size(10)
            .max_in_flight(in_flight as usize)
            .start()
            .unwrap();
        emit_n(&guard, 80);
        assert!(guard.flush(Duration::from_secs(30)));
        let stats = guard.shutdown(Duration::from_secs(5));
        assert_settled(&stats);
        assert_eq!(stats.delivered, 80, "{stats:?}");
        let mut ns = numbers(&server);
        ns.sort_unstable();
        assert_eq!(ns, (0..80).collect::<Vec<i64>>(), "each record once");
        let max_active = server.state.max_active.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            expected.contains(&max_active),
            "{max_active} requests at once with max_in_flight {in_flight}"
        );
    }
}

/// A batch encoded ahead waits while the batch before it pauses for
/// `Retry-After`: the endpoint asked for a pause, not for the next batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_encoded_ahead_waits_out_the_retry_after_of_the_one_before() {
    let server = OtlpServer::start().await;
    server.script([OtlpAction::Status(429, Some(1))]);
    let guard = otlp(&server).batch_size(10).start().unwrap();
    emit_n(&guard, 20);
    let stats = guard.shutdown(Duration::from_secs(10));
    assert_settled(&stats);
    assert_eq!((stats.delivered, stats.retried), (20, 1), "{stats:?}");
    let times = server.state.request_times.lock().unwrap().clone();
    assert_eq!(times.len(), 3, "the 429, its retry and the second batch");
    let paused = times[1] - times[0];
    assert!(
        paused >= Duration::from_millis(900),
        "the next request came {paused:?} after the 429"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_then_up_loses_nothing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let guard = Pipeline::builder()
        .otlp_endpoint(format!("http://127.0.0.1:{port}"))
        .flush_interval(Duration::from_millis(20))
        .start()
        .unwrap();
    emit_n(&guard, 30);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(guard.stats().retried >= 1);
    let server = otlp_support::OtlpServer::start_on(port).await;
    let stats = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_secs(15)))
        .await
        .unwrap();
    assert_settled(&stats);
    assert_eq!(stats.delivered, 30, "{stats:?}");
    assert_eq!(numbers(&server), (0..30).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_go_to_the_collector_and_the_otlp_endpoint_each_counted() {
    let collector = support::start(0).await;
    let server = OtlpServer::start().await;
    server.script([OtlpAction::Status(503, None)]);
    let guard = otlp(&server).endpoint(collector.url()).batch_size(100).start().unwrap();
    emit_n(&guard, 250);
    let otlp_before = guard.otlp_stats();
    let stats = guard.shutdown(Duration::from_secs(10));
    assert!(otlp_before.is_some());
    assert_settled(&stats);
    assert_eq!((stats.delivered, stats.retried), (250, 0), "collector lane: {stats:?}");
    assert_eq!(collector.stored(), 250);
    assert_eq!(numbers(&server), (0..250).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_lane_has_its_own_counters() {
    let collector = support::start(0).await;
    let server = OtlpServer::start().await;
    server.script([OtlpAction::Status(503, None), OtlpAction::Status(400, None)]);
    let guard = otlp(&server).endpoint(collector.url()).batch_size(10).start().unwrap();
    // A flush waits for the first lane only: the second is polled until settled.
    let settled = || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while guard.otlp_stats().unwrap().pending > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    emit_n(&guard, 10);
    assert!(guard.flush(Duration::from_secs(10)));
    settled();
    emit_n(&guard, 10);
    assert!(guard.flush(Duration::from_secs(10)));
    settled();
    let lane = guard.otlp_stats().unwrap();
    let stats = guard.shutdown(Duration::from_secs(5));
    assert_eq!(
        (stats.delivered, stats.retried, stats.rejected),
        (20, 0, 0),
        "{stats:?}"
    );
    assert_eq!(
        (lane.emitted, lane.delivered, lane.retried, lane.rejected, lane.pending),
        (20, 10, 1, 10, 0),
        "{lane:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spool_works_for_the_otlp_lane() {
    let dir = tempfile_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let guard = Pipeline::builder()
        .otlp_endpoint(&base)
        .spool_dir(&dir)
        .flush_interval(Duration::from_millis(20))
        .shutdown_timeout(Duration::from_millis(300))
        .start()
        .unwrap();
    emit_n(&guard, 40);
    let first = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(first.delivered, 0);
    assert_eq!(first.pending, 40, "left on disk: {first:?}");
    let server = otlp_support::OtlpServer::start_on(port).await;
    let guard = Pipeline::builder()
        .otlp_endpoint(&base)
        .spool_dir(&dir)
        .flush_interval(Duration::from_millis(20))
        .start()
        .unwrap();
    let stats = tokio::task::spawn_blocking(move || {
        assert!(guard.flush(Duration::from_secs(10)));
        guard.shutdown(Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert_eq!((stats.replayed, stats.delivered), (40, 40), "{stats:?}");
    assert_eq!(numbers(&server), (0..40).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("otlp-spool-{}-{}", std::process::id(), fastrand_u64()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fastrand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(1);
    h.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_is_read_up_to_4_mib_only() {
    let server = OtlpServer::start().await;
    // An answer that never ends: read to 4 MiB and left, the batch counted as
    // delivered (without the cap the read would run into shutdown's deadline).
    server.script([OtlpAction::Endless]);
    let guard = otlp(&server).batch_size(10).start().unwrap();
    emit_n(&guard, 10);
    let stats = guard.shutdown(Duration::from_secs(20));
    assert_settled(&stats);
    assert_eq!((stats.delivered, stats.retried, stats.dropped), (10, 0, 0), "{stats:?}");
    // Zeros after the message do not decode as one: the partial success is not read.
    assert_eq!(stats.rejected, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_destination_that_is_down_never_holds_the_first_back() {
    let warnings = capture_warnings();
    let collector = support::start(0).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let guard = Pipeline::builder()
        .endpoint(collector.url())
        .otlp_endpoint(format!("http://127.0.0.1:{port}"))
        .batch_size(10)
        .flush_interval(Duration::from_millis(20))
        .shutdown_timeout(Duration::from_millis(500))
        .start()
        .unwrap();
    // 30 batches while the OTLP endpoint refuses connections: the collector gets
    // every one at once; the OTLP lane keeps 8 batches retrying, drops the rest.
    emit_n(&guard, 300);
    assert!(
        guard.flush(Duration::from_secs(5)),
        "the collector lane is not held back"
    );
    assert_eq!(collector.stored(), 300);
    let lane = guard.otlp_stats().unwrap();
    assert_eq!(lane.emitted, 300, "{lane:?}");
    assert!(lane.dropped_by_reason.queue_full >= 200, "{lane:?}");
    let stats = tokio::task::spawn_blocking(move || guard.shutdown(Duration::from_millis(500)))
        .await
        .unwrap();
    assert_settled(&stats);
    assert_eq!(stats.delivered, 300);
    let warned = warnings.lock().unwrap().join("\n");
    assert!(
        warned.contains(&format!("127.0.0.1:{port}")) && warned.contains("dropped while it was behind"),
        "the second lane's losses are warned of: {warned}"
    );
}

/// The transport's warnings, for the whole test binary (the worker logs from
/// its own thread, so a global subscriber): each `message`.
fn capture_warnings() -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use tracing_subscriber::layer::SubscriberExt as _;
    static SEEN: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<String>>>> = std::sync::OnceLock::new();
    struct Warnings(std::sync::Arc<std::sync::Mutex<Vec<String>>>);
    struct Message<'a>(&'a mut String);
    impl tracing::field::Visit for Message<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                *self.0 = format!("{value:?}");
            }
        }
    }
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
        fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            if *event.metadata().level() == tracing::Level::WARN && event.metadata().target() == "telemetry::transport"
            {
                let mut message = String::new();
                event.record(&mut Message(&mut message));
                self.0.lock().unwrap().push(message);
            }
        }
    }
    SEEN.get_or_init(|| {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Warnings(seen.clone())));
        seen
    })
    .clone()
}
