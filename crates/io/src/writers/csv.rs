//! `positions.csv` (DESIGN.md §3): a row for every frame, empty cells and `source=none`
//! for a frame without a fix.

use super::{compass_degrees, fixed, OutputFile, TrackWriter, WriteError};
use crate::record::PositionRecord;
use std::path::Path;

pub const CSV_HEADER: &str = "frame,time_s,lat,lon,height_m,east_m,north_m,up_m,heading_deg,\
sigma_east_m,sigma_north_m,sigma_up_m,source,landmarks";

pub struct CsvWriter {
    file: OutputFile,
}

impl CsvWriter {
    pub fn create(path: &Path) -> Result<CsvWriter, WriteError> {
        let mut file = OutputFile::create(path)?;
        file.append(&format!("{CSV_HEADER}\n"), "")?;
        Ok(CsvWriter { file })
    }
}

/// The row of a record, without its line end.
fn csv_row(record: &PositionRecord) -> String {
    let fix_cells = match record.fix {
        Some(fix) => [
            fixed(fix.position.lat_deg(), 9),
            fixed(fix.position.lon_deg(), 9),
            fixed(fix.position.height, 4),
            fixed(fix.local.x, 4),
            fixed(fix.local.y, 4),
            fixed(fix.local.z, 4),
            compass_degrees(fix.heading, 4),
            sigma(fix.sigma.east),
            sigma(fix.sigma.north),
            sigma(fix.sigma.up),
        ]
        .join(","),
        None => ",".repeat(9),
    };
    format!(
        "{},{},{fix_cells},{},{}",
        record.frame,
        fixed(record.time_s, 6),
        record.source_name(),
        record.fix.map_or(0, |f| f.landmarks),
    )
}

/// A σ rounded up to 0.1 mm: rounding may make an uncertainty larger, never smaller or 0
/// (a σ within float noise of a step, such as 0.12 computed as 0.12000000000000001, stays
/// on it).
fn sigma(value: f64) -> String {
    fixed((value * 1e4 - 1e-6).ceil() / 1e4, 4)
}

impl TrackWriter for CsvWriter {
    fn write(&mut self, record: &PositionRecord) -> Result<(), WriteError> {
        self.file.append(&format!("{}\n", csv_row(record)), "")
    }
}
