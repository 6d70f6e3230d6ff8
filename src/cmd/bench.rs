//! `mapfix bench …`: measurements of the product's hot paths on synthetic data, and the
//! problem files that let outside tools measure the same problems.

use crate::cmd::solve::solve_options;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use mapfix_solver::p3p::p3p;
use mapfix_solver::synthetic::{Generator, ProblemSpec, SyntheticProblem};
use mapfix_solver::{
    AbsolutePose, AbsoluteWorkspace, Fix, PoseSolver, PositionOnly, SolveError, Upright, Vec3,
};
use serde_json::json;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time the pose solvers on synthetic dashcam problems (or write such problems).
    Solver(SolverArgs),
    /// Render a drive through the demo town and report frames per second.
    Sim(crate::cmd::simulate::BenchSimArgs),
    /// Time the detector on 1280×720 frames: ms per frame, effective and gemm GFLOP/s.
    Detector(crate::cmd::detect::BenchDetectorArgs),
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Solver(args) => solver(args),
        BenchCommand::Sim(args) => crate::cmd::simulate::bench(args),
        BenchCommand::Detector(args) => crate::cmd::detect::bench(args),
    }
}

#[derive(Args)]
pub struct SolverArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Write problems as JSON lines to FILE instead of timing.
    #[arg(long = "write-problems", value_name = "FILE")]
    write_problems: Option<PathBuf>,
    /// Problems to write.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Landmarks per written problem.
    #[arg(long, default_value_t = 30)]
    landmarks: usize,
    /// Share of written landmarks that are outliers (wrong associations), 0–1.
    #[arg(long, default_value_t = 0.3)]
    outliers: f64,
    /// Pixel noise (1σ) of written problems.
    #[arg(long = "noise-px", default_value_t = 1.0)]
    noise_px: f64,
    /// Seed of the problem generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Problems per configuration when timing.
    #[arg(long, default_value_t = 10_000)]
    trials: usize,
}

/// The pixel threshold the benchmark and `mapfix solve` use by default.
const THRESHOLD_PX: f64 = 4.0;
const CONFIDENCE: f64 = 0.9999;
const MAX_ITERATIONS: usize = 1000;

fn solver(args: SolverArgs) -> anyhow::Result<()> {
    if !(0.0..1.0).contains(&args.outliers) {
        bail!("--outliers must be in [0, 1), got {}", args.outliers);
    }
    if !(args.noise_px >= 0.0 && args.noise_px.is_finite()) {
        bail!(
            "--noise-px must be a non-negative number, got {}",
            args.noise_px
        );
    }
    match &args.write_problems {
        Some(path) => write_problems(path, &args),
        None => time_solvers(&args),
    }
}

fn write_problems(path: &Path, args: &SolverArgs) -> anyhow::Result<()> {
    if args.landmarks == 0 {
        bail!("--landmarks must be at least 1");
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let mut generator = Generator::new(args.seed);
    let spec = ProblemSpec {
        landmarks: args.landmarks,
        outlier_ratio: args.outliers,
        noise_px: args.noise_px,
    };
    for id in 0..args.count {
        let problem = generator.problem(&spec);
        let k = problem.camera.intrinsics;
        let r = problem.truth.rotation.matrix();
        let rows = [0, 1, 2].map(|i| [r[(i, 0)], r[(i, 1)], r[(i, 2)]]);
        let c = problem.truth.centre;
        let line = json!({
            "id": id,
            "seed": args.seed,
            "camera": {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy, "width": k.width, "height": k.height},
            "pixels": problem.pixels,
            "points": problem.points.iter().map(|p| [p.x, p.y, p.z]).collect::<Vec<_>>(),
            "truth": {
                "camera_position": [c.x, c.y, c.z],
                "world_to_camera": rows,
            },
        });
        writeln!(out, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {} problems to {}", args.count, path.display());
    Ok(())
}

/// Success rate and median time of one solver over one kind of problem.
struct Measurement {
    landmarks: usize,
    outliers: f64,
    success: f64,
    median_us: f64,
}

fn measure(
    generator: &mut Generator,
    spec: &ProblemSpec,
    trials: usize,
    mut solve: impl FnMut(&SyntheticProblem) -> Result<Fix, SolveError>,
) -> Measurement {
    let problems: Vec<_> = (0..trials).map(|_| generator.problem(spec)).collect();
    let mut micros = Vec::with_capacity(trials);
    let mut successes = 0;
    for problem in &problems {
        let timer = Instant::now();
        let result = black_box(solve(problem));
        micros.push(timer.elapsed().as_secs_f64() * 1e6);
        successes += usize::from(result.is_ok_and(|fix| problem.is_success(&fix.pose)));
    }
    micros.sort_by(f64::total_cmp);
    Measurement {
        landmarks: spec.landmarks,
        outliers: spec.outlier_ratio,
        success: successes as f64 / trials.max(1) as f64,
        median_us: micros.get(micros.len() / 2).copied().unwrap_or(f64::NAN),
    }
}

/// Nanoseconds per P3P call over exact triples, in rounds of 1000 calls for at least
/// 0.3 s: (median round, fastest round). The fastest round shows the code's own cost on a
/// machine shared with other work.
fn time_p3p(generator: &mut Generator) -> (f64, f64) {
    let spec = ProblemSpec {
        landmarks: 3,
        outlier_ratio: 0.0,
        noise_px: 0.0,
    };
    let triples: Vec<([Vec3; 3], [Vec3; 3])> = (0..1000)
        .map(|_| {
            let p = generator.problem(&spec);
            (
                [p.bearings[0], p.bearings[1], p.bearings[2]],
                [p.points[0], p.points[1], p.points[2]],
            )
        })
        .collect();
    let mut rounds = Vec::new();
    let started = Instant::now();
    while started.elapsed().as_secs_f64() < 0.3 {
        let timer = Instant::now();
        for (bearings, points) in &triples {
            black_box(p3p(black_box(bearings), black_box(points)));
        }
        rounds.push(timer.elapsed().as_secs_f64() * 1e9 / triples.len() as f64);
    }
    rounds.sort_by(f64::total_cmp);
    (rounds[rounds.len() / 2], rounds[0])
}

fn time_solvers(args: &SolverArgs) -> anyhow::Result<()> {
    if args.trials == 0 {
        bail!("--trials must be at least 1");
    }
    let mut generator = Generator::new(args.seed);
    let camera = mapfix_solver::synthetic::dashcam_camera();
    let focal = 0.5 * (camera.intrinsics.fx + camera.intrinsics.fy);
    let options = solve_options(THRESHOLD_PX, focal, CONFIDENCE, MAX_ITERATIONS, args.seed);
    let noise_px = 1.0;
    let (p3p_ns, p3p_fastest_ns) = time_p3p(&mut generator);
    let clean = |landmarks| ProblemSpec {
        landmarks,
        outlier_ratio: 0.0,
        noise_px,
    };
    let position_only = measure(&mut generator, &clean(30), args.trials, |p| {
        PositionOnly::new(p.truth.rotation).solve(&p.observations(), &options)
    });
    // Upright is told the true roll and pitch but a wrong yaw (its guess only fixes tilt).
    let upright = measure(&mut generator, &clean(30), args.trials, |p| {
        let yawed = p.truth.rotation * mapfix_solver::Rot3::from_axis_angle(&Vec3::z_axis(), 1.0);
        Upright::new(yawed).solve(&p.observations(), &options)
    });
    let mut workspace = AbsoluteWorkspace::default();
    let mut robust = Vec::new();
    for landmarks in [10, 30, 100] {
        for outlier_ratio in [0.0, 0.3, 0.5] {
            let spec = ProblemSpec {
                landmarks,
                outlier_ratio,
                noise_px,
            };
            robust.push(measure(&mut generator, &spec, args.trials, |p| {
                AbsolutePose.solve_in(&p.observations(), &options, &mut workspace)
            }));
        }
    }
    let headline = robust
        .iter()
        .find(|m| m.landmarks == 30 && m.outliers == 0.3)
        .expect("the grid includes N = 30 at 30 % outliers");
    if args.json {
        let rows: Vec<_> = robust
            .iter()
            .map(|m| json!({"n": m.landmarks, "outliers": m.outliers, "success": m.success, "median_us": m.median_us}))
            .collect();
        let report = json!({
            "p3p_ns": p3p_ns,
            "p3p_fastest_ns": p3p_fastest_ns,
            "position_only_n30_us": position_only.median_us,
            "position_only_n30_success": position_only.success,
            "upright_n30_us": upright.median_us,
            "upright_n30_success": upright.success,
            "robust_n30_o30_us": headline.median_us,
            "robust_n30_o30_success": headline.success,
            "robust": rows,
            "trials": args.trials,
            "noise_px": noise_px,
            "threshold_px": THRESHOLD_PX,
            "seed": args.seed,
        });
        println!("{report}");
    } else {
        println!("synthetic 1280×720 dashcam problems, {noise_px} px noise, {} problems per row, seed {}", args.trials, args.seed);
        println!(
            "success: rotation error < 1° and position error < 1 % of the mean landmark distance"
        );
        println!("P3P (Lambda Twist)            {p3p_ns:8.0} ns per call (fastest round {p3p_fastest_ns:.0} ns)");
        for (name, m) in [
            ("position-only, N = 30", &position_only),
            ("upright, N = 30", &upright),
        ] {
            println!(
                "{name:<29} {:8.2} µs median, success {:.2} %",
                m.median_us,
                100.0 * m.success
            );
        }
        println!("robust 6-DoF (P3P + LO-RANSAC + LM):");
        println!(
            "{:>6} {:>9} {:>11} {:>9}",
            "N", "outliers", "median µs", "success"
        );
        for m in &robust {
            println!(
                "{:>6} {:>8.0}% {:>11.2} {:>8.2}%",
                m.landmarks,
                100.0 * m.outliers,
                m.median_us,
                100.0 * m.success
            );
        }
    }
    Ok(())
}
