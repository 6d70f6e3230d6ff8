//! The tracker over the demo drive (`fixtures/demo-drive`, 20 s through `maps/demo-town`:
//! street, a turn, the ramp and the tunnel at level −1), fed with detections made from the
//! simulator's exact labels plus seeded pixel noise, missed and false detections, and with
//! the drive's simulated GNSS. This tests the tracker alone; the detector is tested in its
//! own crate.

use mapfix_core::pose::wrap_angle;
use mapfix_core::{CameraModel, FixSource, Geodetic, Vec3, NO_FIX_NAME};
use mapfix_detector::{Detections, Lane, LaneSlot, SignDetection};
use mapfix_map::Map;
use mapfix_odometry::GroundMotion;
use mapfix_tracker::associate::{associate, AssociationOptions, Prior};
use mapfix_tracker::{
    FrameEstimate, GnssInput, GnssPosition, GnssQuality, TrackedPose, Tracker, TrackerError,
    TrackerOptions,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn drive_dir() -> PathBuf {
    root().join("fixtures/demo-drive")
}

struct Truth {
    time_s: f64,
    position: Vec3,
    yaw: f64,
    pitch: f64,
    roll: f64,
}

#[derive(Deserialize)]
struct LabelFrame {
    frame: usize,
    signs: Vec<LabelSign>,
    lanes: Vec<LabelLane>,
}

#[derive(Deserialize)]
struct LabelSign {
    id: String,
    class: u8,
    #[serde(rename = "box")]
    bbox: [f32; 4],
    /// Where the sign is drawn: its map position plus the simulated map error (σ 5 cm).
    drawn_center: [f32; 2],
    visible: f32,
}

#[derive(Deserialize)]
struct LabelLane {
    id: String,
    slot: String,
    points: Vec<[f32; 2]>,
}

struct Drive {
    map: Map,
    camera: CameraModel,
    truth: Vec<Truth>,
    labels: Vec<LabelFrame>,
    gnss: Vec<GnssInput>,
}

fn drive() -> &'static Drive {
    static DRIVE: OnceLock<Drive> = OnceLock::new();
    DRIVE.get_or_init(|| {
        let map = mapfix_map::geojson::load(&root().join("maps/demo-town.geojson")).unwrap();
        let camera = CameraModel::load(&drive_dir().join("camera.toml")).unwrap();
        let truth = read_truth(&drive_dir().join("truth.csv"));
        let labels: Vec<LabelFrame> = std::fs::read_to_string(drive_dir().join("labels.jsonl"))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(labels.len(), truth.len());
        assert!(labels.iter().enumerate().all(|(i, l)| l.frame == i));
        let sim: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(drive_dir().join("sim.json")).unwrap())
                .unwrap();
        let start_of_day = (sim["gnss"]["start_unix_s"].as_i64().unwrap() % 86_400) as f64;
        let gnss = read_nmea(&drive_dir().join("gnss.nmea"), start_of_day);
        Drive {
            map,
            camera,
            truth,
            labels,
            gnss,
        }
    })
}

fn read_truth(path: &Path) -> Vec<Truth> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (t, e, n, u) = (
        column("time_s"),
        column("east_m"),
        column("north_m"),
        column("up_m"),
    );
    let (yaw, pitch, roll) = (column("yaw_deg"), column("pitch_deg"), column("roll_deg"));
    lines
        .map(|line| {
            let fields: Vec<f64> = line.split(',').map(|f| f.parse().unwrap()).collect();
            Truth {
                time_s: fields[t],
                position: Vec3::new(fields[e], fields[n], fields[u]),
                yaw: fields[yaw].to_radians(),
                pitch: fields[pitch].to_radians(),
                roll: fields[roll].to_radians(),
            }
        })
        .collect()
}

/// GGA (position, quality, HDOP) and RMC (speed, course) of each epoch; times on the
/// drive's time base (UTC seconds of day minus the drive's start).
fn read_nmea(path: &Path, start_of_day: f64) -> Vec<GnssInput> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut epochs: Vec<GnssInput> = Vec::new();
    let seconds = |hhmmss: &str| -> f64 {
        let h: f64 = hhmmss[0..2].parse().unwrap();
        let m: f64 = hhmmss[2..4].parse().unwrap();
        let s: f64 = hhmmss[4..].parse().unwrap();
        h * 3600.0 + m * 60.0 + s - start_of_day
    };
    let angle = |value: &str, degree_digits: usize, hemisphere: &str| -> f64 {
        let degrees: f64 = value[..degree_digits].parse().unwrap();
        let minutes: f64 = value[degree_digits..].parse().unwrap();
        let sign = if hemisphere == "S" || hemisphere == "W" {
            -1.0
        } else {
            1.0
        };
        sign * (degrees + minutes / 60.0)
    };
    for line in text.lines() {
        let body = line.split('*').next().unwrap();
        let f: Vec<&str> = body.split(',').collect();
        match &f[0][3..] {
            "GGA" => {
                let quality = match f[6] {
                    "0" => GnssQuality::NoFix,
                    "2" => GnssQuality::Differential,
                    "4" => GnssQuality::RtkFixed,
                    "6" => GnssQuality::Estimated,
                    _ => GnssQuality::Autonomous,
                };
                let position = if quality == GnssQuality::NoFix {
                    Geodetic::from_degrees(0.0, 0.0, 0.0)
                } else {
                    let height: f64 = f[9].parse::<f64>().unwrap() + f[11].parse::<f64>().unwrap();
                    Geodetic::from_degrees(angle(f[2], 2, f[3]), angle(f[4], 3, f[5]), height)
                };
                epochs.push(GnssInput {
                    time_s: seconds(f[1]),
                    position: GnssPosition::Geodetic(position),
                    quality,
                    hdop: f[8].parse().ok(),
                    sigma_horizontal_m: None,
                    speed_mps: None,
                    course: None,
                });
            }
            "RMC" => {
                let epoch = epochs.last_mut().unwrap();
                assert!((epoch.time_s - seconds(f[1])).abs() < 1e-6);
                epoch.speed_mps = f[7]
                    .parse::<f64>()
                    .ok()
                    .map(|knots| knots * 1852.0 / 3600.0);
                epoch.course = f[8].parse::<f64>().ok().map(f64::to_radians);
            }
            _ => {}
        }
    }
    epochs
}

/// Whether a detector could find a labelled sign and place its centre: big enough, not
/// mostly hidden, centre inside the image (a sign cut by the border has no centre to see).
fn detectable(sign: &LabelSign) -> bool {
    let camera = &drive().camera.intrinsics;
    let [u, v] = sign.drawn_center;
    sign.visible >= 0.3
        && sign.bbox[3] - sign.bbox[1] >= 10.0
        && (0.0..camera.width as f32).contains(&u)
        && (0.0..camera.height as f32).contains(&v)
}

/// What a good detector would report for a frame: the labels' exact sign centres with
/// Gaussian pixel noise, undetectable signs missed, a share of the rest missed at random,
/// an occasional false sign of a random class, and the lanes with noise.
struct DetectorModel {
    sign_noise_px: f64,
    lane_noise_px: f64,
    miss_rate: f64,
    false_rate: f64,
}

const DETECTOR: DetectorModel = DetectorModel {
    sign_noise_px: 0.7,
    lane_noise_px: 1.0,
    miss_rate: 0.1,
    false_rate: 0.1,
};

fn detections(label: &LabelFrame, model: &DetectorModel, rng: &mut ChaCha8Rng) -> Detections {
    let sign_noise = Normal::new(0.0, model.sign_noise_px).unwrap();
    let lane_noise = Normal::new(0.0, model.lane_noise_px).unwrap();
    let mut signs: Vec<SignDetection> = label
        .signs
        .iter()
        .filter(|s| detectable(s))
        .filter_map(|s| {
            if rng.random_bool(model.miss_rate) {
                return None;
            }
            Some(SignDetection {
                class: s.class,
                score: 0.9,
                bbox: s.bbox,
                center: [
                    s.drawn_center[0] + sign_noise.sample(rng) as f32,
                    s.drawn_center[1] + sign_noise.sample(rng) as f32,
                ],
            })
        })
        .collect();
    if rng.random_bool(model.false_rate) {
        let (u, v) = (
            rng.random_range(20.0..940.0f32),
            rng.random_range(20.0..300.0f32),
        );
        signs.push(SignDetection {
            class: rng.random_range(0..43),
            score: 0.6,
            bbox: [u - 10.0, v - 10.0, u + 10.0, v + 10.0],
            center: [u, v],
        });
    }
    // A detector reports one polyline per slot; the labels split a line where something
    // hides it, or where the map splits it, near pieces first.
    let lanes = LaneSlot::ALL
        .into_iter()
        .filter_map(|slot| {
            let points: Vec<[f32; 2]> = label
                .lanes
                .iter()
                .filter(|lane| LaneSlot::from_name(&lane.slot) == Some(slot))
                .flat_map(|lane| &lane.points)
                .map(|p| {
                    [
                        p[0] + lane_noise.sample(rng) as f32,
                        p[1] + lane_noise.sample(rng) as f32,
                    ]
                })
                .collect();
            (points.len() >= 3).then_some(Lane {
                slot,
                score: 0.9,
                points,
            })
        })
        .collect();
    Detections { signs, lanes }
}

/// How the drive is fed to the tracker.
struct Run {
    vision: bool,
    gnss: bool,
    /// A constant offset (m, ENU) added to GNSS fixes in a time window.
    gnss_jump: Option<(Vec3, std::ops::Range<f64>)>,
    /// The road's motion between frames, from the truth with the noise of `mapfix-odometry`.
    odometer: bool,
    seed: u64,
}

/// What the road odometer would read between two frames: the truth's distance and yaw
/// change with its noise (5 % of the distance and 1 cm; 0.2 mrad), the road read 5–12 m
/// ahead.
fn road_motion(before: &Truth, after: &Truth, rng: &mut ChaCha8Rng) -> GroundMotion {
    let distance = (after.position - before.position).xy().norm();
    let distance_sigma_m = 0.05 * distance + 0.01;
    let yaw_sigma_rad = 2e-4;
    GroundMotion {
        time_s: after.time_s,
        interval_s: after.time_s - before.time_s,
        distance_m: Some(
            distance + distance_sigma_m * rng.sample::<f64, _>(rand_distr::StandardNormal),
        ),
        yaw_change_rad: wrap_angle(after.yaw - before.yaw)
            + yaw_sigma_rad * rng.sample::<f64, _>(rand_distr::StandardNormal),
        distance_sigma_m,
        yaw_sigma_rad,
        road_ahead_m: (5.0, 12.0),
    }
}

fn run(setup: &Run) -> Vec<FrameEstimate> {
    run_with(setup, TrackerOptions::default())
}

fn run_with(setup: &Run, options: TrackerOptions) -> Vec<FrameEstimate> {
    let drive = drive();
    let mut tracker = Tracker::new(&drive.map, drive.camera, options).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(setup.seed);
    let mut next_gnss = 0;
    let mut estimates = Vec::new();
    let mut motion_rng = ChaCha8Rng::seed_from_u64(setup.seed + 1000);
    for (k, (truth, label)) in drive.truth.iter().zip(&drive.labels).enumerate() {
        let mut epochs = Vec::new();
        while next_gnss < drive.gnss.len() && drive.gnss[next_gnss].time_s <= truth.time_s + 1e-9 {
            let mut epoch = drive.gnss[next_gnss];
            if let (Some((offset, window)), GnssPosition::Geodetic(g)) =
                (&setup.gnss_jump, epoch.position)
            {
                if window.contains(&epoch.time_s) && epoch.has_fix() {
                    let enu = drive.map.frame.to_enu(&g) + offset;
                    epoch.position = GnssPosition::Enu(enu);
                }
            }
            epochs.push(epoch);
            next_gnss += 1;
        }
        let frame_detections = setup.vision.then(|| detections(label, &DETECTOR, &mut rng));
        let epochs = if setup.gnss { epochs } else { Vec::new() };
        let motion = (setup.odometer && k > 0)
            .then(|| road_motion(&drive.truth[k - 1], truth, &mut motion_rng));
        let estimate = tracker.step(
            truth.time_s,
            frame_detections.as_ref(),
            motion.as_ref(),
            &epochs,
        );
        assert_eq!(
            estimate.source.is_some(),
            estimate.pose.is_some(),
            "a source exactly with an estimate, at {} s",
            truth.time_s
        );
        estimates.push(estimate);
    }
    estimates
}

/// Errors of one frame against the truth.
struct FrameError {
    horizontal: f64,
    lateral: f64,
    longitudinal: f64,
    heading: f64,
    /// √((e/σe)² + (n/σn)²), as `mapfix eval` counts honesty.
    mahalanobis: f64,
}

fn frame_error(estimate: &FrameEstimate, truth: &Truth) -> Option<FrameError> {
    let pose = estimate.pose?;
    let e = pose.position - truth.position;
    let forward = Vec3::new(truth.yaw.cos(), truth.yaw.sin(), 0.0);
    let left = Vec3::new(-forward.y, forward.x, 0.0);
    Some(FrameError {
        horizontal: e.xy().norm(),
        lateral: e.dot(&left),
        longitudinal: e.dot(&forward),
        heading: wrap_angle(pose.yaw - truth.yaw),
        mahalanobis: ((e.x / pose.sigma_east()).powi(2) + (e.y / pose.sigma_north()).powi(2))
            .sqrt(),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(mut values: Vec<f64>, p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

struct Summary {
    frames: usize,
    available: usize,
    median_horizontal: f64,
    p95_horizontal: f64,
    median_lateral: f64,
    median_longitudinal: f64,
    median_heading_deg: f64,
    within_3_sigma: f64,
}

fn summarise(name: &str, estimates: &[FrameEstimate], frames: std::ops::Range<usize>) -> Summary {
    let truth = &drive().truth;
    let errors: Vec<FrameError> = frames
        .clone()
        .filter_map(|i| frame_error(&estimates[i], &truth[i]))
        .collect();
    let summary = Summary {
        frames: frames.len(),
        available: errors.len(),
        median_horizontal: median(errors.iter().map(|e| e.horizontal).collect()),
        p95_horizontal: percentile(errors.iter().map(|e| e.horizontal).collect(), 0.95),
        median_lateral: median(errors.iter().map(|e| e.lateral.abs()).collect()),
        median_longitudinal: median(errors.iter().map(|e| e.longitudinal.abs()).collect()),
        median_heading_deg: median(
            errors
                .iter()
                .map(|e| e.heading.abs().to_degrees())
                .collect(),
        ),
        within_3_sigma: errors.iter().filter(|e| e.mahalanobis <= 3.0).count() as f64
            / errors.len() as f64,
    };
    if std::env::var_os("TRACKER_TRACE").is_some() {
        for i in frames.clone() {
            let (e, t) = (&estimates[i], &truth[i]);
            if let (Some(p), Some(err)) = (e.pose, frame_error(e, t)) {
                println!(
                    "{i} {:?} lm {} ln {} {:?} h {:.2} lat {:.2} lon {:.2} hd {:.2} σ {:.2} {:.2} m {:.1} dz {:.2} v {:.2} pitch {:.2} truth {:.2} {:?}",
                    e.source, e.landmarks, e.lane_lines, e.vision, err.horizontal, err.lateral,
                    err.longitudinal, err.heading.to_degrees(), p.sigma_east(), p.sigma_north(),
                    err.mahalanobis, p.position.z - t.position.z, p.speed, p.pitch.to_degrees(), t.pitch.to_degrees(), e.flags
                );
            }
        }
    }
    let mut sources = std::collections::BTreeMap::new();
    for estimate in &estimates[frames.clone()] {
        *sources
            .entry(estimate.source.map_or(NO_FIX_NAME, FixSource::name))
            .or_insert(0usize) += 1;
    }
    println!(
        "{name}: frames {}..{} available {}/{} median horizontal {:.3} m, p95 {:.3} m, \
         lateral {:.3} m, longitudinal {:.3} m, heading {:.3}°, within 3σ {:.1} %, sources {:?}",
        frames.start,
        frames.end,
        summary.available,
        summary.frames,
        summary.median_horizontal,
        summary.p95_horizontal,
        summary.median_lateral,
        summary.median_longitudinal,
        summary.median_heading_deg,
        100.0 * summary.within_3_sigma,
        sources,
    );
    summary
}

/// First frame at or after `time_s`.
fn frame_at(time_s: f64) -> usize {
    drive()
        .truth
        .iter()
        .position(|t| t.time_s >= time_s - 1e-9)
        .unwrap()
}

/// Largest change (m) between consecutive frames of the estimate beyond the truth's own.
fn largest_jump(estimates: &[FrameEstimate]) -> f64 {
    let truth = &drive().truth;
    (1..estimates.len())
        .filter_map(|i| {
            let (a, b) = (estimates[i - 1].pose?, estimates[i].pose?);
            let moved = b.position - a.position;
            let truly = truth[i].position - truth[i - 1].position;
            Some((moved - truly).xy().norm())
        })
        .fold(0.0, f64::max)
}

/// When GNSS is lost: the first epoch without a fix.
fn gnss_outage_start() -> f64 {
    drive()
        .gnss
        .iter()
        .find(|e| !e.has_fix())
        .map(|e| e.time_s)
        .unwrap()
}

#[test]
fn labels_and_gnss_track_the_drive_through_the_tunnel() {
    // Three seeds of detector noise, misses and false signs.
    for seed in 1..=3 {
        track_the_drive_through_the_tunnel(seed);
    }
}

fn track_the_drive_through_the_tunnel(seed: u64) {
    let estimates = run(&Run {
        vision: true,
        gnss: true,
        gnss_jump: None,
        odometer: false,
        seed,
    });
    let all = summarise(
        &format!("vision+gnss seed {seed}"),
        &estimates,
        0..estimates.len(),
    );
    let tunnel = summarise(
        &format!("vision+gnss seed {seed}, no GNSS part"),
        &estimates,
        frame_at(gnss_outage_start())..estimates.len(),
    );
    let jump = largest_jump(&estimates);
    println!("vision+gnss seed {seed}: largest frame-to-frame jump beyond the truth's motion {jump:.3} m");
    // The targets: lateral ≤ 0.10 m, longitudinal ≤ 0.30 m, p95 ≤ 1.0 m, heading
    // ≤ 0.5°, availability ≥ 98 %, the part without GNSS within 2×, error ≤ 3σ on ≥ 95 %.
    assert_eq!(all.available, all.frames, "a frame without an estimate");
    assert_eq!(tunnel.available, tunnel.frames);
    assert!(
        all.median_horizontal < 0.2,
        "median {}",
        all.median_horizontal
    );
    assert!(all.median_lateral < 0.1, "lateral {}", all.median_lateral);
    assert!(
        all.median_longitudinal < 0.3,
        "longitudinal {}",
        all.median_longitudinal
    );
    assert!(
        all.median_heading_deg < 0.5,
        "heading {}",
        all.median_heading_deg
    );
    assert!(all.p95_horizontal < 1.0, "p95 {}", all.p95_horizontal);
    let twice = 2.0 * all.median_horizontal;
    assert!(
        tunnel.median_horizontal < twice,
        "tunnel median {}",
        tunnel.median_horizontal
    );
    assert!(
        all.within_3_sigma >= 0.95,
        "3σ share {}",
        all.within_3_sigma
    );
    assert!(jump < 0.5, "jump {jump}");
    // Street, then the tunnel's level.
    assert_eq!(estimates[0].pose.unwrap().level, 0);
    assert_eq!(estimates.last().unwrap().pose.unwrap().level, -1);
    let vision_frames = estimates
        .iter()
        .filter(|e| matches!(e.source, Some(FixSource::Vision | FixSource::Fused)))
        .count();
    assert!(
        vision_frames * 10 >= estimates.len() * 7,
        "{vision_frames} vision frames"
    );
}

/// The drive's GNSS epochs with times in (`after`, `until`].
fn epochs_between(after: f64, until: f64) -> Vec<GnssInput> {
    drive()
        .gnss
        .iter()
        .filter(|epoch| epoch.time_s > after && epoch.time_s <= until)
        .copied()
        .collect()
}

#[test]
fn previews_leave_the_track_alone_and_a_late_detection_commits_as_in_order() {
    // Every fourth frame detected, as `mapfix serve` gets them: frame k's detections come
    // back while frames k … k+3 are being answered with previews (GNSS up to their times
    // on a copy), and only then are committed.
    const EVERY: usize = 4;
    let drive = drive();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut in_order = Tracker::new(&drive.map, drive.camera, TrackerOptions::default()).unwrap();
    let mut late = in_order.clone();
    let mut committed_s = f64::NEG_INFINITY;
    let mut previewed_with_vision = 0;
    for k in (0..drive.truth.len()).step_by(EVERY) {
        let time_s = drive.truth[k].time_s;
        let frame = detections(&drive.labels[k], &DETECTOR, &mut rng);
        let expected = in_order.step(
            time_s,
            Some(&frame),
            None,
            &epochs_between(committed_s, time_s),
        );
        for answered in &drive.truth[k..(k + EVERY).min(drive.truth.len())] {
            let preview = late.preview(
                answered.time_s,
                &[],
                &epochs_between(committed_s, answered.time_s),
            );
            assert_eq!(preview.time_s, answered.time_s);
            previewed_with_vision += usize::from(matches!(
                preview.source,
                Some(FixSource::Vision | FixSource::Fused)
            ));
        }
        let committed = late.step(
            time_s,
            Some(&frame),
            None,
            &epochs_between(committed_s, time_s),
        );
        assert_eq!(committed, expected, "frame {k} at {time_s} s");
        committed_s = time_s;
    }
    // The previews are estimates in their own right: within the vision window after a
    // committed fix they say so.
    assert!(
        previewed_with_vision * 2 >= drive.truth.len(),
        "{previewed_with_vision} of {} previews rest on vision",
        drive.truth.len()
    );
}

#[test]
fn gnss_alone_tracks_the_street_and_dead_reckons_underground() {
    let estimates = run(&Run {
        vision: false,
        gnss: true,
        gnss_jump: None,
        odometer: false,
        seed: 2,
    });
    let outage = frame_at(gnss_outage_start());
    let street = summarise("gnss only, street", &estimates, 0..outage);
    assert_eq!(street.available, street.frames);
    assert!(
        street.median_horizontal < 3.0,
        "{}",
        street.median_horizontal
    );
    assert!(
        street.within_3_sigma >= 0.9,
        "3σ share {}",
        street.within_3_sigma
    );
    assert!(estimates[..outage]
        .iter()
        .all(|e| e.source == Some(FixSource::Gnss)));
    // Underground: dead reckoning with growing uncertainty, then the track is given up
    // honestly rather than reported with a made-up accuracy.
    let underground = &estimates[outage..];
    let first_dead = underground
        .iter()
        .position(|e| e.source == Some(FixSource::DeadReckoning))
        .expect("dead reckoning after the GNSS outage");
    let sigmas: Vec<f64> = underground[first_dead..]
        .iter()
        .map_while(|e| e.pose.map(|p| p.sigma_horizontal()))
        .collect();
    assert!(sigmas.len() > 10);
    assert!(
        sigmas.windows(2).all(|w| w[1] >= w[0]),
        "σ must grow while dead reckoning"
    );
    assert!(sigmas.last().unwrap() > &(3.0 * sigmas[0]));
    let dead: Vec<f64> = (outage..estimates.len())
        .filter_map(|i| frame_error(&estimates[i], &drive().truth[i]))
        .map(|e| e.mahalanobis)
        .collect();
    assert!(dead.iter().filter(|&&m| m <= 3.0).count() * 10 >= dead.len() * 9);
}

#[test]
fn without_gnss_the_global_search_finds_the_vehicle() {
    let estimates = run(&Run {
        vision: true,
        gnss: false,
        gnss_jump: None,
        odometer: true,
        seed: 3,
    });
    let first = estimates
        .iter()
        .position(|e| e.pose.is_some())
        .expect("the global search never found the vehicle");
    assert!(estimates[first].flags.relocalised);
    let found = summarise(
        "no gnss, after the global search",
        &estimates,
        first..estimates.len(),
    );
    println!("no gnss: first estimate at frame {first}");
    // Three or more detectable signs are in view only from frame 90 on (the first two stand
    // on one post, which fixes the pose poorly); from the first find on, through the ramp
    // (lanes only) and the tunnel, the track holds: the road odometer carries it along the
    // road, the lanes across (when lanes pulled along too, at the ramp's foot, this drive's
    // median was 1.2 m and its p95 12 m).
    assert!(first <= 110, "first estimate only at frame {first}");
    assert_eq!(found.available, found.frames);
    assert!(
        found.median_horizontal < 0.4,
        "median {}",
        found.median_horizontal
    );
    assert!(
        found.median_lateral < 0.1,
        "lateral {}",
        found.median_lateral
    );
    assert!(
        found.within_3_sigma >= 0.85,
        "3σ share {}",
        found.within_3_sigma
    );
    assert!(estimates
        .iter()
        .all(|e| !matches!(e.source, Some(FixSource::Gnss | FixSource::Fused))));
}

#[test]
fn a_gnss_jump_of_20_m_is_flagged_and_does_not_move_the_track() {
    let window = 6.0..9.0;
    let jumped = run(&Run {
        vision: true,
        gnss: true,
        gnss_jump: Some((Vec3::new(20.0, 0.0, 0.0), window.clone())),
        odometer: false,
        seed: 4,
    });
    let frames = frame_at(window.start)..frame_at(window.end);
    let flagged = jumped[frames.clone()]
        .iter()
        .filter(|e| e.flags.gnss_multipath)
        .count();
    let epochs = drive()
        .gnss
        .iter()
        .filter(|e| window.contains(&e.time_s) && e.has_fix())
        .count();
    println!("gnss jump: {flagged} frames flagged for {epochs} shifted epochs");
    assert!(flagged * 10 >= epochs * 9, "{flagged} of {epochs} flagged");
    let during = summarise("gnss jump, during", &jumped, frames);
    assert!(during.p95_horizontal < 1.0, "p95 {}", during.p95_horizontal);
    assert!(
        during.within_3_sigma >= 0.9,
        "3σ share {}",
        during.within_3_sigma
    );
    // Without vision the same jump is flagged too.
    let blind = run(&Run {
        vision: false,
        gnss: true,
        gnss_jump: Some((Vec3::new(20.0, 0.0, 0.0), window.clone())),
        odometer: false,
        seed: 4,
    });
    let first = frame_at(window.start);
    assert!(blind[first..first + 4]
        .iter()
        .any(|e| e.flags.gnss_multipath));
    let clean = run(&Run {
        vision: true,
        gnss: true,
        gnss_jump: None,
        odometer: false,
        seed: 4,
    });
    let false_alarms = clean[frame_at(window.start)..frame_at(window.end)]
        .iter()
        .filter(|e| e.flags.gnss_multipath)
        .count();
    println!("gnss jump: {false_alarms} flagged frames in the same window without a jump");
    assert!(false_alarms * 4 < flagged);
}

#[test]
fn a_start_from_gnss_in_the_opposite_lane_keeps_to_the_right() {
    // The drive starts northbound on the ring road; GNSS puts it 3.3 m west, in the
    // southbound lane, for its first three seconds.
    let opposite_lane = Run {
        vision: true,
        gnss: true,
        gnss_jump: Some((Vec3::new(-3.3, 0.0, 0.0), 0.0..3.0)),
        odometer: false,
        seed: 5,
    };
    let first_seconds = 0..frame_at(3.0);
    let kept_right = summarise(
        "gnss in the opposite lane",
        &run(&opposite_lane),
        first_seconds.clone(),
    );
    assert!(
        kept_right.median_lateral < 0.3,
        "lateral {}",
        kept_right.median_lateral
    );
    // The same start with left-hand traffic assumed: the track takes the wrong lane.
    let left_hand = TrackerOptions {
        right_hand_traffic: false,
        ..TrackerOptions::default()
    };
    let kept_left = summarise(
        "gnss in the opposite lane, left-hand traffic",
        &run_with(&opposite_lane, left_hand),
        first_seconds,
    );
    assert!(
        kept_left.median_lateral > 2.0,
        "lateral {}",
        kept_left.median_lateral
    );
}

#[test]
fn association_from_a_good_prior_pairs_every_detection_with_its_own_landmark_and_a_loose_one_knows_lanes_are_ambiguous(
) {
    let drive = drive();
    let index = mapfix_map::MapIndex::new(&drive.map);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (mut signs, mut lanes) = (0, 0);
    let (mut clear_ambiguous, mut ambiguous, mut loose_lanes) = (0, 0, 0);
    for (truth, label) in drive.truth.iter().zip(&drive.labels).step_by(5) {
        // A prior 0.3 m and 0.3° off, with a covariance that says so.
        let prior = Prior {
            position: truth.position + Vec3::new(0.2, -0.2, 0.05),
            attitude: mapfix_core::Attitude {
                roll: truth.roll,
                pitch: truth.pitch,
                yaw: truth.yaw + 0.3f64.to_radians(),
            },
            covariance: nalgebra::SMatrix::<f64, 6, 6>::from_diagonal(
                &nalgebra::SVector::<f64, 6>::from_column_slice(&[
                    0.09, 0.09, 0.04, 3e-5, 3e-5, 3e-5,
                ]),
            ),
        };
        let clean = DetectorModel {
            miss_rate: 0.0,
            false_rate: 0.0,
            ..DETECTOR
        };
        let detections = detections(label, &clean, &mut rng);
        let visible = index.visible_from(&prior.pose(), &drive.camera, 80.0);
        let paired = associate(
            &index,
            &drive.camera,
            &prior,
            &visible,
            &detections,
            &AssociationOptions::default(),
        );
        let wanted: Vec<&LabelSign> = label.signs.iter().filter(|s| detectable(s)).collect();
        for pair in &paired.signs {
            assert_eq!(drive.map.signs[pair.sign].id, wanted[pair.detection].id);
        }
        // A sign may be missed only where the map thinks it is out of view.
        assert!(
            paired.signs.len() + 1 >= wanted.len(),
            "frame {}: {} of {} ({:?} visible)",
            label.frame,
            paired.signs.len(),
            wanted.len(),
            visible
                .signs
                .iter()
                .map(|v| (&drive.map.signs[v.sign].id, v.pixel))
                .collect::<Vec<_>>()
        );
        signs += paired.signs.len();
        for pair in &paired.lanes {
            let slot = detections.lanes[pair.detection].slot;
            let id = &drive.map.lane_lines[pair.lane_line].line.id;
            assert!(
                label
                    .lanes
                    .iter()
                    .any(|l| &l.id == id && LaneSlot::from_name(&l.slot) == Some(slot)),
                "frame {}: {slot:?} paired with {id}",
                label.frame
            );
        }
        lanes += paired.lanes.len();
        clear_ambiguous += paired.lanes.iter().filter(|pair| pair.ambiguous).count();

        // 4 m across the road (1σ) spans the neighbouring lines: which is which, the prior
        // cannot say.
        let mut loose = prior;
        loose.covariance[(0, 0)] = 16.0;
        loose.covariance[(1, 1)] = 16.0;
        let paired = associate(
            &index,
            &drive.camera,
            &loose,
            &visible,
            &detections,
            &AssociationOptions::default(),
        );
        loose_lanes += paired.lanes.len();
        ambiguous += paired.lanes.iter().filter(|pair| pair.ambiguous).count();
    }
    println!(
        "association: {signs} sign pairs and {lanes} lane pairs, all correct, \
         {clear_ambiguous} ambiguous; from a loose prior {ambiguous} of {loose_lanes}"
    );
    assert!(signs >= 50 && lanes >= 120, "{signs} signs, {lanes} lanes");
    // Where lines part at a junction, another one may be near enough even so.
    assert!(
        clear_ambiguous * 20 <= lanes,
        "{clear_ambiguous} of {lanes} ambiguous"
    );
    assert!(
        ambiguous * 10 >= loose_lanes * 9,
        "{ambiguous} of {loose_lanes} ambiguous"
    );
}

#[test]
fn a_map_without_landmarks_is_refused() {
    let empty = Map::new("empty", drive().map.frame);
    let error = Tracker::new(&empty, drive().camera, TrackerOptions::default()).unwrap_err();
    assert!(matches!(error, TrackerError::NoLandmarks(_)));
    assert!(error.to_string().contains("empty"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Whatever a detector or receiver reports — NaN, far outside the image, nonsense
    /// classes — the tracker neither panics nor reports a non-finite pose.
    #[test]
    fn garbage_in_never_breaks_the_track(
        values in proptest::collection::vec(
            proptest::prop_oneof![
                -1e6f32..1e6,
                proptest::prelude::Just(f32::NAN),
                proptest::prelude::Just(f32::INFINITY),
            ],
            24,
        ),
        gnss_offset in proptest::prop_oneof![
            -1e4f64..1e4,
            proptest::prelude::Just(f64::NAN),
        ],
    ) {
        let drive = drive();
        let mut tracker = Tracker::new(&drive.map, drive.camera, TrackerOptions::default()).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        for (k, (truth, label)) in drive.truth.iter().zip(&drive.labels).enumerate().skip(90).take(12) {
            let mut frame = detections(label, &DETECTOR, &mut rng);
            let v = |i: usize| values[(i + k) % values.len()];
            frame.signs.push(SignDetection {
                class: (v(0).abs() % 256.0) as u8,
                score: v(1),
                bbox: [v(2), v(3), v(4), v(5)],
                center: [v(6), v(7)],
            });
            frame.lanes.push(Lane {
                slot: LaneSlot::EgoLeft,
                score: 0.9,
                points: vec![[v(8), v(9)], [v(10), v(11)], [v(12), v(13)]],
            });
            let epoch = GnssInput {
                speed_mps: Some(f64::from(v(14))),
                course: Some(f64::from(v(15))),
                hdop: Some(f64::from(v(16))),
                ..GnssInput::enu(truth.time_s, truth.position + Vec3::repeat(gnss_offset))
            };
            let estimate = tracker.step(truth.time_s, Some(&frame), None, &[epoch]);
            if let Some(pose) = estimate.pose {
                proptest::prop_assert!(pose.position.iter().all(|x| x.is_finite()));
                proptest::prop_assert!(pose.covariance.iter().all(|x| x.is_finite()));
            }
        }
    }
}

/// The track after the road told it that the car braked from 5 m/s to a stop in a turn
/// and stood (1 s each), then moved on as `moving(frame)` says from frame 31 (15 frames a
/// second) to `last_frame`; GNSS gave the start, or all along keeps the car where it
/// started.
fn after_a_stop(
    last_frame: usize,
    moving: impl Fn(usize) -> (Option<f64>, f64),
    gnss_all_along: bool,
) -> TrackedPose {
    let drive = drive();
    let mut tracker = Tracker::new(&drive.map, drive.camera, TrackerOptions::default()).unwrap();
    let at = drive.truth[0].position;
    let mut pose = None;
    for frame in 0..=last_frame {
        let time_s = frame as f64 / 15.0;
        // Distance (m, when seen) and yaw change (rad) since the last frame.
        let (distance_m, yaw_change_rad) = match frame {
            0..=15 => {
                let distance_m = 5.0 * (1.0 - frame as f64 / 15.0) / 15.0;
                (Some(distance_m), 0.05 * distance_m)
            }
            16..=30 => (Some(0.0), 0.0),
            _ => moving(frame),
        };
        let motion = GroundMotion {
            time_s,
            interval_s: 1.0 / 15.0,
            distance_m,
            yaw_change_rad,
            distance_sigma_m: 0.06,
            yaw_sigma_rad: 0.004,
            road_ahead_m: (5.0, 12.0),
        };
        let epochs = if frame == 0 {
            // Its course (east, as the drive starts) gives the track a heading.
            vec![GnssInput {
                speed_mps: Some(5.0),
                course: Some(std::f64::consts::FRAC_PI_2),
                ..GnssInput::enu(time_s, at)
            }]
        } else if gnss_all_along {
            vec![GnssInput::enu(time_s, at)]
        } else {
            Vec::new()
        };
        let motion = (frame > 0).then_some(motion);
        pose = tracker.step(time_s, None, motion.as_ref(), &epochs).pose;
    }
    pose.expect("a track")
}

#[test]
fn a_filter_sure_the_car_stands_follows_the_road_once_it_shows_one_speed_throughout() {
    // In a turn the yaw rate, speed × curvature, holds a standing filter's speed at zero;
    // nothing else measures it without GNSS, and after a third of a second of road speeds
    // outside its gate the filter takes the road's word.
    let straight_on = |_| (Some(5.0 / 15.0), 0.0);
    let speed = after_a_stop(45, straight_on, false).speed;
    assert!((speed - 5.0).abs() < 0.5, "speed {speed:.2} m/s");
    // A GNSS that keeps the car where it stands outweighs the road.
    let speed = after_a_stop(45, straight_on, true).speed;
    assert!(speed.abs() < 1.0, "speed {speed:.2} m/s");
}

#[test]
fn a_car_driving_off_where_the_road_shows_only_its_turn_turns_its_heading() {
    // It drives off round a right-angled corner in 3 s over a floor too plain to show the
    // distance, turning faster as it speeds up; the horizon shows the turn frame by frame.
    // The filter cannot tell the speed, so a yaw rate (speed × curvature) would leave its
    // heading where it was.
    let per_frame_and_frame = std::f64::consts::FRAC_PI_2 / (45.0 * 46.0 / 2.0);
    let right_turn = |frame| (None, -per_frame_and_frame * (frame - 30) as f64);
    let standing = after_a_stop(30, right_turn, false);
    let pose = after_a_stop(75, right_turn, false);
    let turned = wrap_angle(pose.yaw - standing.yaw).to_degrees();
    assert!((turned + 90.0).abs() < 5.0, "turned {turned:.1}°");
    // The turn tells nothing of the speed (a car reversing on a left-hand curve turns
    // right too).
    assert!(pose.speed.abs() < 1.0, "speed {:.2} m/s", pose.speed);
    assert!(pose.sigma_heading().to_degrees() < 5.0);
}
