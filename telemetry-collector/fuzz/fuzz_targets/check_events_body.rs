//! Decode, inflate, parse and validate any bytes as a `POST /v1/events` body.
//! The first byte picks the headers (content type, plain or gzip), the rest is
//! the body. The property: no panic, and a refusal is a 4xx with a reason.
//!
//! Run: `cd telemetry-collector/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run check_events_body -- -runs=100000`

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let content_type = ["application/json", "application/json; charset=utf-8", "text/plain"][usize::from(selector % 3)];
    let encoding = match (selector / 3) % 3 {
        0 => None,
        1 => Some("gzip"),
        _ => Some("identity"),
    };
    match telemetry_collector::check_events_body(Some(content_type), encoding, body, None) {
        Ok(checked) => {
            assert!(checked.rejected.iter().all(|r| !r.reason.is_empty()));
            assert_eq!(checked.rejected.len(), checked.batch.rejections.len());
        }
        Err(e) => {
            assert!([400, 413, 415].contains(&e.status.as_u16()), "{}", e.status);
            assert!(!e.message.is_empty());
        }
    }
});
