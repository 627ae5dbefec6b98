//! Where lines go: a background thread writes them to the output, the caller only
//! queues them (`tracing-appender`'s non-blocking writer, lossy, bounded).

use std::io::{self, IsTerminal as _, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Lines the buffer holds by default before new ones are dropped (as
/// `tracing-appender`'s own default).
pub(crate) const DEFAULT_BUFFERED_LINES: usize = 128_000;

/// The writing thread's name.
const THREAD_NAME: &str = "telemetry-logging";

/// The output the lines are written to.
pub(crate) enum Output {
    /// The process's stdout (the default).
    Stdout,
    /// A writer of the user's.
    Writer(Box<dyn Write + Send>),
}

impl Output {
    /// Whether the output is a terminal: stdout attached to one. A writer of the
    /// user's never is.
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self, Output::Stdout) && io::stdout().is_terminal()
    }
}

/// The lines lost so far: refused by the full buffer, or failed by the output.
#[derive(Clone, Debug)]
pub(crate) struct LostLines {
    buffer_full: ErrorCounter,
    write_failed: Arc<AtomicU64>,
}

impl LostLines {
    pub(crate) fn count(&self) -> u64 {
        let full = u64::try_from(self.buffer_full.dropped_lines()).unwrap_or(u64::MAX);
        full.saturating_add(self.write_failed.load(Ordering::Relaxed))
    }
}

/// A started writer: the `MakeWriter` the layer writes to, the guard that
/// flushes it, and its loss counter.
pub(crate) struct Started {
    pub(crate) writer: NonBlocking,
    pub(crate) worker: WorkerGuard,
    pub(crate) lost: LostLines,
}

/// Starts the writing thread for `output`, with room for `buffered_lines` lines.
pub(crate) fn start(output: Output, buffered_lines: usize) -> Started {
    let write_failed = Arc::new(AtomicU64::new(0));
    let builder = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(buffered_lines)
        .thread_name(THREAD_NAME);
    let (writer, worker) = match output {
        Output::Stdout => builder.finish(Counted::new(io::stdout(), &write_failed)),
        Output::Writer(w) => builder.finish(Counted::new(w, &write_failed)),
    };
    let lost = LostLines {
        buffer_full: writer.error_counter(),
        write_failed,
    };
    Started { writer, worker, lost }
}

/// The output as the writing thread sees it: a line the output fails (or panics
/// on) is counted as lost, and the thread goes on with the next.
struct Counted<W> {
    inner: W,
    failed: Arc<AtomicU64>,
}

impl<W> Counted<W> {
    fn new(inner: W, failed: &Arc<AtomicU64>) -> Self {
        Counted {
            inner,
            failed: failed.clone(),
        }
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    // The writing thread hands over one line per call.
    fn write_all(&mut self, line: &[u8]) -> io::Result<()> {
        match catch_unwind(AssertUnwindSafe(|| self.inner.write_all(line))) {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match catch_unwind(AssertUnwindSafe(|| self.inner.flush())) {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the log output panicked while flushing")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Refusing;
    impl Write for Refusing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Panicking;
    impl Write for Panicking {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            panic!("a broken writer")
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_the_output_fails_or_panics_on_are_counted_and_the_thread_goes_on() {
        for output in [Box::new(Refusing) as Box<dyn Write + Send>, Box::new(Panicking)] {
            let Started {
                mut writer,
                worker,
                lost,
            } = start(Output::Writer(output), 16);
            for _ in 0..3 {
                writer.write_all(b"a line\n").unwrap();
            }
            drop(worker); // flushes: the thread has handled every line
            assert_eq!(lost.count(), 3);
        }
    }

    #[test]
    fn a_writer_of_the_users_is_not_a_terminal() {
        assert!(!Output::Writer(Box::new(io::sink())).is_terminal());
    }
}
