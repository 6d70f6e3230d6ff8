use std::path::PathBuf;

/// Errors reading tracks, scoring them and writing plots. Each names the file and, for
/// content errors, the place in it (line, point) and what is wrong there.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
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
    #[error("{estimate} against {truth}: {message}")]
    Mismatch {
        truth: PathBuf,
        estimate: PathBuf,
        message: String,
    },
    #[error("cannot draw plot {plot}: {message}")]
    Plot { plot: String, message: String },
    /// GNSS logs are read by `mapfix_io`, whose errors name the file and place alike.
    #[error(transparent)]
    Io(#[from] mapfix_io::IoError),
}

impl EvalError {
    pub fn invalid(
        path: impl Into<PathBuf>,
        place: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        EvalError::Invalid {
            path: path.into(),
            place: place.into(),
            message: message.into(),
        }
    }

    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        EvalError::File {
            path: path.into(),
            message: message.into(),
        }
    }
}
