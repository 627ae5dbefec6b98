//! The guard `init` returns: it owns the writing thread (and, with the `pipeline`
//! feature, the delivery pipeline) and flushes them when dropped.

use std::fmt;
use std::io::Write as _;

use tracing_appender::non_blocking::WorkerGuard;

use crate::writer::LostLines;

/// Keeps the logs flowing; dropping it flushes them.
///
/// Keep it for as long as the program logs (bind it in `main`:
/// `let _logs = telemetry_logging::init();`, not `let _ = ...`, which drops it at
/// once). On drop it first shuts the delivery pipeline down, if it owns one (so
/// the pipeline's own last log lines are written), then waits for the writing
/// thread to write what is queued (at most about a second, `tracing-appender`'s
/// limit), then, if any line was lost, writes one line to stderr saying how many
/// ([`dropped_report`]). Lines logged after the drop are lost.
#[must_use = "the logs are flushed and stopped when the guard drops"]
pub struct LogGuard {
    worker: Option<WorkerGuard>,
    lost: Option<LostLines>,
    #[cfg(feature = "pipeline")]
    pipeline: Option<telemetry_transport::PipelineGuard>,
}

impl LogGuard {
    pub(crate) fn new(worker: WorkerGuard, lost: LostLines) -> Self {
        LogGuard {
            worker: Some(worker),
            lost: Some(lost),
            #[cfg(feature = "pipeline")]
            pipeline: None,
        }
    }

    /// A guard with nothing to flush (the logs could not be installed).
    pub(crate) fn inert() -> Self {
        LogGuard {
            worker: None,
            lost: None,
            #[cfg(feature = "pipeline")]
            pipeline: None,
        }
    }

    /// Lines lost so far: dropped because the buffer was full (the output could
    /// not keep up), or refused by the output (a write error).
    pub fn dropped_lines(&self) -> u64 {
        self.lost.as_ref().map_or(0, LostLines::count)
    }

    /// The delivery pipeline installed with the logs, if any: its
    /// [`stats`](telemetry_transport::PipelineGuard::stats), `flush`.
    #[cfg(feature = "pipeline")]
    pub fn pipeline(&self) -> Option<&telemetry_transport::PipelineGuard> {
        self.pipeline.as_ref()
    }

    #[cfg(feature = "pipeline")]
    pub(crate) fn set_pipeline(&mut self, pipeline: telemetry_transport::PipelineGuard) {
        self.pipeline = Some(pipeline);
    }
}

impl fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("LogGuard");
        s.field("running", &self.worker.is_some())
            .field("dropped_lines", &self.dropped_lines());
        #[cfg(feature = "pipeline")]
        s.field("pipeline", &self.pipeline.is_some());
        s.finish()
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // The pipeline first: it logs while it shuts down, and those lines
        // should be written, not lost.
        #[cfg(feature = "pipeline")]
        drop(self.pipeline.take());
        let Some(worker) = self.worker.take() else { return };
        drop(worker); // waits for the queued lines to be written
        if let Some(report) = dropped_report(self.dropped_lines()) {
            // Not `eprintln!`, which panics when stderr is gone.
            let _ = writeln!(std::io::stderr(), "{report}");
        }
    }
}

/// The line the guard writes to stderr when `dropped` lines were lost; `None`
/// when none were.
///
/// ```
/// let report = telemetry_logging::dropped_report(12).unwrap();
/// assert!(report.contains("12 log lines were dropped"));
/// assert_eq!(telemetry_logging::dropped_report(0), None);
/// ```
pub fn dropped_report(dropped: u64) -> Option<String> {
    match dropped {
        0 => None,
        1 => Some(report_text("1 log line was")),
        n => Some(report_text(&format!("{n} log lines were"))),
    }
}

fn report_text(what: &str) -> String {
    format!(
        "telemetry-logging: {what} dropped: the output could not keep up or failed \
         (a larger LogBuilder::buffered_lines, or a faster output, keeps them)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_says_how_many_and_nothing_when_none() {
        assert_eq!(dropped_report(0), None);
        let one = dropped_report(1).unwrap();
        assert!(one.contains("1 log line was dropped"), "{one}");
        let many = dropped_report(37).unwrap();
        assert!(
            many.starts_with("telemetry-logging: 37 log lines were dropped"),
            "{many}"
        );
        assert!(many.contains("buffered_lines"), "{many}");
        assert!(!many.contains('\n'));
    }

    #[test]
    fn the_guard_and_the_builder_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<LogGuard>();
        send::<crate::LogBuilder>();
    }

    #[test]
    fn an_inert_guard_counts_nothing_and_drops_quietly() {
        let guard = LogGuard::inert();
        assert_eq!(guard.dropped_lines(), 0);
        assert!(format!("{guard:?}").contains("running: false"));
    }
}
