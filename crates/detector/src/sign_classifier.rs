//! The second look at each sign: a small CNN that classifies a square crop of the
//! ORIGINAL image around a detected box into one of the 43 GTSRB classes or "not a sign".
//!
//! The detector's stride-8/16 features see a sign as 10–20 input pixels; the frame itself
//! has 20–60. So each box the sign head reports is cut from the frame (a square of the
//! box's longer side enlarged by [`CROP_MARGIN`] on each side, bilinear, area-averaged when
//! shrinking a lot, padded grey where it leaves the picture), shrunk to
//! [`CROP_SIZE`]² and classified here. The network is four 3×3 convolutions with ReLU, 2×2
//! max-pools after the first three, a global average and a linear layer to
//! [`CLASSIFIER_OUTPUTS`] logits: about 84 000 parameters, 2.1 M multiply-adds a crop. Convolutions run channels-last as one matrix product over the nine
//! shifted copies of the input (candle's dense convolutions are slow to train on the CPU).

use crate::error::Result;
use crate::image_input::bilinear;
use crate::input::PAD_VALUE;
use crate::sign_head::SIGN_CLASSES;
use candle_core::{Device, Tensor, D};
use candle_nn::{init, Init, Linear, Module, VarBuilder};
use image::{Rgb, RgbImage};

/// Side of the square crop the network takes, pixels.
pub const CROP_SIZE: u32 = 24;
/// Context around the box, as a share of its longer side, on each side.
pub const CROP_MARGIN: f32 = 0.15;
/// Crops are never smaller than this in the image (pixels), so a tiny box still shows
/// its surroundings.
pub const MIN_CROP_SIDE: f32 = 8.0;
/// The output that says "not a sign", after the 43 classes.
pub const NOT_A_SIGN: usize = SIGN_CLASSES;
/// 43 classes and "not a sign".
pub const CLASSIFIER_OUTPUTS: usize = SIGN_CLASSES + 1;
/// (input channels, output channels, max-pool after) of each convolution.
const CONVOLUTIONS: [(usize, usize, bool); 4] = [
    (3, 16, true),
    (16, 32, true),
    (32, 64, true),
    (64, 96, false),
];

/// The square region of the image a box is classified on: `[left, top, side]`, pixels
/// (pixel-border coordinates, as boxes are).
pub fn crop_region(bbox: [f32; 4]) -> [f32; 3] {
    let [left, top, right, bottom] = bbox;
    let longer = (right - left).max(bottom - top).max(0.0);
    let side = (longer * (1.0 + 2.0 * CROP_MARGIN)).max(MIN_CROP_SIDE);
    let centre = [(left + right) / 2.0, (top + bottom) / 2.0];
    [centre[0] - side / 2.0, centre[1] - side / 2.0, side]
}

/// The [`CROP_SIZE`]² picture the classifier sees of a box. Each output pixel averages
/// bilinear samples over its footprint in the image (one sample when enlarging, up to 4×4
/// when shrinking), so a large sign does not alias; samples outside the image are
/// [`PAD_VALUE`] grey.
pub fn crop_pixels(image: &RgbImage, bbox: [f32; 4]) -> RgbImage {
    let [left, top, side] = crop_region(bbox);
    let step = side / CROP_SIZE as f32;
    let samples = step.ceil().clamp(1.0, 4.0) as u32;
    let (width, height) = (image.width() as f32, image.height() as f32);
    let sample = |x: f32, y: f32| -> [f32; 3] {
        // (x, y) in pixel-border coordinates; pixel centres sit at +0.5.
        let (u, v) = (x - 0.5, y - 0.5);
        if u < -0.5 || v < -0.5 || u > width - 0.5 || v > height - 0.5 {
            return [f32::from(PAD_VALUE); 3];
        }
        bilinear(image, u.clamp(0.0, width - 1.0), v.clamp(0.0, height - 1.0))
    };
    RgbImage::from_fn(CROP_SIZE, CROP_SIZE, |cx, cy| {
        let mut sum = [0f32; 3];
        for sy in 0..samples {
            for sx in 0..samples {
                let x = left + step * (cx as f32 + (sx as f32 + 0.5) / samples as f32);
                let y = top + step * (cy as f32 + (sy as f32 + 0.5) / samples as f32);
                let value = sample(x, y);
                for k in 0..3 {
                    sum[k] += value[k];
                }
            }
        }
        let count = (samples * samples) as f32;
        Rgb(sum.map(|s| (s / count).round().clamp(0.0, 255.0) as u8))
    })
}

/// Crops as the network's input: (N, [`CROP_SIZE`], [`CROP_SIZE`], 3), channels last,
/// `(x − 127) / 128`.
pub fn crops_tensor(crops: &[RgbImage]) -> Result<Tensor> {
    let side = CROP_SIZE as usize;
    let values: Vec<f32> = crops
        .iter()
        .flat_map(|crop| {
            debug_assert_eq!(crop.dimensions(), (CROP_SIZE, CROP_SIZE));
            crop.as_raw()
                .iter()
                .map(|&v| (f32::from(v) - f32::from(PAD_VALUE)) / 128.0)
        })
        .collect();
    Ok(Tensor::from_vec(
        values,
        (crops.len(), side, side, 3),
        &Device::Cpu,
    )?)
}

/// A 3×3 convolution (stride 1, zero padding 1) with bias and ReLU, channels last; the
/// weight is held as (out, 9 · in), the nine taps row by row, each `in` channels wide.
#[derive(Debug, Clone)]
struct Conv3x3 {
    weight: Tensor,
    bias: Tensor,
}

impl Conv3x3 {
    fn load(vb: VarBuilder, inputs: usize, outputs: usize) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(
                (outputs, 9 * inputs),
                "weight",
                init::DEFAULT_KAIMING_NORMAL,
            )?,
            bias: vb.get_with_hints(outputs, "bias", init::ZERO)?,
        })
    }

    /// (N, H, W, in) → (N, H, W, out).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, h, w, channels) = x.dims4()?;
        let padded = x.pad_with_zeros(1, 1, 1)?.pad_with_zeros(2, 1, 1)?;
        let taps = (0..3)
            .flat_map(|dy| (0..3).map(move |dx| (dy, dx)))
            .map(|(dy, dx)| padded.narrow(1, dy, h)?.narrow(2, dx, w))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let columns = Tensor::cat(&taps, 3)?.reshape((n * h * w, 9 * channels))?;
        let y = columns
            .matmul(&self.weight.t()?)?
            .broadcast_add(&self.bias)?
            .relu()?;
        Ok(y.reshape((n, h, w, self.weight.dim(0)?))?)
    }
}

/// 2×2 max-pool, channels last (sides must be even).
fn max_pool2(x: &Tensor) -> Result<Tensor> {
    let (n, h, w, c) = x.dims4()?;
    Ok(x.reshape((n, h / 2, 2, w / 2, 2, c))?.max(4)?.max(2)?)
}

/// The crop classifier (tensors `conv.{0..3}.{weight,bias}`, `output.{weight,bias}` under
/// its prefix).
#[derive(Debug, Clone)]
pub struct SignClassifier {
    convolutions: Vec<(Conv3x3, bool)>,
    output: Linear,
}

impl SignClassifier {
    pub fn load(vb: VarBuilder) -> Result<Self> {
        let convolutions = CONVOLUTIONS
            .iter()
            .enumerate()
            .map(|(index, &(inputs, outputs, pool))| {
                Ok((
                    Conv3x3::load(vb.pp(format!("conv.{index}")), inputs, outputs)?,
                    pool,
                ))
            })
            .collect::<Result<_>>()?;
        let features = CONVOLUTIONS[CONVOLUTIONS.len() - 1].1;
        let output = vb.pp("output");
        let weight = output.get_with_hints(
            (CLASSIFIER_OUTPUTS, features),
            "weight",
            Init::Randn {
                mean: 0.0,
                stdev: 0.01,
            },
        )?;
        let bias = output.get_with_hints(CLASSIFIER_OUTPUTS, "bias", init::ZERO)?;
        Ok(Self {
            convolutions,
            output: Linear::new(weight, Some(bias)),
        })
    }

    /// Crops from [`crops_tensor`] → (N, [`CLASSIFIER_OUTPUTS`]) logits.
    pub fn forward(&self, crops: &Tensor) -> Result<Tensor> {
        let mut x = crops.clone();
        for (convolution, pool) in &self.convolutions {
            x = convolution.forward(&x)?;
            if *pool {
                x = max_pool2(&x)?;
            }
        }
        let pooled = x.mean((1, 2))?;
        Ok(self.output.forward(&pooled)?)
    }

    /// Class probabilities (softmax of [`Self::forward`]), one row per crop.
    pub fn probabilities(&self, crops: &Tensor) -> Result<Vec<Vec<f32>>> {
        let logits = self.forward(crops)?;
        Ok(candle_nn::ops::softmax(&logits, D::Minus1)?.to_vec2()?)
    }
}

/// What the classifier says of one crop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// The most likely of the 43 classes.
    pub class: u8,
    /// Its probability.
    pub probability: f32,
    /// Whether "not a sign" is more likely than every class.
    pub rejected: bool,
}

impl Verdict {
    /// The verdict of one row of [`SignClassifier::probabilities`].
    pub fn of(probabilities: &[f32]) -> Self {
        let (class, &probability) = probabilities[..SIGN_CLASSES]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .expect("43 classes");
        Self {
            class: class as u8,
            probability,
            rejected: probabilities[NOT_A_SIGN] >= probability,
        }
    }

    /// The score a classified sign is reported with: the geometric mean of the sign
    /// head's score and the class probability, so that either being low makes it low.
    pub fn combined_score(&self, head_score: f32) -> f32 {
        (head_score.max(0.0) * self.probability).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use candle_nn::VarMap;

    const S: u32 = CROP_SIZE;

    /// A 100×60 image: left half red, right half blue.
    fn halves() -> RgbImage {
        RgbImage::from_fn(100, 60, |x, _| {
            if x < 50 {
                Rgb([250, 0, 0])
            } else {
                Rgb([0, 0, 250])
            }
        })
    }

    #[test]
    fn a_crop_is_square_with_margin_and_tiny_boxes_keep_a_minimum_side() {
        let [left, top, side] = crop_region([10.0, 20.0, 30.0, 30.0]);
        assert!((side - 20.0 * 1.3).abs() < 1e-4);
        assert!((left + side / 2.0 - 20.0).abs() < 1e-4 && (top + side / 2.0 - 25.0).abs() < 1e-4);
        assert_eq!(crop_region([5.0, 5.0, 6.0, 6.5])[2], MIN_CROP_SIDE);
        let crop = crop_pixels(&halves(), [40.0, 30.0, 41.0, 31.0]);
        assert_eq!(crop.dimensions(), (CROP_SIZE, CROP_SIZE));
        // A 1-pixel box at x = 40 shows red on both sides: its 8-pixel crop spans 36.5‥44.5.
        assert_eq!(crop.get_pixel(0, S / 2).0, [250, 0, 0]);
        assert_eq!(crop.get_pixel(S - 1, S / 2).0, [250, 0, 0]);
    }

    #[test]
    fn a_box_at_the_border_is_padded_where_it_leaves_the_picture() {
        // Centred on the top-left corner: the crop's top-left quarter is outside.
        let crop = crop_pixels(&halves(), [-10.0, -10.0, 10.0, 10.0]);
        assert_eq!(crop.get_pixel(2, 2).0, [PAD_VALUE; 3]);
        assert_eq!(crop.get_pixel(2, S - 3).0, [PAD_VALUE; 3]);
        assert_eq!(crop.get_pixel(S - 3, S - 3).0, [250, 0, 0]);
        // Straddling the colour edge, the large box shrinks with averaging, not aliasing.
        let crop = crop_pixels(&halves(), [20.0, 0.0, 80.0, 60.0]);
        assert_eq!(crop.get_pixel(5, S / 2).0, [250, 0, 0]);
        assert_eq!(crop.get_pixel(S - 6, S / 2).0, [0, 0, 250]);
        let tensor = crops_tensor(&[crop.clone(), crop]).unwrap();
        let side = S as usize;
        assert_eq!(tensor.dims(), &[2, side, side, 3]);
        let values: Vec<f32> = tensor.flatten_all().unwrap().to_vec1().unwrap();
        // Middle row, column 5, red: channels last, (x − 127) / 128.
        assert!((values[(side / 2 * side + 5) * 3] - (250.0 - 127.0) / 128.0).abs() < 1e-6);
    }

    #[test]
    fn the_classifier_gives_44_logits_per_crop_and_verdicts_follow_them() {
        let vars = VarMap::new();
        let classifier =
            SignClassifier::load(VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu)).unwrap();
        let parameters: usize = vars.all_vars().iter().map(|v| v.elem_count()).sum();
        assert!((50_000..300_000).contains(&parameters), "{parameters}");
        let crops =
            crops_tensor(&vec![crop_pixels(&halves(), [20.0, 10.0, 40.0, 30.0]); 3]).unwrap();
        assert_eq!(
            classifier.forward(&crops).unwrap().dims(),
            &[3, CLASSIFIER_OUTPUTS]
        );
        let rows = classifier.probabilities(&crops).unwrap();
        assert!(rows
            .iter()
            .all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-4));

        let mut row = vec![0.0; CLASSIFIER_OUTPUTS];
        row[14] = 0.7;
        row[NOT_A_SIGN] = 0.3;
        let verdict = Verdict::of(&row);
        assert_eq!((verdict.class, verdict.rejected), (14, false));
        assert!((verdict.combined_score(0.7) - 0.7).abs() < 1e-6);
        row[NOT_A_SIGN] = 0.7;
        assert!(Verdict::of(&row).rejected);
    }
}
