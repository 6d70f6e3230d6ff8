//! Trajectory alignment before the absolute pose error, as evo does it.
//!
//! `se3` and `sim3` find the rigid (or similarity) transform that best maps the estimate's
//! positions onto the truth's in the least-squares sense, by Umeyama's closed form
//! (S. Umeyama, "Least-squares estimation of transformation parameters between two point
//! patterns", IEEE TPAMI 13(4), 1991); `origin` moves the estimate's first pose onto the
//! truth's first pose.

use mapfix_core::{Rot3, Vec3};
use nalgebra::Matrix3;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// How the estimate is aligned to the truth before the absolute pose error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Align {
    /// No alignment: both tracks are already in the same frame (evo's default).
    #[default]
    None,
    /// The estimate's first pose is moved onto the truth's first pose (evo `--align_origin`).
    Origin,
    /// Best rotation and translation (evo `-a`).
    Se3,
    /// Best rotation, translation and scale (evo `-as`).
    Sim3,
}

impl FromStr for Align {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "none" => Ok(Align::None),
            "origin" => Ok(Align::Origin),
            "se3" => Ok(Align::Se3),
            "sim3" => Ok(Align::Sim3),
            other => Err(format!(
                "unknown alignment '{other}' (expected none, origin, se3 or sim3)"
            )),
        }
    }
}

impl fmt::Display for Align {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Align::None => "none",
            Align::Origin => "origin",
            Align::Se3 => "se3",
            Align::Sim3 => "sim3",
        })
    }
}

/// A similarity transform `p ↦ scale · rotation · p + translation`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub rotation: Rot3,
    pub translation: Vec3,
    pub scale: f64,
}

impl Similarity {
    pub fn identity() -> Self {
        Self {
            rotation: Rot3::identity(),
            translation: Vec3::zeros(),
            scale: 1.0,
        }
    }

    pub fn apply(&self, point: &Vec3) -> Vec3 {
        self.scale * (self.rotation * point) + self.translation
    }
}

/// Why no alignment could be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlignError {
    #[error("alignment needs at least 3 associated positions, got {0}")]
    TooFewPoints(usize),
    #[error("the associated positions are (nearly) collinear, so the rotation about their line is undetermined")]
    Degenerate,
}

/// The similarity (or, with `with_scale` false, the rigid transform) minimising
/// Σ‖targetᵢ − (s·R·sourceᵢ + t)‖² (Umeyama 1991).
pub fn umeyama(
    source: &[Vec3],
    target: &[Vec3],
    with_scale: bool,
) -> Result<Similarity, AlignError> {
    assert_eq!(source.len(), target.len(), "umeyama needs paired points");
    let n = source.len();
    if n < 3 {
        return Err(AlignError::TooFewPoints(n));
    }
    let count = n as f64;
    let mean_source = source.iter().sum::<Vec3>() / count;
    let mean_target = target.iter().sum::<Vec3>() / count;
    let mut covariance = Matrix3::zeros();
    let mut source_variance = 0.0;
    for (s, t) in source.iter().zip(target) {
        let (ds, dt) = (s - mean_source, t - mean_target);
        covariance += dt * ds.transpose();
        source_variance += ds.norm_squared();
    }
    covariance /= count;
    source_variance /= count;

    let svd = covariance.svd(true, true);
    let (u, v) = (
        svd.u.expect("u requested"),
        svd.v_t.expect("v_t requested").transpose(),
    );
    let singular = svd.singular_values;
    let largest = singular.max();
    let smallest = singular.imin();
    let rank = singular.iter().filter(|&&s| s > largest * 1e-10).count();
    // Rank below 2 leaves a rotation free (evo refuses the same case).
    if largest <= 0.0 || rank < 2 {
        return Err(AlignError::Degenerate);
    }
    // Flip the axis of the smallest singular value if U·Vᵀ would be a reflection.
    let mut signs = Vec3::new(1.0, 1.0, 1.0);
    if u.determinant() * v.determinant() < 0.0 {
        signs[smallest] = -1.0;
    }
    let rotation = u * Matrix3::from_diagonal(&signs) * v.transpose();
    let scale = if with_scale {
        singular.dot(&signs) / source_variance
    } else {
        1.0
    };
    let rotation = Rot3::from_matrix_unchecked(rotation);
    Ok(Similarity {
        rotation,
        translation: mean_target - scale * (rotation * mean_source),
        scale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cloud() -> Vec<Vec3> {
        (0..20)
            .map(|i| {
                let t = i as f64;
                Vec3::new(t * 3.0, (t * 0.7).sin() * 10.0, (t * 0.3).cos() * 2.0)
            })
            .collect()
    }

    #[test]
    fn recovers_a_known_similarity() {
        let truth = Similarity {
            rotation: Rot3::from_euler_angles(0.1, -0.2, 2.5),
            translation: Vec3::new(100.0, -50.0, 3.0),
            scale: 1.7,
        };
        let source = cloud();
        let target: Vec<Vec3> = source.iter().map(|p| truth.apply(p)).collect();
        let found = umeyama(&source, &target, true).unwrap();
        assert!((found.scale - 1.7).abs() < 1e-9);
        assert!((found.rotation.matrix() - truth.rotation.matrix()).norm() < 1e-9);
        assert!((found.translation - truth.translation).norm() < 1e-7);
        // Without scale the rotation is still right (the clouds are centred first).
        let rigid = umeyama(&source, &target, false).unwrap();
        assert_eq!(rigid.scale, 1.0);
        assert!((rigid.rotation.matrix() - truth.rotation.matrix()).norm() < 1e-9);
    }

    #[test]
    fn planar_points_give_a_rotation_not_a_reflection() {
        let source: Vec<Vec3> = cloud().iter().map(|p| Vec3::new(p.x, p.y, 0.0)).collect();
        let turn = Rot3::from_euler_angles(0.0, 0.0, -1.0);
        let target: Vec<Vec3> = source
            .iter()
            .map(|p| turn * p + Vec3::new(1.0, 2.0, 0.0))
            .collect();
        let found = umeyama(&source, &target, false).unwrap();
        assert!((found.rotation.matrix().determinant() - 1.0).abs() < 1e-12);
        assert!((found.rotation.matrix() - turn.matrix()).norm() < 1e-9);
    }

    #[test]
    fn collinear_and_tiny_inputs_are_refused() {
        let line: Vec<Vec3> = (0..5).map(|i| Vec3::new(i as f64, 0.0, 0.0)).collect();
        assert_eq!(umeyama(&line, &line, false), Err(AlignError::Degenerate));
        assert_eq!(
            umeyama(&line[..2], &line[..2], false),
            Err(AlignError::TooFewPoints(2))
        );
    }

    proptest! {
        #[test]
        fn rigid_alignment_of_a_moved_cloud_is_exact(yaw in -3.1f64..3.1, pitch in -1.0f64..1.0,
                                                     dx in -1e3f64..1e3, dy in -1e3f64..1e3) {
            let moved = Similarity { rotation: Rot3::from_euler_angles(0.0, pitch, yaw),
                                     translation: Vec3::new(dx, dy, 1.0), scale: 1.0 };
            let source = cloud();
            let target: Vec<Vec3> = source.iter().map(|p| moved.apply(p)).collect();
            let found = umeyama(&source, &target, false).unwrap();
            for (s, t) in source.iter().zip(&target) {
                prop_assert!((found.apply(s) - t).norm() < 1e-6);
            }
        }
    }
}
