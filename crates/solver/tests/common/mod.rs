//! Random general poses and exact bearings, shared by the property tests.

#![allow(dead_code)]

use mapfix_solver::{CameraPose, Rot3, Vec3};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Any orientation, a centre within 100 m of the origin, and `n` points 1–100 m in front
/// of the camera within a 120° cone.
pub fn general_problem(seed: u64, n: usize) -> (CameraPose, Vec<Vec3>, Vec<Vec3>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let axis_angle = Vec3::new(
        rng.random_range(-3.0..3.0),
        rng.random_range(-3.0..3.0),
        rng.random_range(-3.0..3.0),
    );
    let pose = CameraPose::new(
        Rot3::new(axis_angle),
        Vec3::new(
            rng.random_range(-100.0..100.0),
            rng.random_range(-100.0..100.0),
            rng.random_range(-100.0..100.0),
        ),
    );
    let mut bearings = Vec::with_capacity(n);
    let mut points = Vec::with_capacity(n);
    for _ in 0..n {
        let bearing = Vec3::new(
            rng.random_range(-1.7..1.7),
            rng.random_range(-1.7..1.7),
            1.0,
        )
        .normalize();
        let depth = rng.random_range(1.0..100.0);
        points.push(pose.rotation.inverse() * (bearing * depth) + pose.centre);
        bearings.push(bearing);
    }
    (pose, bearings, points)
}

/// Adds isotropic angular noise of `sigma` radians to a unit bearing.
pub fn perturb(bearing: &Vec3, sigma: f64, rng: &mut impl Rng) -> Vec3 {
    let normal = rand_distr::Normal::new(0.0, sigma).unwrap();
    let helper = if bearing.x.abs() < 0.9 {
        Vec3::x()
    } else {
        Vec3::y()
    };
    let e1 = bearing.cross(&helper).normalize();
    let e2 = bearing.cross(&e1);
    use rand_distr::Distribution;
    (bearing + e1 * normal.sample(rng) + e2 * normal.sample(rng)).normalize()
}

pub fn assert_close(estimate: &CameraPose, truth: &CameraPose, tolerance: f64) {
    let rotation = estimate.rotation_error(truth);
    let position = estimate.position_error(truth);
    assert!(
        rotation < tolerance && position < tolerance,
        "rotation error {rotation:e} rad, position error {position:e} m"
    );
}
