//! Full 6-DoF pose with nothing known in advance: Lambda Twist P3P inside LO-RANSAC,
//! then Levenberg–Marquardt with a robust loss on the inliers (and any lane rays).

use crate::covariance::finish;
use crate::degeneracy::{check_bearing_spread, check_not_collinear, check_observations};
use crate::fix::{Fix, PoseSolver, SolveError, SolveOptions};
use crate::p3p::p3p;
use crate::pose::{CameraPose, Observations, Solutions};
use crate::ransac::{ransac, Problem, RansacOptions, RansacWorkspace};
use crate::refine::{point_residual_squared, refine, Freedom, Loss, RefineOptions};
use mapfix_core::Vec3;

/// Fewest landmarks for an unambiguous 6-DoF pose (three admit up to four poses).
pub const MIN_LANDMARKS: usize = 4;
/// The first refinement after RANSAC includes landmarks up to this many thresholds.
const WIDE_THRESHOLD_FACTOR: f64 = 2.0;
/// Least-squares iterations of each local optimisation inside RANSAC.
const LOCAL_ITERATIONS: usize = 1;

/// Robust 6-DoF solver.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AbsolutePose;

/// Buffers for [`AbsolutePose::solve_in`]; after a solve, [`AbsoluteWorkspace::inliers`]
/// flags the landmarks the fix explains.
#[derive(Debug, Default, Clone)]
pub struct AbsoluteWorkspace {
    ransac: RansacWorkspace,
    mask: Vec<bool>,
}

impl AbsoluteWorkspace {
    pub fn inliers(&self) -> &[bool] {
        &self.mask
    }
}

/// Point correspondences as a RANSAC problem.
struct PointProblem<'a> {
    bearings: &'a [Vec3],
    points: &'a [Vec3],
}

impl Problem for PointProblem<'_> {
    const SAMPLE_SIZE: usize = 3;

    fn correspondence_count(&self) -> usize {
        self.bearings.len()
    }

    fn solve_minimal(&self, sample: &[usize], models: &mut Solutions) {
        let bearings = [
            self.bearings[sample[0]],
            self.bearings[sample[1]],
            self.bearings[sample[2]],
        ];
        let points = [
            self.points[sample[0]],
            self.points[sample[1]],
            self.points[sample[2]],
        ];
        *models = p3p(&bearings, &points);
    }

    /// sin² of the angle to the bearing (≈ θ²), without a square root; points behind the
    /// camera get 1.
    #[inline]
    fn residual_squared(&self, model: &CameraPose, index: usize) -> f64 {
        let p = model.to_camera(&self.points[index]);
        let along = self.bearings[index].dot(&p);
        if along > 0.0 {
            1.0 - along * along / p.norm_squared()
        } else {
            1.0
        }
    }

    fn refine(&self, model: &CameraPose, inliers: &[bool]) -> Option<CameraPose> {
        if inliers.iter().filter(|i| **i).count() < MIN_LANDMARKS {
            return None;
        }
        let observations = Observations::points(self.bearings, self.points);
        let options = RefineOptions {
            loss: Loss::Trivial,
            max_iterations: LOCAL_ITERATIONS,
        };
        Some(refine(&observations, Some(inliers), model, Freedom::Full, &options).pose)
    }
}

impl AbsolutePose {
    /// Solves with caller-owned buffers (no allocation once they have grown).
    pub fn solve_in(
        &self,
        observations: &Observations<'_>,
        options: &SolveOptions,
        workspace: &mut AbsoluteWorkspace,
    ) -> Result<Fix, SolveError> {
        workspace.mask.clear();
        check_observations(observations, MIN_LANDMARKS)?;
        check_not_collinear(observations.points).map_err(SolveError::Degenerate)?;
        check_bearing_spread(observations.bearings).map_err(SolveError::Degenerate)?;
        let problem = PointProblem {
            bearings: observations.bearings,
            points: observations.points,
        };
        let ransac_options = RansacOptions {
            threshold: options.inlier_threshold,
            confidence: options.confidence,
            min_iterations: 0,
            max_iterations: options.max_ransac_iterations,
            seed: options.seed,
        };
        let no_consensus = |inliers| SolveError::NoConsensus {
            inliers,
            needed: MIN_LANDMARKS,
        };
        let best =
            ransac(&problem, &ransac_options, &mut workspace.ransac).ok_or(no_consensus(0))?;
        if best.inliers < MIN_LANDMARKS {
            return Err(no_consensus(best.inliers));
        }
        // RANSAC's model was fitted to its own inliers; landmarks just beyond the threshold
        // may be inliers that a biased model pushed out. Refine on a wider set (the robust
        // loss tempers any outlier in it), then settle the inliers at the threshold.
        workspace.mask.resize(observations.len(), false);
        update_mask(
            &problem,
            &best.model,
            WIDE_THRESHOLD_FACTOR * options.inlier_threshold,
            &mut workspace.mask,
        );
        let refine_options = RefineOptions {
            loss: options.loss,
            max_iterations: options.max_refine_iterations,
        };
        let mut refined = refine(
            observations,
            Some(&workspace.mask),
            &best.model,
            Freedom::Full,
            &refine_options,
        );
        if update_mask(
            &problem,
            &refined.pose,
            options.inlier_threshold,
            &mut workspace.mask,
        ) {
            let iterations = refined.iterations;
            refined = refine(
                observations,
                Some(&workspace.mask),
                &refined.pose,
                Freedom::Full,
                &refine_options,
            );
            refined.iterations += iterations;
        }
        let fix = finish(
            observations,
            &refined.pose,
            Freedom::Full,
            options,
            refined.iterations,
        )
        .map_err(SolveError::Degenerate)?;
        if fix.inliers < MIN_LANDMARKS {
            return Err(no_consensus(fix.inliers));
        }
        Ok(fix)
    }
}

/// Re-flags inliers at `pose`; whether any flag changed.
fn update_mask(
    problem: &PointProblem<'_>,
    pose: &CameraPose,
    threshold: f64,
    mask: &mut [bool],
) -> bool {
    let mut changed = false;
    for (index, flag) in mask.iter_mut().enumerate() {
        let inlier = point_residual_squared(pose, &problem.bearings[index], &problem.points[index])
            .is_some_and(|squared| squared < threshold * threshold);
        changed |= inlier != *flag;
        *flag = inlier;
    }
    changed
}

impl PoseSolver for AbsolutePose {
    fn solve(
        &self,
        observations: &Observations<'_>,
        options: &SolveOptions,
    ) -> Result<Fix, SolveError> {
        self.solve_in(observations, options, &mut AbsoluteWorkspace::default())
    }
}
