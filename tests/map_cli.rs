//! End-to-end tests of `mapfix map …`: the real binary on small hand-made GeoJSON maps.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn mapfix(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mapfix"))
        .args(args)
        .output()
        .expect("the mapfix binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn feature(geometry: &str, properties: &str) -> String {
    format!(r#"{{"type":"Feature","geometry":{geometry},"properties":{properties}}}"#)
}

fn point(lon: f64, lat: f64, ele: f64) -> String {
    format!(r#"{{"type":"Point","coordinates":[{lon},{lat},{ele}]}}"#)
}

/// Three signs of two GTSRB classes and one without, two lane lines, a stop line, and a
/// car park one level down with a sign on its ceiling.
fn small_town() -> String {
    let line = r#"{"type":"LineString","coordinates":[[8.4000,49.0000,100],[8.4010,49.0000,100]]}"#;
    let park = r#"{"type":"Polygon","coordinates":[[[8.402,49.000,94],[8.403,49.000,94],[8.403,49.001,94],[8.402,49.001,94],[8.402,49.000,94]]]}"#;
    let features = [
        feature(
            &point(8.4001, 49.0001, 102.5),
            r#"{"kind":"sign","class":14,"facing_deg":90}"#,
        ),
        feature(
            &point(8.4002, 49.0001, 102.5),
            r#"{"kind":"sign","class":14,"facing_deg":270}"#,
        ),
        feature(
            &point(8.4003, 49.0001, 102.5),
            r#"{"kind":"sign","class":"other","code":"de1020-30","facing_deg":0}"#,
        ),
        feature(
            &point(8.4025, 49.0005, 97.5),
            r#"{"kind":"sign","class":2,"facing_deg":0,"level":-1,"mounting":"ceiling"}"#,
        ),
        feature(line, r#"{"kind":"lane_line","style":"dashed"}"#),
        feature(
            line,
            r#"{"kind":"lane_line","style":"solid","color":"yellow"}"#,
        ),
        feature(line, r#"{"kind":"stop_line"}"#),
        feature(park, r#"{"kind":"underground","level":-1,"ceiling_m":-2}"#),
    ];
    format!(
        r#"{{"type":"FeatureCollection","name":"small town","origin":[8.4,49.0,100],"features":[{}]}}"#,
        features.join(",\n")
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn info_json(path: &str) -> Value {
    let output = mapfix(&["map", "info", path, "--json"]);
    assert!(
        output.status.success(),
        "map info failed: {}",
        stderr(&output)
    );
    serde_json::from_slice(&output.stdout).expect("map info --json prints one JSON object")
}

/// Equal JSON, except that numbers may differ by 1e-6 (the round trip through WGS84
/// text is exact to far better than a micrometre, but not to the last bit).
fn assert_json_close(a: &Value, b: &Value) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{a} vs {b}");
            x.iter().zip(y).for_each(|(x, y)| assert_json_close(x, y));
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            x.values()
                .zip(y.values())
                .for_each(|(x, y)| assert_json_close(x, y));
        }
        _ => assert_eq!(a, b),
    }
}

#[test]
fn info_json_counts() {
    let dir = tempfile::tempdir().unwrap();
    let info = info_json(&write(dir.path(), "town.geojson", &small_town()));
    assert_eq!(info["signs"], 4);
    assert_eq!(info["lane_lines"], 2);
    assert_eq!(info["stop_lines"], 1);
    assert_eq!(info["underground"], 1);
    assert_eq!(
        info["classes"], 2,
        "classes 14 and 2; the \"other\" sign is not a class"
    );
    assert_eq!(info["levels"], serde_json::json!([-1, 0]));
    assert_eq!(info["other_sign_codes"]["de1020-30"], 1);
    assert_eq!(info["signs_by_class"][1]["name"], "stop");
    assert_eq!(info["signs_by_class"][1]["count"], 2);
    assert_eq!(info["signs_by_level"]["-1"], 1);
    assert_eq!(info["name"], "small town");
    // Two 0.001° lines of longitude at 49° N: 2 × 73.1 m.
    let length = info["lane_line_length_m"].as_f64().unwrap();
    assert!((length - 146.2).abs() < 0.3, "{length}");
    let lat = &info["bounds"]["lat_deg"];
    assert!(
        (lat[0].as_f64().unwrap() - 49.0).abs() < 1e-6
            && (lat[1].as_f64().unwrap() - 49.001).abs() < 1e-6
    );
}

#[test]
fn info_text_names_classes() {
    let dir = tempfile::tempdir().unwrap();
    let output = mapfix(&[
        "map",
        "info",
        &write(dir.path(), "town.geojson", &small_town()),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("speed limit 50")
            && text.contains("de1020-30")
            && text.contains("levels: -1, 0"),
        "{text}"
    );
}

#[test]
fn import_of_geojson_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "town.geojson", &small_town());
    let output_path = dir.path().join("out.geojson");
    let output = mapfix(&["map", "import", &input, "-o", output_path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.contains("4 signs") && printed.contains("de1020-30"),
        "{printed}"
    );
    assert_json_close(
        &info_json(&input),
        &info_json(output_path.to_str().unwrap()),
    );
    // The written file is 3-D GeoJSON with generated ids.
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&output_path).unwrap()).unwrap();
    let first = &written["features"][0];
    assert_eq!(
        first["geometry"]["coordinates"].as_array().unwrap().len(),
        3
    );
    assert_eq!(first["properties"]["id"], "sign-1");
    // Imported again, it is unchanged.
    let again = dir.path().join("again.geojson");
    let output = mapfix(&[
        "map",
        "import",
        output_path.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(&output_path).unwrap(),
        std::fs::read_to_string(&again).unwrap()
    );
}

#[test]
fn sign_without_class_fails_naming_file_and_feature() {
    let dir = tempfile::tempdir().unwrap();
    let text = small_town().replace(r#""class":14,"facing_deg":270"#, r#""facing_deg":270"#);
    let path = write(dir.path(), "broken.geojson", &text);
    let output = mapfix(&["map", "info", &path]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("broken.geojson")
            && message.contains("feature 1 (id sign-2)")
            && message.contains("class"),
        "{message}"
    );
}

#[test]
fn truncated_json_fails_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let text = small_town();
    let path = write(dir.path(), "cut.geojson", &text[..text.len() * 2 / 3]);
    let output = mapfix(&[
        "map",
        "import",
        &path,
        "-o",
        dir.path().join("o.geojson").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("cut.geojson") && message.contains("line ") && message.contains("column "),
        "{message}"
    );
    assert!(
        !dir.path().join("o.geojson").exists(),
        "nothing is written after a failed read"
    );
}

#[test]
fn missing_file_and_unknown_format_fail() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.geojson");
    let output = mapfix(&["map", "info", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("nowhere.geojson"),
        "{}",
        stderr(&output)
    );

    let shapefile = write(dir.path(), "roads.shp", "");
    let output = mapfix(&["map", "info", &shapefile]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("roads.shp") && stderr(&output).contains("unknown format"),
        "{}",
        stderr(&output)
    );

    let input = write(dir.path(), "town.geojson", &small_town());
    let output = mapfix(&[
        "map",
        "import",
        &input,
        "-o",
        dir.path().join("out.txt").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("out.txt"), "{}", stderr(&output));
}

#[test]
fn demo_town_is_seeded_and_rich_enough() {
    let dir = tempfile::tempdir().unwrap();
    let generate = |seed: &str, name: &str| {
        let path = dir.path().join(name);
        let output = mapfix(&[
            "map",
            "demo-town",
            "--seed",
            seed,
            "-o",
            path.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        std::fs::read_to_string(path).unwrap()
    };
    let first = generate("11", "a.geojson");
    assert_eq!(
        first,
        generate("11", "b.geojson"),
        "the same seed gives the same file"
    );
    assert_ne!(
        first,
        generate("12", "c.geojson"),
        "another seed gives another town"
    );
    let info = info_json(dir.path().join("a.geojson").to_str().unwrap());
    assert!(info["signs"].as_u64().unwrap() >= 80, "{info}");
    assert!(info["classes"].as_u64().unwrap() >= 20, "{info}");
    assert!(
        info["levels"]
            .as_array()
            .unwrap()
            .contains(&Value::from(-1)),
        "{info}"
    );
    assert!(
        info["provenance"].as_str().unwrap().contains("--seed 11"),
        "{info}"
    );
}

fn fixture(name: &str) -> String {
    format!("{}/fixtures/maps/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Heights (m) of the sign points in a written map, in file order.
fn sign_heights(path: &Path) -> Vec<f64> {
    let map: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let features = map["features"].as_array().unwrap();
    let signs = features
        .iter()
        .filter(|f| f["properties"]["kind"] == "sign");
    signs
        .map(|f| f["geometry"]["coordinates"][2].as_f64().unwrap())
        .collect()
}

#[test]
fn import_of_lanelet2_and_opendrive_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let osm = dir.path().join("tiny.geojson");
    let output = mapfix(&[
        "map",
        "import",
        &fixture("tiny.osm"),
        "-o",
        osm.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let info = info_json(osm.to_str().unwrap());
    assert_eq!(
        (info["signs"].as_u64(), info["lane_lines"].as_u64()),
        (Some(4), Some(3)),
        "{info}"
    );
    // --sign-height moves exactly the sign whose source gives no height.
    let higher = dir.path().join("higher.geojson");
    let output = mapfix(&[
        "map",
        "import",
        &fixture("tiny.osm"),
        "-o",
        higher.to_str().unwrap(),
        "--sign-height",
        "3.5",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let moved: Vec<f64> = sign_heights(&osm)
        .iter()
        .zip(sign_heights(&higher))
        .map(|(a, b)| b - a)
        .collect();
    assert_eq!(
        moved.iter().filter(|d| d.abs() > 1e-6).count(),
        1,
        "{moved:?}"
    );
    assert!(moved.iter().any(|d| (d - 1.0).abs() < 1e-6), "{moved:?}");

    let xodr = dir.path().join("roads.geojson");
    let output = mapfix(&[
        "map",
        "import",
        &fixture("road-geometries.xodr"),
        "-o",
        xodr.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(info_json(xodr.to_str().unwrap())["signs"].as_u64().unwrap() >= 1);
}

#[test]
fn broken_lanelet2_and_opendrive_files_fail_naming_file_and_place() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.geojson");
    let output = mapfix(&[
        "map",
        "import",
        &fixture("truncated.osm"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("truncated.osm") && message.contains("line "),
        "{message}"
    );
    let output = mapfix(&["map", "info", &fixture("unknown-geometry.xodr")]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("unknown-geometry.xodr") && message.contains("cubicSpline"),
        "{message}"
    );
}
