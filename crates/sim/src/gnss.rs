//! A simulated GNSS receiver with the errors of a consumer unit in a city.
//!
//! In the open the position error is a slow random walk (first-order Gauss–Markov, about
//! 1–2 m horizontally). Between tall buildings reflected signals bias the fix by 5–30 m,
//! mostly across the street, growing with how much of the sky the façades hide, while the
//! reported HDOP stays deceptively modest (multipath is not in the geometry). Underground,
//! or under a sky almost entirely hidden, there is no fix; once the sky is back the
//! receiver needs a few seconds to reacquire (longer after longer outages) and its first
//! fixes are poorer. Epochs are written as NMEA 0183 GGA + RMC sentences.

use crate::lanes::ray_segment;
use crate::printed;
use crate::route::Route;
use mapfix_core::{LocalFrame, Vec3};
use mapfix_map::Map;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::f64::consts::TAU;
use std::fmt::Write as _;

/// Height (m) of the antenna above the vehicle's reference point on the road.
const ANTENNA_HEIGHT: f64 = 1.5;
/// Azimuth rays of the sky mask.
const SECTORS: usize = 32;
/// An azimuth counts as blocked when buildings rise above this elevation (rad).
const BLOCKED_ELEVATION: f64 = 30.0 * std::f64::consts::PI / 180.0;
/// An azimuth counts as open when buildings stay below this elevation (rad).
const OPEN_ELEVATION: f64 = 20.0 * std::f64::consts::PI / 180.0;
/// Buildings farther than this (m) are ignored for the sky mask.
const SKY_RADIUS: f64 = 120.0;
/// Above this fraction of blocked sky the receiver loses its fix; below it, reflected
/// signals still give one (a biased one).
const MAX_BLOCKED_SKY: f64 = 0.95;
/// Open-sky error: standard deviation (m) per horizontal axis, vertical, and correlation time (s).
const OPEN_SIGMA_H: f64 = 1.0;
const OPEN_SIGMA_V: f64 = 1.8;
const OPEN_TAU: f64 = 60.0;
/// White noise (m) per axis on top of the random walk.
const WHITE_SIGMA: f64 = 0.25;
/// Multipath bias: smallest and largest magnitude (m) and its response time (s).
const MULTIPATH_MIN: f64 = 5.0;
const MULTIPATH_MAX: f64 = 30.0;
const MULTIPATH_TAU: f64 = 4.0;
/// Reacquisition after an outage: fixed delay (s) plus this fraction of the outage, capped.
const REACQUIRE_BASE: f64 = 1.0;
const REACQUIRE_PER_OUTAGE: f64 = 0.25;
const REACQUIRE_MAX: f64 = 30.0;
/// Extra error (m per axis) of the first fixes after reacquiring, and how fast it fades (s).
const REACQUIRE_SIGMA: f64 = 4.0;
const REACQUIRE_TAU: f64 = 8.0;

/// The receiver's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GnssConfig {
    /// Fixes per second (1–10 Hz for consumer receivers).
    pub rate_hz: f64,
    /// UTC time (s since 1970-01-01) of the drive's time 0.
    pub start_unix_s: i64,
}

impl Default for GnssConfig {
    fn default() -> Self {
        // 2024-06-21 10:00:00 UTC.
        Self {
            rate_hz: 5.0,
            start_unix_s: 1_718_964_000,
        }
    }
}

/// What the receiver reports at one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GnssEpoch {
    /// Seconds from the drive's start.
    pub time: f64,
    /// The antenna's true position (ENU, m).
    pub truth: Vec3,
    pub fix: Option<GnssFix>,
}

/// A position fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GnssFix {
    /// Reported antenna position (ENU, m).
    pub position: Vec3,
    pub satellites: u32,
    pub hdop: f64,
    /// Speed over ground (m/s).
    pub speed: f64,
    /// Course over ground (rad from north, clockwise).
    pub course: f64,
}

/// How much sky the buildings around a point leave open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SkyView {
    /// Fraction of azimuths where buildings stay below 20° elevation.
    pub open: f64,
    /// Fraction of azimuths where buildings rise above 30° elevation.
    pub blocked: f64,
    /// Unit horizontal direction across which the blocking façades face each other (the
    /// axis multipath pushes fixes along), with the side of the taller façade positive.
    pub canyon_axis: Vec3,
}

impl SkyView {
    /// The sky mask at `antenna` from the map's buildings (a roof's height is its
    /// footprint's height plus the building's).
    pub fn at(map: &Map, antenna: &Vec3) -> SkyView {
        let rays: Vec<Vec3> = (0..SECTORS)
            .map(|k| {
                let azimuth = (k as f64 + 0.5) / SECTORS as f64 * TAU;
                Vec3::new(azimuth.sin(), azimuth.cos(), 0.0)
            })
            .collect();
        let mut mask = [0.0f64; SECTORS];
        for building in &map.buildings {
            let near = building
                .footprint
                .iter()
                .any(|p| (p - antenna).xy().norm() < SKY_RADIUS);
            let n = building.footprint.len();
            for i in (0..n).filter(|_| near) {
                let (a, b) = (building.footprint[i], building.footprint[(i + 1) % n]);
                for (k, ray) in rays.iter().enumerate() {
                    let Some((distance, u)) = ray_segment(antenna, ray, &a, &b) else {
                        continue;
                    };
                    if distance > 0.0 {
                        let roof = a.z + u * (b.z - a.z) + building.height;
                        mask[k] = mask[k].max((roof - antenna.z).atan2(distance));
                    }
                }
            }
        }
        let open = mask.iter().filter(|&&e| e < OPEN_ELEVATION).count() as f64 / SECTORS as f64;
        let blocked =
            mask.iter().filter(|&&e| e > BLOCKED_ELEVATION).count() as f64 / SECTORS as f64;
        // The axis of the blocked sectors by doubled angles (opposite sectors agree), and
        // its sign towards the taller side.
        let (mut c, mut s) = (0.0, 0.0);
        for (k, &e) in mask
            .iter()
            .enumerate()
            .filter(|(_, &e)| e > BLOCKED_ELEVATION)
        {
            let azimuth = (k as f64 + 0.5) / SECTORS as f64 * TAU;
            c += e * (2.0 * azimuth).cos();
            s += e * (2.0 * azimuth).sin();
        }
        let axis_azimuth = s.atan2(c) / 2.0;
        let mut axis = Vec3::new(axis_azimuth.sin(), axis_azimuth.cos(), 0.0);
        let lean: f64 = mask
            .iter()
            .zip(&rays)
            .map(|(&e, ray)| e * ray.dot(&axis))
            .sum();
        if lean < 0.0 {
            axis = -axis;
        }
        SkyView {
            open,
            blocked,
            canyon_axis: axis,
        }
    }
}

/// The receiver's output along a route, one epoch every `1 / rate_hz` s from 0 to
/// `duration`.
pub fn simulate(
    map: &Map,
    route: &Route,
    duration: f64,
    config: &GnssConfig,
    seed: u64,
) -> Vec<GnssEpoch> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut normal = move || -> f64 { StandardNormal.sample(&mut rng) };
    let dt = 1.0 / config.rate_hz;
    let mut walk = Vec3::new(
        normal() * OPEN_SIGMA_H,
        normal() * OPEN_SIGMA_H,
        normal() * OPEN_SIGMA_V,
    );
    let mut multipath = Vec3::zeros();
    let mut reacquire_error = Vec3::zeros();
    // When the signal was lost (None while received) and when the next fix may come.
    let mut lost_at: Option<f64> = None;
    let mut fix_from = 0.0;
    let walk_keep = (-dt / OPEN_TAU).exp();
    let multipath_keep = (-dt / MULTIPATH_TAU).exp();
    let reacquire_keep = (-dt / REACQUIRE_TAU).exp();
    let epochs = (duration * config.rate_hz + 1e-9).floor() as usize + 1;
    (0..epochs)
        .map(|k| {
            let time = k as f64 * dt;
            let state = route.state_at(time);
            let truth = state
                .pose
                .transform_point(&Vec3::new(0.0, 0.0, ANTENNA_HEIGHT));
            let sky = SkyView::at(map, &truth);
            let receivable = map.level_at(&truth) >= 0 && sky.blocked <= MAX_BLOCKED_SKY;
            let scale = (1.0 - walk_keep * walk_keep).sqrt();
            walk = walk * walk_keep
                + Vec3::new(
                    normal() * OPEN_SIGMA_H,
                    normal() * OPEN_SIGMA_H,
                    normal() * OPEN_SIGMA_V,
                ) * scale;
            let canyon = ((sky.blocked - 0.3) / 0.5).clamp(0.0, 1.0);
            let target = if sky.blocked >= 0.3 {
                sky.canyon_axis * -(MULTIPATH_MIN + (MULTIPATH_MAX - MULTIPATH_MIN) * canyon)
            } else {
                Vec3::zeros()
            };
            multipath = target
                + (multipath - target) * multipath_keep
                + Vec3::new(normal(), normal(), 0.5 * normal())
                    * (0.15 * sky.blocked * MULTIPATH_MAX * (1.0 - multipath_keep)).sqrt();
            reacquire_error *= reacquire_keep;
            match (receivable, lost_at) {
                (false, None) => lost_at = Some(time),
                (true, Some(since)) => {
                    let outage = time - since;
                    fix_from =
                        time + (REACQUIRE_BASE + REACQUIRE_PER_OUTAGE * outage).min(REACQUIRE_MAX);
                    reacquire_error = Vec3::new(normal(), normal(), normal()) * REACQUIRE_SIGMA;
                    lost_at = None;
                }
                _ => {}
            }
            let fix = (receivable && time >= fix_from).then(|| {
                let white = Vec3::new(normal(), normal(), 2.0 * normal()) * WHITE_SIGMA;
                let speed = (state.speed + 0.05 * normal()).max(0.0);
                let course_noise = 0.5f64.to_radians() / state.speed.max(1.0);
                GnssFix {
                    position: truth + walk + multipath + reacquire_error + white,
                    satellites: (4.0 + 6.0 * sky.open + 4.0 * (1.0 - sky.blocked))
                        .round()
                        .clamp(4.0, 14.0) as u32,
                    hdop: 0.7 + 3.0 * (1.0 - sky.open).powi(2),
                    speed,
                    course: (state.pose.attitude().heading() + course_noise * normal())
                        .rem_euclid(TAU),
                }
            });
            GnssEpoch { time, truth, fix }
        })
        .collect()
}

/// The epochs as NMEA 0183: a GGA and an RMC sentence per epoch, `\r\n`-terminated, with
/// checksums. Heights are ellipsoidal, written as altitude with a geoid separation of 0.
pub fn to_nmea(epochs: &[GnssEpoch], frame: &LocalFrame, config: &GnssConfig) -> String {
    let mut out = String::new();
    for epoch in epochs {
        let (time, date) = utc_fields(config.start_unix_s, epoch.time);
        let (gga, rmc) = match &epoch.fix {
            Some(fix) => {
                let geodetic = frame.to_geodetic(&fix.position);
                let (lat, lon) = (
                    latitude_field(geodetic.lat_deg()),
                    longitude_field(geodetic.lon_deg()),
                );
                (
                    format!(
                        "GPGGA,{time},{lat},{lon},1,{:02},{:.1},{:.2},M,0.0,M,,",
                        fix.satellites,
                        fix.hdop,
                        printed::signed(geodetic.height, 2)
                    ),
                    format!(
                        "GPRMC,{time},A,{lat},{lon},{:.2},{:.1},{date},,,A",
                        fix.speed * 3600.0 / 1852.0,
                        printed::heading_deg(fix.course, 1)
                    ),
                )
            }
            None => (
                format!("GPGGA,{time},,,,,0,00,,,M,,M,,"),
                format!("GPRMC,{time},V,,,,,,,{date},,,N"),
            ),
        };
        for body in [gga, rmc] {
            let _ = write!(out, "${body}*{:02X}\r\n", checksum(&body));
        }
    }
    out
}

/// XOR of the bytes between `$` and `*`.
fn checksum(body: &str) -> u8 {
    body.bytes().fold(0, |acc, b| acc ^ b)
}

/// `ddmm.mmmmm,N` from degrees.
fn latitude_field(deg: f64) -> String {
    let (whole, minutes) = degrees_minutes(deg.abs());
    format!(
        "{whole:02}{minutes:08.5},{}",
        if deg < 0.0 { 'S' } else { 'N' }
    )
}

/// `dddmm.mmmmm,E` from degrees.
fn longitude_field(deg: f64) -> String {
    let (whole, minutes) = degrees_minutes(deg.abs());
    format!(
        "{whole:03}{minutes:08.5},{}",
        if deg < 0.0 { 'W' } else { 'E' }
    )
}

/// Whole degrees and minutes, with minutes that would print as 60.00000 carried over.
fn degrees_minutes(deg: f64) -> (u32, f64) {
    let mut whole = deg.floor() as u32;
    let mut minutes = ((deg - whole as f64) * 60.0 * 1e5).round() / 1e5;
    if minutes >= 60.0 {
        whole += 1;
        minutes -= 60.0;
    }
    (whole, minutes)
}

/// `hhmmss.ss` and `ddmmyy` for `offset` seconds after `start_unix_s`.
fn utc_fields(start_unix_s: i64, offset: f64) -> (String, String) {
    let centis = start_unix_s * 100 + (offset * 100.0).round() as i64;
    let (days, day_centis) = (centis.div_euclid(8_640_000), centis.rem_euclid(8_640_000));
    let (year, month, day) = civil_from_days(days);
    let seconds = day_centis / 100;
    (
        format!(
            "{:02}{:02}{:02}.{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            day_centis % 100
        ),
        format!("{day:02}{month:02}{:02}", year.rem_euclid(100)),
    )
}

/// The Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::tests::crossroads;
    use crate::route::tests::route_between;
    use crate::route::Route;
    use mapfix_map::{Building, Underground};

    /// A 300 m eastbound drive along the crossroads' east–west street.
    fn eastbound(map: &Map) -> Route {
        route_between(map, (-190.0, -2.0), (190.0, -2.0), 0)
    }

    fn horizontal_errors(epochs: &[GnssEpoch], keep: impl Fn(&GnssEpoch) -> bool) -> Vec<f64> {
        epochs
            .iter()
            .filter(|e| keep(e))
            .filter_map(|e| e.fix.map(|f| (f.position - e.truth).xy().norm()))
            .collect()
    }

    #[test]
    fn open_sky_errors_are_a_metre_or_two() {
        let map = crossroads();
        let route = eastbound(&map);
        let mut all = Vec::new();
        for seed in 0..8 {
            let epochs = simulate(&map, &route, route.duration(), &GnssConfig::default(), seed);
            assert!(
                epochs.iter().all(|e| e.fix.is_some()),
                "a fix at every epoch under open sky"
            );
            all.extend(horizontal_errors(&epochs, |_| true));
        }
        let rms = (all.iter().map(|e| e * e).sum::<f64>() / all.len() as f64).sqrt();
        assert!((0.8..2.5).contains(&rms), "horizontal RMS {rms} m");
    }

    #[test]
    fn street_canyons_bias_fixes_by_metres_to_tens_of_metres() {
        let mut map = crossroads();
        // 40 m façades 8 m from the lane lines on both sides of the street east of the junction.
        for (id, y0, y1) in [("north-block", 11.5, 40.0), ("south-block", -40.0, -11.5)] {
            map.buildings.push(Building {
                id: id.into(),
                footprint: vec![
                    Vec3::new(20.0, y0, 0.0),
                    Vec3::new(180.0, y0, 0.0),
                    Vec3::new(180.0, y1, 0.0),
                    Vec3::new(20.0, y1, 0.0),
                ],
                height: 40.0,
            });
        }
        let route = eastbound(&map);
        let epochs = simulate(&map, &route, route.duration(), &GnssConfig::default(), 5);
        let canyon = horizontal_errors(&epochs, |e| (60.0..160.0).contains(&e.truth.x));
        let open = horizontal_errors(&epochs, |e| e.truth.x < -60.0);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!(!canyon.is_empty() && !open.is_empty());
        assert!(
            (5.0..=30.0).contains(&mean(&canyon)),
            "canyon mean error {} m",
            mean(&canyon)
        );
        assert!(mean(&open) < 3.0, "open mean error {} m", mean(&open));
        let sky = SkyView::at(&map, &Vec3::new(100.0, -1.75, 1.5));
        assert!(
            sky.canyon_axis.y.abs() > 0.9,
            "multipath acts across the street: {:?}",
            sky.canyon_axis
        );
    }

    #[test]
    fn no_fix_underground_and_a_delay_before_the_next() {
        let mut map = crossroads();
        map.underground.push(Underground {
            id: "tunnel".into(),
            level: -1,
            outline: vec![
                Vec3::new(-120.0, -10.0, 0.0),
                Vec3::new(-60.0, -10.0, 0.0),
                Vec3::new(-60.0, 10.0, 0.0),
                Vec3::new(-120.0, 10.0, 0.0),
            ],
            ceiling: 5.0,
        });
        let route = eastbound(&map);
        let epochs = simulate(&map, &route, route.duration(), &GnssConfig::default(), 2);
        let inside = |e: &GnssEpoch| (-120.0..-60.0).contains(&e.truth.x);
        assert!(epochs.iter().filter(|e| inside(e)).count() > 10);
        assert!(epochs.iter().filter(|e| inside(e)).all(|e| e.fix.is_none()));
        let exit = epochs.iter().find(|e| e.truth.x >= -60.0).unwrap().time;
        let first_fix = epochs
            .iter()
            .find(|e| e.time > exit && e.fix.is_some())
            .unwrap()
            .time;
        assert!(
            first_fix - exit >= REACQUIRE_BASE,
            "reacquired after {} s",
            first_fix - exit
        );
        assert!(epochs
            .iter()
            .filter(|e| e.truth.x < -130.0)
            .all(|e| e.fix.is_some()));
    }

    #[test]
    fn nmea_parses_with_valid_checksums_and_reports_outages() {
        let mut map = crossroads();
        map.underground.push(Underground {
            id: "tunnel".into(),
            level: -1,
            outline: vec![
                Vec3::new(0.0, -10.0, 0.0),
                Vec3::new(100.0, -10.0, 0.0),
                Vec3::new(100.0, 10.0, 0.0),
                Vec3::new(0.0, 10.0, 0.0),
            ],
            ceiling: 5.0,
        });
        let route = eastbound(&map);
        let config = GnssConfig {
            rate_hz: 10.0,
            ..GnssConfig::default()
        };
        let epochs = simulate(&map, &route, route.duration(), &config, 9);
        let text = to_nmea(&epochs, &map.frame, &config);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 * epochs.len());
        for (pair, epoch) in lines.chunks(2).zip(&epochs) {
            let underground = map.level_at(&epoch.truth) < 0;
            match nmea::parse_str(pair[0]).unwrap_or_else(|e| panic!("{}: {e:?}", pair[0])) {
                nmea::ParseResult::GGA(gga) => {
                    let valid = gga.fix_type != Some(nmea::sentences::FixType::Invalid);
                    assert_eq!(valid, epoch.fix.is_some());
                    assert_eq!(valid, gga.latitude.is_some());
                    assert!(!(underground && valid), "no fix underground");
                }
                other => panic!("expected GGA, got {other:?}"),
            }
            match nmea::parse_str(pair[1]).unwrap_or_else(|e| panic!("{}: {e:?}", pair[1])) {
                nmea::ParseResult::RMC(rmc) => {
                    assert_eq!(rmc.fix_date.unwrap().to_string(), "2024-06-21");
                    assert_eq!(rmc.lat.is_some(), epoch.fix.is_some());
                }
                other => panic!("expected RMC, got {other:?}"),
            }
        }
        assert!(epochs.iter().any(|e| e.fix.is_none()) && epochs.iter().any(|e| e.fix.is_some()));
        let mut corrupted = text.lines().next().unwrap().to_owned();
        corrupted.replace_range(8..9, "9");
        assert!(
            nmea::parse_str(&corrupted).is_err(),
            "checksums are checked"
        );
    }

    #[test]
    fn utc_fields_follow_the_calendar() {
        assert_eq!(
            utc_fields(1_718_964_000, 0.0),
            ("100000.00".into(), "210624".into())
        );
        assert_eq!(
            utc_fields(1_718_964_000, 50_399.994),
            ("235959.99".into(), "210624".into())
        );
        assert_eq!(
            utc_fields(951_782_400, 86_400.0),
            ("000000.00".into(), "010300".into()),
            "2000 was a leap year"
        );
        assert_eq!(latitude_field(-33.999_999_999), "3400.00000,S");
        assert_eq!(longitude_field(8.5), "00830.00000,E");
    }
}
