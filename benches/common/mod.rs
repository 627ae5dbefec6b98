//! What the benchmarks share.

use std::sync::Mutex;

use telemetry::{EventRecord, Sink, TelemetryEvent};

/// A sink that only collects: keeps records, dropping them in chunks so memory
/// stays flat over millions of iterations (the drops are part of the cost, as
/// they would be for a real sink).
#[derive(Default)]
#[allow(dead_code)] // not every benchmark collects
pub struct Collecting(Mutex<Vec<EventRecord>>);

impl Sink for Collecting {
    fn accept(&self, record: EventRecord) {
        let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() >= 4096 {
            v.clear();
        }
        v.push(record);
    }
}

/// The 5-field event every benchmark emits.
#[derive(TelemetryEvent, serde::Serialize)]
#[telemetry(event = "BENCH_CLICK")]
pub struct Click {
    pub action: &'static str,
    pub score: f64,
    pub count: u32,
    pub ok: bool,
    pub item_id: u64,
}

/// A `Click` for item `i`.
#[inline(always)]
#[allow(dead_code)] // not every benchmark emits clicks
pub fn click(i: u64) -> Click {
    Click {
        action: "open",
        score: 0.5,
        count: 3,
        ok: true,
        item_id: i,
    }
}
