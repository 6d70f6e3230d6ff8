//! `cargo bench -p mapfix-solver`: per-call cost of each solver on synthetic dashcam
//! problems (1 px noise). `mapfix bench solver` reports the same with success rates.

use divan::{black_box, Bencher};
use mapfix_solver::p3p::p3p;
use mapfix_solver::synthetic::{Generator, ProblemSpec, SyntheticProblem};
use mapfix_solver::{
    AbsolutePose, AbsoluteWorkspace, PoseSolver, PositionOnly, Rot3, SolveOptions, Upright, Vec3,
};

fn main() {
    divan::main();
}

fn problems(landmarks: usize, outlier_ratio: f64, noise_px: f64) -> Vec<SyntheticProblem> {
    let mut generator = Generator::new(1);
    let spec = ProblemSpec {
        landmarks,
        outlier_ratio,
        noise_px,
    };
    (0..256).map(|_| generator.problem(&spec)).collect()
}

/// Runs `solve` on the problems in turn, one per timed call.
fn cycle(
    bencher: Bencher,
    problems: &[SyntheticProblem],
    mut solve: impl FnMut(&SyntheticProblem),
) {
    let mut next = 0;
    bencher.bench_local(|| {
        solve(&problems[next]);
        next = (next + 1) % problems.len();
    });
}

#[divan::bench]
fn lambda_twist_p3p(bencher: Bencher) {
    let problems = problems(3, 0.0, 0.0);
    cycle(bencher, &problems, |p| {
        let bearings: [Vec3; 3] = [p.bearings[0], p.bearings[1], p.bearings[2]];
        let points: [Vec3; 3] = [p.points[0], p.points[1], p.points[2]];
        black_box(p3p(black_box(&bearings), black_box(&points)));
    });
}

#[divan::bench(args = [10, 30, 100])]
fn position_only(bencher: Bencher, landmarks: usize) {
    let problems = problems(landmarks, 0.0, 1.0);
    let options = SolveOptions::default();
    cycle(bencher, &problems, |p| {
        black_box(PositionOnly::new(p.truth.rotation).solve(&p.observations(), &options)).ok();
    });
}

#[divan::bench(args = [10, 30, 100])]
fn upright(bencher: Bencher, landmarks: usize) {
    let problems = problems(landmarks, 0.0, 1.0);
    let options = SolveOptions::default();
    cycle(bencher, &problems, |p| {
        let guess = p.truth.rotation * Rot3::from_axis_angle(&Vec3::z_axis(), 1.0);
        black_box(Upright::new(guess).solve(&p.observations(), &options)).ok();
    });
}

#[divan::bench(args = [10, 30, 100])]
fn robust_6dof_30_percent_outliers(bencher: Bencher, landmarks: usize) {
    let problems = problems(landmarks, 0.3, 1.0);
    let options = SolveOptions::default();
    let mut workspace = AbsoluteWorkspace::default();
    cycle(bencher, &problems, |p| {
        black_box(AbsolutePose.solve_in(&p.observations(), &options, &mut workspace)).ok();
    });
}
