//! The covariance of a fix, from the normal equations at the solution, scaled by the
//! residuals; and the test that every free direction of the pose is actually observed.
//!
//! With J the Jacobian of the inlier residuals over the free parameters (basis S of
//! `[δθ, δc]`), the covariance is `σ²·S(SᵀJᵀJS)⁻¹Sᵀ`. The scale σ² blends the residuals'
//! own estimate (sum of squares over the redundancy) with the a-priori bearing noise,
//! weighted as two pseudo-observations: with many landmarks the residuals decide, with a
//! bare minimum the prior keeps a lucky near-zero residual from claiming certainty.

use crate::degeneracy::Degeneracy;
use crate::fix::{Fix, ResidualStats, SolveOptions};
use crate::pose::{CameraPose, Observations};
use crate::refine::{
    add_outer_upper, position_basis, symmetrize, to_centre_coordinates, upright_basis,
    visit_residuals, Freedom,
};
use nalgebra::{Matrix6, SMatrix, Vector6};

/// Weight (in degrees of freedom) of the a-priori noise in the covariance scale.
const PRIOR_DEGREES_OF_FREEDOM: f64 = 2.0;
/// The free parameters, normalised to unit information, must keep at least this much
/// information in their weakest combination.
const MIN_NORMALISED_INFORMATION: f64 = 1e-9;

/// Inlier statistics and information at a pose.
#[derive(Debug, Clone, Copy)]
pub struct FitSummary {
    /// JᵀJ of the inlier residuals over `[δθ, δc]`.
    pub information: Matrix6<f64>,
    pub sum_squared: f64,
    /// Scalar residuals (two per point, one per lane ray) of the inliers.
    pub residual_count: usize,
    /// Inlier point landmarks.
    pub inlier_points: usize,
    pub stats: ResidualStats,
}

/// Classifies residuals against `threshold` (radians) and accumulates the inliers'
/// information. Lane rays further than the threshold from their lane are left out too.
pub fn summarize(observations: &Observations<'_>, pose: &CameraPose, threshold: f64) -> FitSummary {
    let mut summary = FitSummary {
        information: Matrix6::zeros(),
        sum_squared: 0.0,
        residual_count: 0,
        inlier_points: 0,
        stats: ResidualStats::default(),
    };
    let threshold_squared = threshold * threshold;
    visit_residuals(observations, None, pose, |residual| {
        let Some(residual) = residual else { return };
        let squared = residual.squared_norm();
        if squared > threshold_squared {
            return;
        }
        summary.sum_squared += squared;
        summary.residual_count += residual.rows;
        summary.inlier_points += usize::from(residual.rows == 2);
        summary.stats.count += 1;
        summary.stats.max = summary.stats.max.max(squared.sqrt());
        for row in 0..residual.rows {
            let j = residual.jacobian.fixed_rows::<1>(row).into_owned();
            add_outer_upper(&mut summary.information, &j, 1.0);
        }
    });
    symmetrize(&mut summary.information);
    summary.information = to_centre_coordinates(&summary.information, &Vector6::zeros(), pose).0;
    if summary.stats.count > 0 {
        summary.stats.rms = (summary.sum_squared / summary.stats.count as f64).sqrt();
    }
    summary
}

/// `S·(SᵀHS)⁻¹·Sᵀ`, or why it does not exist.
fn invert_in_basis<const D: usize>(
    information: &Matrix6<f64>,
    basis: &SMatrix<f64, 6, D>,
) -> Result<Matrix6<f64>, Degeneracy> {
    let reduced = basis.transpose() * information * basis;
    let scale = reduced
        .diagonal()
        .map(|d| if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 });
    let normalised = SMatrix::<f64, D, D>::from_fn(|i, j| reduced[(i, j)] * scale[i] * scale[j]);
    let observed = scale.iter().all(|s| *s > 0.0 && s.is_finite())
        && (normalised - SMatrix::<f64, D, D>::identity() * MIN_NORMALISED_INFORMATION)
            .cholesky()
            .is_some();
    if !observed {
        // Off the hot path: find how weak the weakest direction is, for the report.
        let dynamic = nalgebra::DMatrix::from_column_slice(D, D, normalised.as_slice());
        let min_eigenvalue = if dynamic.iter().all(|x| x.is_finite()) {
            dynamic.symmetric_eigenvalues().min()
        } else {
            f64::NAN
        };
        return Err(Degeneracy::Unobservable { min_eigenvalue });
    }
    let inverse = normalised.try_inverse().ok_or(Degeneracy::Unobservable {
        min_eigenvalue: 0.0,
    })?;
    let unscaled = SMatrix::<f64, D, D>::from_fn(|i, j| inverse[(i, j)] * scale[i] * scale[j]);
    Ok(basis * unscaled * basis.transpose())
}

/// The unscaled covariance `(JᵀJ)⁻¹` over the free parameters, embedded in `[δθ, δc]`.
pub fn unscaled_covariance(
    information: &Matrix6<f64>,
    freedom: Freedom,
    pose: &CameraPose,
) -> Result<Matrix6<f64>, Degeneracy> {
    match freedom {
        Freedom::Full => invert_in_basis(information, &Matrix6::identity()),
        Freedom::PositionOnly => invert_in_basis(information, &position_basis()),
        Freedom::Upright => invert_in_basis(information, &upright_basis(pose)),
    }
}

/// The variance of one scalar angular residual: residual estimate blended with the prior.
pub fn residual_variance(summary: &FitSummary, freedom: Freedom, prior_sigma: f64) -> f64 {
    let redundancy = summary.residual_count.saturating_sub(freedom.dimension()) as f64;
    (summary.sum_squared + PRIOR_DEGREES_OF_FREEDOM * prior_sigma * prior_sigma)
        / (redundancy + PRIOR_DEGREES_OF_FREEDOM)
}

/// The fix at a refined pose: inliers, residual statistics and covariance, or the
/// degeneracy that makes the pose meaningless.
pub(crate) fn finish(
    observations: &Observations<'_>,
    pose: &CameraPose,
    freedom: Freedom,
    options: &SolveOptions,
    iterations: usize,
) -> Result<Fix, Degeneracy> {
    let summary = summarize(observations, pose, options.inlier_threshold);
    let unscaled = unscaled_covariance(&summary.information, freedom, pose)?;
    let variance = residual_variance(&summary, freedom, options.noise_sigma);
    Ok(Fix {
        pose: *pose,
        covariance: unscaled * variance,
        inliers: summary.inlier_points,
        residuals: summary.stats,
        iterations,
    })
}
