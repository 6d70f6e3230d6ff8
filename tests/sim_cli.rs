//! End-to-end tests of `mapfix simulate …`: the real binary on the shipped demo town.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mapfix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mapfix"))
        .args(args)
        .output()
        .expect("the mapfix binary runs")
}

fn demo_town() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("maps/demo-town.geojson")
        .display()
        .to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A 2 s drive at 5 frames/s and 160×90 pixels into `out`.
fn drive(out: &Path, seed: &str, extra: &[&str]) -> Output {
    let (out, map) = (out.display().to_string(), demo_town());
    let mut args = vec![
        "simulate",
        "--map",
        &map,
        "--out",
        &out,
        "--seconds",
        "2",
        "--fps",
        "5",
        "--width",
        "160",
        "--height",
        "90",
        "--seed",
        seed,
    ];
    args.extend_from_slice(extra);
    mapfix(&args)
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_drive_folder_has_every_output_and_repeats_for_its_seed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for out in [&a, &b] {
        let output = drive(out, "3", &["--png", "--video", "--conditions", "dusk"]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let truth = read(a.join("truth.csv"));
    let mut rows = truth.lines();
    assert_eq!(
        rows.next(),
        Some("frame,time_s,lat,lon,height_m,heading_deg,east_m,north_m,up_m,roll_deg,pitch_deg,yaw_deg")
    );
    assert_eq!(rows.count(), 10);
    let labels = read(a.join("labels.jsonl"));
    for (k, line) in labels.lines().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["frame"], k);
        assert!(value["signs"].is_array() && value["lanes"].is_array());
    }
    assert_eq!(labels.lines().count(), 10);
    for k in 0..10 {
        assert!(a.join(format!("frames/{k:06}.png")).is_file());
    }
    assert!(std::fs::metadata(a.join("video.mp4")).unwrap().len() > 1000);
    let camera = read(a.join("camera.toml"));
    assert!(
        camera.contains("width = 160") && camera.contains("fps = 5.0"),
        "{camera}"
    );
    let sim: serde_json::Value = serde_json::from_str(&read(a.join("sim.json"))).unwrap();
    assert_eq!(
        (sim["seed"].as_u64(), sim["conditions"].as_str()),
        (Some(3), Some("dusk"))
    );
    for line in read(a.join("gnss.nmea")).lines() {
        let (body, sum) = line
            .strip_prefix('$')
            .and_then(|l| l.split_once('*'))
            .expect("$…*hh");
        let xor = body.bytes().fold(0u8, |acc, b| acc ^ b);
        assert_eq!(format!("{xor:02X}"), sum, "{line}");
    }
    for name in [
        "truth.csv",
        "labels.jsonl",
        "gnss.nmea",
        "video.mp4",
        "frames/000007.png",
    ] {
        assert!(
            std::fs::read(a.join(name)).unwrap() == std::fs::read(b.join(name)).unwrap(),
            "{name} differs for one seed"
        );
    }
}

#[test]
fn video_is_the_default_output() {
    let dir = tempfile::tempdir().unwrap();
    let output = drive(dir.path(), "1", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(dir.path().join("video.mp4").is_file());
    assert!(!dir.path().join("frames").exists());
}

#[test]
fn bad_input_is_reported_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let route = dir.path().join("route.csv");
    std::fs::write(&route, "east_m,north_m\n452,170\n500,north\n").unwrap();
    let route_arg = route.display().to_string();
    let output = drive(&dir.path().join("out"), "1", &["--route", &route_arg]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("route.csv, line 3"),
        "{}",
        stderr(&output)
    );

    let output = drive(&dir.path().join("out"), "1", &["--conditions", "snow"]);
    assert!(
        !output.status.success() && stderr(&output).contains("snow"),
        "{}",
        stderr(&output)
    );

    let odd = dir.path().join("odd").display().to_string();
    let output = mapfix(&[
        "simulate",
        "--map",
        &demo_town(),
        "--out",
        &odd,
        "--seconds",
        "1",
        "--width",
        "161",
        "--height",
        "90",
    ]);
    assert!(
        !output.status.success() && stderr(&output).contains("even"),
        "{}",
        stderr(&output)
    );

    let output = mapfix(&["simulate", "--map", "no/such/map.geojson", "--out", &odd]);
    assert!(
        !output.status.success() && stderr(&output).contains("no/such/map.geojson"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_training_set_has_a_labelled_image_per_frame() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let output = mapfix(&[
        "simulate",
        "dataset",
        "--map",
        &demo_town(),
        "--count",
        "6",
        "--out",
        &out,
        "--width",
        "160",
        "--height",
        "96",
        "--seed",
        "4",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    for k in 0..6 {
        assert!(dir.path().join(format!("frames/{k:06}.jpg")).is_file());
    }
    assert_eq!(read(dir.path().join("labels.jsonl")).lines().count(), 6);
    assert_eq!(read(dir.path().join("truth.csv")).lines().count(), 7);
    let record: serde_json::Value =
        serde_json::from_str(&read(dir.path().join("dataset.json"))).unwrap();
    assert_eq!(
        (record["seed"].as_u64(), record["frames"].as_u64()),
        (Some(4), Some(6))
    );
}
