//! How good the detector is: sign and lane-line figures over a labelled image set.
//!
//! Feed [`Evaluation::add`] one image at a time (its labels as [`crate::data`] reads them,
//! its size and the detector's output for it), then read [`Evaluation::finish`]. All
//! figures use the image's own pixels unless their name says "1280": those are scaled to a
//! 1280-pixel-wide image, so sets rendered at 640×360 and dashcam frames at 1280×720 are
//! judged alike.
//!
//! # Signs
//! - **Don't-care labels.** A labelled sign shorter than [`SignRules::min_height_1280`]
//!   (scaled to 1280 wide; 20 px by default, the smallest sign the detector must find) or
//!   less visible than [`SignRules::min_visible`] (by default [`MIN_VISIBLE`], the share
//!   below which training does not ask for a sign either), or whose centre lies off the
//!   picture (a sign cut by the frame's edge: the detector reports centres on the picture
//!   only, and an off-picture centre gives the solver no bearing), is neither required nor
//!   forbidden: a detection on it is ignored, and missing it is no miss. Their number is
//!   reported.
//! - **Matching** (per image, as in PASCAL VOC): detections in falling score order; each
//!   takes the not yet taken label *of its class* with the highest IoU, which must be
//!   ≥ 0.5 (a true positive). Otherwise, if it overlaps a don't-care label by IoU ≥ 0.5, it
//!   is ignored; otherwise it is a false positive (a wrong class, a box shifted below IoU
//!   0.5, a duplicate). A label no detection took is a miss.
//! - **Precision / recall** count detections with score ≥ the operating threshold
//!   ([`SignRules::min_score`]). **AP@0.5** is the area under the precision–recall curve of
//!   all detections (all-point interpolation, VOC 2010 onwards), over all classes together:
//!   one curve, a match needing the right class. `recall_at_precision` gives the highest
//!   recall on that curve whose precision reaches the asked value.
//! - **Class accuracy** and **centre error** judge localisation apart from classification:
//!   detections at or above the threshold are matched to required labels as above but
//!   *ignoring class*; class accuracy is the share of those pairs with the right class,
//!   and the centre error is the distance between the detected and labelled centre (the
//!   label's `center`, the projected map position the solver uses; GTSDB labels have only
//!   boxes, so there it is the box centre).
//!
//! # Lane lines
//! Lane metrics exist only for sets with lane labels (simulator sets; GTSDB has none).
//! - **Accuracy**: the share of label points (as the labels give them; the simulator puts
//!   one every 2 m along the line, up to 80 m ahead) lying within 20 px, scaled to a
//!   1280-wide image, of the detected polyline of the same slot (distance to the nearest
//!   segment, so a steep line is not penalised for its slope as a purely horizontal
//!   distance would be; TuSimple's angle-corrected threshold in effect). Points of a slot
//!   the detector did not report count as wrong. Label points outside the image are skipped.
//! - **Row accuracy**: the same test at the label lines' crossings of every 10th row of
//!   the image scaled to 1280 wide (TuSimple's sampling). Label points crowd towards the
//!   horizon, where every line is near every other, so accuracy on them is lenient; rows
//!   weigh the near road, where a line's position matters most, as much as the far.
//! - **F1 per slot**: per image and slot, the detection is a true positive when the slot is
//!   labelled and at least 85 % of its label points are accurate (TuSimple's lane
//!   criterion); a detected slot that is not a true positive is a false positive, a
//!   labelled slot that is not one is a miss. F1 = 2·TP / (2·TP + FP + FN); the overall F1
//!   sums the counts of the four slots. Several label lines of one slot in an image (a line
//!   that changes id on the way) count as one lane.

use crate::data::{LaneLabel, SignLabel, MIN_VISIBLE};
use crate::detections::{Detections, Lane, LaneSlot};
use crate::sign_head::box_iou;
use serde::Serialize;

/// The image width lane and "1280" figures are scaled to.
pub const REFERENCE_WIDTH: f32 = 1280.0;
/// Lane points within this distance (pixels at [`REFERENCE_WIDTH`]) are accurate.
pub const LANE_TOLERANCE_1280: f32 = 20.0;
/// Rows (at [`REFERENCE_WIDTH`]) between the samples of row accuracy.
pub const LANE_ROW_SPACING_1280: f32 = 10.0;
/// A detected lane is a true positive when this share of its label points is accurate.
pub const LANE_MATCH_SHARE: f64 = 0.85;
/// Boxes overlapping by at least this IoU match.
pub const MIN_IOU: f32 = 0.5;
/// Where the height bands of [`SignMetrics::by_height`] part (pixels at
/// [`REFERENCE_WIDTH`]): below the first, between them, from the last up.
pub const HEIGHT_BAND_EDGES_1280: [f32; 2] = [40.0, 80.0];

/// Which labels count and which detections are the detector's answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SignRules {
    /// Detections below this score are not part of the answer for precision, recall,
    /// class accuracy and centre error (AP uses them all).
    pub min_score: f32,
    /// Labels shorter than this many pixels, scaled to a 1280-wide image, are don't-care.
    pub min_height_1280: f32,
    /// Labels less visible than this are don't-care.
    pub min_visible: f32,
}

impl Default for SignRules {
    fn default() -> Self {
        Self {
            min_score: 0.5,
            min_height_1280: 20.0,
            min_visible: MIN_VISIBLE,
        }
    }
}

/// Sign figures over a set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignMetrics {
    /// Required labels (not don't-care).
    pub labels: usize,
    /// Don't-care labels (too small, too hidden or centred off the picture).
    pub dont_care: usize,
    /// Detections at or above the operating threshold, excluding those on don't-care labels.
    pub detections: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub misses: usize,
    /// `None` when there is no detection.
    pub precision: Option<f64>,
    /// `None` when there is no label.
    pub recall: Option<f64>,
    pub ap50: Option<f64>,
    /// Highest recall at precision ≥ 0.95 and ≥ 0.85 on the precision–recall curve.
    pub recall_at_precision_95: Option<f64>,
    pub recall_at_precision_85: Option<f64>,
    /// Detection–label pairs matched regardless of class.
    pub localised: usize,
    pub class_accuracy: Option<f64>,
    pub median_center_error_px: Option<f64>,
    pub median_center_error_px_1280: Option<f64>,
    /// The required labels by height (small signs are the hard part): the bands below,
    /// between and above [`HEIGHT_BAND_EDGES_1280`].
    pub by_height: Vec<HeightBand>,
    pub rules: SignRules,
}

/// Recall and classification of the required labels of one height band, at the operating
/// threshold.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HeightBand {
    /// Label heights from this (inclusive) …
    pub from_px_1280: f32,
    /// … to this (exclusive; `None`: no upper end), pixels at [`REFERENCE_WIDTH`].
    pub to_px_1280: Option<f32>,
    pub labels: usize,
    /// Labels found with their class (true positives).
    pub true_positives: usize,
    /// Labels found regardless of class, and of those how many with the right class.
    pub localised: usize,
    pub right_class: usize,
}

impl HeightBand {
    pub fn recall(&self) -> Option<f64> {
        ratio(self.true_positives, self.labels)
    }

    pub fn class_accuracy(&self) -> Option<f64> {
        ratio(self.right_class, self.localised)
    }
}

/// F1 counts of one lane slot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlotMetrics {
    pub slot: LaneSlot,
    pub true_positives: usize,
    pub false_positives: usize,
    pub misses: usize,
    pub f1: Option<f64>,
}

/// Lane figures over a set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaneMetrics {
    /// Label points inside their images.
    pub points: usize,
    pub accurate_points: usize,
    pub accuracy: Option<f64>,
    /// Row crossings of the label lines inside their images.
    pub rows: usize,
    pub accurate_rows: usize,
    pub row_accuracy: Option<f64>,
    pub f1: Option<f64>,
    pub slots: Vec<SlotMetrics>,
}

/// All figures over a set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub images: usize,
    pub signs: SignMetrics,
    /// `None` when no image had lane labels.
    pub lanes: Option<LaneMetrics>,
}

/// What became of one detection in the class-aware matching.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    TruePositive,
    FalsePositive,
    Ignored,
}

/// Counts gathered image by image.
#[derive(Debug, Clone, Default)]
struct LaneCounts {
    points: usize,
    accurate: usize,
    rows: usize,
    accurate_rows: usize,
    /// Per slot in [`LaneSlot::ALL`] order: (true positives, false positives, misses).
    slots: [(usize, usize, usize); 4],
}

/// Accumulates the figures of a labelled set.
#[derive(Debug, Clone)]
pub struct Evaluation {
    rules: SignRules,
    images: usize,
    labels: usize,
    dont_care: usize,
    /// Every detection's score and class-aware outcome, over all images.
    scored: Vec<(f32, Outcome)>,
    localised: usize,
    right_class: usize,
    center_errors: Vec<f64>,
    center_errors_1280: Vec<f64>,
    by_height: Vec<HeightBand>,
    lanes: Option<LaneCounts>,
}

impl Evaluation {
    pub fn new(rules: SignRules) -> Self {
        Self {
            rules,
            images: 0,
            labels: 0,
            dont_care: 0,
            scored: Vec::new(),
            localised: 0,
            right_class: 0,
            center_errors: Vec::new(),
            center_errors_1280: Vec::new(),
            by_height: height_bands(rules.min_height_1280),
            lanes: None,
        }
    }

    /// The height band of a label `height_1280` pixels tall (at [`REFERENCE_WIDTH`]).
    fn band(&mut self, height_1280: f32) -> &mut HeightBand {
        let index = HEIGHT_BAND_EDGES_1280
            .iter()
            .filter(|&&edge| height_1280 >= edge.max(self.rules.min_height_1280))
            .count();
        &mut self.by_height[index]
    }

    /// Adds one image: its labels (`lanes` is `None` where the set labels no lane lines),
    /// its size `[width, height]` and what the detector found in it.
    pub fn add(
        &mut self,
        signs: &[SignLabel],
        lanes: Option<&[LaneLabel]>,
        size: [u32; 2],
        detections: &Detections,
    ) {
        self.images += 1;
        let to_1280 = REFERENCE_WIDTH / size[0].max(1) as f32;
        let required: Vec<bool> = signs
            .iter()
            .map(|sign| {
                let height = (sign.bbox[3] - sign.bbox[1]) * to_1280;
                let [u, v] = sign.center;
                let on_picture =
                    (0.0..size[0] as f32).contains(&u) && (0.0..size[1] as f32).contains(&v);
                height >= self.rules.min_height_1280
                    && sign.visible >= self.rules.min_visible
                    && on_picture
            })
            .collect();
        let height_1280 = |t: usize| (signs[t].bbox[3] - signs[t].bbox[1]) * to_1280;
        for t in (0..signs.len()).filter(|&t| required[t]) {
            self.band(height_1280(t)).labels += 1;
        }
        let required_count = required.iter().filter(|&&r| r).count();
        self.labels += required_count;
        self.dont_care += signs.len() - required_count;

        let mut order: Vec<usize> = (0..detections.signs.len()).collect();
        order.sort_by(|&a, &b| {
            detections.signs[b]
                .score
                .total_cmp(&detections.signs[a].score)
        });

        // Class-aware matching over every detection, for precision, recall and AP.
        let mut taken = vec![false; signs.len()];
        for &d in &order {
            let detection = &detections.signs[d];
            let same_class = |t: usize| signs[t].class == detection.class;
            let outcome = match best_overlap(signs, &detection.bbox, |t| {
                required[t] && !taken[t] && same_class(t)
            }) {
                Some(t) => {
                    taken[t] = true;
                    if detection.score >= self.rules.min_score {
                        self.band(height_1280(t)).true_positives += 1;
                    }
                    Outcome::TruePositive
                }
                None if best_overlap(signs, &detection.bbox, |t| !required[t]).is_some() => {
                    Outcome::Ignored
                }
                None => Outcome::FalsePositive,
            };
            self.scored.push((detection.score, outcome));
        }

        // Class-agnostic matching of the answer, for class accuracy and centre error.
        let mut taken = vec![false; signs.len()];
        for &d in &order {
            let detection = &detections.signs[d];
            if detection.score < self.rules.min_score {
                break;
            }
            if let Some(t) = best_overlap(signs, &detection.bbox, |t| required[t] && !taken[t]) {
                taken[t] = true;
                let label = &signs[t];
                let right_class = usize::from(label.class == detection.class);
                self.localised += 1;
                self.right_class += right_class;
                let band = self.band(height_1280(t));
                band.localised += 1;
                band.right_class += right_class;
                let error = f64::from(distance(detection.center, label.center));
                self.center_errors.push(error);
                self.center_errors_1280.push(error * f64::from(to_1280));
            }
        }

        if let Some(lanes) = lanes {
            let counts = self.lanes.get_or_insert_with(LaneCounts::default);
            add_lanes(counts, size, lanes, &detections.lanes, to_1280);
        }
    }

    /// The figures over every image added.
    pub fn finish(&self) -> Metrics {
        let answer = self
            .scored
            .iter()
            .filter(|(score, _)| *score >= self.rules.min_score);
        let (mut true_positives, mut false_positives) = (0, 0);
        for (_, outcome) in answer {
            match outcome {
                Outcome::TruePositive => true_positives += 1,
                Outcome::FalsePositive => false_positives += 1,
                Outcome::Ignored => {}
            }
        }
        let curve = precision_recall_curve(&self.scored, self.labels);
        let detections = true_positives + false_positives;
        let signs = SignMetrics {
            labels: self.labels,
            dont_care: self.dont_care,
            detections,
            true_positives,
            false_positives,
            misses: self.labels - true_positives,
            precision: ratio(true_positives, detections),
            recall: ratio(true_positives, self.labels),
            ap50: (self.labels > 0).then(|| average_precision(&curve)),
            recall_at_precision_95: (self.labels > 0).then(|| recall_at_precision(&curve, 0.95)),
            recall_at_precision_85: (self.labels > 0).then(|| recall_at_precision(&curve, 0.85)),
            localised: self.localised,
            class_accuracy: ratio(self.right_class, self.localised),
            median_center_error_px: median(&self.center_errors),
            median_center_error_px_1280: median(&self.center_errors_1280),
            by_height: self.by_height.clone(),
            rules: self.rules,
        };
        Metrics {
            images: self.images,
            signs,
            lanes: self.lanes.as_ref().map(lane_metrics),
        }
    }
}

/// Empty bands from `min_height_1280` up, parted at [`HEIGHT_BAND_EDGES_1280`].
fn height_bands(min_height_1280: f32) -> Vec<HeightBand> {
    let [low, high] = HEIGHT_BAND_EDGES_1280.map(|edge| edge.max(min_height_1280));
    [
        (min_height_1280, Some(low)),
        (low, Some(high)),
        (high, None),
    ]
    .into_iter()
    .map(|(from_px_1280, to_px_1280)| HeightBand {
        from_px_1280,
        to_px_1280,
        ..HeightBand::default()
    })
    .collect()
}

/// The label passing `eligible` that overlaps `bbox` most, if by IoU ≥ [`MIN_IOU`].
fn best_overlap(
    labels: &[SignLabel],
    bbox: &[f32; 4],
    eligible: impl Fn(usize) -> bool,
) -> Option<usize> {
    labels
        .iter()
        .enumerate()
        .filter(|&(index, _)| eligible(index))
        .map(|(index, label)| (index, box_iou(&label.bbox, bbox)))
        .filter(|&(_, overlap)| overlap >= MIN_IOU)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(index, _)| index)
}

/// (recall, precision) after each detection in falling score order, ignored ones skipped.
fn precision_recall_curve(scored: &[(f32, Outcome)], labels: usize) -> Vec<(f64, f64)> {
    let mut ranked: Vec<&(f32, Outcome)> = scored
        .iter()
        .filter(|(_, outcome)| *outcome != Outcome::Ignored)
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut true_positives, mut seen) = (0usize, 0usize);
    ranked
        .into_iter()
        .map(|(_, outcome)| {
            seen += 1;
            true_positives += usize::from(*outcome == Outcome::TruePositive);
            (
                true_positives as f64 / labels.max(1) as f64,
                true_positives as f64 / seen as f64,
            )
        })
        .collect()
}

/// Area under the curve with precision made monotone from the right (all-point
/// interpolation).
fn average_precision(curve: &[(f64, f64)]) -> f64 {
    let mut area = 0.0;
    let mut previous_recall = 0.0;
    for (index, &(recall, _)) in curve.iter().enumerate() {
        if recall > previous_recall {
            let best_after = curve[index..].iter().map(|&(_, p)| p).fold(0.0, f64::max);
            area += (recall - previous_recall) * best_after;
            previous_recall = recall;
        }
    }
    area
}

/// The highest recall reached at a point of the curve whose precision is ≥ `precision`.
fn recall_at_precision(curve: &[(f64, f64)], precision: f64) -> f64 {
    curve
        .iter()
        .filter(|&&(_, p)| p >= precision)
        .map(|&(r, _)| r)
        .fold(0.0, f64::max)
}

fn add_lanes(
    counts: &mut LaneCounts,
    size: [u32; 2],
    labels: &[LaneLabel],
    detected: &[Lane],
    to_1280: f32,
) {
    let tolerance = LANE_TOLERANCE_1280 / to_1280;
    let inside = |p: &[f32; 2]| {
        (0.0..=size[0] as f32).contains(&p[0]) && (0.0..=size[1] as f32).contains(&p[1])
    };
    for slot in LaneSlot::ALL {
        let points: Vec<[f32; 2]> = labels
            .iter()
            .filter(|lane| lane.slot == slot)
            .flat_map(|lane| lane.points.iter().copied())
            .filter(inside)
            .collect();
        let lines: Vec<&[[f32; 2]]> = detected
            .iter()
            .filter(|lane| lane.slot == slot)
            .map(|lane| lane.points.as_slice())
            .collect();
        let near = |point: &&[f32; 2]| {
            lines
                .iter()
                .any(|line| distance_to_polyline(**point, line) <= tolerance)
        };
        let accurate = points.iter().filter(near).count();
        let rows: Vec<[f32; 2]> = labels
            .iter()
            .filter(|lane| lane.slot == slot)
            .flat_map(|lane| {
                row_crossings(
                    &lane.points,
                    LANE_ROW_SPACING_1280 / to_1280,
                    size[1] as f32,
                )
            })
            .filter(inside)
            .collect();
        counts.points += points.len();
        counts.accurate += accurate;
        counts.rows += rows.len();
        counts.accurate_rows += rows.iter().filter(near).count();
        let labelled = !points.is_empty();
        let found = !lines.is_empty();
        let matched =
            labelled && found && accurate as f64 >= LANE_MATCH_SHARE * points.len() as f64;
        let (true_positives, false_positives, misses) = &mut counts.slots[slot.index()];
        *true_positives += usize::from(matched);
        *false_positives += usize::from(found && !matched);
        *misses += usize::from(labelled && !matched);
    }
}

fn lane_metrics(counts: &LaneCounts) -> LaneMetrics {
    let f1 = |tp: usize, fp: usize, fn_: usize| ratio(2 * tp, 2 * tp + fp + fn_);
    let slots: Vec<SlotMetrics> = LaneSlot::ALL
        .iter()
        .zip(counts.slots)
        .map(|(&slot, (tp, fp, misses))| SlotMetrics {
            slot,
            true_positives: tp,
            false_positives: fp,
            misses,
            f1: f1(tp, fp, misses),
        })
        .collect();
    let total = |pick: fn(&SlotMetrics) -> usize| slots.iter().map(pick).sum::<usize>();
    LaneMetrics {
        points: counts.points,
        accurate_points: counts.accurate,
        accuracy: ratio(counts.accurate, counts.points),
        rows: counts.rows,
        accurate_rows: counts.accurate_rows,
        row_accuracy: ratio(counts.accurate_rows, counts.rows),
        f1: f1(
            total(|s| s.true_positives),
            total(|s| s.false_positives),
            total(|s| s.misses),
        ),
        slots,
    }
}

/// Where a polyline crosses the rows v = k · `spacing` (k whole) from 0 to `height`, near
/// to far as the polyline runs; a row it crosses twice (a bend) counts twice.
fn row_crossings(points: &[[f32; 2]], spacing: f32, height: f32) -> Vec<[f32; 2]> {
    let mut crossings = Vec::new();
    for (index, segment) in points.windows(2).enumerate() {
        let ([u0, v0], [u1, v1]) = (segment[0], segment[1]);
        if v0 == v1 || !(v0.is_finite() && v1.is_finite()) {
            continue;
        }
        let (low, high) = (v0.min(v1).max(0.0), v0.max(v1).min(height));
        // A row through a shared end point belongs to the segment that ends there.
        let first = (low / spacing).ceil() as i64;
        let last = (high / spacing).floor() as i64;
        let mut rows: Vec<f32> = (first..=last).map(|k| k as f32 * spacing).collect();
        if v1 < v0 {
            rows.reverse();
        }
        for v in rows {
            if index > 0 && v == v0 {
                continue;
            }
            crossings.push([u0 + (u1 - u0) * (v - v0) / (v1 - v0), v]);
        }
    }
    crossings
}

/// Distance from a point to the nearest segment of a polyline (to the point itself when
/// the polyline has one point; infinite when it has none).
pub fn distance_to_polyline(point: [f32; 2], line: &[[f32; 2]]) -> f32 {
    match line {
        [] => f32::INFINITY,
        [single] => distance(point, *single),
        _ => line
            .windows(2)
            .map(|segment| distance_to_segment(point, segment[0], segment[1]))
            .fold(f32::INFINITY, f32::min),
    }
}

fn distance_to_segment(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let length_squared = dx * dx + dy * dy;
    let t = if length_squared > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length_squared).clamp(0.0, 1.0)
    } else {
        0.0
    };
    distance(p, [a[0] + t * dx, a[1] + t * dy])
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some(0.5 * (sorted[n / 2 - 1] + sorted[n / 2])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::SignDetection;
    use proptest::prelude::*;

    /// One image's labels and size.
    #[derive(Clone)]
    struct ImageTruth {
        width: u32,
        height: u32,
        signs: Vec<SignLabel>,
        lanes: Option<Vec<LaneLabel>>,
    }

    fn label(class: u8, bbox: [f32; 4]) -> SignLabel {
        SignLabel {
            class,
            bbox,
            center: [0.5 * (bbox[0] + bbox[2]), 0.5 * (bbox[1] + bbox[3])],
            visible: 1.0,
        }
    }

    fn found(class: u8, score: f32, bbox: [f32; 4]) -> SignDetection {
        SignDetection {
            class,
            score,
            bbox,
            center: [0.5 * (bbox[0] + bbox[2]), 0.5 * (bbox[1] + bbox[3])],
        }
    }

    fn image(signs: Vec<SignLabel>) -> ImageTruth {
        ImageTruth {
            width: 1280,
            height: 720,
            signs,
            lanes: None,
        }
    }

    fn detections(signs: Vec<SignDetection>) -> Detections {
        Detections {
            signs,
            lanes: Vec::new(),
        }
    }

    fn evaluate(pairs: &[(ImageTruth, Detections)]) -> Metrics {
        let mut evaluation = Evaluation::new(SignRules::default());
        for (truth, found) in pairs {
            evaluation.add(
                &truth.signs,
                truth.lanes.as_deref(),
                [truth.width, truth.height],
                found,
            );
        }
        evaluation.finish()
    }

    const A: [f32; 4] = [100.0, 100.0, 140.0, 140.0];
    const B: [f32; 4] = [600.0, 300.0, 630.0, 330.0];

    #[test]
    fn perfect_detections_score_one_everywhere() {
        let truth = image(vec![label(14, A), label(3, B)]);
        let answer = detections(vec![found(14, 0.9, A), found(3, 0.8, B)]);
        let signs = evaluate(&[(truth, answer)]).signs;
        assert_eq!(signs.labels, 2);
        assert_eq!(signs.precision, Some(1.0));
        assert_eq!(signs.recall, Some(1.0));
        assert_eq!(signs.ap50, Some(1.0));
        assert_eq!(signs.class_accuracy, Some(1.0));
        assert_eq!(signs.median_center_error_px, Some(0.0));
        assert_eq!(signs.recall_at_precision_95, Some(1.0));
    }

    #[test]
    fn a_box_shifted_below_iou_half_is_a_miss_and_a_false_positive() {
        // Shifted by 15 px of 40: IoU = 25·40 / (2·1600 − 25·40) = 0.4545.
        let shifted = [115.0, 100.0, 155.0, 140.0];
        assert!(box_iou(&A, &shifted) < MIN_IOU);
        let signs = evaluate(&[(
            image(vec![label(14, A)]),
            detections(vec![found(14, 0.9, shifted)]),
        )])
        .signs;
        assert_eq!(
            (signs.true_positives, signs.false_positives, signs.misses),
            (0, 1, 1)
        );
        assert_eq!(signs.precision, Some(0.0));
        assert_eq!(signs.recall, Some(0.0));
        assert_eq!(signs.ap50, Some(0.0));
        assert_eq!(signs.localised, 0);
        // Shifted by 5 px the same box is found.
        let near = [105.0, 100.0, 145.0, 140.0];
        let signs = evaluate(&[(
            image(vec![label(14, A)]),
            detections(vec![found(14, 0.9, near)]),
        )])
        .signs;
        assert_eq!(
            (signs.true_positives, signs.false_positives, signs.misses),
            (1, 0, 0)
        );
        assert_eq!(signs.median_center_error_px, Some(5.0));
    }

    #[test]
    fn a_wrong_class_is_no_true_positive_but_is_localised() {
        let signs = evaluate(&[(
            image(vec![label(14, A)]),
            detections(vec![found(13, 0.9, A)]),
        )])
        .signs;
        assert_eq!(
            (signs.true_positives, signs.false_positives, signs.misses),
            (0, 1, 1)
        );
        assert_eq!(signs.localised, 1);
        assert_eq!(signs.class_accuracy, Some(0.0));
        assert_eq!(signs.median_center_error_px, Some(0.0));
    }

    #[test]
    fn a_duplicate_detection_is_a_false_positive() {
        let truth = image(vec![label(14, A)]);
        let answer = detections(vec![found(14, 0.9, A), found(14, 0.8, A)]);
        let signs = evaluate(&[(truth, answer)]).signs;
        assert_eq!(
            (signs.true_positives, signs.false_positives, signs.misses),
            (1, 1, 0)
        );
        assert_eq!(signs.precision, Some(0.5));
        // The duplicate ranks below the hit, so AP stays 1.
        assert_eq!(signs.ap50, Some(1.0));
    }

    #[test]
    fn average_precision_follows_the_ranking() {
        // Hit (0.9), false alarm (0.8), hit (0.7) over two labels:
        // recall 0.5 at precision 1, then recall 1 at precision 2/3.
        let truth = image(vec![label(14, A), label(3, B)]);
        let answer = detections(vec![
            found(14, 0.9, A),
            found(1, 0.8, [900.0, 100.0, 940.0, 140.0]),
            found(3, 0.7, B),
        ]);
        let signs = evaluate(&[(truth, answer)]).signs;
        let expected = 0.5 * 1.0 + 0.5 * (2.0 / 3.0);
        assert!((signs.ap50.unwrap() - expected).abs() < 1e-12);
        assert_eq!(signs.recall_at_precision_95, Some(0.5));
        assert_eq!(signs.recall_at_precision_85, Some(0.5));
        assert!((signs.precision.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn detections_below_the_operating_threshold_count_only_for_ap() {
        let truth = image(vec![label(14, A)]);
        let signs = evaluate(&[(truth, detections(vec![found(14, 0.3, A)]))]).signs;
        assert_eq!(signs.detections, 0);
        assert_eq!(signs.recall, Some(0.0));
        assert_eq!(signs.precision, None);
        assert_eq!(signs.ap50, Some(1.0));
        assert_eq!(signs.localised, 0);
    }

    #[test]
    fn small_and_hidden_signs_are_dont_care() {
        // 18 px tall in a 1280-wide image, and 9 px tall in a 640-wide one: both under 20.
        let small = [200.0, 200.0, 218.0, 218.0];
        let mut hidden = label(5, B);
        hidden.visible = 0.2;
        let truth = image(vec![label(14, small), hidden]);
        let signs = evaluate(&[(truth.clone(), detections(vec![]))]).signs;
        assert_eq!((signs.labels, signs.dont_care, signs.misses), (0, 2, 0));
        // Found anyway: neither true nor false positives.
        let signs = evaluate(&[(
            truth,
            detections(vec![found(14, 0.9, small), found(5, 0.9, B)]),
        )])
        .signs;
        assert_eq!((signs.detections, signs.false_positives), (0, 0));
        let mut narrow = image(vec![label(14, [100.0, 100.0, 109.0, 109.0])]);
        narrow.width = 640;
        assert_eq!(evaluate(&[(narrow, detections(vec![]))]).signs.dont_care, 1);
        // 22 px tall at 1280 wide is required.
        let needed = image(vec![label(14, [100.0, 100.0, 111.0, 111.0])]);
        let mut needed_small = needed.clone();
        needed_small.width = 640;
        assert_eq!(
            evaluate(&[(needed_small, detections(vec![]))]).signs.misses,
            1
        );
        // Cut by the right edge: a 2 px sliver of a sign centred 31 px off the picture.
        let mut cut = label(27, [1278.0, 36.0, 1280.0, 109.0]);
        cut.center = [1311.0, 68.0];
        let signs = evaluate(&[(image(vec![cut]), detections(vec![]))]).signs;
        assert_eq!((signs.labels, signs.dont_care, signs.misses), (0, 1, 0));
    }

    #[test]
    fn recall_is_broken_down_by_the_signs_height() {
        // 30, 60 and 120 px tall in a 1280-wide image: one sign per band.
        let small = label(1, [0.0, 0.0, 30.0, 30.0]);
        let middle = label(2, [100.0, 0.0, 160.0, 60.0]);
        let large = label(3, [200.0, 0.0, 320.0, 120.0]);
        let truth = image(vec![small.clone(), middle.clone(), large.clone()]);
        // The small one missed, the middle one found with a wrong class, the large one found.
        let answer = detections(vec![found(9, 0.9, middle.bbox), found(3, 0.9, large.bbox)]);
        let bands = evaluate(&[(truth, answer)]).signs.by_height;
        let summary: Vec<_> = bands
            .iter()
            .map(|b| {
                let counts = (b.labels, b.true_positives, b.localised, b.right_class);
                (b.from_px_1280, b.to_px_1280, counts)
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (20.0, Some(40.0), (1, 0, 0, 0)),
                (40.0, Some(80.0), (1, 0, 1, 0)),
                (80.0, None, (1, 1, 1, 1)),
            ]
        );
    }

    #[test]
    fn centre_error_is_the_labelled_centre_not_the_box_centre() {
        // A partly hidden sign: its projected centre sits off its visible box.
        let mut truth = label(14, A);
        truth.center = [110.0, 120.0];
        let mut answer = found(14, 0.9, A);
        answer.center = [113.0, 124.0];
        let mut set = image(vec![truth]);
        set.width = 640;
        let signs = evaluate(&[(set, detections(vec![answer]))]).signs;
        assert_eq!(signs.median_center_error_px, Some(5.0));
        assert_eq!(signs.median_center_error_px_1280, Some(10.0));
    }

    fn lane_image(width: u32, lanes: Vec<LaneLabel>) -> ImageTruth {
        ImageTruth {
            width,
            height: width * 9 / 16,
            signs: Vec::new(),
            lanes: Some(lanes),
        }
    }

    /// A straight line from the bottom of a 1280×720 image, scaled to `width`.
    fn line(width: u32, offset_1280: f32) -> Vec<[f32; 2]> {
        let scale = width as f32 / REFERENCE_WIDTH;
        (0..10)
            .map(|i| {
                let v = 700.0 - 40.0 * i as f32;
                [(300.0 + 0.5 * (700.0 - v) + offset_1280) * scale, v * scale]
            })
            .collect()
    }

    fn lanes(found: Vec<(LaneSlot, Vec<[f32; 2]>)>) -> Detections {
        Detections {
            signs: Vec::new(),
            lanes: found
                .into_iter()
                .map(|(slot, points)| Lane {
                    slot,
                    score: 0.9,
                    points,
                })
                .collect(),
        }
    }

    #[test]
    fn lane_points_25_px_off_at_1280_wide_are_not_accurate() {
        for width in [1280, 640] {
            let truth = lane_image(
                width,
                vec![LaneLabel {
                    slot: LaneSlot::EgoLeft,
                    points: line(width, 0.0),
                }],
            );
            // Moved sideways along rows; the line's slope makes the true distance
            // 25·cos(atan 0.5) = 22.4 px, still over 20.
            let far = evaluate(&[(
                truth.clone(),
                lanes(vec![(LaneSlot::EgoLeft, line(width, 25.0))]),
            )]);
            let far = far.lanes.unwrap();
            assert_eq!((far.points, far.accurate_points), (10, 0));
            assert_eq!(far.accuracy, Some(0.0));
            assert_eq!(far.row_accuracy, Some(0.0));
            // Rows 340, 350 … 700 of the 1280×720 image (scaled alike at 640 wide).
            assert_eq!(far.rows, 37);
            assert_eq!(far.f1, Some(0.0));
            let near = evaluate(&[(truth, lanes(vec![(LaneSlot::EgoLeft, line(width, 15.0))]))]);
            let near = near.lanes.unwrap();
            assert_eq!(near.accuracy, Some(1.0));
            assert_eq!(near.row_accuracy, Some(1.0));
            assert_eq!(near.f1, Some(1.0));
        }
    }

    #[test]
    fn lanes_in_the_wrong_slot_are_a_miss_and_a_false_positive() {
        let truth = lane_image(
            1280,
            vec![LaneLabel {
                slot: LaneSlot::EgoLeft,
                points: line(1280, 0.0),
            }],
        );
        let metrics = evaluate(&[(truth, lanes(vec![(LaneSlot::EgoRight, line(1280, 0.0))]))]);
        let lanes = metrics.lanes.unwrap();
        assert_eq!(lanes.accuracy, Some(0.0));
        let ego_left = &lanes.slots[LaneSlot::EgoLeft.index()];
        let ego_right = &lanes.slots[LaneSlot::EgoRight.index()];
        assert_eq!((ego_left.true_positives, ego_left.misses), (0, 1));
        assert_eq!(
            (ego_right.true_positives, ego_right.false_positives),
            (0, 1)
        );
        assert_eq!(lanes.f1, Some(0.0));
        assert_eq!(lanes.slots[LaneSlot::LeftLeft.index()].f1, None);
    }

    #[test]
    fn a_lane_half_right_is_accurate_on_half_its_points_but_no_match() {
        let truth = lane_image(
            1280,
            vec![LaneLabel {
                slot: LaneSlot::EgoRight,
                points: line(1280, 0.0),
            }],
        );
        // Only the near half detected: the far points lie beyond its end.
        let half = line(1280, 0.0)[..5].to_vec();
        let lanes = evaluate(&[(truth, lanes(vec![(LaneSlot::EgoRight, half)]))])
            .lanes
            .unwrap();
        // The sixth point is 40 px of row beyond the end: 44.7 px away.
        assert_eq!(lanes.accurate_points, 5);
        assert_eq!(lanes.f1, Some(0.0));
    }

    #[test]
    fn row_accuracy_weighs_the_near_road_that_crowded_far_points_hide() {
        // Four label points on the near road (v 700 → 400) and twelve crowded near the
        // horizon (v 400 → 390); the detection follows only the far end.
        let mut points: Vec<[f32; 2]> = (0..4).map(|i| [300.0, 700.0 - 100.0 * i as f32]).collect();
        points.extend((1..=12).map(|i| [300.0, 400.0 - 10.0 * i as f32 / 12.0]));
        let truth = lane_image(
            1280,
            vec![LaneLabel {
                slot: LaneSlot::EgoLeft,
                points,
            }],
        );
        let far_only = vec![[300.0, 420.0], [300.0, 380.0]];
        let lanes = evaluate(&[(truth, lanes(vec![(LaneSlot::EgoLeft, far_only)]))])
            .lanes
            .unwrap();
        // Label points: 12 crowded + the one at v = 400 of 16.
        assert_eq!((lanes.accurate_points, lanes.points), (13, 16));
        // Rows 390 … 700: only 390 … 440 lie within 20 px of the detection (ending at 420).
        assert_eq!((lanes.accurate_rows, lanes.rows), (6, 32));
    }

    #[test]
    fn sets_without_lane_labels_have_no_lane_metrics() {
        let metrics = evaluate(&[(
            image(vec![]),
            lanes(vec![(LaneSlot::EgoLeft, line(1280, 0.0))]),
        )]);
        assert_eq!(metrics.lanes, None);
        assert_eq!(metrics.images, 1);
    }

    proptest! {
        #[test]
        fn a_point_on_a_polyline_is_at_distance_zero(
            points in proptest::collection::vec((0f32..1000.0, 0f32..1000.0), 2..8),
            segment in 0usize..7, t in 0f32..1.0,
        ) {
            let line: Vec<[f32; 2]> = points.iter().map(|&(u, v)| [u, v]).collect();
            let i = segment % (line.len() - 1);
            let (a, b) = (line[i], line[i + 1]);
            let on = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
            prop_assert!(distance_to_polyline(on, &line) < 1e-2);
        }
    }
}
