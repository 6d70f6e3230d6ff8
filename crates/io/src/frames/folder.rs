//! Folders of PNG/JPEG frames, in file-name order (zero-padded numbers sort right), timed
//! by a given frame rate.

use super::{check_fps, Frame, FrameInfo, FrameSource};
use crate::IoError;
use std::path::{Path, PathBuf};

/// Frames from the images of one folder, one image a frame.
pub struct ImageFolder {
    info: FrameInfo,
    files: std::vec::IntoIter<PathBuf>,
    next_index: u64,
    finished: bool,
}

impl ImageFolder {
    /// Lists the `.png`, `.jpg` and `.jpeg` files of `folder` (not its subfolders); the
    /// first image's size is every frame's.
    pub fn open(folder: &Path, fps: f64) -> Result<Self, IoError> {
        let fps = check_fps(folder, fps)?;
        let mut files = Vec::new();
        for entry in std::fs::read_dir(folder).map_err(IoError::read(folder))? {
            let path = entry.map_err(IoError::read(folder))?.path();
            if is_image(&path) && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let first = files
            .first()
            .ok_or_else(|| IoError::file(folder, "no .png or .jpg images in the folder"))?;
        let (width, height) = image::image_dimensions(first)
            .map_err(|e| IoError::file(first, format!("cannot read the image: {e}")))?;
        Ok(ImageFolder {
            info: FrameInfo {
                path: folder.to_owned(),
                width,
                height,
                fps,
                frame_count: Some(files.len() as u64),
                creation_unix_s: None,
            },
            files: files.into_iter(),
            next_index: 0,
            finished: false,
        })
    }

    fn load(&self, path: &Path) -> Result<image::RgbImage, IoError> {
        let image = image::open(path)
            .map_err(|e| IoError::file(path, format!("cannot read the image: {e}")))?
            .into_rgb8();
        let (width, height) = (self.info.width, self.info.height);
        if image.dimensions() != (width, height) {
            return Err(IoError::file(
                path,
                format!(
                    "the image is {}×{}, the folder's first is {width}×{height}",
                    image.width(),
                    image.height()
                ),
            ));
        }
        Ok(image)
    }
}

/// Whether the file name ends in an image extension this reader decodes.
pub(crate) fn is_image(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "png" | "jpg" | "jpeg"))
}

impl Iterator for ImageFolder {
    type Item = Result<Frame, IoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let path = self.files.next()?;
        let index = self.next_index;
        self.next_index += 1;
        let frame = self.load(&path).map(|image| Frame {
            index,
            time_s: index as f64 / self.info.fps,
            image,
        });
        self.finished = frame.is_err();
        Some(frame)
    }
}

impl FrameSource for ImageFolder {
    fn info(&self) -> &FrameInfo {
        &self.info
    }
}
