//! Scoring a detector on a labelled set, and choosing the sign score threshold the card
//! records from the validation set's precision–recall trade-off.

use crate::data::DataSet;
use crate::detections::Detections;
use crate::detector::Detector;
use crate::error::Result;
use crate::image_input::read_rgb;
use crate::metrics::{Evaluation, Metrics, SignRules};
use rayon::prelude::*;

/// Sign thresholds tried when choosing one: 0.10, 0.15, … 0.90.
const THRESHOLD_GRID: std::ops::RangeInclusive<u32> = 2..=18;
const THRESHOLD_STEP: f32 = 0.05;

/// What the detector found in each image of a set, with the image's size.
pub type SetDetections = Vec<([u32; 2], Detections)>;

/// Runs the detector over every image of a set, `batch` at a time; `progress` gets the
/// number of images done.
pub fn detect_set(
    detector: &Detector,
    set: &DataSet,
    batch: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<SetDetections> {
    let mut found = Vec::with_capacity(set.items.len());
    for chunk in set.items.chunks(batch.max(1)) {
        let images = chunk
            .par_iter()
            .map(|item| read_rgb(&item.path))
            .collect::<Result<Vec<_>>>()?;
        let detections = detector.detect_batch(&images)?;
        found.extend(
            images
                .iter()
                .map(|image| [image.width(), image.height()])
                .zip(detections),
        );
        progress(found.len());
    }
    Ok(found)
}

/// The figures of a set's detections under `rules`.
pub fn score(set: &DataSet, found: &SetDetections, rules: SignRules) -> Metrics {
    let mut evaluation = Evaluation::new(rules);
    for (item, (size, detections)) in set.items.iter().zip(found) {
        evaluation.add(&item.signs, item.lanes.as_deref(), *size, detections);
    }
    evaluation.finish()
}

/// The sign threshold with the best F1 (precision and recall weighed alike) on a set
/// whose detections were found at a lower threshold, and the figures there; of equally
/// good thresholds the one nearest 0.5.
pub fn best_sign_threshold(set: &DataSet, found: &SetDetections) -> (f32, Metrics) {
    THRESHOLD_GRID
        .map(|step| {
            let threshold = step as f32 * THRESHOLD_STEP;
            let metrics = score(
                set,
                found,
                SignRules {
                    min_score: threshold,
                    ..SignRules::default()
                },
            );
            (threshold, metrics)
        })
        .max_by(|(ta, a), (tb, b)| {
            f1(a)
                .total_cmp(&f1(b))
                .then((tb - 0.5).abs().total_cmp(&(ta - 0.5).abs()))
        })
        .expect("a non-empty grid")
}

fn f1(metrics: &Metrics) -> f64 {
    let signs = &metrics.signs;
    let denominator = 2 * signs.true_positives + signs.false_positives + signs.misses;
    if denominator == 0 {
        0.0
    } else {
        2.0 * signs.true_positives as f64 / denominator as f64
    }
}
