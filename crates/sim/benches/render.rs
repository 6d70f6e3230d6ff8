//! Frame rate of the renderer on the demo town: 640×360 frames along the avenue (a
//! typical street view) and in the underground car park, on 1 and 2 rayon threads.

use mapfix_core::{Attitude, CameraModel, Pose};
use mapfix_sim::render::{Conditions, ConditionsPreset, Scene};
use std::sync::OnceLock;

fn main() {
    divan::main();
}

struct Setup {
    scene: Scene,
    street: Vec<Pose>,
    underground: Vec<Pose>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let town = mapfix_map::demo_town::build(mapfix_map::demo_town::SHIPPED_SEED);
        let poses_along = |lane: &str| -> Vec<Pose> {
            let points = &town.lanes[town.lane(lane).expect("demo town lane")].points;
            points
                .windows(2)
                .take(8)
                .map(|w| {
                    let d = w[1] - w[0];
                    let heading = d.x.atan2(d.y);
                    Pose::new(w[0], Attitude::from_heading(heading, 0.0, 0.0))
                })
                .collect()
        };
        Setup {
            scene: Scene::build(&town.map, 1),
            street: poses_along("avenue-2/f1"),
            underground: poses_along("carpark-loop/f0"),
        }
    })
}

/// The camera drives are rendered with (as `mapfix bench sim` uses).
fn camera() -> CameraModel {
    mapfix_sim::drive::dashcam(640, 360, 30.0)
}

fn render_poses(bencher: divan::Bencher, threads: usize, poses: fn(&Setup) -> &[Pose]) {
    let setup = setup();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let camera = camera();
    let conditions = Conditions::preset(ConditionsPreset::Day);
    let mut k = 0;
    bencher.bench_local(|| {
        let poses = poses(setup);
        let pose = &poses[k % poses.len()];
        k += 1;
        pool.install(|| setup.scene.render(&camera, pose, &conditions, k as u64))
    });
}

#[divan::bench(args = [1, 2])]
fn street_640x360(bencher: divan::Bencher, threads: usize) {
    render_poses(bencher, threads, |s| &s.street);
}

#[divan::bench(args = [1, 2])]
fn underground_640x360(bencher: divan::Bencher, threads: usize) {
    render_poses(bencher, threads, |s| &s.underground);
}

#[divan::bench]
fn build_scene() -> Scene {
    Scene::build(
        &mapfix_map::demo_town::generate(mapfix_map::demo_town::SHIPPED_SEED),
        1,
    )
}
