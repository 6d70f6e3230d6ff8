use std::path::PathBuf;

/// Errors reading, importing or writing a map. Each names the file and, for content
/// errors, the place in it (a line, an element, a feature) and what is wrong there.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("cannot read map {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write map {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("map {path}: unknown format (expected .geojson, .json, .osm or .xodr)")]
    UnknownFormat { path: PathBuf },
    #[error("map {path}, {place}: {message}")]
    Invalid {
        path: PathBuf,
        place: String,
        message: String,
    },
}

impl MapError {
    pub fn invalid(
        path: impl Into<PathBuf>,
        place: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        MapError::Invalid {
            path: path.into(),
            place: place.into(),
            message: message.into(),
        }
    }
}
