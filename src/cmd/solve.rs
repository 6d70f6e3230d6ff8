//! `mapfix solve --problems FILE`: solves absolute-pose problems given as JSON lines
//! (pixels, camera intrinsics, 3-D points, optional truth) with the robust 6-DoF solver,
//! printing one JSON line per problem and a summary.

use anyhow::{bail, Context};
use clap::Args;
use mapfix_core::{CameraModel, Distortion, Intrinsics, Mount, Vec3};
use mapfix_solver::synthetic::is_success;
use mapfix_solver::{
    AbsolutePose, AbsoluteWorkspace, CameraPose, Loss, Observations, Rot3, SolveOptions,
};
use serde_json::{json, Value};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub struct SolveArgs {
    /// Problems as JSON lines (as written by `mapfix bench solver --write-problems`).
    #[arg(long, value_name = "FILE")]
    problems: PathBuf,
    /// End with a JSON summary line on stdout instead of a text summary on stderr.
    #[arg(long)]
    json: bool,
    /// Inlier threshold (reprojection error, pixels).
    #[arg(long = "threshold-px", default_value_t = 4.0)]
    threshold_px: f64,
    /// RANSAC confidence of having drawn an all-inlier sample.
    #[arg(long, default_value_t = 0.9999)]
    confidence: f64,
    /// RANSAC iteration cap.
    #[arg(long = "max-iterations", default_value_t = 1000)]
    max_iterations: usize,
    /// Seed of RANSAC's sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// One problem of the file.
pub struct PixelProblem {
    pub id: u64,
    pub camera: CameraModel,
    pub pixels: Vec<[f64; 2]>,
    pub points: Vec<Vec3>,
    pub truth: Option<CameraPose>,
}

/// Solver options for a pixel threshold on a camera of focal length `focal_px`.
pub fn solve_options(
    threshold_px: f64,
    focal_px: f64,
    confidence: f64,
    max_iterations: usize,
    seed: u64,
) -> SolveOptions {
    let threshold = threshold_px / focal_px;
    SolveOptions {
        inlier_threshold: threshold,
        // Quadratic for residuals up to ~2σ of a 1–2 px detector, linear beyond.
        loss: Loss::Huber(0.5 * threshold),
        noise_sigma: 1.0 / focal_px,
        confidence,
        max_ransac_iterations: max_iterations,
        seed,
        ..SolveOptions::default()
    }
}

pub fn run(args: SolveArgs) -> anyhow::Result<()> {
    // NaN must be rejected too, so spell it out rather than test `<= 0.0` alone.
    if args.threshold_px.is_nan() || args.threshold_px <= 0.0 {
        bail!("--threshold-px must be positive, got {}", args.threshold_px);
    }
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        bail!(
            "--confidence must be between 0 and 1, got {}",
            args.confidence
        );
    }
    let problems = read_problems(&args.problems)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut workspace = AbsoluteWorkspace::default();
    let mut bearings = Vec::new();
    let mut micros = Vec::with_capacity(problems.len());
    let (mut solved, mut with_truth, mut successes) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    for problem in &problems {
        let k = problem.camera.intrinsics;
        let options = solve_options(
            args.threshold_px,
            0.5 * (k.fx + k.fy),
            args.confidence,
            args.max_iterations,
            args.seed,
        );
        let timer = Instant::now();
        bearings.clear();
        bearings.extend(problem.pixels.iter().map(|p| {
            problem
                .camera
                .pixel_to_ray(p[0], p[1])
                .expect("an undistorted pinhole inverts every pixel")
        }));
        let result = AbsolutePose.solve_in(
            &Observations::points(&bearings, &problem.points),
            &options,
            &mut workspace,
        );
        let elapsed = timer.elapsed().as_secs_f64() * 1e6;
        micros.push(elapsed);
        let line = match &result {
            Ok(fix) => {
                solved += 1;
                if let Some(truth) = &problem.truth {
                    with_truth += 1;
                    successes += usize::from(is_success(&fix.pose, truth, &problem.points));
                }
                let c = fix.pose.centre;
                json!({
                    "id": problem.id,
                    "ok": true,
                    "camera_position": [c.x, c.y, c.z],
                    "world_to_camera": rows(&fix.pose.rotation),
                    "inliers": fix.inliers,
                    "micros": elapsed,
                })
            }
            Err(status) => {
                with_truth += usize::from(problem.truth.is_some());
                json!({
                    "id": problem.id,
                    "ok": false,
                    "status": status.to_string(),
                    "inliers": 0,
                    "micros": elapsed,
                })
            }
        };
        writeln!(out, "{line}")?;
    }
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    let solve_ms = micros.iter().sum::<f64>() / 1e3;
    micros.sort_by(f64::total_cmp);
    let median_us = micros.get(micros.len() / 2).copied().unwrap_or(0.0);
    let success_rate = (with_truth > 0).then(|| successes as f64 / with_truth as f64);
    if args.json {
        let summary = json!({"summary": {
            "problems": problems.len(),
            "solved": solved,
            "with_truth": with_truth,
            "successes": successes,
            "success_rate": success_rate,
            "solve_ms": solve_ms,
            "median_us": median_us,
            "wall_ms": wall_ms,
        }});
        writeln!(out, "{summary}")?;
    } else {
        out.flush()?;
        eprintln!(
            "{} problems, {solved} solved in {solve_ms:.1} ms (median {median_us:.1} µs per problem)",
            problems.len()
        );
        if let Some(rate) = success_rate {
            eprintln!(
                "success against truth: {successes}/{with_truth} = {:.2} % (rotation < 1°, position < 1 % of mean landmark distance)",
                100.0 * rate
            );
        }
    }
    out.flush()?;
    Ok(())
}

fn rows(rotation: &Rot3) -> [[f64; 3]; 3] {
    let m = rotation.matrix();
    [0, 1, 2].map(|r| [m[(r, 0)], m[(r, 1)], m[(r, 2)]])
}

/// Reads and validates every problem of a JSON-lines file.
pub fn read_problems(path: &Path) -> anyhow::Result<Vec<PixelProblem>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let problem = parse_problem(line)
            .with_context(|| format!("{} line {}", path.display(), index + 1))?;
        problems.push(problem);
    }
    Ok(problems)
}

fn parse_problem(line: &str) -> anyhow::Result<PixelProblem> {
    let value: Value = serde_json::from_str(line).context("not valid JSON")?;
    let id = value
        .get("id")
        .and_then(Value::as_u64)
        .context("missing or invalid \"id\"")?;
    let camera = value.get("camera").context("missing \"camera\"")?;
    let number = |key: &str| -> anyhow::Result<f64> {
        camera
            .get(key)
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite())
            .with_context(|| format!("camera: missing or invalid \"{key}\""))
    };
    let intrinsics = Intrinsics {
        width: number("width")? as u32,
        height: number("height")? as u32,
        fx: number("fx")?,
        fy: number("fy")?,
        cx: number("cx")?,
        cy: number("cy")?,
    };
    if !(intrinsics.fx > 0.0 && intrinsics.fy > 0.0) {
        bail!("camera: focal lengths must be positive");
    }
    let pixels: Vec<[f64; 2]> = vectors(&value, "pixels")?;
    let points: Vec<[f64; 3]> = vectors(&value, "points")?;
    if pixels.len() != points.len() {
        bail!("{} pixels but {} points", pixels.len(), points.len());
    }
    let truth = match value.get("truth") {
        None | Some(Value::Null) => None,
        Some(truth) => Some(parse_truth(truth).context("truth")?),
    };
    Ok(PixelProblem {
        id,
        camera: CameraModel {
            intrinsics,
            distortion: Distortion::default(),
            mount: Mount::default(),
            fps: 30.0,
        },
        pixels,
        points: points.iter().map(|p| Vec3::from(*p)).collect(),
        truth,
    })
}

/// An array of fixed-size numeric arrays under `key`, naming the element that is wrong.
fn vectors<const N: usize>(value: &Value, key: &str) -> anyhow::Result<Vec<[f64; N]>> {
    let items = value
        .get(key)
        .and_then(Value::as_array)
        .with_context(|| format!("missing or invalid \"{key}\""))?;
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            fixed_array(item)
                .with_context(|| format!("\"{key}\"[{index}]: expected {N} finite numbers"))
        })
        .collect()
}

fn fixed_array<const N: usize>(item: &Value) -> Option<[f64; N]> {
    let array = item.as_array().filter(|a| a.len() == N)?;
    let mut out = [0.0; N];
    for (slot, x) in out.iter_mut().zip(array) {
        *slot = x.as_f64().filter(|x| x.is_finite())?;
    }
    Some(out)
}

fn parse_truth(truth: &Value) -> anyhow::Result<CameraPose> {
    let centre = truth
        .get("camera_position")
        .and_then(fixed_array::<3>)
        .context("missing or invalid \"camera_position\"")?;
    let rows: Vec<[f64; 3]> = vectors(truth, "world_to_camera")?;
    if rows.len() != 3 {
        bail!("\"world_to_camera\" must have 3 rows");
    }
    let columns = [0, 1, 2].map(|c| Vec3::new(rows[0][c], rows[1][c], rows[2][c]));
    let rotation = Rot3::from_basis_unchecked(&columns);
    let product = rotation.matrix() * rotation.matrix().transpose();
    let deviation = (0..3)
        .flat_map(|r| (0..3).map(move |c| (r, c)))
        .map(|(r, c)| (product[(r, c)] - if r == c { 1.0 } else { 0.0 }).abs())
        .fold(0.0, f64::max);
    if deviation > 1e-6 {
        bail!("\"world_to_camera\" is not a rotation matrix");
    }
    Ok(CameraPose::new(rotation, Vec3::from(centre)))
}
