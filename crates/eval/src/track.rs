//! Tracks as read from files, and in the common ENU frame they are scored in.

use crate::EvalError;
use mapfix_core::{FixSource, Geodetic, LocalFrame, Rot3, Vec3, NO_FIX_NAME};
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// What a track row says about how its position was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SampleSource {
    /// A fix from this source (the `source` column of `positions.csv`, NMEA's quality).
    Fix(FixSource),
    /// No fix at this time.
    NoFix,
    /// The file does not say (TUM, KITTI, GPX).
    Unknown,
}

impl SampleSource {
    /// Every value, in the order reports list them.
    pub fn all() -> impl Iterator<Item = SampleSource> {
        FixSource::ALL
            .into_iter()
            .map(SampleSource::Fix)
            .chain([SampleSource::NoFix, SampleSource::Unknown])
    }

    /// The name in reports: the `positions.csv` spelling, or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            SampleSource::Fix(source) => source.name(),
            SampleSource::NoFix => NO_FIX_NAME,
            SampleSource::Unknown => "unknown",
        }
    }

    /// The `positions.csv` spelling; `unknown` is not one of them.
    pub fn parse(text: &str) -> Option<SampleSource> {
        if text == NO_FIX_NAME {
            Some(SampleSource::NoFix)
        } else {
            FixSource::from_name(text).map(SampleSource::Fix)
        }
    }
}

impl fmt::Display for SampleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A position as its file gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Location {
    /// WGS84; `height_known` is false when the file has no height (the frame origin's
    /// height is used to convert, and vertical error is not scored).
    Geodetic {
        position: Geodetic,
        height_known: bool,
    },
    /// Already in a local ENU frame (TUM, KITTI, CSV with east/north only).
    Local(Vec3),
}

/// One row of a track. `P` is [`Location`] as read and [`Vec3`] (ENU) once resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<P = Vec3> {
    /// Where in the file the sample comes from ("line 12", for messages).
    pub line: usize,
    pub time: f64,
    /// `None` when there is no fix at this time.
    pub position: Option<P>,
    pub height_known: bool,
    /// Compass heading (radians, from north, clockwise), where the file gives one.
    pub heading: Option<f64>,
    /// world ← vehicle rotation, where the file gives a full attitude.
    pub rotation: Option<Rot3>,
    /// 1-σ position uncertainty east and north (m), where the file gives one.
    pub sigma: Option<[f64; 2]>,
    pub source: SampleSource,
}

/// The file formats tracks are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Gpx,
    Nmea,
    Tum,
    Kitti,
}

/// A track: its samples in time order, and the file they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Track<P = Vec3> {
    pub path: PathBuf,
    pub format: Format,
    pub samples: Vec<Sample<P>>,
}

impl Track<Location> {
    /// The first geodetic position, which anchors the ENU frame when no map gives one.
    pub fn first_geodetic(&self) -> Option<Geodetic> {
        self.samples.iter().find_map(|s| match s.position {
            Some(Location::Geodetic { position, .. }) => Some(position),
            _ => None,
        })
    }

    /// The track in the ENU `frame`. Local positions are taken to be in that frame already;
    /// geodetic ones need a frame, and the error says so when there is none.
    pub fn resolve(self, frame: Option<&LocalFrame>) -> Result<Track, EvalError> {
        let Track {
            path,
            format,
            samples,
        } = self;
        let samples = samples
            .into_iter()
            .map(|s| {
                let position = match s.position {
                    None => None,
                    Some(Location::Local(p)) => Some(p),
                    Some(Location::Geodetic {
                        position,
                        height_known,
                    }) => {
                        let frame = frame.ok_or_else(|| {
                            EvalError::invalid(
                                &path,
                                format!("line {}", s.line),
                                "latitude/longitude given, but the truth is in local coordinates: \
                                 pass --map to give both a common frame",
                            )
                        })?;
                        let height = if height_known {
                            position.height
                        } else {
                            frame.origin().height
                        };
                        Some(frame.to_enu(&Geodetic { height, ..position }))
                    }
                };
                Ok(Sample {
                    line: s.line,
                    time: s.time,
                    position,
                    height_known: s.height_known,
                    heading: s.heading,
                    rotation: s.rotation,
                    sigma: s.sigma,
                    source: s.source,
                })
            })
            .collect::<Result<_, EvalError>>()?;
        Ok(Track {
            path,
            format,
            samples,
        })
    }
}

impl Track {
    /// Samples that carry a position.
    pub fn fixes(&self) -> impl Iterator<Item = (&Sample, Vec3)> {
        self.samples
            .iter()
            .filter_map(|s| s.position.map(|p| (s, p)))
    }

    /// A short name for tables and legends: the file name, or its folder and name when the
    /// name alone is as generic as `positions.csv`.
    pub fn label(&self) -> String {
        let file = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match self.path.parent().and_then(|p| p.file_name()) {
            Some(dir) if file.starts_with("positions") || file.starts_with("truth") => {
                format!("{}/{file}", dir.to_string_lossy())
            }
            _ => file,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_are_those_of_positions_csv_and_unknown() {
        let names: Vec<&str> = SampleSource::all().map(SampleSource::name).collect();
        assert_eq!(
            names,
            [
                "vision",
                "fused",
                "gnss",
                "dead_reckoning",
                "none",
                "unknown"
            ]
        );
        for source in SampleSource::all().filter(|s| *s != SampleSource::Unknown) {
            assert_eq!(SampleSource::parse(source.name()), Some(source));
        }
        assert_eq!(SampleSource::parse("unknown"), None);
        let mut sorted: Vec<SampleSource> = SampleSource::all().collect();
        sorted.reverse();
        sorted.sort_unstable();
        assert!(
            sorted.into_iter().eq(SampleSource::all()),
            "reports list sources in this order"
        );
    }
}
