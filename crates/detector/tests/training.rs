//! Training and the whole detector on repository files only: a few rendered frames
//! (`fixtures/detector/mini-set`, made by `mapfix simulate dataset`, see its dataset.json),
//! the pretrained backbone and the shipped model in `models/`.

use mapfix_detector::card::{ModelCard, Thresholds};
use mapfix_detector::data::{read_sim_set, DataSet, MIN_VISIBLE};
use mapfix_detector::detector::{card_path, save_model, Detector};
use mapfix_detector::image_input::read_rgb;
use mapfix_detector::metrics::distance_to_polyline;
use mapfix_detector::sign_head::box_iou as iou;
use mapfix_detector::train::{train, KeptLaneHead, Progress, TrainConfig, TrainSource};
use mapfix_detector::LaneSlot;
use mapfix_detector::{DetectorError, EfficientNetLite0};
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn mini_set() -> DataSet {
    read_sim_set(&repo("fixtures/detector/mini-set")).expect("the mini set fixture")
}

fn backbone() -> EfficientNetLite0 {
    EfficientNetLite0::from_file(&repo("models/efficientnet-lite0.safetensors"))
        .expect("the pretrained backbone")
}

fn subset(set: &DataSet, range: std::ops::Range<usize>) -> DataSet {
    DataSet {
        items: set.items[range].to_vec(),
        ..set.clone()
    }
}

/// A short run on the first three frames of the mini set, which also validate it: its
/// settings, sources and validation set.
fn short_run(epochs: usize) -> (TrainConfig, [TrainSource; 1], DataSet) {
    let train_set = subset(&mini_set(), 0..3);
    let config = TrainConfig {
        epochs,
        batch_size: 3,
        learning_rate: 3e-3,
        warmup_steps: 0,
        patience: epochs,
        seed: 5,
        ..TrainConfig::default()
    };
    let sources = [TrainSource {
        set: train_set.clone(),
        plain: true,
        augmented_copies: 0,
    }];
    (config, sources, train_set)
}

#[test]
fn a_few_steps_on_rendered_frames_lower_the_loss_and_the_model_round_trips() {
    let set = mini_set();
    let (config, sources, train_set) = short_run(4);
    let mut steps = 0;
    let mut cached = 0;
    let trained = train(
        &backbone(),
        &sources,
        &[train_set],
        &config,
        None,
        &mut |p| match p {
            Progress::Step { .. } => steps += 1,
            Progress::Caching { done, .. } => cached = done,
            Progress::Epoch(_) => {}
        },
    )
    .unwrap();
    assert_eq!((steps, cached), (4, 6));
    let last = trained.epochs.last().unwrap();
    assert_eq!(trained.epochs.len(), 4);
    // The training images themselves serve as validation: fitting them lowers their loss.
    assert!(
        last.validation_loss < 0.9 * trained.initial_validation_loss,
        "validation loss {} after training, {} before",
        last.validation_loss,
        trained.initial_validation_loss
    );
    assert!(trained.epochs.iter().all(|e| e.validation_loss.is_finite()));
    assert!(trained.epochs.iter().all(|e| e
        .validation_lane_f1
        .is_some_and(|f1| (0.0..=1.0).contains(&f1))));

    // The trained heads, saved with the backbone, load back as a whole detector.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("detector.safetensors");
    save_model(
        &model,
        &repo("models/efficientnet-lite0.safetensors"),
        &trained.heads,
    )
    .unwrap();
    ModelCard::new(Thresholds::default())
        .save(&card_path(&model))
        .unwrap();
    let detector = Detector::load(&model).unwrap();
    let frame = read_rgb(&set.items[0].path).unwrap();
    let found = detector.detect(&frame).unwrap();
    for sign in &found.signs {
        assert!((0.0..=1.0).contains(&sign.score));
        assert!(sign.center[0] < 640.0 && sign.center[1] < 360.0, "{sign:?}");
    }
}

#[test]
fn a_kept_lane_head_stays_as_it_was_while_the_sign_head_trains() {
    let shipped = repo("models/detector.safetensors");
    let (config, sources, train_set) = short_run(3);
    let kept = KeptLaneHead::read(&shipped).unwrap();
    let trained = train(
        &backbone(),
        &sources,
        &[train_set],
        &config,
        Some(&kept),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(trained.lane_best_epoch, None);
    let last = trained.epochs.last().unwrap();
    assert!(
        last.validation_sign_loss < 0.9 * trained.epochs[0].validation_sign_loss,
        "sign loss {} after training, {} after the first epoch",
        last.validation_sign_loss,
        trained.epochs[0].validation_sign_loss
    );
    // The lane loss is the kept head's every epoch.
    assert!(trained
        .epochs
        .iter()
        .all(|e| e.validation_lane_loss == last.validation_lane_loss));
    let weights = candle_core::safetensors::load(&shipped, &candle_core::Device::Cpu).unwrap();
    let vars = trained.heads.data().lock().unwrap();
    let lane_vars: Vec<_> = vars
        .iter()
        .filter(|(name, _)| name.starts_with("lane_head."))
        .collect();
    assert!(!lane_vars.is_empty());
    for (name, var) in lane_vars {
        let difference = (var.as_tensor() - &weights[name]).unwrap().abs().unwrap();
        let largest: f32 = difference
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap();
        assert_eq!(largest, 0.0, "{name} changed");
    }

    // A file without a lane head says so.
    let message = KeptLaneHead::read(&repo("models/efficientnet-lite0.safetensors"))
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("lane_head"), "{message}");
}

#[test]
fn a_missing_or_broken_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("detector.safetensors");
    let message = Detector::load(&model).err().unwrap().to_string();
    assert!(message.contains("detector.json"), "{message}");

    ModelCard::new(Thresholds::default())
        .save(&card_path(&model))
        .unwrap();
    let message = Detector::load(&model).err().unwrap().to_string();
    assert!(message.contains("detector.safetensors"), "{message}");

    std::fs::write(&model, b"not safetensors").unwrap();
    let error = Detector::load(&model).err().unwrap();
    assert!(matches!(error, DetectorError::Model { .. }), "{error}");

    // The backbone alone is a valid file without the heads.
    std::fs::copy(repo("models/efficientnet-lite0.safetensors"), &model).unwrap();
    let message = Detector::load(&model).err().unwrap().to_string();
    assert!(message.contains("detector.safetensors"), "{message}");
}

/// The shipped model, on frames it never saw: it puts boxes on clearly visible signs with
/// their centres close, and finds both lines of the ego lane along their labels. (Its class
/// accuracy is far below the target — see the model card — so classes are not
/// asserted here.)
#[test]
fn the_shipped_model_localises_clear_signs_and_the_ego_lane_of_rendered_frames() {
    let detector = Detector::load(&repo("models/detector.safetensors")).unwrap();
    let set = mini_set();
    let (mut clear, mut localised) = (0, 0);
    let (mut near_points, mut lane_points) = (0, 0);
    for item in &set.items {
        let found = detector.detect(&read_rgb(&item.path).unwrap()).unwrap();
        let inside = |p: [f32; 2]| (0.0..640.0).contains(&p[0]) && (0.0..360.0).contains(&p[1]);
        for label in item
            .signs
            .iter()
            .filter(|s| s.height() >= 15.0 && s.visible >= MIN_VISIBLE && inside(s.center))
        {
            clear += 1;
            localised += usize::from(found.signs.iter().any(|d| {
                let error = (d.center[0] - label.center[0]).hypot(d.center[1] - label.center[1]);
                iou(&d.bbox, &label.bbox) >= 0.5 && error < 4.0
            }));
        }
        for slot in [LaneSlot::EgoLeft, LaneSlot::EgoRight] {
            let label = item.lanes.as_ref().unwrap().iter().find(|l| l.slot == slot);
            let detected = found.lanes.iter().find(|l| l.slot == slot);
            let (Some(label), Some(detected)) = (label, detected) else {
                panic!(
                    "{slot:?} labelled {} but detected {} in {:?}",
                    label.is_some(),
                    detected.is_some(),
                    item.path
                );
            };
            near_points += detected
                .points
                .iter()
                .filter(|&&p| distance_to_polyline(p, &label.points) < 10.0)
                .count();
            lane_points += detected.points.len();
        }
    }
    assert_eq!(clear, 3, "the fixture's clear signs");
    assert!(
        localised >= 2,
        "{localised} of {clear} clear signs localised"
    );
    assert!(
        near_points * 10 >= lane_points * 8,
        "{near_points} of {lane_points} ego-lane points within 10 px of their labels"
    );
}
