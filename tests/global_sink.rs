//! The process-wide sink receives events from every thread; a scoped sink (a
//! capture) takes precedence on its own thread. (Its own binary: it installs a
//! global sink.)

use std::sync::{Arc, Mutex};

use serde::Serialize;
use telemetry::{Context, EnvelopeConfig, EventRecord, Sink, TelemetryEvent};

#[derive(TelemetryEvent, Serialize)]
#[telemetry(event = "GS_EVENT")]
struct Event {
    thread: usize,
}

#[derive(Default)]
struct Collect(Mutex<Vec<EventRecord>>);
impl Sink for Collect {
    fn accept(&self, record: EventRecord) {
        self.0.lock().unwrap().push(record);
    }
}

#[test]
fn global_sink_sees_all_threads_and_capture_takes_precedence() {
    let global = Arc::new(Collect::default());
    telemetry::set_global_sink(global.clone());
    let handles: Vec<_> = (0..4)
        .map(|thread| {
            std::thread::spawn(move || {
                let _g = Context::new().with_uid(format!("t{thread}")).enter();
                for _ in 0..25 {
                    telemetry::emit(Event { thread });
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    let captured = telemetry::testing::capture(|| telemetry::emit(Event { thread: 99 }));
    assert_eq!(captured.len(), 1);

    let records = std::mem::take(&mut *global.0.lock().unwrap());
    assert_eq!(records.len(), 100, "the captured event must not reach the global sink");
    let config = EnvelopeConfig::default();
    for r in &records {
        let e = r.to_envelope(&config).unwrap();
        assert_eq!(e.uid.as_deref(), Some(format!("t{}", e.event_data["thread"]).as_str()));
    }

    // Replacing the global sink sends later events to the new one only.
    let second = Arc::new(Collect::default());
    telemetry::set_global_sink(second.clone());
    telemetry::emit(Event { thread: 0 });
    assert_eq!(second.0.lock().unwrap().len(), 1);
    assert!(global.0.lock().unwrap().is_empty());
}
