//! Finding the vehicle without a usable prior (start-up, or after a long outage).
//!
//! Every detected sign is a candidate for every map sign of its class near the search
//! centre (or anywhere in the map). Two candidate pairs fix a camera with known roll and
//! pitch (the solver's upright 2-point solver), so the solver's LO-RANSAC searches the
//! candidate pairs for the pose most detections agree with. A pose is accepted only when
//! enough distinct detections agree (each sign facing the camera, within range); the
//! tracker then solves the frame properly from the pairs found.

use crate::associate::{Association, SignPair};
use mapfix_core::{CameraModel, Rot3, Vec3};
use mapfix_detector::Detections;
use mapfix_map::{Map, MapIndex};
use mapfix_solver::ransac::{ransac, Problem, RansacOptions, RansacWorkspace};
use mapfix_solver::{CameraPose, Solutions, SolveOptions, Upright};

/// Settings of the global search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlobalOptions {
    /// Distinct detections that must agree on a pose.
    pub min_agreeing: usize,
    /// Farthest a sign may be from the camera (m).
    pub max_range: f64,
    /// Angular residual (rad) within which a detection agrees.
    pub threshold: f64,
    pub max_iterations: usize,
    pub min_score: f32,
}

impl Default for GlobalOptions {
    fn default() -> Self {
        Self {
            min_agreeing: 3,
            max_range: 80.0,
            threshold: 0.004,
            max_iterations: 5000,
            min_score: 0.3,
        }
    }
}

/// A detection–map sign candidate pair.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    detection: usize,
    sign: usize,
    bearing: Vec3,
}

struct CandidateProblem<'a> {
    map: &'a Map,
    candidates: &'a [Candidate],
    solver: Upright,
    max_range: f64,
}

impl Problem for CandidateProblem<'_> {
    const SAMPLE_SIZE: usize = 2;

    fn correspondence_count(&self) -> usize {
        self.candidates.len()
    }

    fn solve_minimal(&self, sample: &[usize], models: &mut Solutions) {
        let (a, b) = (self.candidates[sample[0]], self.candidates[sample[1]]);
        if a.detection == b.detection || a.sign == b.sign {
            return;
        }
        let points = [
            self.map.signs[a.sign].position,
            self.map.signs[b.sign].position,
        ];
        *models = self.solver.minimal(&[a.bearing, b.bearing], &points);
    }

    /// sin² of the angle between bearing and sign; 1 for a sign behind the camera, out
    /// of range, or facing away.
    fn residual_squared(&self, model: &CameraPose, index: usize) -> f64 {
        let candidate = &self.candidates[index];
        let sign = &self.map.signs[candidate.sign];
        let offset = model.centre - sign.position;
        if offset.norm() > self.max_range || sign.normal().dot(&offset) <= 0.0 {
            return 1.0;
        }
        let p = model.to_camera(&sign.position);
        let along = candidate.bearing.dot(&p);
        if along > 0.0 {
            1.0 - along * along / p.norm_squared()
        } else {
            1.0
        }
    }

    fn refine(&self, _model: &CameraPose, _inliers: &[bool]) -> Option<CameraPose> {
        None
    }
}

/// Searches the map signs near `centre` within `radius` (or all of them with `None`) for
/// the pose most detected signs agree on; returns the agreeing pairs.
pub fn global_search(
    index: &MapIndex,
    camera: &CameraModel,
    level_rotation: &Rot3,
    detections: &Detections,
    area: Option<(Vec3, f64)>,
    options: &GlobalOptions,
    solve: &SolveOptions,
) -> Option<Association> {
    let map = index.map();
    let signs: Vec<usize> = match area {
        Some((centre, radius)) => index.signs_within(&centre, radius),
        None => (0..map.signs.len()).collect(),
    };
    let candidates: Vec<Candidate> = detections
        .signs
        .iter()
        .enumerate()
        .filter(|(_, d)| d.score >= options.min_score)
        .filter_map(|(detection, d)| {
            let bearing = camera.pixel_to_ray(f64::from(d.center[0]), f64::from(d.center[1]))?;
            Some((detection, d.class, bearing))
        })
        .flat_map(|(detection, class, bearing)| {
            signs
                .iter()
                .filter(move |&&s| map.signs[s].class.gtsrb() == Some(class))
                .map(move |&sign| Candidate {
                    detection,
                    sign,
                    bearing,
                })
        })
        .collect();
    let problem = CandidateProblem {
        map,
        candidates: &candidates,
        solver: Upright::new(*level_rotation),
        max_range: options.max_range,
    };
    let ransac_options = RansacOptions {
        threshold: options.threshold,
        confidence: solve.confidence,
        min_iterations: 0,
        max_iterations: options.max_iterations,
        seed: solve.seed,
    };
    let mut workspace = RansacWorkspace::default();
    let best = ransac(&problem, &ransac_options, &mut workspace)?;
    // One map sign per detection and one detection per map sign, best residuals first:
    // swapping a kept pair for a better one could leave another kept pair sharing its sign.
    let mut inliers: Vec<(f64, Candidate)> = (candidates.iter().enumerate())
        .filter(|&(k, _)| workspace.inliers()[k])
        .map(|(k, candidate)| (problem.residual_squared(&best.model, k), *candidate))
        .collect();
    inliers.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut chosen: Vec<(f64, Candidate)> = Vec::new();
    for (residual, candidate) in inliers {
        if (chosen.iter())
            .all(|(_, c)| c.detection != candidate.detection && c.sign != candidate.sign)
        {
            chosen.push((residual, candidate));
        }
    }
    chosen.sort_by_key(|(_, c)| c.detection);
    (chosen.len() >= options.min_agreeing).then(|| Association {
        signs: chosen
            .into_iter()
            .map(|(residual, c)| SignPair {
                detection: c.detection,
                sign: c.sign,
                distance_squared: residual,
            })
            .collect(),
        lanes: Vec::new(),
    })
}
