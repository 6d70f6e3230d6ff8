//! Backbone speed at the detector's working resolution: the fast kernels (direct
//! depthwise op, 1×1 convolutions as matrix products) against candle's plain `conv2d`
//! in the same run, and one depthwise layer alone.
//!
//! `cargo bench -p mapfix-detector --bench backbone`

use candle_core::{Device, Tensor};
use mapfix_detector::ops::{depthwise_conv2d, same_padding, Activation};
use mapfix_detector::{EfficientNetLite0, Kernels};
use std::path::Path;
use std::sync::LazyLock;

const HEIGHT: usize = 192;
const WIDTH: usize = 320;

static MODEL: LazyLock<EfficientNetLite0> = LazyLock::new(|| {
    let weights =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/efficientnet-lite0.safetensors");
    EfficientNetLite0::from_file(&weights).expect("shipped backbone weights")
});

fn main() {
    divan::main();
}

/// A frame-sized batch of one image with pixel values spread over 0‥255.
fn frame() -> Tensor {
    let values: Vec<f32> = (0..3 * HEIGHT * WIDTH)
        .map(|i| ((i * 7919) % 256) as f32)
        .collect();
    Tensor::from_vec(values, (1, 3, HEIGHT, WIDTH), &Device::Cpu).expect("frame tensor")
}

/// Backbone features (strides 8–32) of one 192×320 frame, fast kernels.
#[divan::bench(sample_count = 30)]
fn backbone_fast_192x320(bencher: divan::Bencher) {
    let model = MODEL.clone().with_kernels(Kernels::Fast);
    let input = frame();
    bencher.bench(|| model.forward(&input).expect("forward"));
}

/// The same with candle's `conv2d` for every layer (depthwise as `groups = C`).
#[divan::bench(sample_count = 5)]
fn backbone_candle_conv_192x320(bencher: divan::Bencher) {
    let model = MODEL.clone().with_kernels(Kernels::Candle);
    let input = frame();
    bencher.bench(|| model.forward(&input).expect("forward"));
}

/// The widest stride-8 depthwise layer (240 channels, 5×5) alone.
fn depthwise_layer() -> (Tensor, Tensor, Tensor) {
    let (channels, h, w) = (240, HEIGHT / 8, WIDTH / 8);
    let input = Tensor::randn(0f32, 1.0, (1, channels, h, w), &Device::Cpu).expect("input");
    let weight = Tensor::randn(0f32, 0.2, (channels, 1, 5, 5), &Device::Cpu).expect("weight");
    let bias = Tensor::zeros(channels, candle_core::DType::F32, &Device::Cpu).expect("bias");
    (input, weight, bias)
}

#[divan::bench(sample_count = 100)]
fn depthwise_5x5_fast(bencher: divan::Bencher) {
    let (input, weight, bias) = depthwise_layer();
    bencher
        .bench(|| depthwise_conv2d(&input, &weight, &bias, 1, Activation::Identity).expect("op"));
}

#[divan::bench(sample_count = 10)]
fn depthwise_5x5_candle_grouped(bencher: divan::Bencher) {
    let (input, weight, _) = depthwise_layer();
    let (top, bottom) = same_padding(HEIGHT / 8, 5, 1);
    let (left, right) = same_padding(WIDTH / 8, 5, 1);
    let groups = input.dim(1).expect("channels");
    bencher.bench(|| {
        input
            .pad_with_zeros(2, top, bottom)
            .and_then(|x| x.pad_with_zeros(3, left, right))
            .and_then(|x| x.conv2d(&weight, 0, 1, 1, groups))
            .expect("conv2d")
    });
}
