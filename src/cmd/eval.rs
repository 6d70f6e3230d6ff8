//! `mapfix eval`: scores position tracks against ground truth.

use anyhow::{bail, Context};
use clap::Args;
use mapfix_eval::report::{self, plot::Scene};
use mapfix_eval::{evaluate_files, Align, AssocOptions, EvalOptions};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvalArgs {
    /// Ground truth: truth.csv, GPX, NMEA, TUM or KITTI.
    #[arg(long, value_name = "TRUTH")]
    truth: PathBuf,
    /// Estimates to score side by side: positions.csv, GPX, NMEA, TUM or KITTI.
    #[arg(value_name = "ESTIMATE", required = true)]
    estimates: Vec<PathBuf>,
    /// Print one JSON object per estimate (one per line) instead of the table.
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML report.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write every plot as SVG and PNG into this folder.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Alignment before the absolute pose error: none, origin, se3 or sim3 (Umeyama).
    #[arg(long, default_value = "none", value_name = "ALIGN")]
    align: Align,
    /// Largest time (s) between a fix and the nearest truth sample for it to be scored.
    #[arg(long, default_value_t = 0.1, value_name = "S")]
    max_dt: f64,
    /// Seconds added to every estimate time to put it on the truth's clock.
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "S",
        allow_negative_numbers = true
    )]
    t_offset: f64,
    /// HD map (GeoJSON, Lanelet2 .osm or OpenDRIVE .xodr): its frame for lat/lon, its lanes
    /// and signs in the report, and figures split by map level.
    #[arg(long, value_name = "MAP")]
    map: Option<PathBuf>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    if !(args.max_dt.is_finite() && args.max_dt > 0.0) {
        bail!(
            "--max-dt must be a positive number of seconds, got {}",
            args.max_dt
        );
    }
    if !args.t_offset.is_finite() {
        bail!("--t-offset must be a finite number of seconds");
    }
    let map = args.map.as_deref().map(load_map).transpose()?;
    let options = EvalOptions {
        assoc: AssocOptions {
            max_dt: args.max_dt,
            t_offset: args.t_offset,
        },
        align: args.align,
    };
    let estimates: Vec<&Path> = args.estimates.iter().map(PathBuf::as_path).collect();
    let (truth, evaluations) = evaluate_files(&args.truth, &estimates, map.as_ref(), &options)?;

    if args.json {
        for evaluation in &evaluations {
            println!("{}", serde_json::to_string(&report::to_json(evaluation))?);
        }
    } else {
        print!("{}", report::text(&evaluations));
    }
    let scene = Scene {
        truth: &truth,
        evaluations: &evaluations,
        map: map.as_ref(),
    };
    if let Some(path) = &args.report {
        let html = report::html::render(&scene, &options)?;
        std::fs::write(path, html)
            .with_context(|| format!("cannot write report {}", path.display()))?;
        eprintln!("report: {}", path.display());
    }
    if let Some(dir) = &args.plots {
        let written = report::plot::write_all(&scene, dir)?;
        eprintln!("plots: {} files in {}", written.len(), dir.display());
    }
    Ok(())
}

/// The map's own errors name the file and the place, so they need no context here.
fn load_map(path: &Path) -> anyhow::Result<mapfix_map::Map> {
    let (map, _) = mapfix_map::load(path, &mapfix_map::ImportOptions::default())?;
    Ok(map)
}
