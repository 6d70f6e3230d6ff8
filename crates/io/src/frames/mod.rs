//! Frames in: one `FrameSource` trait over MP4/H.264 files, raw Annex-B H.264 streams and
//! folders of PNG/JPEG images. A source is an iterator that decodes one frame at a time,
//! so memory stays bounded whatever the recording's length; the first error ends it.

mod folder;
mod h264;
mod mp4;

pub(crate) use folder::is_image;
pub use folder::ImageFolder;
pub use h264::AnnexBSource;
pub use mp4::Mp4Source;

use crate::IoError;
use image::RgbImage;
use std::path::{Path, PathBuf};

/// One decoded frame.
#[derive(Clone, Debug)]
pub struct Frame {
    /// 0 for the first frame, in presentation order.
    pub index: u64,
    /// Seconds since the first frame.
    pub time_s: f64,
    pub image: RgbImage,
}

/// What a source knows before decoding.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameInfo {
    /// The file, folder or stream name the frames come from (errors name it too).
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    /// Frames per second: the container's mean rate, or the rate given for a stream or
    /// image folder.
    pub fps: f64,
    /// The number of frames, where the container or folder says.
    pub frame_count: Option<u64>,
    /// When the recording began (Unix seconds), from an MP4's creation time where the
    /// writer set one. Cameras set it from their own clock, which may be off or local.
    pub creation_unix_s: Option<f64>,
}

/// Decoded frames in presentation order, each `Ok` until the first error, which ends the
/// iteration (the frames before damage in a file come out first).
pub trait FrameSource: Iterator<Item = Result<Frame, IoError>> + Send {
    fn info(&self) -> &FrameInfo;
}

/// The kinds of frame input, chosen by what the path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// An MP4 (or MOV/M4V) file with an H.264 video track.
    Mp4,
    /// A raw Annex-B H.264 elementary stream (`.h264`, `.264`).
    AnnexB,
    /// A folder of PNG/JPEG images.
    ImageFolder,
}

impl InputKind {
    /// The kind of `path`: a folder is an image folder, a file goes by its extension.
    pub fn of(path: &Path) -> Result<InputKind, IoError> {
        if path.is_dir() {
            return Ok(InputKind::ImageFolder);
        }
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match extension.as_deref() {
            Some("mp4" | "m4v" | "mov") => Ok(InputKind::Mp4),
            Some("h264" | "264" | "avc") => Ok(InputKind::AnnexB),
            _ if !path.exists() => Err(IoError::file(path, "no such file or folder")),
            _ => Err(IoError::file(
                path,
                "not a video input: expected an .mp4/.mov/.m4v file, a raw H.264 stream \
                 (.h264/.264) or a folder of PNG/JPEG images",
            )),
        }
    }
}

/// Opens `path` as a frame source of its kind. `fps` times the inputs that carry no time
/// (raw H.264, image folders, an MP4 cut off before its index), usually `camera.toml`'s;
/// an MP4 is otherwise timed by its samples.
pub fn open(path: &Path, fps: f64) -> Result<Box<dyn FrameSource>, IoError> {
    Ok(match InputKind::of(path)? {
        InputKind::Mp4 => mp4::open(path, fps)?,
        InputKind::AnnexB => {
            let file = std::fs::File::open(path).map_err(IoError::read(path))?;
            Box::new(AnnexBSource::new(std::io::BufReader::new(file), path, fps)?)
        }
        InputKind::ImageFolder => Box::new(ImageFolder::open(path, fps)?),
    })
}

/// Checks a frame rate given from outside the input (camera.toml, the command line).
fn check_fps(path: &Path, fps: f64) -> Result<f64, IoError> {
    if fps.is_finite() && fps > 0.0 {
        Ok(fps)
    } else {
        Err(IoError::file(
            path,
            format!("frames need a positive frame rate to be timed, got {fps}"),
        ))
    }
}

#[cfg(test)]
mod tests;
