//! The shipped backbone weights: complete, shape-checked, and still ImageNet-pretrained
//! (a real traffic-sign photo is a "street sign"); the fast kernels compute what candle's
//! plain convolutions compute.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use common::{max_abs, max_abs_difference};
use mapfix_detector::efficientnet::{FEATURE_CHANNELS, IMAGENET_SIZE};
use mapfix_detector::image_input::{image_tensor, read_rgb};
use mapfix_detector::{DetectorError, EfficientNetLite0, Kernels};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// ImageNet class 919, "street sign".
const STREET_SIGN: usize = 919;

fn weights_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/efficientnet-lite0.safetensors")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn shipped_tensors() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(weights_path(), &Device::Cpu).unwrap()
}

fn load(tensors: HashMap<String, Tensor>) -> Result<EfficientNetLite0, DetectorError> {
    EfficientNetLite0::load(VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu))
}

#[test]
fn a_traffic_sign_photo_is_a_street_sign() {
    let model = EfficientNetLite0::from_file(&weights_path()).unwrap();
    let image = read_rgb(&fixture("pedestrian-warning.jpg")).unwrap();
    let input = image_tensor(&image, IMAGENET_SIZE, IMAGENET_SIZE).unwrap();
    let top5 = model.top_classes(&input, 5).unwrap();
    assert_eq!(top5.len(), 5);
    assert!(
        top5.iter().any(|&(class, _)| class == STREET_SIGN),
        "top-5 {top5:?}"
    );
    // Not a near tie: the pretrained network is sure of it.
    assert_eq!(top5[0].0, STREET_SIGN, "top-5 {top5:?}");
    assert!(top5[0].1 > 0.5, "top-5 {top5:?}");
}

#[test]
fn shipped_weights_hold_exactly_the_networks_tensors() {
    let tensors = shipped_tensors();
    assert!(tensors.values().all(|t| t.dtype() == DType::F32));
    let count = tensors.len();
    let model = load(tensors).unwrap();
    assert_eq!(model.tensor_count(), count);
    assert_eq!(count, 100);
}

#[test]
fn a_missing_tensor_is_named() {
    let mut tensors = shipped_tensors();
    tensors.remove("blocks.7.depthwise.bias");
    match load(tensors) {
        Err(DetectorError::MissingTensor { name }) => assert_eq!(name, "blocks.7.depthwise.bias"),
        other => panic!("expected a missing tensor, got {other:?}"),
    }
}

#[test]
fn a_misshapen_tensor_is_named_with_both_shapes() {
    let mut tensors = shipped_tensors();
    let wrong = Tensor::zeros((40, 140, 1, 1), DType::F32, &Device::Cpu).unwrap();
    tensors.insert("blocks.3.project.weight".into(), wrong);
    match load(tensors) {
        Err(DetectorError::ShapeMismatch {
            name,
            expected,
            found,
        }) => {
            assert_eq!(name, "blocks.3.project.weight");
            assert_eq!(expected, [40, 144, 1, 1]);
            assert_eq!(found, [40, 140, 1, 1]);
        }
        other => panic!("expected a shape mismatch, got {other:?}"),
    }
}

/// The fixture photo as a (1, 3, height, width) batch.
fn photo(width: u32, height: u32) -> Tensor {
    let image = read_rgb(&fixture("pedestrian-warning.jpg")).unwrap();
    image_tensor(&image, width, height).unwrap()
}

#[test]
fn feature_maps_have_strides_8_to_32_with_same_rounding() {
    let model = EfficientNetLite0::from_file(&weights_path()).unwrap();
    // 190×317: odd sizes round up at every stride-2 layer, as TensorFlow's SAME padding does.
    let features = model.forward(&photo(317, 190)).unwrap();
    let maps = [&features.stride8, &features.stride16, &features.stride32];
    let expected = [(24, 40), (12, 20), (6, 10)];
    for ((map, channels), (h, w)) in maps.iter().zip(FEATURE_CHANNELS).zip(expected) {
        assert_eq!(map.dims(), [1, channels, h, w]);
    }
}

#[test]
fn fast_kernels_compute_what_candle_conv2d_computes() {
    let fast = EfficientNetLite0::from_file(&weights_path()).unwrap();
    let plain = fast.clone().with_kernels(Kernels::Candle);
    // Two different images in one batch also checks the batched products; odd sides check
    // the SAME padding of the stem's patches.
    for (width, height) in [(160, 96), (161, 97)] {
        let image = photo(width, height);
        let batch = Tensor::cat(&[image.clone(), image.flip(&[3]).unwrap()], 0).unwrap();
        let fast = fast.forward(&batch).unwrap();
        let plain = plain.forward(&batch).unwrap();
        for (a, b) in [
            (&fast.stride8, &plain.stride8),
            (&fast.stride16, &plain.stride16),
            (&fast.stride32, &plain.stride32),
        ] {
            let largest = max_abs(b);
            let difference = max_abs_difference(a, b);
            assert!(largest > 1.0, "features should not vanish: {largest}");
            assert!(difference <= 1e-4 * largest, "{difference} of {largest}");
        }
    }
}
