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
    /// Where events are stored: a SQLite file (created when missing; `sqlite://PATH` too)
    /// or a PostgreSQL URL (`postgres://user:password@host:port/dbname`), shared by replicas.
    #[arg(long, env = "TELEMETRY_COLLECTOR_DB", default_value = "telemetry.db")]
    db: String,
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
    /// How long events are kept, by their time: `30d`, `12h`, `90m`, `45s` (default: for ever).
    #[arg(long, env = "TELEMETRY_COLLECTOR_RETAIN", value_parser = parse_period)]
    retain: Option<std::time::Duration>,
    /// PostgreSQL: connections in the pool, shared by writers and reads.
    #[arg(long, env = "TELEMETRY_COLLECTOR_PG_POOL_SIZE", default_value_t = 8)]
    pg_pool_size: usize,
    /// PostgreSQL: write transactions at once.
    #[arg(long, env = "TELEMETRY_COLLECTOR_PG_WRITERS", default_value_t = 3)]
    pg_writers: usize,
    /// Do not serve the web UI (served at / by default on a loopback address).
    #[arg(long, conflicts_with = "ui")]
    no_ui: bool,
    /// Serve the web UI on a non-loopback address too (set --token first: it shows every event).
    #[arg(long)]
    ui: bool,
}

/// `30d`, `12h`, `90m` or `45s`: a whole number and its unit.
fn parse_period(s: &str) -> Result<std::time::Duration, String> {
    let unit_at = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(unit_at);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a period: write a whole number and a unit, e.g. 30d, 12h, 90m, 45s"))?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("{s:?}: the unit must be d, h, m or s (e.g. 30d)")),
    };
    if n == 0 {
        return Err(format!(
            "{s:?}: a retention of zero would delete every event; leave --retain out to keep them"
        ));
    }
    Ok(std::time::Duration::from_secs(n.saturating_mul(seconds)))
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
        .db(args.db.as_str())
        .pg_pool_size(args.pg_pool_size)
        .pg_writers(args.pg_writers)
        .listen(&args.listen)
        .durability(args.durability)
        .rejected_max_bytes(args.rejected_max_bytes)
        .rejected_retention(std::time::Duration::from_secs(
            args.rejected_retention_days.saturating_mul(24 * 3600),
        ));
    if let Some(token) = args.token {
        builder = builder.token(token);
    }
    if let Some(period) = args.retain {
        builder = builder.retain(period);
    }
    if let Some(plan) = args.plan {
        builder = builder.plan(plan);
    }
    if args.no_ui || args.ui {
        builder = builder.ui(args.ui);
    }
    let collector = builder.start().await.map_err(|e| e.to_string())?;
    // Tests and scripts read this line to find the port. A server keeps
    // serving when nobody reads its stdout any more (unlike the reading
    // commands, which end quietly), so a failed write is ignored here.
    let say = |line: String| {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    };
    say(format!("listening on {}", collector.url()));
    if let Some(ui) = collector.ui_url() {
        say(format!("web UI at {ui}"));
    }
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

#[cfg(test)]
mod tests {
    use super::parse_period;
    use std::time::Duration;

    #[test]
    fn periods_read_with_their_unit_and_bad_ones_say_how_to_write_them() {
        assert_eq!(parse_period("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_period("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_period("90m"), Ok(Duration::from_secs(90 * 60)));
        assert_eq!(parse_period("45s"), Ok(Duration::from_secs(45)));
        assert!(parse_period("30").unwrap_err().contains("unit must be d, h, m or s"));
        assert!(parse_period("d").unwrap_err().contains("e.g. 30d"));
        assert!(parse_period("0d").unwrap_err().contains("leave --retain out"));
    }
}
