//! Noisy bearings: errors shrink as 1/√N, and the position-only covariance is consistent
//! (normalised estimation error squared ~ χ²₃).

mod common;

use common::{general_problem, perturb};
use mapfix_solver::{
    AbsolutePose, CameraPose, Fix, Observations, PoseSolver, PositionOnly, SolveOptions, Vec3,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// RMS position and rotation errors over random geometries, each landmark observed
/// `repeats` times with independent bearing noise: the information grows exactly with
/// the landmark count, so the errors should shrink as its square root.
fn rms_errors(repeats: usize, solve: impl Fn(&CameraPose, &[Vec3], &[Vec3]) -> Fix) -> (f64, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(repeats as u64);
    let trials = 400;
    let (mut position, mut rotation) = (0.0, 0.0);
    for seed in 0..trials {
        let (truth, exact, points) = general_problem(seed, 12);
        let mut bearings = Vec::new();
        let mut repeated = Vec::new();
        for (bearing, point) in exact.iter().zip(&points) {
            for _ in 0..repeats {
                bearings.push(perturb(bearing, 1e-3, &mut rng));
                repeated.push(*point);
            }
        }
        let fix = solve(&truth, &bearings, &repeated);
        position += fix.pose.position_error(&truth).powi(2);
        rotation += fix.pose.rotation_error(&truth).powi(2);
    }
    (
        (position / trials as f64).sqrt(),
        (rotation / trials as f64).sqrt(),
    )
}

#[test]
fn errors_shrink_as_the_square_root_of_the_landmark_count() {
    let options = SolveOptions::default();
    let position_only = |truth: &CameraPose, bearings: &[Vec3], points: &[Vec3]| {
        PositionOnly::new(truth.rotation)
            .solve(&Observations::points(bearings, points), &options)
            .unwrap()
    };
    let full = |_: &CameraPose, bearings: &[Vec3], points: &[Vec3]| {
        AbsolutePose
            .solve(&Observations::points(bearings, points), &options)
            .unwrap()
    };
    // Four times the observations: errors should halve.
    let (few, many) = (rms_errors(1, position_only), rms_errors(4, position_only));
    let ratio = few.0 / many.0;
    assert!(
        (1.8..2.2).contains(&ratio),
        "position-only: {few:?} vs {many:?}, ratio {ratio}"
    );
    let (few, many) = (rms_errors(1, full), rms_errors(4, full));
    for (name, ratio) in [("position", few.0 / many.0), ("rotation", few.1 / many.1)] {
        assert!(
            (1.8..2.2).contains(&ratio),
            "6-DoF {name}: {few:?} vs {many:?}, ratio {ratio}"
        );
    }
}

#[test]
fn position_only_nees_matches_chi_squared_with_three_degrees_of_freedom() {
    let sigma = 1e-3;
    let options = SolveOptions {
        noise_sigma: sigma,
        ..SolveOptions::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let trials = 2000;
    let mut total = 0.0;
    for seed in 0..trials {
        let (truth, exact, points) = general_problem(seed, 30);
        let bearings: Vec<_> = exact.iter().map(|b| perturb(b, sigma, &mut rng)).collect();
        let fix = PositionOnly::new(truth.rotation)
            .solve(&Observations::points(&bearings, &points), &options)
            .unwrap();
        let error = fix.pose.centre - truth.centre;
        let information = fix
            .position_covariance()
            .try_inverse()
            .expect("a proper covariance");
        total += error.dot(&(information * error));
    }
    let mean = total / trials as f64;
    // χ²₃ has mean 3; a residual-scaled covariance over 57 redundant residuals adds ~4 %.
    assert!((2.7..3.3).contains(&mean), "mean NEES {mean}");
}
