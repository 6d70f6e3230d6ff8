//! `mapfix detect` (signs and lane lines in images, as JSON lines or pictures) and
//! `mapfix detect-eval` (the detector's figures on a labelled set: a simulated set or drive,
//! or GTSDB scenes).

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mapfix_detector::card::Thresholds;
use mapfix_detector::data::{self, LaneLabel, SignLabel};
use mapfix_detector::detector::Detector;
use mapfix_detector::image_input::read_rgb;
use mapfix_detector::metrics::{Evaluation, Metrics, SignRules};
use mapfix_detector::{draw, Detections};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The shipped model, relative to the repository root.
const DEFAULT_MODEL: &str = "models/detector.safetensors";
/// Image files `detect` takes from a folder.
const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "ppm"];
/// `detect-eval` keeps detections down to this score so that AP sees the whole
/// precision–recall curve; precision and recall use the card's threshold.
const AP_MIN_SCORE: f32 = 0.05;

#[derive(Args)]
pub struct DetectArgs {
    /// Images (PNG, JPEG, PPM), or folders whose images are all taken (not recursively).
    #[arg(value_name = "IMAGE_OR_DIR", required = true)]
    inputs: Vec<PathBuf>,
    /// Print one JSON line per image (signs and lanes in the image's own pixels, and the
    /// detection time) instead of a summary line.
    #[arg(long)]
    json: bool,
    /// Write each image with its detections drawn as OUT_DIR/<name>.png.
    #[arg(long, value_name = "OUT_DIR")]
    draw: Option<PathBuf>,
    /// The model file (its card `detector.json` beside it).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// Lowest score of a reported sign (default: the model card's).
    #[arg(long, value_name = "SCORE")]
    sign_score: Option<f32>,
    /// Lowest score of a reported lane line (default: the model card's).
    #[arg(long, value_name = "SCORE")]
    lane_score: Option<f32>,
}

/// Which GTSDB scenes to score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Split {
    /// The scenes training never saw (data::GTSDB_HELD_BACK, 00040–00049).
    HeldBack,
    /// The scenes training used.
    Training,
    /// All of them.
    All,
}

#[derive(Args)]
pub struct DetectEvalArgs {
    /// A labelled set: a folder with `labels.jsonl` and `frames/` (JPEG or PNG) or
    /// `video.mp4` (simulated sets and drives), or GTSDB scenes with `gt.txt`.
    #[arg(long, value_name = "DRIVE_OR_GTSDB_DIR")]
    labels: PathBuf,
    /// Print one JSON object instead of the text summary.
    #[arg(long)]
    json: bool,
    /// The model file (its card `detector.json` beside it).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// GTSDB scenes to score (default: held back from training).
    #[arg(long, value_enum)]
    split: Option<Split>,
    /// Operating sign score for precision, recall, class accuracy and centre error
    /// (default: the model card's).
    #[arg(long, value_name = "SCORE")]
    sign_score: Option<f32>,
    /// Labelled signs shorter than this (pixels, scaled to a 1280-wide image) are
    /// don't-care.
    #[arg(long, value_name = "PX", default_value_t = SignRules::default().min_height_1280)]
    min_height: f32,
    /// Labelled signs less visible than this share are don't-care.
    #[arg(long, value_name = "SHARE", default_value_t = SignRules::default().min_visible)]
    min_visible: f32,
    /// Score only the first N images (frames) of the set.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

fn load_detector(path: &Path) -> anyhow::Result<Detector> {
    Detector::load(path).with_context(|| format!("loading the detector {}", path.display()))
}

/// A score given on the command line, checked.
fn score(value: Option<f32>, flag: &str) -> anyhow::Result<Option<f32>> {
    match value {
        Some(v) if !(0.0..=1.0).contains(&v) => bail!("{flag} must be in [0, 1], got {v}"),
        _ => Ok(value),
    }
}

pub fn detect(args: DetectArgs) -> anyhow::Result<()> {
    let images = expand_inputs(&args.inputs)?;
    let detector = load_detector(&args.model)?;
    let card = detector.thresholds();
    let detector = detector.with_thresholds(Thresholds {
        sign_score: score(args.sign_score, "--sign-score")?.unwrap_or(card.sign_score),
        lane_score: score(args.lane_score, "--lane-score")?.unwrap_or(card.lane_score),
        ..card
    });
    if let Some(dir) = &args.draw {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut drawn_names = HashSet::new();
    let mut failures = 0;
    for path in &images {
        match detect_one(&detector, path, &args, &mut drawn_names) {
            Ok(()) => {}
            Err(error) => {
                eprintln!("error: {error:#}");
                failures += 1;
            }
        }
    }
    if failures > 0 {
        bail!("{failures} of {} images failed", images.len());
    }
    Ok(())
}

fn detect_one(
    detector: &Detector,
    path: &Path,
    args: &DetectArgs,
    drawn_names: &mut HashSet<PathBuf>,
) -> anyhow::Result<()> {
    let mut image = read_rgb(path)?;
    let started = Instant::now();
    let detections = detector
        .detect(&image)
        .with_context(|| format!("detecting in {}", path.display()))?;
    let millis = started.elapsed().as_secs_f64() * 1e3;
    if args.json {
        // Through text: f32 prints shortest as f32 (628.55), not widened to f64 (628.549987…).
        let mut line: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&rounded(&detections))?)?;
        line["image"] = json!(path);
        line["millis"] = json!(round_to(millis, 10.0));
        println!("{line}");
    } else {
        println!("{}", summary(path, &detections, millis));
    }
    if let Some(dir) = &args.draw {
        draw::draw_detections(&mut image, &detections);
        let out = unique_name(dir, path, drawn_names);
        image
            .save(&out)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(())
}

fn round_to(value: f64, per_unit: f64) -> f64 {
    (value * per_unit).round() / per_unit
}

/// Detections with pixels to 0.01 and scores to 0.001, for JSON lines people read.
fn rounded(detections: &Detections) -> Detections {
    let pixel = |v: f32| round_to(f64::from(v), 100.0) as f32;
    let score = |v: f32| round_to(f64::from(v), 1000.0) as f32;
    let mut out = detections.clone();
    for sign in &mut out.signs {
        sign.score = score(sign.score);
        sign.bbox = sign.bbox.map(pixel);
        sign.center = sign.center.map(pixel);
    }
    for lane in &mut out.lanes {
        lane.score = score(lane.score);
        for point in &mut lane.points {
            *point = point.map(pixel);
        }
    }
    out
}

/// One line: the image, each sign as class@(u, v) with its score, the lane slots found.
fn summary(path: &Path, detections: &Detections, millis: f64) -> String {
    let signs: Vec<String> = detections
        .signs
        .iter()
        .map(|s| {
            format!(
                "{}@({:.1}, {:.1}) {:.2}",
                s.class, s.center[0], s.center[1], s.score
            )
        })
        .collect();
    let lanes: Vec<&str> = detections.lanes.iter().map(|l| l.slot.name()).collect();
    format!(
        "{}: {} signs [{}], lanes [{}], {millis:.0} ms",
        path.display(),
        signs.len(),
        signs.join(", "),
        lanes.join(", ")
    )
}

/// `OUT_DIR/<stem>.png`, with `-2`, `-3` … added when an earlier image had that name.
fn unique_name(dir: &Path, image: &Path, taken: &mut HashSet<PathBuf>) -> PathBuf {
    let stem = image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let mut candidate = dir.join(format!("{stem}.png"));
    let mut copy = 1;
    while taken.contains(&candidate) {
        copy += 1;
        candidate = dir.join(format!("{stem}-{copy}.png"));
    }
    taken.insert(candidate.clone());
    candidate
}

/// Files as given; folders replaced by their image files in name order.
fn expand_inputs(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut images = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let listing = std::fs::read_dir(input)
                .with_context(|| format!("cannot list {}", input.display()))?;
            let mut found = Vec::new();
            for entry in listing {
                let path = entry
                    .with_context(|| format!("cannot list {}", input.display()))?
                    .path();
                let image_file = path.is_file()
                    && path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                    });
                if image_file {
                    found.push(path);
                }
            }
            if found.is_empty() {
                bail!(
                    "{}: no images (PNG, JPEG, PPM) in this folder",
                    input.display()
                );
            }
            found.sort();
            images.extend(found);
        } else if input.exists() {
            images.push(input.clone());
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    Ok(images)
}

/// What a labelled folder is.
enum LabelledSet {
    Gtsdb(data::DataSet),
    /// A simulated set or drive: labels by frame number, pictures in `frames/` or a video.
    Simulated {
        frames: Vec<data::FrameLabels>,
        pictures: Pictures,
    },
}

enum Pictures {
    Files(PathBuf),
    Video(PathBuf),
}

impl LabelledSet {
    fn open(dir: &Path, split: Option<Split>) -> anyhow::Result<Self> {
        if dir.join("gt.txt").is_file() {
            let set = data::read_gtsdb(dir)?;
            let (training, held_back) = set.clone().split_gtsdb();
            return Ok(LabelledSet::Gtsdb(match split.unwrap_or(Split::HeldBack) {
                Split::HeldBack => held_back,
                Split::Training => training,
                Split::All => set,
            }));
        }
        let labels = dir.join("labels.jsonl");
        if !labels.is_file() {
            bail!(
                "{}: neither gt.txt (GTSDB scenes) nor labels.jsonl (a simulated set or drive)",
                dir.display()
            );
        }
        if split.is_some() {
            bail!(
                "--split picks GTSDB scenes; {} is a simulated set",
                dir.display()
            );
        }
        let frames_dir = dir.join("frames");
        let video = dir.join("video.mp4");
        let pictures = if frames_dir.is_dir() {
            Pictures::Files(frames_dir)
        } else if video.is_file() {
            Pictures::Video(video)
        } else {
            bail!("{}: no frames/ folder and no video.mp4", dir.display());
        };
        Ok(LabelledSet::Simulated {
            frames: data::read_labels(&labels)?,
            pictures,
        })
    }

    /// The first `limit` images (frames) only, when given.
    fn limited(mut self, limit: Option<usize>) -> Self {
        if let Some(limit) = limit {
            match &mut self {
                LabelledSet::Gtsdb(set) => set.items.truncate(limit),
                LabelledSet::Simulated { frames, .. } => frames.truncate(limit),
            }
        }
        self
    }

    fn len(&self) -> usize {
        match self {
            LabelledSet::Gtsdb(set) => set.items.len(),
            LabelledSet::Simulated { frames, .. } => frames.len(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            LabelledSet::Gtsdb(_) => "gtsdb",
            LabelledSet::Simulated {
                pictures: Pictures::Files(_),
                ..
            } => "simulated frames",
            LabelledSet::Simulated {
                pictures: Pictures::Video(_),
                ..
            } => "simulated video",
        }
    }

    /// Runs the detector on every labelled picture and hands `score` the picture's sign
    /// and lane labels, its size and what was found.
    fn detect_all(
        &self,
        detector: &Detector,
        mut score: impl FnMut(&[SignLabel], Option<&[LaneLabel]>, [u32; 2], &Detections),
    ) -> anyhow::Result<()> {
        match self {
            LabelledSet::Gtsdb(set) => {
                for item in &set.items {
                    let image = read_rgb(&item.path)?;
                    let found = detector.detect(&image)?;
                    score(
                        &item.signs,
                        item.lanes.as_deref(),
                        [image.width(), image.height()],
                        &found,
                    );
                }
            }
            LabelledSet::Simulated {
                frames,
                pictures: Pictures::Files(dir),
            } => {
                for labels in frames {
                    let image = read_rgb(&frame_file(dir, labels.frame)?)?;
                    let found = detector.detect(&image)?;
                    score(
                        &labels.signs,
                        Some(&labels.lanes),
                        [image.width(), image.height()],
                        &found,
                    );
                }
            }
            LabelledSet::Simulated {
                frames,
                pictures: Pictures::Video(path),
            } => {
                let mut wanted: BTreeMap<u64, &data::FrameLabels> =
                    frames.iter().map(|f| (f.frame as u64, f)).collect();
                for frame in mapfix_io::frames::Mp4Source::open(path)? {
                    let frame = frame?;
                    if let Some(labels) = wanted.remove(&frame.index) {
                        let image = &frame.image;
                        let found = detector.detect(image)?;
                        score(
                            &labels.signs,
                            Some(&labels.lanes),
                            [image.width(), image.height()],
                            &found,
                        );
                    }
                }
                if let Some((&missing, _)) = wanted.first_key_value() {
                    bail!(
                        "{}: labels.jsonl labels frame {missing}, but the video has no such frame",
                        path.display()
                    );
                }
            }
        }
        Ok(())
    }
}

/// `frames/NNNNNN.jpg` (training sets) or `.png` (drives).
fn frame_file(dir: &Path, frame: usize) -> anyhow::Result<PathBuf> {
    ["jpg", "png"]
        .iter()
        .map(|extension| dir.join(format!("{frame:06}.{extension}")))
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "{}: no picture of frame {frame} ({frame:06}.jpg or .png)",
                dir.display()
            )
        })
}

pub fn evaluate(args: DetectEvalArgs) -> anyhow::Result<()> {
    let detector = load_detector(&args.model)?;
    let card = detector.thresholds();
    let sign_score = score(args.sign_score, "--sign-score")?.unwrap_or(card.sign_score);
    if !(args.min_height >= 0.0 && args.min_height.is_finite()) {
        bail!(
            "--min-height must be a non-negative number of pixels, got {}",
            args.min_height
        );
    }
    if !(0.0..=1.0).contains(&args.min_visible) {
        bail!("--min-visible must be in [0, 1], got {}", args.min_visible);
    }
    let detector = detector.with_thresholds(Thresholds {
        sign_score: sign_score.min(AP_MIN_SCORE),
        ..card
    });
    let set = LabelledSet::open(&args.labels, args.split)?.limited(args.limit);
    let mut evaluation = Evaluation::new(SignRules {
        min_score: sign_score,
        min_height_1280: args.min_height,
        min_visible: args.min_visible,
    });
    let bar = ProgressBar::new(set.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("detect-eval [{bar:40}] {pos}/{len} images, {eta} left")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    set.detect_all(&detector, |signs, lanes, size, detections| {
        evaluation.add(signs, lanes, size, detections);
        bar.inc(1);
    })
    .with_context(|| format!("evaluating on {}", args.labels.display()))?;
    bar.finish_and_clear();
    let metrics = evaluation.finish();
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let report = json!({
            "labels": args.labels,
            "kind": set.kind(),
            "split": split_name(&set, args.split),
            "model": args.model,
            "seconds": seconds,
            "metrics": metrics,
        });
        println!("{report}");
    } else {
        let split = split_name(&set, args.split)
            .map(|name| format!(", {name} split"))
            .unwrap_or_default();
        println!(
            "{}: {} images ({}{split}), model {}, {seconds:.1} s",
            args.labels.display(),
            metrics.images,
            set.kind(),
            args.model.display()
        );
        print!("{}", report_text(&metrics));
    }
    Ok(())
}

/// The GTSDB split scored, by its command-line name; none for simulated sets.
fn split_name(set: &LabelledSet, split: Option<Split>) -> Option<String> {
    matches!(set, LabelledSet::Gtsdb(_)).then(|| {
        split
            .unwrap_or(Split::HeldBack)
            .to_possible_value()
            .map_or_else(String::new, |value| value.get_name().to_owned())
    })
}

fn figure(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.3}"))
}

fn report_text(metrics: &Metrics) -> String {
    let s = &metrics.signs;
    let r = &s.rules;
    let mut text = format!(
        "signs: {} labelled, {} don't-care (under {} px tall at 1280 wide, under {:.0} % visible \
         or centred off the picture)\n",
        s.labels,
        s.dont_care,
        r.min_height_1280,
        100.0 * r.min_visible
    );
    text += &format!(
        "  precision {}  recall {}  at score ≥ {:.2}: {} true, {} false positives, {} missed\n",
        figure(s.precision),
        figure(s.recall),
        r.min_score,
        s.true_positives,
        s.false_positives,
        s.misses
    );
    text += &format!(
        "  AP@0.5 {}  best recall at precision ≥ 0.95: {}, ≥ 0.85: {}\n",
        figure(s.ap50),
        figure(s.recall_at_precision_95),
        figure(s.recall_at_precision_85)
    );
    text += &format!(
        "  class accuracy {} of {} localised  median centre error {} px ({} px at 1280 wide)\n",
        figure(s.class_accuracy),
        s.localised,
        figure(s.median_center_error_px),
        figure(s.median_center_error_px_1280)
    );
    for band in s.by_height.iter().filter(|band| band.labels > 0) {
        let to = band
            .to_px_1280
            .map_or_else(|| "+".to_string(), |to| format!("–{to:.0}"));
        text += &format!(
            "  {:.0}{to} px tall: recall {} ({} of {}), localised {}, class accuracy {}\n",
            band.from_px_1280,
            figure(band.recall()),
            band.true_positives,
            band.labels,
            band.localised,
            figure(band.class_accuracy()),
        );
    }
    match &metrics.lanes {
        None => text += "lanes: no lane labels in this set\n",
        Some(lanes) => {
            text += &format!(
                "lanes: accuracy {} ({} of {} label points within 20 px at 1280 wide), rows {} ({} of {})  F1 {}\n",
                figure(lanes.accuracy),
                lanes.accurate_points,
                lanes.points,
                figure(lanes.row_accuracy),
                lanes.accurate_rows,
                lanes.rows,
                figure(lanes.f1)
            );
            for slot in &lanes.slots {
                text += &format!(
                    "  {:<12} F1 {}  ({} true, {} false positives, {} missed)\n",
                    slot.slot.name(),
                    figure(slot.f1),
                    slot.true_positives,
                    slot.false_positives,
                    slot.misses
                );
            }
        }
    }
    text
}

#[derive(Args)]
pub struct BenchDetectorArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// The model file (its card `detector.json` beside it).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// The pretrained backbone alone (same layers as the model's), for its own timing.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_BACKBONE)]
    backbone: PathBuf,
    /// Timed detections, after two untimed ones.
    #[arg(long, default_value_t = 20)]
    frames: usize,
    /// Worker threads, unless RAYON_NUM_THREADS says otherwise.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

const DEFAULT_BACKBONE: &str = "models/efficientnet-lite0.safetensors";
/// Size of the frames the benchmark times.
const BENCH_WIDTH: u32 = 1280;
const BENCH_HEIGHT: u32 = 720;
/// Distinct street frames the timed detections cycle through.
const BENCH_SCENES: usize = 4;

/// `mapfix bench detector`: detection time per 1280×720 frame (letterbox resize, backbone,
/// both heads and their decoding, batch 1), the backbone's time alone, the network's
/// counted FLOPs over those times, and candle's matrix product measured in the same run:
/// the machine's ceiling on a large square product, and the rate on the network's own 1×1
/// layer shapes.
pub fn bench(args: BenchDetectorArgs) -> anyhow::Result<()> {
    if args.frames == 0 || args.threads == 0 {
        bail!("--frames and --threads must be at least 1");
    }
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Before any thread pool exists: rayon and candle read it when they start.
        std::env::set_var("RAYON_NUM_THREADS", args.threads.to_string());
    }
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(args.threads);
    let flops = count_flops(&tensor_shapes(&args.model)?)
        .with_context(|| format!("counting the FLOPs of {}", args.model.display()))?;
    let detector = load_detector(&args.model)?;
    let frames = street_frames()?;
    for frame in frames.iter().take(2) {
        detector.detect(&frame.image)?;
    }
    let detect_ms = median_ms(args.frames, |index| {
        std::hint::black_box(detector.detect(&frames[index % frames.len()].image)?);
        Ok(())
    })?;

    let classifier_ms = detector
        .classifier()
        .map(|classifier| time_classifier(classifier, &frames[0].image, args.frames))
        .transpose()?;

    let backbone = mapfix_detector::EfficientNetLite0::from_file(&args.backbone)
        .with_context(|| format!("loading {}", args.backbone.display()))?;
    let letterbox = |index: usize| {
        let frame = std::slice::from_ref(&frames[index % frames.len()].image);
        mapfix_detector::input::input_batch(frame)
    };
    let (input, _) = letterbox(0)?;
    let resize_ms = median_ms(args.frames, |index| {
        std::hint::black_box(letterbox(index)?);
        Ok(())
    })?;
    backbone.forward(&input)?;
    let backbone_ms = median_ms(args.frames, |_| {
        std::hint::black_box(backbone.forward(&input)?);
        Ok(())
    })?;

    // candle's matrix product in the same run: on a large square shape (the ceiling), and
    // on the network's own 1×1 layers, each once per round, (1, M, K)·(1, K, N) as the
    // backbone calls it.
    let values = input.flatten_all()?;
    let time_matmuls = |shapes: &[[usize; 3]]| -> anyhow::Result<f64> {
        let most = shapes
            .iter()
            .map(|&[m, k, n]| (m * k).max(k * n))
            .max()
            .unwrap_or(0);
        let values = values.repeat(most.div_ceil(values.dim(0)?))?;
        let operands = shapes
            .iter()
            .map(|&[m, k, n]| {
                let weight = values.narrow(0, 0, m * k)?.reshape((1, m, k))?;
                let pixels = values.narrow(0, 0, k * n)?.reshape((1, k, n))?;
                Ok((weight, pixels))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let round = |_| {
            for (weight, pixels) in &operands {
                std::hint::black_box(weight.broadcast_matmul(pixels)?);
            }
            Ok(())
        };
        round(0)?;
        median_ms(args.frames, round)
    };
    let peak = [GEMM_SIDE; 3];
    let peak_ms = time_matmuls(&[peak])?;
    let network_ms = time_matmuls(&flops.matmuls)?;
    let matmul_flops = |shapes: &[[usize; 3]]| {
        shapes
            .iter()
            .map(|&[m, k, n]| 2.0 * (m * k * n) as f64)
            .sum::<f64>()
    };

    let network = flops.backbone + flops.sign_head + flops.lane_head;
    let gflops = |operations: f64, ms: f64| operations / (ms * 1e-3) / 1e9;
    let gflops_effective = gflops(network, detect_ms);
    let gflops_backbone = gflops(flops.backbone, backbone_ms);
    let gemm_gflops = gflops(matmul_flops(&[peak]), peak_ms);
    let gemm_network_gflops = gflops(matmul_flops(&flops.matmuls), network_ms);
    if args.json {
        let report = json!({
            "ms_per_frame": detect_ms,
            "gflops_effective": gflops_effective,
            "gemm_gflops": gemm_gflops,
            "resize_ms": resize_ms,
            "backbone_ms": backbone_ms,
            "gflops_backbone": gflops_backbone,
            "gflop_backbone": flops.backbone / 1e9,
            "gflop_sign_head": flops.sign_head / 1e9,
            "gflop_lane_head": flops.lane_head / 1e9,
            "gemm_shape": peak,
            "gemm_network_shapes_gflops": gemm_network_gflops,
            "network_matmuls": flops.matmuls.len(),
            "frame": [BENCH_WIDTH, BENCH_HEIGHT],
            "frames": args.frames,
            "threads": threads,
            "model": args.model,
            "classifier_ms_per_crop": classifier_ms,
            "classifier_batch": CLASSIFIER_BATCH,
        });
        println!("{report}");
    } else {
        println!(
            "detector: {BENCH_WIDTH}×{BENCH_HEIGHT} frames, batch 1, {threads} threads, median of {} runs",
            args.frames
        );
        println!(
            "  detect (resize, backbone, both heads, decoding) {detect_ms:7.1} ms per frame, {gflops_effective:5.1} GFLOP/s effective ({:.2} GFLOP: backbone {:.2}, sign head {:.2}, lane head {:.2})",
            network / 1e9,
            flops.backbone / 1e9,
            flops.sign_head / 1e9,
            flops.lane_head / 1e9
        );
        println!("  of which letterbox resize to the 640×384 input  {resize_ms:7.1} ms");
        println!("  backbone alone                                 {backbone_ms:7.1} ms, {gflops_backbone:5.1} GFLOP/s effective");
        if let Some(ms) = classifier_ms {
            println!("  sign classifier (crop, resize, network; {CLASSIFIER_BATCH} crops a call) {ms:7.3} ms per crop");
        }
        println!(
            "  candle matmul {GEMM_SIDE}×{GEMM_SIDE}×{GEMM_SIDE}: {gemm_gflops:.1} GFLOP/s; on the network's {} 1×1 layer shapes: {gemm_network_gflops:.1} GFLOP/s",
            flops.matmuls.len()
        );
    }
    Ok(())
}

/// Crops the classifier benchmark classifies per call (a busy frame's candidates).
const CLASSIFIER_BATCH: usize = 16;

/// Median milliseconds per crop of classifying [`CLASSIFIER_BATCH`] sign-sized boxes of a
/// frame: cutting the crops and the network.
fn time_classifier(
    classifier: &mapfix_detector::sign_classifier::SignClassifier,
    frame: &image::RgbImage,
    runs: usize,
) -> anyhow::Result<f64> {
    use mapfix_detector::sign_classifier::{crop_pixels, crops_tensor};
    let boxes: Vec<[f32; 4]> = (0..CLASSIFIER_BATCH)
        .map(|k| {
            let (x, side) = (40.0 + 75.0 * k as f32, 20.0 + 2.5 * k as f32);
            [x, 300.0, x + side, 300.0 + side]
        })
        .collect();
    let classify = |_| {
        let crops: Vec<_> = boxes.iter().map(|&b| crop_pixels(frame, b)).collect();
        std::hint::black_box(classifier.probabilities(&crops_tensor(&crops)?)?);
        Ok(())
    };
    classify(0)?;
    Ok(median_ms(runs, classify)? / CLASSIFIER_BATCH as f64)
}

/// Side of the square matrix product that measures the machine's gemm ceiling.
const GEMM_SIDE: usize = 1024;

/// Median milliseconds of `runs` calls of `run` (given the call's index).
fn median_ms(runs: usize, mut run: impl FnMut(usize) -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let mut times = Vec::with_capacity(runs);
    for index in 0..runs {
        let started = Instant::now();
        run(index)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Daylight 1280×720 dashcam views along the demo town's longest street lane.
fn street_frames() -> anyhow::Result<Vec<mapfix_sim::render::RenderedFrame>> {
    use mapfix_core::{Attitude, Pose};
    use mapfix_sim::render::{Conditions, ConditionsPreset, Scene};
    let map = mapfix_map::demo_town::generate(mapfix_map::demo_town::SHIPPED_SEED);
    let scene = Scene::build(&map, 1);
    let network = mapfix_sim::lanes::LaneNetwork::from_map(&map);
    let lane = network
        .lanes
        .iter()
        .filter(|lane| lane.level == 0)
        .max_by(|a, b| a.centre.length().total_cmp(&b.centre.length()))
        .context("the demo town has no street lane")?;
    let camera = mapfix_sim::drive::dashcam(BENCH_WIDTH, BENCH_HEIGHT, 30.0);
    let conditions = Conditions::preset(ConditionsPreset::Day);
    Ok((0..BENCH_SCENES)
        .map(|index| {
            let s = lane.centre.length() * (index as f64 + 0.5) / BENCH_SCENES as f64;
            let direction = lane.centre.direction_at(s);
            let attitude = Attitude {
                roll: 0.0,
                pitch: 0.0,
                yaw: direction.y.atan2(direction.x),
            };
            let vehicle = Pose::new(lane.centre.point_at(s), attitude);
            scene.render(&camera, &vehicle, &conditions, index as u64)
        })
        .collect())
}

/// Names and shapes of the tensors in a safetensors file, from its header.
fn tensor_shapes(path: &Path) -> anyhow::Result<BTreeMap<String, Vec<usize>>> {
    use std::io::Read;
    let context = || format!("reading the tensor table of {}", path.display());
    let mut file = std::fs::File::open(path).with_context(context)?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length).with_context(context)?;
    let length = u64::from_le_bytes(length);
    if length > 100 << 20 {
        bail!(
            "{}: a safetensors header of {length} bytes is not plausible",
            path.display()
        );
    }
    let mut header = vec![0u8; length as usize];
    file.read_exact(&mut header).with_context(context)?;
    let table: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).with_context(context)?;
    table
        .into_iter()
        .filter(|(name, _)| name != "__metadata__")
        .map(|(name, entry)| {
            let shape = entry["shape"].as_array().and_then(|dims| {
                dims.iter()
                    .map(|d| d.as_u64().map(|d| d as usize))
                    .collect()
            });
            match shape {
                Some(shape) => Ok((name, shape)),
                None => bail!("{}: tensor `{name}` has no shape", path.display()),
            }
        })
        .collect()
}

/// Floating-point operations of one 640×384 input, per part.
struct FlopCount {
    backbone: f64,
    sign_head: f64,
    lane_head: f64,
    /// (M, K, N) of every 1×1 convolution and fully connected layer run on a map: an
    /// (M×K)·(K×N) product.
    matmuls: Vec<[usize; 3]>,
}

/// Strides of EfficientNet-Lite0's 16 MBConv blocks (Tan & Le 2019, table 1: the first
/// block of stages 2, 3, 4 and 6 halves the resolution); the stem halves it before them.
const BLOCK_STRIDES: [usize; 16] = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1];

/// Counts multiply-adds as two operations each, from the weight shapes in the model file
/// and the feature map each layer runs on: 2 · (weights) · (output positions) for every
/// convolution, depthwise or not, and every fully connected layer. Biases, activations,
/// upsampling and decoding are not counted. The backbone's classifier (`head`,
/// `classifier`) does not run in the detector. A tensor this table does not place is an
/// error, so a changed network cannot be counted silently wrong.
fn count_flops(shapes: &BTreeMap<String, Vec<usize>>) -> anyhow::Result<FlopCount> {
    use mapfix_detector::input::{INPUT_HEIGHT, INPUT_WIDTH};
    let cells = |stride: usize| {
        (INPUT_HEIGHT as usize).div_ceil(stride) * (INPUT_WIDTH as usize).div_ceil(stride)
    };
    // The lane head works on the stride-8 rows its anchors cover, two anchors per row.
    let lane_rows = mapfix_detector::lane_head::ANCHOR_ROWS / 2;
    let lane_cells = lane_rows * (INPUT_WIDTH as usize).div_ceil(8);
    let mut count = FlopCount {
        backbone: 0.0,
        sign_head: 0.0,
        lane_head: 0.0,
        matmuls: Vec::new(),
    };
    for (name, shape) in shapes {
        if !name.ends_with(".weight") {
            continue;
        }
        let positions = if let Some(rest) = name.strip_prefix("backbone.") {
            let stride_before = |block: usize| 2 * BLOCK_STRIDES[..block].iter().product::<usize>();
            match rest.split('.').collect::<Vec<_>>()[..] {
                ["stem", _] => cells(2),
                ["head" | "classifier", _] => 0,
                ["blocks", block, layer, _] => {
                    let block: usize = block
                        .parse()
                        .ok()
                        .filter(|&b| b < BLOCK_STRIDES.len())
                        .with_context(|| format!("`{name}`: no such EfficientNet-Lite0 block"))?;
                    match layer {
                        "expand" => cells(stride_before(block)),
                        _ => cells(stride_before(block) * BLOCK_STRIDES[block]),
                    }
                }
                _ => bail!("`{name}`: not a layer of EfficientNet-Lite0"),
            }
        } else if name.starts_with("sign_head.") {
            if name.starts_with("sign_head.lateral16.") {
                cells(16)
            } else {
                cells(8)
            }
        } else if name.starts_with("sign_classifier.") {
            // Runs per detected sign, not per frame: timed apart.
            continue;
        } else if name.starts_with("lane_head.") {
            match name.split('.').nth(1) {
                Some("lateral32") => cells(32),
                Some("lateral16") => cells(16),
                Some("scene") => 1,
                Some("absent") => lane_rows,
                _ => lane_cells,
            }
        } else {
            bail!("`{name}` belongs to no part of the detector");
        };
        let weights: usize = shape.iter().product();
        let operations = 2.0 * weights as f64 * positions as f64;
        let part = match name.split('.').next() {
            Some("backbone") => &mut count.backbone,
            Some("sign_head") => &mut count.sign_head,
            _ => &mut count.lane_head,
        };
        *part += operations;
        let pointwise =
            shape.len() == 2 || (shape.len() == 4 && shape[1] > 1 && shape[2..] == [1, 1]);
        if pointwise && positions > 1 {
            count.matmuls.push([shape[0], shape[1], positions]);
        }
    }
    if count.backbone == 0.0 {
        bail!("no backbone layers");
    }
    Ok(count)
}
