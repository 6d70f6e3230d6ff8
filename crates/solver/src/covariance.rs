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
    add_outer_upper, point_residual_squared, position_basis, symmetrize, to_centre_coordinates,
    upright_basis, visit_residuals, Freedom,
};
use mapfix_core::Vec3;
use nalgebra::{Matrix6, SMatrix, Vector6};

/// Weight (in degrees of freedom) of the a-priori noise in the covariance scale.
const PRIOR_DEGREES_OF_FREEDOM: f64 = 2.0;
/// The weakest combination of free parameters, in angle-like units (positions divided
/// by the landmark distance), must carry at least this share of the total information.
const MIN_RELATIVE_INFORMATION: f64 = 1e-10;

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
    /// Mean distance (m) from the camera to the inlier landmarks (or, without any, to the
    /// lane vertices): the scale that makes a position error comparable to an angle.
    pub distance: f64,
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
        distance: 0.0,
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
    summary.distance = characteristic_distance(observations, pose, threshold);
    if summary.stats.count > 0 {
        summary.stats.rms = (summary.sum_squared / summary.stats.count as f64).sqrt();
    }
    summary
}

fn characteristic_distance(
    observations: &Observations<'_>,
    pose: &CameraPose,
    threshold: f64,
) -> f64 {
    let threshold_squared = threshold * threshold;
    let inliers = observations
        .bearings
        .iter()
        .zip(observations.points)
        .filter(|(b, x)| point_residual_squared(pose, b, x).is_some_and(|s| s <= threshold_squared))
        .map(|(_, x)| x);
    let lane_vertices = observations
        .lanes
        .iter()
        .flat_map(|lane| lane.polyline.iter());
    let mean = |points: &mut dyn Iterator<Item = &Vec3>| {
        let (sum, count) = points.fold((0.0, 0usize), |(sum, count), x| {
            (sum + (x - pose.centre).norm(), count + 1)
        });
        (count > 0).then(|| sum / count as f64)
    };
    mean(&mut { inliers })
        .or_else(|| mean(&mut { lane_vertices }))
        .unwrap_or(1.0)
}

/// `S·(SᵀHS)⁻¹·Sᵀ`, or why it does not exist. Observability is judged with positions
/// divided by `distance`, so rotations and positions weigh alike.
fn invert_in_basis<const D: usize>(
    information: &Matrix6<f64>,
    basis: &SMatrix<f64, 6, D>,
    distance: f64,
) -> Result<Matrix6<f64>, Degeneracy> {
    // A column that moves the centre only is a position; scale it to an angle.
    let scale = SMatrix::<f64, D, 1>::from_fn(|i, _| {
        if basis.fixed_view::<3, 1>(0, i).norm() > 0.0 {
            1.0
        } else {
            distance
        }
    });
    let reduced = basis.transpose() * information * basis;
    let normalised = SMatrix::<f64, D, D>::from_fn(|i, j| reduced[(i, j)] * scale[i] * scale[j]);
    let floor = MIN_RELATIVE_INFORMATION * normalised.trace();
    let observed = floor > 0.0
        && floor.is_finite()
        && (normalised - SMatrix::<f64, D, D>::identity() * floor)
            .cholesky()
            .is_some();
    if !observed {
        // Off the hot path: find how weak the weakest direction is, for the report.
        let dynamic = nalgebra::DMatrix::from_column_slice(D, D, normalised.as_slice());
        let min_eigenvalue = if dynamic.iter().all(|x| x.is_finite()) && floor > 0.0 {
            dynamic.symmetric_eigenvalues().min() / normalised.trace()
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
    summary: &FitSummary,
    freedom: Freedom,
    pose: &CameraPose,
) -> Result<Matrix6<f64>, Degeneracy> {
    let (information, distance) = (&summary.information, summary.distance);
    match freedom {
        Freedom::Full => invert_in_basis(information, &Matrix6::identity(), distance),
        Freedom::PositionOnly => invert_in_basis(information, &position_basis(), distance),
        Freedom::Upright => invert_in_basis(information, &upright_basis(pose), distance),
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
    let unscaled = unscaled_covariance(&summary, freedom, pose)?;
    let variance = residual_variance(&summary, freedom, options.noise_sigma);
    Ok(Fix {
        pose: *pose,
        covariance: unscaled * variance,
        inliers: summary.inlier_points,
        residuals: summary.stats,
        iterations,
    })
}
