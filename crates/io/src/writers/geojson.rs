//! `positions.geojson`: a FeatureCollection of one Point per fix with its properties, and,
//! once the run finishes, a LineString through all fixes (the track as QGIS draws it).
//! Until then, and if the run fails, the file holds the points and is valid GeoJSON.
//!
//! Point properties: `frame`, `time_s`, `utc` (ISO 8601, when known), `source`, `gnss`
//! (absent|used|suspect|rejected), `east_m`/`north_m`/`up_m`, `heading_deg`, `speed_mps`
//! (along the heading, negative when reversing),
//! `sigma_east_m`/`sigma_north_m`/`sigma_up_m`/`sigma_heading_deg` (1σ), the 1σ error
//! ellipse (`ellipse_major_m`, `ellipse_minor_m`, `ellipse_orientation_deg` from north),
//! `accuracy_m` (the 68 % horizontal radius, Android's accuracy), `radius_95_m`, and
//! `landmarks`. Unknown values are `null`.

use super::{compass_degrees, fixed, OutputFile, TrackWriter, WriteError};
use crate::record::PositionRecord;
use crate::utc::UtcTime;
use std::path::Path;

const HEADER: &str = "{\"type\":\"FeatureCollection\",\"features\":[\n";
const CLOSE: &str = "\n]}\n";

pub struct GeoJsonWriter {
    file: OutputFile,
    /// Longitude, latitude (degrees) and height of every fix so far, for the track line.
    track: Vec<[f64; 3]>,
    finished: bool,
}

impl GeoJsonWriter {
    pub fn create(path: &Path) -> Result<GeoJsonWriter, WriteError> {
        let mut file = OutputFile::create(path)?;
        file.append(HEADER, CLOSE)?;
        Ok(GeoJsonWriter {
            file,
            track: Vec::new(),
            finished: false,
        })
    }

    fn separator(&self) -> &'static str {
        if self.track.is_empty() {
            ""
        } else {
            ",\n"
        }
    }
}

fn position(coordinates: &[f64; 3]) -> String {
    format!(
        "[{},{},{}]",
        fixed(coordinates[0], 9),
        fixed(coordinates[1], 9),
        fixed(coordinates[2], 3)
    )
}

fn or_null(value: Option<String>) -> String {
    value.unwrap_or_else(|| "null".to_owned())
}

impl TrackWriter for GeoJsonWriter {
    fn write(&mut self, record: &PositionRecord) -> Result<(), WriteError> {
        let Some(fix) = record.fix else {
            return Ok(());
        };
        let coordinates = [
            fix.position.lon_deg(),
            fix.position.lat_deg(),
            fix.position.height,
        ];
        let sigma = fix.sigma;
        let ellipse = sigma.ellipse();
        let utc = record
            .utc_s
            .map(|u| format!("\"{}\"", UtcTime::from_unix_s(u, 1).iso8601()));
        let feature = format!(
            "{}{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"Point\",\"coordinates\":{}}},\"properties\":{{\
\"frame\":{},\"time_s\":{},\"utc\":{},\"source\":\"{}\",\"gnss\":\"{}\",\
\"east_m\":{},\"north_m\":{},\"up_m\":{},\"heading_deg\":{},\"speed_mps\":{},\
\"sigma_east_m\":{},\"sigma_north_m\":{},\"sigma_up_m\":{},\"sigma_heading_deg\":{},\
\"ellipse_major_m\":{},\"ellipse_minor_m\":{},\"ellipse_orientation_deg\":{},\
\"accuracy_m\":{},\"radius_95_m\":{},\"landmarks\":{}}}}}",
            self.separator(),
            position(&coordinates),
            record.frame,
            fixed(record.time_s, 6),
            or_null(utc),
            fix.source.name(),
            record.gnss.name(),
            fixed(fix.local.x, 4),
            fixed(fix.local.y, 4),
            fixed(fix.local.z, 4),
            compass_degrees(fix.heading, 4),
            or_null(fix.speed.map(|s| fixed(s, 3))),
            fixed(sigma.east, 4),
            fixed(sigma.north, 4),
            fixed(sigma.up, 4),
            or_null(sigma.heading.map(|h| fixed(h.to_degrees(), 4))),
            fixed(ellipse.semi_major, 4),
            fixed(ellipse.semi_minor, 4),
            fixed(ellipse.orientation.to_degrees(), 2),
            fixed(sigma.horizontal_radius(0.68), 4),
            fixed(sigma.horizontal_radius(0.95), 4),
            fix.landmarks,
        );
        self.file.append(&feature, CLOSE)?;
        self.track.push(coordinates);
        Ok(())
    }

    /// Adds the LineString of the track (when there are two fixes or more).
    fn finish(&mut self) -> Result<(), WriteError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if self.track.len() < 2 {
            return Ok(());
        }
        let coordinates: Vec<String> = self.track.iter().map(position).collect();
        let line = format!(
            ",\n{{\"type\":\"Feature\",\"geometry\":{{\"type\":\"LineString\",\"coordinates\":[{}]}},\"properties\":{{\"kind\":\"track\",\"fixes\":{}}}}}",
            coordinates.join(","),
            self.track.len()
        );
        self.file.append(&line, CLOSE)
    }
}

impl Drop for GeoJsonWriter {
    /// A run that ends in an error still gets its track line; an error writing it has
    /// nowhere to go here, and the file stays valid without it.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
