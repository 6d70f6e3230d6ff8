//! The result every solver returns, its status, and the options they share.

use crate::covariance::finish;
use crate::degeneracy::Degeneracy;
use crate::pose::{CameraPose, Observations};
use crate::refine::{refine, Freedom, Loss, RefineOptions};
use nalgebra::{Matrix3, Matrix6};

/// A solved pose with its uncertainty and how well it fits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fix {
    pub pose: CameraPose,
    /// Covariance of `[δθ, δc]`: a small rotation (radians, camera frame, applied as
    /// `R ← exp([δθ]×)·R`) and the camera centre (metres, world frame). Rows and columns
    /// of what the solver was told (the attitude for [`crate::PositionOnly`], roll and
    /// pitch for [`crate::Upright`]) are zero.
    pub covariance: Matrix6<f64>,
    /// Landmarks whose angular residual is within the inlier threshold.
    pub inliers: usize,
    pub residuals: ResidualStats,
    /// Least-squares iterations of the final refinement.
    pub iterations: usize,
}

impl Fix {
    /// Covariance of the camera centre (m², world frame).
    pub fn position_covariance(&self) -> Matrix3<f64> {
        self.covariance.fixed_view::<3, 3>(3, 3).into_owned()
    }

    /// Covariance of the rotation (rad², camera frame).
    pub fn rotation_covariance(&self) -> Matrix3<f64> {
        self.covariance.fixed_view::<3, 3>(0, 0).into_owned()
    }
}

/// Angular residuals (radians) of the inliers at the solution.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResidualStats {
    /// Point landmarks and lane rays that entered the statistics.
    pub count: usize,
    pub rms: f64,
    pub max: f64,
}

/// Why no pose came out: the explicit status of a failed solve.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum SolveError {
    #[error("too few landmarks: {got}, need at least {needed}")]
    TooFewPoints { needed: usize, got: usize },
    #[error("invalid input: {what} at index {index}")]
    InvalidInput { what: &'static str, index: usize },
    #[error("degenerate geometry: {0}")]
    Degenerate(Degeneracy),
    #[error("no consensus: best pose explains {inliers} landmarks, need {needed}")]
    NoConsensus { inliers: usize, needed: usize },
}

/// Settings shared by all solvers; angles in radians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveOptions {
    /// Angular residual beyond which a landmark is an outlier (RANSAC and statistics).
    pub inlier_threshold: f64,
    /// Loss of the final least squares.
    pub loss: Loss,
    /// A-priori bearing noise (1σ). The covariance scale blends it with the residuals'
    /// own estimate, so that a fix with few redundant landmarks is not over-confident.
    pub noise_sigma: f64,
    /// RANSAC stops once it is this sure that it has seen an all-inlier sample.
    pub confidence: f64,
    pub max_ransac_iterations: usize,
    pub max_refine_iterations: usize,
    /// Seeds RANSAC's sampling: the same input and seed give the same fix.
    pub seed: u64,
}

impl Default for SolveOptions {
    fn default() -> Self {
        Self {
            inlier_threshold: 0.005,
            loss: Loss::Huber(0.003),
            noise_sigma: 0.0015,
            confidence: 0.9999,
            max_ransac_iterations: 1000,
            max_refine_iterations: 25,
            seed: 0,
        }
    }
}

/// The one signature of every least-squares pose solver. What a solver is told in
/// advance (attitude, gravity) lives in the implementing value.
pub trait PoseSolver {
    fn solve(
        &self,
        observations: &Observations<'_>,
        options: &SolveOptions,
    ) -> Result<Fix, SolveError>;
}

/// The tail of the solvers that start from a single pose: robust least squares over
/// `freedom` with every landmark, then the fix (statistics, covariance) where it ends.
pub(crate) fn refine_to_fix(
    observations: &Observations<'_>,
    initial: &CameraPose,
    freedom: Freedom,
    options: &SolveOptions,
) -> Result<Fix, SolveError> {
    let refined = refine(
        observations,
        None,
        initial,
        freedom,
        &RefineOptions {
            loss: options.loss,
            max_iterations: options.max_refine_iterations,
        },
    );
    finish(
        observations,
        &refined.pose,
        freedom,
        options,
        refined.iterations,
    )
    .map_err(SolveError::Degenerate)
}
