//! A gzip bomb, alone in its test binary: peak memory is per process, so no
//! other test may run beside it.

mod support;

use std::io::Write as _;

use serde_json::Value;
use support::{answer, TestCollector};
use telemetry_collector::MAX_BODY_BYTES;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn post_gzip(c: &TestCollector, body: Vec<u8>) -> (u16, Value) {
    let req = c
        .http
        .post(c.url("/v1/events"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body);
    answer(req.send().await.unwrap()).await
}

/// Peak resident memory of this process so far (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_gzip_bomb_is_a_413_with_flat_memory() {
    let c = TestCollector::start().await;
    // One gzip member of 4 MiB of zeros, repeated: 1 GiB inflated, ~1 MiB sent.
    let member = gzip(&vec![0u8; 4 * 1024 * 1024]);
    let bomb: Vec<u8> = member.iter().copied().cycle().take(member.len() * 256).collect();
    assert!(bomb.len() < MAX_BODY_BYTES, "the bomb itself must pass the sent limit");
    let before = peak_rss_kib();
    let (status, body) = post_gzip(&c, bomb).await;
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert_eq!(status, 413, "{body}");
    assert!(grown_mib < 64, "peak memory grew by {grown_mib} MiB");
    assert_eq!(c.get("/v1/stats").await["stored"]["events"], 0);
}
