//! Pose when roll and pitch are known (a gravity estimate): x, y, z and yaw.
//!
//! Levelling the bearings with the known tilt leaves one unknown rotation, about the
//! world's up axis. For two landmarks, `X1 − X2 = Rz(ψ)·(r1·v1 − r2·v2)`: the vertical
//! component is linear in the ranges r1, r2 and the horizontal length is quadratic, so
//! the ranges are the roots of a quadratic, and ψ and the centre follow — the minimal
//! 2-point solver. With more landmarks, the best 2-point pose over a few well-spread
//! pairs starts Levenberg–Marquardt over the four free parameters.

use crate::degeneracy::{check_bearing_spread, check_observations, Degeneracy};
use crate::fix::{refine_to_fix, Fix, PoseSolver, SolveError, SolveOptions};
use crate::pose::{CameraPose, Observations, Solutions};
use crate::refine::{point_residual_squared, Freedom};
use mapfix_core::{Rot3, Vec3};
use nalgebra::Vector2;

/// Solves for centre and yaw, trusting only the roll and pitch of `rotation_guess`
/// (world → camera); its rotation about the world's up axis may be anything.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Upright {
    pub rotation_guess: Rot3,
}

/// Landmarks whose levelled bearings are closer to horizontal than this (in their
/// vertical component) cannot fix the height in the 2-point solver.
const MIN_VERTICAL: f64 = 1e-9;
/// Further pairs tried when the preferred ones give no pose.
const MAX_FALLBACK_PAIRS: usize = 64;

impl Upright {
    pub fn new(rotation_guess: Rot3) -> Self {
        Self { rotation_guess }
    }

    /// All poses (at most two) with the known tilt that map the two points onto the two
    /// bearings with positive ranges.
    pub fn minimal(&self, bearings: &[Vec3; 2], points: &[Vec3; 2]) -> Solutions {
        let mut solutions = Solutions::new();
        let level = self.rotation_guess.inverse();
        let (v1, v2) = (level * bearings[0], level * bearings[1]);
        let d = points[0] - points[1];
        let horizontal = Vector2::new(d.x, d.y);
        let (a, b) = (v1.xy(), v2.xy());
        // r1·a − r2·b = offset + t·slope, with t the range solved for and the other range
        // from the vertical equation d.z = r1·v1.z − r2·v2.z.
        let solve_first = v2.z.abs() > v1.z.abs();
        let (offset, slope) = if solve_first {
            if v2.z.abs() < MIN_VERTICAL {
                return solutions;
            }
            (b * (d.z / v2.z), a - b * (v1.z / v2.z))
        } else {
            if v1.z.abs() < MIN_VERTICAL {
                return solutions;
            }
            (a * (d.z / v1.z), a * (v2.z / v1.z) - b)
        };
        let qa = slope.norm_squared();
        let qb = 2.0 * offset.dot(&slope);
        let qc = offset.norm_squared() - horizontal.norm_squared();
        let discriminant = qb * qb - 4.0 * qa * qc;
        if !(qa > 0.0) || discriminant < 0.0 {
            return solutions;
        }
        let root = discriminant.sqrt();
        for t in [(-qb + root) / (2.0 * qa), (-qb - root) / (2.0 * qa)] {
            let (r1, r2) = if solve_first {
                (t, (t * v1.z - d.z) / v2.z)
            } else {
                ((d.z + t * v2.z) / v1.z, t)
            };
            if !(r1 > 0.0 && r2 > 0.0) {
                continue;
            }
            let levelled = offset + slope * t;
            let yaw = horizontal.y.atan2(horizontal.x) - levelled.y.atan2(levelled.x);
            let turn = Rot3::from_axis_angle(&Vec3::z_axis(), yaw);
            let centre = points[0] - turn * (v1 * r1);
            solutions.push(CameraPose {
                rotation: self.rotation_guess * turn.inverse(),
                centre,
            });
            if discriminant == 0.0 {
                break;
            }
        }
        solutions
    }

    /// The best 2-point pose over a few well-spread pairs: the lowest and highest
    /// landmark (the vertical equation fixes the ranges best), the widest angle, and —
    /// only if those give nothing, as noise can make a pair inconsistent — further pairs.
    fn initial(
        &self,
        bearings: &[Vec3],
        points: &[Vec3],
        threshold: f64,
    ) -> Result<CameraPose, SolveError> {
        let n = bearings.len();
        let up = self.rotation_guess.inverse() * Vec3::z();
        let height = |i: usize| bearings[i].dot(&up);
        let lowest = (0..n)
            .min_by(|&a, &b| height(a).total_cmp(&height(b)))
            .unwrap_or(0);
        let highest = (0..n)
            .max_by(|&a, &b| height(a).total_cmp(&height(b)))
            .unwrap_or(0);
        let farthest_from = |i: usize| {
            (0..n)
                .max_by(|&a, &b| {
                    let spread = |j: usize| bearings[i].cross(&bearings[j]).norm_squared();
                    spread(a).total_cmp(&spread(b))
                })
                .unwrap_or(i)
        };
        let widest = farthest_from(0);
        let preferred = [(lowest, highest), (widest, farthest_from(widest))];
        let fallback = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .take(MAX_FALLBACK_PAIRS);

        let mut best: Option<(f64, CameraPose)> = None;
        let mut candidates = 0;
        let mut tried: [(usize, usize); 2] = [(usize::MAX, usize::MAX); 2];
        for (round, (i, j)) in preferred.into_iter().chain(fallback).enumerate() {
            let pair = (i.min(j), i.max(j));
            if i == j || tried.contains(&pair) || (round >= preferred.len() && best.is_some()) {
                continue;
            }
            if round < tried.len() {
                tried[round] = pair;
            }
            for pose in &self.minimal(&[bearings[i], bearings[j]], &[points[i], points[j]]) {
                candidates += 1;
                let score: f64 = bearings
                    .iter()
                    .zip(points)
                    .map(|(b, x)| {
                        point_residual_squared(pose, b, x)
                            .unwrap_or(1.0)
                            .min(threshold * threshold)
                    })
                    .sum();
                if best.is_none_or(|(s, _)| score < s) {
                    best = Some((score, *pose));
                }
            }
        }
        if n == 2 && candidates > 1 {
            return Err(SolveError::Degenerate(Degeneracy::Ambiguous {
                solutions: candidates,
            }));
        }
        best.map(|(_, pose)| pose)
            .ok_or(SolveError::Degenerate(Degeneracy::Unobservable {
                min_eigenvalue: 0.0,
            }))
    }
}

impl PoseSolver for Upright {
    fn solve(
        &self,
        observations: &Observations<'_>,
        options: &SolveOptions,
    ) -> Result<Fix, SolveError> {
        check_observations(observations, 2)?;
        check_bearing_spread(observations.bearings).map_err(SolveError::Degenerate)?;
        let initial = self.initial(
            observations.bearings,
            observations.points,
            options.inlier_threshold,
        )?;
        refine_to_fix(observations, &initial, Freedom::Upright, options)
    }
}
