//! What the tracker takes from a GNSS receiver, whatever the log format: the binary
//! converts NMEA or GPX records into [`GnssInput`].

use mapfix_core::{Geodetic, LocalFrame, Vec3};

/// Where a receiver put itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GnssPosition {
    /// WGS84 latitude, longitude and ellipsoidal height of the antenna.
    Geodetic(Geodetic),
    /// The antenna in the map's ENU frame (m).
    Enu(Vec3),
}

/// How the receiver rates its fix (NMEA GGA quality, simplified).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GnssQuality {
    /// No position: the epoch is only a sign of life.
    NoFix,
    /// A stand-alone fix.
    #[default]
    Autonomous,
    /// Differential, SBAS or RTK float: better than stand-alone.
    Differential,
    /// RTK fixed: centimetres.
    RtkFixed,
    /// The receiver's own dead reckoning: not a measurement.
    Estimated,
}

/// One receiver epoch. Times are on the frames' time base (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GnssInput {
    pub time_s: f64,
    pub position: GnssPosition,
    pub quality: GnssQuality,
    /// Horizontal dilution of precision, if reported.
    pub hdop: Option<f64>,
    /// The receiver's own horizontal 1σ (m) per axis (NMEA GST), if reported: preferred
    /// over HDOP.
    pub sigma_horizontal_m: Option<f64>,
    /// Speed over ground (m/s) and course over ground (compass, radians), if reported.
    pub speed_mps: Option<f64>,
    pub course: Option<f64>,
}

impl GnssInput {
    /// A stand-alone fix at an ENU position with nothing else reported.
    pub fn enu(time_s: f64, position: Vec3) -> Self {
        Self {
            time_s,
            position: GnssPosition::Enu(position),
            quality: GnssQuality::Autonomous,
            hdop: None,
            sigma_horizontal_m: None,
            speed_mps: None,
            course: None,
        }
    }

    /// Whether the epoch carries a position to measure with.
    pub fn has_fix(&self) -> bool {
        !matches!(self.quality, GnssQuality::NoFix | GnssQuality::Estimated)
    }

    /// The antenna in the map's frame.
    pub fn enu_position(&self, frame: &LocalFrame) -> Vec3 {
        match self.position {
            GnssPosition::Enu(p) => p,
            GnssPosition::Geodetic(g) => frame.to_enu(&g),
        }
    }
}
