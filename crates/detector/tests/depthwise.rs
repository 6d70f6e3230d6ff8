//! The direct depthwise kernel and the fused bias/activation against candle's own
//! operations: forward values and gradients on random tensors of random shapes.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{max_abs, max_abs_difference};
use mapfix_detector::ops::{bias_activation, depthwise_conv2d, same_padding, Activation};
use proptest::prelude::*;

/// Deterministic pseudo-random normal-ish values (sum of uniforms), scaled.
fn random(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32
    };
    let count: usize = shape.iter().product();
    let values: Vec<f32> = (0..count)
        .map(|_| scale * ((0..4).map(|_| uniform()).sum::<f32>() - 2.0))
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// candle's grouped `conv2d` on a SAME-padded input, plus bias and activation.
fn reference(
    input: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    activation: Activation,
) -> Tensor {
    let (_, channels, h, w) = input.dims4().unwrap();
    let kernel = weight.dim(2).unwrap();
    let (top, bottom) = same_padding(h, kernel, stride);
    let (left, right) = same_padding(w, kernel, stride);
    // Cropped to the samples the kernel reaches: candle's conv2d backward recovers the
    // input width from the height's remainder and fails where they differ.
    let reach = |size: usize| (size.div_ceil(stride) - 1) * stride + kernel;
    let padded = input
        .pad_with_zeros(2, top, bottom)
        .unwrap()
        .pad_with_zeros(3, left, right)
        .unwrap();
    let padded = padded
        .narrow(2, 0, reach(h))
        .unwrap()
        .narrow(3, 0, reach(w))
        .unwrap();
    let out = padded
        .conv2d(weight, 0, stride, 1, channels)
        .unwrap()
        .broadcast_add(&bias.reshape((1, channels, 1, 1)).unwrap())
        .unwrap();
    match activation {
        Activation::Identity => out,
        Activation::Relu6 => out.clamp(0f32, 6f32).unwrap(),
    }
}

#[derive(Debug, Clone)]
struct Case {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    kernel: usize,
    stride: usize,
    relu6: bool,
    seed: u64,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        1usize..=2,
        1usize..=5,
        1usize..=13,
        1usize..=13,
        prop::sample::select(vec![1usize, 3, 5]),
        1usize..=2,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(batch, channels, height, width, kernel, stride, relu6, seed)| Case {
                batch,
                channels,
                height,
                width,
                kernel,
                stride,
                relu6,
                seed,
            },
        )
}

impl Case {
    fn activation(&self) -> Activation {
        if self.relu6 {
            Activation::Relu6
        } else {
            Activation::Identity
        }
    }

    /// Input, weight and bias, scaled so that ReLU6 clips at both ends.
    fn tensors(&self) -> (Tensor, Tensor, Tensor) {
        (
            random(
                &[self.batch, self.channels, self.height, self.width],
                self.seed,
                3.0,
            ),
            random(
                &[self.channels, 1, self.kernel, self.kernel],
                self.seed ^ 1,
                1.0,
            ),
            random(&[self.channels], self.seed ^ 2, 1.0),
        )
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn depthwise_matches_grouped_conv2d(case in cases()) {
        let (input, weight, bias) = case.tensors();
        let fast = depthwise_conv2d(&input, &weight, &bias, case.stride, case.activation()).unwrap();
        let slow = reference(&input, &weight, &bias, case.stride, case.activation());
        prop_assert_eq!(fast.dims(), slow.dims());
        prop_assert!(max_abs_difference(&fast, &slow) <= 1e-5, "{:?}", case);
    }

    #[test]
    fn depthwise_gradients_match_grouped_conv2d(case in cases()) {
        let (input, weight, bias) = case.tensors();
        let gradients = |fast: bool| {
            let input = Var::from_tensor(&input).unwrap();
            let weight = Var::from_tensor(&weight).unwrap();
            let bias = Var::from_tensor(&bias).unwrap();
            let out = if fast {
                depthwise_conv2d(&input, &weight, &bias, case.stride, case.activation()).unwrap()
            } else {
                reference(&input, &weight, &bias, case.stride, case.activation())
            };
            // A random linear read-out, so every output position gets its own gradient.
            let readout = random(out.dims(), case.seed ^ 3, 1.0);
            let grads = (out * readout).unwrap().sum_all().unwrap().backward().unwrap();
            [input.as_tensor(), weight.as_tensor(), bias.as_tensor()]
                .map(|v| grads.get(v).cloned().unwrap_or_else(|| v.zeros_like().unwrap()))
        };
        let fast = gradients(true);
        let slow = gradients(false);
        for (name, (f, s)) in ["input", "weight", "bias"].iter().zip(fast.iter().zip(&slow)) {
            let scale = 1.0 + max_abs(s);
            prop_assert!(max_abs_difference(f, s) <= 1e-5 * scale, "{} gradient, {:?}", name, case);
        }
    }
}

#[test]
fn bias_activation_matches_candle_ops_and_their_gradients() {
    let input = random(&[2, 7, 5, 3], 11, 4.0);
    let bias = random(&[7], 12, 2.0);
    for activation in [Activation::Identity, Activation::Relu6] {
        let run = |fused: bool| {
            let input = Var::from_tensor(&input).unwrap();
            let bias = Var::from_tensor(&bias).unwrap();
            let out = if fused {
                bias_activation(&input, &bias, activation).unwrap()
            } else {
                let sum = input
                    .broadcast_add(&bias.reshape((1, 7, 1, 1)).unwrap())
                    .unwrap();
                match activation {
                    Activation::Identity => sum,
                    Activation::Relu6 => sum.clamp(0f32, 6f32).unwrap(),
                }
            };
            let readout = random(out.dims(), 13, 1.0);
            let grads = (&out * readout)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let grad_input = grads.get(input.as_tensor()).unwrap().clone();
            let grad_bias = grads.get(bias.as_tensor()).unwrap().clone();
            (out, grad_input, grad_bias)
        };
        let (out, grad_input, grad_bias) = run(true);
        let (out_ref, grad_input_ref, grad_bias_ref) = run(false);
        assert!(max_abs_difference(&out, &out_ref) <= 1e-6, "{activation:?}");
        assert!(
            max_abs_difference(&grad_input, &grad_input_ref) <= 1e-6,
            "{activation:?}"
        );
        assert!(
            max_abs_difference(&grad_bias, &grad_bias_ref) <= 1e-5,
            "{activation:?}"
        );
    }
}

#[test]
fn same_padding_puts_the_odd_pixel_after_the_data() {
    assert_eq!(same_padding(224, 3, 2), (0, 1));
    assert_eq!(same_padding(224, 5, 2), (1, 2));
    assert_eq!(same_padding(225, 3, 2), (1, 1));
    assert_eq!(same_padding(20, 5, 1), (2, 2));
    assert_eq!(same_padding(7, 1, 1), (0, 0));
}

#[test]
fn depthwise_refuses_mismatched_weights() {
    let input = Tensor::zeros((1, 4, 6, 6), DType::F32, &Device::Cpu).unwrap();
    let weight = Tensor::zeros((3, 1, 3, 3), DType::F32, &Device::Cpu).unwrap();
    let bias = Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap();
    let error = depthwise_conv2d(&input, &weight, &bias, 1, Activation::Identity).unwrap_err();
    assert!(error.to_string().contains("does not fit"), "{error}");
}
