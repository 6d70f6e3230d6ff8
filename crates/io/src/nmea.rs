//! NMEA 0183 sentences for a `PositionRecord`: GGA, RMC, GST, VTG and HDT, the way a GNSS
//! receiver talks to navigation apps and gpsd. Every sentence has the `GP` talker (the one
//! every reader accepts), a valid checksum, and fits the standard's 82 characters.
//!
//! How a fix's source becomes the receiver's status:
//!
//! | source           | GGA quality          | RMC status, mode | gpsd TPV `status` |
//! |------------------|----------------------|------------------|-------------------|
//! | `gnss`           | 1 (GPS fix)          | A, A autonomous  | normal            |
//! | `vision`/`fused` | 2 (differential)     | A, D differential| 2 (DGPS)          |
//! | `dead_reckoning` | 6 (estimated)        | A, E estimated   | 5 (DR)            |
//! | no fix           | 0 (invalid), no position | V, N not valid | mode 1 (no fix) |
//!
//! A vision fix is a position corrected against an outside reference (the map), with
//! errors of decimetres rather than metres: that is what "differential" promises a reader,
//! without the centimetres RTK (4, 5) would claim. Dead reckoning is marked as such, with
//! status A as u-blox receivers do, so that readers keep the position but know it is
//! predicted.
//!
//! How the 1σ uncertainties (`Sigma`) become fields:
//! - **GST** (the field apps such as ArcGIS read first) carries 1σ values in metres: the
//!   error ellipse's semi-major and semi-minor axes and the major axis's bearing from true
//!   north, then σ north (latitude), σ east (longitude) and σ up (altitude). The first field,
//!   the RMS of pseudorange residuals, is left empty: there are no ranges.
//! - **GGA HDOP** is chosen so that gpsd's horizontal error `eph` comes out as our 95 %
//!   horizontal radius: gpsd 3.22 reports `eph` = HDOP × 4.75 m for quality 2 and
//!   HDOP × 19 m for qualities 1 and 6 (measured; `tests/interop/gpsd.sh` checks it).
//!   gpsd's `epx`/`epy` and `eph` are 95 % figures; Android's `Location` accuracy is a 68 %
//!   radius, `Sigma::horizontal_radius(0.68)`, which the GeoJSON output carries.
//! - **GGA altitude** is the ellipsoidal height with a geoid separation of 0 (there is no
//!   geoid model here), so altitude + separation, what gpsd calls `altHAE`, is exact.
//! - **RMC/VTG course** is the direction of motion: the vehicle's heading (a car moves
//!   where it points), turned round when the estimator's signed speed is negative
//!   (reversing); speed over ground is its magnitude, in knots (and km/h in VTG), empty
//!   when the estimator has no speed. **HDT** is the heading.
//!
//! Times are UTC to the centisecond; without a UTC time (`PositionRecord::utc_s`) the
//! clock counts `time_s` from midnight and RMC's date is empty.

use crate::record::{Fix, PositionRecord};
use crate::utc::UtcTime;
use crate::writers::{compass_degrees, fixed};
use mapfix_core::FixSource;
use std::fmt::Write;

pub const TALKER: &str = "GP";

/// gpsd 3.22's 95 % user-equivalent range error behind `eph` = HDOP × UERE, for GGA
/// quality 2 and for the other qualities.
const GPSD_UERE_DIFFERENTIAL_M: f64 = 4.75;
const GPSD_UERE_M: f64 = 19.0;

/// The largest σ written (GST fields stay within the sentence length).
const MAX_SIGMA_M: f64 = 9_999.999;
const MAX_HDOP: f64 = 99.99;
const KNOTS_PER_MPS: f64 = 3600.0 / 1852.0;

/// GGA's fix quality for this record (see the module's table).
pub fn fix_quality(record: &PositionRecord) -> u8 {
    match record.fix.map(|f| f.source) {
        None => 0,
        Some(FixSource::Gnss) => 1,
        Some(FixSource::Vision | FixSource::Fused) => 2,
        Some(FixSource::DeadReckoning) => 6,
    }
}

/// The mode indicator of RMC and VTG (NMEA 2.3 and later).
pub fn mode_indicator(record: &PositionRecord) -> char {
    match record.fix.map(|f| f.source) {
        None => 'N',
        Some(FixSource::Gnss) => 'A',
        Some(FixSource::Vision | FixSource::Fused) => 'D',
        Some(FixSource::DeadReckoning) => 'E',
    }
}

/// The HDOP written in GGA: our 95 % horizontal radius over gpsd's UERE for the fix
/// quality, between 0.01 and 99.99; `None` without a fix.
pub fn hdop(record: &PositionRecord) -> Option<f64> {
    let fix = record.fix?;
    let uere = if fix_quality(record) == 2 {
        GPSD_UERE_DIFFERENTIAL_M
    } else {
        GPSD_UERE_M
    };
    Some((fix.sigma.horizontal_radius(0.95) / uere).clamp(0.01, MAX_HDOP))
}

/// Appends the record's sentences, each ending in CR LF: GGA and RMC always, VTG always
/// (empty without a fix), GST and HDT only with a fix.
pub fn write_epoch(record: &PositionRecord, out: &mut String) {
    for body in [gga(record), rmc(record)]
        .into_iter()
        .chain(gst(record))
        .chain([vtg(record)])
        .chain(hdt(record))
    {
        out.push_str(&body);
        out.push_str("\r\n");
    }
}

/// `$GPGGA`: time, position, fix quality, satellites (empty: none are counted), HDOP,
/// altitude and geoid separation.
pub fn gga(record: &PositionRecord) -> String {
    let mut body = format!("{TALKER}GGA,{}", clock(record));
    match record.fix {
        Some(fix) => {
            let _ = write!(
                body,
                ",{},{},,{},{},M,0.0,M,,",
                lat_lon(fix.position.lat_deg(), fix.position.lon_deg()),
                fix_quality(record),
                fixed(hdop(record).unwrap_or(MAX_HDOP), 2),
                fixed(fix.position.height, 2),
            );
        }
        None => body.push_str(",,,,,0,,,,M,,M,,"),
    }
    sentence(body)
}

/// `$GPRMC`: time, status, position, speed (knots), course, date, magnetic variation
/// (empty) and the mode indicator.
pub fn rmc(record: &PositionRecord) -> String {
    let date = record.utc_s.map(|utc| {
        let t = UtcTime::from_unix_s(utc, 10);
        format!("{:02}{:02}{:02}", t.day, t.month, t.year.rem_euclid(100))
    });
    let (status, position, speed, course) = match record.fix {
        Some(fix) => (
            'A',
            lat_lon(fix.position.lat_deg(), fix.position.lon_deg()),
            fix.speed.map(|s| fixed(s.abs() * KNOTS_PER_MPS, 2)),
            Some(compass_degrees(course_over_ground(&fix), 2)),
        ),
        None => ('V', ",,,".to_owned(), None, None),
    };
    sentence(format!(
        "{TALKER}RMC,{},{status},{position},{},{},{},,,{}",
        clock(record),
        speed.unwrap_or_default(),
        course.unwrap_or_default(),
        date.unwrap_or_default(),
        mode_indicator(record),
    ))
}

/// `$GPGST`: 1σ error ellipse and σ of latitude, longitude and altitude, in metres;
/// `None` without a fix.
pub fn gst(record: &PositionRecord) -> Option<String> {
    let sigma = record.fix?.sigma;
    let ellipse = sigma.ellipse();
    let metres = |value: f64| fixed(value.min(MAX_SIGMA_M), 3);
    Some(sentence(format!(
        "{TALKER}GST,{},,{},{},{},{},{},{}",
        clock(record),
        metres(ellipse.semi_major),
        metres(ellipse.semi_minor),
        fixed(ellipse.orientation.to_degrees(), 1),
        metres(sigma.north),
        metres(sigma.east),
        metres(sigma.up),
    )))
}

/// `$GPVTG`: true course, magnetic course (empty), speed in knots and km/h, mode.
pub fn vtg(record: &PositionRecord) -> String {
    let course = record
        .fix
        .map(|f| compass_degrees(course_over_ground(&f), 2));
    let speed = record.fix.and_then(|f| f.speed).map(f64::abs);
    sentence(format!(
        "{TALKER}VTG,{},T,,M,{},N,{},K,{}",
        course.unwrap_or_default(),
        speed
            .map(|s| fixed(s * KNOTS_PER_MPS, 2))
            .unwrap_or_default(),
        speed.map(|s| fixed(s * 3.6, 2)).unwrap_or_default(),
        mode_indicator(record),
    ))
}

/// `$GPHDT`: true heading; `None` without a fix.
pub fn hdt(record: &PositionRecord) -> Option<String> {
    let fix = record.fix?;
    Some(sentence(format!(
        "{TALKER}HDT,{},T",
        compass_degrees(fix.heading, 2)
    )))
}

/// The direction of motion: the heading, or its opposite when reversing.
fn course_over_ground(fix: &Fix) -> f64 {
    match fix.speed {
        Some(speed) if speed < 0.0 => fix.heading + std::f64::consts::PI,
        _ => fix.heading,
    }
}

/// `$` + body + `*` + the XOR of the body's bytes in two hex digits.
fn sentence(body: String) -> String {
    let checksum = body.bytes().fold(0u8, |sum, b| sum ^ b);
    format!("${body}*{checksum:02X}")
}

/// `hhmmss.ss` of the record's clock (UTC, else `time_s` from midnight).
fn clock(record: &PositionRecord) -> String {
    let t = UtcTime::from_unix_s(record.clock_s(), 10);
    format!(
        "{:02}{:02}{:02}.{:02}",
        t.hour,
        t.minute,
        t.second,
        t.millisecond / 10
    )
}

/// `ddmm.mmmmmm,N,dddmm.mmmmmm,E` (a millionth of a minute is under 2 mm). Longitudes
/// are wrapped into [−180°, 180°), so the date line itself is written as 180° W.
fn lat_lon(lat_deg: f64, lon_deg: f64) -> String {
    let lon_deg = (lon_deg + 180.0).rem_euclid(360.0) - 180.0;
    let (lat, north) = degrees_minutes(lat_deg, 2);
    let (lon, east) = degrees_minutes(lon_deg, 3);
    format!(
        "{lat},{},{lon},{}",
        if north { 'N' } else { 'S' },
        if east { 'E' } else { 'W' }
    )
}

/// Degrees and minutes of an angle's magnitude (`width` digits of degrees) and whether
/// it is non-negative. Rounding is done on the whole in millionths of a minute, so that
/// 59.9999999′ carries into the next degree instead of printing 60′.
fn degrees_minutes(deg: f64, width: usize) -> (String, bool) {
    const STEPS_PER_MINUTE: i64 = 1_000_000;
    let steps = (deg.abs() * 60.0 * STEPS_PER_MINUTE as f64).round() as i64;
    let (whole_degrees, rest) = (
        steps / (60 * STEPS_PER_MINUTE),
        steps % (60 * STEPS_PER_MINUTE),
    );
    let text = format!(
        "{whole_degrees:0width$}{:02}.{:06}",
        rest / STEPS_PER_MINUTE,
        rest % STEPS_PER_MINUTE
    );
    (text, deg >= 0.0 || steps == 0)
}

#[cfg(test)]
mod tests;
