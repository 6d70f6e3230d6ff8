//! End-to-end tests of `mapfix detect` and `mapfix detect-eval` with the shipped model on
//! the simulator frames in `fixtures/detector/mini-set` (a seed no training set used).

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

const MODEL: &str = "models/detector.safetensors";
const MINI_SET: &str = "fixtures/detector/mini-set";

fn mapfix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mapfix"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the mapfix binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must fail without a panic and returns its error output.
fn fails(args: &[&str]) -> String {
    let output = mapfix(args);
    let message = stderr(&output);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(!message.contains("panicked"), "{message}");
    message
}

/// Runs a command that must succeed and returns its standard output.
fn succeeds(args: &[&str]) -> String {
    let output = mapfix(args);
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    stdout(&output)
}

/// The labels of one mini-set frame.
fn labels(frame: u64) -> Value {
    let text = std::fs::read_to_string(Path::new(MINI_SET).join("labels.jsonl")).unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|labels| labels["frame"] == frame)
        .unwrap()
}

fn four(value: &Value) -> [f64; 4] {
    [0, 1, 2, 3].map(|i| value[i].as_f64().unwrap())
}

fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let overlap =
        (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) * (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: [f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    overlap / (area(a) + area(b) - overlap)
}

/// A labelled sign over 30 px tall and what `mapfix detect` found for it: the centre error
/// (px) of the detection of its class overlapping it by IoU ≥ 0.5, if there is one.
struct LargeSign {
    centre_error: Option<f64>,
}

/// The large signs of a mini-set frame, looked for in `mapfix detect --json`'s line.
fn large_signs(frame: u64) -> Vec<LargeSign> {
    let image = format!("{MINI_SET}/frames/{frame:06}.jpg");
    let line = succeeds(&["detect", "--json", "--model", MODEL, &image]);
    let found: Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(found["image"], image.as_str());
    assert!(found["millis"].as_f64().unwrap() > 0.0);
    let detections = found["signs"].as_array().unwrap();
    labels(frame)["signs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|sign| {
            let bbox = four(&sign["box"]);
            bbox[3] - bbox[1] > 30.0
        })
        .map(|sign| {
            let bbox = four(&sign["box"]);
            let centre_error = detections
                .iter()
                .find(|d| d["class"] == sign["class"] && iou(four(&d["box"]), bbox) >= 0.5)
                .map(|d| {
                    let at = |i: usize| {
                        d["center"][i].as_f64().unwrap() - sign["center"][i].as_f64().unwrap()
                    };
                    at(0).hypot(at(1))
                });
            LargeSign { centre_error }
        })
        .collect()
}

#[test]
fn a_corrupt_image_is_an_error_naming_the_file_and_the_rest_are_still_done() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.jpg");
    std::fs::write(&garbage, b"this is not a JPEG").unwrap();
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let good = format!("{MINI_SET}/frames/000005.jpg");
    let output = mapfix(&[
        "detect",
        "--model",
        MODEL,
        garbage.to_str().unwrap(),
        &good,
        empty.to_str().unwrap(),
    ]);
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    for bad in [&garbage, &empty] {
        assert!(
            message.contains(&format!("{}: cannot read image", bad.display())),
            "{message}"
        );
    }
    assert!(message.contains("2 of 3 images failed"), "{message}");
    // The readable frame between them was still detected in.
    let printed = stdout(&output);
    assert_eq!(printed.lines().count(), 1, "{printed}");
    assert!(printed.starts_with(&good), "{printed}");
}

#[test]
fn missing_inputs_and_models_are_named() {
    let message = fails(&["detect", "--model", MODEL, "no/such/frame.jpg"]);
    assert!(
        message.contains("no/such/frame.jpg: no such file or folder"),
        "{message}"
    );
    let frames = format!("{MINI_SET}/frames");
    let message = fails(&["detect", "--model", "no/such/model.safetensors", &frames]);
    assert!(message.contains("no/such/model"), "{message}");
}

/// Width and height from a PNG file's header (its IHDR chunk), checking its signature.
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is no PNG",
        path.display()
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[test]
fn draw_writes_a_png_per_image_of_a_folder() {
    let out = tempfile::tempdir().unwrap();
    let frames = format!("{MINI_SET}/frames");
    let lines = succeeds(&[
        "detect",
        "--json",
        "--model",
        MODEL,
        "--draw",
        out.path().to_str().unwrap(),
        &frames,
    ]);
    assert_eq!(lines.lines().count(), 6, "{lines}");
    for frame in 0..6 {
        let picture = out.path().join(format!("{frame:06}.png"));
        assert_eq!(png_size(&picture), (640, 360));
        // A picture with detections drawn on it is not the frame's own pixels.
        assert!(std::fs::metadata(&picture).unwrap().len() > 10_000);
    }
}

/// `detect-eval --json` on `dir` with more arguments; the "metrics" object.
fn metrics(dir: &str, more: &[&str]) -> Value {
    let mut args = vec!["detect-eval", "--json", "--model", MODEL, "--labels", dir];
    args.extend_from_slice(more);
    let report: Value = serde_json::from_str(succeeds(&args).trim()).unwrap();
    report["metrics"].clone()
}

#[test]
fn detect_eval_prints_the_metrics_of_a_labelled_set() {
    let text = succeeds(&["detect-eval", "--model", MODEL, "--labels", MINI_SET]);
    for expected in [
        "6 images (simulated frames)",
        "signs: 4 labelled, 10 don't-care",
        "precision",
        "AP@0.5",
        "median centre error",
        "lanes: accuracy",
        "ego_left",
    ] {
        assert!(text.contains(expected), "no `{expected}` in\n{text}");
    }
    let metrics = metrics(MINI_SET, &[]);
    assert_eq!(metrics["images"], 6);
    let signs = &metrics["signs"];
    // Required: 13 (26 px, 56 % visible), 11 (15 px), 29 (10.3 px), 3 (34 px); the other
    // ten are under 10 px tall in these 640-wide frames, under 25 % visible, or (20, 61 px
    // tall) cut by the right edge with its centre 13 px off the picture.
    assert_eq!(signs["labels"], 4);
    assert_eq!(signs["dont_care"], 10);
    let found = signs["true_positives"].as_u64().unwrap();
    assert_eq!(signs["misses"].as_u64().unwrap(), 4 - found);
    for figure in ["precision", "recall", "ap50", "class_accuracy"] {
        let value = signs[figure].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&value), "{figure} {value}");
    }
    let lanes = &metrics["lanes"];
    let points = lanes["points"].as_u64().unwrap();
    assert!(points > 100, "{lanes}");
    let accuracy = lanes["accurate_points"].as_u64().unwrap() as f64 / points as f64;
    assert_eq!(lanes["accuracy"].as_f64().unwrap(), accuracy);
    assert_eq!(lanes["slots"].as_array().unwrap().len(), 4);
}

#[test]
fn detect_eval_scores_gtsdb_scenes_on_the_held_back_split() {
    // Two frames as GTSDB scenes: 00041 is held back from training, 00003 is not.
    let dir = tempfile::tempdir().unwrap();
    let mut gt = String::new();
    for (frame, number) in [(5u64, 41), (4, 3)] {
        std::fs::copy(
            format!("{MINI_SET}/frames/{frame:06}.jpg"),
            dir.path().join(format!("{number:05}.jpg")),
        )
        .unwrap();
        for sign in labels(frame)["signs"].as_array().unwrap() {
            let [l, t, r, b] = four(&sign["box"]);
            if b - t > 30.0 {
                gt += &format!("{number:05}.ppm;{l};{t};{r};{b};{}\n", sign["class"]);
            }
        }
    }
    std::fs::write(dir.path().join("gt.txt"), gt).unwrap();
    let dir = dir.path().to_str().unwrap();
    let held_back = metrics(dir, &[]);
    assert_eq!(held_back["images"], 1);
    assert_eq!(held_back["signs"]["labels"], 1);
    // Scored as `mapfix detect` finds it (both at the card's threshold).
    let found = large_signs(5)
        .iter()
        .filter(|sign| sign.centre_error.is_some())
        .count();
    assert_eq!(held_back["signs"]["true_positives"], found);
    // GTSDB has no lane labels: no lane figures rather than zeros.
    assert_eq!(held_back["lanes"], Value::Null);
    assert_eq!(metrics(dir, &["--split", "all"])["images"], 2);
    let text = succeeds(&["detect-eval", "--model", MODEL, "--labels", dir]);
    assert!(text.contains("held-back split"), "{text}");
    assert!(text.contains("no lane labels"), "{text}");
}

#[test]
fn detect_eval_reads_a_simulated_video_drive() {
    let dir = tempfile::tempdir().unwrap();
    let drive = dir.path().join("drive");
    let drive = drive.to_str().unwrap();
    succeeds(&[
        "simulate",
        "--map",
        "maps/demo-town.geojson",
        "--seconds",
        "1",
        "--fps",
        "3",
        "--width",
        "640",
        "--height",
        "360",
        "--seed",
        "3",
        "--out",
        drive,
    ]);
    assert!(Path::new(drive).join("video.mp4").is_file());
    let report: Value = serde_json::from_str(
        succeeds(&["detect-eval", "--json", "--model", MODEL, "--labels", drive]).trim(),
    )
    .unwrap();
    assert_eq!(report["kind"], "simulated video");
    assert_eq!(report["metrics"]["images"], 3);
    assert!(report["metrics"]["lanes"]["points"].as_u64().unwrap() > 0);
}

#[test]
fn detect_eval_refuses_what_it_cannot_score() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().to_str().unwrap();
    let eval = |labels: &str, more: &[&str]| {
        let mut args = vec!["detect-eval", "--model", MODEL, "--labels", labels];
        args.extend_from_slice(more);
        fails(&args)
    };
    assert!(eval(empty, &[]).contains("neither gt.txt"));
    assert!(eval(MINI_SET, &["--split", "all"]).contains("is a simulated set"));
    // A label line for a frame with no picture: the folder and the frame are named.
    std::fs::write(
        dir.path().join("labels.jsonl"),
        "{\"frame\":0}\n{\"frame\":7}\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("frames")).unwrap();
    std::fs::copy(
        format!("{MINI_SET}/frames/000000.jpg"),
        dir.path().join("frames/000000.jpg"),
    )
    .unwrap();
    let message = eval(empty, &[]);
    assert!(
        message.contains(&format!("{empty}/frames: no picture of frame 7")),
        "{message}"
    );
}

/// `mapfix train-classifier` end to end on the fixture: a copy of the shipped model gains
/// `sign_classifier.*` and a card section, and `detect-eval` runs it; the shipped model is
/// not touched; a missing data folder is named.
#[test]
fn train_classifier_adds_a_classifier_to_a_copy_of_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("detector.safetensors");
    let out_text = out.to_str().unwrap();
    let shipped_card_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/detector.json");
    let shipped_card = std::fs::read_to_string(&shipped_card_path).unwrap();
    let common = [
        "train-classifier",
        "--model",
        MODEL,
        "--val",
        MINI_SET,
        "--out",
        out_text,
        "--epochs",
        "1",
        "--copies",
        "2",
        "--negatives",
        "2",
    ];
    let missing = dir.path().join("no-such-set");
    let mut args = common.to_vec();
    args.extend(["--data", missing.to_str().unwrap()]);
    let message = fails(&args);
    assert!(message.contains("no-such-set"), "{message}");

    let mut args = common.to_vec();
    args.extend(["--data", MINI_SET]);
    succeeds(&args);
    let card: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("detector.json")).unwrap())
            .unwrap();
    let classifier = &card["classifier"];
    assert_eq!(classifier["epochs"].as_array().unwrap().len(), 1);
    assert!(classifier["training_crops"].as_u64().unwrap() > 0);
    let reproduce = classifier["reproduce"].as_array().unwrap();
    let command = reproduce.last().unwrap().as_str().unwrap();
    assert!(command.contains("train-classifier"), "{command}");
    assert!(card["thresholds"]["sign_candidate_score"].is_number());
    assert!(card["training"].is_object(), "the heads' record is kept");
    assert_eq!(
        std::fs::read_to_string(&shipped_card_path).unwrap(),
        shipped_card,
        "the model the classifier was added to is unchanged"
    );
    let report = succeeds(&[
        "detect-eval",
        "--model",
        out_text,
        "--labels",
        MINI_SET,
        "--json",
    ]);
    let report: Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["metrics"]["images"], 6);
}
