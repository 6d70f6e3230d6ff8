use std::path::{Path, PathBuf};

/// Errors of the simulator. Each names the file (and line) or the route it concerns.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("route file {path}, line {line}: {message}")]
    RouteFile {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("route: {0}")]
    Route(String),
    #[error("cannot encode {path}: {message}")]
    Encode { path: PathBuf, message: String },
    #[error(transparent)]
    Camera(#[from] mapfix_core::CameraError),
}

impl SimError {
    /// For `map_err`: an I/O error while writing `path`.
    pub(crate) fn writing(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
        move |source| SimError::Write {
            path: path.to_owned(),
            source,
        }
    }

    /// For `map_err`: an I/O error while reading `path`.
    pub(crate) fn reading(path: &Path) -> impl FnOnce(std::io::Error) -> SimError + '_ {
        move |source| SimError::Read {
            path: path.to_owned(),
            source,
        }
    }
}
