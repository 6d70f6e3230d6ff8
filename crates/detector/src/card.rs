//! The model card (`detector.json` beside `detector.safetensors`): what the network
//! expects and reports, its operating thresholds, and how it was made — the data with the
//! commands that render it, the seed, the epochs with their validation losses, the figures on
//! held-back data, and the command that reproduces it.

use crate::classifier_train::{ClassifierConfig, ClassifierEpoch, ClassifierFigures};
use crate::error::{DetectorError, Result};
use crate::input::{INPUT_HEIGHT, INPUT_WIDTH, PAD_VALUE};
use crate::train::{EpochRecord, TrainConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Scores at which detections are reported.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub sign_score: f32,
    pub lane_score: f32,
    /// With a crop classifier: the sign head's score at which a candidate is classified
    /// (below `sign_score`, since the classifier rejects false ones); `sign_score` then
    /// applies to the combined score. Absent: candidates at `sign_score`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_candidate_score: Option<f32>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            sign_score: 0.5,
            lane_score: 0.5,
            sign_candidate_score: None,
        }
    }
}

/// What the network takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    pub width: u32,
    pub height: u32,
    /// How a frame becomes an input.
    pub layout: String,
    pub padding_value: u8,
    pub normalisation: String,
}

impl Default for InputSpec {
    fn default() -> Self {
        Self {
            width: INPUT_WIDTH,
            height: INPUT_HEIGHT,
            layout: "RGB, resized (bilinear) to fit keeping the aspect ratio, placed at the top-left, the rest padded".into(),
            padding_value: PAD_VALUE,
            normalisation: "(x - 127) / 128 per channel, inside the network".into(),
        }
    }
}

/// A set of images training used or was checked on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    /// `train`, `validation` or `test` (held back, never seen in training).
    pub role: String,
    pub dir: String,
    /// `simulator` or `gtsdb`.
    pub kind: String,
    pub images: usize,
    pub signs: usize,
    /// The command that made the set, where one did.
    pub command: Option<String>,
    pub seed: Option<u64>,
    /// Which images (GTSDB) where not all of them.
    pub selection: Option<String>,
    /// Examples made of each image: the plain one and randomly changed copies.
    pub plain: bool,
    pub augmented_copies: usize,
}

/// How the model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    pub data: Vec<DataRecord>,
    pub config: TrainConfig,
    pub augmentation: String,
    pub optimiser: String,
    pub backbone: String,
    pub initial_validation_loss: f64,
    pub epochs: Vec<EpochRecord>,
    /// The epoch whose sign head was kept (each head stops early on its own measure: the
    /// sign head on its loss, the lane head on its row F1).
    #[serde(alias = "best_epoch")]
    pub sign_best_epoch: usize,
    /// The epoch whose lane head was kept. Absent from cards of models whose heads were
    /// stopped together, at the sign head's epoch.
    #[serde(default)]
    pub lane_best_epoch: Option<usize>,
    pub training_examples: usize,
    pub validation_examples: usize,
    pub caching_seconds: f64,
    pub training_seconds: f64,
    /// From reading the data to writing the model, scoring included.
    pub total_seconds: f64,
    pub threads: usize,
    /// Commands that rebuild the data and the model, in order.
    pub reproduce: Vec<String>,
    /// Where the lane head came from when it was kept from an earlier model rather than
    /// trained in this run (then `lane_best_epoch` is absent and the epochs' lane figures
    /// are the kept head's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane_head_kept: Option<KeptLaneHeadRecord>,
}

/// The earlier model a lane head was kept from, and how that model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptLaneHeadRecord {
    pub model: String,
    pub sha256: String,
    /// The earlier model's card's training record, where it had one.
    pub training: Option<Box<TrainingRecord>>,
}

/// A set crops for the classifier were cut from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CropDataRecord {
    /// `train` or `validation`.
    pub role: String,
    pub dir: String,
    /// `simulator`, `gtsdb` or `gtsrb-crops`.
    pub kind: String,
    /// Which images where not all of them.
    pub selection: Option<String>,
    pub images: usize,
    /// Crops of each usable sign and "not a sign" crops of each image.
    pub copies: usize,
    pub negatives_per_image: usize,
    /// The command that made the set, where one did.
    pub command: Option<String>,
}

/// How the crop classifier (`sign_classifier.*`) was made and how it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierRecord {
    pub model: String,
    /// How a detected box becomes the classifier's input.
    pub input: String,
    pub parameters: usize,
    /// How the reported score is made of the head's score and the classifier's.
    pub score: String,
    pub data: Vec<CropDataRecord>,
    /// Which labelled signs made examples, and how boxes were changed.
    pub examples: String,
    pub training_crops: usize,
    pub validation_crops: usize,
    pub config: ClassifierConfig,
    pub augmentation: String,
    pub optimiser: String,
    pub epochs: Vec<ClassifierEpoch>,
    pub best_epoch: usize,
    /// The best epoch's figures on the validation crops.
    pub validation: ClassifierFigures,
    /// The whole detector with the classifier at the card's thresholds: on the validation
    /// set the sign threshold was chosen on, and on held-back GTSDB scenes.
    pub detection: Vec<ValidationRecord>,
    pub cropping_seconds: f64,
    pub training_seconds: f64,
    /// From reading the data to writing the model, scoring included.
    pub total_seconds: f64,
    pub threads: usize,
    /// Commands that rebuild the data and the classifier, in order.
    pub reproduce: Vec<String>,
}

/// Figures of the finished model on one set (the JSON of
/// [`crate::metrics::Metrics`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationRecord {
    pub set: String,
    pub role: String,
    pub metrics: serde_json::Value,
}

/// The whole card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub model: String,
    /// GTSRB class names by id.
    pub classes: Vec<String>,
    pub input: InputSpec,
    pub thresholds: Thresholds,
    pub training: Option<TrainingRecord>,
    pub validation: Vec<ValidationRecord>,
    /// How the crop classifier (`sign_classifier.*`) was trained; absent when the model
    /// has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<ClassifierRecord>,
    pub licence: String,
}

impl ModelCard {
    /// A card for a model of this crate's layout, before training adds its record.
    pub fn new(thresholds: Thresholds) -> Self {
        Self {
            model: "mapfix detector: EfficientNet-Lite0 backbone (ImageNet-pretrained), CenterNet-style sign head on stride 8+16, row-anchor lane head".into(),
            classes: mapfix_map::GTSRB_NAMES.iter().map(|n| n.to_string()).collect(),
            input: InputSpec::default(),
            thresholds,
            training: None,
            validation: Vec::new(),
            classifier: None,
            licence: "weights: MIT (this project); backbone start: Apache-2.0 EfficientNet-Lite0, see models/efficientnet-lite0.LICENSE.md; trained on GTSDB scenes (free to use, cite Houben et al. 2013)".into(),
        }
    }

    /// Reads a card and checks that it describes a network this crate can run.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| DetectorError::Io {
            path: path.to_owned(),
            source,
        })?;
        let card: ModelCard = serde_json::from_str(&text).map_err(|error| DetectorError::Card {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        let problem = if (card.input.width, card.input.height) != (INPUT_WIDTH, INPUT_HEIGHT) {
            Some(format!(
                "input {}×{}, this build runs {INPUT_WIDTH}×{INPUT_HEIGHT}",
                card.input.width, card.input.height
            ))
        } else if card.classes.len() != mapfix_map::GTSRB_NAMES.len() {
            Some(format!("{} classes, expected 43", card.classes.len()))
        } else if ![card.thresholds.sign_score, card.thresholds.lane_score]
            .iter()
            .chain(&card.thresholds.sign_candidate_score)
            .all(|t| (0.0..=1.0).contains(t))
        {
            Some(format!(
                "thresholds {:?} are not scores in 0‥1",
                card.thresholds
            ))
        } else {
            None
        };
        match problem {
            Some(reason) => Err(DetectorError::Card {
                path: path.to_owned(),
                reason,
            }),
            None => Ok(card),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("the card is plain data");
        std::fs::write(path, text + "\n").map_err(|error| DetectorError::Write {
            path: path.to_owned(),
            reason: error.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_round_trips_and_bad_cards_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("detector.json");
        let card = ModelCard::new(Thresholds {
            sign_score: 0.4,
            lane_score: 0.6,
            sign_candidate_score: Some(0.2),
        });
        card.save(&path).unwrap();
        assert_eq!(ModelCard::load(&path).unwrap(), card);
        assert_eq!(card.classes[14], "stop");

        let mut wrong = card.clone();
        wrong.input.width = 320;
        wrong.save(&path).unwrap();
        let message = ModelCard::load(&path).unwrap_err().to_string();
        assert!(
            message.contains("detector.json") && message.contains("320"),
            "{message}"
        );

        std::fs::write(&path, "{\"model\": 3}").unwrap();
        let message = ModelCard::load(&path).unwrap_err().to_string();
        assert!(message.contains("bad model card"), "{message}");
    }
}
