//! `positions.nmea`: the sentences `mapfix serve` sends (see `crate::nmea`), one epoch per
//! frame, CR LF line ends.

use super::{OutputFile, TrackWriter, WriteError};
use crate::record::PositionRecord;
use std::path::Path;

pub struct NmeaWriter {
    file: OutputFile,
    text: String,
}

impl NmeaWriter {
    pub fn create(path: &Path) -> Result<NmeaWriter, WriteError> {
        Ok(NmeaWriter {
            file: OutputFile::create(path)?,
            text: String::new(),
        })
    }
}

impl TrackWriter for NmeaWriter {
    fn write(&mut self, record: &PositionRecord) -> Result<(), WriteError> {
        self.text.clear();
        crate::nmea::write_epoch(record, &mut self.text);
        self.file.append(&self.text, "")
    }
}
