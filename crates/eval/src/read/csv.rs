//! `positions.csv`, `truth.csv` and any CSV using their column names (DESIGN.md §3).

use super::number;
use crate::track::{Format, Location, Sample, SampleSource, Track};
use crate::EvalError;
use mapfix_core::{Attitude, Geodetic};
use std::collections::HashMap;
use std::path::Path;

/// Every column a track CSV may have; anything else is refused so that a typo (say
/// `time` for `time_s`) is not silently ignored.
const KNOWN_COLUMNS: [&str; 17] = [
    "frame",
    "time_s",
    "lat",
    "lon",
    "height_m",
    "east_m",
    "north_m",
    "up_m",
    "heading_deg",
    "sigma_east_m",
    "sigma_north_m",
    "sigma_up_m",
    "source",
    "landmarks",
    "roll_deg",
    "pitch_deg",
    "yaw_deg",
];

/// The cells of one row by column name.
struct Row<'a> {
    path: &'a Path,
    line: usize,
    columns: &'a HashMap<String, usize>,
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    /// The cell's text, `None` when the column is absent or the cell empty.
    fn text(&self, column: &str) -> Option<&str> {
        let index = *self.columns.get(column)?;
        self.record
            .get(index)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    fn number(&self, column: &str) -> Result<Option<f64>, EvalError> {
        self.text(column)
            .map(|t| number(self.path, self.line, column, t))
            .transpose()
    }

    fn required(&self, column: &str) -> Result<f64, EvalError> {
        self.number(column)?.ok_or_else(|| {
            EvalError::invalid(
                self.path,
                format!("line {}", self.line),
                format!("{column} is empty"),
            )
        })
    }

    fn error(&self, message: impl Into<String>) -> EvalError {
        EvalError::invalid(self.path, format!("line {}", self.line), message)
    }
}

pub(super) fn read(path: &Path, bytes: &[u8]) -> Result<Track<Location>, EvalError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| EvalError::invalid(path, "line 1", e.to_string()))?
        .clone();
    let mut columns = HashMap::new();
    for (index, name) in header.iter().enumerate() {
        if !KNOWN_COLUMNS.contains(&name) {
            return Err(EvalError::invalid(
                path,
                "line 1",
                format!(
                    "unknown column '{name}' (known: {})",
                    KNOWN_COLUMNS.join(", ")
                ),
            ));
        }
        if columns.insert(name.to_owned(), index).is_some() {
            return Err(EvalError::invalid(
                path,
                "line 1",
                format!("column '{name}' appears twice"),
            ));
        }
    }
    let has = |name: &str| columns.contains_key(name);
    if !has("time_s") {
        return Err(EvalError::invalid(path, "line 1", "missing column time_s"));
    }
    let geodetic = has("lat") && has("lon");
    if !(geodetic || has("east_m") && has("north_m")) {
        return Err(EvalError::invalid(
            path,
            "line 1",
            "missing position columns: need lat and lon, or east_m and north_m",
        ));
    }
    let attitude = ["roll_deg", "pitch_deg", "yaw_deg"].map(has);
    if attitude.iter().any(|&a| a) && !attitude.iter().all(|&a| a) {
        return Err(EvalError::invalid(
            path,
            "line 1",
            "roll_deg, pitch_deg and yaw_deg come together",
        ));
    }

    let mut samples = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            EvalError::invalid(path, format!("line {line}"), e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let row = Row {
            path,
            line,
            columns: &columns,
            record: &record,
        };
        samples.push(read_row(&row, geodetic, attitude[0])?);
    }
    Ok(Track {
        path: path.into(),
        format: Format::Csv,
        samples,
    })
}

fn read_row(row: &Row, geodetic: bool, has_attitude: bool) -> Result<Sample<Location>, EvalError> {
    let time = row.required("time_s")?;
    let source = match row.text("source") {
        None => SampleSource::Unknown,
        Some(text) => SampleSource::parse(text).ok_or_else(|| {
            row.error(format!(
                "unknown source '{text}' (expected vision, fused, gnss, dead_reckoning or none)"
            ))
        })?,
    };
    let no_fix = Sample {
        line: row.line,
        time,
        position: None,
        height_known: false,
        heading: None,
        rotation: None,
        sigma: None,
        source,
    };
    if source == SampleSource::NoFix {
        return Ok(no_fix);
    }
    let (first, second) = if geodetic {
        ("lat", "lon")
    } else {
        ("east_m", "north_m")
    };
    let (a, b) = match (row.number(first)?, row.number(second)?) {
        (Some(a), Some(b)) => (a, b),
        (None, None) if source != SampleSource::Unknown => {
            return Err(row.error(format!("{first} and {second} are empty but source is {source}: use source=none for a row without a fix")))
        }
        (None, None) => return Ok(Sample { source: SampleSource::NoFix, ..no_fix }),
        _ => return Err(row.error(format!("only one of {first} and {second} is given"))),
    };
    let (position, height_known) = if geodetic {
        if !(-90.0..=90.0).contains(&a) || !(-180.0..=360.0).contains(&b) {
            return Err(row.error(format!("lat {a}, lon {b} is not a position on Earth")));
        }
        let height = row.number("height_m")?;
        let position = Geodetic::from_degrees(a, b, height.unwrap_or(0.0));
        (
            Location::Geodetic {
                position,
                height_known: height.is_some(),
            },
            height.is_some(),
        )
    } else {
        let up = row.number("up_m")?;
        (
            Location::Local(mapfix_core::Vec3::new(a, b, up.unwrap_or(0.0))),
            up.is_some(),
        )
    };
    let rotation = if has_attitude {
        let angles = [
            row.number("roll_deg")?,
            row.number("pitch_deg")?,
            row.number("yaw_deg")?,
        ];
        match angles {
            [Some(roll), Some(pitch), Some(yaw)] => Some(
                Attitude {
                    roll: roll.to_radians(),
                    pitch: pitch.to_radians(),
                    yaw: yaw.to_radians(),
                }
                .rotation(),
            ),
            [None, None, None] => None,
            _ => {
                return Err(
                    row.error("roll_deg, pitch_deg and yaw_deg must be all given or all empty")
                )
            }
        }
    } else {
        None
    };
    let sigma = match (row.number("sigma_east_m")?, row.number("sigma_north_m")?) {
        (Some(east), Some(north)) if east > 0.0 && north > 0.0 => Some([east, north]),
        (None, None) => None,
        (east, north) => {
            return Err(row.error(format!(
                "sigma_east_m and sigma_north_m must both be positive or both empty (got {east:?}, {north:?})"
            )))
        }
    };
    Ok(Sample {
        position: Some(position),
        height_known,
        heading: row.number("heading_deg")?.map(f64::to_radians),
        rotation,
        sigma,
        ..no_fix
    })
}
