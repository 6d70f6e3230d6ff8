//! The `mapfix` command line: parses arguments, calls the library crates, reports errors.
//! Every subcommand lives in its own module under `cmd/`; this file only dispatches.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;
mod pipeline;

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
    /// Position dashcam recordings against an HD map: a track per drive (the main job).
    Run(cmd::run::RunArgs),
    /// Positions live as NMEA 0183 over TCP (gpsd-compatible), frame by frame.
    Serve(cmd::serve::ServeArgs),
    /// Inspect, import and generate HD maps.
    #[command(subcommand)]
    Map(cmd::map::MapCommand),
    /// Score position tracks against ground truth: metrics, plots, HTML report.
    Eval(cmd::eval::EvalArgs),
    /// Solve camera poses from pixel/landmark problems (JSON lines).
    Solve(cmd::solve::SolveArgs),
    /// Measure the hot paths on synthetic data.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
    /// Render synthetic drives (video, labels, truth, GNSS) and training sets from a map.
    Simulate(cmd::simulate::SimulateArgs),
    /// Find traffic signs and lane lines in images: JSON lines, or pictures with --draw.
    Detect(cmd::detect::DetectArgs),
    /// Score the detector on a labelled set (simulated set or drive, or GTSDB scenes).
    DetectEval(cmd::detect::DetectEvalArgs),
    /// Import and check neural-network weights (the pretrained detector backbone).
    #[command(subcommand)]
    Model(cmd::model::ModelCommand),
    /// Train the detector's heads on simulator sets and GTSDB scenes; write model and card.
    Train(cmd::train::TrainArgs),
    /// Train the sign crop classifier (second look at each detected sign in the original
    /// pixels) and write a copy of the detector with it.
    TrainClassifier(cmd::train_classifier::TrainClassifierArgs),
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Map(command) => cmd::map::run(command),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Solve(args) => cmd::solve::run(args),
        Command::Bench(command) => cmd::bench::run(command),
        Command::Simulate(args) => cmd::simulate::run(args),
        Command::Detect(args) => cmd::detect::detect(args),
        Command::DetectEval(args) => cmd::detect::evaluate(args),
        Command::Model(command) => cmd::model::run(command),
        Command::Train(args) => cmd::train::run(args),
        Command::TrainClassifier(args) => cmd::train_classifier::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// mimalloc's `mi_option_purge_delay`: its place in the `mi_option_e` enum of the
/// mimalloc v3 header, which the `-sys` crate names no constant for.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps memory the program frees mapped for its next use instead of handing it back to
/// the system after a second. Every detection allocates the same large tensors again; with
/// purging, each came back as fresh pages the kernel had to zero (on a 720p30 drive, 2.5 s
/// of system time in 27 s of CPU). The footprint stays at the largest working set, which
/// the program reaches anyway.
fn keep_freed_memory() {
    // SAFETY: called in main before any thread exists, as mimalloc's options require; -1 is
    // the documented "never purge".
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1);
    }
}

/// Rust ignores SIGPIPE, which turns `mapfix … | head` into a panic on the next print.
/// A command-line tool should instead end quietly when its reader goes away.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
