//! The "eyes" of mapfix: a convolutional network on candle that turns dashcam frames into
//! traffic-sign and lane-line detections. This crate holds the ImageNet-pretrained
//! EfficientNet-Lite0 backbone (the start of transfer learning), the import of its
//! published PyTorch weights into a safetensors file with batch-norm folded in, and the CPU
//! kernels (direct depthwise convolution, 1×1 convolutions as matrix products) that make
//! it fast enough to run per frame on two cores; and a small crop classifier that takes a
//! second look at each detected sign in the original image's pixels.

pub mod augment;
pub mod card;
pub mod classifier_train;
pub mod data;
pub mod detections;
pub mod detector;
pub mod draw;
pub mod efficientnet;
pub mod error;
pub mod image_input;
pub mod import;
pub mod input;
pub mod lane_head;
mod layers;
pub mod metrics;
pub mod ops;
pub mod pth;
pub mod sign_classifier;
pub mod sign_head;
pub mod train;
pub mod validate;

pub use detections::{Detections, Lane, LaneSlot, SignDetection};
pub use detector::Detector;
pub use efficientnet::{EfficientNetLite0, Features, Kernels};
pub use error::{DetectorError, Result};
pub use import::{import_backbone, ImportReport};
