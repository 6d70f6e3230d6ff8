//! WGS84 geodetic coordinates, Earth-centred Earth-fixed (ECEF) coordinates, and the local
//! east-north-up (ENU) tangent frame that is mapfix's world frame.
//!
//! The conversions are closed-form (geodetic → ECEF) and Newton-refined (ECEF → geodetic),
//! accurate to well under a millimetre anywhere from the Earth's centre region to orbit.

use crate::{Rot3, Vec3};
use nalgebra::Matrix3;

/// WGS84 semi-major axis (m).
pub const WGS84_A: f64 = 6_378_137.0;
/// WGS84 flattening.
pub const WGS84_F: f64 = 1.0 / 298.257_223_563;
/// WGS84 first eccentricity squared.
pub const WGS84_E2: f64 = WGS84_F * (2.0 - WGS84_F);
const WGS84_B: f64 = WGS84_A * (1.0 - WGS84_F);

/// A WGS84 position: latitude and longitude in radians, ellipsoidal height in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geodetic {
    pub lat: f64,
    pub lon: f64,
    pub height: f64,
}

impl Geodetic {
    pub fn from_degrees(lat_deg: f64, lon_deg: f64, height: f64) -> Self {
        Self {
            lat: lat_deg.to_radians(),
            lon: lon_deg.to_radians(),
            height,
        }
    }

    pub fn lat_deg(&self) -> f64 {
        self.lat.to_degrees()
    }

    pub fn lon_deg(&self) -> f64 {
        self.lon.to_degrees()
    }

    /// Earth-centred Earth-fixed coordinates (m).
    pub fn to_ecef(&self) -> Vec3 {
        let (sin_lat, cos_lat) = self.lat.sin_cos();
        let (sin_lon, cos_lon) = self.lon.sin_cos();
        let prime_vertical = WGS84_A / (1.0 - WGS84_E2 * sin_lat * sin_lat).sqrt();
        let horizontal = (prime_vertical + self.height) * cos_lat;
        Vec3::new(
            horizontal * cos_lon,
            horizontal * sin_lon,
            (prime_vertical * (1.0 - WGS84_E2) + self.height) * sin_lat,
        )
    }

    /// The geodetic position of an ECEF point: Bowring's parametric-latitude start, then
    /// Newton steps on the latitude, which converge to machine precision in two or three.
    pub fn from_ecef(ecef: &Vec3) -> Self {
        let (x, y, z) = (ecef.x, ecef.y, ecef.z);
        let lon = y.atan2(x);
        let p = x.hypot(y);
        let ep2 = (WGS84_A * WGS84_A - WGS84_B * WGS84_B) / (WGS84_B * WGS84_B);
        let beta = (WGS84_A * z).atan2(WGS84_B * p);
        let (sb, cb) = beta.sin_cos();
        let mut lat = (z + ep2 * WGS84_B * sb.powi(3)).atan2(p - WGS84_E2 * WGS84_A * cb.powi(3));
        for _ in 0..3 {
            // f(lat) = p·sin(lat) − z·cos(lat) − a·e²·sin(lat)·cos(lat)/W is zero on the normal.
            let (s, c) = lat.sin_cos();
            let w = (1.0 - WGS84_E2 * s * s).sqrt();
            let f = p * s - z * c - WGS84_A * WGS84_E2 * s * c / w;
            let df = p * c + z * s
                - WGS84_A * WGS84_E2 * ((c * c - s * s) / w + WGS84_E2 * s * s * c * c / w.powi(3));
            lat -= f / df;
        }
        let (s, c) = lat.sin_cos();
        let prime_vertical = WGS84_A / (1.0 - WGS84_E2 * s * s).sqrt();
        // Use whichever projection is better conditioned at this latitude.
        let height = if c.abs() > 1e-3 {
            p / c - prime_vertical
        } else {
            z / s - prime_vertical * (1.0 - WGS84_E2)
        };
        Self { lat, lon, height }
    }
}

/// A local east-north-up frame tangent to the ellipsoid at `origin`: mapfix's world frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalFrame {
    origin: Geodetic,
    origin_ecef: Vec3,
    /// Rotation taking ECEF directions to ENU directions.
    enu_from_ecef: Rot3,
}

impl LocalFrame {
    pub fn new(origin: Geodetic) -> Self {
        let (sin_lat, cos_lat) = origin.lat.sin_cos();
        let (sin_lon, cos_lon) = origin.lon.sin_cos();
        #[rustfmt::skip]
        let rows = Matrix3::new(
            -sin_lon,           cos_lon,           0.0,
            -sin_lat * cos_lon, -sin_lat * sin_lon, cos_lat,
            cos_lat * cos_lon,  cos_lat * sin_lon,  sin_lat,
        );
        Self {
            origin,
            origin_ecef: origin.to_ecef(),
            enu_from_ecef: Rot3::from_matrix_unchecked(rows),
        }
    }

    pub fn origin(&self) -> Geodetic {
        self.origin
    }

    /// East, north, up (m) of a geodetic position.
    pub fn to_enu(&self, position: &Geodetic) -> Vec3 {
        self.enu_from_ecef * (position.to_ecef() - self.origin_ecef)
    }

    /// The geodetic position of a point given in this frame.
    pub fn to_geodetic(&self, enu: &Vec3) -> Geodetic {
        Geodetic::from_ecef(&(self.origin_ecef + self.enu_from_ecef.inverse() * enu))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn ecef_round_trip_worldwide(
            lat in -90.0f64..90.0, lon in -180.0f64..180.0, height in -1000.0f64..100_000.0
        ) {
            let g = Geodetic::from_degrees(lat, lon, height);
            let back = Geodetic::from_ecef(&g.to_ecef());
            let error = (back.to_ecef() - g.to_ecef()).norm();
            prop_assert!(error < 1e-3, "round trip error {error} m");
            prop_assert!((back.lat - g.lat).abs() < 1e-10);
            prop_assert!((back.height - g.height).abs() < 1e-3);
        }

        #[test]
        fn enu_round_trip_worldwide(
            lat in -89.0f64..89.0, lon in -180.0f64..180.0,
            east in -5000.0f64..5000.0, north in -5000.0f64..5000.0, up in -100.0f64..300.0
        ) {
            let frame = LocalFrame::new(Geodetic::from_degrees(lat, lon, 100.0));
            let enu = Vec3::new(east, north, up);
            let back = frame.to_enu(&frame.to_geodetic(&enu));
            prop_assert!((back - enu).norm() < 1e-3);
        }
    }

    #[test]
    fn poles_and_equator() {
        for g in [
            Geodetic::from_degrees(90.0, 0.0, 10.0),
            Geodetic::from_degrees(-90.0, 45.0, -20.0),
            Geodetic::from_degrees(0.0, 180.0, 0.0),
        ] {
            let back = Geodetic::from_ecef(&g.to_ecef());
            assert!((back.height - g.height).abs() < 1e-6, "{back:?}");
            assert!((back.lat - g.lat).abs() < 1e-12);
        }
    }

    /// Checked against `map_3d`, an independent implementation.
    #[test]
    fn enu_matches_independent_implementation() {
        let origin = Geodetic::from_degrees(49.0069, 8.4037, 115.0); // Karlsruhe
        let point = Geodetic::from_degrees(49.0100, 8.4100, 130.0);
        let frame = LocalFrame::new(origin);
        let ours = frame.to_enu(&point);
        let (e, n, u) = map_3d::geodetic2enu(
            point.lat,
            point.lon,
            point.height,
            origin.lat,
            origin.lon,
            origin.height,
            map_3d::Ellipsoid::WGS84,
        );
        assert!(
            (ours - Vec3::new(e, n, u)).norm() < 1e-6,
            "{ours:?} vs {e} {n} {u}"
        );
        // And a rough sanity figure: 0.0063° of longitude at 49° N is about 460 m.
        assert!((ours.x - 460.2).abs() < 1.0, "{}", ours.x);
    }

    #[test]
    fn ecef_of_known_point() {
        // The origin of longitude on the equator at zero height is (a, 0, 0).
        let ecef = Geodetic::from_degrees(0.0, 0.0, 0.0).to_ecef();
        assert!((ecef - Vec3::new(WGS84_A, 0.0, 0.0)).norm() < 1e-9);
        // The north pole sits at the semi-minor axis.
        let pole = Geodetic::from_degrees(90.0, 0.0, 0.0).to_ecef();
        assert!((pole.z - WGS84_B).abs() < 1e-6);
    }
}
