//! The lane-line head: row-anchor classification in the manner of Ultra-Fast-Lane-Detection
//! (Qin et al. 2020).
//!
//! For each of [`ANCHOR_ROWS`] fixed image rows and each lane slot ([`LaneSlot::ALL`]) the
//! head classifies where the line crosses that row among [`COLUMN_CELLS`] column cells of
//! [`CELL_WIDTH`] input pixels, or "absent"; the sub-cell column is the probability-weighted
//! mean of the cells around the most probable one. A lane comes out as a polyline directly,
//! one point per row it crosses, with no clustering or curve fitting.
//!
//! The column logits are read off a stride-8 feature map, one per feature column, so each
//! cell sees its own image patch; which slot a line is (ego or neighbouring lane) needs wider
//! context, which comes from stride-16 and stride-32 features merged in (a small FPN),
//! a scene vector pooled from stride 32, and learned row and column embeddings (the slot
//! of a line depends on where it is in the image). The "absent" logit of a row is read from
//! that row's features pooled across the width.
//!
//! Geometry (input pixels of the fixed 640×384 network input): anchor row r lies at
//! v = 112 + 4·r + 2 (r < 68, so 114‥382; rows below 360 fall in the padding of a 16:9
//! frame and are absent there); cell c covers u ∈ [8c, 8c + 8) with its centre at 8c + 4.
//! The simulator's lane labels start at v ≥ 118 (the horizon) and reach the bottom edge;
//! their points crowd towards the horizon, so the anchors are 4 px apart everywhere.

use crate::detections::{Lane, LaneSlot};
use crate::efficientnet::{Features, FEATURE_CHANNELS};
use crate::error::{DetectorError, Result};
use crate::layers::{Pointwise, SeparableBlock};
use crate::ops::Activation;
use candle_core::{DType, Module, Tensor, D};
use candle_nn::{init, Linear, VarBuilder};

/// Stride of the feature map the columns are read from.
const STRIDE: usize = 8;
/// Width of one column cell, input pixels.
pub const CELL_WIDTH: f32 = STRIDE as f32;
/// Column cells across the 640-pixel input.
pub const COLUMN_CELLS: usize = 80;
/// Class index of "absent" in the last axis of [`LaneMaps::logits`].
pub const ABSENT: usize = COLUMN_CELLS;
/// Stride-8 feature rows of the 384-row input.
const FEATURE_ROWS: usize = 48;
/// First stride-8 feature row the head looks at (input row 112, above the highest horizon
/// in the training labels, v ≈ 118).
const FIRST_FEATURE_ROW: usize = 14;
/// Feature rows the head looks at.
const HEAD_ROWS: usize = FEATURE_ROWS - FIRST_FEATURE_ROW;
/// Anchor rows per feature row (4 px apart).
const ROWS_PER_FEATURE_ROW: usize = 2;
/// Anchor rows.
pub const ANCHOR_ROWS: usize = HEAD_ROWS * ROWS_PER_FEATURE_ROW;
/// Lane slots.
pub const SLOTS: usize = LaneSlot::ALL.len();
/// Channels of the head's own feature maps.
const CHANNELS: usize = 96;
/// Kernel of the depthwise convolutions that spread context over the stride-8 map.
const CONTEXT_KERNEL: usize = 5;
/// Cells either side of the most probable one that the sub-cell column averages over.
const EXPECTATION_RADIUS: usize = 2;
/// A row counts as crossed when its probability of "absent" is below this.
const PRESENT_BELOW: f32 = 0.5;
/// Weight of the expected-column L1 term (in cells) against the classification term.
pub const POSITION_WEIGHT: f64 = 0.1;

/// The input row (pixels) of anchor row `r`.
pub fn anchor_row(r: usize) -> f32 {
    let row_height = CELL_WIDTH / ROWS_PER_FEATURE_ROW as f32;
    (FIRST_FEATURE_ROW * STRIDE) as f32 + row_height * (r as f32 + 0.5)
}

/// Nearest-neighbour ×2 upsampling by broadcasting, whose backward pass is a plain sum
/// (candle's `upsample_nearest2d` backward runs a grouped convolution, one channel at a
/// time).
fn upsample2(x: &Tensor) -> Result<Tensor> {
    let (batch, channels, h, w) = x.dims4()?;
    Ok(x.reshape((batch, channels, h, 1, w, 1))?
        .broadcast_as((batch, channels, h, 2, w, 2))?
        .reshape((batch, channels, 2 * h, 2 * w))?)
}

/// The lane head's variables and forward pass.
#[derive(Debug, Clone)]
pub struct LaneHead {
    lateral8: Pointwise,
    lateral16: Pointwise,
    lateral32: Pointwise,
    scene: Linear,
    row_embedding: Tensor,
    column_embedding: Tensor,
    context: [SeparableBlock; 2],
    columns: Pointwise,
    absent: Linear,
}

/// The head's output for a batch.
#[derive(Debug, Clone)]
pub struct LaneMaps {
    /// (B, [`ANCHOR_ROWS`], [`SLOTS`], [`COLUMN_CELLS`] + 1) logits: per image, anchor row
    /// and slot, one class per column cell and the last ([`ABSENT`]) for "not crossing".
    pub logits: Tensor,
}

/// One labelled lane line, in input pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneTarget {
    pub slot: LaneSlot,
    /// `[u, v]` from near (bottom) to far.
    pub points: Vec<[f32; 2]>,
}

/// The lane loss of a batch.
#[derive(Debug, Clone)]
pub struct LaneLoss {
    /// classification + [`POSITION_WEIGHT`] · position, a differentiable scalar.
    pub total: Tensor,
    /// Cross-entropy over cells + absent against the soft target (the label's column split
    /// between its two nearest cell centres), mean per (image, row, slot).
    pub classification: f32,
    /// L1 between the expected column (softmax over cells) and the label's, in cells,
    /// mean over the rows a label crosses.
    pub position: f32,
}

fn linear(vb: VarBuilder, inputs: usize, outputs: usize) -> Result<Linear> {
    let weight = vb.get_with_hints((outputs, inputs), "weight", init::DEFAULT_KAIMING_NORMAL)?;
    let bias = vb.get_with_hints(outputs, "bias", init::ZERO)?;
    Ok(Linear::new(weight, Some(bias)))
}

impl LaneHead {
    /// Creates (VarMap-backed builder) or loads (safetensors-backed) the head's variables.
    pub fn load(vb: VarBuilder) -> Result<Self> {
        let [c8, c16, c32] = FEATURE_CHANNELS;
        let kaiming = init::DEFAULT_KAIMING_NORMAL;
        // Small logits at the start: every class about equally likely.
        let small = init::Init::Randn {
            mean: 0.0,
            stdev: 0.01,
        };
        Ok(Self {
            lateral8: Pointwise::load(vb.pp("lateral8"), c8, CHANNELS, kaiming, init::ZERO)?,
            lateral16: Pointwise::load(vb.pp("lateral16"), c16, CHANNELS, kaiming, init::ZERO)?,
            lateral32: Pointwise::load(vb.pp("lateral32"), c32, CHANNELS, kaiming, init::ZERO)?,
            scene: linear(vb.pp("scene"), c32, CHANNELS)?,
            row_embedding: vb.get_with_hints(
                (1, CHANNELS, HEAD_ROWS, 1),
                "row_embedding",
                init::ZERO,
            )?,
            column_embedding: vb.get_with_hints(
                (1, CHANNELS, 1, COLUMN_CELLS),
                "column_embedding",
                init::ZERO,
            )?,
            context: [
                SeparableBlock::load(vb.pp("context.0"), CHANNELS, CONTEXT_KERNEL)?,
                SeparableBlock::load(vb.pp("context.1"), CHANNELS, CONTEXT_KERNEL)?,
            ],
            columns: Pointwise::load(
                vb.pp("columns"),
                CHANNELS,
                SLOTS * ROWS_PER_FEATURE_ROW,
                small,
                init::ZERO,
            )?,
            absent: {
                let vb = vb.pp("absent");
                let outputs = SLOTS * ROWS_PER_FEATURE_ROW;
                let weight = vb.get_with_hints((outputs, 2 * CHANNELS), "weight", small)?;
                Linear::new(
                    weight,
                    Some(vb.get_with_hints(outputs, "bias", init::ZERO)?),
                )
            },
        })
    }

    /// Row-anchor logits for the features of a batch of 640×384 inputs.
    pub fn forward(&self, features: &Features) -> Result<LaneMaps> {
        let (batch, _, h, w) = features.stride8.dims4()?;
        if (h, w) != (FEATURE_ROWS, COLUMN_CELLS) {
            return Err(DetectorError::Input(format!(
                "lane head needs stride-8 features of {FEATURE_ROWS}×{COLUMN_CELLS} \
                 (input 640×384), got {h}×{w}"
            )));
        }
        // Top-down merge, cropped to the rows the anchors cover.
        let coarse = self
            .lateral32
            .forward(&features.stride32, Activation::Identity)?;
        let middle = (upsample2(&coarse)?
            + self
                .lateral16
                .forward(&features.stride16, Activation::Identity)?)?
        .narrow(2, FIRST_FEATURE_ROW / 2, HEAD_ROWS / 2)?;
        let fine = self.lateral8.forward(
            &features.stride8.narrow(2, FIRST_FEATURE_ROW, HEAD_ROWS)?,
            Activation::Identity,
        )?;
        let scene = self
            .scene
            .forward(&features.stride32.mean(D::Minus1)?.mean(D::Minus1)?)?
            .reshape((batch, CHANNELS, 1, 1))?;
        let mut x = (upsample2(&middle)? + fine)?
            .broadcast_add(&scene)?
            .broadcast_add(&self.row_embedding)?
            .broadcast_add(&self.column_embedding)?
            .clamp(0f32, 6f32)?;
        for conv in &self.context {
            x = conv.forward(&x)?;
        }

        // Channel = slot · ROWS_PER_FEATURE_ROW + sub-row; anchor = feature row · 2 + sub-row.
        let shape5 = (batch, SLOTS, ROWS_PER_FEATURE_ROW, HEAD_ROWS, COLUMN_CELLS);
        let columns = self
            .columns
            .forward(&x, Activation::Identity)?
            .reshape(shape5)?
            .permute((0, 3, 2, 1, 4))?
            .reshape((batch, ANCHOR_ROWS, SLOTS, COLUMN_CELLS))?;
        let pooled = Tensor::cat(&[x.mean(D::Minus1)?, x.max(D::Minus1)?], 1)?;
        let absent = self
            .absent
            .forward(&pooled.transpose(1, 2)?)?
            .reshape((batch, HEAD_ROWS, SLOTS, ROWS_PER_FEATURE_ROW))?
            .transpose(2, 3)?
            .reshape((batch, ANCHOR_ROWS, SLOTS, 1))?;
        Ok(LaneMaps {
            logits: Tensor::cat(&[columns, absent], 3)?,
        })
    }
}

/// Where a polyline crosses each anchor row, as a column in cell units (cell c's centre is
/// c), `None` where it does not cross the row inside the image. A line that crosses a row
/// twice (a bend) keeps the nearer crossing.
fn crossings(points: &[[f32; 2]]) -> [Option<f32>; ANCHOR_ROWS] {
    let mut columns = [None; ANCHOR_ROWS];
    for (r, column) in columns.iter_mut().enumerate() {
        let v = anchor_row(r);
        *column = points.windows(2).find_map(|segment| {
            let ([u0, v0], [u1, v1]) = (segment[0], segment[1]);
            let (low, high) = (v0.min(v1), v0.max(v1));
            if v0 == v1 || v < low || v > high {
                return None;
            }
            let u = u0 + (u1 - u0) * (v - v0) / (v1 - v0);
            (0.0..COLUMN_CELLS as f32 * CELL_WIDTH)
                .contains(&u)
                .then(|| (u / CELL_WIDTH - 0.5).clamp(0.0, (COLUMN_CELLS - 1) as f32))
        });
    }
    columns
}

/// The labels of one image per (anchor row, slot): the crossing column in cells, if any.
fn encode(targets: &[LaneTarget]) -> Vec<Option<f32>> {
    let mut encoded = vec![None; ANCHOR_ROWS * SLOTS];
    for target in targets {
        for (r, column) in crossings(&target.points).into_iter().enumerate() {
            if column.is_some() {
                encoded[r * SLOTS + target.slot.index()] = column;
            }
        }
    }
    encoded
}

/// The soft class distribution of one (row, slot): a crossing at column x is split between
/// the cell centres either side of it, so the distribution's mean is exactly x.
fn write_distribution(column: Option<f32>, out: &mut [f32]) {
    match column {
        None => out[ABSENT] = 1.0,
        Some(x) => {
            let left = (x.floor() as usize).min(COLUMN_CELLS - 1);
            let fraction = x - left as f32;
            out[left] = 1.0 - fraction;
            if fraction > 0.0 {
                out[left + 1] = fraction;
            }
        }
    }
}

/// Loss of a batch; `targets[i]` is `None` where image i has no lane labels (it then adds
/// nothing, and the mean is over the labelled images only).
pub fn lane_loss(maps: &LaneMaps, targets: &[Option<Vec<LaneTarget>>]) -> Result<LaneLoss> {
    let (batch, rows, slots, classes) = maps.logits.dims4()?;
    if targets.len() != batch {
        return Err(DetectorError::Input(format!(
            "{} lane target lists for a batch of {batch}",
            targets.len()
        )));
    }
    let device = maps.logits.device();
    let labelled: Vec<u32> = (0..batch as u32)
        .filter(|&i| targets[i as usize].is_some())
        .collect();
    if labelled.is_empty() {
        return Ok(LaneLoss {
            total: Tensor::zeros((), DType::F32, device)?,
            classification: 0.0,
            position: 0.0,
        });
    }
    let encoded: Vec<Option<f32>> = targets
        .iter()
        .flatten()
        .flat_map(|lanes| encode(lanes))
        .collect();
    let mut distributions = vec![0f32; encoded.len() * classes];
    for (column, out) in encoded.iter().zip(distributions.chunks_mut(classes)) {
        write_distribution(*column, out);
    }
    let shape = (labelled.len(), rows, slots);
    let distributions = Tensor::from_vec(distributions, (shape.0, rows, slots, classes), device)?;
    let mask: Vec<f32> = encoded
        .iter()
        .map(|c| f32::from(u8::from(c.is_some())))
        .collect();
    let crossing_rows = mask.iter().sum::<f32>().max(1.0);
    let mask = Tensor::from_vec(mask, shape, device)?;
    let wanted: Vec<f32> = encoded.iter().map(|c| c.unwrap_or(0.0)).collect();
    let wanted = Tensor::from_vec(wanted, shape, device)?;

    let logits = maps
        .logits
        .index_select(&Tensor::new(labelled.as_slice(), device)?, 0)?;
    let log_probabilities = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let entries = (shape.0 * rows * slots) as f64;
    let classification = ((distributions * log_probabilities)?.sum_all()? / -entries)?;

    let cell_probabilities =
        candle_nn::ops::softmax(&logits.narrow(3, 0, COLUMN_CELLS)?, D::Minus1)?;
    let cells = Tensor::arange(0f32, COLUMN_CELLS as f32, device)?;
    let expected = cell_probabilities.broadcast_mul(&cells)?.sum(D::Minus1)?;
    let position = ((expected - wanted)?.abs()? * mask)?.sum_all()? / f64::from(crossing_rows);
    let position = position?;
    let total = (&classification + (&position * POSITION_WEIGHT)?)?;
    Ok(LaneLoss {
        classification: classification.to_scalar()?,
        position: position.to_scalar()?,
        total,
    })
}

/// How a batch's lane lines match their labels, anchor row by anchor row (per image and
/// slot): the measure lane heads are chosen by. The loss is not: it rewards calibrated
/// probabilities, and a head whose loss was lower put fewer points near their lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowMatches {
    /// Rows a label crosses where the head reports the line close enough.
    pub hits: usize,
    /// Rows a label crosses.
    pub labelled: usize,
    /// Rows where the head reports the line.
    pub reported: usize,
}

impl RowMatches {
    /// The harmonic mean of the share of labelled rows hit and the share of reported rows
    /// that hit; 1 where there is nothing to find and nothing was reported.
    pub fn f1(&self) -> f64 {
        let all = self.labelled + self.reported;
        if all == 0 {
            return 1.0;
        }
        2.0 * self.hits as f64 / all as f64
    }

    pub fn add(&mut self, other: RowMatches) {
        self.hits += other.hits;
        self.labelled += other.labelled;
        self.reported += other.reported;
    }
}

impl LaneMaps {
    /// Row matches against `targets` (`None`: an image without lane labels, left out): a
    /// reported row hits when it lies within `tolerance` input pixels of the label's
    /// crossing, reported and placed as [`LaneMaps::decode`] does.
    pub fn row_matches(
        &self,
        targets: &[Option<Vec<LaneTarget>>],
        tolerance: f32,
    ) -> Result<RowMatches> {
        let mut matches = RowMatches::default();
        for (item, lanes) in targets.iter().enumerate() {
            let Some(lanes) = lanes else {
                continue;
            };
            let probabilities =
                candle_nn::ops::softmax_last_dim(&self.logits.get(item)?)?.to_vec3::<f32>()?;
            let labels = encode(lanes);
            for (r, row) in probabilities.iter().enumerate() {
                for (slot, classes) in row.iter().enumerate() {
                    let label = labels[r * SLOTS + slot].map(|c| (c + 0.5) * CELL_WIDTH);
                    let reported =
                        (classes[ABSENT] < PRESENT_BELOW).then(|| column_u(&classes[..ABSENT]));
                    matches.labelled += usize::from(label.is_some());
                    matches.reported += usize::from(reported.is_some());
                    if let (Some(label), Some(reported)) = (label, reported) {
                        matches.hits += usize::from((label - reported).abs() <= tolerance);
                    }
                }
            }
        }
        Ok(matches)
    }

    /// The lanes of image `item`, in input pixels: a lane for each slot crossing at least
    /// two anchor rows with a mean crossing probability of at least `min_score`, its points
    /// near → far.
    pub fn decode(&self, item: usize, min_score: f32) -> Result<Vec<Lane>> {
        let probabilities =
            candle_nn::ops::softmax_last_dim(&self.logits.get(item)?)?.to_vec3::<f32>()?;
        let mut lanes = Vec::new();
        for slot in LaneSlot::ALL {
            let mut points = Vec::new();
            let mut presence = 0.0;
            // Bottom row first: near to far.
            for r in (0..probabilities.len()).rev() {
                let classes = &probabilities[r][slot.index()];
                let present = 1.0 - classes[ABSENT];
                if classes[ABSENT] >= PRESENT_BELOW {
                    continue;
                }
                presence += present;
                points.push([column_u(&classes[..ABSENT]), anchor_row(r)]);
            }
            if points.len() < 2 {
                continue;
            }
            let score = presence / points.len() as f32;
            if score >= min_score {
                lanes.push(Lane {
                    slot,
                    score,
                    points,
                });
            }
        }
        Ok(lanes)
    }
}

/// The column (input pixels) from one row's cell probabilities: the probability-weighted
/// mean of the cells around the most probable one (a distant second peak does not pull
/// it).
fn column_u(cells: &[f32]) -> f32 {
    let best = cells
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(index, _)| index);
    let window =
        best.saturating_sub(EXPECTATION_RADIUS)..(best + EXPECTATION_RADIUS + 1).min(cells.len());
    let (weight, moment) = window.fold((0.0, 0.0), |(weight, moment), c| {
        (weight + cells[c], moment + cells[c] * c as f32)
    });
    (moment / weight + 0.5) * CELL_WIDTH
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::{Optimizer, VarMap};

    fn cpu() -> Device {
        Device::Cpu
    }

    /// A straight lane from the bottom edge towards a vanishing point, like the simulator's
    /// labels (points dense near the horizon).
    fn straight_lane(slot: LaneSlot, bottom_u: f32, far_v: f32) -> LaneTarget {
        let (vanishing_u, vanishing_v) = (330.0, 160.0);
        let points = (0..20)
            .map(|k| {
                let t = 1.0 - (1.0 - k as f32 / 19.0).powi(2);
                let v = 359.0 + (far_v - 359.0) * t;
                let s = (v - vanishing_v) / (359.0 - vanishing_v);
                [vanishing_u + (bottom_u - vanishing_u) * s, v]
            })
            .collect();
        LaneTarget { slot, points }
    }

    /// The logits that put all probability on the encoded targets.
    fn ideal_maps(images: &[Vec<LaneTarget>]) -> LaneMaps {
        let classes = COLUMN_CELLS + 1;
        let mut logits = Vec::new();
        for targets in images {
            for column in encode(targets) {
                let mut distribution = vec![0f32; classes];
                write_distribution(column, &mut distribution);
                logits.extend(distribution.iter().map(|p| p.max(1e-7).ln()));
            }
        }
        let shape = (images.len(), ANCHOR_ROWS, SLOTS, classes);
        LaneMaps {
            logits: Tensor::from_vec(logits, shape, &cpu()).unwrap(),
        }
    }

    /// u of a polyline at row v (first crossing from the near end).
    fn polyline_u(points: &[[f32; 2]], v: f32) -> Option<f32> {
        points.windows(2).find_map(|s| {
            let ([u0, v0], [u1, v1]) = (s[0], s[1]);
            (v0 != v1 && v >= v0.min(v1) && v <= v0.max(v1))
                .then(|| u0 + (u1 - u0) * (v - v0) / (v1 - v0))
        })
    }

    #[test]
    fn anchors_span_the_road_with_four_pixel_spacing() {
        assert_eq!(ANCHOR_ROWS, 68);
        assert_eq!(anchor_row(0), 114.0);
        assert_eq!(anchor_row(1) - anchor_row(0), 4.0);
        assert_eq!(anchor_row(ANCHOR_ROWS - 1), 382.0);
    }

    #[test]
    fn ideal_maps_decode_to_the_labelled_lanes() {
        let targets = vec![
            straight_lane(LaneSlot::EgoLeft, 170.0, 175.0),
            straight_lane(LaneSlot::EgoRight, 470.0, 180.0),
            straight_lane(LaneSlot::RightRight, 700.0, 190.0),
        ];
        let maps = ideal_maps(std::slice::from_ref(&targets));
        let lanes = maps.decode(0, 0.5).unwrap();
        let slots: Vec<_> = lanes.iter().map(|lane| lane.slot).collect();
        assert_eq!(
            slots,
            [LaneSlot::EgoLeft, LaneSlot::EgoRight, LaneSlot::RightRight],
            "left_left has no label and stays absent"
        );
        // Between the outermost cell centres the column comes back exactly; beyond them
        // (the outer half cells) it stops at the centre, within half a cell.
        let centres = 0.5 * CELL_WIDTH..=(COLUMN_CELLS as f32 - 0.5) * CELL_WIDTH;
        let (mut worst, mut worst_at_edge): (f32, f32) = (0.0, 0.0);
        for (lane, target) in lanes.iter().zip(&targets) {
            assert!(
                lane.score > 0.99,
                "{}: score {}",
                lane.slot.name(),
                lane.score
            );
            // Near → far.
            assert!(lane.points.windows(2).all(|p| p[1][1] < p[0][1]));
            let label_rows = (0..ANCHOR_ROWS)
                .filter(|&r| {
                    polyline_u(&target.points, anchor_row(r))
                        .is_some_and(|u| (0.0..640.0).contains(&u))
                })
                .count();
            assert_eq!(lane.points.len(), label_rows, "{}", lane.slot.name());
            for &[u, v] in &lane.points {
                let label = polyline_u(&target.points, v).unwrap();
                let error = (u - label).abs();
                if centres.contains(&label) {
                    worst = worst.max(error);
                } else {
                    worst_at_edge = worst_at_edge.max(error);
                }
            }
        }
        println!(
            "round trip: worst column error {worst} px, {worst_at_edge} px in the edge half cells"
        );
        assert!(worst < 0.01 * CELL_WIDTH, "worst {worst} px");
        assert!(
            worst_at_edge <= 0.5 * CELL_WIDTH,
            "worst at the edge {worst_at_edge} px"
        );
    }

    #[test]
    fn row_matches_count_lines_near_their_labels_and_lines_where_none_is() {
        let ego = straight_lane(LaneSlot::EgoLeft, 170.0, 175.0);
        let labelled_rows = crossings(&ego.points).iter().flatten().count();
        let exact = ideal_maps(&[vec![ego.clone()]]);
        let labels = [Some(vec![ego.clone()])];
        let matches = exact.row_matches(&labels, 2.0).unwrap();
        assert_eq!(
            matches,
            RowMatches {
                hits: labelled_rows,
                labelled: labelled_rows,
                reported: labelled_rows
            }
        );
        assert_eq!(matches.f1(), 1.0);

        // The same line 30 px to the side: reported everywhere, near nowhere.
        let mut shifted = ego.clone();
        shifted.points.iter_mut().for_each(|p| p[0] += 30.0);
        let off = ideal_maps(&[vec![shifted]])
            .row_matches(&labels, 10.0)
            .unwrap();
        assert_eq!(off.hits, 0);
        assert!(off.labelled == labelled_rows && off.reported > 0);

        // A line where the label has none, and an image without lane labels (left out).
        let extra = ideal_maps(&[vec![
            ego.clone(),
            straight_lane(LaneSlot::EgoRight, 470.0, 180.0),
        ]]);
        let with_extra = extra.row_matches(&labels, 2.0).unwrap();
        assert_eq!(with_extra.hits, labelled_rows);
        assert!(with_extra.reported > labelled_rows && with_extra.f1() < 1.0);
        assert_eq!(
            extra.row_matches(&[None], 2.0).unwrap(),
            RowMatches::default()
        );
    }

    #[test]
    fn a_lane_leaving_the_image_is_absent_where_it_is_outside() {
        // The right-right line leaves the image at the right edge above the bottom.
        let lane = straight_lane(LaneSlot::RightRight, 900.0, 190.0);
        let crossed = crossings(&lane.points);
        for (r, column) in crossed.iter().enumerate() {
            let u = polyline_u(&lane.points, anchor_row(r));
            assert_eq!(
                column.is_some(),
                u.is_some_and(|u| u < 640.0),
                "row {r}: {column:?} vs {u:?}"
            );
        }
        assert!(crossed.iter().any(Option::is_some) && crossed.iter().any(Option::is_none));
    }

    #[test]
    fn unlabelled_images_add_no_loss_and_no_gradient() {
        let varmap = VarMap::new();
        let head = LaneHead::load(VarBuilder::from_varmap(&varmap, DType::F32, &cpu())).unwrap();
        let features = synthetic_features(2, 3);
        let maps = head.forward(&features).unwrap();
        let labels = vec![straight_lane(LaneSlot::EgoLeft, 170.0, 175.0)];

        let both = lane_loss(&maps, &[Some(labels.clone()), None]).unwrap();
        let first = LaneMaps {
            logits: maps.logits.narrow(0, 0, 1).unwrap(),
        };
        let alone = lane_loss(&first, &[Some(labels)]).unwrap();
        let difference = (both.total.to_scalar::<f32>().unwrap()
            - alone.total.to_scalar::<f32>().unwrap())
        .abs();
        assert!(difference < 1e-6, "difference {difference}");
        assert!(both.classification > 0.0 && both.position > 0.0);

        let none = lane_loss(&maps, &[None, None]).unwrap();
        assert_eq!(none.total.to_scalar::<f32>().unwrap(), 0.0);
        assert_eq!((none.classification, none.position), (0.0, 0.0));

        // The unlabelled image's logits get no gradient.
        let logits = candle_core::Var::from_tensor(&maps.logits).unwrap();
        let maps = LaneMaps {
            logits: logits.as_tensor().clone(),
        };
        let labels = vec![straight_lane(LaneSlot::EgoRight, 470.0, 180.0)];
        let loss = lane_loss(&maps, &[None, Some(labels)]).unwrap();
        let gradient = loss.total.backward().unwrap();
        let gradient = gradient.get(logits.as_tensor()).unwrap();
        let magnitude = |i: usize| {
            gradient
                .get(i)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        assert_eq!(magnitude(0), 0.0);
        assert!(magnitude(1) > 0.0);
    }

    #[test]
    fn a_wrong_batch_or_feature_size_is_an_error() {
        let varmap = VarMap::new();
        let head = LaneHead::load(VarBuilder::from_varmap(&varmap, DType::F32, &cpu())).unwrap();
        let maps = head.forward(&synthetic_features(1, 5)).unwrap();
        assert!(lane_loss(&maps, &[None, None]).is_err());
        let small = Features {
            stride8: Tensor::zeros((1, 40, 24, 40), DType::F32, &cpu()).unwrap(),
            stride16: Tensor::zeros((1, 112, 12, 20), DType::F32, &cpu()).unwrap(),
            stride32: Tensor::zeros((1, 320, 6, 10), DType::F32, &cpu()).unwrap(),
        };
        let error = head.forward(&small).unwrap_err().to_string();
        assert!(error.contains("48×80"), "{error}");
    }

    /// Reproducible feature maps of the 640×384 input's shapes.
    fn synthetic_features(batch: usize, seed: u64) -> Features {
        let mut state = seed;
        let mut tensor = |shape: (usize, usize, usize, usize)| {
            let count = shape.0 * shape.1 * shape.2 * shape.3;
            let values: Vec<f32> = (0..count)
                .map(|_| {
                    // SplitMix64 to a value in [0, 3): post-ReLU6-like activations.
                    state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                    let mut z = state;
                    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 * 3.0
                })
                .collect();
            Tensor::from_vec(values, shape, &cpu()).unwrap()
        };
        Features {
            stride8: tensor((batch, 40, 48, 80)),
            stride16: tensor((batch, 112, 24, 40)),
            stride32: tensor((batch, 320, 12, 20)),
        }
    }

    #[test]
    fn parameters_stay_few() {
        let varmap = VarMap::new();
        LaneHead::load(VarBuilder::from_varmap(&varmap, DType::F32, &cpu())).unwrap();
        let count: usize = varmap.all_vars().iter().map(|v| v.elem_count()).sum();
        println!("lane head parameters: {count}");
        assert!(count < 2_000_000, "{count}");
    }

    #[test]
    fn training_steps_on_real_backbone_features_lower_the_loss() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let backbone = crate::EfficientNetLite0::from_file(
            &root.join("../../models/efficientnet-lite0.safetensors"),
        )
        .unwrap();
        let image =
            crate::image_input::read_rgb(&root.join("tests/fixtures/pedestrian-warning.jpg"))
                .unwrap();
        let input = crate::image_input::image_tensor(&image, 640, 384).unwrap();
        let features = backbone.forward(&input).unwrap();
        let targets = vec![Some(vec![
            straight_lane(LaneSlot::LeftLeft, -100.0, 185.0),
            straight_lane(LaneSlot::EgoLeft, 170.0, 175.0),
            straight_lane(LaneSlot::EgoRight, 470.0, 180.0),
        ])];

        let varmap = VarMap::new();
        let head = LaneHead::load(VarBuilder::from_varmap(&varmap, DType::F32, &cpu())).unwrap();
        let mut optimiser = candle_nn::AdamW::new(
            varmap.all_vars(),
            candle_nn::ParamsAdamW {
                lr: 3e-3,
                ..Default::default()
            },
        )
        .unwrap();
        let mut losses = Vec::new();
        for _ in 0..8 {
            let loss = lane_loss(&head.forward(&features).unwrap(), &targets).unwrap();
            losses.push(loss.total.to_scalar::<f32>().unwrap());
            optimiser.backward_step(&loss.total).unwrap();
        }
        println!("lane loss over training steps: {losses:?}");
        assert!(losses.iter().all(|l| l.is_finite()));
        assert!(
            losses[losses.len() - 1] < 0.7 * losses[0],
            "losses {losses:?}"
        );
    }
}
