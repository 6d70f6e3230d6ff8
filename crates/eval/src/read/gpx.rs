//! GPX track points (`<trk><trkseg><trkpt>`), in file order across tracks and segments.

use crate::track::{Format, Location, Sample, Source, Track};
use crate::EvalError;
use mapfix_core::Geodetic;
use std::path::Path;

pub(super) fn read(path: &Path, bytes: &[u8]) -> Result<Track<Location>, EvalError> {
    let gpx = gpx::read(bytes).map_err(|e| EvalError::file(path, format!("not valid GPX: {e}")))?;
    let mut samples = Vec::new();
    for (t, track) in gpx.tracks.iter().enumerate() {
        for (s, segment) in track.segments.iter().enumerate() {
            for (p, point) in segment.points.iter().enumerate() {
                // GPX readers give no line numbers; the point's place in the file stands in.
                let place = format!("track {}, segment {}, point {}", t + 1, s + 1, p + 1);
                let time: time::OffsetDateTime = point
                    .time
                    .ok_or_else(|| EvalError::invalid(path, &place, "point has no <time>"))?
                    .into();
                let (lon, lat) = (point.point().x(), point.point().y());
                if !(lat.is_finite() && lon.is_finite()) {
                    return Err(EvalError::invalid(
                        path,
                        &place,
                        "latitude or longitude is not a number",
                    ));
                }
                let height = point.elevation.filter(|h| h.is_finite());
                samples.push(Sample {
                    line: samples.len() + 1,
                    time: time.unix_timestamp_nanos() as f64 * 1e-9,
                    position: Some(Location::Geodetic {
                        position: Geodetic::from_degrees(lat, lon, height.unwrap_or(0.0)),
                        height_known: height.is_some(),
                    }),
                    height_known: height.is_some(),
                    heading: None,
                    rotation: None,
                    sigma: None,
                    source: Source::Unknown,
                });
            }
        }
    }
    if samples.is_empty() {
        return Err(EvalError::file(
            path,
            "no track points (<trkpt>) in the GPX file",
        ));
    }
    Ok(Track {
        path: path.into(),
        format: Format::Gpx,
        samples,
    })
}
