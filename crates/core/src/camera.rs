//! The calibrated camera: pinhole intrinsics, Brown–Conrady distortion, and its mount on
//! the vehicle; conversion between pixels, camera rays and bearings; `camera.toml`.
//!
//! The mount is the camera's position (x, y, z in the vehicle frame) and roll/pitch/yaw
//! on the vehicle, applied to the base rotation B that maps camera axes to vehicle axes
//! (camera z → vehicle x, camera x → −vehicle y, camera y → −vehicle z):
//! vehicle ← camera = Rz(yaw)·Ry(pitch)·Rx(roll)·B. A camera tilted down has pitch > 0.

use crate::{Attitude, Bearing, Pose, Rot3, Vec3};
use nalgebra::{Matrix2, Matrix3, Vector2};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors reading, writing or validating a camera description.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("cannot read camera file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write camera file {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("camera file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("camera file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Pinhole intrinsics in pixels; (0, 0) is the centre of the top-left pixel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Intrinsics {
    pub width: u32,
    pub height: u32,
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
}

/// Brown–Conrady (OpenCV) radial k1, k2, k3 and tangential p1, p2 coefficients.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Distortion {
    pub k1: f64,
    pub k2: f64,
    pub p1: f64,
    pub p2: f64,
    pub k3: f64,
}

impl Distortion {
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }

    /// Distorts normalised image coordinates.
    pub fn apply(&self, p: Vector2<f64>) -> Vector2<f64> {
        let (x, y) = (p.x, p.y);
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3));
        Vector2::new(
            x * radial + 2.0 * self.p1 * x * y + self.p2 * (r2 + 2.0 * x * x),
            y * radial + self.p1 * (r2 + 2.0 * y * y) + 2.0 * self.p2 * x * y,
        )
    }

    fn jacobian(&self, p: Vector2<f64>) -> Matrix2<f64> {
        let (x, y) = (p.x, p.y);
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (self.k1 + r2 * (self.k2 + r2 * self.k3));
        // d(radial)/dx = g·x, d(radial)/dy = g·y
        let g = 2.0 * self.k1 + r2 * (4.0 * self.k2 + 6.0 * self.k3 * r2);
        Matrix2::new(
            radial + g * x * x + 2.0 * self.p1 * y + 6.0 * self.p2 * x,
            g * x * y + 2.0 * self.p1 * x + 2.0 * self.p2 * y,
            g * x * y + 2.0 * self.p1 * x + 2.0 * self.p2 * y,
            radial + g * y * y + 6.0 * self.p1 * y + 2.0 * self.p2 * x,
        )
    }

    /// Inverts [`Distortion::apply`] by Newton's method; `None` where it does not converge
    /// (far outside the region the calibration describes).
    pub fn remove(&self, distorted: Vector2<f64>) -> Option<Vector2<f64>> {
        if self.is_zero() {
            return Some(distorted);
        }
        let mut p = distorted;
        for _ in 0..30 {
            let residual = self.apply(p) - distorted;
            if residual.norm() < 1e-15 {
                return Some(p);
            }
            let step = self.jacobian(p).lu().solve(&residual)?;
            p -= step;
        }
        ((self.apply(p) - distorted).norm() < 1e-9).then_some(p)
    }
}

/// Where the camera sits on the vehicle: position (m, vehicle frame) and its roll, pitch
/// and yaw (radians) relative to looking straight ahead.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Mount {
    pub position: Vec3,
    pub attitude: Attitude,
}

/// Vehicle ← camera base rotation B: its columns are the camera axes in the vehicle frame.
fn vehicle_from_camera_base() -> Rot3 {
    #[rustfmt::skip]
    let b = Matrix3::new(
        0.0, 0.0, 1.0,
        -1.0, 0.0, 0.0,
        0.0, -1.0, 0.0,
    );
    Rot3::from_matrix_unchecked(b)
}

/// A calibrated camera mounted on the vehicle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraModel {
    pub intrinsics: Intrinsics,
    pub distortion: Distortion,
    pub mount: Mount,
    /// Frame rate used to time-stamp image folders and raw streams.
    pub fps: f64,
}

impl CameraModel {
    /// Unit ray in the camera frame through pixel (u, v); `None` if the distortion model
    /// cannot be inverted there.
    pub fn pixel_to_ray(&self, u: f64, v: f64) -> Option<Vec3> {
        let k = &self.intrinsics;
        let distorted = Vector2::new((u - k.cx) / k.fx, (v - k.cy) / k.fy);
        let p = self.distortion.remove(distorted)?;
        Some(Vec3::new(p.x, p.y, 1.0).normalize())
    }

    /// Pixel of a camera-frame direction; `None` for directions not in front of the camera.
    pub fn ray_to_pixel(&self, ray: &Vec3) -> Option<[f64; 2]> {
        if ray.z <= 1e-9 * ray.norm() {
            return None;
        }
        let d = self
            .distortion
            .apply(Vector2::new(ray.x / ray.z, ray.y / ray.z));
        let k = &self.intrinsics;
        Some([k.fx * d.x + k.cx, k.fy * d.y + k.cy])
    }

    pub fn pixel_to_bearing(&self, u: f64, v: f64) -> Option<Bearing> {
        self.pixel_to_ray(u, v)
            .map(|ray| Bearing::from_camera_ray(&ray))
    }

    pub fn bearing_to_pixel(&self, bearing: &Bearing) -> Option<[f64; 2]> {
        self.ray_to_pixel(&bearing.camera_ray())
    }

    /// Whether a pixel position lies on the sensor.
    pub fn contains(&self, pixel: [f64; 2]) -> bool {
        let k = &self.intrinsics;
        (-0.5..k.width as f64 - 0.5).contains(&pixel[0])
            && (-0.5..k.height as f64 - 0.5).contains(&pixel[1])
    }

    /// vehicle ← camera.
    pub fn vehicle_from_camera(&self) -> Pose {
        Pose {
            position: self.mount.position,
            rotation: self.mount.attitude.rotation() * vehicle_from_camera_base(),
        }
    }

    /// world ← camera for a vehicle at `vehicle` (world ← vehicle).
    pub fn world_from_camera(&self, vehicle: &Pose) -> Pose {
        vehicle.compose(&self.vehicle_from_camera())
    }

    /// The pixel where a world point appears, for a vehicle at `vehicle`; `None` if it is
    /// behind the camera (it may still fall outside the image: see [`CameraModel::contains`]).
    pub fn project(&self, vehicle: &Pose, world_point: &Vec3) -> Option<[f64; 2]> {
        let camera = self.world_from_camera(vehicle);
        self.ray_to_pixel(&camera.inverse_transform_point(world_point))
    }

    /// Horizontal field of view (radians) of the undistorted pinhole.
    pub fn horizontal_fov(&self) -> f64 {
        let k = &self.intrinsics;
        (k.cx + 0.5).atan2(k.fx) + (k.width as f64 - 0.5 - k.cx).atan2(k.fx)
    }

    /// Vertical field of view (radians) of the undistorted pinhole.
    pub fn vertical_fov(&self) -> f64 {
        let k = &self.intrinsics;
        (k.cy + 0.5).atan2(k.fy) + (k.height as f64 - 0.5 - k.cy).atan2(k.fy)
    }

    /// Reads a `camera.toml`.
    pub fn load(path: &Path) -> Result<Self, CameraError> {
        let text = std::fs::read_to_string(path).map_err(|source| CameraError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses `camera.toml` text; `path` only names the source in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, CameraError> {
        let file: CameraFile = toml::from_str(text).map_err(|error| CameraError::Parse {
            path: path.to_owned(),
            message: error.to_string().trim_end().to_owned(),
        })?;
        let camera = file.into_model();
        camera.validate().map_err(|message| CameraError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        Ok(camera)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(&CameraFile::from_model(self)).expect("camera fields are plain numbers")
    }

    pub fn save(&self, path: &Path) -> Result<(), CameraError> {
        std::fs::write(path, self.to_toml()).map_err(|source| CameraError::Write {
            path: path.to_owned(),
            source,
        })
    }

    fn validate(&self) -> Result<(), String> {
        let k = &self.intrinsics;
        let finite = [k.fx, k.fy, k.cx, k.cy, self.fps]
            .into_iter()
            .chain([self.distortion.k1, self.distortion.k2, self.distortion.k3])
            .chain([self.distortion.p1, self.distortion.p2])
            .all(f64::is_finite);
        if !finite {
            return Err("every number must be finite".into());
        }
        if k.width == 0 || k.height == 0 {
            return Err(format!("image size {}×{} is empty", k.width, k.height));
        }
        if k.fx <= 0.0 || k.fy <= 0.0 {
            return Err(format!(
                "focal lengths must be positive (fx = {}, fy = {})",
                k.fx, k.fy
            ));
        }
        if self.fps <= 0.0 {
            return Err(format!("fps must be positive, got {}", self.fps));
        }
        Ok(())
    }
}

/// The on-disk layout of `camera.toml` (angles in degrees).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraFile {
    width: u32,
    height: u32,
    fx: f64,
    fy: f64,
    cx: f64,
    cy: f64,
    #[serde(default)]
    k1: f64,
    #[serde(default)]
    k2: f64,
    #[serde(default)]
    p1: f64,
    #[serde(default)]
    p2: f64,
    #[serde(default)]
    k3: f64,
    fps: f64,
    mount: MountFile,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MountFile {
    x: f64,
    y: f64,
    z: f64,
    roll: f64,
    pitch: f64,
    yaw: f64,
}

impl CameraFile {
    fn into_model(self) -> CameraModel {
        CameraModel {
            intrinsics: Intrinsics {
                width: self.width,
                height: self.height,
                fx: self.fx,
                fy: self.fy,
                cx: self.cx,
                cy: self.cy,
            },
            distortion: Distortion {
                k1: self.k1,
                k2: self.k2,
                p1: self.p1,
                p2: self.p2,
                k3: self.k3,
            },
            mount: Mount {
                position: Vec3::new(self.mount.x, self.mount.y, self.mount.z),
                attitude: Attitude {
                    roll: self.mount.roll.to_radians(),
                    pitch: self.mount.pitch.to_radians(),
                    yaw: self.mount.yaw.to_radians(),
                },
            },
            fps: self.fps,
        }
    }

    fn from_model(camera: &CameraModel) -> Self {
        let (k, d, m) = (&camera.intrinsics, &camera.distortion, &camera.mount);
        Self {
            width: k.width,
            height: k.height,
            fx: k.fx,
            fy: k.fy,
            cx: k.cx,
            cy: k.cy,
            k1: d.k1,
            k2: d.k2,
            p1: d.p1,
            p2: d.p2,
            k3: d.k3,
            fps: camera.fps,
            mount: MountFile {
                x: m.position.x,
                y: m.position.y,
                z: m.position.z,
                roll: m.attitude.roll.to_degrees(),
                pitch: m.attitude.pitch.to_degrees(),
                yaw: m.attitude.yaw.to_degrees(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A 1280×720 dashcam with the strong barrel distortion of the Udacity calibration set.
    fn dashcam() -> CameraModel {
        CameraModel {
            intrinsics: Intrinsics {
                width: 1280,
                height: 720,
                fx: 1150.0,
                fy: 1150.0,
                cx: 640.0,
                cy: 360.0,
            },
            distortion: Distortion {
                k1: -0.24,
                k2: -0.05,
                p1: -0.0007,
                p2: -0.0001,
                k3: 0.02,
            },
            mount: Mount {
                position: Vec3::new(1.5, 0.0, 1.4),
                attitude: Attitude {
                    roll: 0.0,
                    pitch: 2f64.to_radians(),
                    yaw: 0.0,
                },
            },
            fps: 30.0,
        }
    }

    proptest! {
        #[test]
        fn pixel_ray_pixel_round_trip(u in 0.0f64..1279.0, v in 0.0f64..719.0) {
            let camera = dashcam();
            let ray = camera.pixel_to_ray(u, v).expect("inside the image");
            let [u2, v2] = camera.ray_to_pixel(&ray).unwrap();
            prop_assert!((u2 - u).hypot(v2 - v) < 0.01, "({u}, {v}) → ({u2}, {v2})");
            let bearing = camera.pixel_to_bearing(u, v).unwrap();
            let [u3, v3] = camera.bearing_to_pixel(&bearing).unwrap();
            prop_assert!((u3 - u).hypot(v3 - v) < 0.01);
        }
    }

    #[test]
    fn principal_point_is_straight_ahead() {
        let b = dashcam().pixel_to_bearing(640.0, 360.0).unwrap();
        assert!(b.azimuth.abs() < 1e-12 && b.elevation.abs() < 1e-12);
        let right = dashcam().pixel_to_bearing(900.0, 360.0).unwrap();
        assert!(right.azimuth > 0.0);
        let up = dashcam().pixel_to_bearing(640.0, 100.0).unwrap();
        assert!(up.elevation > 0.0);
    }

    #[test]
    fn mount_conventions() {
        let mut camera = dashcam();
        camera.mount.attitude = Attitude::default();
        let v_from_c = camera.vehicle_from_camera().rotation;
        assert!(
            (v_from_c * Vec3::z() - Vec3::x()).norm() < 1e-12,
            "optical axis looks forward"
        );
        assert!(
            (v_from_c * Vec3::x() + Vec3::y()).norm() < 1e-12,
            "image right is vehicle right"
        );
        assert!(
            (v_from_c * Vec3::y() + Vec3::z()).norm() < 1e-12,
            "image down is vehicle down"
        );
        // Tilted down by 2°: the optical axis points below the horizon.
        let tilted = dashcam().vehicle_from_camera().rotation * Vec3::z();
        assert!(tilted.z < 0.0);
    }

    #[test]
    fn projects_world_points() {
        let camera = dashcam();
        // Vehicle at the origin heading north; a point 20 m ahead and 3 m right at camera height.
        let vehicle = Pose::new(Vec3::zeros(), Attitude::from_heading(0.0, 0.0, 0.0));
        let ahead_right = Vec3::new(3.0, 21.5, 1.4);
        let [u, v] = camera.project(&vehicle, &ahead_right).unwrap();
        assert!(u > 640.0, "right of centre: {u}");
        assert!(
            v < 360.0,
            "above centre because the camera pitches down: {v}"
        );
        assert!(
            camera
                .project(&vehicle, &Vec3::new(0.0, -10.0, 1.4))
                .is_none(),
            "behind"
        );
    }

    #[test]
    fn toml_round_trip() {
        let camera = dashcam();
        let back = CameraModel::from_toml(&camera.to_toml(), Path::new("camera.toml")).unwrap();
        assert!((back.mount.attitude.pitch - camera.mount.attitude.pitch).abs() < 1e-15);
        assert_eq!(back.intrinsics, camera.intrinsics);
        assert_eq!(back.distortion, camera.distortion);
    }

    #[test]
    fn missing_key_is_named_with_file_and_line() {
        let text = dashcam().to_toml().replace("fx = 1150.0\n", "");
        let error = CameraModel::from_toml(&text, Path::new("drive/camera.toml")).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("drive/camera.toml"), "{message}");
        assert!(message.contains("missing field `fx`"), "{message}");
        assert!(message.contains("line"), "{message}");
    }

    #[test]
    fn unknown_key_and_bad_values_are_rejected() {
        let text = dashcam()
            .to_toml()
            .replace("fx = 1150.0", "fx = 1150.0\nfocal = 3.0");
        let message = CameraModel::from_toml(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("unknown field `focal`"), "{message}");
        let text = dashcam().to_toml().replace("fx = 1150.0", "fx = -2.0");
        let message = CameraModel::from_toml(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("focal lengths must be positive"),
            "{message}"
        );
    }
}
