//! The whole detector: backbone, sign head and lane head in one safetensors file
//! (`backbone.*`, `sign_head.*`, `lane_head.*`), its model card beside it, and detection in
//! each image's own pixels.

use crate::card::{ModelCard, Thresholds};
use crate::detections::{Detections, Lane, SignDetection};
use crate::efficientnet::EfficientNetLite0;
use crate::error::{DetectorError, Result};
use crate::input::{input_batch, Letterbox};
use crate::lane_head::LaneHead;
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

/// A trained detector ready to run.
pub struct Detector {
    backbone: EfficientNetLite0,
    sign_head: SignHead,
    lane_head: LaneHead,
    card: ModelCard,
    thresholds: Thresholds,
}

/// The card's path for a model file: `detector.json` beside `detector.safetensors`.
pub fn card_path(model: &Path) -> PathBuf {
    model.with_extension("json")
}

fn read_tensors(path: &Path) -> Result<HashMap<String, Tensor>> {
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
        placements
            .iter()
            .enumerate()
            .map(|(item, placement)| {
                Ok(Detections {
                    signs: signs
                        .decode(item, self.thresholds.sign_score)?
                        .into_iter()
                        .filter_map(|sign| sign_in_image(sign, placement))
                        .collect(),
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
