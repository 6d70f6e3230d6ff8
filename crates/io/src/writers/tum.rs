//! `positions.tum`: `time_s east north up qx qy qz qw` for every fix (TUM RGB-D format, as
//! evo reads it). The quaternion is world ← vehicle from the heading alone (roll and pitch
//! are not estimated), vehicle x forward; frames without a fix have no line.

use super::{fixed, OutputFile, TrackWriter, WriteError};
use crate::record::PositionRecord;
use mapfix_core::pose::yaw_from_heading;
use std::path::Path;

pub struct TumWriter {
    file: OutputFile,
}

impl TumWriter {
    pub fn create(path: &Path) -> Result<TumWriter, WriteError> {
        let mut file = OutputFile::create(path)?;
        file.append(
            "# time_s east_m north_m up_m qx qy qz qw (ENU around the map origin; world <- vehicle, x forward)\n",
            "",
        )?;
        Ok(TumWriter { file })
    }
}

impl TrackWriter for TumWriter {
    fn write(&mut self, record: &PositionRecord) -> Result<(), WriteError> {
        let Some(fix) = record.fix else {
            return Ok(());
        };
        let half_yaw = 0.5 * yaw_from_heading(fix.heading);
        let line = format!(
            "{} {} {} {} 0 0 {} {}\n",
            fixed(record.time_s, 6),
            fixed(fix.local.x, 4),
            fixed(fix.local.y, 4),
            fixed(fix.local.z, 4),
            fixed(half_yaw.sin(), 9),
            fixed(half_yaw.cos(), 9),
        );
        self.file.append(&line, "")
    }
}
