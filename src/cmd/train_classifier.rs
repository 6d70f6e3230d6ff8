//! `mapfix train-classifier`: trains the crop classifier that takes a second look at each
//! sign the detector finds, in the original image's pixels, and writes a copy of the
//! detector with it (`sign_classifier.*` beside every tensor it had) and the card with a
//! `classifier` section and the thresholds chosen on the validation set.

use crate::cmd::train::{bar, detect_with_bar, validation_record, StepBar};
use anyhow::{bail, Context, Result};
use clap::Args;
use mapfix_detector::card::{ClassifierRecord, CropDataRecord, ModelCard};
use mapfix_detector::classifier_train::{
    cut_crops, train_classifier, ClassifierConfig, ClassifierEpoch, ClassifierProgress, CropSource,
    CENTRE_JITTER, MIN_SIGN_HEIGHT, MIN_SIGN_VISIBLE, NEGATIVE_MAX_IOU, SIZE_JITTER,
};
use mapfix_detector::data::{
    read_gtsdb, read_gtsrb_crops, read_sim_set, DataSet, Source, GTSDB_HELD_BACK,
};
use mapfix_detector::detector::{card_path, save_with_classifier, Detector};
use mapfix_detector::metrics::SignRules;
use mapfix_detector::sign_classifier::{CROP_MARGIN, CROP_SIZE, MIN_CROP_SIDE};
use mapfix_detector::validate::{best_sign_threshold, score};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Train the sign crop classifier and write the detector with it.
#[derive(Args)]
pub struct TrainClassifierArgs {
    /// The detector to add the classifier to (its card beside it); it is not changed.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "models/detector.safetensors"
    )]
    model: PathBuf,
    /// Simulator training sets (`mapfix simulate dataset`).
    #[arg(long, num_args = 1.., required = true)]
    data: Vec<PathBuf>,
    /// GTSDB scenes (gt.txt); images 00040–00049 are held back and only scored.
    #[arg(long)]
    gtsdb: Option<PathBuf>,
    /// GTSRB sign crops (class folders with GT-*.csv).
    #[arg(long)]
    gtsrb: Option<PathBuf>,
    /// Simulator validation sets: early stopping, the card's figures, and (the first) the
    /// choice of the sign threshold.
    #[arg(long, num_args = 1.., required = true)]
    val: Vec<PathBuf>,
    /// The model file to write; the card goes beside it as .json.
    #[arg(long)]
    out: PathBuf,
    /// Use only the first N images of each simulator training set.
    #[arg(long)]
    limit: Option<usize>,
    /// Use only the first N images of each validation set.
    #[arg(long, default_value_t = 150)]
    val_limit: usize,
    /// Crops of each simulator sign (each box jittered anew).
    #[arg(long, default_value_t = 2)]
    copies: usize,
    /// "Not a sign" crops of each simulator frame.
    #[arg(long, default_value_t = 1)]
    negatives: usize,
    /// Crops of each GTSDB training sign, and "not a sign" crops of each GTSDB scene.
    #[arg(long, default_value_t = 16)]
    gtsdb_copies: usize,
    /// Crops of each GTSRB crop.
    #[arg(long, default_value_t = 8)]
    gtsrb_copies: usize,
    /// The sign head's score at which a candidate is classified.
    #[arg(long, default_value_t = 0.15)]
    candidate_score: f32,
    /// Most epochs (early stopping may end sooner).
    #[arg(long, default_value_t = ClassifierConfig::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = ClassifierConfig::default().batch_size)]
    batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = ClassifierConfig::default().learning_rate)]
    lr: f64,
    #[arg(long, default_value_t = ClassifierConfig::default().seed)]
    seed: u64,
}

fn limited(mut set: DataSet, limit: Option<usize>) -> DataSet {
    if let Some(limit) = limit {
        set.items.truncate(limit);
    }
    set
}

fn held_back_range() -> String {
    format!(
        "{:05}–{:05}",
        GTSDB_HELD_BACK.start,
        GTSDB_HELD_BACK.end - 1
    )
}

/// A source of crops with the card's record of it.
fn crop_source(
    name: &Path,
    items: Vec<mapfix_detector::data::LabelledImage>,
    copies: usize,
    negatives: usize,
    (role, kind, selection, command): (&str, &str, Option<String>, Option<String>),
) -> (CropSource, CropDataRecord) {
    let record = CropDataRecord {
        role: role.into(),
        dir: name.display().to_string(),
        kind: kind.into(),
        selection,
        images: items.len(),
        copies,
        negatives_per_image: negatives,
        command,
    };
    let source = CropSource {
        name: name.display().to_string(),
        items,
        copies,
        negatives,
    };
    (source, record)
}

fn sim_source(
    set: &DataSet,
    role: &str,
    copies: usize,
    negatives: usize,
) -> (CropSource, CropDataRecord) {
    let command = match &set.source {
        Source::Simulated { command, .. } => command.clone(),
        Source::Gtsdb => None,
    };
    crop_source(
        &set.dir,
        set.items.clone(),
        copies,
        negatives,
        (role, "simulator", None, command),
    )
}

pub fn run(args: TrainClassifierArgs) -> Result<()> {
    let started = Instant::now();
    let card_in = card_path(&args.model);
    let mut card = ModelCard::load(&card_in)
        .with_context(|| format!("reading the card of {}", args.model.display()))?;
    let detector = Detector::load(&args.model)
        .with_context(|| format!("loading the detector {}", args.model.display()))?;
    if !(0.0..=1.0).contains(&args.candidate_score) {
        bail!(
            "--candidate-score must be in [0, 1], got {}",
            args.candidate_score
        );
    }
    let read_sets = |dirs: &[PathBuf], limit: Option<usize>| {
        dirs.iter()
            .map(|dir| {
                read_sim_set(dir)
                    .map(|set| limited(set, limit))
                    .with_context(|| format!("reading the simulator set {}", dir.display()))
            })
            .collect::<Result<Vec<_>>>()
    };
    let train_sets = read_sets(&args.data, args.limit)?;
    let val_sets = read_sets(&args.val, Some(args.val_limit))?;
    let gtsdb = args
        .gtsdb
        .as_deref()
        .map(|dir| {
            read_gtsdb(dir).with_context(|| format!("reading GTSDB scenes in {}", dir.display()))
        })
        .transpose()?
        .map(DataSet::split_gtsdb);
    let gtsrb = args
        .gtsrb
        .as_deref()
        .map(|dir| {
            read_gtsrb_crops(dir)
                .with_context(|| format!("reading GTSRB crops in {}", dir.display()))
                .map(|items| (dir, items))
        })
        .transpose()?;

    let (mut sources, mut records): (Vec<_>, Vec<_>) = train_sets
        .iter()
        .map(|set| sim_source(set, "train", args.copies, args.negatives))
        .unzip();
    if let Some((gtsdb_train, _)) = &gtsdb {
        let selection = Some(format!("all but {}", held_back_range()));
        let (source, record) = crop_source(
            &gtsdb_train.dir,
            gtsdb_train.items.clone(),
            args.gtsdb_copies,
            args.gtsdb_copies,
            ("train", "gtsdb", selection, None),
        );
        sources.push(source);
        records.push(record);
    }
    if let Some((dir, items)) = gtsrb {
        let (source, record) = crop_source(
            dir,
            items,
            args.gtsrb_copies,
            0,
            ("train", "gtsrb-crops", None, None),
        );
        sources.push(source);
        records.push(record);
    }
    // Validation crops: one jittered crop of each sign, one "not a sign" crop a frame.
    let (val_sources, val_records): (Vec<_>, Vec<_>) = val_sets
        .iter()
        .map(|set| sim_source(set, "validation", 1, 1))
        .unzip();
    records.extend(val_records);

    let config = ClassifierConfig {
        epochs: args.epochs,
        batch_size: args.batch,
        learning_rate: args.lr,
        seed: args.seed,
        ..ClassifierConfig::default()
    };
    let images = |sources: &[CropSource]| sources.iter().map(|s| s.items.len()).sum::<usize>();
    let (train_images, total_images) = (images(&sources), images(&sources) + images(&val_sources));
    let cropping = bar(
        0,
        "crops [{bar:40}] {pos}/{len} images, {per_sec}, {eta} left",
    );
    let mut training_bar = StepBar::new();
    let mut report = |progress: ClassifierProgress| match progress {
        ClassifierProgress::Cropping { done, total } => {
            cropping.set_length(total as u64);
            cropping.set_position(done as u64);
            if done == total {
                cropping.finish_and_clear();
            }
        }
        ClassifierProgress::Step {
            epoch,
            step,
            steps,
            loss,
        } => training_bar.step(epoch, step, steps, loss),
        ClassifierProgress::Epoch(record) => training_bar.line(&epoch_line(&record)),
    };
    let cropping_started = Instant::now();
    let training = cut_crops(&sources, config.seed, 0, total_images, &mut report)?;
    let validation = cut_crops(
        &val_sources,
        config.seed ^ 0x5eed,
        train_images,
        total_images,
        &mut report,
    )?;
    let cropping_seconds = cropping_started.elapsed().as_secs_f64();
    eprintln!(
        "{} training crops, {} validation crops, cut in {cropping_seconds:.0} s",
        training.len(),
        validation.len()
    );
    let trained = train_classifier(&training, &validation, &config, &mut report)?;
    training_bar.finish();
    let figures = trained.validation;
    eprintln!(
        "best epoch {} of {}: validation class accuracy {:.3}, signs kept {:.3}, negatives rejected {:.3}; training {:.0} s",
        trained.best_epoch,
        trained.epochs.len(),
        figures.class_accuracy,
        figures.signs_kept,
        figures.negatives_rejected,
        trained.training_seconds
    );

    // The whole detector with the classifier, on the first validation set: the sign
    // threshold (on the combined score) with the best F1 there.
    let parameters = trained.vars.all_vars().iter().map(|v| v.elem_count()).sum();
    card.thresholds.sign_candidate_score = Some(args.candidate_score);
    let probe = detector
        .with_classifier(Some(trained.classifier.clone()))
        .with_thresholds(mapfix_detector::card::Thresholds {
            sign_score: 0.05,
            sign_candidate_score: Some(args.candidate_score),
            ..card.thresholds
        });
    let mut detection = Vec::new();
    if let Some(set) = val_sets.first() {
        let found = detect_with_bar(&probe, set)?;
        let (threshold, metrics) = best_sign_threshold(set, &found);
        card.thresholds.sign_score = threshold;
        detection.push(validation_record(set, "validation", &metrics)?);
    }
    if let Some((_, held_back)) = &gtsdb {
        let found = detect_with_bar(&probe, held_back)?;
        let rules = SignRules {
            min_score: card.thresholds.sign_score,
            ..SignRules::default()
        };
        detection.push(validation_record(
            held_back,
            "test",
            &score(held_back, &found, rules),
        )?);
    }

    let mut reproduce: Vec<String> = records
        .iter()
        .filter_map(|record| record.command.clone())
        .collect();
    reproduce.dedup();
    reproduce.push(std::env::args().collect::<Vec<_>>().join(" "));
    card.classifier = Some(ClassifierRecord {
        model: "4 × (3×3 convolution, ReLU): 16, 32, 64, 96 channels, 2×2 max-pools after the first three, global average, linear to 43 classes + not a sign".into(),
        input: format!(
            "square of the box's longer side + {:.0} % each side (at least {MIN_CROP_SIDE} px) of the original image, area-averaged bilinear to {CROP_SIZE}×{CROP_SIZE}, grey 127 outside the picture, (x − 127) / 128",
            100.0 * CROP_MARGIN
        ),
        parameters,
        score: "the class is the most likely of the 43; a candidate is dropped when \"not a sign\" is more likely than that class; score = sqrt(head score × class probability), reported when ≥ thresholds.sign_score".into(),
        data: records,
        examples: format!(
            "labelled signs ≥ {MIN_SIGN_HEIGHT} px tall and ≥ {MIN_SIGN_VISIBLE} visible, each crop's box centre moved by up to ±{:.0} % and its width and height changed by up to ±{:.0} %; \"not a sign\": random boxes 12–72 px tall (1280-wide scale) with IoU < {NEGATIVE_MAX_IOU} to every labelled sign",
            100.0 * CENTRE_JITTER,
            100.0 * SIZE_JITTER
        ),
        training_crops: training.len(),
        validation_crops: validation.len(),
        augmentation: format!("{:?}", config.augmentation),
        optimiser: format!(
            "AdamW (weight decay {}), peak learning rate {} with warm-up and cosine decay, batch {}, cross-entropy",
            config.weight_decay, config.learning_rate, config.batch_size
        ),
        config,
        epochs: trained.epochs.clone(),
        best_epoch: trained.best_epoch,
        validation: figures,
        detection,
        cropping_seconds,
        training_seconds: trained.training_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        reproduce,
    });
    save_with_classifier(&args.model, &args.out, &trained.vars)?;
    card.save(&card_path(&args.out))?;
    if let Some(record) = &card.classifier {
        for result in &record.detection {
            println!("{} ({}): {}", result.set, result.role, result.metrics);
        }
    }
    println!(
        "wrote {} and {} (candidates at head score {:.2}, signs at combined score {:.2})",
        args.out.display(),
        card_path(&args.out).display(),
        args.candidate_score,
        card.thresholds.sign_score
    );
    Ok(())
}

fn epoch_line(record: &ClassifierEpoch) -> String {
    let v = &record.validation;
    format!(
        "epoch {}: train loss {:.4}, validation loss {:.4}, class accuracy {:.3}, signs kept {:.3}, negatives rejected {:.3}, {:.0} s",
        record.epoch,
        record.train_loss,
        v.loss,
        v.class_accuracy,
        v.signs_kept,
        v.negatives_rejected,
        record.seconds
    )
}
