//! Bearings: the direction from the camera to a landmark as azimuth φ and elevation θ.
//!
//! In the world frame φ is a compass angle (from north, clockwise) and θ is up-positive
//! above the horizontal plane. In the camera frame φ is measured from the optical axis to
//! the right and θ is up-positive (the camera's y axis points down). The solver works on
//! the unit vectors; the angles are the human-readable form and what the files carry.

use crate::Vec3;

/// Azimuth φ and elevation θ in radians.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bearing {
    pub azimuth: f64,
    pub elevation: f64,
}

impl Bearing {
    pub fn new(azimuth: f64, elevation: f64) -> Self {
        Self { azimuth, elevation }
    }

    /// The bearing of a camera-frame direction (x right, y down, z forward).
    pub fn from_camera_ray(ray: &Vec3) -> Self {
        Self {
            azimuth: ray.x.atan2(ray.z),
            elevation: (-ray.y).atan2(ray.x.hypot(ray.z)),
        }
    }

    /// The unit camera-frame direction of this bearing.
    pub fn camera_ray(&self) -> Vec3 {
        let (sin_az, cos_az) = self.azimuth.sin_cos();
        let (sin_el, cos_el) = self.elevation.sin_cos();
        Vec3::new(cos_el * sin_az, -sin_el, cos_el * cos_az)
    }

    /// The bearing of a world-frame (ENU) direction.
    pub fn from_world_ray(ray: &Vec3) -> Self {
        Self {
            azimuth: ray.x.atan2(ray.y),
            elevation: ray.z.atan2(ray.x.hypot(ray.y)),
        }
    }

    /// The unit world-frame (ENU) direction of this bearing.
    pub fn world_ray(&self) -> Vec3 {
        let (sin_az, cos_az) = self.azimuth.sin_cos();
        let (sin_el, cos_el) = self.elevation.sin_cos();
        Vec3::new(cos_el * sin_az, cos_el * cos_az, sin_el)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn optical_axis_is_zero() {
        let b = Bearing::from_camera_ray(&Vec3::z());
        assert_eq!((b.azimuth, b.elevation), (0.0, 0.0));
    }

    #[test]
    fn right_and_up_are_positive() {
        let b = Bearing::from_camera_ray(&Vec3::new(1.0, -1.0, 2.0));
        assert!(b.azimuth > 0.0 && b.elevation > 0.0);
        let east = Bearing::from_world_ray(&Vec3::x());
        assert!((east.azimuth - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn rays_round_trip(az in -3.1f64..3.1, el in -1.5f64..1.5) {
            let b = Bearing::new(az, el);
            let cam = Bearing::from_camera_ray(&b.camera_ray());
            let world = Bearing::from_world_ray(&b.world_ray());
            prop_assert!((cam.azimuth - az).abs() < 1e-12 && (cam.elevation - el).abs() < 1e-12);
            prop_assert!((world.azimuth - az).abs() < 1e-12 && (world.elevation - el).abs() < 1e-12);
            prop_assert!((b.camera_ray().norm() - 1.0).abs() < 1e-12);
        }
    }
}
