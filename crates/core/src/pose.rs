//! Vehicle attitude and pose in the world (ENU) frame.
//!
//! The vehicle frame is x forward, y left, z up. Its attitude is yaw (counter-clockwise
//! from east), pitch (positive nose down) and roll (positive right side down), composed as
//! world ← vehicle = Rz(yaw)·Ry(pitch)·Rx(roll), as in ROS REP 103. The compass `heading`
//! (from north, clockwise) is the edge-of-the-system name for the same angle:
//! `yaw = 90° − heading`.

use crate::{Rot3, Vec3};
use std::f64::consts::{FRAC_PI_2, PI, TAU};

/// Roll, pitch and yaw in radians.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Attitude {
    pub roll: f64,
    pub pitch: f64,
    pub yaw: f64,
}

impl Attitude {
    /// An attitude from the compass heading (radians, from north, clockwise).
    pub fn from_heading(heading: f64, pitch: f64, roll: f64) -> Self {
        Self {
            roll,
            pitch,
            yaw: yaw_from_heading(heading),
        }
    }

    pub fn heading(&self) -> f64 {
        heading_from_yaw(self.yaw)
    }

    /// world ← body rotation Rz(yaw)·Ry(pitch)·Rx(roll).
    pub fn rotation(&self) -> Rot3 {
        Rot3::from_euler_angles(self.roll, self.pitch, self.yaw)
    }

    /// The attitude of a rotation (inverse of [`Attitude::rotation`]; pitch in [−π/2, π/2]).
    pub fn from_rotation(rotation: &Rot3) -> Self {
        let (roll, pitch, yaw) = rotation.euler_angles();
        Self { roll, pitch, yaw }
    }
}

/// `yaw = 90° − heading`, wrapped to (−π, π].
pub fn yaw_from_heading(heading: f64) -> f64 {
    wrap_angle(FRAC_PI_2 - heading)
}

/// `heading = 90° − yaw`, wrapped to [0, 2π).
pub fn heading_from_yaw(yaw: f64) -> f64 {
    (FRAC_PI_2 - yaw).rem_euclid(TAU)
}

/// An angle wrapped to (−π, π].
pub fn wrap_angle(angle: f64) -> f64 {
    let wrapped = (angle + PI).rem_euclid(TAU) - PI;
    if wrapped == -PI {
        PI
    } else {
        wrapped
    }
}

/// A rigid transform world ← body: `p_world = rotation · p_body + position`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    pub position: Vec3,
    pub rotation: Rot3,
}

impl Pose {
    pub fn new(position: Vec3, attitude: Attitude) -> Self {
        Self {
            position,
            rotation: attitude.rotation(),
        }
    }

    pub fn identity() -> Self {
        Self {
            position: Vec3::zeros(),
            rotation: Rot3::identity(),
        }
    }

    pub fn attitude(&self) -> Attitude {
        Attitude::from_rotation(&self.rotation)
    }

    /// Maps a point from the body frame into the world frame.
    pub fn transform_point(&self, body: &Vec3) -> Vec3 {
        self.rotation * body + self.position
    }

    /// Maps a world point into the body frame.
    pub fn inverse_transform_point(&self, world: &Vec3) -> Vec3 {
        self.rotation.inverse() * (world - self.position)
    }

    /// `self ∘ other`: if `self` is world ← a and `other` is a ← b, the result is world ← b.
    pub fn compose(&self, other: &Pose) -> Pose {
        Pose {
            position: self.transform_point(&other.position),
            rotation: self.rotation * other.rotation,
        }
    }

    pub fn inverse(&self) -> Pose {
        let rotation = self.rotation.inverse();
        Pose {
            position: -(rotation * self.position),
            rotation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: &Vec3, b: &Vec3) -> bool {
        (a - b).norm() < 1e-9
    }

    #[test]
    fn heading_north_drives_along_north() {
        let attitude = Attitude::from_heading(0.0, 0.0, 0.0);
        assert!(close(&(attitude.rotation() * Vec3::x()), &Vec3::y()));
        let east = Attitude::from_heading(FRAC_PI_2, 0.0, 0.0);
        assert!(close(&(east.rotation() * Vec3::x()), &Vec3::x()));
    }

    #[test]
    fn positive_pitch_is_nose_down_and_positive_roll_is_right_side_down() {
        let nose_down = Attitude {
            pitch: 0.1,
            ..Default::default()
        }
        .rotation()
            * Vec3::x();
        assert!(nose_down.z < 0.0);
        // The right side is −y in the vehicle frame.
        let right = Attitude {
            roll: 0.1,
            ..Default::default()
        }
        .rotation()
            * -Vec3::y();
        assert!(right.z < 0.0);
    }

    proptest! {
        #[test]
        fn attitude_round_trips(
            roll in -1.5f64..1.5, pitch in -1.5f64..1.5, heading in 0.0f64..TAU
        ) {
            let attitude = Attitude::from_heading(heading, pitch, roll);
            let back = Attitude::from_rotation(&attitude.rotation());
            prop_assert!((back.roll - roll).abs() < 1e-9);
            prop_assert!((back.pitch - pitch).abs() < 1e-9);
            prop_assert!(wrap_angle(back.heading() - heading).abs() < 1e-9);
        }

        #[test]
        fn compose_and_inverse(x in -100.0f64..100.0, yaw in -3.0f64..3.0, px in -5.0f64..5.0) {
            let a = Pose::new(Vec3::new(x, 2.0, 1.0), Attitude { yaw, pitch: 0.1, roll: -0.05 });
            let b = Pose::new(Vec3::new(1.0, px, 0.5), Attitude { yaw: 0.3, pitch: -0.2, roll: 0.1 });
            let p = Vec3::new(px, 3.0, -1.0);
            prop_assert!(close(&a.compose(&b).transform_point(&p), &a.transform_point(&b.transform_point(&p))));
            prop_assert!(close(&a.inverse().transform_point(&a.transform_point(&p)), &p));
            prop_assert!(close(&a.inverse_transform_point(&a.transform_point(&p)), &p));
        }
    }

    #[test]
    fn wrap_angle_range() {
        assert_eq!(wrap_angle(PI), PI);
        assert_eq!(wrap_angle(-PI), PI);
        assert!((wrap_angle(3.0 * PI / 2.0) + FRAC_PI_2).abs() < 1e-12);
    }
}
