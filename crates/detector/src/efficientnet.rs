//! EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant for mobile CPUs: no
//! squeeze-and-excitation, ReLU6, fixed stem and head) as a plain struct with `load` and
//! `forward`.
//!
//! The weights are the batch-norm-folded ones written by [`crate::import`]: every
//! convolution has a bias and no normalisation follows it. Inputs are RGB in 0‥255; the
//! network normalises them as (x − 127) / 128 like the TensorFlow original, and pads as
//! TensorFlow's "SAME" does (odd padding after the data).

use crate::error::{DetectorError, Result};
use crate::ops::{bias_activation, depthwise_conv2d, same_padding, Activation};
use candle_core::{Module, Tensor, D};
use candle_nn::VarBuilder;

/// One stage of MBConv blocks: how many, kernel size, stride of the first block, channel
/// expansion, and output channels.
struct Stage {
    repeats: usize,
    kernel: usize,
    stride: usize,
    expansion: usize,
    out_channels: usize,
}

const STEM_CHANNELS: usize = 32;
const HEAD_CHANNELS: usize = 1280;
/// ImageNet classes of the pretrained classifier.
pub const IMAGENET_CLASSES: usize = 1000;
/// Side of the square images the classifier was trained on.
pub const IMAGENET_SIZE: u32 = 224;

const STAGES: [Stage; 7] = [
    Stage {
        repeats: 1,
        kernel: 3,
        stride: 1,
        expansion: 1,
        out_channels: 16,
    },
    Stage {
        repeats: 2,
        kernel: 3,
        stride: 2,
        expansion: 6,
        out_channels: 24,
    },
    Stage {
        repeats: 2,
        kernel: 5,
        stride: 2,
        expansion: 6,
        out_channels: 40,
    },
    Stage {
        repeats: 3,
        kernel: 3,
        stride: 2,
        expansion: 6,
        out_channels: 80,
    },
    Stage {
        repeats: 3,
        kernel: 5,
        stride: 1,
        expansion: 6,
        out_channels: 112,
    },
    Stage {
        repeats: 4,
        kernel: 5,
        stride: 2,
        expansion: 6,
        out_channels: 192,
    },
    Stage {
        repeats: 1,
        kernel: 3,
        stride: 1,
        expansion: 6,
        out_channels: 320,
    },
];

/// Stages whose output is a feature map for the heads, with that map's stride.
const FEATURE_STAGES: [(usize, usize); 3] = [(2, 8), (4, 16), (6, 32)];

/// How convolutions are computed. Both give the same numbers; `Candle` exists to measure
/// and test the fast path against candle's own `conv2d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kernels {
    /// Direct depthwise kernel, 1×1 convolutions and the stem as matrix products.
    #[default]
    Fast,
    /// candle's `conv2d` for every convolution (depthwise as `groups = C`).
    Candle,
}

/// Multi-scale feature maps, each (B, C, H/stride, W/stride).
#[derive(Debug, Clone)]
pub struct Features {
    /// Stride 8, 40 channels.
    pub stride8: Tensor,
    /// Stride 16, 112 channels.
    pub stride16: Tensor,
    /// Stride 32, 320 channels.
    pub stride32: Tensor,
}

/// Channel counts of [`Features`], for building heads.
pub const FEATURE_CHANNELS: [usize; 3] = [40, 112, 320];

/// A convolution with its folded bias; `weight` is (out, in / groups, k, k).
#[derive(Debug, Clone)]
struct Conv {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
}

impl Conv {
    fn load(vb: &VarBuilder, name: &str, shape: [usize; 4], stride: usize) -> Result<Self> {
        let vb = vb.pp(name);
        Ok(Self {
            weight: tensor(&vb, "weight", &shape)?,
            bias: tensor(&vb, "bias", &shape[..1])?,
            stride,
        })
    }

    fn kernel(&self) -> usize {
        self.weight.dims()[3]
    }

    /// Pads the input the way TensorFlow's SAME does, for candle's symmetric `conv2d`.
    fn pad_same(&self, x: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let (top, bottom) = same_padding(h, self.kernel(), self.stride);
        let (left, right) = same_padding(w, self.kernel(), self.stride);
        Ok(x.pad_with_zeros(2, top, bottom)?
            .pad_with_zeros(3, left, right)?)
    }

    /// Convolution through candle's `conv2d` (every layer in `Kernels::Candle`).
    fn candle_conv(&self, x: &Tensor, groups: usize, activation: Activation) -> Result<Tensor> {
        let y = self
            .pad_same(x)?
            .conv2d(&self.weight, 0, self.stride, 1, groups)?;
        let y = y.broadcast_add(&self.bias.reshape((1, (), 1, 1))?)?;
        Ok(match activation {
            Activation::Identity => y,
            Activation::Relu6 => y.clamp(0f32, 6f32)?,
        })
    }

    fn pointwise(&self, x: &Tensor, kernels: Kernels, activation: Activation) -> Result<Tensor> {
        match kernels {
            Kernels::Candle => self.candle_conv(x, 1, activation),
            Kernels::Fast => {
                // A 1×1 convolution is (out, in) · (in, H·W) for each image.
                let (batch, channels, h, w) = x.dims4()?;
                let (out, _, _, _) = self.weight.dims4()?;
                let matrix = self.weight.reshape((1, out, channels))?;
                let pixels = x.reshape((batch, channels, h * w))?;
                let y = matrix.broadcast_matmul(&pixels)?;
                let y = bias_activation(&y, &self.bias, activation)?;
                Ok(y.reshape((batch, out, h, w))?)
            }
        }
    }

    /// A dense convolution as one matrix product over the input's patches (im2col): the
    /// (out, in·k²) weights times the (in·k², H'·W') patch columns come out channel-major,
    /// as the next layer wants them (candle's `conv2d` scatters its result into that layout
    /// one value at a time, which cost more than the arithmetic for the stem). For few input
    /// channels, where the columns stay small.
    fn dense_as_matmul(&self, x: &Tensor, activation: Activation) -> Result<Tensor> {
        let (batch, channels, h, w) = x.dims4()?;
        let (out, _, k, _) = self.weight.dims4()?;
        let s = self.stride;
        let (out_h, out_w) = (h.div_ceil(s), w.div_ceil(s));
        // SAME padding, then more zeros after so that both sides split into whole strides
        // and every tap's rows (columns) are one parity of a block of s: row
        // ky + s·y = s·(y + ky / s) + ky % s.
        let (top, _) = same_padding(h, k, s);
        let (left, _) = same_padding(w, k, s);
        let blocks_h = out_h + (k - 1) / s + 1;
        let blocks_w = out_w + (k - 1) / s + 1;
        let padded = x
            .pad_with_zeros(2, top, s * blocks_h - h - top)?
            .pad_with_zeros(3, left, s * blocks_w - w - left)?
            .reshape((batch, channels, blocks_h, s, blocks_w, s))?;
        let mut taps = Vec::with_capacity(k * k);
        for ky in 0..k {
            for kx in 0..k {
                taps.push(
                    padded
                        .narrow(2, ky / s, out_h)?
                        .narrow(3, ky % s, 1)?
                        .narrow(4, kx / s, out_w)?
                        .narrow(5, kx % s, 1)?
                        .reshape((batch, channels, 1, out_h, out_w))?,
                );
            }
        }
        // (B, C, k², H', W'): patch rows ordered as the weight's (in, ky, kx).
        let columns = Tensor::cat(&taps, 2)?.reshape((batch, channels * k * k, out_h * out_w))?;
        let matrix = self.weight.reshape((1, out, channels * k * k))?;
        let y = matrix.broadcast_matmul(&columns)?;
        let y = bias_activation(&y, &self.bias, activation)?;
        Ok(y.reshape((batch, out, out_h, out_w))?)
    }

    fn depthwise(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        match kernels {
            Kernels::Candle => self.candle_conv(x, x.dim(1)?, Activation::Relu6),
            Kernels::Fast => Ok(depthwise_conv2d(
                x,
                &self.weight,
                &self.bias,
                self.stride,
                Activation::Relu6,
            )?),
        }
    }
}

/// Inverted residual block: 1×1 expansion, depthwise k×k, 1×1 linear projection, and a
/// skip connection when shapes allow.
#[derive(Debug, Clone)]
struct MbConv {
    expand: Option<Conv>,
    depthwise: Conv,
    project: Conv,
    residual: bool,
}

impl MbConv {
    fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        let expanded = match &self.expand {
            Some(expand) => expand.pointwise(x, kernels, Activation::Relu6)?,
            None => x.clone(),
        };
        let spatial = self.depthwise.depthwise(&expanded, kernels)?;
        let projected = self
            .project
            .pointwise(&spatial, kernels, Activation::Identity)?;
        Ok(if self.residual {
            (projected + x)?
        } else {
            projected
        })
    }
}

/// The pretrained backbone with its ImageNet classifier.
#[derive(Debug, Clone)]
pub struct EfficientNetLite0 {
    stem: Conv,
    /// Blocks grouped by stage.
    stages: Vec<Vec<MbConv>>,
    head: Conv,
    classifier: candle_nn::Linear,
    kernels: Kernels,
}

impl EfficientNetLite0 {
    /// Loads the folded weights (names as [`crate::import::fold_batch_norm`] writes them),
    /// checking that every tensor is present with its expected shape.
    pub fn load(vb: VarBuilder) -> Result<Self> {
        let stem = Conv::load(&vb, "stem", [STEM_CHANNELS, 3, 3, 3], 2)?;
        let mut stages = Vec::with_capacity(STAGES.len());
        let mut in_channels = STEM_CHANNELS;
        let mut index = 0;
        for stage in &STAGES {
            let mut blocks = Vec::with_capacity(stage.repeats);
            for repeat in 0..stage.repeats {
                let vb = vb.pp(format!("blocks.{index}"));
                let stride = if repeat == 0 { stage.stride } else { 1 };
                let wide = in_channels * stage.expansion;
                let k = stage.kernel;
                let expand = (stage.expansion != 1)
                    .then(|| Conv::load(&vb, "expand", [wide, in_channels, 1, 1], 1))
                    .transpose()?;
                blocks.push(MbConv {
                    expand,
                    depthwise: Conv::load(&vb, "depthwise", [wide, 1, k, k], stride)?,
                    project: Conv::load(&vb, "project", [stage.out_channels, wide, 1, 1], 1)?,
                    residual: stride == 1 && in_channels == stage.out_channels,
                });
                in_channels = stage.out_channels;
                index += 1;
            }
            stages.push(blocks);
        }
        let head = Conv::load(&vb, "head", [HEAD_CHANNELS, in_channels, 1, 1], 1)?;
        let classifier_vb = vb.pp("classifier");
        let classifier = candle_nn::Linear::new(
            tensor(&classifier_vb, "weight", &[IMAGENET_CLASSES, HEAD_CHANNELS])?,
            Some(tensor(&classifier_vb, "bias", &[IMAGENET_CLASSES])?),
        );
        Ok(Self {
            stem,
            stages,
            head,
            classifier,
            kernels: Kernels::default(),
        })
    }

    /// Loads the network from a safetensors file written by [`crate::import_backbone`].
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let tensors =
            candle_core::safetensors::load(path, &candle_core::Device::Cpu).map_err(|error| {
                DetectorError::Checkpoint {
                    path: path.to_owned(),
                    reason: error.to_string(),
                }
            })?;
        Self::load(VarBuilder::from_tensors(
            tensors,
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        ))
    }

    /// The `count` most probable ImageNet classes of a single image (1, 3, H, W), with
    /// their softmax probabilities, most probable first.
    pub fn top_classes(&self, image: &Tensor, count: usize) -> Result<Vec<(usize, f32)>> {
        let logits = self.classify(image)?;
        let probabilities = candle_nn::ops::softmax_last_dim(&logits)?
            .squeeze(0)?
            .to_vec1::<f32>()?;
        let mut ranked: Vec<(usize, f32)> = probabilities.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        ranked.truncate(count);
        Ok(ranked)
    }

    /// Weight and bias tensors the network holds.
    pub fn tensor_count(&self) -> usize {
        let convolutions = 1
            + self
                .stages
                .iter()
                .flatten()
                .map(|b| 2 + usize::from(b.expand.is_some()))
                .sum::<usize>()
            + 1;
        2 * convolutions + 2
    }

    /// The same network computing with other kernels.
    pub fn with_kernels(mut self, kernels: Kernels) -> Self {
        self.kernels = kernels;
        self
    }

    /// Feature maps at strides 8, 16 and 32 of a (B, 3, H, W) RGB batch in 0‥255.
    pub fn forward(&self, images: &Tensor) -> Result<Features> {
        let mut x = self.stem_forward(images)?;
        let mut taps = Vec::with_capacity(FEATURE_STAGES.len());
        for (index, stage) in self.stages.iter().enumerate() {
            for block in stage {
                x = block.forward(&x, self.kernels)?;
            }
            if FEATURE_STAGES.iter().any(|&(tap, _)| tap == index) {
                taps.push(x.clone());
            }
        }
        let [stride8, stride16, stride32]: [Tensor; 3] = taps
            .try_into()
            .map_err(|_| DetectorError::Input("feature stages out of step".into()))?;
        Ok(Features {
            stride8,
            stride16,
            stride32,
        })
    }

    /// ImageNet logits (B, 1000) of a (B, 3, H, W) RGB batch in 0‥255 (224×224 is the
    /// training size).
    pub fn classify(&self, images: &Tensor) -> Result<Tensor> {
        let top = self.forward(images)?.stride32;
        let head = self.head.pointwise(&top, self.kernels, Activation::Relu6)?;
        let pooled = head.mean(D::Minus1)?.mean(D::Minus1)?;
        Ok(self.classifier.forward(&pooled)?)
    }

    fn stem_forward(&self, images: &Tensor) -> Result<Tensor> {
        let (_, channels, _, _) = images.dims4().map_err(|_| {
            DetectorError::Input(format!("images {:?}, expected (B, 3, H, W)", images.dims()))
        })?;
        if channels != 3 {
            return Err(DetectorError::Input(format!(
                "{channels} colour channels, expected 3 (RGB)"
            )));
        }
        let normalised = ((images - 127.0)? / 128.0)?;
        match self.kernels {
            Kernels::Fast => self.stem.dense_as_matmul(&normalised, Activation::Relu6),
            Kernels::Candle => self.stem.candle_conv(&normalised, 1, Activation::Relu6),
        }
    }
}

/// Fetches a tensor by name and checks its shape, with typed errors for both.
fn tensor(vb: &VarBuilder, name: &str, shape: &[usize]) -> Result<Tensor> {
    let full_name = format!("{}.{name}", vb.prefix());
    if !vb.contains_tensor(name) {
        return Err(DetectorError::MissingTensor { name: full_name });
    }
    let tensor = vb.get_unchecked(name)?;
    if tensor.dims() != shape {
        return Err(DetectorError::ShapeMismatch {
            name: full_name,
            expected: shape.to_vec(),
            found: tensor.dims().to_vec(),
        });
    }
    Ok(tensor)
}
