//! `mapfix eval` end to end: the real binary on track files in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LAT0: f64 = 52.5;
const LON0: f64 = 13.4;
const EARTH_RADIUS: f64 = 6_378_137.0;

/// Latitude and longitude of a point `east`, `north` metres from (LAT0, LON0); good to
/// millimetres over the few hundred metres used here.
fn geodetic(east: f64, north: f64) -> (f64, f64) {
    let n = EARTH_RADIUS / (1.0 - 0.00669437999014 * LAT0.to_radians().sin().powi(2)).sqrt();
    let m =
        n * (1.0 - 0.00669437999014) / (1.0 - 0.00669437999014 * LAT0.to_radians().sin().powi(2));
    (
        LAT0 + (north / m).to_degrees(),
        LON0 + (east / (n * LAT0.to_radians().cos())).to_degrees(),
    )
}

/// A truth driving north at 10 m/s for 30 s, at 10 Hz.
fn write_truth(dir: &Path) -> PathBuf {
    let mut text = String::from("time_s,lat,lon,height_m,heading_deg\n");
    for k in 0..=300 {
        let (lat, lon) = geodetic(0.0, k as f64);
        text += &format!("{:.1},{lat:.10},{lon:.10},40.0,0.0\n", k as f64 / 10.0);
    }
    let path = dir.join("truth.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// positions.csv `east`/`north` metres off the truth, times shifted by `-shift` s, with
/// rows 100–149 without a fix.
fn write_positions(dir: &Path, name: &str, east: f64, north: f64, shift: f64) -> PathBuf {
    let mut text = String::from(
        "frame,time_s,lat,lon,height_m,east_m,north_m,up_m,heading_deg,sigma_east_m,sigma_north_m,sigma_up_m,source,landmarks\n",
    );
    for k in 0..=300 {
        let time = k as f64 / 10.0 - shift;
        if (100..150).contains(&k) {
            text += &format!("{k},{time:.1},,,,,,,,,,,none,0\n");
            continue;
        }
        let (lat, lon) = geodetic(east, k as f64 + north);
        let source = if k % 2 == 0 {
            "vision"
        } else {
            "dead_reckoning"
        };
        text += &format!("{k},{time:.1},{lat:.10},{lon:.10},40.0,,,,2.0,0.4,0.4,1.0,{source},3\n");
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn mapfix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mapfix"))
        .arg("eval")
        .args(args)
        .output()
        .unwrap()
}

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    assert!(
        output.status.success(),
        "mapfix eval failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn json_figures_for_a_track_left_of_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let truth = write_truth(dir.path());
    let left = write_positions(dir.path(), "positions.csv", -0.5, 0.0, 0.0);
    let objects = json_lines(&mapfix(&["--truth", s(&truth), s(&left), "--json"]));
    assert_eq!(objects.len(), 1);
    let o = &objects[0];
    let number = |key: &str| {
        o[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing in {o}"))
    };
    assert!((number("lateral_median_m") - 0.5).abs() < 1e-3);
    assert!(
        (number("lateral_bias_m") - 0.5).abs() < 1e-3,
        "left of the truth is positive"
    );
    assert!(number("longitudinal_median_m") < 1e-3);
    assert!((number("horizontal_median_m") - 0.5).abs() < 1e-3);
    assert!((number("horizontal_p95_m") - 0.5).abs() < 1e-3);
    assert!((number("horizontal_rmse_m") - 0.5).abs() < 1e-3);
    assert!((number("ape_rmse_m") - 0.5).abs() < 1e-3);
    assert!((number("heading_median_deg") - 2.0).abs() < 1e-9);
    // 50 of 301 rows have no fix: 5 s of the 30 s truth.
    assert!(
        (number("availability") - 25.0 / 30.0).abs() < 1e-9,
        "{}",
        number("availability")
    );
    // Error 0.5 m against σ 0.4 m: Mahalanobis 1.25 for every fix.
    assert_eq!(number("within_1sigma"), 0.0);
    assert_eq!(number("within_3sigma"), 1.0);
    assert_eq!(o["scored"], 251);
    assert_eq!(o["by_source"]["vision"]["fixes"], 126);
}

#[test]
fn several_estimates_side_by_side_with_clock_offset() {
    let dir = tempfile::tempdir().unwrap();
    let truth = write_truth(dir.path());
    let ahead = write_positions(dir.path(), "ahead.csv", 0.0, 1.0, 0.0);
    // Its clock runs 2 s behind: without --t-offset the first 2 s fall outside the truth.
    let late = write_positions(dir.path(), "late.csv", 0.0, 0.0, 2.0);
    let objects = json_lines(&mapfix(&[
        "--truth",
        s(&truth),
        s(&ahead),
        s(&late),
        "--json",
    ]));
    assert_eq!(objects.len(), 2);
    assert!((objects[0]["longitudinal_median_m"].as_f64().unwrap() - 1.0).abs() < 1e-3);
    assert_eq!(objects[1]["out_of_span"], 20);
    assert!(
        objects[1]["horizontal_median_m"].as_f64().unwrap() > 10.0,
        "a 2 s clock error is 20 m"
    );

    let objects = json_lines(&mapfix(&[
        "--truth",
        s(&truth),
        s(&late),
        "--json",
        "--t-offset",
        "2",
    ]));
    assert!(objects[0]["horizontal_max_m"].as_f64().unwrap() < 1e-3);
    assert_eq!(objects[0]["out_of_span"], 0);

    let table = mapfix(&["--truth", s(&truth), s(&ahead), s(&late)]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains("ahead.csv")
            && text.contains("late.csv")
            && text.contains("longitudinal median"),
        "{text}"
    );
}

#[test]
fn report_and_plots_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let truth = write_truth(dir.path());
    let estimate = write_positions(dir.path(), "positions.csv", 0.3, -0.2, 0.0);
    let report = dir.path().join("report.html");
    let plots = dir.path().join("plots");
    let output = mapfix(&[
        "--truth",
        s(&truth),
        s(&estimate),
        "--report",
        s(&report),
        "--plots",
        s(&plots),
        "--align",
        "origin",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.matches("<svg").count() == 6,
        "map, detail, error over time, lateral/longitudinal, σ, CDF"
    );
    // Self-contained: nothing to fetch, no scripts.
    assert!(!html.contains("src=") && !html.contains("<script") && !html.contains("<link"));
    for stem in [
        "map",
        "map-detail",
        "error-time",
        "lateral-longitudinal",
        "sigma",
        "cdf",
    ] {
        let svg = std::fs::read_to_string(plots.join(format!("{stem}.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{stem}.svg");
        let png = std::fs::read(plots.join(format!("{stem}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{stem}.png");
    }
}

#[test]
fn bad_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let truth = write_truth(dir.path());
    let estimate = write_positions(dir.path(), "positions.csv", 0.0, 0.0, 0.0);
    let failure = |args: &[&str], expected: &[&str]| {
        let output = mapfix(args);
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        for text in expected {
            assert!(stderr.contains(text), "expected '{text}' in: {stderr}");
        }
    };
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "time_s,lat,lon\n").unwrap();
    failure(
        &["--truth", s(&empty), s(&estimate)],
        &["empty.csv", "no samples"],
    );

    let later = write_positions(dir.path(), "later.csv", 0.0, 0.0, -1000.0);
    failure(
        &["--truth", s(&truth), s(&later)],
        &["later.csv", "no overlap in time", "--t-offset"],
    );

    let nan = dir.path().join("nan.csv");
    std::fs::write(&nan, "time_s,lat,lon\n0,52.5,13.4\n0.1,nan,13.4\n").unwrap();
    failure(
        &["--truth", s(&nan), s(&estimate)],
        &["nan.csv", "line 3", "lat"],
    );

    let columns = dir.path().join("columns.csv");
    std::fs::write(&columns, "time_s,lat,lon,speed_mps\n0,52.5,13.4,3\n").unwrap();
    failure(
        &["--truth", s(&truth), s(&columns)],
        &["columns.csv", "line 1", "unknown column 'speed_mps'"],
    );

    failure(
        &["--truth", s(&truth), s(&estimate), "--align", "affine"],
        &["affine"],
    );
    failure(
        &["--truth", s(&truth), s(&estimate), "--max-dt", "0"],
        &["--max-dt"],
    );
    failure(
        &["--truth", s(&dir.path().join("missing.csv")), s(&estimate)],
        &["missing.csv"],
    );
}
