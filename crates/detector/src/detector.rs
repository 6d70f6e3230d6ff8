//! The whole detector: backbone, sign head, lane head and (optionally) the crop classifier
//! in one safetensors file (`backbone.*`, `sign_head.*`, `lane_head.*`,
//! `sign_classifier.*`), its model card beside it, and detection in each image's own pixels.
//!
//! With a classifier, the sign head proposes candidates (at the card's
//! `sign_candidate_score`), each is classified on its crop of the original image
//! ([`crate::sign_classifier`]), and a sign is reported with the classifier's class and the
//! combined score ([`Verdict::combined_score`]) unless "not a sign" wins or that score is
//! below `sign_score`.

use crate::card::{ModelCard, Thresholds};
use crate::detections::{Detections, Lane, SignDetection};
use crate::efficientnet::EfficientNetLite0;
use crate::error::{DetectorError, Result};
use crate::input::{input_batch, Letterbox};
use crate::lane_head::LaneHead;
use crate::sign_classifier::{crop_pixels, crops_tensor, SignClassifier, Verdict};
use crate::sign_head::SignHead;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use image::RgbImage;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Tensor name prefixes in the model file.
const BACKBONE: &str = "backbone";
const SIGN_HEAD: &str = "sign_head";
const LANE_HEAD: &str = "lane_head";
pub const SIGN_CLASSIFIER: &str = "sign_classifier";

/// A trained detector ready to run.
pub struct Detector {
    backbone: EfficientNetLite0,
    sign_head: SignHead,
    lane_head: LaneHead,
    classifier: Option<SignClassifier>,
    card: ModelCard,
    thresholds: Thresholds,
}

/// The card's path for a model file: `detector.json` beside `detector.safetensors`.
pub fn card_path(model: &Path) -> PathBuf {
    model.with_extension("json")
}

pub(crate) fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(DetectorError::Io {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such model file"),
        });
    }
    candle_core::safetensors::load(path, &Device::Cpu).map_err(|error| DetectorError::Model {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

impl Detector {
    /// Loads a model file and the card beside it.
    pub fn load(path: &Path) -> Result<Self> {
        let card = ModelCard::load(&card_path(path))?;
        let tensors = read_tensors(path)?;
        let prefix = format!("{SIGN_CLASSIFIER}.");
        let has_classifier = tensors.keys().any(|name| name.starts_with(&prefix));
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        // Missing or misshapen tensors: say which file.
        let in_file = |error: DetectorError| DetectorError::Model {
            path: path.to_owned(),
            reason: error.to_string(),
        };
        Ok(Self {
            backbone: EfficientNetLite0::load(vb.pp(BACKBONE)).map_err(&in_file)?,
            sign_head: SignHead::load(vb.pp(SIGN_HEAD)).map_err(&in_file)?,
            lane_head: LaneHead::load(vb.pp(LANE_HEAD)).map_err(&in_file)?,
            classifier: has_classifier
                .then(|| SignClassifier::load(vb.pp(SIGN_CLASSIFIER)))
                .transpose()
                .map_err(&in_file)?,
            thresholds: card.thresholds,
            card,
        })
    }

    /// A detector from a backbone and trained heads (`sign_head.*`, `lane_head.*` in `heads`).
    pub fn from_parts(
        backbone: EfficientNetLite0,
        heads: &VarMap,
        card: ModelCard,
    ) -> Result<Self> {
        let vb = VarBuilder::from_varmap(heads, DType::F32, &Device::Cpu);
        Ok(Self {
            backbone,
            sign_head: SignHead::load(vb.pp(SIGN_HEAD))?,
            lane_head: LaneHead::load(vb.pp(LANE_HEAD))?,
            classifier: None,
            thresholds: card.thresholds,
            card,
        })
    }

    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// The crop classifier, if the model has one.
    pub fn classifier(&self) -> Option<&SignClassifier> {
        self.classifier.as_ref()
    }

    /// The same detector with another crop classifier, or none.
    pub fn with_classifier(mut self, classifier: Option<SignClassifier>) -> Self {
        self.classifier = classifier;
        self
    }

    /// The same detector reporting at other scores than its card's.
    pub fn with_thresholds(mut self, thresholds: Thresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Signs and lanes in one image, in its own pixels.
    pub fn detect(&self, image: &RgbImage) -> Result<Detections> {
        let mut all = self.detect_batch(std::slice::from_ref(image))?;
        Ok(all.pop().expect("one image in, one result out"))
    }

    /// Signs and lanes in each image (of any sizes), each in its own pixels.
    pub fn detect_batch(&self, images: &[RgbImage]) -> Result<Vec<Detections>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let (input, placements) = input_batch(images)?;
        let features = self.backbone.forward(&input)?;
        let signs = self.sign_head.forward(&features)?;
        let lanes = self.lane_head.forward(&features)?;
        let head_score = match (&self.classifier, self.thresholds.sign_candidate_score) {
            (Some(_), Some(candidate)) => candidate.min(self.thresholds.sign_score),
            _ => self.thresholds.sign_score,
        };
        placements
            .iter()
            .zip(images)
            .enumerate()
            .map(|(item, (placement, image))| {
                let found: Vec<SignDetection> = signs
                    .decode(item, head_score)?
                    .into_iter()
                    .filter_map(|sign| sign_in_image(sign, placement))
                    .collect();
                Ok(Detections {
                    signs: match &self.classifier {
                        Some(classifier) => self.classify(classifier, image, found)?,
                        None => found,
                    },
                    lanes: lanes
                        .decode(item, self.thresholds.lane_score)?
                        .into_iter()
                        .filter_map(|lane| lane_in_image(lane, placement))
                        .collect(),
                })
            })
            .collect()
    }
}

impl Detector {
    /// The candidates the classifier accepts, with its class and the combined score.
    fn classify(
        &self,
        classifier: &SignClassifier,
        image: &RgbImage,
        candidates: Vec<SignDetection>,
    ) -> Result<Vec<SignDetection>> {
        if candidates.is_empty() {
            return Ok(candidates);
        }
        let crops: Vec<RgbImage> = candidates
            .iter()
            .map(|sign| crop_pixels(image, sign.bbox))
            .collect();
        let probabilities = classifier.probabilities(&crops_tensor(&crops)?)?;
        Ok(candidates
            .into_iter()
            .zip(probabilities)
            .filter_map(|(sign, row)| {
                let verdict = Verdict::of(&row);
                let score = verdict.combined_score(sign.score);
                (!verdict.rejected && score >= self.thresholds.sign_score).then_some(
                    SignDetection {
                        class: verdict.class,
                        score,
                        ..sign
                    },
                )
            })
            .collect())
    }
}

/// Whether an input point lies on the picture rather than the padding.
fn on_picture(point: [f32; 2], placement: &Letterbox) -> bool {
    point[0] <= placement.content_width as f32 - 0.5
        && point[1] <= placement.content_height as f32 - 0.5
}

/// A sign found in input pixels, in the image's pixels; none when its centre is in the
/// padding.
fn sign_in_image(sign: SignDetection, placement: &Letterbox) -> Option<SignDetection> {
    on_picture(sign.center, placement).then(|| SignDetection {
        bbox: placement.box_to_image(sign.bbox),
        center: placement.to_image(sign.center),
        ..sign
    })
}

/// A lane in the image's pixels, without points in the padding; none when fewer than two
/// remain.
fn lane_in_image(lane: Lane, placement: &Letterbox) -> Option<Lane> {
    let points: Vec<[f32; 2]> = lane
        .points
        .iter()
        .filter(|&&p| on_picture(p, placement))
        .map(|&p| placement.to_image(p))
        .collect();
    (points.len() >= 2).then_some(Lane { points, ..lane })
}

/// Writes a model file: the backbone's tensors (from its own safetensors file) under
/// `backbone.`, and the heads' variables under their names.
pub fn save_model(path: &Path, backbone_file: &Path, heads: &VarMap) -> Result<()> {
    let mut tensors: HashMap<String, Tensor> = read_tensors(backbone_file)?
        .into_iter()
        .map(|(name, tensor)| (format!("{BACKBONE}.{name}"), tensor))
        .collect();
    for (name, var) in heads.data().lock().expect("variable map lock").iter() {
        tensors.insert(name.clone(), var.as_tensor().clone());
    }
    candle_core::safetensors::save(&tensors, path).map_err(|error| DetectorError::Write {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// Writes a copy of the model file `model` to `out` with the classifier's variables
/// (`sign_classifier.*` in `classifier`) in place of any it had; every other tensor is kept.
pub fn save_with_classifier(model: &Path, out: &Path, classifier: &VarMap) -> Result<()> {
    let prefix = format!("{SIGN_CLASSIFIER}.");
    let mut tensors: HashMap<String, Tensor> = read_tensors(model)?
        .into_iter()
        .filter(|(name, _)| !name.starts_with(&prefix))
        .collect();
    for (name, var) in classifier.data().lock().expect("variable map lock").iter() {
        tensors.insert(name.clone(), var.as_tensor().clone());
    }
    candle_core::safetensors::save(&tensors, out).map_err(|error| DetectorError::Write {
        path: out.to_owned(),
        reason: error.to_string(),
    })
}
