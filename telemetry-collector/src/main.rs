//! `telemetry-collector`: serve the collector, and read from one.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    cli::run(args)
}
