//! Pairing a frame's detections with map landmarks, given a prior pose and its covariance.
//!
//! Each map sign the camera could see from the prior is projected into the image with its
//! predicted pixel covariance: the pose covariance (east, north, up, yaw, and the assumed
//! roll/pitch uncertainty) carried through the projection's Jacobian, plus the detector's
//! own noise. Detections pair with signs of their class (or of another class when much
//! closer) by Mahalanobis distance within a χ² gate, one-to-one (Hungarian). Lane lines pair by slot-agnostic image distance: each
//! detected polyline against each visible map lane line projected from the prior, gated by
//! how far the prior's lateral and yaw uncertainty can move it in the image; only map lines
//! that run roughly along the heading take part.

use crate::assignment::assign;
use crate::filter::chi2_gate;
use mapfix_core::{Attitude, CameraModel, Pose, Vec3};
use mapfix_detector::Detections;
use mapfix_map::index::LineLandmark;
use mapfix_map::{MapIndex, Visible};
use nalgebra::{Matrix2, SMatrix, Vector2};
use std::ops::Range;

/// Pose parameters the projection Jacobian is taken over: east, north, up, yaw, pitch, roll.
pub const POSE_PARAMETERS: usize = 6;
pub type PoseJacobian = SMatrix<f64, 2, POSE_PARAMETERS>;

/// A vehicle pose and its uncertainty: the covariance of east, north, up, yaw, pitch, roll.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub position: Vec3,
    pub attitude: Attitude,
    pub covariance: SMatrix<f64, POSE_PARAMETERS, POSE_PARAMETERS>,
}

impl Prior {
    pub fn pose(&self) -> Pose {
        Pose::new(self.position, self.attitude)
    }

    /// The pose moved by `delta` in east, north, up, yaw, pitch, roll.
    pub fn perturbed(&self, delta: &[f64; POSE_PARAMETERS]) -> Pose {
        Pose::new(
            self.position + Vec3::new(delta[0], delta[1], delta[2]),
            Attitude {
                yaw: self.attitude.yaw + delta[3],
                pitch: self.attitude.pitch + delta[4],
                roll: self.attitude.roll + delta[5],
            },
        )
    }
}

/// Steps of the numerical Jacobian: metres for positions, radians for angles.
const POSITION_STEP: f64 = 1e-3;
const ANGLE_STEP: f64 = 1e-5;

/// `f` at the prior and its derivative over the pose parameters, by central differences;
/// `None` where `f` is undefined at or next to the prior.
pub fn jacobian<const M: usize>(
    prior: &Prior,
    f: impl Fn(&Pose) -> Option<SMatrix<f64, M, 1>>,
) -> Option<(SMatrix<f64, M, 1>, SMatrix<f64, M, POSE_PARAMETERS>)> {
    let value = f(&prior.pose())?;
    let mut jacobian = SMatrix::<f64, M, POSE_PARAMETERS>::zeros();
    for k in 0..POSE_PARAMETERS {
        let step = if k < 3 { POSITION_STEP } else { ANGLE_STEP };
        let mut delta = [0.0; POSE_PARAMETERS];
        delta[k] = step;
        let plus = f(&prior.perturbed(&delta))?;
        delta[k] = -step;
        let minus = f(&prior.perturbed(&delta))?;
        jacobian.set_column(k, &((plus - minus) / (2.0 * step)));
    }
    Some((value, jacobian))
}

/// A detected sign paired with a map sign.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignPair {
    /// Index into [`Detections::signs`].
    pub detection: usize,
    /// Index into the map's signs.
    pub sign: usize,
    /// Squared Mahalanobis distance of the detection from the predicted pixel (for a pair
    /// found by the global search: the squared angular residual at its pose).
    pub distance_squared: f64,
}

/// A detected lane line paired with a stretch of a map lane line.
#[derive(Debug, Clone, PartialEq)]
pub struct LanePair {
    /// Index into [`Detections::lanes`].
    pub detection: usize,
    /// Index into the map's lane lines.
    pub lane_line: usize,
    /// The polyline's vertices the camera sees (first to last visible segment's end).
    pub vertices: Range<usize>,
    /// Mean horizontal distance (px) of the detected points from the projected line.
    pub mean_offset_px: f64,
    /// Another map line, apart from this one, lies within the gate too: from the prior
    /// alone the detection could be either (lines look alike), so the pairing cannot say
    /// which lane the vehicle is in.
    pub ambiguous: bool,
}

/// What one frame's detections were paired with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Association {
    pub signs: Vec<SignPair>,
    pub lanes: Vec<LanePair>,
}

/// Settings of the association.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AssociationOptions {
    /// Detector noise on a sign centre (px, 1σ).
    pub sign_sigma_px: f64,
    /// Detector noise on a lane point (px, 1σ).
    pub lane_sigma_px: f64,
    /// How far the world's landmarks stand from where the map puts them (m, 1σ per axis):
    /// a surveyed map is good to centimetres, not exactly.
    pub map_sigma_m: f64,
    /// Detections below this score are ignored.
    pub min_score: f32,
    /// Depth (m) at which a lane's image offset is judged against the pose uncertainty.
    pub lane_reference_depth: f64,
    /// A lane needs this many of its points beside the projected map line.
    pub min_lane_points: usize,
    /// Map lane lines at more than this angle (rad) to the prior's heading are not paired:
    /// the detector reports lanes that run away from the camera, so in a turn it cannot
    /// have seen the crossing road's lines, whatever it draws near them.
    pub max_lane_angle: f64,
    /// Added to the squared Mahalanobis distance of a detection whose class differs from
    /// the map sign's. A detector places small signs far better than it names them, so a
    /// detection of another class still pairs when it lies well inside the gate (the
    /// assignment leaves anything costing more than the gate unpaired); infinity makes
    /// classes strict.
    pub class_mismatch_cost: f64,
}

impl Default for AssociationOptions {
    fn default() -> Self {
        Self {
            sign_sigma_px: 1.5,
            lane_sigma_px: 3.0,
            map_sigma_m: 0.05,
            min_score: 0.3,
            lane_reference_depth: 12.0,
            min_lane_points: 3,
            max_lane_angle: 30f64.to_radians(),
            class_mismatch_cost: 0.5 * chi2_gate(2),
        }
    }
}

/// The pixel of `point` and its Jacobian over the pose parameters.
pub fn project_with_jacobian(
    camera: &CameraModel,
    prior: &Prior,
    point: &Vec3,
) -> Option<(Vector2<f64>, PoseJacobian)> {
    jacobian(prior, |pose| {
        camera.project(pose, point).map(|[u, v]| Vector2::new(u, v))
    })
}

/// The pixel covariance from a landmark's own map error: moving the landmark by δ moves
/// its pixel as moving the vehicle by −δ does, so the position columns of the pose
/// Jacobian carry it.
pub fn map_error<const M: usize>(
    jacobian: &SMatrix<f64, M, POSE_PARAMETERS>,
    sigma: f64,
) -> SMatrix<f64, M, M> {
    let position = jacobian.fixed_view::<M, 3>(0, 0);
    position * position.transpose() * (sigma * sigma)
}

/// Pairs detections with the map landmarks in `visible` (seen from `prior.pose()`).
pub fn associate(
    index: &MapIndex,
    camera: &CameraModel,
    prior: &Prior,
    visible: &Visible,
    detections: &Detections,
    options: &AssociationOptions,
) -> Association {
    Association {
        signs: associate_signs(index, camera, prior, visible, detections, options),
        lanes: associate_lanes(camera, prior, visible, detections, options),
    }
}

fn associate_signs(
    index: &MapIndex,
    camera: &CameraModel,
    prior: &Prior,
    visible: &Visible,
    detections: &Detections,
    options: &AssociationOptions,
) -> Vec<SignPair> {
    let map = index.map();
    let noise = Matrix2::identity() * options.sign_sigma_px.powi(2);
    // Predicted pixel and its inverse covariance for each visible sign.
    let predicted: Vec<Option<(Vector2<f64>, Matrix2<f64>)>> = visible
        .signs
        .iter()
        .map(|seen| {
            let (pixel, j) = project_with_jacobian(camera, prior, &map.signs[seen.sign].position)?;
            let covariance =
                j * prior.covariance * j.transpose() + map_error(&j, options.map_sigma_m) + noise;
            Some((pixel, covariance.try_inverse()?))
        })
        .collect();
    let gate = chi2_gate(2);
    let costs: Vec<Vec<f64>> = detections
        .signs
        .iter()
        .map(|detection| {
            visible
                .signs
                .iter()
                .zip(&predicted)
                .map(|(seen, prediction)| {
                    let class = map.signs[seen.sign].class.gtsrb();
                    let mismatch = if class == Some(detection.class) {
                        0.0
                    } else {
                        options.class_mismatch_cost
                    };
                    match prediction {
                        Some((pixel, information)) if detection.score >= options.min_score => {
                            let r = Vector2::new(
                                f64::from(detection.center[0]),
                                f64::from(detection.center[1]),
                            ) - pixel;
                            let d2 = (r.transpose() * information * r)[(0, 0)] + mismatch;
                            if d2 <= gate {
                                d2
                            } else {
                                f64::INFINITY
                            }
                        }
                        _ => f64::INFINITY,
                    }
                })
                .collect()
        })
        .collect();
    assign(&costs, gate)
        .into_iter()
        .map(|(detection, column)| SignPair {
            detection,
            sign: visible.signs[column].sign,
            distance_squared: costs[detection][column],
        })
        .collect()
}

/// A map lane line as the camera sees it from the prior.
struct SeenLine {
    lane_line: usize,
    vertices: Range<usize>,
    /// Projected points along the seen segments, in order.
    pixels: Vec<[f64; 2]>,
}

fn seen_lines(visible: &Visible, yaw: f64, max_angle: f64) -> Vec<SeenLine> {
    let mut lines: Vec<SeenLine> = Vec::new();
    let heading = Vector2::new(yaw.cos(), yaw.sin());
    // Whether the last piece was kept: pieces of one line join only across kept pieces.
    let mut joined = false;
    // Pieces come sorted by landmark, then segment.
    for piece in &visible.pieces {
        let LineLandmark::LaneLine(lane_line) = piece.landmark else {
            joined = false;
            continue;
        };
        let along = (piece.to - piece.from).xy();
        if along.norm() > 0.0 && along.normalize().dot(&heading).abs() < max_angle.cos() {
            joined = false;
            continue;
        }
        match lines.last_mut() {
            Some(line) if joined && line.lane_line == lane_line => {
                line.vertices.end = piece.segment + 2;
                line.pixels.extend_from_slice(&piece.pixels);
            }
            _ => lines.push(SeenLine {
                lane_line,
                vertices: piece.segment..piece.segment + 2,
                pixels: piece.pixels.clone(),
            }),
        }
        joined = true;
    }
    lines
}

/// Horizontal offsets (px) of lane points from a projected polyline at the points' rows;
/// points whose row the polyline does not cross are skipped.
pub fn row_offsets<'a>(
    line: &'a [[f64; 2]],
    points: impl Iterator<Item = [f64; 2]> + 'a,
) -> impl Iterator<Item = f64> + 'a {
    points.filter_map(move |[u, v]| {
        line.windows(2)
            .filter_map(|w| {
                let (a, b) = (w[0], w[1]);
                let (low, high) = (a[1].min(b[1]), a[1].max(b[1]));
                if !(v >= low && v <= high) || high - low < 1e-9 {
                    return None;
                }
                let t = (v - a[1]) / (b[1] - a[1]);
                Some(u - (a[0] + t * (b[0] - a[0])))
            })
            .min_by(|x, y| x.abs().total_cmp(&y.abs()))
    })
}

fn associate_lanes(
    camera: &CameraModel,
    prior: &Prior,
    visible: &Visible,
    detections: &Detections,
    options: &AssociationOptions,
) -> Vec<LanePair> {
    let yaw = prior.attitude.yaw;
    let lines = seen_lines(visible, yaw, options.max_lane_angle);
    if lines.is_empty() || detections.lanes.is_empty() {
        return Vec::new();
    }
    // How far the pose uncertainty moves a lane at the reference depth, in pixels: the
    // lateral position (across the heading) and the yaw.
    let across = Vector2::new(-yaw.sin(), yaw.cos());
    let horizontal = prior.covariance.fixed_view::<2, 2>(0, 0);
    let lateral_variance = (across.transpose() * horizontal * across)[(0, 0)];
    let fx = camera.intrinsics.fx;
    let depth = options.lane_reference_depth;
    let sigma_px = (options.lane_sigma_px.powi(2)
        + fx * fx * (lateral_variance + options.map_sigma_m.powi(2)) / (depth * depth)
        + fx * fx * prior.covariance[(3, 3)])
        .sqrt();
    let gate = 9.0; // (3σ)² on the mean offset
    let mean_offsets: Vec<Vec<f64>> = detections
        .lanes
        .iter()
        .map(|lane| {
            lines
                .iter()
                .map(|line| {
                    if lane.score < options.min_score {
                        return f64::INFINITY;
                    }
                    let points = lane
                        .points
                        .iter()
                        .map(|p| [f64::from(p[0]), f64::from(p[1])]);
                    let (sum, count) = row_offsets(&line.pixels, points)
                        .fold((0.0, 0usize), |(s, c), d| (s + d, c + 1));
                    if count < options.min_lane_points {
                        return f64::INFINITY;
                    }
                    sum / count as f64
                })
                .collect()
        })
        .collect();
    let costs: Vec<Vec<f64>> = mean_offsets
        .iter()
        .map(|row| {
            row.iter()
                .map(|&offset| {
                    let cost = (offset / sigma_px).powi(2);
                    if cost <= gate {
                        cost
                    } else {
                        f64::INFINITY
                    }
                })
                .collect()
        })
        .collect();
    assign(&costs, gate)
        .into_iter()
        .map(|(detection, column)| {
            let offset = mean_offsets[detection][column];
            // A line a detector's error away is the same line (a map may split it in two).
            let apart = 3.0 * options.lane_sigma_px;
            let ambiguous = costs[detection]
                .iter()
                .zip(&mean_offsets[detection])
                .any(|(cost, other)| cost.is_finite() && (other - offset).abs() > apart);
            LanePair {
                detection,
                lane_line: lines[column].lane_line,
                vertices: lines[column].vertices.clone(),
                mean_offset_px: offset,
                ambiguous,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_offsets_interpolate_and_skip_rows_outside() {
        let line = [[100.0, 400.0], [200.0, 300.0]];
        let points = [[160.0, 350.0], [0.0, 200.0], [110.0, 400.0]];
        let offsets: Vec<f64> = row_offsets(&line, points.into_iter()).collect();
        assert_eq!(offsets.len(), 2);
        assert!((offsets[0] - 10.0).abs() < 1e-9);
        assert!((offsets[1] - 10.0).abs() < 1e-9);
    }
}
