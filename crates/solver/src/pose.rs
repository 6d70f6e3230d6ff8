//! The pose a solver returns, the observations it takes, and a fixed-capacity set of
//! candidate poses for the minimal solvers.

use crate::lane::LaneObservation;
use mapfix_core::{Pose, Rot3, Vec3};

/// A camera pose: centre `c` in the world frame and world → camera rotation `R`,
/// `p_cam = R·(p_world − c)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraPose {
    pub rotation: Rot3,
    pub centre: Vec3,
}

impl Default for CameraPose {
    fn default() -> Self {
        Self {
            rotation: Rot3::identity(),
            centre: Vec3::zeros(),
        }
    }
}

impl CameraPose {
    pub fn new(rotation: Rot3, centre: Vec3) -> Self {
        Self { rotation, centre }
    }

    /// A world point in the camera frame.
    #[inline]
    pub fn to_camera(&self, world: &Vec3) -> Vec3 {
        self.rotation * (world - self.centre)
    }

    /// The same pose as `mapfix-core`'s world ← camera transform.
    pub fn world_from_camera(&self) -> Pose {
        Pose {
            position: self.centre,
            rotation: self.rotation.inverse(),
        }
    }

    /// The inverse of [`CameraPose::world_from_camera`].
    pub fn from_world_from_camera(pose: &Pose) -> Self {
        Self {
            rotation: pose.rotation.inverse(),
            centre: pose.position,
        }
    }

    /// Angle (radians) of the rotation between two poses.
    pub fn rotation_error(&self, other: &CameraPose) -> f64 {
        let m = self.rotation.matrix() * other.rotation.matrix().transpose();
        // atan2 of sine and cosine parts stays accurate near 0 and π, and finite for
        // matrices a rounding error away from orthonormal.
        let sine = 0.5 * Vec3::new(m.m32 - m.m23, m.m13 - m.m31, m.m21 - m.m12).norm();
        sine.atan2(0.5 * (m.trace() - 1.0))
    }

    /// Distance (metres) between two camera centres.
    pub fn position_error(&self, other: &CameraPose) -> f64 {
        (self.centre - other.centre).norm()
    }
}

/// What a solver sees: bearings to point landmarks (unit vectors, camera frame) paired
/// with their world positions, and optionally lane-line rays paired with map polylines.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observations<'a> {
    pub bearings: &'a [Vec3],
    pub points: &'a [Vec3],
    pub lanes: &'a [LaneObservation<'a>],
}

impl<'a> Observations<'a> {
    /// Point correspondences only.
    pub fn points(bearings: &'a [Vec3], points: &'a [Vec3]) -> Self {
        Self {
            bearings,
            points,
            lanes: &[],
        }
    }

    pub fn with_lanes(self, lanes: &'a [LaneObservation<'a>]) -> Self {
        Self { lanes, ..self }
    }

    pub fn len(&self) -> usize {
        self.bearings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bearings.is_empty()
    }
}

/// The most solutions any minimal solver here returns (P3P: four).
pub const MAX_SOLUTIONS: usize = 4;

/// Up to [`MAX_SOLUTIONS`] candidate poses, on the stack.
#[derive(Debug, Clone, Copy)]
pub struct Solutions {
    items: [CameraPose; MAX_SOLUTIONS],
    len: usize,
}

impl Default for Solutions {
    fn default() -> Self {
        Self {
            items: [CameraPose::default(); MAX_SOLUTIONS],
            len: 0,
        }
    }
}

impl Solutions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a candidate; beyond capacity it is dropped (no minimal solver here produces more).
    pub fn push(&mut self, pose: CameraPose) {
        if self.len < MAX_SOLUTIONS {
            self.items[self.len] = pose;
            self.len += 1;
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[CameraPose] {
        &self.items[..self.len]
    }

    pub fn iter(&self) -> std::slice::Iter<'_, CameraPose> {
        self.as_slice().iter()
    }
}

impl<'a> IntoIterator for &'a Solutions {
    type Item = &'a CameraPose;
    type IntoIter = std::slice::Iter<'a, CameraPose>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}
