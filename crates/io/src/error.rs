//! The one error type of `mapfix-io`: every reader names the file and the place in it.

use std::path::PathBuf;

/// Errors reading recordings and logs. Each names the file (or stream) and, for content
/// errors, the place in it (sample, frame, line, point) and what is wrong there.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, {place}: {message}")]
    Invalid {
        path: PathBuf,
        place: String,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(transparent)]
    Camera(#[from] mapfix_core::CameraError),
}

impl IoError {
    /// For `map_err`: an I/O error while reading `path` (the cause stays in the chain,
    /// not in the message, so that `{:#}` prints it once).
    pub fn read(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| IoError::Read { path, source }
    }

    pub fn invalid(
        path: impl Into<PathBuf>,
        place: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        IoError::Invalid {
            path: path.into(),
            place: place.into(),
            message: message.into(),
        }
    }

    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        IoError::File {
            path: path.into(),
            message: message.into(),
        }
    }
}
