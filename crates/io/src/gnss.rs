//! GNSS logs in: NMEA 0183 (GGA and RMC; the `nmea` crate parses the sentences) and GPX
//! track points (the `gpx` crate), as one `GnssFix` per epoch, and the clock that puts
//! them on a drive's frame times.
//!
//! NMEA sentences with the same UTC time form one epoch: GGA gives the position, fix
//! quality, satellites, HDOP and height (ellipsoidal = altitude + geoid separation), RMC
//! the date, speed and course. NMEA time is UTC seconds since the Unix epoch where an RMC
//! sentence gives the date, else seconds since midnight of the first day; the clock runs
//! on past midnight. GPX time is Unix seconds.

use crate::IoError;
use chrono::{Datelike, Timelike};
use mapfix_core::Geodetic;
use nmea::sentences::rmc::RmcStatusOfFix;
use nmea::sentences::{FaaMode, FixType};
use nmea::ParseResult;
use std::path::{Path, PathBuf};

const SECONDS_PER_DAY: f64 = 86_400.0;
/// 1970-01-01 counted in days from 0001-01-01 (chrono's `num_days_from_ce`).
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;
const METRES_PER_SECOND_PER_KNOT: f64 = 1852.0 / 3600.0;
/// How far before the first fix a recording's own start time may lie and still be
/// believed (the receiver may need a while for its first fix).
const START_BEFORE_FIRST_FIX_S: f64 = 120.0;

/// How the receiver obtained a fix (GGA's fix quality, RMC's status and mode, GPX's
/// `<fix>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FixQuality {
    /// No fix: the receiver said so, or gave no position.
    Invalid,
    /// Stand-alone GNSS (GGA 1, RMC A, GPX 2d/3d).
    Autonomous,
    /// Differential corrections or the precise service (GGA 2 and 3, GPX dgps/pps).
    Differential,
    /// RTK with fixed (GGA 4) or float (GGA 5) ambiguities.
    RtkFixed,
    RtkFloat,
    /// Dead reckoning (GGA 6, RMC mode E).
    Estimated,
    /// Entered by hand (GGA 7) or simulated (GGA 8).
    Manual,
    Simulated,
    /// The log does not say (GPX without `<fix>`).
    Unknown,
}

/// One epoch of a GNSS log.
#[derive(Clone, Debug, PartialEq)]
pub struct GnssFix {
    /// The epoch's first line (NMEA) or its point number across tracks and segments
    /// (GPX), for messages.
    pub line: usize,
    /// UTC seconds since the Unix epoch, or since midnight of the first day in a log
    /// without dates (`GnssLog::dated`).
    pub utc_s: f64,
    /// Latitude, longitude and ellipsoidal height; `None` when the receiver had no fix.
    /// Without a height in the log the height is 0 and `height_known` false.
    pub position: Option<Geodetic>,
    pub height_known: bool,
    pub quality: FixQuality,
    pub satellites: Option<u32>,
    pub hdop: Option<f64>,
    /// Speed over ground, m/s.
    pub speed_mps: Option<f64>,
    /// Course over ground, radians clockwise from north.
    pub course: Option<f64>,
}

/// The formats of GNSS logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GnssFormat {
    Nmea,
    Gpx,
}

/// A GNSS log: its epochs in file order.
#[derive(Clone, Debug)]
pub struct GnssLog {
    pub path: PathBuf,
    pub format: GnssFormat,
    /// Whether times are Unix seconds (a date was given), not seconds since midnight.
    pub dated: bool,
    pub fixes: Vec<GnssFix>,
}

/// Where a frame clock's start comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// The drive's recorded start (the simulator's `sim.json`).
    Recorded,
    /// The video container's creation time.
    Container,
    /// The first fix of the log: right only when logging and recording began together.
    FirstFix,
}

/// Puts log times on a drive's frame clock (seconds since frame 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameClock {
    /// The log time (`GnssFix::utc_s`) of frame 0.
    pub start_utc_s: f64,
    pub source: ClockSource,
}

impl FrameClock {
    /// The fix's time in seconds since frame 0.
    pub fn time_s(&self, fix: &GnssFix) -> f64 {
        fix.utc_s - self.start_utc_s
    }
}

impl GnssLog {
    /// Reads a GPX file (by its `.gpx` extension) or NMEA sentences (anything else).
    pub fn read(path: &Path) -> Result<GnssLog, IoError> {
        let bytes = std::fs::read(path).map_err(IoError::read(path))?;
        let is_gpx = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gpx"));
        if is_gpx {
            return GnssLog::parse_gpx(path, &bytes);
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| IoError::file(path, format!("not UTF-8 text ({e})")))?;
        GnssLog::parse_nmea(path, text)
    }

    /// The frame clock: the drive's recorded start, else the container's creation time
    /// when it falls where the log could have begun (camera clocks are often wrong, or
    /// local time), else the first fix.
    pub fn frame_clock(
        &self,
        recorded_unix_s: Option<f64>,
        container_unix_s: Option<f64>,
    ) -> FrameClock {
        // An undated log counts seconds from midnight of its first day.
        let on_log_clock = |unix_s: f64| {
            if self.dated {
                unix_s
            } else {
                unix_s.rem_euclid(SECONDS_PER_DAY)
            }
        };
        let first = self.fixes.first().map_or(0.0, |f| f.utc_s);
        let last = self.fixes.last().map_or(0.0, |f| f.utc_s);
        if let Some(start) = recorded_unix_s {
            return FrameClock {
                start_utc_s: on_log_clock(start),
                source: ClockSource::Recorded,
            };
        }
        match container_unix_s.map(on_log_clock) {
            Some(start) if (first - START_BEFORE_FIRST_FIX_S..=last).contains(&start) => {
                FrameClock {
                    start_utc_s: start,
                    source: ClockSource::Container,
                }
            }
            _ => FrameClock {
                start_utc_s: first,
                source: ClockSource::FirstFix,
            },
        }
    }

    /// GGA and RMC sentences of NMEA 0183 text; other sentences are skipped.
    pub fn parse_nmea(path: &Path, text: &str) -> Result<GnssLog, IoError> {
        let mut epochs: Vec<Epoch> = Vec::new();
        // The first date seen, and the log seconds of its epoch.
        let mut first_date: Option<(chrono::NaiveDate, f64)> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let sentence = raw.trim();
            let kind = sentence.get(3..6).unwrap_or("");
            if !(kind == "GGA" || kind == "RMC") {
                continue;
            }
            let parsed = nmea::parse_str(sentence).map_err(|e| {
                IoError::invalid(
                    path,
                    format!("line {line}"),
                    format!("bad {kind} sentence: {e:?}"),
                )
            })?;
            let (time, sentence) = match parsed {
                ParseResult::GGA(gga) => (gga.fix_time, Sentence::Gga(gga)),
                ParseResult::RMC(rmc) => (rmc.fix_time, Sentence::Rmc(rmc)),
                _ => continue,
            };
            let time = time.ok_or_else(|| {
                IoError::invalid(
                    path,
                    format!("line {line}"),
                    format!("{kind} sentence has no time"),
                )
            })?;
            let of_day =
                f64::from(time.num_seconds_from_midnight()) + f64::from(time.nanosecond()) * 1e-9;
            let epoch = epoch_at(&mut epochs, line, of_day);
            if let (Sentence::Rmc(rmc), None) = (&sentence, first_date) {
                first_date = rmc.fix_date.map(|date| (date, epoch.seconds));
            }
            epoch.add(sentence);
        }
        if epochs.is_empty() {
            return Err(IoError::file(path, "no GGA or RMC sentences"));
        }
        let start = match first_date {
            // Unix seconds at midnight of the first date, moved back by the midnights
            // counted before the first dated sentence.
            Some((date, seconds)) => {
                let days_before = (seconds / SECONDS_PER_DAY).floor();
                (f64::from(date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE) - days_before)
                    * SECONDS_PER_DAY
            }
            None => 0.0,
        };
        Ok(GnssLog {
            path: path.to_owned(),
            format: GnssFormat::Nmea,
            dated: first_date.is_some(),
            fixes: epochs.into_iter().map(|e| e.fix(start)).collect(),
        })
    }

    /// GPX track points (`<trk><trkseg><trkpt>`), in file order across tracks and
    /// segments; each needs a `<time>`.
    pub fn parse_gpx(path: &Path, bytes: &[u8]) -> Result<GnssLog, IoError> {
        let gpx =
            gpx::read(bytes).map_err(|e| IoError::file(path, format!("not valid GPX: {e}")))?;
        let mut fixes = Vec::new();
        for (t, track) in gpx.tracks.iter().enumerate() {
            for (s, segment) in track.segments.iter().enumerate() {
                for (p, point) in segment.points.iter().enumerate() {
                    // GPX readers give no line numbers; the point's place stands in.
                    let place = format!("track {}, segment {}, point {}", t + 1, s + 1, p + 1);
                    let time: time::OffsetDateTime = point
                        .time
                        .ok_or_else(|| IoError::invalid(path, &place, "point has no <time>"))?
                        .into();
                    let (lon, lat) = (point.point().x(), point.point().y());
                    if !(lat.is_finite() && lon.is_finite()) {
                        return Err(IoError::invalid(
                            path,
                            &place,
                            "latitude or longitude is not a number",
                        ));
                    }
                    let quality = match &point.fix {
                        None | Some(gpx::Fix::Other(_)) => FixQuality::Unknown,
                        Some(gpx::Fix::None) => FixQuality::Invalid,
                        Some(gpx::Fix::TwoDimensional | gpx::Fix::ThreeDimensional) => {
                            FixQuality::Autonomous
                        }
                        Some(gpx::Fix::DGPS | gpx::Fix::PPS) => FixQuality::Differential,
                    };
                    let height = point
                        .elevation
                        .map(|h| h + point.geoidheight.unwrap_or(0.0))
                        .filter(|h| h.is_finite());
                    let valid = quality != FixQuality::Invalid;
                    fixes.push(GnssFix {
                        line: fixes.len() + 1,
                        utc_s: time.unix_timestamp_nanos() as f64 * 1e-9,
                        position: valid
                            .then(|| Geodetic::from_degrees(lat, lon, height.unwrap_or(0.0))),
                        height_known: valid && height.is_some(),
                        quality,
                        satellites: point.sat.and_then(|n| u32::try_from(n).ok()),
                        hdop: point.hdop,
                        speed_mps: point.speed,
                        course: None,
                    });
                }
            }
        }
        if fixes.is_empty() {
            return Err(IoError::file(
                path,
                "no track points (<trkpt>) in the GPX file",
            ));
        }
        Ok(GnssLog {
            path: path.to_owned(),
            format: GnssFormat::Gpx,
            dated: true,
            fixes,
        })
    }
}

enum Sentence {
    Gga(nmea::sentences::GgaData),
    Rmc(nmea::sentences::RmcData),
}

/// One NMEA epoch while it is being put together from its sentences.
struct Epoch {
    line: usize,
    /// Seconds since midnight of the first day, counting on past midnight.
    seconds: f64,
    gga: Option<nmea::sentences::GgaData>,
    rmc: Option<nmea::sentences::RmcData>,
}

/// The epoch at `of_day` seconds past a midnight: the last one if it has that time, else a
/// new one (a time far behind the last is the next day, not a step back).
fn epoch_at(epochs: &mut Vec<Epoch>, line: usize, of_day: f64) -> &mut Epoch {
    let mut seconds = of_day;
    if let Some(last) = epochs.last() {
        seconds += (last.seconds / SECONDS_PER_DAY).floor() * SECONDS_PER_DAY;
        if seconds < last.seconds - SECONDS_PER_DAY / 2.0 {
            seconds += SECONDS_PER_DAY;
        }
    }
    if epochs
        .last()
        .is_none_or(|last| (seconds - last.seconds).abs() >= 1e-6)
    {
        epochs.push(Epoch {
            line,
            seconds,
            gga: None,
            rmc: None,
        });
    }
    epochs.last_mut().expect("pushed above if there was none")
}

impl Epoch {
    /// Keeps a sentence; a second one of the same kind in an epoch replaces the first.
    fn add(&mut self, sentence: Sentence) {
        match sentence {
            Sentence::Gga(gga) => self.gga = Some(gga),
            Sentence::Rmc(rmc) => self.rmc = Some(rmc),
        }
    }

    fn fix(self, start: f64) -> GnssFix {
        let (gga, rmc) = (self.gga.as_ref(), self.rmc.as_ref());
        let gga_quality = gga.map(|g| match g.fix_type {
            None | Some(FixType::Invalid) => FixQuality::Invalid,
            Some(FixType::Gps) => FixQuality::Autonomous,
            Some(FixType::DGps | FixType::Pps) => FixQuality::Differential,
            Some(FixType::Rtk) => FixQuality::RtkFixed,
            Some(FixType::FloatRtk) => FixQuality::RtkFloat,
            Some(FixType::Estimated) => FixQuality::Estimated,
            Some(FixType::Manual) => FixQuality::Manual,
            Some(FixType::Simulation) => FixQuality::Simulated,
        });
        let rmc_quality = rmc.map(|r| match (&r.status_of_fix, &r.faa_mode) {
            (RmcStatusOfFix::Invalid, _) | (_, Some(FaaMode::DataNotValid)) => FixQuality::Invalid,
            (_, Some(FaaMode::Estimated)) => FixQuality::Estimated,
            (_, Some(FaaMode::Differential)) => FixQuality::Differential,
            _ => FixQuality::Autonomous,
        });
        let lat_lon = gga
            .and_then(|g| g.latitude.zip(g.longitude))
            .or_else(|| rmc.and_then(|r| r.lat.zip(r.lon)));
        let height = gga
            .and_then(|g| g.altitude)
            .map(|a| f64::from(a) + gga.and_then(|g| g.geoid_separation).map_or(0.0, f64::from));
        // Either sentence saying "no fix" wins; else GGA's quality, the finer one.
        let quality = match (gga_quality, rmc_quality) {
            _ if lat_lon.is_none() => FixQuality::Invalid,
            (Some(FixQuality::Invalid), _) | (_, Some(FixQuality::Invalid)) => FixQuality::Invalid,
            (Some(quality), _) | (None, Some(quality)) => quality,
            (None, None) => FixQuality::Invalid,
        };
        let valid = quality != FixQuality::Invalid;
        GnssFix {
            line: self.line,
            utc_s: start + self.seconds,
            position: lat_lon
                .filter(|_| valid)
                .map(|(lat, lon)| Geodetic::from_degrees(lat, lon, height.unwrap_or(0.0))),
            height_known: valid && height.is_some(),
            quality,
            satellites: gga.and_then(|g| g.fix_satellites),
            hdop: gga.and_then(|g| g.hdop).map(f64::from),
            speed_mps: rmc
                .and_then(|r| r.speed_over_ground)
                .map(|knots| f64::from(knots) * METRES_PER_SECOND_PER_KNOT),
            course: rmc
                .and_then(|r| r.true_course)
                .map(|c| f64::from(c).to_radians()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_drive() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo-drive")
    }

    /// An NMEA sentence with its checksum.
    fn nmea(body: &str) -> String {
        let checksum = body.bytes().fold(0u8, |a, b| a ^ b);
        format!("${body}*{checksum:02X}")
    }

    fn parse(lines: &[String]) -> Result<GnssLog, IoError> {
        GnssLog::parse_nmea(Path::new("gnss.nmea"), &(lines.join("\r\n") + "\r\n"))
    }

    /// `truth.csv`'s (time_s, lat°, lon°) rows.
    fn truth() -> Vec<(f64, f64, f64)> {
        let text = std::fs::read_to_string(demo_drive().join("truth.csv")).unwrap();
        text.lines()
            .skip(1)
            .map(|line| {
                let cells: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
                (cells[1], cells[2], cells[3])
            })
            .collect()
    }

    /// Median horizontal distance (m) of the fixes from the truth at their frame times.
    fn median_error(log: &GnssLog, clock: FrameClock) -> f64 {
        let truth = truth();
        let mut errors: Vec<f64> = (log.fixes.iter())
            .filter_map(|fix| {
                let position = fix.position?;
                let t = clock.time_s(fix);
                let k = truth
                    .partition_point(|row| row.0 <= t)
                    .clamp(1, truth.len() - 1);
                let (a, b) = (truth[k - 1], truth[k]);
                let w = ((t - a.0) / (b.0 - a.0)).clamp(0.0, 1.0);
                let (lat, lon) = (a.1 + w * (b.1 - a.1), a.2 + w * (b.2 - a.2));
                let north = (position.lat_deg() - lat).to_radians() * 6_371_000.0;
                let east = (position.lon.to_degrees() - lon).to_radians()
                    * 6_371_000.0
                    * lat.to_radians().cos();
                Some(north.hypot(east))
            })
            .collect();
        errors.sort_by(f64::total_cmp);
        errors[errors.len() / 2]
    }

    #[test]
    fn the_demo_drives_log_lands_on_its_frame_clock() {
        let drive = &crate::drive::discover(&demo_drive(), None).unwrap()[0];
        let log = drive.read_gnss().unwrap().unwrap();
        // The simulator counts its epochs and fixes in sim.json (none underground).
        let sim: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(demo_drive().join("sim.json")).unwrap())
                .unwrap();
        let count = |key: &str| sim["gnss"][key].as_u64().unwrap() as usize;
        assert_eq!((log.format, log.dated), (GnssFormat::Nmea, true));
        assert_eq!(log.fixes.len(), count("epochs"));
        let fixes = log.fixes.iter().filter(|f| f.position.is_some()).count();
        assert_eq!(fixes, count("fixes"));
        assert!(fixes < log.fixes.len());
        assert_eq!(log.fixes[0].utc_s, 1_718_964_000.0);

        let clock = log.frame_clock(drive.start_unix_s, None);
        assert_eq!(
            clock,
            FrameClock {
                start_utc_s: 1_718_964_000.0,
                source: ClockSource::Recorded
            }
        );
        assert_eq!(clock.time_s(&log.fixes[5]), 1.0);
        // Aligned, the simulated receiver is metres off; a second late, it would be a
        // second of driving (~14 m) off.
        let aligned = median_error(&log, clock);
        assert!(aligned < 5.0, "{aligned}");
        let late = FrameClock {
            start_utc_s: clock.start_utc_s - 1.0,
            ..clock
        };
        assert!(median_error(&log, late) > aligned + 5.0);
    }

    #[test]
    fn gga_and_rmc_of_one_time_are_one_epoch_and_the_clock_runs_past_midnight() {
        let log = parse(&[
            nmea("GPGGA,235959.00,5230.0000,N,01324.0000,E,2,11,0.7,40.0,M,45.0,M,,"),
            nmea("GPRMC,235959.00,A,5230.0000,N,01324.0000,E,10.0,90.0,311224,,,D"),
            nmea("GPGSV,1,1,00"),
            nmea("GPGGA,000000.00,5230.0010,N,01324.0000,E,6,08,0.9,40.0,M,45.0,M,,"),
            nmea("GPGGA,000000.50,,,,,0,00,,,M,,M,,"),
            nmea("GPRMC,000001.00,A,5230.0020,S,01324.0000,W,0.0,,010125,,,E"),
            nmea("GPRMC,000001.50,V,5230.0020,S,01324.0000,W,0.0,,010125,,,N"),
        ])
        .unwrap();
        assert!(log.dated);
        let fixes = &log.fixes;
        assert_eq!(fixes.len(), 5);
        // 2024-12-31 23:59:59 UTC, from RMC's date and GGA's time.
        assert_eq!((fixes[0].line, fixes[0].utc_s), (1, 1_735_689_599.0));
        assert_eq!(fixes[0].quality, FixQuality::Differential);
        let position = fixes[0].position.unwrap();
        assert!((position.lat_deg() - 52.5).abs() < 1e-9 && (position.height - 85.0).abs() < 1e-9);
        assert!((fixes[0].course.unwrap() - std::f64::consts::FRAC_PI_2).abs() < 1e-9);
        assert!((fixes[0].speed_mps.unwrap() - 5.144_444).abs() < 1e-5);
        assert_eq!(fixes[0].satellites, Some(11));
        // The `nmea` crate reads HDOP, altitude and speed as f32.
        assert!((fixes[0].hdop.unwrap() - 0.7).abs() < 1e-6);
        assert_eq!(
            (fixes[1].utc_s, fixes[1].quality),
            (1_735_689_600.0, FixQuality::Estimated)
        );
        assert_eq!(
            (fixes[2].quality, fixes[2].position, fixes[2].height_known),
            (FixQuality::Invalid, None, false)
        );
        // RMC alone: no height; the southern and western hemispheres are negative; mode E
        // is dead reckoning, status V no fix.
        let rmc_only = fixes[3].position.unwrap();
        assert!(rmc_only.lat < 0.0 && rmc_only.lon < 0.0 && !fixes[3].height_known);
        assert_eq!(
            (fixes[3].quality, fixes[4].quality),
            (FixQuality::Estimated, FixQuality::Invalid)
        );
    }

    #[test]
    fn an_undated_log_counts_from_midnight_and_bad_sentences_name_their_line() {
        let log = parse(&[
            nmea("GPGGA,101500.00,4900.0000,N,00824.0000,E,1,08,0.9,116.0,M,,M,,"),
            nmea("GPGGA,101501.00,4900.0010,N,00824.0000,E,1,08,0.9,116.0,M,,M,,"),
        ])
        .unwrap();
        assert!(!log.dated);
        assert_eq!(log.fixes[1].utc_s, 36_901.0);
        // A recorded Unix start becomes seconds of its day on such a log.
        let clock = log.frame_clock(Some(1_718_964_000.0 + 900.5), None);
        assert_eq!(clock.time_s(&log.fixes[1]), 0.5);

        let corrupt = format!(
            "{}\n$GPGGA,101502.00,4900.0000,N,00824.0000,E,1,08,0.9,116.0,M,,M,,*00\n",
            nmea("GPGGA,101500.00,4900.0000,N,00824.0000,E,1,08,0.9,116.0,M,,M,,")
        );
        let error = GnssLog::parse_nmea(Path::new("bad.nmea"), &corrupt)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("bad.nmea, line 2: bad GGA sentence"),
            "{error}"
        );
        let error = parse(&[nmea("GPGSV,1,1,00")]).unwrap_err().to_string();
        assert!(error.contains("no GGA or RMC"), "{error}");
    }

    #[test]
    fn the_container_start_is_believed_only_near_the_log() {
        let log = GnssLog::read(&demo_drive().join("gnss.nmea")).unwrap();
        let start = 1_718_964_000.0;
        let near = log.frame_clock(None, Some(start - 3.0));
        assert_eq!(
            (near.start_utc_s, near.source),
            (start - 3.0, ClockSource::Container)
        );
        // A camera clock in local time (two hours ahead) is not believed.
        let local = log.frame_clock(None, Some(start + 7200.0));
        assert_eq!(
            (local.start_utc_s, local.source),
            (start, ClockSource::FirstFix)
        );
        assert_eq!(log.frame_clock(None, None).source, ClockSource::FirstFix);
    }

    #[test]
    fn gpx_points_carry_height_quality_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drive.gpx");
        std::fs::write(
            &path,
            r#"<?xml version="1.0"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
<trk><trkseg>
<trkpt lat="52.5" lon="13.4"><ele>41</ele><time>2024-01-01T00:00:00Z</time><geoidheight>45</geoidheight><fix>3d</fix><sat>9</sat><hdop>0.8</hdop></trkpt>
<trkpt lat="52.5001" lon="13.4"><time>2024-01-01T00:00:01.5Z</time></trkpt>
<trkpt lat="52.5002" lon="13.4"><time>2024-01-01T00:00:02Z</time><fix>none</fix></trkpt>
</trkseg></trk></gpx>"#,
        )
        .unwrap();
        let log = GnssLog::read(&path).unwrap();
        assert_eq!((log.format, log.dated), (GnssFormat::Gpx, true));
        let [a, b, c] = &log.fixes[..] else {
            panic!("{:?}", log.fixes)
        };
        assert_eq!(
            (a.utc_s, b.utc_s, c.line),
            (1_704_067_200.0, 1_704_067_201.5, 3)
        );
        assert!((a.position.unwrap().height - 86.0).abs() < 1e-9 && a.height_known);
        assert_eq!(
            (a.quality, a.satellites, a.hdop),
            (FixQuality::Autonomous, Some(9), Some(0.8))
        );
        assert_eq!((b.quality, b.height_known), (FixQuality::Unknown, false));
        assert_eq!((c.quality, c.position), (FixQuality::Invalid, None));

        std::fs::write(
            &path,
            r#"<gpx version="1.1" creator="t"><trk><trkseg><trkpt lat="1" lon="2"></trkpt></trkseg></trk></gpx>"#,
        )
        .unwrap();
        let error = GnssLog::read(&path).unwrap_err().to_string();
        assert!(
            error.contains("drive.gpx, track 1, segment 1, point 1: point has no <time>"),
            "{error}"
        );
    }
}
