//! Speed of the OpenDRIVE importer: the hand-made fixture, and CARLA's Town01 (a 1 MB,
//! 122-road map) where the shared public data lies beside the repository.

use mapfix_map::{opendrive, ImportOptions};
use std::path::{Path, PathBuf};

fn main() {
    divan::main();
}

fn bench_import(bencher: divan::Bencher, path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let options = ImportOptions::default();
    bencher.bench(|| opendrive::import(&text, path, &options).unwrap());
}

fn manifest_relative(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[divan::bench]
fn fixture_road_geometries(bencher: divan::Bencher) {
    bench_import(
        bencher,
        &manifest_relative("../../fixtures/maps/road-geometries.xodr"),
    );
}

/// Measures nothing where `shared/data/maps/opendrive-carla/` is absent.
#[divan::bench]
fn carla_town01(bencher: divan::Bencher) {
    let path = manifest_relative("../../../shared/data/maps/opendrive-carla/Town01.xodr");
    if path.is_file() {
        bench_import(bencher, &path);
    }
}
