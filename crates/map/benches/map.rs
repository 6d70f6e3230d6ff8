//! Speed of the map's hot paths on the demo town: GeoJSON read and write, building the
//! index, and `visible_from` (called once per frame by the tracker).

use mapfix_core::{Attitude, CameraModel, Distortion, Intrinsics, Mount, Pose, Vec3};
use mapfix_map::demo_town;
use mapfix_map::index::MapIndex;
use std::path::Path;

fn main() {
    divan::main();
}

fn town() -> mapfix_map::Map {
    demo_town::generate(demo_town::SHIPPED_SEED)
}

#[divan::bench]
fn geojson_write(bencher: divan::Bencher) {
    let map = town();
    bencher.bench(|| mapfix_map::geojson::to_string(&map));
}

#[divan::bench]
fn geojson_read(bencher: divan::Bencher) {
    let text = mapfix_map::geojson::to_string(&town());
    bencher.bench(|| mapfix_map::geojson::from_str(&text, Path::new("demo-town.geojson")).unwrap());
}

#[divan::bench]
fn index_build(bencher: divan::Bencher) {
    let map = town();
    bencher.bench(|| MapIndex::new(&map));
}

/// One query per pose along the demo drive, 80 m range, a 1280×720 dashcam.
#[divan::bench]
fn visible_from_along_the_demo_drive(bencher: divan::Bencher) {
    let town = demo_town::build(demo_town::SHIPPED_SEED);
    let index = MapIndex::new(&town.map);
    let camera = CameraModel {
        intrinsics: Intrinsics {
            width: 1280,
            height: 720,
            fx: 1000.0,
            fy: 1000.0,
            cx: 639.5,
            cy: 359.5,
        },
        distortion: Distortion {
            k1: -0.1,
            k2: 0.02,
            ..Default::default()
        },
        mount: Mount {
            position: Vec3::new(1.5, 0.0, 1.4),
            attitude: Attitude::default(),
        },
        fps: 30.0,
    };
    let points = town.route_points(&town.demo_route());
    let poses: Vec<Pose> = points
        .windows(2)
        .filter(|w| (w[1] - w[0]).xy().norm() > 1e-6)
        .map(|w| {
            let d = w[1] - w[0];
            Pose::new(
                w[0],
                Attitude {
                    roll: 0.0,
                    pitch: -(d.z / d.xy().norm()).atan(),
                    yaw: d.y.atan2(d.x),
                },
            )
        })
        .collect();
    let mut next = poses.iter().cycle();
    bencher.bench_local(|| index.visible_from(next.next().unwrap(), &camera, 80.0));
}
