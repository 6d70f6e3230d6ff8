//! The vocabulary every mapfix crate speaks.
//!
//! `mapfix-core` holds the few types that cross crate boundaries and the conventions
//! behind them: WGS84 geodetic coordinates and the local east-north-up (ENU) world frame
//! around a map's origin ([`geodesy`]), vehicle attitude and pose ([`pose`]), bearings as
//! azimuth/elevation pairs ([`bearing`]), the calibrated, mounted camera that turns
//! pixels into bearings and back ([`camera`]), and how a position fix was obtained
//! ([`fix_source`]). It depends on no other mapfix crate, does no I/O beyond reading and
//! writing `camera.toml`, and never sees pixels' contents or maps.
//!
//! Conventions (DESIGN.md §3): metres and radians inside, degrees only at the edges.
//! World = ENU. Vehicle frame: x forward, y left, z up. Camera frame: x right, y down,
//! z forward (OpenCV), and a world point maps into the camera as `p_cam = R·(p_world − c)`.

pub mod bearing;
pub mod camera;
pub mod fix_source;
pub mod geodesy;
pub mod pose;

pub use bearing::Bearing;
pub use camera::{CameraError, CameraModel, Distortion, Intrinsics, Mount};
pub use fix_source::{FixSource, NO_FIX_NAME};
pub use geodesy::{Geodetic, LocalFrame};
pub use pose::{Attitude, Pose};

/// Points and directions in any of our Cartesian frames (ENU world, vehicle, camera).
pub type Vec3 = nalgebra::Vector3<f64>;
/// Rotations between those frames.
pub type Rot3 = nalgebra::Rotation3<f64>;
