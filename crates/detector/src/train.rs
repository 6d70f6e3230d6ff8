//! Training the two heads on a frozen backbone.
//!
//! The backbone's features do not change while it is frozen, so each training example
//! (an image, plain or randomly changed, see [`crate::augment`]) goes through it once and
//! its three feature maps are kept in memory as f16 (0.68 MB an example). Epochs then run the
//! heads alone: AdamW with weight decay, a short warm-up and a cosine decay of the learning
//! rate, the summed sign and lane losses. After every epoch the held-back validation
//! examples give a validation loss for each head, and the lane head's row F1 (its loss
//! rewards calibration, not lines in the right place). Each head's best epoch is kept apart
//! (the lane head may overfit while the sign head still learns): the sign head's by its
//! loss, the lane head's by its F1. Training stops once neither has improved for `patience`
//! epochs, and the heads of their best epochs are what [`train`] returns. A lane head from
//! an earlier model can be kept as it is ([`KeptLaneHead`]): then the sign head alone trains.
//! Everything random (augmentation, order) comes from the seed, so a run repeats.

use crate::augment::{augmented_example, plain_example, Augmentation, Example};
use crate::data::DataSet;
use crate::detector::read_tensors;
use crate::efficientnet::{EfficientNetLite0, Features};
use crate::error::{DetectorError, Result};
use crate::image_input::read_rgb;
use crate::input::input_tensor;
use crate::lane_head::{lane_loss, LaneHead, LaneTarget, RowMatches};
use crate::sign_head::{sign_loss, SignHead, SignTarget};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::init::{Init, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Images decoded, changed and passed through the backbone together.
const CACHE_CHUNK: usize = 8;
/// The cosine decay ends at this fraction of the peak learning rate.
const FINAL_LR_FRACTION: f64 = 0.05;

/// A set of images to train on and how many examples to make of each.
#[derive(Debug, Clone)]
pub struct TrainSource {
    pub set: DataSet,
    /// Whether the image as it is (letterboxed only) is one of the examples.
    pub plain: bool,
    /// Randomly changed copies per image.
    pub augmented_copies: usize,
}

/// Settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Most epochs; early stopping may end sooner.
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    /// Steps over which the learning rate rises to its peak at the start.
    pub warmup_steps: usize,
    /// Weight of the lane loss against the sign loss.
    pub lane_weight: f64,
    pub seed: u64,
    #[serde(skip)]
    pub augmentation: Augmentation,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 12,
            batch_size: 16,
            learning_rate: 2e-3,
            weight_decay: 1e-4,
            patience: 2,
            warmup_steps: 50,
            lane_weight: 1.0,
            seed: 1,
            augmentation: Augmentation::default(),
        }
    }
}

/// What a run reports while it works.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Examples passed through the backbone so far, of all (training and validation).
    Caching { done: usize, total: usize },
    /// One optimiser step done.
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        loss: f32,
    },
    /// An epoch finished and was validated.
    Epoch(EpochRecord),
}

/// Figures of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Counted from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    pub validation_loss: f64,
    pub validation_sign_loss: f64,
    pub validation_lane_loss: f64,
    /// The lane head's row F1 on the validation examples (see [`RowMatches`]), which picks
    /// its best epoch; absent from cards of models trained before.
    #[serde(default)]
    pub validation_lane_f1: Option<f64>,
    pub seconds: f64,
}

/// The outcome of [`train`]: the best epoch's head weights and the run's figures.
pub struct Trained {
    /// `sign_head.*` and `lane_head.*` variables.
    pub heads: VarMap,
    pub epochs: Vec<EpochRecord>,
    /// Validation loss of the freshly initialised heads.
    pub initial_validation_loss: f64,
    /// The epoch whose sign head `heads` holds.
    pub sign_best_epoch: usize,
    /// The epoch whose lane head `heads` holds; `None` for a lane head kept as it was.
    pub lane_best_epoch: Option<usize>,
    pub training_examples: usize,
    pub validation_examples: usize,
    pub caching_seconds: f64,
    pub training_seconds: f64,
}

/// One example's backbone features (f16, batch of one) and targets.
struct CachedExample {
    features: [Tensor; 3],
    signs: Vec<SignTarget>,
    lanes: Option<Vec<LaneTarget>>,
}

/// Which example of which image: (source, image, copy); copy 0 is the plain one where
/// the source has it.
type ExampleKey = (usize, usize, usize);

/// A stream of random numbers for one example, the same whatever the order of work.
fn example_rng(seed: u64, (source, image, copy): ExampleKey) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((source as u64) << 48) ^ ((copy as u64) << 32) ^ image as u64);
    rng
}

fn make_example(sources: &[TrainSource], key: ExampleKey, config: &TrainConfig) -> Result<Example> {
    let (source_index, image_index, copy) = key;
    let source = &sources[source_index];
    let item = &source.set.items[image_index];
    let image = read_rgb(&item.path)?;
    if source.plain && copy == 0 {
        plain_example(&image, item)
    } else {
        let mut rng = example_rng(config.seed, key);
        augmented_example(&image, item, &config.augmentation, &mut rng)
    }
}

fn example_keys(sources: &[TrainSource]) -> Vec<ExampleKey> {
    let mut keys = Vec::new();
    for (s, source) in sources.iter().enumerate() {
        let copies = usize::from(source.plain) + source.augmented_copies;
        for image in 0..source.set.items.len() {
            keys.extend((0..copies).map(|copy| (s, image, copy)));
        }
    }
    keys
}

/// Runs every example through the backbone, keeping f16 features and targets.
fn cache_examples(
    backbone: &EfficientNetLite0,
    sources: &[TrainSource],
    config: &TrainConfig,
    done_before: usize,
    total: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<CachedExample>> {
    let keys = example_keys(sources);
    let mut cached = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(CACHE_CHUNK) {
        let examples = chunk
            .par_iter()
            .map(|&key| make_example(sources, key, config))
            .collect::<Result<Vec<_>>>()?;
        let canvases: Vec<_> = examples.iter().map(|e| e.canvas.clone()).collect();
        let features = backbone.forward(&input_tensor(&canvases)?)?;
        let levels = [features.stride8, features.stride16, features.stride32]
            .map(|level| level.to_dtype(DType::F16));
        let [s8, s16, s32] = levels;
        let (s8, s16, s32) = (s8?, s16?, s32?);
        for (index, example) in examples.into_iter().enumerate() {
            cached.push(CachedExample {
                features: [
                    s8.narrow(0, index, 1)?.contiguous()?,
                    s16.narrow(0, index, 1)?.contiguous()?,
                    s32.narrow(0, index, 1)?.contiguous()?,
                ],
                signs: example.signs,
                lanes: example.lanes,
            });
        }
        progress(Progress::Caching {
            done: done_before + cached.len(),
            total,
        });
    }
    Ok(cached)
}

/// The heads' inputs and targets for a batch.
struct Batch {
    features: Features,
    signs: Vec<Vec<SignTarget>>,
    lanes: Vec<Option<Vec<LaneTarget>>>,
}

/// Gathers a batch of cached examples.
fn batch(examples: &[CachedExample], indices: &[usize]) -> Result<Batch> {
    let level = |k: usize| -> Result<Tensor> {
        let parts: Vec<&Tensor> = indices.iter().map(|&i| &examples[i].features[k]).collect();
        Ok(Tensor::cat(&parts, 0)?.to_dtype(DType::F32)?)
    };
    let features = Features {
        stride8: level(0)?,
        stride16: level(1)?,
        stride32: level(2)?,
    };
    let signs = indices.iter().map(|&i| examples[i].signs.clone()).collect();
    let lanes = indices.iter().map(|&i| examples[i].lanes.clone()).collect();
    Ok(Batch {
        features,
        signs,
        lanes,
    })
}

/// A trained lane head to keep as it is while the sign head trains: the `lane_head.*`
/// tensors of a model file. The heads share no weight, so a sign head can be retrained
/// without disturbing a lane head the tracker does well with.
pub struct KeptLaneHead {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
}

impl KeptLaneHead {
    const PREFIX: &'static str = "lane_head.";

    pub fn read(path: &Path) -> Result<Self> {
        let tensors: HashMap<String, Tensor> = read_tensors(path)?
            .into_iter()
            .filter(|(name, _)| name.starts_with(Self::PREFIX))
            .collect();
        if tensors.is_empty() {
            return Err(DetectorError::Model {
                path: path.to_owned(),
                reason: "no lane_head.* tensors".into(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            tensors,
        })
    }

    /// Sets the lane head's variables in `vars` to the kept weights.
    fn put_into(&self, vars: &VarMap) -> Result<()> {
        let data = vars.data().lock().expect("variable map lock");
        for (name, var) in data
            .iter()
            .filter(|(name, _)| name.starts_with(Self::PREFIX))
        {
            let kept = self.tensors.get(name).ok_or_else(|| DetectorError::Model {
                path: self.path.clone(),
                reason: format!("lacks tensor `{name}`"),
            })?;
            if kept.dims() != var.dims() {
                return Err(DetectorError::Model {
                    path: self.path.clone(),
                    reason: format!(
                        "tensor `{name}` has shape {:?}, the lane head's is {:?}",
                        kept.dims(),
                        var.dims()
                    ),
                });
            }
            var.set(&kept.to_dtype(var.dtype())?)?;
        }
        Ok(())
    }
}

/// The two heads with their variables.
struct Heads {
    sign: SignHead,
    lane: LaneHead,
}

/// How far (input pixels) a lane row may lie from its label and count: detect-eval's 20 px
/// at 1280 wide, at the 640-wide input.
const LANE_TOLERANCE_PX: f32 = 10.0;

/// Losses of one batch: (total as a differentiable scalar, sign, lane); the lane rows'
/// matches are added to `lane_rows` where given. Without `lane_weight` (a lane head kept
/// as it is) the lane head is not run and the total is the sign loss.
fn losses(
    heads: &Heads,
    examples: &[CachedExample],
    indices: &[usize],
    lane_weight: Option<f64>,
    lane_rows: Option<&mut RowMatches>,
) -> Result<(Tensor, f64, f64)> {
    let batch = batch(examples, indices)?;
    let sign = sign_loss(&heads.sign.forward(&batch.features)?, &batch.signs)?;
    let sign_value = f64::from(sign.total.to_scalar::<f32>()?);
    let Some(lane_weight) = lane_weight else {
        return Ok((sign.total, sign_value, 0.0));
    };
    let lanes = heads.lane.forward(&batch.features)?;
    let lane = lane_loss(&lanes, &batch.lanes)?;
    if let Some(lane_rows) = lane_rows {
        lane_rows.add(lanes.row_matches(&batch.lanes, LANE_TOLERANCE_PX)?);
    }
    let lane_value = f64::from(lane.total.to_scalar::<f32>()?);
    let total = (sign.total + (lane.total * lane_weight)?)?;
    Ok((total, sign_value, lane_value))
}

/// The heads' figures on a set: mean losses and the lane rows' matches.
struct Validation {
    /// Sign loss + lane weight × lane loss.
    total: f64,
    sign: f64,
    lane: f64,
    lane_rows: RowMatches,
}

fn validate(heads: &Heads, examples: &[CachedExample], config: &TrainConfig) -> Result<Validation> {
    let all: Vec<usize> = (0..examples.len()).collect();
    let (mut sign_sum, mut lane_sum) = (0.0, 0.0);
    let mut lane_rows = RowMatches::default();
    for indices in all.chunks(config.batch_size) {
        let (_, sign, lane) = losses(
            heads,
            examples,
            indices,
            Some(config.lane_weight),
            Some(&mut lane_rows),
        )?;
        sign_sum += sign * indices.len() as f64;
        lane_sum += lane * indices.len() as f64;
    }
    let n = examples.len().max(1) as f64;
    let (sign, lane) = (sign_sum / n, lane_sum / n);
    Ok(Validation {
        total: sign + config.lane_weight * lane,
        sign,
        lane,
        lane_rows,
    })
}

/// Creates variables like a `VarMap`-backed builder does, but draws their initial values
/// from a seeded generator (candle's CPU generator cannot be seeded), so that a run
/// repeats.
struct SeededInit {
    vars: VarMap,
    rng: std::sync::Mutex<ChaCha8Rng>,
}

impl SeededInit {
    fn new(vars: VarMap, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::MAX);
        Self {
            vars,
            rng: std::sync::Mutex::new(rng),
        }
    }

    fn draw(&self, shape: &Shape, init: Init) -> candle_core::Result<Tensor> {
        use rand_distr::{Distribution, Normal, Uniform};
        let mut rng = self.rng.lock().expect("initialiser lock");
        let count = shape.elem_count();
        let uniform = |rng: &mut ChaCha8Rng, lo: f64, up: f64| -> candle_core::Result<Vec<f32>> {
            let distribution = Uniform::new_inclusive(lo, up).map_err(candle_core::Error::wrap)?;
            Ok((0..count)
                .map(|_| distribution.sample(rng) as f32)
                .collect())
        };
        let normal =
            |rng: &mut ChaCha8Rng, mean: f64, stdev: f64| -> candle_core::Result<Vec<f32>> {
                let distribution = Normal::new(mean, stdev).map_err(candle_core::Error::wrap)?;
                Ok((0..count)
                    .map(|_| distribution.sample(rng) as f32)
                    .collect())
            };
        let values = match init {
            Init::Const(value) => vec![value as f32; count],
            Init::Uniform { lo, up } => uniform(&mut rng, lo, up)?,
            Init::Randn { mean, stdev } => normal(&mut rng, mean, stdev)?,
            Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let stdev = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
                match dist {
                    NormalOrUniform::Normal => normal(&mut rng, 0.0, stdev)?,
                    NormalOrUniform::Uniform => {
                        let bound = 3f64.sqrt() * stdev;
                        uniform(&mut rng, -bound, bound)?
                    }
                }
            }
        };
        Tensor::from_vec(values, shape, &Device::Cpu)
    }
}

impl SimpleBackend for SeededInit {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        init: Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut data = self.vars.data().lock().expect("variable map lock");
        if let Some(var) = data.get(name) {
            if var.shape() != &shape {
                candle_core::bail!(
                    "variable {name} exists with shape {:?}, asked for {shape:?}",
                    var.shape()
                );
            }
            return Ok(var.as_tensor().clone());
        }
        let tensor = self
            .draw(&shape, init)?
            .to_dtype(dtype)?
            .to_device(device)?;
        let var = candle_core::Var::from_tensor(&tensor)?;
        data.insert(name.to_owned(), var.clone());
        Ok(var.as_tensor().clone())
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("variable {name} needs a shape and an initialiser")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.vars
            .data()
            .lock()
            .expect("variable map lock")
            .contains_key(name)
    }
}

/// A builder that creates variables in `vars`, drawn from `seed`.
pub(crate) fn seeded_builder(vars: &VarMap, seed: u64) -> VarBuilder<'static> {
    VarBuilder::from_backend(
        Box::new(SeededInit::new(vars.clone(), seed)),
        DType::F32,
        Device::Cpu,
    )
}

/// AdamW over the variables in `vars` whose names start with one of `parts`.
pub(crate) fn adamw(
    vars: &VarMap,
    parts: &[&str],
    learning_rate: f64,
    weight_decay: f64,
) -> Result<AdamW> {
    let trained = vars
        .data()
        .lock()
        .expect("variable map lock")
        .iter()
        .filter(|(name, _)| parts.iter().any(|part| name.starts_with(part)))
        .map(|(_, var)| var.clone())
        .collect();
    Ok(AdamW::new(
        trained,
        ParamsAdamW {
            lr: learning_rate,
            weight_decay,
            ..ParamsAdamW::default()
        },
    )?)
}

/// The part of a training run both trainers share: every epoch shuffles the examples
/// (seeded), steps AdamW over batches with the warm-up + cosine learning rate, then asks
/// `end_epoch` for a validation loss (and what to keep of that epoch) for each of `parts`,
/// the variables whose names start with a prefix. Each part keeps its own best epoch: parts
/// that share no variable and add their losses train as they would apart, so one that
/// overfits early need not hold back another that still learns. Training stops once every
/// part has gone `patience` epochs without a better loss, and each part's best weights are
/// put back into `vars`. `step` returns the loss to minimise and its value for the
/// progress report; it gets the shuffling generator, so that augmentation drawn from it
/// stays seeded.
pub(crate) struct EpochLoop {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub patience: usize,
    pub warmup_steps: usize,
    pub seed: u64,
}

impl EpochLoop {
    pub(crate) fn run<T>(
        &self,
        vars: &VarMap,
        parts: &[&str],
        examples: usize,
        mut step: impl FnMut(&[usize], &mut ChaCha8Rng) -> Result<(Tensor, f64)>,
        mut step_done: impl FnMut(usize, usize, usize, f32),
        mut end_epoch: impl FnMut(usize, f64, f64) -> Result<Vec<(f64, T)>>,
    ) -> Result<Vec<(usize, T)>> {
        let mut optimiser = adamw(vars, parts, self.learning_rate, self.weight_decay)?;
        let steps = examples.div_ceil(self.batch_size);
        let total_steps = steps * self.epochs;
        let mut order: Vec<usize> = (0..examples).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut best: Vec<EarlyStopping<T>> = parts
            .iter()
            .map(|prefix| EarlyStopping::new(prefix, self.patience))
            .collect();
        for epoch in 1..=self.epochs {
            let epoch_started = Instant::now();
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0;
            for (index, indices) in order.chunks(self.batch_size).enumerate() {
                optimiser.set_learning_rate(learning_rate(
                    self.learning_rate,
                    self.warmup_steps,
                    (epoch - 1) * steps + index,
                    total_steps,
                ));
                let (objective, loss) = step(indices, &mut rng)?;
                optimiser.backward_step(&objective)?;
                loss_sum += loss;
                step_done(epoch, index + 1, steps, loss as f32);
            }
            let train_loss = loss_sum / steps as f64;
            let seconds = epoch_started.elapsed().as_secs_f64();
            let validation = end_epoch(epoch, train_loss, seconds)?;
            assert_eq!(
                validation.len(),
                best.len(),
                "a validation loss for each part"
            );
            let mut all_stopped = true;
            for (part, (loss, kept)) in best.iter_mut().zip(validation) {
                all_stopped &= part.stop_after(vars, epoch, loss, kept)?;
            }
            if all_stopped {
                break;
            }
        }
        best.into_iter()
            .map(|part| part.restore_best(vars))
            .collect()
    }
}

/// Early stopping of the variables whose names start with `prefix`: the epoch with the
/// lowest validation loss so far, their weights then and whatever else the caller keeps
/// of it (`T`).
pub(crate) struct EarlyStopping<T> {
    prefix: String,
    patience: usize,
    best: Option<(f64, usize, T, HashMap<String, Tensor>)>,
}

impl<T> EarlyStopping<T> {
    pub(crate) fn new(prefix: &str, patience: usize) -> Self {
        Self {
            prefix: prefix.to_owned(),
            patience,
            best: None,
        }
    }

    /// Records an epoch; true when `patience` epochs have passed without a better loss.
    pub(crate) fn stop_after(
        &mut self,
        vars: &VarMap,
        epoch: usize,
        loss: f64,
        kept: T,
    ) -> Result<bool> {
        match &self.best {
            Some((best_loss, best_epoch, _, _)) if loss >= *best_loss => {
                Ok(epoch - best_epoch >= self.patience)
            }
            _ => {
                self.best = Some((loss, epoch, kept, snapshot(vars, &self.prefix)?));
                Ok(false)
            }
        }
    }

    /// Puts the best epoch's weights back into `vars`; that epoch and what was kept of it.
    pub(crate) fn restore_best(self, vars: &VarMap) -> Result<(usize, T)> {
        let (_, epoch, kept, weights) = self.best.expect("at least one epoch ran");
        restore(vars, &weights)?;
        Ok((epoch, kept))
    }
}

fn snapshot(vars: &VarMap, prefix: &str) -> Result<HashMap<String, Tensor>> {
    let data = vars.data().lock().expect("variable map lock");
    data.iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, var)| Ok((name.clone(), var.as_tensor().copy()?)))
        .collect()
}

fn restore(vars: &VarMap, saved: &HashMap<String, Tensor>) -> Result<()> {
    let data = vars.data().lock().expect("variable map lock");
    for (name, var) in data.iter() {
        if let Some(tensor) = saved.get(name) {
            var.set(tensor)?;
        }
    }
    Ok(())
}

/// Learning rate at a step: linear warm-up to `peak`, then cosine decay to a small floor.
pub(crate) fn learning_rate(
    peak: f64,
    warmup_steps: usize,
    step: usize,
    total_steps: usize,
) -> f64 {
    if step < warmup_steps {
        return peak * (step + 1) as f64 / warmup_steps as f64;
    }
    let progress =
        (step - warmup_steps) as f64 / (total_steps.saturating_sub(warmup_steps)).max(1) as f64;
    let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos());
    peak * (FINAL_LR_FRACTION + (1.0 - FINAL_LR_FRACTION) * cosine)
}

/// Trains fresh heads on `sources` with the frozen `backbone`, validating on `validation`;
/// with `kept_lane_head`, a fresh sign head beside that lane head, which stays as it is.
pub fn train(
    backbone: &EfficientNetLite0,
    sources: &[TrainSource],
    validation: &[DataSet],
    config: &TrainConfig,
    kept_lane_head: Option<&KeptLaneHead>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Trained> {
    if config.batch_size == 0 || config.epochs == 0 {
        return Err(crate::error::DetectorError::Input(
            "training needs a batch size and an epoch count above zero".into(),
        ));
    }
    let validation_sources: Vec<TrainSource> = validation
        .iter()
        .map(|set| TrainSource {
            set: set.clone(),
            plain: true,
            augmented_copies: 0,
        })
        .collect();
    let training_count = example_keys(sources).len();
    let total = training_count + example_keys(&validation_sources).len();
    if training_count == 0 || total == training_count {
        return Err(crate::error::DetectorError::Input(
            "training needs training images and validation images (for early stopping)".into(),
        ));
    }
    let started = Instant::now();
    let examples = cache_examples(backbone, sources, config, 0, total, progress)?;
    let validation_examples = cache_examples(
        backbone,
        &validation_sources,
        config,
        training_count,
        total,
        progress,
    )?;
    let caching_seconds = started.elapsed().as_secs_f64();

    let heads_vars = VarMap::new();
    let vb = seeded_builder(&heads_vars, config.seed);
    let heads = Heads {
        sign: SignHead::load(vb.pp("sign_head"))?,
        lane: LaneHead::load(vb.pp("lane_head"))?,
    };
    if let Some(kept) = kept_lane_head {
        kept.put_into(&heads_vars)?;
    }
    let trained_lane_weight = kept_lane_head.is_none().then_some(config.lane_weight);
    let parts: &[&str] = if kept_lane_head.is_some() {
        &["sign_head."]
    } else {
        &["sign_head.", "lane_head."]
    };
    let initial_validation_loss = validate(&heads, &validation_examples, config)?.total;
    let mut records = Vec::new();
    // Both the step and the epoch report go through the one `progress`.
    let progress = RefCell::new(progress);
    let training_started = Instant::now();
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
        &heads_vars,
        parts,
        examples.len(),
        |indices, _| {
            let (total, sign, lane) =
                losses(&heads, &examples, indices, trained_lane_weight, None)?;
            Ok((total, sign + trained_lane_weight.unwrap_or(0.0) * lane))
        },
        |epoch, step, steps, loss| {
            (progress.borrow_mut())(Progress::Step {
                epoch,
                step,
                steps,
                loss,
            })
        },
        |epoch, train_loss, seconds| {
            let validation = validate(&heads, &validation_examples, config)?;
            let lane_f1 = validation.lane_rows.f1();
            let record = EpochRecord {
                epoch,
                train_loss,
                validation_loss: validation.total,
                validation_sign_loss: validation.sign,
                validation_lane_loss: validation.lane,
                validation_lane_f1: Some(lane_f1),
                seconds,
            };
            (progress.borrow_mut())(Progress::Epoch(record.clone()));
            records.push(record);
            // The sign head by its loss, the lane head by how many rows it gets right.
            let measures = [(validation.sign, ()), (1.0 - lane_f1, ())];
            Ok(measures[..parts.len()].to_vec())
        },
    )?;
    Ok(Trained {
        heads: heads_vars,
        epochs: records,
        initial_validation_loss,
        sign_best_epoch: best[0].0,
        lane_best_epoch: best.get(1).map(|(epoch, _)| *epoch),
        training_examples: examples.len(),
        validation_examples: validation_examples.len(),
        caching_seconds,
        training_seconds: training_started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learning_rate_warms_up_then_decays_to_its_floor() {
        let config = TrainConfig {
            warmup_steps: 100,
            ..TrainConfig::default()
        };
        let peak = config.learning_rate;
        assert!(learning_rate(peak, config.warmup_steps, 0, 1000) < 0.02 * peak);
        assert!(
            (learning_rate(peak, config.warmup_steps, config.warmup_steps - 1, 1000) - peak).abs()
                < 1e-12
        );
        assert!(
            (learning_rate(peak, config.warmup_steps, config.warmup_steps, 1000) - peak).abs()
                < 1e-12
        );
        let middle = learning_rate(peak, config.warmup_steps, 550, 1000);
        assert!(
            (middle - peak * (FINAL_LR_FRACTION + (1.0 - FINAL_LR_FRACTION) / 2.0)).abs() < 1e-9
        );
        assert!(
            (learning_rate(peak, config.warmup_steps, 1000, 1000) - peak * FINAL_LR_FRACTION).abs()
                < 1e-12
        );
    }

    #[test]
    fn each_part_keeps_its_own_best_epoch_and_training_runs_while_one_improves() {
        let vars = VarMap::new();
        let first = vars
            .get(1, "first.w", Init::Const(0.0), DType::F32, &Device::Cpu)
            .unwrap();
        let second = vars
            .get(1, "second.w", Init::Const(0.0), DType::F32, &Device::Cpu)
            .unwrap();
        let value = |t: &Tensor| t.to_vec1::<f32>().unwrap()[0];
        // Both weights move every epoch; the scripted losses make the first part best at
        // epoch 1 and the second still better at every epoch.
        let first_losses = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let second_losses = [6.0, 5.0, 4.0, 3.0, 2.0, 1.0];
        let mut first_after_epoch = Vec::new();
        let mut second_after_epoch = Vec::new();
        let best = EpochLoop {
            epochs: 6,
            batch_size: 1,
            learning_rate: 0.1,
            weight_decay: 0.0,
            patience: 2,
            warmup_steps: 0,
            seed: 1,
        }
        .run(
            &vars,
            &["first.", "second."],
            1,
            |_, _| {
                let objective = ((&first - 10.0)?.sqr()? + (&second - 10.0)?.sqr()?)?.sum_all()?;
                Ok((objective, 0.0))
            },
            |_, _, _, _| {},
            |epoch, _, _| {
                first_after_epoch.push(value(&first));
                second_after_epoch.push(value(&second));
                Ok(vec![
                    (first_losses[epoch - 1], epoch),
                    (second_losses[epoch - 1], epoch),
                ])
            },
        )
        .unwrap();
        assert_eq!(best, vec![(1, 1), (6, 6)]);
        assert_eq!(
            first_after_epoch.len(),
            6,
            "the second part kept training going"
        );
        assert_eq!(value(&first), first_after_epoch[0]);
        assert_eq!(value(&second), second_after_epoch[5]);
        assert_ne!(first_after_epoch[0], first_after_epoch[5]);
    }

    #[test]
    fn example_streams_differ_by_key_and_repeat_by_seed() {
        use rand::Rng;
        let draw = |seed, key| example_rng(seed, key).random::<u64>();
        assert_eq!(draw(1, (0, 5, 1)), draw(1, (0, 5, 1)));
        assert_ne!(draw(1, (0, 5, 1)), draw(1, (0, 5, 2)));
        assert_ne!(draw(1, (0, 5, 1)), draw(1, (1, 5, 1)));
        assert_ne!(draw(1, (0, 5, 1)), draw(2, (0, 5, 1)));
    }
}
