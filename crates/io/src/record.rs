//! The per-frame output record: what every writer (CSV, GeoJSON, GPX, TUM, NMEA file and
//! TCP) turns into its own format. The pipeline makes one `PositionRecord` per frame,
//! with or without a fix, so that a frame never goes missing from an output.

use mapfix_core::{FixSource, Geodetic, Vec3};
// Part of the record's vocabulary: the `source` written for a frame without a fix.
pub use mapfix_core::NO_FIX_NAME;
use nalgebra::Matrix3;

/// What became of the GNSS measurement of this frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GnssStatus {
    /// No GNSS fix for this frame's time (no log, outage, underground).
    #[default]
    Absent,
    /// Used at its own weight.
    Used,
    /// Disagreed with vision beyond its gate (multipath suspected): used, down-weighted.
    Suspect,
    /// Rejected by the innovation test: not used at all.
    Rejected,
}

impl GnssStatus {
    pub fn name(self) -> &'static str {
        match self {
            GnssStatus::Absent => "absent",
            GnssStatus::Used => "used",
            GnssStatus::Suspect => "suspect",
            GnssStatus::Rejected => "rejected",
        }
    }
}

/// One-sigma (68 % per axis) uncertainties of a fix, in metres and radians.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sigma {
    pub east: f64,
    pub north: f64,
    pub up: f64,
    /// Correlation coefficient of the east and north errors, in [−1, 1]; 0 when unknown.
    pub east_north_correlation: f64,
    /// Of the heading, when the estimator knows it.
    pub heading: Option<f64>,
}

impl Sigma {
    /// From a position covariance in ENU (m²) and, if known, the heading's variance (rad²).
    pub fn from_covariance(enu: &Matrix3<f64>, heading_variance: Option<f64>) -> Sigma {
        let east = enu[(0, 0)].max(0.0).sqrt();
        let north = enu[(1, 1)].max(0.0).sqrt();
        let correlation = if east > 0.0 && north > 0.0 {
            (enu[(0, 1)] / (east * north)).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        Sigma {
            east,
            north,
            up: enu[(2, 2)].max(0.0).sqrt(),
            east_north_correlation: correlation,
            heading: heading_variance.map(|v| v.max(0.0).sqrt()),
        }
    }

    /// The horizontal one-sigma error ellipse.
    pub fn ellipse(&self) -> ErrorEllipse {
        let ee = self.east * self.east;
        let nn = self.north * self.north;
        let en = self.east_north_correlation * self.east * self.north;
        // Eigenvalues of the symmetric 2×2 covariance [[ee, en], [en, nn]].
        let mean = 0.5 * (ee + nn);
        let spread = (0.25 * (ee - nn) * (ee - nn) + en * en).sqrt();
        // Angle of the major axis counter-clockwise from east, turned into a bearing.
        let from_east = 0.5 * (2.0 * en).atan2(ee - nn);
        let orientation =
            (std::f64::consts::FRAC_PI_2 - from_east).rem_euclid(std::f64::consts::PI);
        ErrorEllipse {
            semi_major: (mean + spread).sqrt(),
            semi_minor: (mean - spread).max(0.0).sqrt(),
            orientation,
        }
    }

    /// The radius of the circle around the fix that holds the true position with the
    /// given probability (in (0, 1)) under a Gaussian horizontal error: 0.68 gives
    /// Android's `Location` accuracy, 0.95 the 95 % radius.
    pub fn horizontal_radius(&self, probability: f64) -> f64 {
        let ellipse = self.ellipse();
        let (a2, b2) = (ellipse.semi_major.powi(2), ellipse.semi_minor.powi(2));
        if a2 == 0.0 {
            return 0.0;
        }
        // With x = a·r·cos φ, y = b·r·sin φ (r Rayleigh, φ uniform), P(|(x, y)| ≤ R) is the
        // mean over φ of 1 − exp(−R² / (2 s²)), s² = a² cos² φ + b² sin² φ; the integrand
        // is smooth and periodic, so the midpoint rule converges fast. Returns P and dP/dR.
        const STEPS: usize = 32;
        let inside = |radius: f64| {
            let (mut p, mut slope) = (0.0, 0.0);
            for k in 0..STEPS {
                let phi = std::f64::consts::PI * (k as f64 + 0.5) / STEPS as f64;
                let (s, c) = phi.sin_cos();
                let s2 = a2 * c * c + b2 * s * s;
                let tail = (-radius * radius / (2.0 * s2)).exp();
                p += 1.0 - tail;
                slope += radius / s2 * tail;
            }
            (p / STEPS as f64, slope / STEPS as f64)
        };
        // Newton from the circular case, kept inside a bracket that shrinks by bisection
        // whenever a step would leave it: the radius lies between 0 and the 1-D radius on
        // the major axis.
        let z = (-2.0 * (1.0 - probability).ln()).sqrt();
        let (mut low, mut high) = (0.0, ellipse.semi_major * z.max(3.0));
        let mut radius = z * (0.5 * (a2 + b2)).sqrt();
        for _ in 0..100 {
            let (p, slope) = inside(radius);
            if p < probability {
                low = radius;
            } else {
                high = radius;
            }
            let next = radius - (p - probability) / slope;
            if slope > 0.0 && (low..=high).contains(&next) {
                if (next - radius).abs() <= 1e-12 * radius {
                    return next;
                }
                radius = next;
            } else {
                radius = 0.5 * (low + high);
                if high - low <= 1e-12 * high {
                    return radius;
                }
            }
        }
        radius
    }
}

/// A horizontal error ellipse at one sigma.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErrorEllipse {
    /// Metres.
    pub semi_major: f64,
    /// Metres.
    pub semi_minor: f64,
    /// Bearing of the major axis, radians clockwise from true north, in [0, π).
    pub orientation: f64,
}

/// A position estimate of one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fix {
    pub source: FixSource,
    /// WGS84 latitude, longitude (radians) and ellipsoidal height (metres).
    pub position: Geodetic,
    /// The same position in the map's local ENU frame (metres).
    pub local: Vec3,
    /// Compass heading of the vehicle's forward axis, radians clockwise from north.
    pub heading: f64,
    /// Speed along the heading, m/s, negative when reversing, when the estimator knows it
    /// (a filter does, one frame does not).
    pub speed: Option<f64>,
    pub sigma: Sigma,
    /// Map landmarks this frame's vision measurement used (0 without vision).
    pub landmarks: u32,
}

/// Everything the outputs say about one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PositionRecord {
    /// The frame's index in its recording, from 0.
    pub frame: u64,
    /// Seconds since the recording's first frame.
    pub time_s: f64,
    /// The frame's UTC time in Unix seconds, when the recording or its GNSS log gives one.
    pub utc_s: Option<f64>,
    /// `None` for a frame without a fix (written as source `none`).
    pub fix: Option<Fix>,
    pub gnss: GnssStatus,
}

impl PositionRecord {
    /// A frame without a fix.
    pub fn no_fix(frame: u64, time_s: f64, utc_s: Option<f64>) -> PositionRecord {
        PositionRecord {
            frame,
            time_s,
            utc_s,
            fix: None,
            gnss: GnssStatus::Absent,
        }
    }

    /// The `source` written in outputs: the fix's source or `none`.
    pub fn source_name(&self) -> &'static str {
        self.fix.map_or(NO_FIX_NAME, |f| f.source.name())
    }

    /// The time written where a format needs an absolute time (NMEA, GPX): UTC when
    /// known, else `time_s` counted from 1970-01-01 00:00:00, so that readers that take
    /// times as they are (such as `mapfix eval`) line the track up with `truth.csv`.
    pub fn clock_s(&self) -> f64 {
        self.utc_s.unwrap_or(self.time_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4};

    #[test]
    fn source_name_is_none_without_a_fix() {
        assert_eq!(PositionRecord::no_fix(3, 0.2, None).source_name(), "none");
    }

    #[test]
    fn ellipse_of_axis_aligned_errors_points_along_the_larger_axis() {
        let along_north = Sigma {
            east: 1.0,
            north: 3.0,
            up: 1.0,
            east_north_correlation: 0.0,
            heading: None,
        };
        let ellipse = along_north.ellipse();
        assert!((ellipse.semi_major - 3.0).abs() < 1e-12);
        assert!((ellipse.semi_minor - 1.0).abs() < 1e-12);
        assert!(ellipse.orientation.abs() < 1e-12);
        let along_east = Sigma {
            east: 3.0,
            north: 1.0,
            ..along_north
        };
        assert!((along_east.ellipse().orientation - FRAC_PI_2).abs() < 1e-12);
    }

    #[test]
    fn correlated_errors_tilt_the_ellipse_to_north_east() {
        let sigma = Sigma::from_covariance(
            &Matrix3::new(2.0, 1.9, 0.0, 1.9, 2.0, 0.0, 0.0, 0.0, 4.0),
            Some(0.01),
        );
        assert!((sigma.up - 2.0).abs() < 1e-12);
        assert!((sigma.heading.unwrap() - 0.1).abs() < 1e-12);
        let ellipse = sigma.ellipse();
        assert!((ellipse.orientation - FRAC_PI_4).abs() < 1e-12);
        assert!((ellipse.semi_major - 3.9f64.sqrt()).abs() < 1e-12);
        assert!((ellipse.semi_minor - 0.1f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn circular_radii_follow_the_rayleigh_distribution() {
        let sigma = Sigma {
            east: 2.0,
            north: 2.0,
            up: 1.0,
            east_north_correlation: 0.0,
            heading: None,
        };
        for p in [0.5, 0.68, 0.95, 0.99] {
            let rayleigh = 2.0 * (-2.0 * (1.0f64 - p).ln()).sqrt();
            assert!(
                (sigma.horizontal_radius(p) - rayleigh).abs() < 1e-6,
                "p {p}"
            );
        }
    }

    #[test]
    fn a_thin_ellipse_has_the_one_dimensional_radius() {
        let sigma = Sigma {
            east: 1e-6,
            north: 3.0,
            up: 1.0,
            east_north_correlation: 0.0,
            heading: None,
        };
        // 95 % of a one-dimensional Gaussian lies within 1.95996 σ.
        assert!((sigma.horizontal_radius(0.95) - 3.0 * 1.959964).abs() < 1e-4);
    }

    #[test]
    fn an_elliptical_radius_holds_its_probability_by_direct_integration() {
        let sigma = Sigma {
            east: 2.0,
            north: 0.7,
            up: 1.0,
            east_north_correlation: 0.5,
            heading: None,
        };
        let ellipse = sigma.ellipse();
        let (a, b) = (ellipse.semi_major, ellipse.semi_minor);
        for p in [0.68, 0.95] {
            let radius = sigma.horizontal_radius(p);
            // The Gaussian density over the disc, by the midpoint rule in polar coordinates
            // on the ellipse's axes.
            let (rings, spokes) = (400, 360);
            let mut mass = 0.0;
            for i in 0..rings {
                let r = radius * (i as f64 + 0.5) / rings as f64;
                for j in 0..spokes {
                    let t = std::f64::consts::TAU * (j as f64 + 0.5) / spokes as f64;
                    let (x, y) = (r * t.cos(), r * t.sin());
                    let density = (-0.5 * (x * x / (a * a) + y * y / (b * b))).exp()
                        / (std::f64::consts::TAU * a * b);
                    mass += density * r;
                }
            }
            mass *= (radius / rings as f64) * (std::f64::consts::TAU / spokes as f64);
            assert!((mass - p).abs() < 1e-4, "p {p}: {mass}");
        }
    }

    proptest! {
        #[test]
        fn ellipse_keeps_the_total_variance(
            east in 0.01f64..50.0, north in 0.01f64..50.0, rho in -0.99f64..0.99,
        ) {
            let sigma = Sigma { east, north, up: 1.0, east_north_correlation: rho, heading: None };
            let e = sigma.ellipse();
            let total = east * east + north * north;
            prop_assert!((e.semi_major.powi(2) + e.semi_minor.powi(2) - total).abs() < 1e-9 * total);
            prop_assert!(e.semi_major >= e.semi_minor);
            prop_assert!((0.0..std::f64::consts::PI).contains(&e.orientation));
            // The variance along the major axis equals semi_major².
            let (s, c) = e.orientation.sin_cos();
            let along = s * s * east * east + c * c * north * north + 2.0 * s * c * rho * east * north;
            prop_assert!((along - e.semi_major.powi(2)).abs() < 1e-9 * total);
        }
    }
}
