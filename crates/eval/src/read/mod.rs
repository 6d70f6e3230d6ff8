//! Readers for every track format `mapfix eval` accepts: `positions.csv` and `truth.csv`
//! (any CSV with DESIGN.md §3 column names), GPX, NMEA 0183 (GGA and RMC), TUM and KITTI.
//!
//! Formats are chosen by extension (`.csv`, `.gpx`) or else by content: lines starting
//! with `$` are NMEA, lines of 8 numbers TUM (`t x y z qx qy qz qw`), lines of 12 numbers
//! KITTI (a 3×4 pose matrix, row-major). Conventions for the frame-less formats:
//! - TUM positions are ENU-like (z up) and the quaternion is world ← vehicle with the
//!   vehicle's x axis forward, so its yaw gives the heading.
//! - KITTI poses are camera ← … in the first camera's frame (x right, y down, z forward)
//!   and carry no time: sample i gets time i (a frame number), and positions are turned
//!   into east = x, north = z, up = −y so that horizontal means the ground plane.
//! - NMEA time is UTC seconds since the Unix epoch where an RMC sentence gives the date,
//!   else seconds since midnight; GPX time is Unix seconds.

mod csv;
mod gnss;
mod poses;

use crate::track::{Format, Location, Track};
use crate::EvalError;
use mapfix_io::GnssLog;
use std::path::Path;

/// Reads a track in whichever format `path` holds.
pub fn read_track(path: &Path) -> Result<Track<Location>, EvalError> {
    let bytes = std::fs::read(path).map_err(|source| EvalError::Read {
        path: path.into(),
        source,
    })?;
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let track = match extension.as_deref() {
        Some("csv") => csv::read(path, &bytes)?,
        Some("gpx") => gnss::track(GnssLog::parse_gpx(path, &bytes)?),
        _ => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| EvalError::file(path, format!("not UTF-8 text ({e})")))?;
            match sniff(text) {
                Some(Format::Nmea) => gnss::track(GnssLog::parse_nmea(path, text)?),
                Some(Format::Tum) => poses::read_tum(path, text)?,
                Some(Format::Kitti) => poses::read_kitti(path, text)?,
                _ => {
                    return Err(EvalError::file(
                        path,
                        "unknown track format: expected .csv or .gpx, or NMEA sentences, \
                         TUM lines (8 numbers) or KITTI lines (12 numbers)",
                    ))
                }
            }
        }
    };
    check_times(&track)?;
    Ok(track)
}

/// Guesses the format of a text file from its first content line.
fn sniff(text: &str) -> Option<Format> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    if first.starts_with('$') || first.starts_with('!') {
        return Some(Format::Nmea);
    }
    let numbers = first
        .split_whitespace()
        .filter(|w| w.parse::<f64>().is_ok())
        .count();
    match (first.split_whitespace().count(), numbers) {
        (8, 8) => Some(Format::Tum),
        (12, 12) => Some(Format::Kitti),
        _ => None,
    }
}

/// A track must have rows, and their times must increase strictly.
fn check_times<P>(track: &Track<P>) -> Result<(), EvalError> {
    if track.samples.is_empty() {
        return Err(EvalError::file(&track.path, "no samples in the file"));
    }
    for pair in track.samples.windows(2) {
        if pair[1].time <= pair[0].time {
            return Err(EvalError::invalid(
                &track.path,
                format!("line {}", pair[1].line),
                format!(
                    "time {} s does not come after the previous sample's {} s (line {})",
                    pair[1].time, pair[0].time, pair[0].line
                ),
            ));
        }
    }
    Ok(())
}

/// Parses one number of a text format, naming the file, line and field when it is not a
/// finite number.
fn number(path: &Path, line: usize, field: &str, text: &str) -> Result<f64, EvalError> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        Ok(_) => Err(EvalError::invalid(
            path,
            format!("line {line}"),
            format!("{field} is '{text}', not a finite number"),
        )),
        Err(_) => Err(EvalError::invalid(
            path,
            format!("line {line}"),
            format!("{field} is '{text}', not a number"),
        )),
    }
}

#[cfg(test)]
mod tests;
