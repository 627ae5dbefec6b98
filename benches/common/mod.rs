//! What the benchmarks share.

use std::sync::Mutex;

use telemetry::{EventRecord, Sink};

/// A sink that only collects: keeps records, dropping them in chunks so memory
/// stays flat over millions of iterations (the drops are part of the cost, as
/// they would be for a real sink).
#[derive(Default)]
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
