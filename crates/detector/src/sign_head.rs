//! The traffic-sign head: CenterNet-style maps on the stride-8 grid.
//!
//! Each stride-8 cell predicts whether a sign's centre lies in it (a heatmap logit), which
//! of the 43 GTSRB classes it is, where inside the cell the centre lies (sub-pixel offset)
//! and how far the box reaches from that centre to each side. The centre is the label's
//! `center` — the projection of the sign's map position, whose bearing the solver uses —
//! not the box centre, so the four extents are separate (a partly hidden sign's box is
//! lopsided about it).
//!
//! Map normalisations (all per cell, the cell at column `x`, row `y` spans input pixels
//! `[8x, 8x + 8) × [8y, 8y + 8)`):
//! - `heatmap`: logit of "a sign's centre is in this cell"; score = sigmoid.
//! - `class`: 43 logits, softmax over classes.
//! - `offset`: (u / 8 − x, v / 8 − y), the centre relative to the cell's corner in cells:
//!   in [0, 1) at the centre's own cell, in (−1, 2) at its eight neighbours, which are
//!   trained too so that a peak one cell off still decodes the exact centre.
//! - `extent`: ln(d / 8) for the distances d (input pixels) from the centre to the box's
//!   left, top, right and bottom; distances under [`MIN_EXTENT`] count as that much.
//!
//! Small signs matter (10 input pixels tall is a cell and a quarter), so the heatmap's
//! training target is a Gaussian around the exact sub-cell centre whose spread follows the
//! box but never drops below half a cell: the neighbour across a near cell border is
//! penalised only lightly for firing.

use crate::detections::SignDetection;
use crate::efficientnet::{Features, FEATURE_CHANNELS};
use crate::error::{DetectorError, Result};
use crate::layers::{Pointwise, SeparableBlock};
use crate::ops::Activation;
use candle_core::{DType, Tensor};
use candle_nn::{init, Init, VarBuilder};

/// GTSRB classes.
pub const SIGN_CLASSES: usize = 43;
/// Input pixels per heatmap cell.
pub const SIGN_STRIDE: usize = 8;
/// Boxes of one class-agnostic cluster overlapping more than this are duplicates.
pub const NMS_IOU: f32 = 0.5;
/// Smallest centre-to-side distance the extent map encodes, input pixels.
pub const MIN_EXTENT: f32 = 0.5;
/// Weights of the class, offset and extent terms in [`SignLoss::total`] (the heatmap's is
/// 1).
pub const LOSS_WEIGHTS: LossWeights = LossWeights {
    class: 1.0,
    offset: 1.0,
    extent: 1.0,
};

/// Channels of the head's merged feature map.
const WIDTH: usize = 64;
/// Depthwise-separable blocks after the merge.
const BLOCKS: usize = 2;
/// Heatmap bias so that every cell starts at probability 0.1 (−ln 9), as in CenterNet.
const HEATMAP_PRIOR: f64 = -2.19;
/// The focal loss's exponents (CenterNet: α = 2 on the prediction, β = 4 on the target).
const FOCAL_ALPHA: i32 = 2;
const FOCAL_BETA: i32 = 4;
/// Gaussian spread of the heatmap target per cell of box size, and its floor, in cells.
const SIGMA_PER_CELL: f32 = 0.1;
const MIN_SIGMA: f32 = 0.5;
/// The largest heatmap target off a centre: the focal loss treats exactly 1 as a centre.
const NEAR_ONE: f32 = 0.999;

/// Weights of the loss terms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    pub class: f32,
    pub offset: f32,
    pub extent: f32,
}

/// A labelled sign in input pixels: what the loss trains towards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignTarget {
    /// GTSRB class, 0–42.
    pub class: u8,
    /// `[left, top, right, bottom]`.
    pub bbox: [f32; 4],
    /// The sign's centre (the projection of its map position).
    pub center: [f32; 2],
}

/// The head's output for a batch, each map (B, C, H / 8, W / 8); see the module docs for
/// their normalisation.
#[derive(Debug, Clone)]
pub struct SignMaps {
    /// (B, 1, h, w) logits.
    pub heatmap: Tensor,
    /// (B, 43, h, w) logits.
    pub class: Tensor,
    /// (B, 2, h, w): the centre's position inside its cell, in cells.
    pub offset: Tensor,
    /// (B, 4, h, w): ln(distance / 8) from the centre to left, top, right, bottom.
    pub extent: Tensor,
}

/// The sign loss of a batch.
#[derive(Debug, Clone)]
pub struct SignLoss {
    /// Weighted sum of the terms, a differentiable scalar.
    pub total: Tensor,
    /// Focal loss on the heatmap, per sign.
    pub heatmap: f32,
    /// Cross-entropy of the class, mean over the trained cells (centres and their
    /// neighbours).
    pub class: f32,
    /// L1 of the offset, mean over trained cells and coordinates (cells).
    pub offset: f32,
    /// L1 of the extent, mean over trained cells and sides (log scale).
    pub extent: f32,
}

/// The sign head: stride-8 features merged with upsampled stride-16 features (a 1×1
/// convolution over both), two depthwise-separable blocks, and a 1×1 output per map.
#[derive(Debug, Clone)]
pub struct SignHead {
    /// Stride-16 features to the head's width, before upsampling.
    lateral16: Pointwise,
    /// Stride-8 features and upsampled `lateral16` output, concatenated, to the head's width.
    merge: Pointwise,
    blocks: Vec<SeparableBlock>,
    heatmap: Pointwise,
    class: Pointwise,
    offset: Pointwise,
    extent: Pointwise,
}

impl SignHead {
    /// Builds (from a `VarMap`-backed builder: creates and initialises) or loads the head's
    /// tensors under `vb`'s prefix.
    pub fn load(vb: VarBuilder) -> Result<Self> {
        let [channels8, channels16, _] = FEATURE_CHANNELS;
        // Output layers start small, so that their bias sets the first predictions.
        let output = |name: &str, outputs: usize, bias: f64| {
            let small = Init::Randn {
                mean: 0.0,
                stdev: 0.01,
            };
            Pointwise::load(vb.pp(name), WIDTH, outputs, small, Init::Const(bias))
        };
        let hidden = |name: &str, inputs: usize| {
            let kaiming = init::DEFAULT_KAIMING_NORMAL;
            Pointwise::load(vb.pp(name), inputs, WIDTH, kaiming, init::ZERO)
        };
        Ok(Self {
            lateral16: hidden("lateral16", channels16)?,
            merge: hidden("merge", channels8 + WIDTH)?,
            blocks: (0..BLOCKS)
                .map(|index| SeparableBlock::load(vb.pp(format!("blocks.{index}")), WIDTH, 3))
                .collect::<Result<_>>()?,
            heatmap: output("heatmap", 1, HEATMAP_PRIOR)?,
            class: output("class", SIGN_CLASSES, 0.0)?,
            offset: output("offset", 2, 0.5)?,
            // ln(1): a 16-pixel box until trained.
            extent: output("extent", 4, 0.0)?,
        })
    }

    /// The maps for a batch of backbone features.
    pub fn forward(&self, features: &Features) -> Result<SignMaps> {
        let (_, _, h, w) = features.stride8.dims4()?;
        let (_, _, h16, w16) = features.stride16.dims4()?;
        if h.div_ceil(2) != h16 || w.div_ceil(2) != w16 {
            return Err(DetectorError::Input(format!(
                "stride-16 features {h16}×{w16} do not pair with stride-8 features {h}×{w}"
            )));
        }
        // Reduced before upsampling: a quarter of the pixels to transform and copy.
        let coarse = self
            .lateral16
            .forward(&features.stride16, Activation::Identity)?
            .upsample_nearest2d(2 * h16, 2 * w16)?
            .narrow(2, 0, h)?
            .narrow(3, 0, w)?;
        let merged = Tensor::cat(&[&features.stride8, &coarse], 1)?;
        let mut x = self.merge.forward(&merged, Activation::Relu6)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        Ok(SignMaps {
            heatmap: self.heatmap.forward(&x, Activation::Identity)?,
            class: self.class.forward(&x, Activation::Identity)?,
            offset: self.offset.forward(&x, Activation::Identity)?,
            extent: self.extent.forward(&x, Activation::Identity)?,
        })
    }
}

/// A cell at or next to a sign's centre and what the maps should say there.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    /// Flat index into (B, h, w).
    cell: usize,
    class: u8,
    offset: [f32; 2],
    extent: [f32; 4],
}

/// Targets laid out on the grid.
#[derive(Debug, Clone)]
struct EncodedTargets {
    /// (B, h, w) Gaussian heatmap target, exactly 1 at centre cells.
    heatmap: Vec<f32>,
    /// Signs on the grid (one per centre cell).
    signs: usize,
    /// Where class, offset and extent are trained: centre cells first.
    samples: Vec<Sample>,
}

/// A sign on the grid: its centre in cells, its cell and the Gaussian's spread.
struct Placed<'a> {
    sign: &'a SignTarget,
    center: [f32; 2],
    cell: (usize, usize),
    sigma: [f32; 2],
}

impl Placed<'_> {
    /// The heatmap target this sign gives cell (x, y).
    fn gaussian(&self, x: usize, y: usize) -> f32 {
        let dx = (x as f32 + 0.5 - self.center[0]) / self.sigma[0];
        let dy = (y as f32 + 0.5 - self.center[1]) / self.sigma[1];
        (-0.5 * (dx * dx + dy * dy)).exp()
    }

    /// What the maps should say at cell (x, y) about this sign.
    fn sample(&self, x: usize, y: usize, cell: usize) -> Sample {
        let [left, top, right, bottom] = self.sign.bbox;
        let [u, v] = self.sign.center;
        let distances = [u - left, v - top, right - u, bottom - v];
        Sample {
            cell,
            class: self.sign.class,
            offset: [self.center[0] - x as f32, self.center[1] - y as f32],
            extent: distances.map(|d| (d.max(MIN_EXTENT) / SIGN_STRIDE as f32).ln()),
        }
    }
}

/// Lays out each image's signs on an h × w grid. Signs whose centre lies off the grid are
/// left out; of two signs centred in one cell the first keeps it. Class, offset and extent
/// are trained at the centre cell and its eight neighbours, so that a peak one cell off (a
/// centre near a cell border) still decodes the right sign and centre; a cell serves one
/// sign, centres first.
fn encode(targets: &[Vec<SignTarget>], h: usize, w: usize) -> Result<EncodedTargets> {
    let stride = SIGN_STRIDE as f32;
    let mut heatmap = vec![0f32; targets.len() * h * w];
    let mut claimed = vec![false; h * w];
    let mut signs = 0;
    let mut samples = Vec::new();
    for (item, image_signs) in targets.iter().enumerate() {
        let plane = &mut heatmap[item * h * w..][..h * w];
        let base = item * h * w;
        claimed.fill(false);
        let mut placed = Vec::with_capacity(image_signs.len());
        for (index, sign) in image_signs.iter().enumerate() {
            check_target(sign).map_err(|reason| {
                DetectorError::Input(format!("image {item}, sign {index}: {reason}"))
            })?;
            let center = sign.center.map(|c| c / stride);
            if center[0] < 0.0 || center[1] < 0.0 || center[0] >= w as f32 || center[1] >= h as f32
            {
                continue;
            }
            let [left, top, right, bottom] = sign.bbox;
            let size = [(right - left) / stride, (bottom - top) / stride];
            let sign = Placed {
                sign,
                center,
                cell: (center[0] as usize, center[1] as usize),
                sigma: size.map(|s| (SIGMA_PER_CELL * s).max(MIN_SIGMA)),
            };
            splat_gaussian(plane, w, &sign);
            let (x, y) = sign.cell;
            if claimed[y * w + x] {
                continue;
            }
            claimed[y * w + x] = true;
            samples.push(sign.sample(x, y, base + y * w + x));
            signs += 1;
            placed.push(sign);
        }
        // Exactly 1 only at centres, whatever the neighbouring Gaussians add up to.
        for (value, &centre) in plane.iter_mut().zip(&claimed) {
            *value = if centre { 1.0 } else { value.min(NEAR_ONE) };
        }
        for sign in &placed {
            let (x, y) = sign.cell;
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    let cell = ny * w + nx;
                    if !claimed[cell] {
                        claimed[cell] = true;
                        samples.push(sign.sample(nx, ny, base + cell));
                    }
                }
            }
        }
    }
    Ok(EncodedTargets {
        heatmap,
        signs,
        samples,
    })
}

fn check_target(sign: &SignTarget) -> std::result::Result<(), String> {
    if usize::from(sign.class) >= SIGN_CLASSES {
        return Err(format!("class {} is not a GTSRB class (0–42)", sign.class));
    }
    if !sign.bbox.iter().chain(&sign.center).all(|c| c.is_finite()) {
        return Err(format!(
            "non-finite box {:?} or centre {:?}",
            sign.bbox, sign.center
        ));
    }
    Ok(())
}

/// Raises `plane` to the sign's Gaussian, keeping the larger of overlapping ones.
fn splat_gaussian(plane: &mut [f32], w: usize, sign: &Placed) {
    let h = plane.len() / w;
    // Beyond 3σ the value is under 1 %.
    let span = |axis: usize, cells: usize| {
        let reach = 3.0 * sign.sigma[axis];
        let low = (sign.center[axis] - reach).floor().max(0.0) as usize;
        let high = ((sign.center[axis] + reach).ceil() as usize).min(cells);
        low..high
    };
    for y in span(1, h) {
        for x in span(0, w) {
            let cell = &mut plane[y * w + x];
            *cell = cell.max(sign.gaussian(x, y));
        }
    }
}

/// ln(1 + eˣ), stable for large |x|.
fn softplus(x: &Tensor) -> candle_core::Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

/// Rows (N, C) of a (B, C, h, w) map at flat (B, h, w) cells.
fn gather_cells(map: &Tensor, cells: &Tensor) -> candle_core::Result<Tensor> {
    let channels = map.dim(1)?;
    map.permute((0, 2, 3, 1))?
        .contiguous()?
        .reshape(((), channels))?
        .index_select(cells, 0)
}

/// The loss of `maps` against one list of signs per image (input pixels): CenterNet's
/// focal loss on the heatmap (α = 2, β = 4) normalised by the number of signs, and the
/// means of the class cross-entropy and the offset and extent L1 over the centre cells and
/// their neighbours (see [`encode`]), weighted by [`LOSS_WEIGHTS`].
pub fn sign_loss(maps: &SignMaps, targets: &[Vec<SignTarget>]) -> Result<SignLoss> {
    let (batch, _, h, w) = maps.heatmap.dims4()?;
    if targets.len() != batch {
        return Err(DetectorError::Input(format!(
            "{} target lists for a batch of {batch}",
            targets.len()
        )));
    }
    let device = maps.heatmap.device();
    let encoded = encode(targets, h, w)?;
    let (positive_mask, negative_weight): (Vec<f32>, Vec<f32>) = encoded
        .heatmap
        .iter()
        .map(|&y| {
            if y == 1.0 {
                (1.0, 0.0)
            } else {
                (0.0, (1.0 - y).powi(FOCAL_BETA))
            }
        })
        .unzip();
    let shape = maps.heatmap.shape();
    let positive_mask = Tensor::from_vec(positive_mask, shape, device)?;
    let negative_weight = Tensor::from_vec(negative_weight, shape, device)?;

    let norm = encoded.signs.max(1) as f64;
    let logits = &maps.heatmap;
    let log_p = softplus(&logits.neg()?)?.neg()?;
    let log_not_p = softplus(logits)?.neg()?;
    let positive = (log_not_p.exp()?.powf(FOCAL_ALPHA as f64)? * &log_p)?
        .mul(&positive_mask)?
        .sum_all()?;
    let negative = (log_p.exp()?.powf(FOCAL_ALPHA as f64)? * &log_not_p)?
        .mul(&negative_weight)?
        .sum_all()?;
    let heatmap = ((positive + negative)? / -norm)?;

    let zero = || Tensor::zeros((), DType::F32, device);
    let count = encoded.samples.len();
    let (class, offset, extent) = if count == 0 {
        (zero()?, zero()?, zero()?)
    } else {
        let cells: Vec<u32> = encoded.samples.iter().map(|p| p.cell as u32).collect();
        let cells = Tensor::from_vec(cells, count, device)?;
        let classes: Vec<u32> = encoded.samples.iter().map(|p| u32::from(p.class)).collect();
        let class = candle_nn::loss::cross_entropy(
            &gather_cells(&maps.class, &cells)?,
            &Tensor::from_vec(classes, count, device)?,
        )?;
        let l1 = |map: &Tensor, target: Vec<f32>, width: usize| -> Result<Tensor> {
            let target = Tensor::from_vec(target, (count, width), device)?;
            Ok((gather_cells(map, &cells)? - target)?.abs()?.mean_all()?)
        };
        let offsets = encoded.samples.iter().flat_map(|p| p.offset).collect();
        let extents = encoded.samples.iter().flat_map(|p| p.extent).collect();
        (
            class,
            l1(&maps.offset, offsets, 2)?,
            l1(&maps.extent, extents, 4)?,
        )
    };
    let total = (&heatmap
        + (class.affine(LOSS_WEIGHTS.class as f64, 0.0)?
            + offset.affine(LOSS_WEIGHTS.offset as f64, 0.0)?
            + extent.affine(LOSS_WEIGHTS.extent as f64, 0.0)?)?)?;
    let value = |t: &Tensor| t.to_scalar::<f32>();
    Ok(SignLoss {
        heatmap: value(&heatmap)?,
        class: value(&class)?,
        offset: value(&offset)?,
        extent: value(&extent)?,
        total,
    })
}

impl SignMaps {
    /// The signs found in image `item` of the batch, in input pixels, best first: cells
    /// that score at least `min_score` and no less than their eight neighbours, class by
    /// argmax, then non-maximum suppression.
    pub fn decode(&self, item: usize, min_score: f32) -> Result<Vec<SignDetection>> {
        let (batch, _, h, w) = self.heatmap.dims4()?;
        if item >= batch {
            return Err(DetectorError::Input(format!(
                "image {item} of a batch of {batch}"
            )));
        }
        let plane = |map: &Tensor| -> Result<Vec<f32>> {
            Ok(map.get(item)?.flatten_all()?.to_vec1::<f32>()?)
        };
        let scores: Vec<f32> = plane(&self.heatmap)?
            .into_iter()
            .map(|logit| 1.0 / (1.0 + (-logit).exp()))
            .collect();
        let classes = plane(&self.class)?;
        let offsets = plane(&self.offset)?;
        let extents = plane(&self.extent)?;
        let cells = h * w;
        let stride = SIGN_STRIDE as f32;
        let mut detections = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let cell = y * w + x;
                let score = scores[cell];
                if score < min_score || !is_peak(&scores, w, x, y) {
                    continue;
                }
                let class = (0..SIGN_CLASSES)
                    .max_by(|&a, &b| {
                        classes[a * cells + cell].total_cmp(&classes[b * cells + cell])
                    })
                    .unwrap_or(0);
                let u = (x as f32 + offsets[cell]) * stride;
                let v = (y as f32 + offsets[cells + cell]) * stride;
                let [left, top, right, bottom] =
                    [0, 1, 2, 3].map(|side| extents[side * cells + cell].exp() * stride);
                detections.push(SignDetection {
                    class: class as u8,
                    score,
                    bbox: [u - left, v - top, u + right, v + bottom],
                    center: [u, v],
                });
            }
        }
        Ok(non_maximum_suppression(detections, NMS_IOU))
    }
}

/// Whether the cell scores at least as much as its eight neighbours; of equal neighbours
/// only the first in row order counts, so a plateau gives one peak.
fn is_peak(scores: &[f32], w: usize, x: usize, y: usize) -> bool {
    let h = scores.len() / w;
    let score = scores[y * w + x];
    for ny in y.saturating_sub(1)..(y + 2).min(h) {
        for nx in x.saturating_sub(1)..(x + 2).min(w) {
            let other = scores[ny * w + nx];
            let earlier = (ny, nx) < (y, x);
            if other > score || (earlier && other == score) {
                return false;
            }
        }
    }
    true
}

/// Keeps the best-scoring of every group of boxes overlapping by more than `iou`
/// (regardless of class), best first.
pub fn non_maximum_suppression(mut detections: Vec<SignDetection>, iou: f32) -> Vec<SignDetection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<SignDetection> = Vec::with_capacity(detections.len());
    for detection in detections {
        if kept
            .iter()
            .all(|better| box_iou(&better.bbox, &detection.bbox) <= iou)
        {
            kept.push(detection);
        }
    }
    kept
}

/// Intersection over union of two `[l, t, r, b]` boxes.
pub fn box_iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let area = |r: &[f32; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let overlap =
        (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) * (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let union = area(a) + area(b) - overlap;
    if union > 0.0 {
        overlap / union
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image_input::{image_tensor, read_rgb};
    use crate::EfficientNetLite0;
    use candle_core::Device;
    use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
    use std::path::Path;

    /// The maps a perfect head would output for these targets.
    fn ideal_maps(targets: &[Vec<SignTarget>], h: usize, w: usize) -> SignMaps {
        let batch = targets.len();
        let cells = h * w;
        let encoded = encode(targets, h, w).unwrap();
        // Saturating logits: the target value's logit, kept finite.
        let heatmap: Vec<f32> = encoded
            .heatmap
            .iter()
            .map(|&y| {
                let y = y.clamp(1e-6, 1.0 - 1e-6);
                (y / (1.0 - y)).ln()
            })
            .collect();
        let mut class = vec![0f32; batch * SIGN_CLASSES * cells];
        let mut offset = vec![0f32; batch * 2 * cells];
        let mut extent = vec![0f32; batch * 4 * cells];
        for p in &encoded.samples {
            let (item, cell) = (p.cell / cells, p.cell % cells);
            class[(item * SIGN_CLASSES + usize::from(p.class)) * cells + cell] = 10.0;
            for (channel, value) in p.offset.iter().enumerate() {
                offset[(item * 2 + channel) * cells + cell] = *value;
            }
            for (channel, value) in p.extent.iter().enumerate() {
                extent[(item * 4 + channel) * cells + cell] = *value;
            }
        }
        let tensor = |data: Vec<f32>, channels: usize| {
            Tensor::from_vec(data, (batch, channels, h, w), &Device::Cpu).unwrap()
        };
        SignMaps {
            heatmap: tensor(heatmap, 1),
            class: tensor(class, SIGN_CLASSES),
            offset: tensor(offset, 2),
            extent: tensor(extent, 4),
        }
    }

    fn values(map: &Tensor) -> Vec<f32> {
        map.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    }

    fn sign(class: u8, bbox: [f32; 4], center: [f32; 2]) -> SignTarget {
        SignTarget {
            class,
            bbox,
            center,
        }
    }

    #[test]
    fn ideal_maps_decode_to_their_signs() {
        let targets = vec![
            vec![
                // 10 px tall, centre off the box centre and near a cell border.
                sign(14, [100.2, 50.1, 109.7, 60.1], [103.9, 55.97]),
                // Large, next to a small one.
                sign(2, [300.0, 100.0, 380.0, 180.0], [341.3, 139.2]),
                sign(27, [390.5, 120.25, 402.0, 131.0], [396.3, 125.7]),
            ],
            vec![sign(0, [620.0, 360.0, 639.5, 383.5], [630.01, 372.5])],
        ];
        let maps = ideal_maps(&targets, 48, 80);
        for (item, expected) in targets.iter().enumerate() {
            let mut found = maps.decode(item, 0.5).unwrap();
            assert_eq!(found.len(), expected.len(), "image {item}: {found:?}");
            found.sort_by(|a, b| a.center[0].total_cmp(&b.center[0]));
            for (detection, target) in found.iter().zip(expected) {
                assert_eq!(detection.class, target.class);
                assert!(detection.score > 0.99, "{detection:?}");
                let errors = detection
                    .center
                    .iter()
                    .zip(&target.center)
                    .chain(detection.bbox.iter().zip(&target.bbox))
                    .map(|(a, b)| (a - b).abs());
                for error in errors {
                    assert!(error < 0.1, "{detection:?} vs {target:?}");
                }
            }
        }
    }

    #[test]
    fn a_peak_one_cell_off_still_decodes_the_centre() {
        // 0.1 px right of a cell border: the left neighbour is trained too.
        let target = sign(33, [150.0, 70.0, 170.0, 90.0], [160.1, 80.4]);
        let maps = ideal_maps(&[vec![target]], 24, 40);
        let mut heatmap = values(&maps.heatmap);
        let (centre, left) = (10 * 40 + 20, 10 * 40 + 19);
        heatmap.swap(centre, left);
        let shifted = SignMaps {
            heatmap: Tensor::from_vec(heatmap, (1, 1, 24, 40), &Device::Cpu).unwrap(),
            ..maps
        };
        let found = shifted.decode(0, 0.5).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].class, 33);
        for (a, b) in found[0].center.iter().zip(&target.center) {
            assert!((a - b).abs() < 1e-3, "{found:?}");
        }
    }

    #[test]
    fn ideal_maps_cost_less_than_blank_ones() {
        let targets = vec![vec![sign(5, [40.0, 40.0, 60.0, 64.0], [50.3, 51.0])]];
        let ideal = ideal_maps(&targets, 12, 20);
        let ideal_loss = sign_loss(&ideal, &targets).unwrap();
        let blank = SignMaps {
            heatmap: (ideal.heatmap.zeros_like().unwrap() + HEATMAP_PRIOR).unwrap(),
            class: ideal.class.zeros_like().unwrap(),
            offset: ideal.offset.zeros_like().unwrap(),
            extent: ideal.extent.zeros_like().unwrap(),
        };
        let blank_loss = sign_loss(&blank, &targets).unwrap();
        assert!(ideal_loss.heatmap < 0.05 * blank_loss.heatmap);
        assert!(ideal_loss.class < 0.01 && blank_loss.class > 3.0);
        assert!(ideal_loss.offset < 1e-6 && blank_loss.offset > 0.1);
        assert!(ideal_loss.extent < 1e-6 && blank_loss.extent > 0.1);
    }

    #[test]
    fn bad_targets_are_named() {
        let maps = ideal_maps(&[vec![]], 12, 20);
        let error = sign_loss(&maps, &[vec![sign(43, [0.0; 4], [1.0, 1.0])]]).unwrap_err();
        assert!(error.to_string().contains("sign 0: class 43"), "{error}");
        let error = sign_loss(&maps, &[vec![], vec![]]).unwrap_err();
        assert!(error.to_string().contains("2 target lists"), "{error}");
        assert!(maps.decode(1, 0.5).is_err());
    }

    #[test]
    fn suppression_removes_a_duplicate_and_keeps_neighbours() {
        let detection = |score: f32, left: f32, class: u8| SignDetection {
            class,
            score,
            bbox: [left, 10.0, left + 20.0, 30.0],
            center: [left + 10.0, 20.0],
        };
        let kept = non_maximum_suppression(
            vec![
                detection(0.6, 102.0, 3),
                detection(0.9, 100.0, 3),
                detection(0.7, 125.0, 3),
            ],
            NMS_IOU,
        );
        assert_eq!(
            kept,
            vec![detection(0.9, 100.0, 3), detection(0.7, 125.0, 3)]
        );

        // Two adjacent peaks on one sign decode to a single detection.
        let targets = vec![vec![sign(1, [80.0, 80.0, 120.0, 120.0], [100.0, 100.0])]];
        let maps = ideal_maps(&targets, 24, 40);
        let mut heatmap = values(&maps.heatmap);
        let (cell, twin) = (12 * 40 + 12, 12 * 40 + 14);
        heatmap[twin] = heatmap[cell] - 0.5;
        // The twin sees the same sign 12 px to the right: IoU 0.54.
        let copied = |map: &Tensor, channels: usize, twin_x_offset: Option<f32>| {
            let mut data = values(map);
            for channel in 0..channels {
                data[channel * 960 + twin] = data[channel * 960 + cell];
            }
            if let Some(x_offset) = twin_x_offset {
                data[twin] = x_offset;
            }
            Tensor::from_vec(data, (1, channels, 24, 40), &Device::Cpu).unwrap()
        };
        let twinned = SignMaps {
            heatmap: Tensor::from_vec(heatmap, (1, 1, 24, 40), &Device::Cpu).unwrap(),
            class: copied(&maps.class, SIGN_CLASSES, None),
            offset: copied(&maps.offset, 2, Some(0.0)),
            extent: copied(&maps.extent, 4, None),
        };
        assert!(box_iou(&[80.0, 80.0, 120.0, 120.0], &[92.0, 80.0, 132.0, 120.0]) > NMS_IOU);
        let found = twinned.decode(0, 0.5).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].center, [100.0, 100.0]);
    }

    #[test]
    fn maps_have_the_contract_shapes() {
        let varmap = VarMap::new();
        let head =
            SignHead::load(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
        // 640×384 gives a 48×80 grid; 640×360 gives 45×80 against 23×40.
        for (h, w) in [(48, 80), (45, 80)] {
            let features = Features {
                stride8: Tensor::rand(0f32, 6f32, (2, 40, h, w), &Device::Cpu).unwrap(),
                stride16: Tensor::rand(0f32, 6f32, (2, 112, h.div_ceil(2), w / 2), &Device::Cpu)
                    .unwrap(),
                stride32: Tensor::zeros((2, 320, 1, 1), DType::F32, &Device::Cpu).unwrap(),
            };
            let maps = head.forward(&features).unwrap();
            assert_eq!(maps.heatmap.dims(), [2, 1, h, w]);
            assert_eq!(maps.class.dims(), [2, SIGN_CLASSES, h, w]);
            assert_eq!(maps.offset.dims(), [2, 2, h, w]);
            assert_eq!(maps.extent.dims(), [2, 4, h, w]);
        }
    }

    /// Backbone features of a real sign photo pasted twice into a grey 320×192 scene.
    fn real_scene() -> (Features, Vec<Vec<SignTarget>>) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let backbone =
            EfficientNetLite0::from_file(&root.join("../../models/efficientnet-lite0.safetensors"))
                .unwrap();
        let photo = read_rgb(&root.join("tests/fixtures/pedestrian-warning.jpg")).unwrap();
        let mut scene = image::RgbImage::from_pixel(320, 192, image::Rgb([127, 127, 127]));
        let mut targets = Vec::new();
        for (left, top, size) in [(60u32, 40u32, 12u32), (200, 90, 36)] {
            let pasted =
                image::imageops::resize(&photo, size, size, image::imageops::FilterType::Triangle);
            image::imageops::replace(&mut scene, &pasted, left.into(), top.into());
            let [l, t, s] = [left, top, size].map(|c| c as f32);
            targets.push(sign(27, [l, t, l + s, t + s], [l + s / 2.0, t + s / 2.0]));
        }
        let input = image_tensor(&scene, 320, 192).unwrap();
        (backbone.forward(&input).unwrap(), vec![targets])
    }

    #[test]
    fn training_on_real_features_lowers_the_loss() {
        let (features, targets) = real_scene();
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let head = SignHead::load(vb.pp("sign_head")).unwrap();
        let mut optimiser = AdamW::new(
            varmap.all_vars(),
            ParamsAdamW {
                lr: 1e-3,
                weight_decay: 1e-4,
                ..Default::default()
            },
        )
        .unwrap();
        let mut losses = Vec::new();
        for _ in 0..20 {
            let loss = sign_loss(&head.forward(&features).unwrap(), &targets).unwrap();
            optimiser.backward_step(&loss.total).unwrap();
            losses.push(loss);
        }
        let first = &losses[0];
        let last = sign_loss(&head.forward(&features).unwrap(), &targets).unwrap();
        eprintln!("first {first:?}\nlast {last:?}");
        let total = |l: &SignLoss| l.total.to_scalar::<f32>().unwrap();
        assert!(total(&last) < 0.6 * total(first));
        assert!(last.heatmap < first.heatmap);
        assert!(last.class < first.class);
        assert!(last.offset < first.offset);
        assert!(last.extent < first.extent);
    }
}
