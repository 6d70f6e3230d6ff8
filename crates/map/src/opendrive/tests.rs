use super::*;
use crate::{LineColor, LineStyle, Mounting, SignClass};
use std::f64::consts::PI;
use std::path::PathBuf;

fn fixture(name: &str) -> (String, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/maps")
        .join(name);
    (std::fs::read_to_string(&path).unwrap(), path)
}

fn import_fixture() -> (Map, ImportReport) {
    let (text, path) = fixture("road-geometries.xodr");
    import(&text, &path, &ImportOptions::default()).unwrap()
}

fn horizontal_distance(a: &Vec3, b: &Vec3) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

/// Horizontal distance from a point to a polyline (its segments as straight pieces).
fn distance_to_polyline(point: &Vec3, line: &[Vec3]) -> f64 {
    line.windows(2)
        .map(|w| {
            let (a, b) = (w[0].xy(), w[1].xy());
            let p = point.xy();
            let along = ((p - a).dot(&(b - a)) / (b - a).norm_squared()).clamp(0.0, 1.0);
            (p - (a + (b - a) * along)).norm()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn fixture_geometries_end_where_their_closed_forms_say() {
    // Each geometry's start in the fixture was computed from the closed form of the one
    // before (Fresnel integrals for the clothoid, the circle for the arc).
    let (text, path) = fixture("road-geometries.xodr");
    let document = Document::parse(&text).unwrap();
    let context = Context {
        path: &path,
        document: &document,
        facing: FacingConvention::Standard,
    };
    let geometries: Vec<Geometry> = document
        .descendants()
        .filter(|n| n.has_tag_name("geometry"))
        .map(|n| read_geometry(&context, n).unwrap())
        .collect();
    assert!(matches!(geometries[1].shape, Shape::Spiral { .. }));
    for pair in geometries.windows(2) {
        let end = pair[0].pose_at(pair[0].length);
        let next = pair[1].start;
        assert!(
            (end.x - next.x).abs() < 1e-9 && (end.y - next.y).abs() < 1e-9,
            "{:?}: {end:?} vs {next:?}",
            pair[0].shape
        );
        assert!((end.hdg - next.hdg).abs() < 1e-12);
    }
    // The paramPoly3's end: u = 20, v = 1 turned by the start heading 0.75 rad.
    let last = &geometries[3];
    let end = last.pose_at(last.length);
    assert!((end.x - 75.52845513294123).abs() < 1e-9 && (end.y - 27.967370027895928).abs() < 1e-9);
}

#[test]
fn sign_height_is_road_plus_zoffset_plus_half_face() {
    let (map, _) = import_fixture();
    let stop = map.signs.iter().find(|s| s.id == "road7/signal1").unwrap();
    assert_eq!(stop.class, SignClass::Gtsrb(14));
    // Road at s = 10 is 100.2 m high (2 % grade from 100 m); bottom 2.0 m above it, face 0.6 m.
    assert!(
        (stop.position - Vec3::new(10.0, -5.0, 102.5)).norm() < 1e-9,
        "{:?}",
        stop.position
    );
    assert_eq!(
        (stop.width, stop.height, stop.mounting),
        (0.6, 0.6, Mounting::Pole)
    );
    // Valid for traffic driving east (+s): the face looks west.
    assert!((stop.facing - 1.5 * PI).abs() < 1e-9, "{}", stop.facing);
}

#[test]
fn sign_on_the_spiral_faces_along_minus_orientation() {
    let (map, _) = import_fixture();
    let limit = map.signs.iter().find(|s| s.id == "road7/signal2").unwrap();
    assert_eq!(limit.class, SignClass::Gtsrb(2), "274-55 is 50 km/h");
    // 10 m into the clothoid the heading is κ'·ds²/2 = (0.02/15)·100/2.
    let heading = 0.02 / 15.0 * 50.0;
    assert!((limit.facing - (PI / 2.0 - heading)).abs() < 1e-9);
    assert!((limit.position.z - (100.0 + 0.02 * 30.0 + 1.8 + 0.3)).abs() < 1e-9);
}

#[test]
fn lights_unknown_codes_stop_lines_and_poles() {
    let (map, report) = import_fixture();
    assert_eq!(
        map.signs.len(),
        3,
        "stop, limit and the unknown code; not the light"
    );
    assert_eq!(report.other_sign_codes.get("de999"), Some(&1));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("1× traffic lights")),
        "{:?}",
        report.notes
    );
    assert!(report.notes.iter().any(|n| n.contains("signalReference")));
    assert!(report.notes.iter().any(|n| n.contains("0° N 0° E")));
    assert_eq!(map.stop_lines.len(), 1);
    // Across the right lane (valid for + traffic): from the centre line to its edge.
    let stop = &map.stop_lines[0].points;
    assert!((horizontal_distance(&stop[0], &stop[1]) - 3.25).abs() < 1e-9);
    let center = &map.lane_lines[0].line.points;
    let right = &map.lane_lines[3].line.points;
    assert!(distance_to_polyline(&stop[0], right) < 1e-3, "{stop:?}");
    assert!(distance_to_polyline(&stop[1], center) < 1e-3, "{stop:?}");
    assert_eq!(map.poles.len(), 1);
    assert_eq!(map.poles[0].height, 2.6);
}

#[test]
fn lane_lines_follow_marks_and_widths() {
    let (map, _) = import_fixture();
    let styles: Vec<(String, LineStyle, LineColor)> = map
        .lane_lines
        .iter()
        .map(|l| (l.line.id.clone(), l.style, l.color))
        .collect();
    assert_eq!(
        styles,
        vec![
            (
                "road7/section0/lane0/mark0".into(),
                LineStyle::Double,
                LineColor::Yellow
            ),
            (
                "road7/section0/lane1/mark0".into(),
                LineStyle::Dashed,
                LineColor::White
            ),
            (
                "road7/section0/lane-1/mark0".into(),
                LineStyle::Solid,
                LineColor::White
            ),
            (
                "road7/section0/lane-1/mark1".into(),
                LineStyle::Dashed,
                LineColor::White
            ),
        ]
    );
    let center = &map.lane_lines[0].line.points;
    let left = &map.lane_lines[1].line.points;
    assert_eq!(center.len(), left.len());
    for (c, l) in center.iter().zip(left) {
        assert!((horizontal_distance(c, l) - 3.5).abs() < 1e-9);
        assert_eq!(c.z, l.z);
    }
    // The right lane's marks split at s = 50 and share that station; together they span it.
    let (solid, dashed) = (
        &map.lane_lines[2].line.points,
        &map.lane_lines[3].line.points,
    );
    assert_eq!(solid.last(), dashed.first());
    assert_eq!(solid.len() + dashed.len() - 1, center.len());
    for (c, r) in center.iter().zip(solid.iter().chain(&dashed[1..])) {
        assert!((horizontal_distance(c, r) - 3.25).abs() < 1e-9);
    }
    // Sampled at no more than the step (1 m), heights on the 2 % grade.
    assert!(center
        .windows(2)
        .all(|w| horizontal_distance(&w[0], &w[1]) <= 1.0 + 1e-9));
    assert!((center.last().unwrap().z - (100.0 + 0.02 * 85.0283079354669)).abs() < 1e-9);
    // Road edges: beyond the driving lane on each side (the sidewalk is not carriageway).
    assert_eq!(map.road_edges.len(), 2);
    let right_edge = map
        .road_edges
        .iter()
        .find(|e| e.id.ends_with("edge-right"))
        .unwrap();
    assert_eq!(right_edge.points.len(), center.len());
    assert!((horizontal_distance(&right_edge.points[5], &center[5]) - 3.25).abs() < 1e-9);
}

#[test]
fn unknown_geometry_names_file_road_s_and_line() {
    let (text, path) = fixture("unknown-geometry.xodr");
    let message = import(&text, &path, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    for part in [
        "unknown-geometry.xodr",
        "road 42",
        "s=10",
        "line 12",
        "<cubicSpline>",
    ] {
        assert!(message.contains(part), "{part} missing from: {message}");
    }
}

#[test]
fn malformed_xml_names_line_and_column() {
    let text = "<OpenDRIVE>\n  <header>\n  <road id='1'>\n</OpenDRIVE>\n";
    let message = import(text, Path::new("broken.xodr"), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("broken.xodr") && message.contains("line 4, column"),
        "{message}"
    );
}

#[test]
fn missing_attribute_names_element_and_attribute() {
    let text = r#"<OpenDRIVE><road id="3" length="10"><planView>
        <geometry s="0" x="0" y="0" length="10"><line/></geometry>
        </planView></road></OpenDRIVE>"#;
    let message = import(text, Path::new("m.xodr"), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("<geometry> of road 3")
            && message.contains("`hdg`")
            && message.contains("line 2"),
        "{message}"
    );
    let text = text.replace(r#"x="0" y="0""#, r#"x="zero" y="0" hdg="0""#);
    let message = import(&text, Path::new("m.xodr"), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("`x` is not a number: 'zero'"), "{message}");
}

/// A straight road 200 m due east of the file's origin with one solid centre line.
fn straight_road(header_extra: &str) -> String {
    format!(
        r#"<OpenDRIVE><header name="geo">{header_extra}</header>
        <road id="1" length="200" junction="-1"><planView>
        <geometry s="0" x="0" y="0" hdg="0" length="200"><line/></geometry></planView>
        <lanes><laneSection s="0"><center><lane id="0" type="none">
        <roadMark sOffset="0" type="solid" color="white"/></lane></center></laneSection></lanes>
        </road></OpenDRIVE>"#
    )
}

#[test]
fn tmerc_geo_reference_places_the_origin() {
    let text = straight_road("<geoReference><![CDATA[+proj=tmerc +lat_0=49 +lon_0=8.4 +k=1 +x_0=0 +y_0=0 +datum=WGS84]]></geoReference>");
    let (map, report) = import(&text, Path::new("geo.xodr"), &ImportOptions::default()).unwrap();
    let origin = map.frame.origin();
    assert!((origin.lat_deg() - 49.0).abs() < 1e-12 && (origin.lon_deg() - 8.4).abs() < 1e-12);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("geoReference at 49.00000000° N")),
        "{:?}",
        report.notes
    );
    let end = map.lane_lines[0].line.points.last().unwrap();
    // 200 m east on the central meridian's scale-1 line; the ENU plane drops below the
    // ellipsoid by d²/2R ≈ 3 mm.
    assert!(
        (end.x - 200.0).abs() < 1e-3 && end.y.abs() < 1e-3,
        "{end:?}"
    );
    assert!(
        (end.z + 200.0f64.powi(2) / (2.0 * 6.38e6)).abs() < 1e-3,
        "{end:?}"
    );
}

#[test]
fn utm_geo_reference_with_header_offset() {
    // The offset moves the file's origin to UTM 32N (456114.5959, 5427629.2039), which is
    // 49° N 8.4° E according to PROJ.
    let text = straight_road(
        r#"<geoReference>+proj=utm +zone=32 +datum=WGS84 +units=m +no_defs</geoReference>
           <offset x="456114.5959" y="5427629.2039" z="0" hdg="0"/>"#,
    );
    let (map, _) = import(&text, Path::new("utm.xodr"), &ImportOptions::default()).unwrap();
    let origin = map.frame.origin();
    assert!(
        (origin.lat_deg() - 49.0).abs() < 1e-8 && (origin.lon_deg() - 8.4).abs() < 1e-8,
        "{origin:?}"
    );
    // UTM grid north differs from true north here by the meridian convergence
    // (Δλ·sin φ = −0.6°·sin 49° ≈ −0.45°): grid east is turned ≈ 0.45° to the north.
    let end = map.lane_lines[0].line.points.last().unwrap();
    let convergence = (-0.6f64).to_radians() * 49f64.to_radians().sin();
    assert!((end.y.atan2(end.x) + convergence).abs() < 1e-4, "{end:?}");
    // Grid scale there: 0.9996·(1 + x²/2R²) with x = 43.9 km off the central meridian.
    let scale = 0.9996 * (1.0 + 43_886f64.powi(2) / (2.0 * 6.38e6f64.powi(2)));
    assert!((end.x.hypot(end.y) - 200.0 / scale).abs() < 1e-3, "{end:?}");
}

#[test]
fn offset_heading_turns_local_frame() {
    let text = straight_road(r#"<offset x="10" y="20" z="5" hdg="1.5707963267948966"/>"#);
    let origin = Geodetic::from_degrees(48.0, 11.0, 500.0);
    let options = ImportOptions {
        origin: Some(origin),
        ..ImportOptions::default()
    };
    let (map, report) = import(&text, Path::new("o.xodr"), &options).unwrap();
    assert_eq!(map.frame.origin(), origin);
    assert!(report.notes.iter().any(|n| n.contains("the given origin")));
    let end = map.lane_lines[0].line.points.last().unwrap();
    assert!((end - Vec3::new(10.0, 220.0, 5.0)).norm() < 1e-9, "{end:?}");
}

#[test]
fn sample_step_sets_point_spacing_and_must_be_positive() {
    let (text, path) = fixture("road-geometries.xodr");
    let options = ImportOptions {
        sample_step: 0.25,
        ..ImportOptions::default()
    };
    let (map, _) = import(&text, &path, &options).unwrap();
    let center = &map.lane_lines[0].line.points;
    assert!(center.len() > 340, "85 m at 0.25 m: {}", center.len());
    assert!(center
        .windows(2)
        .all(|w| horizontal_distance(&w[0], &w[1]) <= 0.25 + 1e-9));
    let zero = ImportOptions {
        sample_step: 0.0,
        ..ImportOptions::default()
    };
    let message = import(&text, &path, &zero).unwrap_err().to_string();
    assert!(message.contains("sample step"), "{message}");
}

#[test]
fn border_records_place_a_lane_without_width() {
    // Lane 1 has a width of 3 m; lane 2 only a border 7 m from the centre line.
    let text = r#"<OpenDRIVE><road id="1" length="20" junction="-1"><planView>
        <geometry s="0" x="0" y="0" hdg="0" length="20"><line/></geometry></planView>
        <lanes><laneSection s="0"><left>
        <lane id="2" type="driving"><border sOffset="0" a="7" b="0" c="0" d="0"/>
          <roadMark sOffset="0" type="solid" color="white"/></lane>
        <lane id="1" type="driving"><width sOffset="0" a="3" b="0" c="0" d="0"/>
          <roadMark sOffset="0" type="broken" color="white"/></lane>
        </left></laneSection></lanes></road></OpenDRIVE>"#;
    let (map, _) = import(text, Path::new("border.xodr"), &ImportOptions::default()).unwrap();
    let offsets: Vec<f64> = map.lane_lines.iter().map(|l| l.line.points[0].y).collect();
    assert_eq!(offsets, vec![3.0, 7.0]);
    assert_eq!(map.road_edges[0].points[0].y, 7.0);
}

#[test]
fn repeated_ids_are_made_unique_and_flat_signals_are_markings() {
    let text = r#"<OpenDRIVE><road id="1" length="50" junction="-1"><planView>
        <geometry s="0" x="0" y="0" hdg="0" length="50"><line/></geometry></planView>
        <signals>
        <signal id="5" s="10" t="-4" zOffset="2" height="0.6" width="0.6" country="DE" type="205" orientation="+"/>
        <signal id="5" s="20" t="-4" zOffset="2" height="0.6" width="0.6" country="DE" type="206" orientation="+"/>
        <signal id="6" s="30" t="-2" zOffset="0" height="0.02" width="0.8" country="OpenDRIVE" type="-1" orientation="+"/>
        </signals></road></OpenDRIVE>"#;
    let (map, report) = import(text, Path::new("ids.xodr"), &ImportOptions::default()).unwrap();
    let ids: Vec<&str> = map.signs.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec!["road1/signal5", "road1/signal5#2"]);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("1× features whose id")),
        "{:?}",
        report.notes
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("1× road markings")),
        "{:?}",
        report.notes
    );
}
