//! Tracks as read from files, and in the common ENU frame they are scored in.

use crate::EvalError;
use mapfix_core::{Geodetic, LocalFrame, Rot3, Vec3};
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// What produced a fix (the `source` column of `positions.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Vision,
    Fused,
    Gnss,
    DeadReckoning,
    /// No fix at this time.
    None,
    /// The file does not say (TUM, KITTI, GPX).
    Unknown,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Vision,
        Source::Fused,
        Source::Gnss,
        Source::DeadReckoning,
        Source::None,
        Source::Unknown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::Vision => "vision",
            Source::Fused => "fused",
            Source::Gnss => "gnss",
            Source::DeadReckoning => "dead_reckoning",
            Source::None => "none",
            Source::Unknown => "unknown",
        }
    }

    /// The `positions.csv` spelling; `unknown` is not one of them.
    pub fn parse(text: &str) -> Option<Source> {
        Source::ALL
            .into_iter()
            .filter(|s| *s != Source::Unknown)
            .find(|s| s.name() == text)
    }
}

impl fmt::Display for Source {
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
    pub source: Source,
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
