//! End-to-end: `mapfix bench solver --write-problems` and `mapfix solve` on the same file.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn mapfix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mapfix"))
        .args(args)
        .output()
        .expect("run mapfix")
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

fn write_problems(path: &Path, count: usize) {
    let output = mapfix(&[
        "bench",
        "solver",
        "--write-problems",
        path.to_str().unwrap(),
        "--count",
        &count.to_string(),
        "--outliers",
        "0.3",
        "--noise-px",
        "1",
        "--seed",
        "5",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn written_problems_have_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("problems.jsonl");
    write_problems(&path, 20);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    for (id, line) in lines.iter().enumerate() {
        assert_eq!(line["id"], id);
        for key in ["fx", "fy", "cx", "cy", "width", "height"] {
            assert!(line["camera"][key].is_number(), "camera.{key}");
        }
        let pixels = line["pixels"].as_array().unwrap();
        let points = line["points"].as_array().unwrap();
        assert_eq!(pixels.len(), 30);
        assert_eq!(points.len(), 30);
        assert_eq!(pixels[0].as_array().unwrap().len(), 2);
        assert_eq!(points[0].as_array().unwrap().len(), 3);
        assert_eq!(
            line["truth"]["camera_position"].as_array().unwrap().len(),
            3
        );
        let rows = line["truth"]["world_to_camera"].as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.as_array().unwrap().len() == 3));
    }
    // The same seed writes the same file.
    let again = dir.path().join("again.jsonl");
    write_problems(&again, 20);
    assert_eq!(text, std::fs::read_to_string(&again).unwrap());
}

#[test]
fn solve_recovers_the_written_poses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("problems.jsonl");
    write_problems(&path, 40);
    let output = mapfix(&["solve", "--problems", path.to_str().unwrap(), "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 41, "one line per problem and a summary");
    let problems: Vec<Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (line, problem) in lines.iter().zip(&problems) {
        assert_eq!(line["id"], problem["id"]);
        assert_eq!(line["ok"], true);
        assert!(line["inliers"].as_u64().unwrap() >= 21);
        assert!(line["micros"].as_f64().unwrap() > 0.0);
        let position: Vec<f64> = line["camera_position"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let truth: Vec<f64> = problem["truth"]["camera_position"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let error = position
            .iter()
            .zip(&truth)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            error < 0.5,
            "problem {}: position error {error} m",
            line["id"]
        );
        assert_eq!(line["world_to_camera"].as_array().unwrap().len(), 3);
    }
    let summary = &lines[40]["summary"];
    assert_eq!(summary["problems"], 40);
    assert_eq!(summary["with_truth"], 40);
    assert_eq!(summary["success_rate"], 1.0);
}

#[test]
fn solve_names_the_file_and_line_of_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    write_problems(&path, 2);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"id\": 2, \"camera\": {\"fx\": 900}}\n");
    std::fs::write(&path, text).unwrap();
    let output = mapfix(&["solve", "--problems", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.jsonl line 3"), "{stderr}");
    assert!(
        stderr.contains("camera: missing or invalid \"width\""),
        "{stderr}"
    );
}

#[test]
fn bench_reports_the_documented_keys() {
    let output = mapfix(&["bench", "solver", "--json", "--trials", "20"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = &json_lines(&output)[0];
    for key in [
        "p3p_ns",
        "robust_n30_o30_us",
        "robust_n30_o30_success",
        "position_only_n30_us",
        "upright_n30_us",
    ] {
        assert!(
            report[key].as_f64().is_some_and(|x| x > 0.0),
            "{key}: {report}"
        );
    }
    assert_eq!(report["robust"].as_array().unwrap().len(), 9);
}
