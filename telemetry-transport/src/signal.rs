//! The signal a server's graceful shutdown waits for, so that the pipeline is
//! shut down after the last request has emitted its events.

/// Resolves when the process is asked to stop: SIGTERM (what container
/// runtimes, systemd and Kubernetes send) or Ctrl-C (SIGINT) on Unix, Ctrl-C
/// elsewhere. Made for axum's `with_graceful_shutdown` (or any server's
/// equivalent); shut the [`PipelineGuard`](crate::PipelineGuard) down after the
/// server has finished, and nothing the last requests emitted is lost:
///
/// ```no_run
/// # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
/// let telemetry = telemetry_transport::Pipeline::from_env()?.install()?;
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// axum::serve(listener, app)
///     // Stops accepting on SIGTERM or Ctrl-C and lets requests in progress finish.
///     .with_graceful_shutdown(telemetry_transport::shutdown_signal())
///     .await?;
/// // Every request has ended: send what they emitted, then stop.
/// let stats = telemetry.shutdown(std::time::Duration::from_secs(5));
/// assert_eq!(stats.dropped, 0);
/// # Ok(()) }
/// ```
///
/// Once it is first polled, the signals it listens to no longer end the process
/// by themselves: the program decides when to exit. Poll it on a tokio runtime
/// with I/O enabled (what `#[tokio::main]` builds). It never panics: if a
/// handler cannot be installed, it warns (target `telemetry::transport`) and
/// waits for what it could install (SIGTERM failing leaves Ctrl-C; if neither
/// can be, it never resolves, and the process ends as it would without it).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {
                        tracing::info!(target: "telemetry::transport", "SIGTERM received: shutting down");
                        return;
                    }
                    _ = ctrl_c() => return,
                }
            }
            Err(e) => tracing::warn!(
                target: "telemetry::transport",
                error = %e,
                "cannot listen for SIGTERM ({e}): only Ctrl-C starts a graceful shutdown"
            ),
        }
    }
    ctrl_c().await
}

/// Resolves on Ctrl-C; never, with a warning, if it cannot be listened for.
async fn ctrl_c() {
    match tokio::signal::ctrl_c().await {
        Ok(()) => tracing::info!(target: "telemetry::transport", "Ctrl-C received: shutting down"),
        Err(e) => {
            tracing::warn!(
                target: "telemetry::transport",
                error = %e,
                "cannot listen for Ctrl-C ({e}): no graceful shutdown on it"
            );
            std::future::pending::<()>().await
        }
    }
}
