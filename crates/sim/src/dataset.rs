//! Detector training sets: independent frames at random poses along the lanes, each under
//! its own random conditions, with the same labels as drives.
//!
//! Half the frames look at a sign on purpose (the vehicle 6–60 m before a sign that faces
//! its lane), the rest are anywhere on any lane, so that signs are frequent but the
//! detector also sees plenty of streets without them. The pose wanders within its lane
//! (σ 0.3 m sideways, 3° in yaw, 0.6° in pitch and roll). Other traffic is that of one
//! [`Traffic`] at a random time within its window, less any car in the way of the filmed
//! vehicle. Frames are JPEG files
//! (`frames/000000.jpg …`; PNG would be ten times larger for 20 000 frames), with
//! `labels.jsonl`, `truth.csv` (the pose of each frame), `camera.toml` and `dataset.json`.

use crate::drive::{sub_seed, truth_row, write_text, TRUTH_HEADER};
use crate::labels::{render_labelled, FrameLabels, LabelWriter};
use crate::lanes::LaneNetwork;
use crate::render::{Conditions, Scene};
use crate::traffic::Traffic;
use crate::SimError;
use image::codecs::jpeg::JpegEncoder;
use mapfix_core::{Attitude, CameraModel, Pose, Vec3};
use mapfix_map::Map;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;
use std::path::Path;

/// Frames rendered together before they are written.
const BATCH: usize = 64;
const JPEG_QUALITY: u8 = 92;
/// A sign is looked at from this far before it (m).
const SIGN_VIEW_DISTANCE: (f64, f64) = (6.0, 60.0);
/// The time window (s) of the traffic frames are taken from.
const TRAFFIC_WINDOW: f64 = 30.0;
/// The seed stream of the traffic (frame k draws from stream k).
const TRAFFIC_STREAM: u64 = 1 << 48;

/// What to render.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetOptions {
    pub count: usize,
    pub camera: CameraModel,
    pub seed: u64,
    /// The command line that asked for the set, recorded in `dataset.json`.
    pub command: String,
}

/// What a training set holds.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSummary {
    pub frames: usize,
    pub sign_labels: usize,
    /// Frames with at least one sign label.
    pub frames_with_signs: usize,
}

/// Where frames can be taken: lanes by cumulative length, and for each sign the lane
/// (and the arc on it) from which it is seen face on.
struct PoseSampler<'a> {
    network: &'a LaneNetwork,
    cumulative: Vec<f64>,
    sign_views: Vec<(usize, f64)>,
}

impl<'a> PoseSampler<'a> {
    fn new(map: &Map, network: &'a LaneNetwork) -> Self {
        let cumulative = network
            .lanes
            .iter()
            .scan(0.0, |total, lane| {
                *total += lane.centre.length();
                Some(*total)
            })
            .collect();
        let sign_views = map
            .signs
            .iter()
            .filter(|sign| sign.class.gtsrb().is_some())
            .filter_map(|sign| {
                network
                    .lanes
                    .iter()
                    .enumerate()
                    .filter(|(_, lane)| lane.level == sign.level)
                    .filter_map(|(i, lane)| {
                        let (s, d) = lane.centre.project(&sign.position);
                        let facing = lane.centre.direction_at(s).dot(&sign.normal()) < -0.5;
                        (facing && d < 15.0 && s > SIGN_VIEW_DISTANCE.0).then_some((i, s, d))
                    })
                    .min_by(|a, b| a.2.total_cmp(&b.2))
                    .map(|(i, s, _)| (i, s))
            })
            .collect();
        Self {
            network,
            cumulative,
            sign_views,
        }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> Pose {
        let (lane, s) = if !self.sign_views.is_empty() && rng.random_bool(0.5) {
            let (lane, at_sign) = self.sign_views[rng.random_range(0..self.sign_views.len())];
            (
                lane,
                (at_sign - rng.random_range(SIGN_VIEW_DISTANCE.0..SIGN_VIEW_DISTANCE.1)).max(0.0),
            )
        } else {
            let total = *self.cumulative.last().expect("a network with lanes");
            let pick = rng.random_range(0.0..total);
            let lane = self
                .cumulative
                .partition_point(|&c| c <= pick)
                .min(self.cumulative.len() - 1);
            (
                lane,
                rng.random_range(0.0..=self.network.lanes[lane].centre.length()),
            )
        };
        let centre = &self.network.lanes[lane].centre;
        let direction = centre.direction_at(s);
        let gauss = |rng: &mut ChaCha8Rng, sigma: f64, limit: f64| {
            Normal::new(0.0, sigma)
                .expect("positive sigma")
                .sample(rng)
                .clamp(-limit, limit)
        };
        let lateral = gauss(rng, 0.3, 0.8);
        let position = centre.point_at(s) + Vec3::new(-direction.y, direction.x, 0.0) * lateral;
        let attitude = Attitude {
            yaw: direction.y.atan2(direction.x) + gauss(rng, 3f64.to_radians(), 8f64.to_radians()),
            pitch: gauss(rng, 0.6f64.to_radians(), 2f64.to_radians()),
            roll: gauss(rng, 0.6f64.to_radians(), 2f64.to_radians()),
        };
        Pose::new(position, attitude)
    }
}

/// Renders `options.count` frames into `out`. `progress` is called with the number of
/// frames written so far.
pub fn write_dataset(
    map: &Map,
    scene: &Scene,
    network: &LaneNetwork,
    options: &DatasetOptions,
    out: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<DatasetSummary, SimError> {
    if network.lanes.is_empty() {
        return Err(SimError::Route(
            "the map has no drivable lanes (lane lines 2.2–5.5 m apart)".into(),
        ));
    }
    let frames_dir = out.join("frames");
    std::fs::create_dir_all(&frames_dir).map_err(SimError::writing(&frames_dir))?;
    let camera = &options.camera;
    camera.save(&out.join("camera.toml"))?;
    let sampler = PoseSampler::new(map, network);
    let traffic = Traffic::spawn(
        network,
        map,
        TRAFFIC_WINDOW,
        None,
        sub_seed(options.seed, TRAFFIC_STREAM),
    );
    let mut labels = LabelWriter::create(&out.join("labels.jsonl"))?;
    let mut truth = format!("{TRUTH_HEADER}\n");
    let mut summary = DatasetSummary {
        frames: 0,
        sign_labels: 0,
        frames_with_signs: 0,
    };
    for batch_start in (0..options.count).step_by(BATCH) {
        let batch: Vec<usize> = (batch_start..(batch_start + BATCH).min(options.count)).collect();
        let rendered: Vec<Result<(Pose, FrameLabels), SimError>> = batch
            .par_iter()
            .map(|&k| {
                let mut rng = ChaCha8Rng::seed_from_u64(sub_seed(options.seed, k as u64));
                let pose = sampler.sample(&mut rng);
                let conditions = Conditions::random(&mut rng);
                let others = traffic.at_clear_of(rng.random_range(0.0..TRAFFIC_WINDOW), &pose);
                let (frame, line) = render_labelled(
                    map,
                    scene,
                    camera,
                    &pose,
                    &conditions,
                    rng.random(),
                    &others,
                    k,
                );
                let path = frames_dir.join(format!("{k:06}.jpg"));
                let mut jpeg = Vec::new();
                JpegEncoder::new_with_quality(&mut jpeg, JPEG_QUALITY)
                    .encode_image(&frame.image)
                    .map_err(|e| SimError::Encode {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                std::fs::write(&path, jpeg).map_err(SimError::writing(&path))?;
                Ok((pose, line))
            })
            .collect();
        for (&k, result) in batch.iter().zip(rendered) {
            let (pose, line) = result?;
            summary.frames += 1;
            summary.sign_labels += line.signs.len();
            summary.frames_with_signs += usize::from(!line.signs.is_empty());
            labels.write(&line)?;
            truth_row(&mut truth, k, 0.0, &pose, &map.frame);
            progress(k + 1);
        }
    }
    labels.finish()?;
    write_text(&out.join("truth.csv"), &truth)?;
    let record = serde_json::json!({
        "generator": concat!("mapfix-sim ", env!("CARGO_PKG_VERSION")),
        "command": options.command,
        "seed": options.seed,
        "seeds": "frame k draws its pose, conditions, traffic time and noise from SplitMix64 stream k of the seed, the traffic from stream 2^48",
        "traffic": { "cars": traffic.len(), "window_s": TRAFFIC_WINDOW },
        "map": { "name": map.name, "provenance": map.provenance },
        "frames": summary.frames,
        "frames_with_signs": summary.frames_with_signs,
        "sign_labels": summary.sign_labels,
        "image_format": "jpeg",
        "jpeg_quality": JPEG_QUALITY,
    });
    write_text(&out.join("dataset.json"), &format!("{:#}\n", record))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::dashcam;
    use crate::labels::tests::signed_crossroads;

    fn render(out: &Path, seed: u64) -> DatasetSummary {
        let map = signed_crossroads();
        let network = LaneNetwork::from_map(&map);
        let scene = Scene::build(&map, seed);
        let options = DatasetOptions {
            count: 24,
            camera: dashcam(192, 108, 30.0),
            seed,
            command: String::new(),
        };
        write_dataset(&map, &scene, &network, &options, out, &mut |_| {}).unwrap()
    }

    #[test]
    fn frames_are_independent_labelled_and_repeatable() {
        let dir = tempfile::tempdir().unwrap();
        let summary = render(&dir.path().join("a"), 8);
        render(&dir.path().join("b"), 8);
        assert_eq!(summary.frames, 24);
        // Half the poses look at one of the three labelled signs, one of which is hidden.
        assert!(summary.frames_with_signs >= 4, "{summary:?}");
        let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
        for name in ["labels.jsonl", "truth.csv", "frames/000023.jpg"] {
            assert!(
                read(&format!("a/{name}")) == read(&format!("b/{name}")),
                "{name} differs for one seed"
            );
        }
        let labels = String::from_utf8(read("a/labels.jsonl")).unwrap();
        let frames: Vec<FrameLabels> = labels
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            frames.iter().map(|f| f.frame).collect::<Vec<_>>(),
            (0..24).collect::<Vec<_>>()
        );
        let truth = String::from_utf8(read("a/truth.csv")).unwrap();
        let positions: Vec<&str> = truth
            .lines()
            .skip(1)
            .map(|row| row.split(',').nth(6).unwrap())
            .collect();
        let distinct: std::collections::BTreeSet<_> = positions.iter().collect();
        assert!(distinct.len() >= 20, "independent poses: {positions:?}");
    }
}
