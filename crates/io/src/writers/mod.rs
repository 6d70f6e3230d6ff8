//! Position tracks out: `positions.csv`, `.geojson`, `.gpx`, `.tum` and `.nmea`, written
//! a frame at a time. After every record the file on disk is complete and valid (the XML
//! and JSON formats are rewritten at their end to close what is open), so a run that fails
//! later keeps everything it had written.

mod csv;
mod geojson;
mod gpx;
mod nmea_file;
mod tum;

pub use self::csv::{CsvWriter, CSV_HEADER};
pub use self::geojson::GeoJsonWriter;
pub use self::gpx::GpxWriter;
pub use self::nmea_file::NmeaWriter;
pub use self::tum::TumWriter;

use crate::record::PositionRecord;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("frame {frame}: {reason}")]
    InvalidRecord { frame: u64, reason: String },
}

/// One output format, fed a record per frame in frame order.
pub trait TrackWriter {
    /// Adds one frame; the file is complete and valid when this returns.
    fn write(&mut self, record: &PositionRecord) -> Result<(), WriteError>;
    /// Adds what only the end of a run knows (the GeoJSON track line).
    fn finish(&mut self) -> Result<(), WriteError> {
        Ok(())
    }
}

/// Every output of a run, in one folder, fed together.
pub struct TrackOutputs {
    writers: Vec<Box<dyn TrackWriter + Send>>,
    last: Option<(u64, f64)>,
}

impl TrackOutputs {
    /// Creates (or truncates) `positions.csv`, `.geojson`, `.gpx`, `.tum` and `.nmea` in
    /// `dir`, which must exist.
    pub fn create(dir: &Path) -> Result<TrackOutputs, WriteError> {
        let path = |extension: &str| dir.join(format!("positions.{extension}"));
        Ok(TrackOutputs {
            writers: vec![
                Box::new(CsvWriter::create(&path("csv"))?),
                Box::new(GeoJsonWriter::create(&path("geojson"))?),
                Box::new(GpxWriter::create(&path("gpx"))?),
                Box::new(TumWriter::create(&path("tum"))?),
                Box::new(NmeaWriter::create(&path("nmea"))?),
            ],
            last: None,
        })
    }

    /// Checks the record and adds it to every output.
    pub fn write(&mut self, record: &PositionRecord) -> Result<(), WriteError> {
        check(record, self.last)?;
        self.last = Some((record.frame, record.time_s));
        self.writers.iter_mut().try_for_each(|w| w.write(record))
    }

    pub fn finish(mut self) -> Result<(), WriteError> {
        self.writers.iter_mut().try_for_each(|w| w.finish())
    }
}

/// A record must come after the previous one and hold only finite numbers: outputs are
/// read back by programs that refuse anything else.
fn check(record: &PositionRecord, previous: Option<(u64, f64)>) -> Result<(), WriteError> {
    let invalid = |reason: String| WriteError::InvalidRecord {
        frame: record.frame,
        reason,
    };
    if !record.time_s.is_finite() {
        return Err(invalid(format!("time_s is {}", record.time_s)));
    }
    if let Some((frame, time)) = previous {
        if record.frame <= frame || record.time_s <= time {
            return Err(invalid(format!(
                "frame {} at {} s does not come after frame {frame} at {time} s",
                record.frame, record.time_s
            )));
        }
    }
    if let Some(utc) = record.utc_s.filter(|u| !u.is_finite()) {
        return Err(invalid(format!("utc_s is {utc}")));
    }
    let Some(fix) = record.fix else {
        return Ok(());
    };
    let s = fix.sigma;
    let values = [
        ("latitude", fix.position.lat),
        ("longitude", fix.position.lon),
        ("height", fix.position.height),
        ("east", fix.local.x),
        ("north", fix.local.y),
        ("up", fix.local.z),
        ("heading", fix.heading),
        ("speed", fix.speed.unwrap_or(0.0)),
        ("sigma east", s.east),
        ("sigma north", s.north),
        ("sigma up", s.up),
        ("east-north correlation", s.east_north_correlation),
        ("sigma heading", s.heading.unwrap_or(0.0)),
    ];
    if let Some((name, value)) = values.iter().find(|(_, v)| !v.is_finite()) {
        return Err(invalid(format!("{name} is {value}")));
    }
    // A fix is never exact: readers such as `mapfix eval` refuse a zero horizontal σ.
    if s.east <= 0.0 || s.north <= 0.0 {
        return Err(invalid(format!(
            "sigma east {} m and north {} m must be positive",
            s.east, s.north
        )));
    }
    if s.up < 0.0 || s.heading.is_some_and(|h| h < 0.0) {
        return Err(invalid("a sigma is negative".to_owned()));
    }
    if !(-1.0..=1.0).contains(&s.east_north_correlation) {
        return Err(invalid(format!(
            "east-north correlation {} is outside [-1, 1]",
            s.east_north_correlation
        )));
    }
    if fix.position.lat.abs() > std::f64::consts::FRAC_PI_2 {
        return Err(invalid(format!(
            "latitude {}° is beyond a pole",
            fix.position.lat_deg()
        )));
    }
    Ok(())
}

/// A file that always ends in its format's closing text: each append writes the new body
/// text and the closing text over the old closing text, in one write.
struct OutputFile {
    path: PathBuf,
    file: File,
    body_end: u64,
    suffix_len: u64,
}

impl OutputFile {
    fn create(path: &Path) -> Result<OutputFile, WriteError> {
        let file = File::create(path).map_err(|source| WriteError::Io {
            path: path.into(),
            source,
        })?;
        Ok(OutputFile {
            path: path.into(),
            file,
            body_end: 0,
            suffix_len: 0,
        })
    }

    fn append(&mut self, body: &str, suffix: &str) -> Result<(), WriteError> {
        let io = |source| WriteError::Io {
            path: self.path.clone(),
            source,
        };
        let mut text = String::with_capacity(body.len() + suffix.len());
        text.push_str(body);
        text.push_str(suffix);
        self.file.seek(SeekFrom::Start(self.body_end)).map_err(io)?;
        self.file.write_all(text.as_bytes()).map_err(io)?;
        let new_suffix_len = suffix.len() as u64;
        self.body_end += body.len() as u64;
        if new_suffix_len < self.suffix_len {
            self.file
                .set_len(self.body_end + new_suffix_len)
                .map_err(io)?;
        }
        self.suffix_len = new_suffix_len;
        Ok(())
    }
}

/// A number with `decimals` decimals, never written as "-0.00".
pub(crate) fn fixed(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    match text.strip_prefix('-') {
        Some(magnitude) if magnitude.bytes().all(|b| b == b'0' || b == b'.') => {
            magnitude.to_owned()
        }
        _ => text,
    }
}

/// A compass angle given in radians, in degrees in [0, 360) with `decimals` decimals
/// (rounding never gives 360).
pub(crate) fn compass_degrees(radians: f64, decimals: usize) -> String {
    let scale = 10f64.powi(decimals as i32);
    let full = 360.0 * scale;
    let steps = (radians.to_degrees() * scale).round().rem_euclid(full);
    fixed(steps / scale, decimals)
}

#[cfg(test)]
mod tests;
