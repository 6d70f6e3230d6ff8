//! Per-frame labels (`labels.jsonl`): the signs the renderer saw, with boxes and exact
//! projected centres, and the lane lines around the ego lane as pixel polylines.
//!
//! A sign is labelled only where the renderer reports some of its face visible and its map
//! class is one of the 43 GTSRB classes. Its `center` is `camera.project(vehicle,
//! sign.position)` of the MAP position, so anyone holding `camera.toml` and `truth.csv`
//! can reproduce it (evaluation and the pipeline use it); `drawn_center` is the projection
//! of where the sign is drawn, its map position plus the scene's map-to-world error
//! (σ = 5 cm, [`crate::render::jitter`]), which is what the pixels show (train detectors on
//! it). `box` and `visible` describe the drawn face too.
//!
//! Lane lines follow the drawn lines. They get slots by their lateral offset from the
//! vehicle, taken where each line first runs alongside or ahead of it: the nearest on the
//! left is `ego_left`, the next `left_left`; likewise `ego_right` and `right_right`. Points
//! (every 2 m along the line, 1–80 m ahead) hidden behind anything drawn — vehicles,
//! buildings, poles, signs, a crest of the road — are dropped and the line is split there:
//! a line seen in several pieces gives several `lanes` entries with the same `id` and
//! `slot`, each ordered near to far, nearest piece first; pieces of fewer than three points
//! are dropped. Lines the map splits into pieces at about the same offset (within 0.6 m)
//! share their boundary's slot, nearest piece first.

use crate::lanes::{horizontal_unit, left_normal, ray_segment};
use crate::render::{Conditions, FrameExtras, OtherVehicle, RenderedFrame, Scene};
use crate::SimError;
use mapfix_core::{CameraModel, Pose, Vec3};
use mapfix_map::Map;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Lane-line points are taken up to this far ahead (m).
const LANE_RANGE: f64 = 80.0;
/// Spacing (m) of lane-line points along the line.
const LANE_STEP: f64 = 2.0;
/// Stations ahead of the vehicle (m) where lines are looked for to give them a slot.
const SLOT_STATIONS: [f64; 7] = [0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0];
/// Lines farther to the side than this (m) get no slot.
const SLOT_REACH: f64 = 12.0;
/// Lines whose offsets differ by less than this (m) are pieces of one boundary.
const SAME_BOUNDARY: f64 = 0.6;
/// Fewest points in a labelled piece of a line.
const MIN_PIECE: usize = 3;

/// One line of `labels.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameLabels {
    pub frame: usize,
    pub signs: Vec<SignLabel>,
    pub lanes: Vec<LaneLabel>,
}

/// A visible sign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignLabel {
    /// The map sign's id.
    pub id: String,
    /// GTSRB class, 0–42.
    pub class: u8,
    /// `[left, top, right, bottom]` of the visible face's outline, pixels.
    #[serde(rename = "box")]
    pub bbox: [f64; 4],
    /// Projection of the sign's map position, pixels.
    pub center: [f64; 2],
    /// Projection of where the sign is drawn (its map position plus the map-to-world
    /// error), pixels.
    pub drawn_center: [f64; 2],
    /// Share of the face's in-image pixels not hidden, 0–1.
    pub visible: f64,
}

/// A lane line around the ego lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaneLabel {
    /// The map lane line's id.
    pub id: String,
    /// `left_left`, `ego_left`, `ego_right` or `right_right`.
    pub slot: String,
    /// Pixels from near to far.
    pub points: Vec<[f64; 2]>,
}

/// Writes `labels.jsonl`, one [`FrameLabels`] a line.
pub struct LabelWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl LabelWriter {
    pub fn create(path: &Path) -> Result<Self, SimError> {
        let file = File::create(path).map_err(SimError::writing(path))?;
        Ok(Self {
            path: path.to_owned(),
            file: BufWriter::new(file),
        })
    }

    pub fn write(&mut self, labels: &FrameLabels) -> Result<(), SimError> {
        // Labels are plain data, so the only way serialising them fails is the write.
        serde_json::to_writer(&mut self.file, labels)
            .map_err(std::io::Error::from)
            .and_then(|()| self.file.write_all(b"\n"))
            .map_err(SimError::writing(&self.path))
    }

    pub fn finish(mut self) -> Result<(), SimError> {
        self.file.flush().map_err(SimError::writing(&self.path))
    }
}

/// Renders one frame of `scene` seen from `vehicle` among `traffic`, and labels it.
#[allow(clippy::too_many_arguments)]
pub fn render_labelled(
    map: &Map,
    scene: &Scene,
    camera: &CameraModel,
    vehicle: &Pose,
    conditions: &Conditions,
    frame_seed: u64,
    traffic: &[OtherVehicle],
    frame: usize,
) -> (RenderedFrame, FrameLabels) {
    let sightings = LaneSightings::find(scene.drawn(), camera, vehicle);
    let extras = FrameExtras {
        traffic,
        probes: sightings.probes(),
    };
    let rendered = scene.render_frame(camera, vehicle, conditions, frame_seed, &extras);
    let labels = FrameLabels {
        frame,
        signs: sign_labels(map, scene.drawn(), camera, vehicle, &rendered),
        lanes: sightings.labels(&rendered.probes_visible),
    };
    (rendered, labels)
}

/// The sign labels of a rendered frame: `map` gives the centres, `drawn` (the scene's
/// map as drawn) the drawn centres.
fn sign_labels(
    map: &Map,
    drawn: &Map,
    camera: &CameraModel,
    vehicle: &Pose,
    rendered: &RenderedFrame,
) -> Vec<SignLabel> {
    rendered
        .signs
        .iter()
        .filter(|seen| seen.visible > 0.0)
        .filter_map(|seen| {
            let sign = &map.signs[seen.sign_index];
            let class = sign.class.gtsrb()?;
            let center = camera.project(vehicle, &sign.position)?;
            let drawn_center = camera.project(vehicle, &drawn.signs[seen.sign_index].position)?;
            Some(SignLabel {
                id: sign.id.clone(),
                class,
                bbox: seen.bbox.map(|v| round(f64::from(v), 100.0)),
                center: center.map(|v| round(v, 1000.0)),
                drawn_center: drawn_center.map(|v| round(v, 1000.0)),
                visible: round(f64::from(seen.visible), 1000.0),
            })
        })
        .collect()
}

/// The slotted lane lines around the vehicle before occlusion: for each, its points in the
/// image (near to far) and their world positions, which the renderer tests for visibility.
struct LaneSightings {
    lines: Vec<SlottedLine>,
    /// World points of every line's samples, in order.
    probes: Vec<Vec3>,
}

struct SlottedLine {
    id: String,
    slot: &'static str,
    /// Pixels of the samples `first..first + pixels.len()` of `probes`.
    pixels: Vec<[f64; 2]>,
    first: usize,
}

impl LaneSightings {
    /// The lines of `map` (the map as drawn) around the vehicle, slotted and projected.
    fn find(map: &Map, camera: &CameraModel, vehicle: &Pose) -> LaneSightings {
        let position = vehicle.position;
        let forward = horizontal_unit(&(vehicle.rotation * Vec3::x()));
        let left = left_normal(&forward);
        let level = map.level_at(&(position + Vec3::new(0.0, 0.0, 0.5)));
        // (lateral offset, distance ahead, index) of each line running alongside or ahead.
        let mut offsets: Vec<(f64, f64, usize)> = map
            .lane_lines
            .iter()
            .enumerate()
            .filter(|(_, line)| line.line.level == level)
            .filter_map(|(i, line)| {
                SLOT_STATIONS.iter().find_map(|&ahead| {
                    let station = position + forward * ahead;
                    line.line
                        .points
                        .windows(2)
                        .filter(|w| {
                            (w[0].z - station.z).abs() < 3.0
                                && horizontal_unit(&(w[1] - w[0])).dot(&forward).abs() > 0.7
                        })
                        .filter_map(|w| {
                            // Signed: the cast line runs both ways from the station.
                            let (offset, _) = ray_segment(&station, &left, &w[0], &w[1])?;
                            (offset.abs() <= SLOT_REACH).then_some(offset)
                        })
                        .min_by(|a, b| a.abs().total_cmp(&b.abs()))
                        .map(|offset| (offset, ahead, i))
                })
            })
            .collect();
        offsets.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Lines at about the same offset are pieces of one boundary (a line the map
        // splits): they share its slot.
        let mut boundaries: Vec<Vec<(f64, f64, usize)>> = Vec::new();
        for entry in offsets {
            match boundaries.last_mut() {
                Some(group)
                    if entry.0 - group[0].0 < SAME_BOUNDARY
                        && (entry.0 > 0.0) == (group[0].0 > 0.0) =>
                {
                    group.push(entry)
                }
                _ => boundaries.push(vec![entry]),
            }
        }
        let lefts = boundaries.iter().filter(|g| g[0].0 > 0.0);
        let rights = boundaries.iter().rev().filter(|g| g[0].0 <= 0.0);
        let mut sightings = LaneSightings {
            lines: Vec::new(),
            probes: Vec::new(),
        };
        for (group, slot) in lefts
            .zip(["ego_left", "left_left"])
            .chain(rights.zip(["ego_right", "right_right"]))
        {
            let mut group = group.clone();
            group.sort_by(|a, b| a.1.total_cmp(&b.1));
            for (_, _, i) in group {
                let line = &map.lane_lines[i].line;
                let samples = project_line(&line.points, camera, vehicle, &forward);
                if samples.len() < MIN_PIECE {
                    continue;
                }
                let first = sightings.probes.len();
                sightings.probes.extend(samples.iter().map(|(p, _)| *p));
                sightings.lines.push(SlottedLine {
                    id: line.id.clone(),
                    slot,
                    pixels: samples.into_iter().map(|(_, px)| px).collect(),
                    first,
                });
            }
        }
        sightings
    }

    /// World points to test for visibility, one per sample.
    fn probes(&self) -> &[Vec3] {
        &self.probes
    }

    /// The labels, given each probe's visibility: hidden samples dropped, lines split there.
    fn labels(&self, visible: &[bool]) -> Vec<LaneLabel> {
        let mut labels = Vec::new();
        for line in &self.lines {
            let shown = &visible[line.first..line.first + line.pixels.len()];
            let mut piece: Vec<[f64; 2]> = Vec::new();
            for (pixel, &seen) in line.pixels.iter().zip(shown).chain([(&[0.0; 2], &false)]) {
                if seen {
                    piece.push(*pixel);
                } else if piece.len() >= MIN_PIECE {
                    labels.push(LaneLabel {
                        id: line.id.clone(),
                        slot: line.slot.into(),
                        points: std::mem::take(&mut piece),
                    });
                } else {
                    piece.clear();
                }
            }
        }
        labels
    }
}

/// The line's points (resampled every [`LANE_STEP`] m) from 1 m to [`LANE_RANGE`] ahead
/// that land in the image, with their pixels, ordered from near to far.
fn project_line(
    points: &[Vec3],
    camera: &CameraModel,
    vehicle: &Pose,
    forward: &Vec3,
) -> Vec<(Vec3, [f64; 2])> {
    let resampled = points.windows(2).flat_map(|w| {
        let steps = ((w[1] - w[0]).norm() / LANE_STEP).ceil().max(1.0) as usize;
        (0..steps).map(move |k| w[0].lerp(&w[1], k as f64 / steps as f64))
    });
    let mut samples: Vec<(f64, Vec3, [f64; 2])> = resampled
        .chain(points.last().copied())
        .filter_map(|p| {
            let ahead = (p - vehicle.position).dot(forward);
            let pixel = camera
                .project(vehicle, &p)
                .filter(|px| camera.contains(*px))?;
            (1.0..=LANE_RANGE)
                .contains(&ahead)
                .then(|| (ahead, p, pixel.map(|v| round(v, 100.0))))
        })
        .collect();
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    samples.dedup_by(|a, b| a.2 == b.2);
    samples.into_iter().map(|(_, p, px)| (p, px)).collect()
}

fn round(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::drive::dashcam;
    use crate::lanes::tests::crossroads;
    use crate::render::{Conditions, ConditionsPreset, Scene};
    use mapfix_core::Attitude;
    use mapfix_map::{Building, Mounting, Sign, SignClass};
    use std::f64::consts::PI;

    pub(crate) fn sign(id: &str, class: u8, east: f64, north: f64, facing: f64) -> Sign {
        Sign {
            id: id.into(),
            level: 0,
            class: SignClass::Gtsrb(class),
            position: Vec3::new(east, north, 2.5),
            width: 0.75,
            height: 0.75,
            facing,
            mounting: Mounting::Pole,
        }
    }

    /// The crossroads with signs along the eastbound lane west of the junction (facing west,
    /// towards eastbound traffic): one across the road in plain view, one behind a building
    /// and one half behind its corner, seen from (−190, −1.75).
    pub(crate) fn signed_crossroads() -> Map {
        let mut map = crossroads();
        let west = 1.5 * PI;
        map.signs.push(sign("open", 14, -120.0, 5.5, west));
        map.signs.push(sign("hidden", 2, -140.0, -9.0, west));
        map.signs.push(sign("half", 13, -140.0, -4.584, west));
        map.signs.push(sign("other", 0, -100.0, -5.5, west));
        map.signs.last_mut().unwrap().class = SignClass::Other("de1020-30".into());
        // Its north-west corner is on the sight line from the camera to "half".
        map.buildings.push(Building {
            id: "block".into(),
            footprint: vec![
                Vec3::new(-165.0, -30.0, 0.0),
                Vec3::new(-150.0, -30.0, 0.0),
                Vec3::new(-150.0, -4.0, 0.0),
                Vec3::new(-165.0, -4.0, 0.0),
            ],
            height: 12.0,
        });
        map
    }

    #[test]
    fn visible_signs_are_labelled_at_their_projection_and_hidden_ones_not() {
        let map = signed_crossroads();
        let scene = Scene::build(&map, 1);
        let camera = dashcam(640, 360, 30.0);
        let vehicle = Pose::new(Vec3::new(-190.0, -1.75, 0.0), Attitude::default());
        let day = Conditions::preset(ConditionsPreset::Day);
        let (_, labels) = render_labelled(&map, &scene, &camera, &vehicle, &day, 3, &[], 0);
        let by_id = |id: &str| labels.signs.iter().find(|s| s.id == id);
        let open = by_id("open").expect("the sign in plain view is labelled");
        assert_eq!(open.class, 14);
        assert!(open.visible > 0.95, "{open:?}");
        let expected = camera.project(&vehicle, &map.signs[0].position).unwrap();
        assert!(
            (open.center[0] - expected[0]).abs() < 1e-3
                && (open.center[1] - expected[1]).abs() < 1e-3
        );
        assert!(open.bbox[0] <= open.center[0] && open.center[0] <= open.bbox[2]);
        assert!(open.bbox[1] <= open.center[1] && open.center[1] <= open.bbox[3]);
        // Drawn about 5 cm from its map position, 70 m away: a fraction of a pixel off.
        let drawn = camera
            .project(&vehicle, &scene.drawn().signs[0].position)
            .unwrap();
        assert!(
            (open.drawn_center[0] - drawn[0]).abs() < 1e-3
                && (open.drawn_center[1] - drawn[1]).abs() < 1e-3
        );
        let apart =
            (open.drawn_center[0] - open.center[0]).hypot(open.drawn_center[1] - open.center[1]);
        assert!(apart > 0.0 && apart < 2.0, "{apart} px");
        assert!(
            by_id("hidden").is_none(),
            "a sign behind a building gets no label"
        );
        let half = by_id("half").expect("a half-hidden sign is labelled");
        assert!(
            (0.1..0.9).contains(&half.visible) && half.visible < open.visible,
            "{half:?}"
        );
        assert!(
            by_id("other").is_none(),
            "signs outside the 43 classes are not labelled"
        );
    }

    #[test]
    fn lane_lines_get_slots_around_the_ego_lane() {
        let map = crossroads();
        let camera = dashcam(640, 360, 30.0);
        // Eastbound in the south lane of the west arm: the dashed centre line is on the
        // left, the southern edge line on the right, the northern edge line beyond.
        let vehicle = Pose::new(Vec3::new(-100.0, -1.75, 0.0), Attitude::default());
        let sightings = LaneSightings::find(&map, &camera, &vehicle);
        let lanes = sightings.labels(&vec![true; sightings.probes().len()]);
        let slot = |name: &str| lanes.iter().find(|l| l.slot == name).map(|l| l.id.as_str());
        assert_eq!(slot("ego_left"), Some("west-c"));
        assert_eq!(slot("left_left"), Some("west-n"));
        assert_eq!(slot("ego_right"), Some("west-s"));
        assert_eq!(slot("right_right"), None);
        for lane in &lanes {
            assert!(lane.points.len() > 10);
            assert!(lane.points.iter().all(|p| camera.contains(*p)));
            // Near to far: from the bottom of the image up towards the horizon.
            assert!(
                lane.points.windows(2).all(|w| w[1][1] <= w[0][1] + 1e-9),
                "{:?}",
                lane.points
            );
        }
        let ego_left = &lanes.iter().find(|l| l.slot == "ego_left").unwrap().points;
        let ego_right = &lanes.iter().find(|l| l.slot == "ego_right").unwrap().points;
        assert!(ego_left[0][0] < 320.0 && ego_right[0][0] > 320.0);
    }

    #[test]
    fn lane_points_hidden_behind_a_car_are_dropped_and_the_line_split() {
        let map = crossroads();
        let scene = Scene::build(&map, 2);
        let camera = dashcam(640, 360, 30.0);
        let vehicle = Pose::new(Vec3::new(-100.0, -1.75, 0.0), Attitude::default());
        let day = Conditions::preset(ConditionsPreset::Day);
        // A car straddling the dashed centre line 20 m ahead hides it from about 16 m to
        // about 37 m ahead; beyond that the line shows again to the camera's right of it.
        let car = OtherVehicle {
            pose: Pose::new(Vec3::new(-80.0, 0.0, 0.0), Attitude::default()),
            model: 0,
        };
        let pieces = |traffic: &[OtherVehicle]| {
            let (_, labels) = render_labelled(&map, &scene, &camera, &vehicle, &day, 1, traffic, 0);
            let by_slot = |slot: &str| -> Vec<Vec<[f64; 2]>> {
                labels
                    .lanes
                    .iter()
                    .filter(|l| l.slot == slot)
                    .map(|l| l.points.clone())
                    .collect()
            };
            (by_slot("ego_left"), by_slot("ego_right"))
        };
        let (left_open, right_open) = pieces(&[]);
        assert_eq!((left_open.len(), right_open.len()), (1, 1));
        let (left, right) = pieces(&[car]);
        assert_eq!(right, right_open, "the other line is not behind the car");
        assert_eq!(left.len(), 2, "{left:?}");
        let (near, far) = (&left[0], &left[1]);
        assert!(near.len() >= 4 && far.len() >= 4, "{near:?} {far:?}");
        // Near piece first; together they hold fewer points than the whole line.
        assert!(far[0][1] < near[near.len() - 1][1]);
        assert!(near.len() + far.len() + 4 <= left_open[0].len());
        // The points kept are the line's own points.
        let all: Vec<[f64; 2]> = left_open[0].clone();
        assert!(near.iter().chain(far).all(|p| all.contains(p)));
    }
}
