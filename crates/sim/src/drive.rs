//! Drive folders (DESIGN.md §3): a vehicle drives a route while the camera films it.
//!
//! The folder gets `frames/000000.png …` and/or `video.mp4`, `camera.toml`, `truth.csv`
//! (the vehicle's pose at every frame), `labels.jsonl` (one line per frame), `gnss.nmea`
//! (the simulated receiver) and `sim.json` (the seed and everything else that shaped the
//! output). Other traffic ([`Traffic`]) drives around the filmed vehicle. Frames are rendered in parallel batches and written in order; every random
//! choice comes from the one seed, so a seed gives the same folder byte for byte.

use crate::gnss::{self, GnssConfig};
use crate::labels::{render_labelled, LabelWriter};
use crate::printed;
use crate::render::jitter::LANDMARK_SIGMA;
use crate::render::{Conditions, ConditionsPreset, Scene};
use crate::route::Route;
use crate::traffic::Traffic;
use crate::video::VideoWriter;
use crate::SimError;
use mapfix_core::{Attitude, CameraModel, Distortion, Intrinsics, LocalFrame, Mount, Pose, Vec3};
use mapfix_map::Map;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// The header of `truth.csv`.
pub(crate) const TRUTH_HEADER: &str =
    "frame,time_s,lat,lon,height_m,heading_deg,east_m,north_m,up_m,roll_deg,pitch_deg,yaw_deg";

/// Frames rendered together before they are written.
const BATCH: usize = 16;

/// The look of a drive: a named preset or one drawn from the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionsChoice {
    Preset(ConditionsPreset),
    Random,
}

impl ConditionsChoice {
    pub fn name(&self) -> String {
        match self {
            ConditionsChoice::Preset(preset) => format!("{preset:?}").to_lowercase(),
            ConditionsChoice::Random => "random".into(),
        }
    }
}

/// What to write and how.
#[derive(Debug, Clone, PartialEq)]
pub struct DriveOptions {
    pub camera: CameraModel,
    /// Length of the drive (s); frames are taken at `camera.fps`.
    pub seconds: f64,
    pub conditions: ConditionsChoice,
    pub png: bool,
    pub video: bool,
    pub gnss: GnssConfig,
    pub seed: u64,
    /// How the route was chosen (`auto` or the route file), recorded in `sim.json`.
    pub route_source: String,
    /// The command line that asked for the drive, recorded in `sim.json`.
    pub command: String,
}

/// What a drive wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct DriveSummary {
    pub frames: usize,
    /// Sign labels over all frames.
    pub sign_labels: usize,
    pub gnss_epochs: usize,
    pub gnss_fixes: usize,
}

/// Derives independent seeds for the parts of a drive from its one seed (SplitMix64).
pub fn sub_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Seed streams of a drive.
pub const ROUTE_STREAM: u64 = 1;
const CONDITIONS_STREAM: u64 = 2;
const GNSS_STREAM: u64 = 3;
pub const TRAFFIC_STREAM: u64 = 4;
const FRAME_STREAM: u64 = 1 << 32;

/// Renders the drive along `route` among `traffic` into `out` (created if missing).
/// `progress` is called with the number of frames written so far.
pub fn write_drive(
    map: &Map,
    scene: &Scene,
    route: &Route,
    traffic: &Traffic,
    options: &DriveOptions,
    out: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<DriveSummary, SimError> {
    let camera = &options.camera;
    let frames = (options.seconds * camera.fps).round() as usize;
    let conditions = match options.conditions {
        ConditionsChoice::Preset(preset) => Conditions::preset(preset),
        ConditionsChoice::Random => Conditions::random(&mut ChaCha8Rng::seed_from_u64(sub_seed(
            options.seed,
            CONDITIONS_STREAM,
        ))),
    };
    std::fs::create_dir_all(out).map_err(SimError::writing(out))?;
    let frames_dir = out.join("frames");
    if options.png {
        std::fs::create_dir_all(&frames_dir).map_err(SimError::writing(&frames_dir))?;
    }
    camera.save(&out.join("camera.toml"))?;
    let mut video = if options.video {
        let k = &camera.intrinsics;
        Some(VideoWriter::create(
            &out.join("video.mp4"),
            k.width,
            k.height,
            camera.fps,
        )?)
    } else {
        None
    };
    let mut truth = String::from(TRUTH_HEADER);
    truth.push('\n');
    let mut labels = LabelWriter::create(&out.join("labels.jsonl"))?;
    let mut sign_labels = 0;
    for batch_start in (0..frames).step_by(BATCH) {
        let batch: Vec<usize> = (batch_start..(batch_start + BATCH).min(frames)).collect();
        let rendered: Vec<_> = batch
            .par_iter()
            .map(|&k| {
                let state = route.state_at(k as f64 / camera.fps);
                let (frame, labels) = render_labelled(
                    map,
                    scene,
                    camera,
                    &state.pose,
                    &conditions,
                    sub_seed(options.seed, FRAME_STREAM + k as u64),
                    &traffic.at(state.time),
                    k,
                );
                let png = options.png.then(|| encode_png(&frame.image));
                (state, frame, labels, png)
            })
            .collect();
        for (&k, (state, frame, line, png)) in batch.iter().zip(rendered) {
            if let Some(png) = png {
                let path = frames_dir.join(format!("{k:06}.png"));
                let png = png.map_err(|e| SimError::Encode {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                std::fs::write(&path, png).map_err(SimError::writing(&path))?;
            }
            if let Some(video) = video.as_mut() {
                video.push(&frame.image)?;
            }
            sign_labels += line.signs.len();
            labels.write(&line)?;
            truth_row(&mut truth, k, state.time, &state.pose, &map.frame);
            progress(k + 1);
        }
    }
    labels.finish()?;
    if let Some(video) = video {
        video.finish()?;
    }
    write_text(&out.join("truth.csv"), &truth)?;
    let duration = frames.saturating_sub(1) as f64 / camera.fps;
    let epochs = gnss::simulate(
        map,
        route,
        duration,
        &options.gnss,
        sub_seed(options.seed, GNSS_STREAM),
    );
    write_text(
        &out.join("gnss.nmea"),
        &gnss::to_nmea(&epochs, &map.frame, &options.gnss),
    )?;
    let summary = DriveSummary {
        frames,
        sign_labels,
        gnss_epochs: epochs.len(),
        gnss_fixes: epochs.iter().filter(|e| e.fix.is_some()).count(),
    };
    let record = serde_json::json!({
        "generator": concat!("mapfix-sim ", env!("CARGO_PKG_VERSION")),
        "command": options.command,
        "seed": options.seed,
        "seeds": "route, conditions, GNSS, traffic and each frame draw from the seed by SplitMix64 streams 1, 2, 3, 4 and 2^32 + frame; the scene (trees, parked cars, car models, landmark error) from the seed itself",
        "map": { "name": map.name, "provenance": map.provenance },
        "route": { "source": options.route_source, "length_m": route.length(), "stops_m": route.stops },
        "seconds": options.seconds,
        "fps": camera.fps,
        "frames": frames,
        "conditions": options.conditions.name(),
        "outputs": { "png": options.png, "video": options.video },
        "gnss": { "rate_hz": options.gnss.rate_hz, "start_unix_s": options.gnss.start_unix_s,
                  "epochs": summary.gnss_epochs, "fixes": summary.gnss_fixes },
        "time_base": "time_s 0 is frame 0; NMEA UTC = start_unix_s + time_s",
        "traffic": { "cars": traffic.len() },
        "landmark_error_sigma_m": LANDMARK_SIGMA,
    });
    write_text(&out.join("sim.json"), &format!("{:#}\n", record))?;
    Ok(summary)
}

/// Appends a `truth.csv` row; degrees only here, at the edge.
pub(crate) fn truth_row(
    out: &mut String,
    frame: usize,
    time: f64,
    pose: &Pose,
    local: &LocalFrame,
) {
    let geodetic = local.to_geodetic(&pose.position);
    let attitude = pose.attitude();
    let p = pose.position;
    let _ = writeln!(
        out,
        "{frame},{time:.6},{:.9},{:.9},{:.4},{:.6},{:.4},{:.4},{:.4},{:.6},{:.6},{:.6}",
        printed::signed(geodetic.lat_deg(), 9),
        printed::signed(geodetic.lon_deg(), 9),
        printed::signed(geodetic.height, 4),
        printed::heading_deg(attitude.heading(), 6),
        printed::signed(p.x, 4),
        printed::signed(p.y, 4),
        printed::signed(p.z, 4),
        printed::signed(attitude.roll.to_degrees(), 6),
        printed::signed(attitude.pitch.to_degrees(), 6),
        printed::signed(attitude.yaw.to_degrees(), 6),
    );
}

fn encode_png(image: &image::RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    image.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )?;
    Ok(bytes)
}

/// A dashcam-like camera: about 65° wide (fx = 1000 px at 1280 px width), mild barrel
/// distortion, 1.4 m above the road and 1.5 m ahead of the vehicle's reference point,
/// tilted 2° down.
pub fn dashcam(width: u32, height: u32, fps: f64) -> CameraModel {
    let f = 1000.0 * f64::from(width) / 1280.0;
    CameraModel {
        intrinsics: Intrinsics {
            width,
            height,
            fx: f,
            fy: f,
            cx: (f64::from(width) - 1.0) / 2.0,
            cy: (f64::from(height) - 1.0) / 2.0,
        },
        distortion: Distortion {
            k1: -0.08,
            k2: 0.012,
            p1: 0.0,
            p2: 0.0,
            k3: 0.0,
        },
        mount: Mount {
            position: Vec3::new(1.5, 0.0, 1.4),
            attitude: Attitude {
                roll: 0.0,
                pitch: 2f64.to_radians(),
                yaw: 0.0,
            },
        },
        fps,
    }
}

pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), SimError> {
    std::fs::write(path, text).map_err(SimError::writing(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::tests::signed_crossroads;
    use crate::labels::FrameLabels;
    use crate::route::tests::route_between;
    use mapfix_core::Geodetic;

    fn drive(out: &Path, seed: u64) -> (Map, DriveSummary) {
        let map = signed_crossroads();
        let route = route_between(&map, (-190.0, -2.0), (100.0, -2.0), seed);
        let options = DriveOptions {
            camera: dashcam(320, 180, 5.0),
            seconds: 2.0,
            conditions: ConditionsChoice::Random,
            png: true,
            video: true,
            gnss: GnssConfig::default(),
            seed,
            route_source: "test".into(),
            command: String::new(),
        };
        let scene = Scene::build(&map, seed);
        let network = crate::lanes::LaneNetwork::from_map(&map);
        let traffic = Traffic::spawn(&network, &map, options.seconds, Some(&route), seed);
        let mut calls = 0;
        let summary = write_drive(&map, &scene, &route, &traffic, &options, out, &mut |_| {
            calls += 1
        })
        .unwrap();
        assert_eq!(calls, summary.frames);
        (map, summary)
    }

    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut names: Vec<String> = [
            "camera.toml",
            "truth.csv",
            "labels.jsonl",
            "gnss.nmea",
            "video.mp4",
            "sim.json",
        ]
        .into_iter()
        .map(String::from)
        .chain((0..10).map(|k| format!("frames/{k:06}.png")))
        .collect();
        names.sort();
        names
            .into_iter()
            .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
            .collect()
    }

    #[test]
    fn a_seed_gives_the_same_drive_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let (_, summary) = drive(&dir.path().join("a"), 4);
        assert_eq!(summary.frames, 10);
        drive(&dir.path().join("b"), 4);
        drive(&dir.path().join("c"), 5);
        let (a, b, c) = (
            files(&dir.path().join("a")),
            files(&dir.path().join("b")),
            files(&dir.path().join("c")),
        );
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            assert!(x == y, "{name} differs between two drives with seed 4");
        }
        let frame = |set: &[(String, Vec<u8>)]| {
            set.iter()
                .find(|(n, _)| n == "frames/000005.png")
                .unwrap()
                .1
                .clone()
        };
        assert_ne!(frame(&a), frame(&c), "another seed gives another drive");
        let sim: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("a/sim.json")).unwrap()).unwrap();
        assert_eq!(sim["seed"], 4);
    }

    /// Reads the drive back from its files alone, as an outside reader would: the pose from
    /// truth.csv (both its ENU and its lat/lon/height + heading columns), the camera from
    /// camera.toml, and re-projects every labelled sign.
    #[test]
    fn labels_reproject_from_truth_and_camera_files() {
        let dir = tempfile::tempdir().unwrap();
        let (map, summary) = drive(dir.path(), 11);
        let camera = CameraModel::load(&dir.path().join("camera.toml")).unwrap();
        let truth = std::fs::read_to_string(dir.path().join("truth.csv")).unwrap();
        let mut rows = truth.lines();
        assert_eq!(rows.next(), Some(TRUTH_HEADER));
        let labels = std::fs::read_to_string(dir.path().join("labels.jsonl")).unwrap();
        let mut checked = 0;
        for (row, line) in rows.zip(labels.lines()) {
            let v: Vec<f64> = row.split(',').map(|x| x.parse().unwrap()).collect();
            let labels: FrameLabels = serde_json::from_str(line).unwrap();
            assert_eq!(labels.frame as f64, v[0]);
            let (roll, pitch) = (v[9].to_radians(), v[10].to_radians());
            let from_enu = Pose::new(
                Vec3::new(v[6], v[7], v[8]),
                Attitude {
                    roll,
                    pitch,
                    yaw: v[11].to_radians(),
                },
            );
            let from_wgs84 = Pose::new(
                map.frame.to_enu(&Geodetic::from_degrees(v[2], v[3], v[4])),
                Attitude::from_heading(v[5].to_radians(), pitch, roll),
            );
            for label in &labels.signs {
                let sign = map.signs.iter().find(|s| s.id == label.id).unwrap();
                for pose in [&from_enu, &from_wgs84] {
                    let [u, v] = camera.project(pose, &sign.position).unwrap();
                    let error = (u - label.center[0]).hypot(v - label.center[1]);
                    assert!(
                        error < 0.5,
                        "frame {}: sign {} off by {error} px",
                        labels.frame,
                        label.id
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, summary.sign_labels);
        assert!(checked >= 10, "the drive passes signs: {checked} labels");
    }
}
