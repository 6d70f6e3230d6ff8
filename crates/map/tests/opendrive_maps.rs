//! Imports the public OpenDRIVE maps in `shared/data/maps/opendrive-*` (beside the
//! repository) and checks what they are known to hold. Skipped, with a note, where that
//! folder is absent.

use mapfix_map::{opendrive, ImportOptions, ImportReport, Map, SignClass};
use std::path::{Path, PathBuf};

fn maps_folder() -> Option<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/maps");
    if folder.is_dir() {
        Some(folder)
    } else {
        eprintln!(
            "note: {} not found: OpenDRIVE real-map test skipped",
            folder.display()
        );
        None
    }
}

fn import(path: &Path) -> (Map, ImportReport, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let (map, report) = opendrive::import(&text, path, &ImportOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (map, report, text)
}

/// How many notes' counts mention `what` ("36× traffic lights …" → 36).
fn noted(report: &ImportReport, what: &str) -> usize {
    report
        .notes
        .iter()
        .filter(|n| n.contains(what))
        .filter_map(|n| n.split('×').next()?.parse::<usize>().ok())
        .sum()
}

fn all_finite(map: &Map) -> bool {
    let points = map
        .lane_lines
        .iter()
        .map(|l| &l.line)
        .chain(&map.road_edges)
        .chain(&map.stop_lines)
        .flat_map(|l| l.points.iter())
        .chain(map.signs.iter().map(|s| &s.position));
    points.clone().count() > 0 && points.into_iter().all(|p| p.iter().all(|c| c.is_finite()))
}

/// Of the signs standing off the painted lines (more than 0.5 m from every lane line),
/// how many stand to the right of the traffic their face looks at (right-hand traffic):
/// seen from the nearest lane-line point, the sign lies to the right of the direction
/// opposite its facing. Returns (to the right, off the lines).
fn signs_right_of_their_traffic(map: &Map) -> (usize, usize) {
    let road: Vec<_> = map
        .lane_lines
        .iter()
        .flat_map(|l| l.line.points.iter())
        .collect();
    let offsets = map.signs.iter().map(|sign| {
        let distance = |p: &&&mapfix_core::Vec3| (p.xy() - sign.position.xy()).norm();
        let nearest = road
            .iter()
            .min_by(|a, b| distance(a).total_cmp(&distance(b)))
            .unwrap();
        let traffic = -sign.normal();
        let offset = sign.position - **nearest;
        (
            offset.xy().norm(),
            traffic.x * offset.y - traffic.y * offset.x,
        )
    });
    let off_lines: Vec<(f64, f64)> = offsets.filter(|(distance, _)| *distance > 0.5).collect();
    (
        off_lines.iter().filter(|(_, cross)| *cross < 0.0).count(),
        off_lines.len(),
    )
}

#[test]
fn every_public_opendrive_map_imports() {
    let Some(folder) = maps_folder() else { return };
    let mut imported = 0;
    for entry in std::fs::read_dir(&folder).unwrap().flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("opendrive-")
        {
            continue;
        }
        for file in std::fs::read_dir(entry.path()).unwrap().flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "xodr") {
                let (map, report, text) = import(&path);
                let marks = text.matches("<roadMark ").count();
                eprintln!(
                    "{}: {} signs, {} lane lines (from {marks} roadMarks), {} road edges, {} stop lines, {} poles, origin {:.6} {:.6}",
                    path.file_name().unwrap().to_string_lossy(),
                    map.signs.len(),
                    map.lane_lines.len(),
                    map.road_edges.len(),
                    map.stop_lines.len(),
                    map.poles.len(),
                    map.frame.origin().lat_deg(),
                    map.frame.origin().lon_deg(),
                );
                let (right, off_lines) = signs_right_of_their_traffic(&map);
                eprintln!(
                    "    {right} of {off_lines} signs off the lines stand right of their traffic"
                );
                for note in &report.notes {
                    eprintln!("    {note}");
                }
                assert!(all_finite(&map), "{}", path.display());
                imported += 1;
            }
        }
    }
    assert!(imported >= 8, "only {imported} maps found");
}

#[test]
fn esmini_multi_intersections_signs_with_heights() {
    let Some(folder) = maps_folder() else { return };
    let (map, report, _) = import(&folder.join("opendrive-esmini/multi_intersections.xodr"));
    // 127 signals: 34 traffic lights and 34 pedestrian lights, 17 crosswalks and 4 arrows
    // painted on the road, 17 stop lines (StVO 294) and 21 signs (10×306, 7×205, 4×274).
    assert_eq!(noted(&report, "traffic lights"), 68);
    assert_eq!(noted(&report, "road markings"), 21);
    assert_eq!(map.stop_lines.len(), 17);
    assert_eq!(map.signs.len(), 21);
    let count = |class: u8| {
        map.signs
            .iter()
            .filter(|s| s.class == SignClass::Gtsrb(class))
            .count()
    };
    assert_eq!((count(12), count(13)), (10, 7), "priority road, give way");
    assert_eq!(
        (count(4), count(2)),
        (2, 2),
        "274-57 (70 km/h) and 274-55 (50 km/h)"
    );
    assert!(
        report.other_sign_codes.is_empty(),
        "{:?}",
        report.other_sign_codes
    );
    // The roads are flat at 0 m: a priority-road sign's face starts 3.0 m (4 signs) or
    // 3.06 m (6) up and is 0.83 m tall.
    let mut heights: Vec<f64> = map
        .signs
        .iter()
        .filter(|s| s.class == SignClass::Gtsrb(12))
        .map(|s| s.position.z)
        .collect();
    heights.sort_by(f64::total_cmp);
    assert!(
        heights[..4].iter().all(|z| (z - 3.415).abs() < 1e-9),
        "{heights:?}"
    );
    assert!(
        heights[4..].iter().all(|z| (z - 3.475).abs() < 1e-9),
        "{heights:?}"
    );
    assert!(map.signs.iter().all(|s| s.height > 0.0 && s.width > 0.0));
    // Facing by the standard: all but the two speed signs put on the left as well face
    // traffic that has them on its right.
    assert_eq!(signs_right_of_their_traffic(&map), (19, 21));
    assert!(map
        .signs
        .iter()
        .all(|s| s.position.z > 0.0 && s.position.z < 4.0));
}

#[test]
fn esmini_straight_500m_signs_with_sizes() {
    let Some(folder) = maps_folder() else { return };
    let (map, report, _) = import(&folder.join("opendrive-esmini/straight_500m_signs.xodr"));
    assert_eq!(map.signs.len(), 19);
    // All give a height and zOffset; one gives no width.
    assert_eq!(noted(&report, "without a size"), 0, "{:?}", report.notes);
    assert_eq!(noted(&report, "only one side"), 1, "{:?}", report.notes);
    assert!(map
        .signs
        .iter()
        .all(|s| s.width > 0.1 && s.height > 0.1 && s.position.z > 1.5));
    assert_eq!(map.poles.len(), 15);
}

#[test]
fn carla_towns_signals_and_road_marks() {
    let Some(folder) = maps_folder() else { return };
    for (town, signals, speed_signs) in [("Town01", 36, 22), ("Town02", 24, 21)] {
        let (map, report, text) = import(&folder.join(format!("opendrive-carla/{town}.xodr")));
        // Every CARLA signal is a traffic light; the speed-limit signs are objects.
        assert_eq!(noted(&report, "traffic lights"), signals, "{town}");
        assert_eq!(map.signs.len(), speed_signs, "{town}");
        // Speed_30 and Speed_60 are GTSRB classes 1 and 3; 90 km/h has no GTSRB class.
        let classes: Vec<&SignClass> = map.signs.iter().map(|s| &s.class).collect();
        assert!(
            classes
                .iter()
                .all(|c| matches!(c, SignClass::Gtsrb(1) | SignClass::Gtsrb(3))
                    || **c == SignClass::Other("de274 90 km/h".into())),
            "{town}: {classes:?}"
        );
        assert!(classes.contains(&&SignClass::Gtsrb(3)), "{town}");
        // RoadRunner's facing convention: every sign faces traffic that has it on its right
        // (the standard's reading of these files gets 8 of 22 and 9 of 21).
        assert_eq!(
            signs_right_of_their_traffic(&map),
            (speed_signs, speed_signs),
            "{town}"
        );
        let document = roxmltree::Document::parse(&text).unwrap();
        let marks: Vec<&str> = document
            .descendants()
            .filter(|n| n.has_tag_name("roadMark"))
            .filter_map(|n| n.attribute("type"))
            .collect();
        let painted = marks
            .iter()
            .filter(|kind| !matches!(**kind, "none" | "curb"))
            .count();
        assert!(marks.len() > 1000, "{town}: {}", marks.len());
        assert!(
            painted > 100 && map.lane_lines.len() == painted,
            "{town}: {} of {painted}",
            map.lane_lines.len()
        );
        // Both sides of every road outside a junction (each has one lane section).
        let free_roads = document
            .descendants()
            .filter(|n| n.has_tag_name("road") && n.attribute("junction") == Some("-1"))
            .count();
        assert_eq!(map.road_edges.len(), 2 * free_roads, "{town}");
    }
}

#[test]
fn esmini_georeferenced_maps_sit_at_their_origin() {
    let Some(folder) = maps_folder() else { return };
    for name in ["e6mini", "soderleden"] {
        let (map, report, _) = import(&folder.join(format!("opendrive-esmini/{name}.xodr")));
        // Their "+proj=utm +zone=32 +lat_0=37.354… +lon_0=-122.086…" contradicts itself;
        // the file's origin is placed at +lat_0/+lon_0 (Mountain View), as the authors meant.
        let origin = map.frame.origin();
        assert!(
            (origin.lat_deg() - 37.35429341239328).abs() < 1e-9,
            "{name}"
        );
        assert!(
            (origin.lon_deg() + 122.0859797650754).abs() < 1e-9,
            "{name}"
        );
        assert!(
            report.notes.iter().any(|n| n.contains("contradicts")),
            "{name}"
        );
        // The roads then lie within a few kilometres of the origin.
        let (lo, hi) = map.bounds().unwrap();
        assert!(
            hi.x - lo.x > 100.0 && hi.x.abs().max(lo.x.abs()) < 5000.0,
            "{name}: {lo:?} {hi:?}"
        );
    }
}
