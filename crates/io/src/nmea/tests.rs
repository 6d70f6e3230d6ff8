//! Every sentence is parsed back by the `nmea` crate (which checks the checksum) and must
//! give the values written, at the equator, the date line and in all four hemispheres.

use super::*;
use crate::record::{Fix, GnssStatus, Sigma};
use chrono::{Datelike, NaiveDate, Timelike};
use mapfix_core::{FixSource, Geodetic, Vec3};
use nmea::sentences::rmc::RmcStatusOfFix;
use nmea::sentences::{FaaMode, FixType};
use nmea::ParseResult;
use proptest::prelude::*;

/// 2024-06-21 10:00:00 UTC, the demo drive's GNSS start.
const UTC_START: f64 = 1_718_964_000.0;

fn record(lat_deg: f64, lon_deg: f64, source: FixSource) -> PositionRecord {
    PositionRecord {
        frame: 7,
        time_s: 12.34,
        utc_s: Some(UTC_START + 12.34),
        fix: Some(Fix {
            source,
            position: Geodetic::from_degrees(lat_deg, lon_deg, -12.5),
            local: Vec3::new(1.0, 2.0, 3.0),
            heading: 271.25f64.to_radians(),
            speed: Some(13.5),
            sigma: Sigma {
                east: 0.3,
                north: 0.2,
                up: 0.5,
                east_north_correlation: 0.4,
                heading: Some(0.01),
            },
            landmarks: 4,
        }),
        gnss: GnssStatus::Used,
    }
}

fn parse(sentence: &str) -> ParseResult {
    assert!(
        sentence.len() + 2 <= 82,
        "{sentence} is longer than NMEA's 82 characters"
    );
    nmea::parse_str(sentence).unwrap_or_else(|e| panic!("{sentence}: {e:?}"))
}

fn seconds_of_day(time: chrono::NaiveTime) -> f64 {
    f64::from(time.num_seconds_from_midnight()) + f64::from(time.nanosecond()) * 1e-9
}

/// Checks GGA and RMC of a record with a fix against its values.
fn check_position_sentences(r: &PositionRecord) {
    let fix = r.fix.unwrap();
    let lon_deg = (fix.position.lon_deg() + 180.0).rem_euclid(360.0) - 180.0;
    let ParseResult::GGA(gga) = parse(&gga(r)) else {
        panic!("not GGA")
    };
    assert!((gga.latitude.unwrap() - fix.position.lat_deg()).abs() < 1e-7);
    assert!((gga.longitude.unwrap() - lon_deg).abs() < 1e-7);
    let height = gga.altitude.unwrap() + gga.geoid_separation.unwrap();
    assert!((f64::from(height) - fix.position.height).abs() < 0.006);
    assert!((f64::from(gga.hdop.unwrap()) - hdop(r).unwrap()).abs() < 0.006);
    assert!(
        (seconds_of_day(gga.fix_time.unwrap()) - r.clock_s().rem_euclid(86_400.0)).abs() < 0.006
    );
    let ParseResult::RMC(rmc) = parse(&rmc(r)) else {
        panic!("not RMC")
    };
    assert_eq!(rmc.status_of_fix, RmcStatusOfFix::Autonomous);
    assert!((rmc.lat.unwrap() - fix.position.lat_deg()).abs() < 1e-7);
    assert!((rmc.lon.unwrap() - lon_deg).abs() < 1e-7);
    let course = f64::from(rmc.true_course.unwrap()).to_radians();
    assert!(mapfix_core::pose::wrap_angle(course - fix.heading).abs() < 1e-3);
    let knots = f64::from(rmc.speed_over_ground.unwrap());
    assert!((knots / KNOTS_PER_MPS - fix.speed.unwrap()).abs() < 0.005);
}

#[test]
fn gga_and_rmc_round_trip_in_every_hemisphere_at_the_equator_and_the_date_line() {
    let places = [
        (49.0015284, 8.4061722),    // north, east
        (-33.8688197, 151.2092955), // south, east
        (40.7127753, -74.0059728),  // north, west
        (-34.6036844, -58.3815591), // south, west
        (0.0, 0.0),                 // equator, prime meridian
        (-0.0000001, -0.0000001),   // just south and west of both
        (0.5, 179.9999999),         // just before the date line
        (-16.5, -179.9999999),      // just after it
        (12.0, 180.0),              // on it: written as 180° W
        (89.9999999, 10.0),         // next to the pole: minutes carry into 90°
    ];
    for (lat, lon) in places {
        check_position_sentences(&record(lat, lon, FixSource::Fused));
    }
}

#[test]
fn field_formats_are_those_receivers_write() {
    let r = record(-0.5, -179.5, FixSource::Vision);
    assert_eq!(
        &gga(&r)[..45],
        "$GPGGA,100012.34,0030.000000,S,17930.000000,W"
    );
    let rmc = rmc(&r);
    assert!(rmc.contains(",210624,,,D*"), "{rmc}");
    assert!(rmc.contains(",271.25,"), "{rmc}");
    assert_eq!(hdt(&r).unwrap(), sentence("GPHDT,271.25,T".to_owned()));
    // The checksum of a known receiver sentence.
    assert_eq!(
        sentence("GPGGA,100000.00,4900.09281,N,00824.36963,E,1,08,1.9,116.42,M,0.0,M,,".to_owned()),
        "$GPGGA,100000.00,4900.09281,N,00824.36963,E,1,08,1.9,116.42,M,0.0,M,,*65"
    );
}

#[test]
fn the_source_sets_fix_quality_status_and_mode() {
    let cases = [
        (FixSource::Gnss, FixType::Gps, FaaMode::Autonomous),
        (FixSource::Vision, FixType::DGps, FaaMode::Differential),
        (FixSource::Fused, FixType::DGps, FaaMode::Differential),
        (
            FixSource::DeadReckoning,
            FixType::Estimated,
            FaaMode::Estimated,
        ),
    ];
    for (source, fix_type, mode) in cases {
        let r = record(48.0, 11.0, source);
        let ParseResult::GGA(gga) = parse(&gga(&r)) else {
            panic!()
        };
        assert_eq!(gga.fix_type, Some(fix_type), "{source:?}");
        let ParseResult::RMC(rmc) = parse(&rmc(&r)) else {
            panic!()
        };
        assert_eq!(rmc.faa_mode, Some(mode), "{source:?}");
        let ParseResult::VTG(vtg) = parse(&vtg(&r)) else {
            panic!()
        };
        assert!((f64::from(vtg.true_course.unwrap()) - 271.25).abs() < 1e-3);
        assert!((f64::from(vtg.speed_over_ground.unwrap()) / KNOTS_PER_MPS - 13.5).abs() < 0.005);
    }
}

#[test]
fn a_frame_without_a_fix_says_so_in_every_sentence() {
    let r = PositionRecord::no_fix(3, 0.2, Some(UTC_START + 0.2));
    let mut text = String::new();
    write_epoch(&r, &mut text);
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 3, "GGA, RMC and VTG only: {text}");
    let ParseResult::GGA(gga) = parse(lines[0]) else {
        panic!()
    };
    assert_eq!(gga.fix_type, Some(FixType::Invalid));
    assert_eq!((gga.latitude, gga.longitude), (None, None));
    let ParseResult::RMC(rmc) = parse(lines[1]) else {
        panic!()
    };
    assert_eq!(rmc.status_of_fix, RmcStatusOfFix::Invalid);
    assert_eq!(rmc.faa_mode, Some(FaaMode::DataNotValid));
    assert_eq!(rmc.fix_date, NaiveDate::from_ymd_opt(2024, 6, 21));
    let ParseResult::VTG(vtg) = parse(lines[2]) else {
        panic!()
    };
    assert_eq!((vtg.true_course, vtg.speed_over_ground), (None, None));
    assert_eq!((gst(&r), hdt(&r), hdop(&r)), (None, None, None));
}

#[test]
fn gst_carries_the_one_sigma_ellipse_and_axes() {
    let r = record(49.0, 8.4, FixSource::Fused);
    let sigma = r.fix.unwrap().sigma;
    let ellipse = sigma.ellipse();
    let ParseResult::GST(gst) = parse(&gst(&r).unwrap()) else {
        panic!()
    };
    assert_eq!(gst.rms_sd, None);
    let close = |field: Option<f32>, value: f64| (f64::from(field.unwrap()) - value).abs() < 6e-4;
    assert!(close(gst.ellipse_semi_major_sd, ellipse.semi_major));
    assert!(close(gst.ellipse_semi_minor_sd, ellipse.semi_minor));
    assert!(
        (f64::from(gst.err_ellipse_orientation.unwrap()) - ellipse.orientation.to_degrees()).abs()
            < 0.06
    );
    assert!(close(gst.lat_sd, sigma.north));
    assert!(close(gst.long_sd, sigma.east));
    assert!(close(gst.alt_sd, sigma.up));
    assert!((seconds_of_day(gst.time.unwrap()) - 36_012.34).abs() < 0.006);
}

#[test]
fn hdop_gives_gpsd_our_95_percent_radius() {
    for (source, uere) in [
        (FixSource::Vision, 4.75),
        (FixSource::Gnss, 19.0),
        (FixSource::DeadReckoning, 19.0),
    ] {
        let r = record(49.0, 8.4, source);
        let radius = r.fix.unwrap().sigma.horizontal_radius(0.95);
        assert!(
            (hdop(&r).unwrap() * uere - radius).abs() < 1e-9,
            "{source:?}"
        );
    }
}

#[test]
fn reversing_turns_the_course_round_and_speed_stays_positive() {
    let mut r = record(49.0, 8.4, FixSource::Fused);
    r.fix.as_mut().unwrap().speed = Some(-2.0);
    let ParseResult::RMC(rmc) = parse(&rmc(&r)) else {
        panic!()
    };
    assert!((f64::from(rmc.true_course.unwrap()) - 91.25).abs() < 1e-3);
    assert!((f64::from(rmc.speed_over_ground.unwrap()) / KNOTS_PER_MPS - 2.0).abs() < 0.005);
    let ParseResult::VTG(vtg) = parse(&vtg(&r)) else {
        panic!()
    };
    assert!((f64::from(vtg.true_course.unwrap()) - 91.25).abs() < 1e-3);
    assert!(vtg.speed_over_ground.unwrap() > 0.0);
    assert_eq!(hdt(&r).unwrap(), sentence("GPHDT,271.25,T".to_owned()));
}

#[test]
fn without_utc_the_clock_is_time_s_and_the_date_is_empty() {
    let mut r = record(49.0, 8.4, FixSource::Gnss);
    r.utc_s = None;
    r.time_s = 3725.5;
    assert!(gga(&r).starts_with("$GPGGA,010205.50,"));
    let ParseResult::RMC(rmc) = parse(&rmc(&r)) else {
        panic!()
    };
    assert_eq!(rmc.fix_date, None);
}

#[test]
fn a_date_at_new_year_rounds_forward() {
    let mut r = record(49.0, 8.4, FixSource::Gnss);
    // 2023-12-31 23:59:59.996 rounds to 2024-01-01 00:00:00.00.
    r.utc_s = Some(1_704_067_199.996);
    let ParseResult::RMC(rmc) = parse(&rmc(&r)) else {
        panic!()
    };
    let date = rmc.fix_date.unwrap();
    assert_eq!((date.year(), date.month(), date.day()), (2024, 1, 1));
    assert_eq!(seconds_of_day(rmc.fix_time.unwrap()), 0.0);
}

proptest! {
    #[test]
    fn any_fix_round_trips_and_fits_the_sentence_length(
        lat in -89.999f64..89.999, lon in -540.0f64..540.0, height in -500.0f64..9000.0,
        heading in -10.0f64..10.0, speed in 0.0f64..90.0,
        east in 0.001f64..20_000.0, north in 0.001f64..20_000.0, rho in -0.99f64..0.99,
        utc in 0.0f64..4.1e9, source in 0usize..4,
    ) {
        let mut r = record(lat, lon, FixSource::ALL[source]);
        r.utc_s = Some(utc);
        let fix = r.fix.as_mut().unwrap();
        fix.position.height = height;
        fix.heading = heading;
        fix.speed = Some(speed);
        fix.sigma = Sigma { east, north, up: east, east_north_correlation: rho, heading: None };
        check_position_sentences(&r);
        let mut text = String::new();
        write_epoch(&r, &mut text);
        for line in text.split_terminator("\r\n") {
            parse(line);
        }
    }
}
