//! Fast CPU kernels as candle custom ops.
//!
//! candle runs a grouped convolution with `groups = C` as C separate one-channel
//! convolutions, one after another, each repacked through im2col: on EfficientNet's
//! depthwise layers that is about fifty times slower than looping over the kernel taps
//! directly. [`depthwise_conv2d`] does the direct loop, one channel plane per task,
//! with TensorFlow "SAME" padding, bias and ReLU6 fused into the same pass, and carries its
//! own backward pass so that these layers can be fine-tuned. [`bias_activation`] fuses the
//! bias and ReLU6 that follow a 1×1 convolution run as a matrix product.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

/// The non-linearity applied after a convolution's bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    /// min(max(x, 0), 6), the quantisation-friendly activation of EfficientNet-Lite.
    Relu6,
}

impl Activation {
    fn apply(self, value: f32) -> f32 {
        match self {
            Activation::Identity => value,
            Activation::Relu6 => value.clamp(0.0, 6.0),
        }
    }

    /// Derivative factor from the activation's output: ReLU6 passes gradient only where it
    /// was neither clipped at 0 nor at 6.
    fn passes_gradient(self, output: f32) -> bool {
        match self {
            Activation::Identity => true,
            Activation::Relu6 => output > 0.0 && output < 6.0,
        }
    }
}

/// TensorFlow "SAME" padding along one axis: the output has ⌈size / stride⌉ samples, and
/// any odd padding goes after the data (bottom, right), not before.
pub fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out.saturating_sub(1)) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

/// Depthwise convolution with SAME padding, then bias and activation.
///
/// `input` is (B, C, H, W), `weight` (C, 1, k, k), `bias` (C); the result is
/// (B, C, ⌈H/s⌉, ⌈W/s⌉). f32 on the CPU only.
pub fn depthwise_conv2d(
    input: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    activation: Activation,
) -> candle_core::Result<Tensor> {
    let (batch, channels, in_h, in_w) = input.dims4()?;
    let (weight_channels, one, kernel, kernel_w) = weight.dims4()?;
    if weight_channels != channels || one != 1 || kernel != kernel_w {
        bail!(
            "depthwise weight {:?} does not fit input {:?}",
            weight.dims(),
            input.dims()
        );
    }
    if bias.dims() != [channels] {
        bail!("depthwise bias {:?} for {channels} channels", bias.dims());
    }
    if stride == 0 {
        bail!("depthwise stride must be positive");
    }
    let op = DepthwiseConv {
        geometry: Geometry::new(batch, channels, in_h, in_w, kernel, stride),
        activation,
    };
    input
        .contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)
}

/// Adds a per-channel bias to (B, C, …) and applies the activation, in one pass.
pub fn bias_activation(
    input: &Tensor,
    bias: &Tensor,
    activation: Activation,
) -> candle_core::Result<Tensor> {
    let channels = input.dim(1)?;
    if bias.dims() != [channels] {
        bail!("bias {:?} for {channels} channels", bias.dims());
    }
    input
        .contiguous()?
        .apply_op2(&bias.contiguous()?, BiasActivation { activation })
}

/// Shapes of one depthwise convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    channels: usize,
    in_h: usize,
    in_w: usize,
    kernel: usize,
    stride: usize,
    pad_top: usize,
    pad_left: usize,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn new(
        batch: usize,
        channels: usize,
        in_h: usize,
        in_w: usize,
        kernel: usize,
        stride: usize,
    ) -> Self {
        Self {
            batch,
            channels,
            in_h,
            in_w,
            kernel,
            stride,
            pad_top: same_padding(in_h, kernel, stride).0,
            pad_left: same_padding(in_w, kernel, stride).0,
            out_h: in_h.div_ceil(stride),
            out_w: in_w.div_ceil(stride),
        }
    }

    fn in_plane(&self) -> usize {
        self.in_h * self.in_w
    }

    fn out_plane(&self) -> usize {
        self.out_h * self.out_w
    }

    fn taps(&self) -> usize {
        self.kernel * self.kernel
    }

    /// Output columns whose kernel column `tap_x` lands inside the image.
    fn valid_columns(&self, tap_x: usize) -> std::ops::Range<usize> {
        let first = self.pad_left.saturating_sub(tap_x).div_ceil(self.stride);
        let reach = self.in_w + self.pad_left;
        let end = if reach > tap_x {
            ((reach - tap_x - 1) / self.stride + 1).min(self.out_w)
        } else {
            0
        };
        first..end.max(first)
    }

    /// Calls `visit` once per output row and kernel tap with the run of output samples that
    /// tap touches inside the image: output `out_start + j` reads input
    /// `in_start + j·stride` through weight `tap`, for j < `len`. Forward and backward
    /// passes are all sums over these runs.
    fn for_each_run(&self, mut visit: impl FnMut(Run)) {
        let columns: Vec<_> = (0..self.kernel)
            .map(|tap_x| self.valid_columns(tap_x))
            .collect();
        for out_y in 0..self.out_h {
            for tap_y in 0..self.kernel {
                let Some(in_y) = (out_y * self.stride + tap_y)
                    .checked_sub(self.pad_top)
                    .filter(|&row| row < self.in_h)
                else {
                    continue;
                };
                for (tap_x, columns) in columns.iter().enumerate() {
                    if columns.is_empty() {
                        continue;
                    }
                    visit(Run {
                        out_start: out_y * self.out_w + columns.start,
                        in_start: in_y * self.in_w + columns.start * self.stride + tap_x
                            - self.pad_left,
                        len: columns.len(),
                        tap: tap_y * self.kernel + tap_x,
                    });
                }
            }
        }
    }

    /// out += depthwise(input) over one channel plane.
    fn forward_plane(&self, input: &[f32], weight: &[f32], out: &mut [f32]) {
        let stride = self.stride;
        self.for_each_run(|run| {
            let w = weight[run.tap];
            let out = &mut out[run.out_start..][..run.len];
            if stride == 1 {
                // Contiguous on both sides: the compiler vectorises this.
                let input = &input[run.in_start..][..run.len];
                for (o, i) in out.iter_mut().zip(input) {
                    *o += w * i;
                }
            } else {
                // Sliced to the run's extent so the indexing below needs no bounds checks.
                let input = &input[run.in_start..][..(run.len - 1) * stride + 1];
                for (j, o) in out.iter_mut().enumerate() {
                    *o += w * input[j * stride];
                }
            }
        });
    }

    /// Kernel gradient of one plane: ∂L/∂w[tap] += Σ g[out] · input[in].
    fn weight_gradient_plane(&self, input: &[f32], grad: &[f32], grad_weight: &mut [f32]) {
        self.for_each_run(|run| {
            let input = input[run.in_start..].iter().step_by(self.stride);
            let grad = &grad[run.out_start..][..run.len];
            grad_weight[run.tap] += grad.iter().zip(input).map(|(g, i)| g * i).sum::<f32>();
        });
    }

    /// Input gradient of one plane: ∂L/∂input[in] += w[tap] · g[out].
    fn input_gradient_plane(&self, weight: &[f32], grad: &[f32], grad_input: &mut [f32]) {
        self.for_each_run(|run| {
            let w = weight[run.tap];
            let grad = &grad[run.out_start..][..run.len];
            let targets = grad_input[run.in_start..].iter_mut().step_by(self.stride);
            for (target, g) in targets.zip(grad) {
                *target += w * g;
            }
        });
    }
}

/// One run of output samples sharing an input row and a kernel tap.
struct Run {
    out_start: usize,
    in_start: usize,
    len: usize,
    tap: usize,
}

/// Contiguous f32 data of a custom op's argument.
fn f32_data<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        bail!("custom op argument must be contiguous");
    };
    Ok(&storage.as_slice::<f32>()?[start..end])
}

struct DepthwiseConv {
    geometry: Geometry,
    activation: Activation,
}

impl CustomOp3 for DepthwiseConv {
    fn name(&self) -> &'static str {
        "depthwise-conv2d"
    }

    fn cpu_fwd(
        &self,
        input: &CpuStorage,
        input_layout: &Layout,
        weight: &CpuStorage,
        weight_layout: &Layout,
        bias: &CpuStorage,
        bias_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = self.geometry;
        let input = f32_data(input, input_layout)?;
        let weight = f32_data(weight, weight_layout)?;
        let bias = f32_data(bias, bias_layout)?;
        let mut out = vec![0f32; g.batch * g.channels * g.out_plane()];
        out.par_chunks_mut(g.out_plane())
            .zip(input.par_chunks(g.in_plane()))
            .enumerate()
            .for_each(|(plane, (out, input))| {
                let channel = plane % g.channels;
                out.fill(bias[channel]);
                g.forward_plane(input, &weight[channel * g.taps()..][..g.taps()], out);
                if self.activation != Activation::Identity {
                    out.iter_mut().for_each(|v| *v = self.activation.apply(*v));
                }
            });
        let shape = Shape::from((g.batch, g.channels, g.out_h, g.out_w));
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(
        &self,
        input: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = self.geometry;
        let grad = activation_gradient(self.activation, output, grad_output)?;
        let input_data = input.flatten_all()?.to_vec1::<f32>()?;
        let weight_data = weight.flatten_all()?.to_vec1::<f32>()?;

        let mut grad_input = vec![0f32; input_data.len()];
        grad_input
            .par_chunks_mut(g.in_plane())
            .zip(grad.par_chunks(g.out_plane()))
            .enumerate()
            .for_each(|(plane, (grad_input, grad))| {
                let channel = plane % g.channels;
                g.input_gradient_plane(
                    &weight_data[channel * g.taps()..][..g.taps()],
                    grad,
                    grad_input,
                );
            });

        // Each channel's kernel gathers from that channel's plane in every image.
        let mut grad_weight = vec![0f32; weight_data.len()];
        grad_weight
            .par_chunks_mut(g.taps())
            .enumerate()
            .for_each(|(channel, grad_weight)| {
                for image in 0..g.batch {
                    let plane = image * g.channels + channel;
                    g.weight_gradient_plane(
                        &input_data[plane * g.in_plane()..][..g.in_plane()],
                        &grad[plane * g.out_plane()..][..g.out_plane()],
                        grad_weight,
                    );
                }
            });

        let grad_bias = channel_sums(&grad, g.channels, g.out_plane());
        let device = input.device();
        Ok((
            Some(Tensor::from_vec(grad_input, input.shape(), device)?),
            Some(Tensor::from_vec(grad_weight, weight.shape(), device)?),
            Some(Tensor::from_vec(grad_bias, g.channels, device)?),
        ))
    }
}

struct BiasActivation {
    activation: Activation,
}

impl CustomOp2 for BiasActivation {
    fn name(&self) -> &'static str {
        "bias-activation"
    }

    fn cpu_fwd(
        &self,
        input: &CpuStorage,
        input_layout: &Layout,
        bias: &CpuStorage,
        bias_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = f32_data(input, input_layout)?;
        let bias = f32_data(bias, bias_layout)?;
        let plane = plane_size(input_layout.shape());
        let mut out = vec![0f32; input.len()];
        out.par_chunks_mut(plane.max(1))
            .zip(input.par_chunks(plane.max(1)))
            .enumerate()
            .for_each(|(index, (out, input))| {
                let b = bias[index % bias.len()];
                for (o, &i) in out.iter_mut().zip(input) {
                    *o = self.activation.apply(i + b);
                }
            });
        Ok((CpuStorage::F32(out), input_layout.shape().clone()))
    }

    fn bwd(
        &self,
        input: &Tensor,
        bias: &Tensor,
        output: &Tensor,
        grad_output: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = activation_gradient(self.activation, output, grad_output)?;
        let grad_bias = channel_sums(&grad, bias.dim(0)?, plane_size(input.shape()));
        let device = input.device();
        Ok((
            Some(Tensor::from_vec(grad, input.shape(), device)?),
            Some(Tensor::from_vec(grad_bias, bias.shape(), device)?),
        ))
    }
}

/// Elements per (image, channel) plane of a (B, C, …) shape.
fn plane_size(shape: &Shape) -> usize {
    shape.dims().iter().skip(2).product()
}

/// The gradient before the activation, flattened.
fn activation_gradient(
    activation: Activation,
    output: &Tensor,
    grad_output: &Tensor,
) -> candle_core::Result<Vec<f32>> {
    let output = output.flatten_all()?.to_vec1::<f32>()?;
    let mut grad = grad_output.flatten_all()?.to_vec1::<f32>()?;
    for (g, &o) in grad.iter_mut().zip(&output) {
        if !activation.passes_gradient(o) {
            *g = 0.0;
        }
    }
    Ok(grad)
}

/// Σ over images and positions of a (B, C, plane) gradient, per channel.
fn channel_sums(grad: &[f32], channels: usize, plane: usize) -> Vec<f32> {
    let mut sums = vec![0f32; channels];
    for (index, plane) in grad.chunks(plane.max(1)).enumerate() {
        sums[index % channels] += plane.iter().sum::<f32>();
    }
    sums
}
