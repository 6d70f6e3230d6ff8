//! Lane-line rays join the least squares: on a straight road they pin the lateral offset
//! (and yaw), leave the along-track position free, and sharpen a fix from signs.

use mapfix_core::{Attitude, Pose};
use mapfix_solver::covariance::{summarize, unscaled_covariance};
use mapfix_solver::refine::{refine, RefineOptions};
use mapfix_solver::synthetic::dashcam_camera;
use mapfix_solver::{
    CameraPose, Degeneracy, Freedom, LaneObservation, Loss, Observations, PoseSolver, PositionOnly,
    SolveOptions, Vec3,
};

/// A car on a straight road along world x, camera 1.4 m up and pitched 3° down.
fn camera_pose() -> CameraPose {
    let mut camera = dashcam_camera();
    camera.mount.position = Vec3::new(0.0, 0.0, 1.4);
    camera.mount.attitude = Attitude {
        roll: 0.0,
        pitch: 3f64.to_radians(),
        yaw: 0.0,
    };
    let vehicle = Pose::new(Vec3::new(120.0, 40.0, 0.0), Attitude::default());
    CameraPose::from_world_from_camera(&camera.world_from_camera(&vehicle))
}

/// Three painted lines (y = 38.25, 41.75, 45.25 m) on the ground, as map polylines.
fn lane_polylines() -> Vec<Vec<Vec3>> {
    [38.25, 41.75, 45.25]
        .iter()
        .map(|y| {
            (0..30)
                .map(|i| Vec3::new(100.0 + 10.0 * i as f64, *y, 0.0))
                .collect()
        })
        .collect()
}

/// Exact rays to lane-line points 6–60 m ahead that fall inside the image.
fn lane_rays(truth: &CameraPose, polylines: &[Vec<Vec3>]) -> Vec<Vec<Vec3>> {
    let camera = dashcam_camera();
    polylines
        .iter()
        .map(|line| {
            let y = line[0].y;
            (0..28)
                .map(|i| {
                    truth
                        .to_camera(&Vec3::new(126.0 + 2.0 * i as f64, y, 0.0))
                        .normalize()
                })
                .filter(|ray| camera.ray_to_pixel(ray).is_some_and(|p| camera.contains(p)))
                .collect()
        })
        .collect()
}

fn lanes<'a>(rays: &'a [Vec<Vec3>], polylines: &'a [Vec<Vec3>]) -> Vec<LaneObservation<'a>> {
    rays.iter()
        .zip(polylines)
        .map(|(rays, polyline)| LaneObservation { rays, polyline })
        .collect()
}

#[test]
fn lanes_alone_pull_a_lateral_offset_back() {
    let truth = camera_pose();
    let polylines = lane_polylines();
    let rays = lane_rays(&truth, &polylines);
    assert!(rays.iter().all(|r| r.len() >= 10), "every line is seen");
    let lanes = lanes(&rays, &polylines);
    let observations = Observations::default().with_lanes(&lanes);
    let offset = CameraPose::new(truth.rotation, truth.centre + Vec3::new(0.0, 0.3, 0.0));
    let options = RefineOptions {
        loss: Loss::Huber(0.01),
        max_iterations: 50,
    };
    for freedom in [Freedom::PositionOnly, Freedom::Full] {
        let refined = refine(&observations, None, &offset, freedom, &options);
        let error = refined.pose.centre - truth.centre;
        assert!(
            error.y.abs() < 1e-6,
            "{freedom:?}: lateral error {} m",
            error.y
        );
        assert!(
            error.z.abs() < 1e-6,
            "{freedom:?}: height error {} m",
            error.z
        );
        assert!(refined.pose.rotation_error(&truth) < 1e-8, "{freedom:?}");
    }
}

#[test]
fn lanes_alone_say_nothing_about_the_position_along_the_road() {
    let truth = camera_pose();
    let polylines = lane_polylines();
    let rays = lane_rays(&truth, &polylines);
    let lanes = lanes(&rays, &polylines);
    let observations = Observations::default().with_lanes(&lanes);
    let summary = summarize(&observations, &truth, 0.01);
    let result = unscaled_covariance(&summary, Freedom::PositionOnly, &truth);
    assert!(
        matches!(result, Err(Degeneracy::Unobservable { .. })),
        "{result:?}"
    );
}

#[test]
fn lanes_sharpen_the_lateral_position_of_a_fix_from_signs() {
    let truth = camera_pose();
    let polylines = lane_polylines();
    let rays = lane_rays(&truth, &polylines);
    let lanes = lanes(&rays, &polylines);
    // Two signs far ahead pin the along-track position but only weakly the lateral one.
    let signs = [Vec3::new(190.0, 46.0, 2.5), Vec3::new(200.0, 47.0, 3.0)];
    let bearings: Vec<Vec3> = signs
        .iter()
        .map(|s| truth.to_camera(s).normalize())
        .collect();
    let solver = PositionOnly::new(truth.rotation);
    let options = SolveOptions::default();
    let signs_only = solver
        .solve(&Observations::points(&bearings, &signs), &options)
        .unwrap();
    let together = solver
        .solve(
            &Observations::points(&bearings, &signs).with_lanes(&lanes),
            &options,
        )
        .unwrap();
    assert!(together.pose.position_error(&truth) < 1e-6);
    let lateral = |fix: &mapfix_solver::Fix| fix.position_covariance()[(1, 1)].sqrt();
    assert!(
        lateral(&together) < 0.2 * lateral(&signs_only),
        "lateral σ {} m with lanes vs {} m without",
        lateral(&together),
        lateral(&signs_only)
    );
}
