//! Position from bearings when the attitude is known (classic resection).
//!
//! Each landmark X_i lies on the ray from the centre c along the world-frame bearing
//! w_i = Rᵀ·b_i, so (I − w_i w_iᵀ)(X_i − c) = 0. Summed over landmarks this is a 3×3
//! linear system for c, solvable with two landmarks in different directions; Gauss–Newton
//! on the angular residuals (with the robust loss) then gives the maximum-likelihood fix.

use crate::degeneracy::{check_bearing_spread, check_observations, Degeneracy};
use crate::fix::{refine_to_fix, Fix, PoseSolver, SolveError, SolveOptions};
use crate::pose::{CameraPose, Observations};
use crate::refine::Freedom;
use mapfix_core::{Rot3, Vec3};
use nalgebra::Matrix3;

/// Solves for the camera centre given the world → camera rotation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionOnly {
    pub rotation: Rot3,
}

impl PositionOnly {
    pub fn new(rotation: Rot3) -> Self {
        Self { rotation }
    }

    /// The linear least-squares centre, `None` if the bearings do not fix it.
    pub fn linear(&self, bearings: &[Vec3], points: &[Vec3]) -> Option<Vec3> {
        let mut normal = Matrix3::zeros();
        let mut rhs = Vec3::zeros();
        let to_world = self.rotation.inverse();
        for (bearing, point) in bearings.iter().zip(points) {
            let w = to_world * bearing;
            let projector = Matrix3::identity() - w * w.transpose();
            normal += projector;
            rhs += projector * point;
        }
        normal.cholesky().map(|c| c.solve(&rhs))
    }
}

impl PoseSolver for PositionOnly {
    fn solve(
        &self,
        observations: &Observations<'_>,
        options: &SolveOptions,
    ) -> Result<Fix, SolveError> {
        check_observations(observations, 2)?;
        check_bearing_spread(observations.bearings).map_err(SolveError::Degenerate)?;
        let centre = self
            .linear(observations.bearings, observations.points)
            .ok_or(SolveError::Degenerate(Degeneracy::AllAtOneBearing))?;
        refine_to_fix(
            observations,
            &CameraPose::new(self.rotation, centre),
            Freedom::PositionOnly,
            options,
        )
    }
}
