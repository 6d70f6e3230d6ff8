//! The odometer on frames the simulator renders of the shipped demo town, against the
//! route's true motion: on the street, in the underground car park, and standing still.

use image::RgbImage;
use mapfix_core::pose::wrap_angle;
use mapfix_core::{CameraModel, Pose, Vec3};
use mapfix_map::Map;
use mapfix_odometry::{GroundMotion, HorizonCompass, Profile, RoadOdometry, Turn};
use mapfix_sim::drive::dashcam;
use mapfix_sim::labels::render_labelled;
use mapfix_sim::lanes::LaneNetwork;
use mapfix_sim::render::{Conditions, ConditionsPreset, Scene};
use mapfix_sim::route::{DrivingLimits, Route, Waypoint};
use std::path::Path;

const FPS: f64 = 15.0;
/// Frames the odometer looks at before it measures (it first learns what stays put in
/// the picture).
const WARM_UP: usize = 8;

fn demo_town() -> Map {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../maps/demo-town.geojson");
    mapfix_map::geojson::load(&path).unwrap()
}

/// A route through `waypoints` on `level`.
fn route(map: &Map, waypoints: &[(f64, f64)], level: i32) -> Route {
    let network = LaneNetwork::from_map(map);
    let waypoints: Vec<Waypoint> = waypoints
        .iter()
        .map(|&(x, y)| Waypoint {
            position: Vec3::new(x, y, 0.0),
            level,
        })
        .collect();
    Route::through(&network, map, &waypoints, &DrivingLimits::default(), 1).unwrap()
}

/// The dashcam and `count` frames of it (time, true pose, picture), 15 a second from
/// `start_s`, on a route through `waypoints` on `level` by day.
fn rendered(
    waypoints: &[(f64, f64)],
    level: i32,
    start_s: f64,
    count: usize,
) -> (CameraModel, Vec<(f64, Pose, RgbImage)>) {
    let map = demo_town();
    let route = route(&map, waypoints, level);
    let scene = Scene::build(&map, 1);
    let camera = dashcam(960, 540, FPS);
    let day = Conditions::preset(ConditionsPreset::Day);
    let frames = (0..count)
        .map(|k| {
            let time_s = start_s + k as f64 / FPS;
            let pose = route.state_at(time_s).pose;
            // A seed per frame, as the simulator's drives have: fresh sensor noise each time.
            let (frame, _) = render_labelled(&map, &scene, &camera, &pose, &day, k as u64, &[], k);
            (time_s, pose, frame.image)
        })
        .collect();
    (camera, frames)
}

/// Truth and measurement for `pairs` consecutive frame pairs from `start_s` on a route
/// through `waypoints`, after the odometer's warm-up.
fn measure(
    waypoints: &[(f64, f64)],
    level: i32,
    start_s: f64,
    pairs: usize,
) -> Vec<(f64, Option<GroundMotion>)> {
    let (camera, frames) = rendered(waypoints, level, start_s, WARM_UP + pairs + 1);
    let mut odometry = RoadOdometry::new(&camera).expect("the dashcam sees the road");
    let mut previous = None;
    let mut measured = Vec::new();
    for (k, (time_s, pose, image)) in frames.iter().enumerate() {
        let motion = odometry.observe(*time_s, image);
        if let Some(before) = previous.replace(pose.position) {
            if k > WARM_UP {
                measured.push(((pose.position - before).norm(), motion));
            }
        }
    }
    measured
}

/// Checks what the odometer reported on a drive: most pairs measured, each within a few
/// centimetres of the truth (the search keeps to what the car can have done, so a wrong
/// alignment is dropped rather than reported).
fn check(measured: &[(f64, Option<GroundMotion>)], least_share: f64) {
    let errors: Vec<f64> = measured
        .iter()
        .filter_map(|(truth, motion)| motion.and_then(|m| m.distance_m).map(|d| (d - truth).abs()))
        .collect();
    let share = errors.len() as f64 / measured.len() as f64;
    assert!(
        share >= least_share,
        "measured on {:.0} % of pairs: {measured:?}",
        100.0 * share
    );
    // 2.5σ of the distance's reported standard deviation.
    let worst = errors.iter().copied().fold(0.0, f64::max);
    assert!(worst < 0.15, "off by up to {worst:.3} m: {measured:?}");
}

#[test]
fn on_the_street_the_distance_is_within_a_cell() {
    let measured = measure(&[(30.0, 148.25), (300.0, 148.25)], 0, 5.0, 12);
    assert!(
        measured.iter().all(|(truth, _)| *truth > 0.3),
        "the car drives: {measured:?}"
    );
    check(&measured, 0.8);
}

#[test]
fn in_the_car_park_the_distance_is_within_a_cell() {
    // Round the aisle's corner, turning at 25°/s.
    let measured = measure(&[(700.0, 223.25), (785.0, 240.0)], -1, 4.0, 12);
    assert!(
        measured.iter().all(|(truth, _)| *truth > 0.1),
        "the car drives: {measured:?}"
    );
    check(&measured, 0.6);
}

#[test]
fn a_car_that_stops_measures_no_motion() {
    // Up to the car park's give-way line, where the car waits.
    let waypoints = [(600.0, 223.0), (785.0, 240.0)];
    let stop_s = {
        let route = route(&demo_town(), &waypoints, -1);
        let moving = (0..).map(|k| k as f64 * 0.1);
        let mut states = moving.map(|t| (t, route.state_at(t).speed));
        states.find(|&(_, speed)| speed > 1.0).unwrap();
        states.find(|&(_, speed)| speed < 1e-3).unwrap().0
    };
    let measured = measure(&waypoints, -1, stop_s - 1.5, 30);
    let standing: Vec<&Option<GroundMotion>> = measured
        .iter()
        .filter(|(truth, _)| *truth < 1e-3)
        .map(|(_, motion)| motion)
        .collect();
    assert!(standing.len() >= 10, "stands for {} pairs", standing.len());
    let still = standing
        .iter()
        .filter(|motion| motion.is_some_and(|m| m.distance_m.is_some_and(|d| d.abs() < 0.03)))
        .count();
    assert!(
        still * 10 >= standing.len() * 8,
        "{still} of {} standing pairs measured still: {measured:?}",
        standing.len()
    );
    check(&measured, 0.8);
}

#[test]
fn a_blank_road_or_a_gap_in_time_gives_no_motion() {
    let camera = dashcam(960, 540, FPS);
    let mut odometry = RoadOdometry::new(&camera).unwrap();
    let grey = image::RgbImage::from_pixel(960, 540, image::Rgb([90, 90, 90]));
    assert!(odometry.observe(0.0, &grey).is_none(), "no frame before");
    for k in 1..2 * WARM_UP {
        let time_s = k as f64 / FPS;
        assert!(odometry.observe(time_s, &grey).is_none(), "no texture");
    }
    assert!(odometry.observe(10.0, &grey).is_none(), "too long since");
}

/// A dashcam and one frame of it in the car park's aisle.
fn car_park_frame() -> (mapfix_core::CameraModel, image::RgbImage) {
    let map = demo_town();
    let scene = Scene::build(&map, 1);
    let camera = dashcam(960, 540, FPS);
    let day = Conditions::preset(ConditionsPreset::Day);
    let pose = mapfix_core::Pose {
        position: Vec3::new(700.0, 223.25, -6.0),
        rotation: mapfix_core::Rot3::identity(),
    };
    let (frame, _) = render_labelled(&map, &scene, &camera, &pose, &day, 1, &[], 0);
    (camera, frame.image)
}

#[test]
fn a_frame_copied_from_the_one_before_says_nothing() {
    // A video codec repeats what it did not see change; a real sensor never gives the same
    // picture twice.
    let (camera, frame) = car_park_frame();
    let mut odometry = RoadOdometry::new(&camera).unwrap();
    for k in 0..2 * WARM_UP {
        let motion = odometry.observe(k as f64 / FPS, &frame);
        assert!(motion.is_none(), "frame {k}: {motion:?}");
    }
}

#[test]
fn a_road_a_codec_copies_while_the_picture_changes_is_a_standing_car() {
    // Video coded at a low bit rate: the road is copied from the frame before, while
    // something above it (the sky, a passing car) is coded anew.
    let (camera, frame) = car_park_frame();
    let mut odometry = RoadOdometry::new(&camera).unwrap();
    let motions: Vec<Option<GroundMotion>> = (0..3 * WARM_UP)
        .map(|k| {
            let mut image = frame.clone();
            for (_, _, pixel) in image.enumerate_pixels_mut().filter(|(_, v, _)| *v < 64) {
                pixel.0[1] = pixel.0[1].wrapping_add(k as u8);
            }
            odometry.observe(k as f64 / FPS, &image)
        })
        .collect();
    let still: Vec<_> = motions.iter().skip(2 * WARM_UP).collect();
    assert!(
        still
            .iter()
            .all(|motion| motion
                .is_some_and(|m| m.distance_m == Some(0.0) && m.yaw_change_rad == 0.0)),
        "{motions:?}"
    );
}

#[test]
fn a_camera_that_does_not_see_the_road_has_no_odometer() {
    let mut camera = dashcam(960, 540, FPS);
    camera.mount.attitude.pitch = -30f64.to_radians();
    assert!(RoadOdometry::new(&camera).is_none());
}

/// The horizon's turn and the truth's for `pairs` consecutive frame pairs from `start_s`
/// on a route through `waypoints` (rad, counter-clockwise).
fn horizon_turns(
    waypoints: &[(f64, f64)],
    level: i32,
    start_s: f64,
    pairs: usize,
) -> Vec<(f64, Option<Turn>)> {
    let (camera, frames) = rendered(waypoints, level, start_s, pairs + 1);
    let compass = HorizonCompass::new(&camera).expect("the dashcam sees the horizon");
    let seen: Vec<(f64, Profile)> = frames
        .iter()
        .map(|(_, pose, image)| (pose.attitude().yaw, compass.profile(image)))
        .collect();
    seen.windows(2)
        .map(|pair| {
            let ((yaw_before, before), (yaw, now)) = (&pair[0], &pair[1]);
            let truth = wrap_angle(yaw - yaw_before);
            (truth, compass.turn(before, now, 1.0 / FPS))
        })
        .collect()
}

#[test]
fn the_horizon_shows_the_turn_round_the_car_parks_corner() {
    // The aisle's corner at 25°/s (1.7° a frame), where the day's faint floor can leave the
    // road's own odometer blind.
    let turns = horizon_turns(&[(700.0, 223.25), (785.0, 240.0)], -1, 4.0, 12);
    let read: Vec<(f64, Turn)> = turns
        .iter()
        .filter_map(|(truth, turn)| turn.map(|turn| (*truth, turn)))
        .collect();
    assert!(read.len() >= 10, "{turns:?}");
    assert!(read
        .iter()
        .any(|(truth, _)| truth.abs() > 1f64.to_radians()));
    // Each within its own 3σ (the horizon in a car park is near, and a turn reads a little
    // too large), and a fifth of a degree rms.
    let mut square_sum = 0.0;
    for &(truth, turn) in &read {
        let error = turn.yaw_change_rad - truth;
        assert!(error.abs() < 3.0 * turn.sigma_rad, "{truth} {turn:?}");
        square_sum += error * error;
    }
    let rms = (square_sum / read.len() as f64).sqrt().to_degrees();
    assert!(rms < 0.2, "rms {rms:.3}°");
}
