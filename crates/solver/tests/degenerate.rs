//! Input that cannot determine a pose gets an error status, never a panic or a guess.

mod common;

use common::general_problem;
use mapfix_solver::p3p::p3p;
use mapfix_solver::{
    AbsolutePose, Degeneracy, LaneObservation, Observations, PoseSolver, PositionOnly, Rot3,
    SolveError, SolveOptions, Upright, Vec3,
};
use proptest::prelude::*;

fn solvers() -> Vec<(&'static str, Box<dyn PoseSolver>)> {
    vec![
        (
            "position-only",
            Box::new(PositionOnly::new(Rot3::identity())),
        ),
        ("upright", Box::new(Upright::new(Rot3::identity()))),
        ("6-DoF", Box::new(AbsolutePose)),
    ]
}

fn solve_all(
    observations: &Observations<'_>,
) -> Vec<(&'static str, Result<mapfix_solver::Fix, SolveError>)> {
    solvers()
        .into_iter()
        .map(|(name, solver)| (name, solver.solve(observations, &SolveOptions::default())))
        .collect()
}

#[test]
fn empty_input_is_too_few_points() {
    for (name, result) in solve_all(&Observations::default()) {
        assert!(
            matches!(result, Err(SolveError::TooFewPoints { got: 0, .. })),
            "{name}: {result:?}"
        );
    }
}

#[test]
fn two_landmarks_are_too_few_for_six_degrees_of_freedom() {
    let (_, bearings, points) = general_problem(1, 2);
    let result = AbsolutePose.solve(
        &Observations::points(&bearings, &points),
        &SolveOptions::default(),
    );
    assert_eq!(result, Err(SolveError::TooFewPoints { needed: 4, got: 2 }));
}

#[test]
fn collinear_landmarks_leave_the_rotation_about_their_line_free() {
    let points: Vec<Vec3> = (0..8)
        .map(|i| Vec3::new(i as f64, 2.0 * i as f64, 10.0 + i as f64))
        .collect();
    let bearings: Vec<Vec3> = points
        .iter()
        .map(|p| (p - Vec3::new(5.0, -3.0, 0.0)).normalize())
        .collect();
    let result = AbsolutePose.solve(
        &Observations::points(&bearings, &points),
        &SolveOptions::default(),
    );
    assert_eq!(
        result,
        Err(SolveError::Degenerate(Degeneracy::CollinearPoints))
    );
}

#[test]
fn landmarks_all_in_one_direction_do_not_fix_a_position() {
    let bearings = vec![Vec3::z(); 5];
    let points: Vec<Vec3> = (1..6)
        .map(|i| Vec3::new(0.0, 0.0, 10.0 * i as f64))
        .collect();
    let result = PositionOnly::new(Rot3::identity()).solve(
        &Observations::points(&bearings, &points),
        &SolveOptions::default(),
    );
    assert_eq!(
        result,
        Err(SolveError::Degenerate(Degeneracy::AllAtOneBearing))
    );
}

#[test]
fn two_landmarks_admit_two_upright_poses() {
    // Two landmarks seen with a known tilt: unless one range is negative, two poses fit.
    let (truth, bearings, points) = general_problem(4, 2);
    let solutions =
        Upright::new(truth.rotation).minimal(&[bearings[0], bearings[1]], &[points[0], points[1]]);
    let result = Upright::new(truth.rotation).solve(
        &Observations::points(&bearings, &points),
        &SolveOptions::default(),
    );
    if solutions.len() == 2 {
        assert_eq!(
            result.unwrap_err(),
            SolveError::Degenerate(Degeneracy::Ambiguous { solutions: 2 })
        );
    } else {
        assert!(result.is_ok());
    }
}

#[test]
fn non_finite_and_mismatched_input_is_invalid() {
    let (_, bearings, points) = general_problem(2, 6);
    let mut nan_bearing = bearings.clone();
    nan_bearing[3].x = f64::NAN;
    let mut nan_point = points.clone();
    nan_point[4].z = f64::INFINITY;
    let long_bearing: Vec<Vec3> = bearings.iter().map(|b| b * 2.0).collect();
    let cases = [
        (Observations::points(&nan_bearing, &points), 3),
        (Observations::points(&bearings, &nan_point), 4),
        (Observations::points(&long_bearing, &points), 0),
        (Observations::points(&bearings[..5], &points), 5),
    ];
    for (observations, index) in cases {
        for (name, result) in solve_all(&observations) {
            assert!(
                matches!(result, Err(SolveError::InvalidInput { index: i, .. }) if i == index),
                "{name}: {result:?}"
            );
        }
    }
    let polyline = [Vec3::zeros()];
    let lanes = [LaneObservation {
        rays: &bearings[..1],
        polyline: &polyline,
    }];
    let observations = Observations::points(&bearings, &points).with_lanes(&lanes);
    for (name, result) in solve_all(&observations) {
        assert!(
            matches!(result, Err(SolveError::InvalidInput { .. })),
            "{name}: {result:?}"
        );
    }
}

/// Components that break naive code: NaN, infinities, zero, huge and tiny values.
fn wild_component() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -100.0f64..100.0,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(0.0),
        1 => Just(1e300),
        1 => Just(1e-300),
    ]
}

fn wild_vector() -> impl Strategy<Value = Vec3> {
    (wild_component(), wild_component(), wild_component()).prop_map(|(x, y, z)| Vec3::new(x, y, z))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Whatever comes in, every entry point returns; a pose it returns is finite.
    #[test]
    fn entry_points_never_panic(
        raw_bearings in prop::collection::vec(wild_vector(), 0..12),
        points in prop::collection::vec(wild_vector(), 0..12),
        normalise in any::<bool>(),
        collapse in any::<bool>(),
    ) {
        let mut bearings: Vec<Vec3> = if normalise {
            raw_bearings.iter().map(|b| b.normalize()).collect()
        } else {
            raw_bearings
        };
        if collapse {
            // All landmarks at one bearing, or all on one line.
            if let Some(first) = bearings.first().copied() {
                bearings.iter_mut().for_each(|b| *b = first);
            }
        }
        let observations = Observations::points(&bearings, &points);
        for (_, result) in solve_all(&observations) {
            if let Ok(fix) = result {
                prop_assert!(fix.pose.centre.iter().all(|x| x.is_finite()));
                prop_assert!(fix.covariance.iter().all(|x| x.is_finite()));
            }
        }
        if bearings.len() >= 3 && points.len() >= 3 {
            let solutions = p3p(&[bearings[0], bearings[1], bearings[2]], &[points[0], points[1], points[2]]);
            prop_assert!(solutions.len() <= 4);
        }
        if bearings.len() >= 2 && points.len() >= 2 {
            let _ = Upright::new(Rot3::identity()).minimal(&[bearings[0], bearings[1]], &[points[0], points[1]]);
        }
    }
}
