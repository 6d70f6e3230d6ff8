use std::path::{Path, PathBuf};

/// Errors of the simulator. Each names the file (and line) or the route it concerns.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}")]
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
    #[error("cannot decode {path}: {message}")]
    Decode { path: PathBuf, message: String },
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn io_errors_name_the_file_and_leave_the_cause_to_the_chain() {
        let missing = Path::new("no/such/route.csv");
        let io = std::fs::read(missing).unwrap_err();
        let cause = io.to_string();
        let error = SimError::reading(missing)(io);
        assert_eq!(error.to_string(), "cannot read no/such/route.csv");
        assert_eq!(error.source().map(|s| s.to_string()), Some(cause));
    }
}
