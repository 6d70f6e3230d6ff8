//! `mapfix train`: trains the detector's heads on simulator sets (and GTSDB scenes) on the
//! frozen pretrained backbone, scores the result on held-back data, and writes the model
//! with its card.

use super::run::sha256;
use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mapfix_detector::card::{
    DataRecord, KeptLaneHeadRecord, ModelCard, Thresholds, TrainingRecord, ValidationRecord,
};
use mapfix_detector::data::{read_gtsdb, read_sim_set, DataSet, Source, GTSDB_HELD_BACK};
use mapfix_detector::detector::{card_path, save_model, Detector};
use mapfix_detector::metrics::SignRules;
use mapfix_detector::train::{
    train, EpochRecord, KeptLaneHead, Progress, TrainConfig, TrainSource,
};
use mapfix_detector::validate::{best_sign_threshold, detect_set, score};
use mapfix_detector::EfficientNetLite0;
use std::path::PathBuf;
use std::time::Instant;

/// Train the detector (signs and lanes) and write the model and its card.
#[derive(Args)]
pub struct TrainArgs {
    /// Simulator training sets (`mapfix simulate dataset`).
    #[arg(long, num_args = 1.., required = true)]
    data: Vec<PathBuf>,
    /// GTSDB scenes (gt.txt); images 00040–00049 are held back for testing.
    #[arg(long)]
    gtsdb: Option<PathBuf>,
    /// Simulator validation sets (early stopping, threshold choice, card figures).
    #[arg(long, num_args = 1.., required = true)]
    val: Vec<PathBuf>,
    /// The model file to write; the card goes beside it as .json.
    #[arg(long)]
    out: PathBuf,
    /// The pretrained backbone.
    #[arg(long, default_value = "models/efficientnet-lite0.safetensors")]
    backbone: PathBuf,
    /// Most epochs (early stopping may end sooner).
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = TrainConfig::default().learning_rate)]
    lr: f64,
    /// Randomly changed copies of each simulator frame, besides the frame itself.
    #[arg(long, default_value_t = 1)]
    copies: usize,
    /// Randomly changed copies of each GTSDB training scene, besides the scene itself.
    #[arg(long, default_value_t = 8)]
    gtsdb_copies: usize,
    /// Train on the randomly changed copies only, not on the simulator frames as they are.
    #[arg(long)]
    no_plain: bool,
    /// Use only the first N images of each simulator training set.
    #[arg(long)]
    limit: Option<usize>,
    /// Use only the first N images of each validation set.
    #[arg(long)]
    val_limit: Option<usize>,
    /// Keep the lane head of this model (its card beside it) and train the sign head only.
    #[arg(long, value_name = "MODEL")]
    keep_lanes_of: Option<PathBuf>,
}

fn limited(mut set: DataSet, limit: Option<usize>) -> DataSet {
    if let Some(limit) = limit {
        set.items.truncate(limit);
    }
    set
}

fn data_record(set: &DataSet, role: &str, plain: bool, augmented_copies: usize) -> DataRecord {
    let (kind, command, seed, selection) = match &set.source {
        Source::Simulated { command, seed } => ("simulator", command.clone(), *seed, None),
        Source::Gtsdb => {
            let range = if role == "test" {
                format!(
                    "{:05}–{:05}",
                    GTSDB_HELD_BACK.start,
                    GTSDB_HELD_BACK.end - 1
                )
            } else {
                format!(
                    "all but {:05}–{:05}",
                    GTSDB_HELD_BACK.start,
                    GTSDB_HELD_BACK.end - 1
                )
            };
            ("gtsdb", None, None, Some(range))
        }
    };
    DataRecord {
        role: role.into(),
        dir: set.dir.display().to_string(),
        kind: kind.into(),
        images: set.items.len(),
        signs: set.sign_count(),
        command,
        seed,
        selection,
        plain,
        augmented_copies,
    }
}

/// The training steps of each epoch with a running mean of the loss and the time left.
pub(crate) struct StepBar {
    bar: ProgressBar,
    running_loss: Option<f32>,
}

impl StepBar {
    pub(crate) fn new() -> Self {
        Self {
            bar: bar(
                0,
                "epoch {prefix} [{bar:40}] {pos}/{len} steps, loss {msg}, {eta} left",
            ),
            running_loss: None,
        }
    }

    pub(crate) fn step(&mut self, epoch: usize, step: usize, steps: usize, loss: f32) {
        if step == 1 {
            self.bar.reset();
            self.bar.set_length(steps as u64);
            self.bar.set_prefix(epoch.to_string());
        }
        let mean = self
            .running_loss
            .map_or(loss, |mean| 0.98 * mean + 0.02 * loss);
        self.running_loss = Some(mean);
        self.bar.set_message(format!("{mean:.4}"));
        self.bar.set_position(step as u64);
    }

    /// A line above the bar (an epoch's figures).
    pub(crate) fn line(&self, text: &str) {
        // Through suspend, not println: a hidden bar (output not a terminal) drops println.
        self.bar.suspend(|| eprintln!("{text}"));
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

pub(crate) fn bar(total: usize, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
    bar
}

pub fn run(args: TrainArgs) -> Result<()> {
    let started = Instant::now();
    let sim_sets = args
        .data
        .iter()
        .map(|dir| read_sim_set(dir).map(|set| limited(set, args.limit)))
        .collect::<Result<Vec<_>, _>>()?;
    let val_sets = args
        .val
        .iter()
        .map(|dir| read_sim_set(dir).map(|set| limited(set, args.val_limit)))
        .collect::<Result<Vec<_>, _>>()?;
    let gtsdb = args
        .gtsdb
        .as_deref()
        .map(read_gtsdb)
        .transpose()?
        .map(DataSet::split_gtsdb);

    let mut sources: Vec<TrainSource> = sim_sets
        .iter()
        .map(|set| TrainSource {
            set: set.clone(),
            plain: !args.no_plain,
            augmented_copies: args.copies,
        })
        .collect();
    if let Some((gtsdb_train, _)) = &gtsdb {
        sources.push(TrainSource {
            set: gtsdb_train.clone(),
            plain: true,
            augmented_copies: args.gtsdb_copies,
        });
    }
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch,
        learning_rate: args.lr,
        seed: args.seed,
        ..TrainConfig::default()
    };
    let backbone = EfficientNetLite0::from_file(&args.backbone)
        .with_context(|| format!("loading the backbone {}", args.backbone.display()))?;
    let kept_lanes = args
        .keep_lanes_of
        .as_deref()
        .map(|model| -> Result<_> {
            let head = KeptLaneHead::read(model)?;
            let record = KeptLaneHeadRecord {
                model: model.display().to_string(),
                sha256: sha256(model)?,
                training: ModelCard::load(&card_path(model))?.training.map(Box::new),
            };
            Ok((head, record))
        })
        .transpose()?;

    let caching = bar(
        0,
        "features [{bar:40}] {pos}/{len} examples, {per_sec}, {eta} left",
    );
    let mut training = StepBar::new();
    let trained = train(
        &backbone,
        &sources,
        &val_sets,
        &config,
        kept_lanes.as_ref().map(|(head, _)| head),
        &mut |progress| match progress {
            Progress::Caching { done, total } => {
                caching.set_length(total as u64);
                caching.set_position(done as u64);
                if done == total {
                    caching.finish();
                }
            }
            Progress::Step {
                epoch,
                step,
                steps,
                loss,
            } => training.step(epoch, step, steps, loss),
            Progress::Epoch(record) => training.line(&epoch_line(&record)),
        },
    )?;
    training.finish();
    let lane_epoch = trained
        .lane_best_epoch
        .map_or_else(|| "kept".to_string(), |epoch| epoch.to_string());
    eprintln!(
        "validation loss before training {:.4}; best epoch of the sign head {}, of the lane head {lane_epoch}, of {}; features {:.0} s, training {:.0} s",
        trained.initial_validation_loss,
        trained.sign_best_epoch,
        trained.epochs.len(),
        trained.caching_seconds,
        trained.training_seconds
    );

    // Score on the validation sets at a low threshold, choose the sign threshold there.
    let mut card = ModelCard::new(Thresholds::default());
    let probe = Detector::from_parts(backbone.clone(), &trained.heads, card.clone())?
        .with_thresholds(Thresholds {
            sign_score: 0.05,
            ..Thresholds::default()
        });
    let mut chosen = Vec::new();
    for set in &val_sets {
        let found = detect_with_bar(&probe, set)?;
        chosen.push(best_sign_threshold(set, &found));
    }
    if let Some((threshold, _)) = chosen.first() {
        card.thresholds.sign_score = *threshold;
    }
    for (set, (_, metrics)) in val_sets.iter().zip(&chosen) {
        card.validation
            .push(validation_record(set, "validation", metrics)?);
    }
    if let Some((_, held_back)) = &gtsdb {
        let found = detect_with_bar(&probe, held_back)?;
        let rules = SignRules {
            min_score: card.thresholds.sign_score,
            ..SignRules::default()
        };
        card.validation.push(validation_record(
            held_back,
            "test",
            &score(held_back, &found, rules),
        )?);
    }

    let mut data: Vec<DataRecord> = sources
        .iter()
        .map(|s| data_record(&s.set, "train", s.plain, s.augmented_copies))
        .collect();
    data.extend(
        val_sets
            .iter()
            .map(|set| data_record(set, "validation", true, 0)),
    );
    if let Some((_, held_back)) = &gtsdb {
        data.push(data_record(held_back, "test", true, 0));
    }
    let mut reproduce: Vec<String> = data
        .iter()
        .filter_map(|record| {
            record
                .command
                .as_ref()
                .filter(|_| record.role != "test")
                .cloned()
        })
        .collect();
    reproduce.push(std::env::args().collect::<Vec<_>>().join(" "));
    card.training = Some(TrainingRecord {
        data,
        augmentation: format!("{:?}", config.augmentation),
        optimiser: format!(
            "AdamW (weight decay {}), peak learning rate {} with warm-up and cosine decay, batch {}",
            config.weight_decay, config.learning_rate, config.batch_size
        ),
        backbone: format!("{} (frozen)", args.backbone.display()),
        config,
        initial_validation_loss: trained.initial_validation_loss,
        epochs: trained.epochs.clone(),
        sign_best_epoch: trained.sign_best_epoch,
        lane_best_epoch: trained.lane_best_epoch,
        training_examples: trained.training_examples,
        validation_examples: trained.validation_examples,
        caching_seconds: trained.caching_seconds,
        training_seconds: trained.training_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        reproduce,
        lane_head_kept: kept_lanes.map(|(_, record)| record),
    });
    save_model(&args.out, &args.backbone, &trained.heads)?;
    card.save(&card_path(&args.out))?;
    for record in &card.validation {
        println!("{} ({}): {}", record.set, record.role, record.metrics);
    }
    println!(
        "wrote {} and {} (sign threshold {:.2})",
        args.out.display(),
        card_path(&args.out).display(),
        card.thresholds.sign_score
    );
    Ok(())
}

fn epoch_line(record: &EpochRecord) -> String {
    format!(
        "epoch {}: train loss {:.4}, validation loss {:.4} (signs {:.4}, lanes {:.4}), lane rows F1 {:.3}, {:.0} s",
        record.epoch,
        record.train_loss,
        record.validation_loss,
        record.validation_sign_loss,
        record.validation_lane_loss,
        record.validation_lane_f1.unwrap_or(f64::NAN),
        record.seconds
    )
}

pub(crate) fn detect_with_bar(
    detector: &Detector,
    set: &DataSet,
) -> Result<mapfix_detector::validate::SetDetections> {
    let progress = bar(
        set.items.len(),
        "scoring [{bar:40}] {pos}/{len} images, {eta} left",
    );
    let found = detect_set(detector, set, 8, &mut |done| {
        progress.set_position(done as u64)
    })
    .with_context(|| format!("scoring {}", set.dir.display()))?;
    progress.finish_and_clear();
    Ok(found)
}

pub(crate) fn validation_record(
    set: &DataSet,
    role: &str,
    metrics: &mapfix_detector::metrics::Metrics,
) -> Result<ValidationRecord> {
    let name = match set.source {
        Source::Gtsdb => format!(
            "{} images {:05}–{:05}",
            set.dir.display(),
            GTSDB_HELD_BACK.start,
            GTSDB_HELD_BACK.end - 1
        ),
        Source::Simulated { .. } => set.dir.display().to_string(),
    };
    Ok(ValidationRecord {
        set: name,
        role: role.into(),
        metrics: serde_json::to_value(metrics)?,
    })
}
