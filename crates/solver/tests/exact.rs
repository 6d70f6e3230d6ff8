//! Exact bearings from random poses: every solver recovers the pose to 1e-6.

mod common;

use common::{assert_close, general_problem};
use mapfix_solver::p3p::p3p;
use mapfix_solver::synthetic::{Generator, ProblemSpec};
use mapfix_solver::{
    AbsolutePose, Observations, PoseSolver, PositionOnly, Rot3, SolveOptions, Upright, Vec3,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn p3p_finds_the_true_pose_among_its_solutions(seed in any::<u64>()) {
        let (truth, bearings, points) = general_problem(seed, 3);
        let solutions = p3p(&[bearings[0], bearings[1], bearings[2]], &[points[0], points[1], points[2]]);
        let best = solutions
            .iter()
            .min_by(|a, b| a.position_error(&truth).total_cmp(&b.position_error(&truth)))
            .expect("at least the true pose");
        assert_close(best, &truth, 1e-6);
        // Every returned solution explains the three bearings.
        for pose in &solutions {
            for (b, x) in bearings.iter().zip(&points) {
                prop_assert!(pose.to_camera(x).normalize().dot(b) > 1.0 - 1e-9);
            }
        }
    }

    #[test]
    fn position_only_recovers_the_centre(seed in any::<u64>(), n in 2usize..20) {
        let (truth, bearings, points) = general_problem(seed, n);
        let fix = PositionOnly::new(truth.rotation)
            .solve(&Observations::points(&bearings, &points), &SolveOptions::default())
            .unwrap();
        assert_close(&fix.pose, &truth, 1e-6);
        prop_assert_eq!(fix.inliers, n);
    }

    #[test]
    fn upright_recovers_centre_and_yaw(seed in any::<u64>(), n in 3usize..20, yaw in -3.0f64..3.0) {
        let (truth, bearings, points) = general_problem(seed, n);
        // The guess has the true tilt but a wrong rotation about the world's up axis.
        let guess = truth.rotation * Rot3::from_axis_angle(&Vec3::z_axis(), yaw);
        let fix = Upright::new(guess)
            .solve(&Observations::points(&bearings, &points), &SolveOptions::default())
            .unwrap();
        assert_close(&fix.pose, &truth, 1e-6);
    }

    #[test]
    fn upright_minimal_finds_the_true_pose(seed in any::<u64>(), yaw in -3.0f64..3.0) {
        let (truth, bearings, points) = general_problem(seed, 2);
        let guess = truth.rotation * Rot3::from_axis_angle(&Vec3::z_axis(), yaw);
        let solutions = Upright::new(guess).minimal(&[bearings[0], bearings[1]], &[points[0], points[1]]);
        let best = solutions
            .iter()
            .min_by(|a, b| a.position_error(&truth).total_cmp(&b.position_error(&truth)))
            .expect("at least the true pose");
        assert_close(best, &truth, 1e-6);
    }

    #[test]
    fn absolute_pose_recovers_general_poses(seed in any::<u64>(), n in 6usize..40) {
        let (truth, bearings, points) = general_problem(seed, n);
        let fix = AbsolutePose
            .solve(&Observations::points(&bearings, &points), &SolveOptions::default())
            .unwrap();
        assert_close(&fix.pose, &truth, 1e-6);
        prop_assert_eq!(fix.inliers, n);
    }

    #[test]
    fn absolute_pose_recovers_dashcam_poses_despite_outliers(seed in any::<u64>()) {
        let spec = ProblemSpec { landmarks: 30, outlier_ratio: 0.3, noise_px: 0.0 };
        let problem = Generator::new(seed).problem(&spec);
        let fix = AbsolutePose.solve(&problem.observations(), &SolveOptions::default()).unwrap();
        assert_close(&fix.pose, &problem.truth, 1e-6);
        prop_assert!(fix.inliers >= 21);
    }
}
