//! Input checks and the geometric reasons a pose cannot be determined.

use crate::fix::SolveError;
use crate::pose::Observations;
use mapfix_core::Vec3;
use nalgebra::Matrix3;

/// Why the observations do not determine the pose.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum Degeneracy {
    #[error("all landmarks are seen in one direction")]
    AllAtOneBearing,
    #[error("the landmarks lie on one line (rotation about it is free)")]
    CollinearPoints,
    #[error("{solutions} poses explain the landmarks equally well")]
    Ambiguous { solutions: usize },
    #[error(
        "a direction of the pose is unobservable (its share of the information: {min_eigenvalue:.1e})"
    )]
    Unobservable { min_eigenvalue: f64 },
}

/// Bearings closer than this (radians) to a common direction count as one bearing.
const MIN_BEARING_SPREAD: f64 = 1e-6;
/// Points whose second principal spread is below this fraction of the first are collinear.
const COLLINEAR_RATIO: f64 = 1e-10;
/// Bearings must be unit vectors to this tolerance.
const UNIT_TOLERANCE: f64 = 1e-6;

/// Checks shapes and values: as many bearings as points, unit finite bearings, finite
/// points, lane polylines of at least two finite vertices, and at least `needed` points.
pub fn check_observations(
    observations: &Observations<'_>,
    needed: usize,
) -> Result<(), SolveError> {
    let (bearings, points) = (observations.bearings, observations.points);
    if bearings.len() != points.len() {
        return Err(SolveError::InvalidInput {
            what: "bearing without a point (lengths differ)",
            index: bearings.len().min(points.len()),
        });
    }
    for (index, bearing) in bearings.iter().enumerate() {
        check_unit(bearing, "bearing is not a finite unit vector", index)?;
    }
    if let Some(index) = points.iter().position(|p| !is_finite(p)) {
        return Err(SolveError::InvalidInput {
            what: "point is not finite",
            index,
        });
    }
    for (index, lane) in observations.lanes.iter().enumerate() {
        if lane.polyline.len() < 2 || !lane.polyline.iter().all(is_finite) {
            return Err(SolveError::InvalidInput {
                what: "lane polyline needs two or more finite vertices",
                index,
            });
        }
        for ray in lane.rays {
            check_unit(ray, "lane ray is not a finite unit vector", index)?;
        }
    }
    if points.len() < needed {
        return Err(SolveError::TooFewPoints {
            needed,
            got: points.len(),
        });
    }
    Ok(())
}

fn is_finite(v: &Vec3) -> bool {
    v.iter().all(|x| x.is_finite())
}

fn check_unit(v: &Vec3, what: &'static str, index: usize) -> Result<(), SolveError> {
    if is_finite(v) && (v.norm() - 1.0).abs() <= UNIT_TOLERANCE {
        Ok(())
    } else {
        Err(SolveError::InvalidInput { what, index })
    }
}

/// `Err(AllAtOneBearing)` when every bearing points (nearly) the same way.
pub fn check_bearing_spread(bearings: &[Vec3]) -> Result<(), Degeneracy> {
    let Some(first) = bearings.first() else {
        return Err(Degeneracy::AllAtOneBearing);
    };
    let spread = bearings
        .iter()
        .map(|b| first.cross(b).norm())
        .fold(0.0, f64::max);
    if spread > MIN_BEARING_SPREAD {
        Ok(())
    } else {
        Err(Degeneracy::AllAtOneBearing)
    }
}

/// `Err(CollinearPoints)` when the points lie (nearly) on one line or coincide.
pub fn check_not_collinear(points: &[Vec3]) -> Result<(), Degeneracy> {
    if points.is_empty() {
        return Err(Degeneracy::CollinearPoints);
    }
    let centroid = points.iter().sum::<Vec3>() / points.len() as f64;
    let scatter: Matrix3<f64> = points
        .iter()
        .map(|p| {
            let d = p - centroid;
            d * d.transpose()
        })
        .sum();
    // For spreads λ1 ≥ λ2 ≥ λ3, the principal 2×2 minors sum to λ1λ2 + λ1λ3 + λ2λ3 and the
    // trace is their sum: the ratio is about λ2/λ1, zero exactly when the points are on
    // a line — without an eigen-decomposition.
    let trace = scatter.trace();
    let minors = scatter.m11 * scatter.m22 - scatter.m12 * scatter.m21 + scatter.m11 * scatter.m33
        - scatter.m13 * scatter.m31
        + scatter.m22 * scatter.m33
        - scatter.m23 * scatter.m32;
    if trace > 0.0 && minors > COLLINEAR_RATIO * trace * trace {
        Ok(())
    } else {
        Err(Degeneracy::CollinearPoints)
    }
}
