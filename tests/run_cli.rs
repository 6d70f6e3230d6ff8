//! End-to-end tests of `mapfix run`: the real binary on the shipped demo drive, map and
//! model.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn run(inputs: &[&Path], out: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mapfix"))
        .arg("run")
        .args(inputs)
        .arg("--map")
        .arg(repo("maps/demo-town.geojson"))
        .arg("--model")
        .arg(repo("models/detector.safetensors"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("the mapfix binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `positions.csv` as rows of named fields.
fn positions(dir: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let path = dir.join("positions.csv");
    let mut reader =
        csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    reader
        .records()
        .map(|row| {
            let row = row.expect("every row of positions.csv is complete");
            header
                .iter()
                .cloned()
                .zip(row.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn number(row: &std::collections::HashMap<String, String>, key: &str) -> f64 {
    row[key]
        .parse()
        .unwrap_or_else(|e| panic!("{key} = {:?}: {e}", row[key]))
}

/// The demo drive's files copied into `dir` (so that a test can change one of them).
fn demo_drive_copy(dir: &Path) -> PathBuf {
    let drive = dir.join("drive");
    std::fs::create_dir_all(&drive).unwrap();
    for name in [
        "video.mp4",
        "camera.toml",
        "gnss.nmea",
        "truth.csv",
        "sim.json",
    ] {
        std::fs::copy(repo("fixtures/demo-drive").join(name), drive.join(name)).unwrap();
    }
    drive
}

#[test]
fn the_demo_drive_gets_a_row_per_frame_and_lane_level_positions() {
    let out = tempfile::tempdir().unwrap();
    let output = run(&[&repo("fixtures/demo-drive")], out.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = positions(&out.path().join("demo-drive"));
    let truth = positions_of_truth();
    assert_eq!(rows.len(), truth.len(), "a row for every frame");
    let mut errors: Vec<f64> = rows
        .iter()
        .zip(&truth)
        .filter(|(row, _)| row["source"] != "none")
        .map(|(row, (east, north))| {
            (number(row, "east_m") - east).hypot(number(row, "north_m") - north)
        })
        .collect();
    assert!(
        errors.len() as f64 >= 0.9 * rows.len() as f64,
        "{} of {} frames have a fix",
        errors.len(),
        rows.len()
    );
    errors.sort_by(f64::total_cmp);
    let median = errors[errors.len() / 2];
    assert!(median < 0.5, "median horizontal error {median:.3} m");
    assert!(
        rows.iter()
            .any(|row| row["source"] == "vision" || row["source"] == "fused"),
        "the camera contributes"
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(
        summary.contains("lateral median"),
        "the evaluation's errors are printed:\n{summary}"
    );
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("demo-drive/run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["frames"], rows.len());
    assert_eq!(report["complete"], true);
    // By default the detector looks at 5 frames a second: every third of the 15 fps drive.
    assert_eq!(report["settings"]["detect"]["rate_hz"], 5.0);
    assert_eq!(report["settings"]["road_odometry"], true);
    assert_eq!(report["detect_every"], 3);
    assert_eq!(report["detected_frames"], 100);
}

#[test]
fn run_json_records_which_frames_the_detector_looked_at() {
    let out = tempfile::tempdir().unwrap();
    let drive = repo("fixtures/demo-drive");
    let output = run(&[&drive], out.path(), &["--detect-every", "100"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("demo-drive/run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["settings"]["detect"]["every"], 100);
    assert_eq!(report["detect_every"], 100);
    // Frames 0, 100 and 200; the others are the tracker's predictions, a row each.
    assert_eq!(report["detected_frames"], 3);
    assert_eq!(positions(&out.path().join("demo-drive")).len(), 300);

    for (flag, value, message) in [
        ("--detect-every", "0", "--detect-every must be at least 1"),
        (
            "--detect-rate",
            "0",
            "--detect-rate must be a positive number",
        ),
    ] {
        let output = run(&[&drive], &out.path().join("bad"), &[flag, value]);
        assert!(!output.status.success());
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
    }
}

/// East and north of every truth row.
fn positions_of_truth() -> Vec<(f64, f64)> {
    let mut reader = csv::Reader::from_path(repo("fixtures/demo-drive/truth.csv")).unwrap();
    reader
        .deserialize::<std::collections::HashMap<String, String>>()
        .map(|row| {
            let row = row.unwrap();
            (number(&row, "east_m"), number(&row, "north_m"))
        })
        .collect()
}

#[test]
fn gnss_alone_and_the_camera_alone_both_give_tracks() {
    let out = tempfile::tempdir().unwrap();
    let drive = repo("fixtures/demo-drive");
    let output = run(&[&drive], &out.path().join("gnss"), &["--no-vision"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = positions(&out.path().join("gnss/demo-drive"));
    assert!(rows.iter().any(|row| row["source"] == "gnss"));
    assert!(rows
        .iter()
        .all(|row| row["source"] != "vision" && row["source"] != "fused"));
    // Underground there is no GNSS: the track carries on by dead reckoning.
    assert!(rows.iter().any(|row| row["source"] == "dead_reckoning"));
    // Without the camera there is no road odometry either.
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("gnss/demo-drive/run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["settings"]["road_odometry"], false);

    // Without GNSS the track must start from the camera alone (a global search over the
    // map's signs); every frame still gets its row, and no fix may claim GNSS.
    let output = run(&[&drive], &out.path().join("camera"), &["--no-gnss"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = positions(&out.path().join("camera/demo-drive"));
    assert_eq!(rows.len(), 300);
    assert!(rows
        .iter()
        .all(|row| row["source"] != "gnss" && row["source"] != "fused"));
}

#[test]
fn a_cut_off_video_keeps_the_frames_before_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let drive = demo_drive_copy(dir.path());
    let video = drive.join("video.mp4");
    let bytes = std::fs::read(&video).unwrap();
    std::fs::write(&video, &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.path().join("out");
    let output = run(&[&drive], &out, &["--no-vision"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("video.mp4") && message.contains("cut off"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
    let rows = positions(&out.join("drive"));
    assert!(
        rows.len() > 10 && rows.len() < 300,
        "{} frames before the cut",
        rows.len()
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("drive/run.json")).unwrap())
            .unwrap();
    assert_eq!(report["complete"], false);
    assert_eq!(report["frames"], rows.len());
    let geojson: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("drive/positions.geojson")).unwrap(),
    )
    .expect("the GeoJSON is whole");
    assert_eq!(geojson["type"], "FeatureCollection");
}

#[test]
fn an_unknown_camera_key_and_a_map_without_signs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let drive = demo_drive_copy(dir.path());
    let camera = drive.join("camera.toml");
    let text = std::fs::read_to_string(&camera).unwrap();
    std::fs::write(&camera, text.replace("fx = ", "focal_x = ")).unwrap();
    let output = run(&[&drive], &dir.path().join("out"), &["--no-vision"]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("camera.toml") && message.contains("focal_x"),
        "{message}"
    );

    let drive = repo("fixtures/demo-drive");
    let map = dir.path().join("lines-only.geojson");
    std::fs::write(
        &map,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"kind":"lane_line","style":"solid","color":"white"},"geometry":{"type":"LineString","coordinates":[[8.4,49.0,115.0],[8.401,49.0,115.0]]}}]}"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mapfix"))
        .args(["run", "--no-vision", "--map"])
        .arg(&map)
        .arg("--out")
        .arg(dir.path().join("out2"))
        .arg(&drive)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("lines-only.geojson") && message.contains("no signs"),
        "{message}"
    );
}
