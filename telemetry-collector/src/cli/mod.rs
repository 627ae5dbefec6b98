//! The command line: `serve`, `query`, `tail`, `stats`, `rejected`, `catalog`.
//! Every option also comes from a `TELEMETRY_COLLECTOR_*` variable.

/// `println!` that ends the command quietly when stdout is closed (see [`output::write_line`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_line(format_args!($($arg)*))
    };
}

mod output;
mod read;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args as ClapArgs, Parser, Subcommand};
use telemetry_collector::{Collector, Durability};

/// The reference collector of telemetry-rust.
#[derive(Parser, Debug)]
#[command(name = "telemetry-collector", version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Receive, validate and store events.
    Serve(ServeArgs),
    /// Stored events, newest first.
    Query(read::QueryArgs),
    /// Follow new events as they are stored.
    Tail(read::TailArgs),
    /// Counts by kind, service and outcome; duration percentiles; rejections.
    Stats(read::ConnectArgs),
    /// Rejected events with their reasons.
    Rejected(read::RejectedArgs),
    /// The tracking plan.
    #[command(subcommand)]
    Catalog(CatalogCommand),
}

#[derive(Subcommand, Debug)]
enum CatalogCommand {
    /// Classify every change between two plan files (exit 1 if a breaking change kept its version).
    Diff {
        /// The plan before.
        old: PathBuf,
        /// The plan after.
        new: PathBuf,
        /// `text` (default) or `json`.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// The plan a running collector learned.
    Show(read::ConnectArgs),
}

#[derive(ClapArgs, Debug)]
struct ServeArgs {
    /// The SQLite database file (created when missing).
    #[arg(long, env = "TELEMETRY_COLLECTOR_DB", default_value = "telemetry.db")]
    db: PathBuf,
    /// Address to listen on (loopback unless told otherwise).
    #[arg(long, env = "TELEMETRY_COLLECTOR_LISTEN", default_value = "127.0.0.1:4318")]
    listen: String,
    /// Bearer token every request must carry.
    #[arg(long, env = "TELEMETRY_COLLECTOR_TOKEN")]
    token: Option<String>,
    /// A fixed tracking plan (what `telemetry::catalog()` serializes).
    #[arg(long, env = "TELEMETRY_COLLECTOR_PLAN")]
    plan: Option<PathBuf>,
    /// `normal`: safe against a crash of the process; `full`: also against power loss.
    #[arg(long, env = "TELEMETRY_COLLECTOR_DURABILITY", default_value = "normal")]
    durability: Durability,
    /// Byte cap of kept rejected events.
    #[arg(long, env = "TELEMETRY_COLLECTOR_REJECTED_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    rejected_max_bytes: u64,
    /// Days rejected events are kept.
    #[arg(long, env = "TELEMETRY_COLLECTOR_REJECTED_RETENTION_DAYS", default_value_t = 7)]
    rejected_retention_days: u64,
}

/// Runs a command; the exit code says how it went.
pub fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Catalog(CatalogCommand::Diff { old, new, format }) => {
            let code = telemetry_collector::diff::run_diff_command(
                &old,
                &new,
                format == "json",
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        command => {
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            let result = runtime.block_on(async move {
                match command {
                    Command::Serve(args) => serve(args).await,
                    Command::Query(args) => read::query(args).await,
                    Command::Tail(args) => read::tail(args).await,
                    Command::Stats(args) => read::stats(args).await,
                    Command::Rejected(args) => read::rejected(args).await,
                    Command::Catalog(CatalogCommand::Show(args)) => read::catalog(args).await,
                    Command::Catalog(CatalogCommand::Diff { .. }) => unreachable!("handled above"),
                }
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut builder = Collector::builder()
        .db(&args.db)
        .listen(&args.listen)
        .durability(args.durability)
        .rejected_max_bytes(args.rejected_max_bytes)
        .rejected_retention(std::time::Duration::from_secs(
            args.rejected_retention_days.saturating_mul(24 * 3600),
        ));
    if let Some(token) = args.token {
        builder = builder.token(token);
    }
    if let Some(plan) = args.plan {
        builder = builder.plan(plan);
    }
    let collector = builder.start().await.map_err(|e| e.to_string())?;
    // Tests and scripts read this line to find the port.
    outln!("listening on {}", collector.url());
    shutdown_signal().await;
    eprintln!("shutting down (a second Ctrl-C or SIGTERM stops at once)");
    tokio::select! {
        _ = collector.shutdown() => Ok(()),
        _ = shutdown_signal() => Err("stopped before the shutdown finished".into()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
