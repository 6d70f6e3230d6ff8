//! `mapfix run`: dashcam recordings in, position tracks out, one folder per drive.

use crate::pipeline::{track_drive, DriveSummary, Keyframes, Stages};
use anyhow::{bail, Context};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use mapfix_eval::{evaluate_files, EvalOptions};
use mapfix_io::drive::discover;
use mapfix_io::Drive;
use rayon::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct RunArgs {
    /// Drive folders, video files, image folders, or folders of many drives.
    #[arg(value_name = "INPUT", required = true)]
    inputs: Vec<PathBuf>,
    /// The HD map (GeoJSON, Lanelet2 .osm or OpenDRIVE .xodr).
    #[arg(long)]
    map: PathBuf,
    /// Where each drive's outputs go, as OUT/<drive>/.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// The detector (its model card `detector.json` lies beside it).
    #[arg(long, default_value = "models/detector.safetensors")]
    model: PathBuf,
    /// A GNSS log (NMEA or GPX) for the drive instead of its own `gnss.nmea`; one drive only.
    #[arg(long, conflicts_with = "no_gnss")]
    gnss: Option<PathBuf>,
    /// A camera.toml for every drive instead of their own.
    #[arg(long)]
    camera: Option<PathBuf>,
    /// Drives processed at the same time (each uses every core for detection).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Position from GNSS alone (the camera is not looked at).
    #[arg(long)]
    no_vision: bool,
    /// Ignore the drives' GNSS logs: position from the camera alone.
    #[arg(long)]
    no_gnss: bool,
    /// Do not read the vehicle's speed from the road surface between frames.
    #[arg(long)]
    no_odometry: bool,
    /// Frames a second of recording the detector looks at (the one nearest to an even share
    /// of the frame rate); the tracker predicts the frames between.
    #[arg(long, value_name = "HZ", default_value_t = DEFAULT_DETECT_RATE_HZ)]
    detect_rate: f64,
    /// Detect every N-th frame instead (1: every frame), whatever the frame rate.
    #[arg(long, value_name = "N", conflicts_with = "detect_rate")]
    detect_every: Option<u64>,
}

/// Detections a second by default: see the README's figures for accuracy and speed
/// against the rate.
const DEFAULT_DETECT_RATE_HZ: f64 = 5.0;

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let keyframes = match args.detect_every {
        Some(0) => bail!("--detect-every must be at least 1"),
        Some(n) => Keyframes::Every(n),
        None if !(args.detect_rate.is_finite() && args.detect_rate > 0.0) => {
            bail!("--detect-rate must be a positive number of frames a second")
        }
        None => Keyframes::Rate(args.detect_rate),
    };
    let mut drives = Vec::new();
    for input in &args.inputs {
        drives.extend(discover(input, args.camera.as_deref())?);
    }
    make_names_unique(&mut drives);
    if let Some(gnss) = &args.gnss {
        if drives.len() != 1 {
            bail!(
                "--gnss gives one log, but the inputs hold {} drives",
                drives.len()
            );
        }
        drives[0].gnss = Some(gnss.clone());
    }
    let mut stages = Stages::load(&args.map, (!args.no_vision).then_some(args.model.as_path()))?;
    stages.road_odometry &= !args.no_odometry;
    let model = match stages.detector {
        Some(_) => json!({"path": args.model, "sha256": sha256(&args.model)?}),
        None => serde_json::Value::Null,
    };
    let settings = json!({
        "vision": !args.no_vision,
        "gnss": !args.no_gnss,
        "road_odometry": stages.road_odometry,
        "jobs": args.jobs,
        "detect": match keyframes {
            Keyframes::Rate(hz) => json!({"rate_hz": hz}),
            Keyframes::Every(n) => json!({"every": n}),
        },
        "map": {"path": args.map, "sha256": sha256(&args.map)?},
        "model": model,
    });

    let bars = MultiProgress::new();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs)
        .build()
        .context("starting the drive threads")?;
    let results: Vec<(&Drive, anyhow::Result<DriveSummary>)> = pool.install(|| {
        drives
            .par_iter()
            .map(|drive| {
                let bar = bars.add(drive_bar(drive));
                let out_dir = args.out.join(&drive.name);
                let result = track_drive(
                    drive,
                    &stages,
                    !args.no_gnss,
                    keyframes,
                    &out_dir,
                    &|done, total| {
                        if let Some(total) = total {
                            bar.set_length(total);
                        }
                        bar.set_position(done)
                    },
                );
                bar.finish();
                if let Ok(summary) = &result {
                    if let Err(error) = write_run_json(drive, summary, &out_dir, &settings) {
                        return (drive, Err(error));
                    }
                }
                (drive, result)
            })
            .collect()
    });

    print_summary(&results, &args.out);
    for (drive, result) in &results {
        if let (Ok(summary), Some(truth)) = (result, &drive.truth) {
            if summary.frames > 0 {
                print_errors(drive, truth, &args.out.join(&drive.name), &stages.map)?;
            }
        }
    }
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(drive, result)| match result {
            Err(error) => Some(format!("{}: {error:#}", drive.name)),
            Ok(summary) => summary.failure.as_ref().map(|error| {
                format!(
                    "{}: stopped after {} frames: {error:#}",
                    drive.name, summary.frames
                )
            }),
        })
        .collect();
    if !failures.is_empty() {
        bail!("{}", failures.join("\n"));
    }
    Ok(())
}

/// Two inputs with the same name (`a/drive` and `b/drive`) get `drive`, `drive-2`, …
fn make_names_unique(drives: &mut [Drive]) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for drive in drives {
        let count = seen.entry(drive.name.clone()).or_insert(0);
        *count += 1;
        if *count > 1 {
            drive.name = format!("{}-{count}", drive.name);
        }
    }
}

fn drive_bar(drive: &Drive) -> ProgressBar {
    // Its length comes with the first frame, from the source the drive is read through.
    let bar = ProgressBar::no_length();
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} frames, {per_sec}, {eta} left",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(drive.name.clone());
    bar
}

pub(crate) fn sha256(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{:x}", Sha256::digest(&bytes)))
}

fn write_run_json(
    drive: &Drive,
    summary: &DriveSummary,
    out_dir: &Path,
    settings: &serde_json::Value,
) -> anyhow::Result<()> {
    let sources: serde_json::Map<String, serde_json::Value> = summary
        .sources
        .iter()
        .map(|(name, count)| (name.to_string(), json!(count)))
        .collect();
    let report = json!({
        "mapfix": env!("CARGO_PKG_VERSION"),
        "drive": drive.name,
        "video": drive.video,
        "camera": drive.camera_path,
        "gnss": drive.gnss.as_ref().filter(|_| settings["gnss"] == true),
        "frames": summary.frames,
        "detected_frames": summary.detected,
        "detect_every": summary.detect_interval,
        "sources": sources,
        "availability": summary.available() as f64 / (summary.frames.max(1) as f64),
        "seconds": summary.seconds,
        "fps": summary.fps(),
        "settings": settings,
        "complete": summary.failure.is_none(),
        "error": summary.failure.as_ref().map(|e| format!("{e:#}")),
    });
    let path = out_dir.join("run.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

fn print_summary(results: &[(&Drive, anyhow::Result<DriveSummary>)], out: &Path) {
    println!(
        "{:<20} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8}",
        "drive", "frames", "fps", "vision", "fused", "gnss", "dead_r", "none", "avail"
    );
    for (drive, result) in results {
        match result {
            Ok(summary) => {
                let share = |name: &str| {
                    let count = summary
                        .sources
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map_or(0, |(_, c)| *c);
                    format!(
                        "{:.0} %",
                        100.0 * count as f64 / summary.frames.max(1) as f64
                    )
                };
                println!(
                    "{:<20} {:>7} {:>7.1} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8}",
                    drive.name,
                    summary.frames,
                    summary.fps(),
                    share("vision"),
                    share("fused"),
                    share("gnss"),
                    share("dead_reckoning"),
                    share("none"),
                    format!(
                        "{:.1} %",
                        100.0 * summary.available() as f64 / summary.frames.max(1) as f64
                    ),
                );
            }
            Err(_) => println!("{:<20} failed (see below)", drive.name),
        }
    }
    println!("outputs in {}/<drive>/", out.display());
}

/// The evaluation's error table for a drive with ground truth.
fn print_errors(
    drive: &Drive,
    truth: &Path,
    out_dir: &Path,
    map: &mapfix_map::Map,
) -> anyhow::Result<()> {
    let positions = out_dir.join("positions.csv");
    let (_, evaluations) = evaluate_files(truth, &[&positions], Some(map), &EvalOptions::default())
        .with_context(|| {
            format!(
                "scoring {} against {}",
                positions.display(),
                truth.display()
            )
        })?;
    println!("\n{}: errors against {}", drive.name, truth.display());
    print!("{}", mapfix_eval::report::text(&evaluations));
    Ok(())
}
