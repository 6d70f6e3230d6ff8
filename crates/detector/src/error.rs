//! The detector crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong reading weights, converting them or running the network.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a PyTorch checkpoint this reader understands, or is cut short.
    #[error("{}: not a readable PyTorch checkpoint: {reason}", path.display())]
    Checkpoint { path: PathBuf, reason: String },
    /// A tensor the network needs is not in the weights.
    #[error("weights lack tensor `{name}`")]
    MissingTensor { name: String },
    /// A tensor is present but has the wrong shape.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// The checkpoint's tensors do not make up the expected network.
    #[error("{0}")]
    Import(String),
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    #[error("{}: cannot read image: {reason}", path.display())]
    Image { path: PathBuf, reason: String },
    /// An input the network cannot take (wrong rank, channels, dtype).
    #[error("bad input: {0}")]
    Input(String),
    /// A labels file (`labels.jsonl`, GTSDB `gt.txt`, `dataset.json`) with a bad line.
    #[error("{}:{line}: {reason}", path.display())]
    Labels {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// A detector model file that does not load: not safetensors, or lacking tensors.
    #[error("{}: not a usable detector model: {reason}", path.display())]
    Model { path: PathBuf, reason: String },
    /// A model card (`detector.json`) that is missing a field or does not parse.
    #[error("{}: bad model card: {reason}", path.display())]
    Card { path: PathBuf, reason: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, DetectorError>;
