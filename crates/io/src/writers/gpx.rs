//! `positions.gpx`: GPX 1.1, one track whose segments are the runs of frames with a fix (a
//! frame without one ends a segment). Each point has its height, time (UTC, or `time_s`
//! after 1970-01-01T00:00:00Z when the UTC time is unknown), the source as `<type>`, the
//! GPX fix kind (`dgps` for vision and fused, `3d` for GNSS; none for dead reckoning, which
//! GPX has no word for: its `none` means no position at all) and the HDOP of the NMEA
//! output.

use super::{fixed, OutputFile, TrackWriter, WriteError};
use crate::record::PositionRecord;
use crate::utc::UtcTime;
use mapfix_core::FixSource;
use std::path::Path;

const HEADER: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<gpx version=\"1.1\" creator=\"mapfix\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n\
<trk><name>mapfix positions</name>\n";
const CLOSE_SEGMENT: &str = "</trkseg>\n";
const CLOSE_TRACK: &str = "</trk>\n</gpx>\n";

pub struct GpxWriter {
    file: OutputFile,
    in_segment: bool,
}

impl GpxWriter {
    pub fn create(path: &Path) -> Result<GpxWriter, WriteError> {
        let mut file = OutputFile::create(path)?;
        file.append(HEADER, CLOSE_TRACK)?;
        Ok(GpxWriter {
            file,
            in_segment: false,
        })
    }
}

impl TrackWriter for GpxWriter {
    fn write(&mut self, record: &PositionRecord) -> Result<(), WriteError> {
        let Some(fix) = record.fix else {
            if self.in_segment {
                self.in_segment = false;
                self.file.append(CLOSE_SEGMENT, CLOSE_TRACK)?;
            }
            return Ok(());
        };
        let mut body = String::new();
        if !self.in_segment {
            self.in_segment = true;
            body.push_str("<trkseg>\n");
        }
        let kind = match fix.source {
            FixSource::Vision | FixSource::Fused => "<fix>dgps</fix>",
            FixSource::Gnss => "<fix>3d</fix>",
            FixSource::DeadReckoning => "",
        };
        body.push_str(&format!(
            "<trkpt lat=\"{}\" lon=\"{}\"><ele>{}</ele><time>{}</time><type>{}</type>{kind}<hdop>{}</hdop></trkpt>\n",
            fixed(fix.position.lat_deg(), 9),
            fixed(fix.position.lon_deg(), 9),
            fixed(fix.position.height, 3),
            UtcTime::from_unix_s(record.clock_s(), 1).iso8601(),
            fix.source.name(),
            fixed(crate::nmea::hdop(record).unwrap_or_default(), 2),
        ));
        self.file
            .append(&body, &format!("{CLOSE_SEGMENT}{CLOSE_TRACK}"))
    }
}
