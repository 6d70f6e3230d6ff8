//! The shipped demo drive (`fixtures/demo-drive/`, the README demo's input) is a complete
//! drive folder that matches the shipped demo-town map: its video decodes to one frame per
//! truth row and label line, every sign label re-projects onto its `center` from the files
//! alone (and is drawn near it, at `drawn_center`), and the GNSS log has no fix while the
//! vehicle is underground.
//!
//! If the map is regenerated, regenerate the fixture with the command recorded in its
//! `sim.json` (`command`).

use mapfix_core::{Attitude, CameraModel, Pose, Vec3};
use mapfix_sim::labels::FrameLabels;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures/demo-drive").join(name)
}

/// (frame, time, pose) of every truth row.
fn truth() -> Vec<(usize, f64, Pose)> {
    let text = std::fs::read_to_string(fixture("truth.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|row| {
            let v: Vec<f64> = row.split(',').map(|x| x.parse().unwrap()).collect();
            let attitude = Attitude {
                roll: v[9].to_radians(),
                pitch: v[10].to_radians(),
                yaw: v[11].to_radians(),
            };
            (
                v[0] as usize,
                v[1],
                Pose::new(Vec3::new(v[6], v[7], v[8]), attitude),
            )
        })
        .collect()
}

#[test]
fn video_labels_and_truth_cover_the_same_frames() {
    let camera = CameraModel::load(&fixture("camera.toml")).unwrap();
    let video = mapfix_sim::video::decode(&fixture("video.mp4")).unwrap();
    let labels = std::fs::read_to_string(fixture("labels.jsonl")).unwrap();
    let truth = truth();
    assert_eq!(
        (video.width as u32, video.height as u32),
        (camera.intrinsics.width, camera.intrinsics.height)
    );
    assert_eq!(video.mean_luma.len(), truth.len());
    assert_eq!(labels.lines().count(), truth.len());
    let seconds = truth.last().unwrap().1 + 1.0 / camera.fps;
    assert!((18.0..=25.0).contains(&seconds), "about 20 s: {seconds}");
    // Daylight outside, a dimmer tunnel at the end.
    assert!(
        video.mean_luma[0] > video.mean_luma[video.mean_luma.len() - 1] + 10.0,
        "{:?}",
        video.mean_luma
    );
}

#[test]
fn sign_labels_reproject_onto_the_shipped_map() {
    let map = mapfix_map::geojson::load(&repo().join("maps/demo-town.geojson")).unwrap();
    let camera = CameraModel::load(&fixture("camera.toml")).unwrap();
    let labels = std::fs::read_to_string(fixture("labels.jsonl")).unwrap();
    let (mut checked, mut drawn_apart) = (0, 0.0);
    for ((frame, _, pose), line) in truth().iter().zip(labels.lines()) {
        let labels: FrameLabels = serde_json::from_str(line).unwrap();
        assert_eq!(labels.frame, *frame);
        for label in &labels.signs {
            let sign = map
                .signs
                .iter()
                .find(|s| s.id == label.id)
                .unwrap_or_else(|| {
                    panic!(
                        "sign {} is not in maps/demo-town.geojson: regenerate the fixture",
                        label.id
                    )
                });
            let [u, v] = camera.project(pose, &sign.position).unwrap();
            let error = (u - label.center[0]).hypot(v - label.center[1]);
            assert!(
                error < 0.5,
                "frame {frame}, sign {}: {error} px off: regenerate the fixture",
                label.id
            );
            // Drawn within 30 cm (6σ of the map-to-world error) of its map position.
            let distance = (camera.world_from_camera(pose).position - sign.position).norm();
            let apart = (label.drawn_center[0] - label.center[0])
                .hypot(label.drawn_center[1] - label.center[1]);
            assert!(
                apart <= camera.intrinsics.fx * 0.3 / distance,
                "frame {frame}, sign {}: drawn {apart} px from its map position {distance} m away",
                label.id
            );
            drawn_apart += apart;
            checked += 1;
        }
    }
    assert!(
        checked > 100,
        "the demo drive passes signs: {checked} labels"
    );
    assert!(drawn_apart > 0.0, "the world drawn is not exactly the map");
}

#[test]
fn gnss_has_no_fix_underground() {
    let map = mapfix_map::geojson::load(&repo().join("maps/demo-town.geojson")).unwrap();
    let sim: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("sim.json")).unwrap()).unwrap();
    let rate = sim["gnss"]["rate_hz"].as_f64().unwrap();
    let truth = truth();
    let fps = sim["fps"].as_f64().unwrap();
    let nmea = std::fs::read_to_string(fixture("gnss.nmea")).unwrap();
    let (mut underground, mut fixes) = (0, 0);
    for (k, line) in nmea.lines().filter(|l| l.starts_with("$GPGGA")).enumerate() {
        let gga = match nmea::parse_str(line).unwrap() {
            nmea::ParseResult::GGA(gga) => gga,
            other => panic!("{other:?}"),
        };
        let frame = ((k as f64 / rate) * fps).round() as usize;
        let (_, _, pose) = truth[frame.min(truth.len() - 1)];
        let valid = gga.fix_type != Some(nmea::sentences::FixType::Invalid);
        if map.level_at(&(pose.position + Vec3::new(0.0, 0.0, 1.5))) < 0 {
            underground += 1;
            assert!(!valid, "a fix underground at epoch {k}: {line}");
        } else {
            fixes += usize::from(valid);
        }
    }
    assert!(
        underground >= 10 && fixes >= 10,
        "{underground} epochs underground, {fixes} fixes outside"
    );
}
