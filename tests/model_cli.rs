//! End-to-end tests of `mapfix model …`: weight import refuses bad checkpoints clearly,
//! and the shipped backbone classifies a real traffic-sign photo.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn mapfix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mapfix"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the mapfix binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `import-backbone` on `checkpoint` and checks it fails naming the file and leaves
/// no output behind; returns stderr.
fn refused_import(checkpoint: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let output_path = dir.path().join("out.safetensors");
    let output = mapfix(&[
        "model",
        "import-backbone",
        checkpoint.to_str().unwrap(),
        "-o",
        output_path.to_str().unwrap(),
    ]);
    let message = stderr(&output);
    assert!(!output.status.success(), "{message}");
    assert!(message.contains(checkpoint.to_str().unwrap()), "{message}");
    assert!(!message.contains("panicked"), "{message}");
    assert!(!output_path.exists());
    message
}

#[test]
fn import_of_a_missing_checkpoint_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let message = refused_import(&dir.path().join("nowhere.pth"));
    assert!(message.contains("No such file"), "{message}");
}

#[test]
fn import_of_a_file_that_is_no_checkpoint_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.pth");
    std::fs::write(&path, "these are not weights\n").unwrap();
    let message = refused_import(&path);
    assert!(
        message.contains("neither a zip archive nor a legacy torch.save file"),
        "{message}"
    );
}

#[test]
fn import_of_a_cut_off_checkpoint_says_where_it_ends() {
    // The legacy format's magic number, then nothing: cut off before the protocol version.
    let magic = [
        0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.pth");
    std::fs::write(&path, magic).unwrap();
    let message = refused_import(&path);
    assert!(message.contains("protocol version"), "{message}");
}

#[test]
fn classify_calls_a_traffic_sign_a_street_sign() {
    let output = mapfix(&[
        "model",
        "classify",
        "crates/detector/tests/fixtures/pedestrian-warning.jpg",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let line: Value = serde_json::from_slice(&output.stdout).unwrap();
    let top5 = line["top5"].as_array().unwrap();
    assert_eq!(top5.len(), 5);
    // ImageNet class 919 is "street sign".
    assert_eq!(top5[0]["class"], 919, "{line}");
}

#[test]
fn classify_of_a_corrupt_image_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.jpg");
    std::fs::write(&path, [0xff, 0xd8, 0xff, 0x00, 0x01]).unwrap();
    let output = mapfix(&["model", "classify", path.to_str().unwrap()]);
    let message = stderr(&output);
    assert!(!output.status.success());
    assert!(message.contains("broken.jpg"), "{message}");
    assert!(!message.contains("panicked"), "{message}");
}
