//! Time per frame of the road odometer (sampling the grid, taking out the background,
//! aligning with the frame before) on rendered 1280×720 frames of the demo town, driving
//! along the avenue and round the car park aisle. The first frames warm the background up
//! outside the timing.

use image::RgbImage;
use mapfix_core::{Attitude, CameraModel, Pose, Vec3};
use mapfix_odometry::RoadOdometry;
use mapfix_sim::render::{Conditions, ConditionsPreset, Scene};
use std::sync::OnceLock;

fn main() {
    divan::main();
}

const FPS: f64 = 30.0;
const FRAMES: usize = 24;

struct Drive {
    camera: CameraModel,
    frames: Vec<RgbImage>,
}

/// Frames 0.3 m apart (9 m/s at 30 fps) from the start of a demo-town lane.
fn drive(lane: &str) -> Drive {
    let town = mapfix_map::demo_town::build(mapfix_map::demo_town::SHIPPED_SEED);
    let points = &town.lanes[town.lane(lane).expect("demo town lane")].points;
    let along = (points[1] - points[0]).normalize();
    let heading = along.x.atan2(along.y);
    let scene = Scene::build(&town.map, 1);
    let camera = mapfix_sim::drive::dashcam(1280, 720, FPS);
    let conditions = Conditions::preset(ConditionsPreset::Day);
    let frames = (0..FRAMES)
        .map(|k| {
            let position: Vec3 = points[0] + along * (0.3 * k as f64);
            let pose = Pose::new(position, Attitude::from_heading(heading, 0.0, 0.0));
            scene.render(&camera, &pose, &conditions, k as u64).image
        })
        .collect();
    Drive { camera, frames }
}

fn street() -> &'static Drive {
    static DRIVE: OnceLock<Drive> = OnceLock::new();
    DRIVE.get_or_init(|| drive("avenue-2/f1"))
}

fn car_park() -> &'static Drive {
    static DRIVE: OnceLock<Drive> = OnceLock::new();
    DRIVE.get_or_init(|| drive("carpark-loop/f0"))
}

fn observe_frames(bencher: divan::Bencher, drive: &Drive) {
    const WARM_UP: usize = 8;
    let mut odometry = RoadOdometry::new(&drive.camera).expect("the dashcam sees the road");
    for (k, frame) in drive.frames[..WARM_UP].iter().enumerate() {
        odometry.observe(k as f64 / FPS, frame);
    }
    let mut k = WARM_UP;
    bencher.bench_local(|| {
        let frame = &drive.frames[WARM_UP + k % (FRAMES - WARM_UP)];
        k += 1;
        odometry.observe(k as f64 / FPS, frame)
    });
}

#[divan::bench]
fn street_1280x720(bencher: divan::Bencher) {
    observe_frames(bencher, street());
}

#[divan::bench]
fn car_park_1280x720(bencher: divan::Bencher) {
    observe_frames(bencher, car_park());
}
