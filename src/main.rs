//! The `mapfix` command line: parses arguments, calls the library crates, reports errors.
//! Every subcommand lives in its own module under `cmd/`; this file only dispatches.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Vehicle positioning from dashcam video against an HD map.
#[derive(Parser)]
#[command(name = "mapfix", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect, import and generate HD maps.
    #[command(subcommand)]
    Map(cmd::map::MapCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Map(command) => cmd::map::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
