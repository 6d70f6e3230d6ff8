use super::read_track;
use crate::track::{Format, Location, SampleSource};
use mapfix_core::FixSource;
use std::path::PathBuf;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn error_of(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, name, text);
    let message = read_track(&path).unwrap_err().to_string();
    assert!(
        message.contains(name),
        "the error names the file: {message}"
    );
    message
}

const POSITIONS_HEADER: &str = "frame,time_s,lat,lon,height_m,east_m,north_m,up_m,heading_deg,sigma_east_m,sigma_north_m,sigma_up_m,source,landmarks";

#[test]
fn reads_positions_csv_with_rows_without_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{POSITIONS_HEADER}\n0,0.0,52.5,13.4,40.0,0,0,0,90.0,0.3,0.4,0.5,vision,5\n1,0.1,,,,,,,,,,,none,0\n2,0.2,52.5,13.4001,,,,,,,,,dead_reckoning,0\n"
    );
    let track = read_track(&write(&dir, "positions.csv", &text)).unwrap();
    assert_eq!(track.format, Format::Csv);
    assert_eq!(track.samples.len(), 3);
    let first = &track.samples[0];
    assert_eq!(
        (first.line, first.source, first.sigma),
        (2, SampleSource::Fix(FixSource::Vision), Some([0.3, 0.4]))
    );
    assert!((first.heading.unwrap() - std::f64::consts::FRAC_PI_2).abs() < 1e-12);
    assert!(matches!(
        first.position,
        Some(Location::Geodetic {
            height_known: true,
            ..
        })
    ));
    assert_eq!(
        (track.samples[1].position, track.samples[1].source),
        (None, SampleSource::NoFix)
    );
    assert!(!track.samples[2].height_known);
}

#[test]
fn reads_simulator_truth_with_attitude() {
    let dir = tempfile::tempdir().unwrap();
    let text = "frame,time_s,lat,lon,height_m,heading_deg,east_m,north_m,up_m,roll_deg,pitch_deg,yaw_deg\n\
                0,0.0,52.5,13.4,40,0,0,0,0,0,0,90\n1,0.1,52.50001,13.4,40,0,0,1.1,0,0,0,90\n";
    let track = read_track(&write(&dir, "truth.csv", text)).unwrap();
    let rotation = track.samples[0].rotation.unwrap();
    // Yaw 90° (heading north): the vehicle's x axis points north.
    assert!((rotation * mapfix_core::Vec3::x() - mapfix_core::Vec3::y()).norm() < 1e-12);
}

#[test]
fn local_csv_without_lat_lon() {
    let dir = tempfile::tempdir().unwrap();
    let track = read_track(&write(
        &dir,
        "local.csv",
        "time_s,east_m,north_m\n0,1,2\n1,3,4\n",
    ))
    .unwrap();
    assert_eq!(
        track.samples[1].position,
        Some(Location::Local(mapfix_core::Vec3::new(3.0, 4.0, 0.0)))
    );
}

#[test]
fn bad_csv_inputs_name_file_and_line() {
    let unknown = error_of("truth.csv", "time_s,lat,lon,speed\n0,1,2,3\n");
    assert!(
        unknown.contains("line 1") && unknown.contains("unknown column 'speed'"),
        "{unknown}"
    );
    let missing = error_of("truth.csv", "lat,lon\n1,2\n");
    assert!(missing.contains("missing column time_s"), "{missing}");
    let no_position = error_of("truth.csv", "time_s,height_m\n0,1\n");
    assert!(
        no_position.contains("missing position columns"),
        "{no_position}"
    );
    let nan = error_of("truth.csv", "time_s,lat,lon\n0,52,13\n1,NaN,13\n");
    assert!(
        nan.contains("line 3") && nan.contains("lat") && nan.contains("finite"),
        "{nan}"
    );
    let text = error_of("truth.csv", "time_s,lat,lon\n0,52,13\n1,north,13\n");
    assert!(
        text.contains("line 3") && text.contains("not a number"),
        "{text}"
    );
    let empty = error_of("truth.csv", "time_s,lat,lon\n");
    assert!(empty.contains("no samples"), "{empty}");
    let backwards = error_of("truth.csv", "time_s,lat,lon\n1,52,13\n0.5,52,13\n");
    assert!(
        backwards.contains("line 3") && backwards.contains("does not come after"),
        "{backwards}"
    );
    let source = error_of("positions.csv", "time_s,lat,lon,source\n0,52,13,lidar\n");
    assert!(
        source.contains("line 2") && source.contains("unknown source 'lidar'"),
        "{source}"
    );
    let short = error_of("positions.csv", "time_s,lat,lon\n0,52\n");
    assert!(short.contains("line 2"), "{short}");
    let fixless = error_of("positions.csv", "time_s,lat,lon,source\n0,,,vision\n");
    assert!(fixless.contains("source=none"), "{fixless}");
}

#[test]
fn reads_tum_and_kitti() {
    let dir = tempfile::tempdir().unwrap();
    // A quarter turn about z: yaw 90°, heading north.
    let half = std::f64::consts::FRAC_1_SQRT_2;
    let tum = format!(
        "# t x y z qx qy qz qw\n1.0 1 2 3 0 0 {half} {half}\n2.0 1 3 3 0 0 {half} {half}\n"
    );
    let track = read_track(&write(&dir, "est.txt", &tum)).unwrap();
    assert_eq!(track.format, Format::Tum);
    assert_eq!(track.samples[0].line, 2);
    assert!(mapfix_core::pose::wrap_angle(track.samples[0].heading.unwrap()).abs() < 1e-12);

    // Identity pose, then one 5 m along the camera's z (forward): north in our frame.
    let kitti = "1 0 0 0 0 1 0 0 0 0 1 0\n1 0 0 0 0 1 0 0 0 0 1 5\n";
    let track = read_track(&write(&dir, "poses.txt", kitti)).unwrap();
    assert_eq!(track.format, Format::Kitti);
    assert_eq!(track.samples[1].time, 1.0);
    assert_eq!(
        track.samples[1].position,
        Some(Location::Local(mapfix_core::Vec3::new(0.0, 5.0, 0.0)))
    );
    assert!(
        mapfix_core::pose::wrap_angle(track.samples[0].heading.unwrap()).abs() < 1e-12,
        "the camera looks north"
    );

    let bad = error_of("bad.txt", "1.0 1 2 3 0 0 0 1\n2.0 1 2 3 0 0 0\n");
    assert!(bad.contains("line 2") && bad.contains("8 numbers"), "{bad}");
    let unknown = error_of("notes.txt", "hello world\n");
    assert!(unknown.contains("unknown track format"), "{unknown}");
}

/// An NMEA sentence with its checksum.
fn nmea(body: &str) -> String {
    let checksum = body.bytes().fold(0u8, |a, b| a ^ b);
    format!("${body}*{checksum:02X}")
}

#[test]
fn reads_nmea_gga_and_rmc_as_one_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        nmea("GPGGA,235959.00,5230.0000,N,01324.0000,E,1,08,0.9,40.0,M,45.0,M,,"),
        nmea("GPRMC,235959.00,A,5230.0000,N,01324.0000,E,0.0,90.0,311224,,,A"),
        nmea("GPGSV,1,1,00"),
        nmea("GPGGA,000000.00,5230.0010,N,01324.0000,E,6,08,0.9,40.0,M,45.0,M,,"),
        nmea("GPGGA,000000.50,,,,,0,00,,,M,,M,,"),
    ];
    let track = read_track(&write(&dir, "gnss.nmea", &(lines.join("\n") + "\n"))).unwrap();
    assert_eq!(track.format, Format::Nmea);
    assert_eq!(track.samples.len(), 3);
    let first = &track.samples[0];
    // 2024-12-31 23:59:59 UTC, from RMC's date and GGA's time.
    assert_eq!(first.time, 1_735_689_599.0);
    assert!((first.heading.unwrap() - std::f64::consts::FRAC_PI_2).abs() < 1e-6);
    match first.position {
        Some(Location::Geodetic {
            position,
            height_known: true,
        }) => {
            assert!(
                (position.lat_deg() - 52.5).abs() < 1e-9 && (position.height - 85.0).abs() < 1e-9
            )
        }
        other => panic!("unexpected position {other:?}"),
    }
    // Past midnight the clock goes on; fix quality 6 is dead reckoning, 0 no fix.
    assert_eq!(track.samples[1].time, 1_735_689_600.0);
    assert_eq!(
        track.samples[1].source,
        SampleSource::Fix(FixSource::DeadReckoning)
    );
    assert_eq!(
        (track.samples[2].source, track.samples[2].position),
        (SampleSource::NoFix, None)
    );

    let corrupt = error_of(
        "bad.nmea",
        "$GPGGA,000000.00,5230.0000,N,01324.0000,E,1,08,0.9,40.0,M,45.0,M,,*00\n",
    );
    assert!(corrupt.contains("line 1"), "{corrupt}");
}

#[test]
fn reads_gpx_track_points() {
    let dir = tempfile::tempdir().unwrap();
    let gpx = r#"<?xml version="1.0"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
<trk><trkseg>
<trkpt lat="52.5" lon="13.4"><ele>41</ele><time>2024-01-01T00:00:00Z</time></trkpt>
<trkpt lat="52.5001" lon="13.4"><time>2024-01-01T00:00:01.5Z</time></trkpt>
</trkseg></trk></gpx>"#;
    let track = read_track(&write(&dir, "drive.gpx", gpx)).unwrap();
    assert_eq!(track.samples.len(), 2);
    assert_eq!(track.samples[0].time, 1_704_067_200.0);
    assert_eq!(track.samples[1].time, 1_704_067_201.5);
    assert!(track.samples[0].height_known && !track.samples[1].height_known);

    let no_time = error_of(
        "x.gpx",
        r#"<gpx version="1.1" creator="t"><trk><trkseg><trkpt lat="1" lon="2"></trkpt></trkseg></trk></gpx>"#,
    );
    assert!(
        no_time.contains("point 1") && no_time.contains("<time>"),
        "{no_time}"
    );
}
