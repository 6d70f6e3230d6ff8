//! Training the crop classifier ([`crate::sign_classifier`]).
//!
//! Examples are crops of labelled images: every sign at least [`MIN_SIGN_HEIGHT`] pixels
//! tall and [`MIN_SIGN_VISIBLE`] visible, several times with its box moved and resized at
//! random (the sign head's boxes are that far off, see [`jittered_box`]), and "not a sign"
//! crops of random sign-sized boxes that do not overlap any labelled sign. Crops are cut
//! once; every epoch then changes their colour, sharpness and noise anew (the detector's
//! [`crate::augment::Augmentation`]). AdamW with weight decay, warm-up and cosine decay,
//! cross-entropy over the 44 outputs, early stopping on the validation crops' loss; the
//! best epoch's weights are what [`train_classifier`] returns. Everything random comes
//! from the seed.

use crate::augment::{photometric, Augmentation};
use crate::data::LabelledImage;
use crate::detector::SIGN_CLASSIFIER;
use crate::error::{DetectorError, Result};
use crate::image_input::read_rgb;
use crate::sign_classifier::{
    crop_pixels, crops_tensor, SignClassifier, Verdict, CROP_SIZE, NOT_A_SIGN,
};
use crate::sign_head::box_iou;
use crate::train::{seeded_builder, EpochLoop};
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::time::Instant;

/// Labelled signs shorter than this (pixels) make no examples: the detector's own
/// features are all a crop of them would add.
pub const MIN_SIGN_HEIGHT: f32 = 12.0;
/// Labelled signs less visible than this make no examples.
pub const MIN_SIGN_VISIBLE: f32 = 0.5;
/// A "not a sign" box overlaps no labelled sign by this much or more (IoU).
pub const NEGATIVE_MAX_IOU: f32 = 0.1;
/// Box centres move by up to this share of the box's width/height.
pub const CENTRE_JITTER: f32 = 0.15;
/// Box widths and heights change by up to this share.
pub const SIZE_JITTER: f32 = 0.2;
/// Heights of "not a sign" boxes, pixels in a 1280-wide image (drawn log-uniformly).
const NEGATIVE_HEIGHTS: [f32; 2] = [12.0, 72.0];
/// Random boxes tried per "not a sign" example before giving up on it.
const NEGATIVE_TRIES: usize = 20;
/// Crops classified together when validating.
const VALIDATION_BATCH: usize = 256;

/// Labelled images to cut crops from, and how many.
#[derive(Debug, Clone)]
pub struct CropSource {
    /// Where the images are (for records and messages).
    pub name: String,
    pub items: Vec<LabelledImage>,
    /// Crops of each sign (each with its box jittered).
    pub copies: usize,
    /// "Not a sign" crops of each image.
    pub negatives: usize,
}

/// One crop and what it shows: a GTSRB class or [`NOT_A_SIGN`].
#[derive(Debug, Clone)]
pub struct CropExample {
    pub crop: RgbImage,
    pub label: u8,
}

/// Settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Most epochs; early stopping may end sooner.
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    pub warmup_steps: usize,
    pub seed: u64,
    #[serde(skip)]
    pub augmentation: Augmentation,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self {
            epochs: 6,
            batch_size: 128,
            learning_rate: 3e-3,
            weight_decay: 1e-4,
            patience: 3,
            warmup_steps: 50,
            seed: 1,
            augmentation: Augmentation::default(),
        }
    }
}

/// How the classifier does on a set of crops.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassifierFigures {
    pub loss: f64,
    pub sign_crops: usize,
    /// Share of sign crops whose most likely class (of the 43) is right.
    pub class_accuracy: f64,
    /// Share of sign crops not rejected as "not a sign".
    pub signs_kept: f64,
    pub negative_crops: usize,
    /// Share of "not a sign" crops rejected.
    pub negatives_rejected: f64,
}

/// Figures of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierEpoch {
    /// Counted from 1.
    pub epoch: usize,
    pub train_loss: f64,
    pub validation: ClassifierFigures,
    pub seconds: f64,
}

/// What a run reports while it works.
#[derive(Debug, Clone)]
pub enum ClassifierProgress {
    /// Images cut into crops so far, of all (training and validation).
    Cropping {
        done: usize,
        total: usize,
    },
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        loss: f32,
    },
    Epoch(ClassifierEpoch),
}

/// The outcome of [`train_classifier`].
pub struct TrainedClassifier {
    /// `sign_classifier.*` variables of the best epoch.
    pub vars: VarMap,
    pub classifier: SignClassifier,
    pub epochs: Vec<ClassifierEpoch>,
    pub best_epoch: usize,
    /// The best epoch's figures on the validation crops.
    pub validation: ClassifierFigures,
    pub training_seconds: f64,
}

/// A box moved by up to ±[`CENTRE_JITTER`] of its size and resized by up to
/// ±[`SIZE_JITTER`] (width and height apart).
pub fn jittered_box(bbox: [f32; 4], rng: &mut impl Rng) -> [f32; 4] {
    let [left, top, right, bottom] = bbox;
    let (width, height) = (right - left, bottom - top);
    let cx = (left + right) / 2.0 + width * rng.random_range(-CENTRE_JITTER..=CENTRE_JITTER);
    let cy = (top + bottom) / 2.0 + height * rng.random_range(-CENTRE_JITTER..=CENTRE_JITTER);
    let half_width = width / 2.0 * (1.0 + rng.random_range(-SIZE_JITTER..=SIZE_JITTER));
    let half_height = height / 2.0 * (1.0 + rng.random_range(-SIZE_JITTER..=SIZE_JITTER));
    [
        cx - half_width,
        cy - half_height,
        cx + half_width,
        cy + half_height,
    ]
}

/// A random sign-sized box inside a `width`×`height` image overlapping none of `signs`
/// by [`NEGATIVE_MAX_IOU`] or more; none if [`NEGATIVE_TRIES`] draws all overlap.
fn negative_box(
    width: u32,
    height: u32,
    signs: &[[f32; 4]],
    rng: &mut impl Rng,
) -> Option<[f32; 4]> {
    let scale = width as f32 / 1280.0;
    let [low, high] = NEGATIVE_HEIGHTS.map(|h| (h * scale).ln());
    (0..NEGATIVE_TRIES).find_map(|_| {
        let box_height = rng.random_range(low..=high).exp();
        let box_width = box_height * rng.random_range(0.8..=1.25f32);
        if box_width >= width as f32 || box_height >= height as f32 {
            return None;
        }
        let left = rng.random_range(0.0..=width as f32 - box_width);
        let top = rng.random_range(0.0..=height as f32 - box_height);
        let candidate = [left, top, left + box_width, top + box_height];
        signs
            .iter()
            .all(|sign| box_iou(sign, &candidate) < NEGATIVE_MAX_IOU)
            .then_some(candidate)
    })
}

/// A stream of random numbers for one image, the same whatever the order of work.
fn image_rng(seed: u64, source: usize, image: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((source as u64) << 40) ^ image as u64);
    rng
}

/// Whether a labelled sign makes examples.
fn usable(sign: &crate::data::SignLabel) -> bool {
    sign.height() >= MIN_SIGN_HEIGHT && sign.visible >= MIN_SIGN_VISIBLE
}

/// The crops of one image.
fn image_crops(
    item: &LabelledImage,
    source: &CropSource,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<CropExample>> {
    let image = read_rgb(&item.path)?;
    let mut crops = Vec::new();
    for sign in item.signs.iter().filter(|sign| usable(sign)) {
        for _ in 0..source.copies {
            crops.push(CropExample {
                crop: crop_pixels(&image, jittered_box(sign.bbox, rng)),
                label: sign.class,
            });
        }
    }
    let labelled: Vec<[f32; 4]> = item.signs.iter().map(|sign| sign.bbox).collect();
    for _ in 0..source.negatives {
        if let Some(bbox) = negative_box(image.width(), image.height(), &labelled, rng) {
            crops.push(CropExample {
                crop: crop_pixels(&image, bbox),
                label: NOT_A_SIGN as u8,
            });
        }
    }
    Ok(crops)
}

/// Cuts the crops of every source (images in parallel); `progress` gets the images done
/// so far, counted from `done_before` of `total`.
pub fn cut_crops(
    sources: &[CropSource],
    seed: u64,
    done_before: usize,
    total: usize,
    progress: &mut dyn FnMut(ClassifierProgress),
) -> Result<Vec<CropExample>> {
    let mut crops = Vec::new();
    let mut done = done_before;
    for (source_index, source) in sources.iter().enumerate() {
        for (chunk_index, chunk) in source.items.chunks(64).enumerate() {
            let cut = chunk
                .par_iter()
                .enumerate()
                .map(|(offset, item)| {
                    let mut rng = image_rng(seed, source_index, chunk_index * 64 + offset);
                    image_crops(item, source, &mut rng)
                })
                .collect::<Result<Vec<_>>>()?;
            crops.extend(cut.into_iter().flatten());
            done += chunk.len();
            progress(ClassifierProgress::Cropping { done, total });
        }
    }
    Ok(crops)
}

/// The input and labels of some crops, each crop's colour, blur and noise changed at
/// random when `rng` is given.
fn batch(
    examples: &[CropExample],
    indices: &[usize],
    augmentation: &Augmentation,
    rng: Option<&mut ChaCha8Rng>,
) -> Result<(Tensor, Tensor)> {
    let mut crops: Vec<RgbImage> = indices.iter().map(|&i| examples[i].crop.clone()).collect();
    if let Some(rng) = rng {
        for crop in &mut crops {
            photometric(
                crop,
                [0.0, 0.0, CROP_SIZE as f32, CROP_SIZE as f32],
                augmentation,
                rng,
            );
        }
    }
    let labels: Vec<u32> = indices
        .iter()
        .map(|&i| u32::from(examples[i].label))
        .collect();
    let count = labels.len();
    Ok((
        crops_tensor(&crops)?,
        Tensor::from_vec(labels, count, &Device::Cpu)?,
    ))
}

/// The classifier's loss and figures on crops as they are.
pub fn evaluate(
    classifier: &SignClassifier,
    examples: &[CropExample],
) -> Result<ClassifierFigures> {
    let mut loss_sum = 0.0;
    let (mut signs, mut right, mut kept, mut negatives, mut rejected) = (0, 0, 0, 0, 0);
    let indices: Vec<usize> = (0..examples.len()).collect();
    for chunk in indices.chunks(VALIDATION_BATCH) {
        let (input, labels) = batch(examples, chunk, &Augmentation::default(), None)?;
        let logits = classifier.forward(&input)?;
        loss_sum += candle_nn::loss::cross_entropy(&logits, &labels)?.to_scalar::<f32>()? as f64
            * chunk.len() as f64;
        let rows = candle_nn::ops::softmax(&logits, 1)?.to_vec2::<f32>()?;
        for (&index, row) in chunk.iter().zip(&rows) {
            let verdict = Verdict::of(row);
            let label = examples[index].label;
            if usize::from(label) == NOT_A_SIGN {
                negatives += 1;
                rejected += usize::from(verdict.rejected);
            } else {
                signs += 1;
                right += usize::from(verdict.class == label);
                kept += usize::from(!verdict.rejected);
            }
        }
    }
    let share = |count: usize, of: usize| {
        if of == 0 {
            0.0
        } else {
            count as f64 / of as f64
        }
    };
    Ok(ClassifierFigures {
        loss: loss_sum / examples.len().max(1) as f64,
        sign_crops: signs,
        class_accuracy: share(right, signs),
        signs_kept: share(kept, signs),
        negative_crops: negatives,
        negatives_rejected: share(rejected, negatives),
    })
}

/// Trains a fresh classifier on `training` crops, stopping early on `validation` crops.
pub fn train_classifier(
    training: &[CropExample],
    validation: &[CropExample],
    config: &ClassifierConfig,
    progress: &mut dyn FnMut(ClassifierProgress),
) -> Result<TrainedClassifier> {
    if config.batch_size == 0 || config.epochs == 0 {
        return Err(DetectorError::Input(
            "training needs a batch size and an epoch count above zero".into(),
        ));
    }
    if training.is_empty() || validation.is_empty() {
        return Err(DetectorError::Input(format!(
            "the classifier needs training and validation crops, found {} and {} (signs at least {MIN_SIGN_HEIGHT} px tall and {MIN_SIGN_VISIBLE} visible, or room for \"not a sign\" boxes)",
            training.len(),
            validation.len()
        )));
    }
    let vars = VarMap::new();
    let classifier = SignClassifier::load(seeded_builder(&vars, config.seed).pp(SIGN_CLASSIFIER))?;
    let mut records = Vec::new();
    // Both the step and the epoch report go through the one `progress`.
    let progress = RefCell::new(progress);
    let started = Instant::now();
    let best = EpochLoop {
        epochs: config.epochs,
        batch_size: config.batch_size,
        learning_rate: config.learning_rate,
        weight_decay: config.weight_decay,
        patience: config.patience,
        warmup_steps: config.warmup_steps,
        seed: config.seed,
    }
    .run(
        &vars,
        &[""],
        training.len(),
        |indices, rng| {
            let (input, labels) = batch(training, indices, &config.augmentation, Some(rng))?;
            let loss = candle_nn::loss::cross_entropy(&classifier.forward(&input)?, &labels)?;
            let value = loss.to_scalar::<f32>()? as f64;
            Ok((loss, value))
        },
        |epoch, step, steps, loss| {
            (progress.borrow_mut())(ClassifierProgress::Step {
                epoch,
                step,
                steps,
                loss,
            })
        },
        |epoch, train_loss, seconds| {
            let figures = evaluate(&classifier, validation)?;
            let record = ClassifierEpoch {
                epoch,
                train_loss,
                validation: figures,
                seconds,
            };
            (progress.borrow_mut())(ClassifierProgress::Epoch(record.clone()));
            records.push(record);
            Ok(vec![(figures.loss, figures)])
        },
    )?;
    let (best_epoch, validation) = best[0];
    Ok(TrainedClassifier {
        vars,
        classifier,
        epochs: records,
        best_epoch,
        validation,
        training_seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{read_gtsrb_crops, read_sim_set};
    use std::path::Path;

    fn fixture(path: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
    }

    #[test]
    fn jittered_boxes_stay_within_their_bounds_and_negatives_avoid_signs() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let sign = [100.0, 200.0, 140.0, 240.0];
        for _ in 0..200 {
            let [l, t, r, b] = jittered_box(sign, &mut rng);
            assert!(((l + r) / 2.0 - 120.0).abs() <= 40.0 * CENTRE_JITTER + 1e-3);
            assert!(((t + b) / 2.0 - 220.0).abs() <= 40.0 * CENTRE_JITTER + 1e-3);
            assert!((r - l - 40.0).abs() <= 40.0 * SIZE_JITTER + 1e-3);
            let negative = negative_box(1280, 720, &[sign], &mut rng).unwrap();
            assert!(box_iou(&negative, &sign) < NEGATIVE_MAX_IOU);
            assert!(negative[0] >= 0.0 && negative[2] <= 1280.0 && negative[3] <= 720.0);
        }
        // No room: an image smaller than the smallest negative box.
        assert_eq!(negative_box(1280, 10, &[], &mut rng), None);
    }

    #[test]
    fn a_short_run_on_the_mini_set_and_gtsrb_crops_lowers_the_loss() {
        let mini = read_sim_set(&fixture("fixtures/detector/mini-set")).unwrap();
        let gtsrb = fixture("../shared/data/signs/gtsrb-crops");
        let mut crops_items = if gtsrb.is_dir() {
            read_gtsrb_crops(&gtsrb).unwrap()
        } else {
            Vec::new()
        };
        crops_items.truncate(12);
        let sources = [
            CropSource {
                name: "mini-set".into(),
                items: mini.items.clone(),
                copies: 4,
                negatives: 6,
            },
            CropSource {
                name: "gtsrb".into(),
                items: crops_items,
                copies: 2,
                negatives: 0,
            },
        ];
        let training = cut_crops(&sources, 5, 0, 0, &mut |_| {}).unwrap();
        let signs = training
            .iter()
            .filter(|c| usize::from(c.label) != NOT_A_SIGN)
            .count();
        assert!(
            signs >= 8 && training.len() > signs,
            "{signs} of {}",
            training.len()
        );
        let config = ClassifierConfig {
            epochs: 6,
            batch_size: 16,
            warmup_steps: 2,
            patience: 6,
            ..ClassifierConfig::default()
        };
        let trained = train_classifier(&training, &training, &config, &mut |_| {}).unwrap();
        let first = trained.epochs[0].train_loss;
        let best = trained.validation.loss;
        assert!(best < first * 0.8, "loss {first} → {best}");
        let again = evaluate(&trained.classifier, &training).unwrap().loss;
        assert!(
            (again - best).abs() < 1e-4 * best.max(1.0),
            "{again} vs {best}"
        );
    }
}
