//! The outputs are read back by `mapfix eval`'s readers (and GeoJSON by the `geojson`
//! crate), after a whole run and after every frame of a run that never finishes.

use super::*;
use crate::record::{Fix, GnssStatus, Sigma};
use mapfix_core::{FixSource, Geodetic, LocalFrame, Vec3};
use mapfix_eval::Location;

const FPS: f64 = 15.0;
/// 2024-06-21 10:00:00 UTC.
const UTC_START: f64 = 1_718_964_000.0;

fn origin() -> LocalFrame {
    LocalFrame::new(Geodetic::from_degrees(-33.9, -70.6, 500.0))
}

/// Frame `i` of a drive north-east at 10 m/s: frames 10–14 have no fix, 15–19 are dead
/// reckoned, the rest cycle through vision, fused and GNSS fixes.
fn record(i: u64, utc: bool) -> PositionRecord {
    let time_s = i as f64 / FPS;
    let local = Vec3::new(7.0 * time_s, 7.0 * time_s, 0.1);
    let source = match i {
        10..=14 => return PositionRecord::no_fix(i, time_s, utc.then_some(UTC_START + time_s)),
        15..=19 => FixSource::DeadReckoning,
        _ => [FixSource::Vision, FixSource::Fused, FixSource::Gnss][i as usize % 3],
    };
    PositionRecord {
        frame: i,
        time_s,
        utc_s: utc.then_some(UTC_START + time_s),
        fix: Some(Fix {
            source,
            position: origin().to_geodetic(&local),
            local,
            heading: 45f64.to_radians(),
            speed: Some(10.0),
            sigma: Sigma {
                east: 0.1 + 0.01 * i as f64,
                north: 0.2,
                up: 0.3,
                east_north_correlation: 0.1,
                heading: Some(0.005),
            },
            landmarks: 3,
        }),
        gnss: GnssStatus::Used,
    }
}

const FRAMES: u64 = 40;

fn write_all(dir: &Path, utc: bool) -> Vec<PositionRecord> {
    let records: Vec<_> = (0..FRAMES).map(|i| record(i, utc)).collect();
    let mut outputs = TrackOutputs::create(dir).unwrap();
    for r in &records {
        outputs.write(r).unwrap();
    }
    outputs.finish().unwrap();
    records
}

/// The sample's position in the test's ENU frame.
fn local(location: &Location) -> Vec3 {
    match location {
        Location::Geodetic { position, .. } => origin().to_enu(position),
        Location::Local(v) => *v,
    }
}

#[test]
fn eval_reads_back_the_csv_row_for_row() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_all(dir.path(), false);
    let track = mapfix_eval::read_track(&dir.path().join("positions.csv")).unwrap();
    assert_eq!(track.samples.len(), records.len());
    for (sample, record) in track.samples.iter().zip(&records) {
        assert!((sample.time - record.time_s).abs() < 1e-6);
        assert_eq!(sample.source.to_string(), record.source_name());
        match record.fix {
            None => assert!(sample.position.is_none()),
            Some(fix) => {
                let error = local(sample.position.as_ref().unwrap()) - fix.local;
                assert!(error.norm() < 1e-3, "frame {}: {error}", record.frame);
                assert!((sample.heading.unwrap() - fix.heading).abs() < 1e-5);
                let [east, north] = sample.sigma.unwrap();
                // Rounded up to 0.1 mm, up to float noise.
                for (read, written) in [(east, fix.sigma.east), (north, fix.sigma.north)] {
                    assert!(
                        (-1e-9..1e-4).contains(&(read - written)),
                        "{read} for {written}"
                    );
                }
            }
        }
    }
    let text = std::fs::read_to_string(dir.path().join("positions.csv")).unwrap();
    assert_eq!(text.lines().next().unwrap(), CSV_HEADER);
    assert_eq!(
        text.lines().nth(11).unwrap(),
        "10,0.666667,,,,,,,,,,,none,0"
    );
}

#[test]
fn eval_reads_back_nmea_gpx_and_tum() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_all(dir.path(), true);
    let fixes: Vec<_> = records.iter().filter(|r| r.fix.is_some()).collect();

    // NMEA: an epoch per frame, times in Unix seconds from RMC's date.
    let nmea = mapfix_eval::read_track(&dir.path().join("positions.nmea")).unwrap();
    assert_eq!(nmea.samples.len(), records.len());
    for (sample, record) in nmea.samples.iter().zip(&records) {
        assert!((sample.time - record.utc_s.unwrap()).abs() < 0.006);
        let expected = match record.fix.map(|f| f.source) {
            None => "none",
            Some(FixSource::DeadReckoning) => "dead_reckoning",
            // NMEA cannot tell vision from GNSS: both are GNSS to its readers.
            Some(_) => "gnss",
        };
        assert_eq!(
            sample.source.to_string(),
            expected,
            "frame {}",
            record.frame
        );
        if let Some(fix) = record.fix {
            let error = local(sample.position.as_ref().unwrap()) - fix.local;
            assert!(error.norm() < 0.01, "frame {}: {error}", record.frame);
        }
    }

    // GPX and TUM: fixes only.
    for (name, time_of) in [
        (
            "positions.gpx",
            (|r: &PositionRecord| r.utc_s.unwrap()) as fn(&PositionRecord) -> f64,
        ),
        ("positions.tum", |r: &PositionRecord| r.time_s),
    ] {
        let track = mapfix_eval::read_track(&dir.path().join(name)).unwrap();
        assert_eq!(track.samples.len(), fixes.len(), "{name}");
        for (sample, record) in track.samples.iter().zip(&fixes) {
            let fix = record.fix.unwrap();
            assert!((sample.time - time_of(record)).abs() < 1e-3, "{name}");
            let error = local(sample.position.as_ref().unwrap()) - fix.local;
            assert!(
                error.norm() < 1e-3,
                "{name} frame {}: {error}",
                record.frame
            );
        }
    }
    let tum = mapfix_eval::read_track(&dir.path().join("positions.tum")).unwrap();
    assert!((tum.samples[0].heading.unwrap() - 45f64.to_radians()).abs() < 1e-6);
    // The gap of frames 10–14 splits the GPX track into two segments.
    let gpx = std::fs::read_to_string(dir.path().join("positions.gpx")).unwrap();
    assert_eq!(gpx.matches("<trkseg>").count(), 2);
}

#[test]
fn geojson_has_a_point_per_fix_and_the_track_line() {
    let dir = tempfile::tempdir().unwrap();
    let records = write_all(dir.path(), true);
    let text = std::fs::read_to_string(dir.path().join("positions.geojson")).unwrap();
    let ::geojson::GeoJson::FeatureCollection(collection) = text.parse().unwrap() else {
        panic!("not a FeatureCollection")
    };
    let fixes: Vec<_> = records.iter().filter(|r| r.fix.is_some()).collect();
    assert_eq!(collection.features.len(), fixes.len() + 1);
    let first = &collection.features[0];
    assert_eq!(first.property("source").unwrap(), "vision");
    assert_eq!(first.property("utc").unwrap(), "2024-06-21T10:00:00.000Z");
    let sigma = fixes[0].fix.unwrap().sigma;
    let accuracy = first.property("accuracy_m").unwrap().as_f64().unwrap();
    assert!((accuracy - sigma.horizontal_radius(0.68)).abs() < 1e-4);
    let line = collection.features.last().unwrap();
    let Some(::geojson::Value::LineString(points)) = line.geometry.as_ref().map(|g| &g.value)
    else {
        panic!("the last feature is not the track line")
    };
    assert_eq!(points.len(), fixes.len());
    let last = fixes.last().unwrap().fix.unwrap().position;
    assert!((points.last().unwrap()[1] - last.lat_deg()).abs() < 1e-9);
}

#[test]
fn every_output_is_valid_after_every_frame_of_an_unfinished_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = TrackOutputs::create(dir.path()).unwrap();
    for i in 0..FRAMES {
        outputs.write(&record(i, true)).unwrap();
        let geojson = std::fs::read_to_string(dir.path().join("positions.geojson")).unwrap();
        let parsed: ::geojson::GeoJson = geojson
            .parse()
            .unwrap_or_else(|e| panic!("after frame {i}: {e}\n{geojson}"));
        let ::geojson::GeoJson::FeatureCollection(collection) = parsed else {
            panic!()
        };
        assert_eq!(
            collection.features.len(),
            (0..=i).filter(|&k| record(k, true).fix.is_some()).count()
        );
        for name in [
            "positions.csv",
            "positions.nmea",
            "positions.gpx",
            "positions.tum",
        ] {
            mapfix_eval::read_track(&dir.path().join(name))
                .unwrap_or_else(|e| panic!("{name} after frame {i}: {e}"));
        }
    }
    // Dropped without finish, as when the pipeline fails: the track line is still added.
    drop(outputs);
    let text = std::fs::read_to_string(dir.path().join("positions.geojson")).unwrap();
    assert!(text.parse::<::geojson::GeoJson>().is_ok());
    assert!(text.contains("\"LineString\""));
}

#[test]
fn a_gpx_track_that_ends_in_a_gap_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = TrackOutputs::create(dir.path()).unwrap();
    for i in 0..12 {
        outputs.write(&record(i, true)).unwrap();
    }
    let gpx = std::fs::read_to_string(dir.path().join("positions.gpx")).unwrap();
    assert!(
        gpx.ends_with("</trkpt>\n</trkseg>\n</trk>\n</gpx>\n"),
        "{gpx}"
    );
    assert_eq!(gpx.matches("</trkseg>").count(), 1);
    assert_eq!(
        mapfix_eval::read_track(&dir.path().join("positions.gpx"))
            .unwrap()
            .samples
            .len(),
        10
    );
}

#[test]
fn bad_records_are_refused_naming_the_frame() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = TrackOutputs::create(dir.path()).unwrap();
    outputs.write(&record(5, false)).unwrap();
    let message =
        |r: &PositionRecord, outputs: &mut TrackOutputs| outputs.write(r).unwrap_err().to_string();
    assert_eq!(
        message(&record(5, false), &mut outputs),
        "frame 5: frame 5 at 0.3333333333333333 s does not come after frame 5 at 0.3333333333333333 s"
    );
    let mut nan = record(6, false);
    nan.fix.as_mut().unwrap().heading = f64::NAN;
    assert_eq!(message(&nan, &mut outputs), "frame 6: heading is NaN");
    let mut exact = record(6, false);
    exact.fix.as_mut().unwrap().sigma.north = 0.0;
    assert!(message(&exact, &mut outputs).contains("must be positive"));
    // Nothing of the refused records reached the files.
    let csv = std::fs::read_to_string(dir.path().join("positions.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2);
}

#[test]
fn a_missing_folder_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let error = TrackOutputs::create(&missing).err().unwrap();
    assert_eq!(
        error.to_string(),
        format!("cannot write {}", missing.join("positions.csv").display())
    );
}

#[test]
fn compass_degrees_never_reach_360() {
    assert_eq!(compass_degrees(-1e-9, 2), "0.00");
    assert_eq!(compass_degrees(359.999f64.to_radians(), 2), "0.00");
    assert_eq!(compass_degrees(-90f64.to_radians(), 4), "270.0000");
    assert_eq!(fixed(-0.0001, 2), "0.00");
}
