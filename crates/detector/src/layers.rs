//! The building blocks both heads are made of, on the fast kernels of `ops.rs` (forward
//! and backward): a 1×1 convolution run as a matrix product, and a depthwise-separable
//! block. candle's dense convolutions would cost about a second per image in their
//! backward pass here.

use crate::error::Result;
use crate::ops::{bias_activation, depthwise_conv2d, Activation};
use candle_core::Tensor;
use candle_nn::{init, Init, VarBuilder};

/// A 1×1 convolution held as an (out, in) matrix.
#[derive(Debug, Clone)]
pub(crate) struct Pointwise {
    weight: Tensor,
    bias: Tensor,
}

impl Pointwise {
    /// `weight` and `bias` say how new variables start (a loaded model ignores them).
    pub(crate) fn load(
        vb: VarBuilder,
        inputs: usize,
        outputs: usize,
        weight: Init,
        bias: Init,
    ) -> Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints((outputs, inputs), "weight", weight)?,
            bias: vb.get_with_hints(outputs, "bias", bias)?,
        })
    }

    /// (B, in, H, W) → (B, out, H, W).
    pub(crate) fn forward(&self, x: &Tensor, activation: Activation) -> Result<Tensor> {
        let (batch, channels, h, w) = x.dims4()?;
        let outputs = self.weight.dim(0)?;
        let pixels = x.reshape((batch, channels, h * w))?;
        let y = self.weight.unsqueeze(0)?.broadcast_matmul(&pixels)?;
        Ok(bias_activation(&y, &self.bias, activation)?.reshape((batch, outputs, h, w))?)
    }
}

/// Depthwise k×k (stride 1, SAME padding) then a 1×1 convolution, each with bias and
/// ReLU6. No skip connection: at two blocks a head trains without one, and candle's
/// elementwise add would cost more than the block.
#[derive(Debug, Clone)]
pub(crate) struct SeparableBlock {
    depthwise_weight: Tensor,
    depthwise_bias: Tensor,
    pointwise: Pointwise,
}

impl SeparableBlock {
    /// Variables `depthwise.{weight,bias}` and `pointwise.{weight,bias}`, Kaiming-normal
    /// weights and zero biases when new.
    pub(crate) fn load(vb: VarBuilder, channels: usize, kernel: usize) -> Result<Self> {
        Ok(Self {
            depthwise_weight: vb.get_with_hints(
                (channels, 1, kernel, kernel),
                "depthwise.weight",
                init::DEFAULT_KAIMING_NORMAL,
            )?,
            depthwise_bias: vb.get_with_hints(channels, "depthwise.bias", init::ZERO)?,
            pointwise: Pointwise::load(
                vb.pp("pointwise"),
                channels,
                channels,
                init::DEFAULT_KAIMING_NORMAL,
                init::ZERO,
            )?,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let spatial = depthwise_conv2d(
            x,
            &self.depthwise_weight,
            &self.depthwise_bias,
            1,
            Activation::Relu6,
        )?;
        self.pointwise.forward(&spatial, Activation::Relu6)
    }
}
