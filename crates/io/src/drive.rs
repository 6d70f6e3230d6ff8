//! Drives: what `mapfix run` is given, resolved into the files of each recording.
//!
//! A drive folder (DESIGN.md §3) holds `video.mp4` or `frames/*.png|jpg`, `camera.toml`,
//! and optionally `gnss.nmea` (or `gnss.gpx`), `truth.csv` and the simulator's `sim.json`.
//! An input may also be one video file or image folder (its `camera.toml` beside it or
//! given), or a folder of drive folders or of video files sharing one `camera.toml`.

use crate::frames::{self, is_image, FrameSource, InputKind};
use crate::{GnssLog, IoError};
use mapfix_core::CameraModel;
use std::path::{Path, PathBuf};

/// The names a drive folder's video may have, in order of preference.
const VIDEO_NAMES: [&str; 4] = ["video.mp4", "video.mov", "video.m4v", "video.h264"];
const FRAMES_FOLDER: &str = "frames";
const CAMERA_FILE: &str = "camera.toml";
const GNSS_NAMES: [&str; 2] = ["gnss.nmea", "gnss.gpx"];
const TRUTH_FILE: &str = "truth.csv";
const SIM_FILE: &str = "sim.json";

/// One recording and the files that belong to it.
#[derive(Clone, Debug)]
pub struct Drive {
    /// The drive's name: its folder's name, or the video file's stem (outputs go to
    /// `out/<name>/`).
    pub name: String,
    /// The video file or image folder.
    pub video: PathBuf,
    pub kind: InputKind,
    pub camera_path: PathBuf,
    pub camera: CameraModel,
    /// The GNSS log (`gnss.nmea` or `gnss.gpx`), if the drive has one.
    pub gnss: Option<PathBuf>,
    /// Ground truth (`truth.csv`), if the drive has one.
    pub truth: Option<PathBuf>,
    /// Unix time of frame 0 where the drive records it (the simulator's `sim.json`,
    /// `gnss.start_unix_s`): puts GNSS UTC times on the frame clock.
    pub start_unix_s: Option<f64>,
}

impl Drive {
    /// Opens the drive's frames, timed by the container or by `camera.toml`'s fps, and
    /// checks that their size is the camera's.
    pub fn open_frames(&self) -> Result<Box<dyn FrameSource>, IoError> {
        let source = frames::open(&self.video, self.camera.fps)?;
        let info = source.info();
        let (width, height) = (self.camera.intrinsics.width, self.camera.intrinsics.height);
        if (info.width, info.height) != (width, height) {
            return Err(IoError::file(
                &self.video,
                format!(
                    "the frames are {}×{}, but {} describes a {width}×{height} camera",
                    info.width,
                    info.height,
                    self.camera_path.display()
                ),
            ));
        }
        Ok(source)
    }

    /// The drive's GNSS log, if it has one.
    pub fn read_gnss(&self) -> Result<Option<GnssLog>, IoError> {
        self.gnss.as_deref().map(GnssLog::read).transpose()
    }
}

/// The drives in `input`: a drive folder, a video file, an image folder, or a folder of
/// drive folders or video files (sorted by name). `camera` overrides every drive's
/// `camera.toml`.
pub fn discover(input: &Path, camera: Option<&Path>) -> Result<Vec<Drive>, IoError> {
    if !input.exists() {
        return Err(IoError::file(input, "no such file or folder"));
    }
    if !input.is_dir() {
        InputKind::of(input)?;
        return Ok(vec![video_drive(input, camera)?]);
    }
    if let Some(drive) = drive_folder(input, camera)? {
        return Ok(vec![drive]);
    }
    let entries = sorted_entries(input)?;
    if entries.iter().any(|p| is_image(p) && p.is_file()) {
        return Ok(vec![image_folder_drive(input, camera)?]);
    }
    let mut drives = Vec::new();
    for entry in &entries {
        if entry.is_dir() {
            drives.extend(drive_folder(entry, camera)?);
        } else if matches!(InputKind::of(entry), Ok(InputKind::Mp4 | InputKind::AnnexB)) {
            drives.push(video_drive(entry, camera)?);
        }
    }
    if drives.is_empty() {
        return Err(IoError::file(
            input,
            "no drive here: expected a video (video.mp4) or a frames/ folder of PNG/JPEG \
             images with a camera.toml, in this folder or in its subfolders, or images or \
             .mp4 files directly in it",
        ));
    }
    Ok(drives)
}

/// The folder's entries, sorted by name.
fn sorted_entries(folder: &Path) -> Result<Vec<PathBuf>, IoError> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(IoError::read(folder))? {
        entries.push(entry.map_err(IoError::read(folder))?.path());
    }
    entries.sort();
    Ok(entries)
}

/// The drive in `folder` if it is a drive folder (has a video or a frames folder).
fn drive_folder(folder: &Path, camera: Option<&Path>) -> Result<Option<Drive>, IoError> {
    let video = VIDEO_NAMES
        .iter()
        .map(|name| folder.join(name))
        .find(|path| path.is_file());
    let frames = folder.join(FRAMES_FOLDER);
    let video = match video {
        Some(video) => video,
        None if frames.is_dir() => frames,
        None => return Ok(None),
    };
    let camera_path = camera_file(folder, camera, &video)?;
    let present = |name: &str| Some(folder.join(name)).filter(|p| p.is_file());
    Ok(Some(Drive {
        name: file_name(folder),
        kind: InputKind::of(&video)?,
        camera: CameraModel::load(&camera_path)?,
        camera_path,
        video,
        gnss: GNSS_NAMES.iter().find_map(|name| present(name)),
        truth: present(TRUTH_FILE),
        start_unix_s: present(SIM_FILE)
            .map(|p| sim_start(&p))
            .transpose()?
            .flatten(),
    }))
}

/// A video file given on its own: its drive folder's files come with it when it is the
/// folder's `video.mp4`, else it stands alone with the `camera.toml` beside it.
fn video_drive(video: &Path, camera: Option<&Path>) -> Result<Drive, IoError> {
    let folder = video.parent().unwrap_or(Path::new("."));
    let own_video = VIDEO_NAMES
        .iter()
        .map(|name| folder.join(name))
        .find(|p| p.is_file());
    if own_video.as_deref() == Some(video) {
        if let Some(drive) = drive_folder(folder, camera)? {
            return Ok(drive);
        }
    }
    let camera_path = camera_file(folder, camera, video)?;
    Ok(Drive {
        name: video
            .file_stem()
            .map_or_else(|| file_name(video), |s| s.to_string_lossy().into_owned()),
        video: video.to_owned(),
        kind: InputKind::of(video)?,
        camera: CameraModel::load(&camera_path)?,
        camera_path,
        gnss: None,
        truth: None,
        start_unix_s: None,
    })
}

/// A folder of images given on its own; `camera.toml` inside it or beside it.
fn image_folder_drive(folder: &Path, camera: Option<&Path>) -> Result<Drive, IoError> {
    let camera_path = match camera_file(folder, camera, folder) {
        Ok(path) => path,
        Err(inside) => match folder.parent() {
            Some(parent) if parent.join(CAMERA_FILE).is_file() => parent.join(CAMERA_FILE),
            _ => return Err(inside),
        },
    };
    Ok(Drive {
        name: file_name(folder),
        video: folder.to_owned(),
        kind: InputKind::ImageFolder,
        camera: CameraModel::load(&camera_path)?,
        camera_path,
        gnss: None,
        truth: None,
        start_unix_s: None,
    })
}

/// The camera file: the one given, else `camera.toml` in `folder`.
fn camera_file(folder: &Path, given: Option<&Path>, video: &Path) -> Result<PathBuf, IoError> {
    if let Some(given) = given {
        return Ok(given.to_owned());
    }
    let path = folder.join(CAMERA_FILE);
    if path.is_file() {
        Ok(path)
    } else {
        Err(IoError::file(
            video,
            format!(
                "no camera.toml for these frames (looked for {}): put one there, with the \
                 camera's width, height, fx, fy, cx, cy, k1 k2 p1 p2 k3, fps and [mount] \
                 (DESIGN.md §3), or give its path explicitly",
                path.display()
            ),
        ))
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `gnss.start_unix_s` of a simulator's `sim.json`, if it has one.
fn sim_start(path: &Path) -> Result<Option<f64>, IoError> {
    let text = std::fs::read_to_string(path).map_err(IoError::read(path))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| IoError::invalid(path, format!("line {}", e.line()), e.to_string()))?;
    match json.pointer("/gnss/start_unix_s") {
        None => Ok(None),
        Some(value) => value.as_f64().map(Some).ok_or_else(|| {
            IoError::invalid(
                path,
                "gnss.start_unix_s",
                format!("{value} is not a number"),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_drive() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo-drive")
    }

    /// A 64×48, 10 fps camera.toml.
    const SMALL_CAMERA: &str = "width = 64\nheight = 48\nfx = 50.0\nfy = 50.0\ncx = 31.5\n\
        cy = 23.5\nk1 = 0.0\nk2 = 0.0\np1 = 0.0\np2 = 0.0\nk3 = 0.0\nfps = 10.0\n\n[mount]\n\
        x = 1.5\ny = 0.0\nz = 1.4\nroll = 0.0\npitch = 0.0\nyaw = 0.0\n";

    fn write_frames(folder: &Path, count: u32, width: u32) {
        std::fs::create_dir_all(folder).unwrap();
        for k in 0..count {
            image::RgbImage::new(width, 48)
                .save(folder.join(format!("{k:04}.png")))
                .unwrap();
        }
    }

    #[test]
    fn the_demo_drive_folder_and_its_video_are_the_same_drive() {
        for input in [demo_drive(), demo_drive().join("video.mp4")] {
            let drives = discover(&input, None).unwrap();
            assert_eq!(drives.len(), 1);
            let drive = &drives[0];
            assert_eq!(drive.name, "demo-drive");
            assert_eq!(drive.kind, InputKind::Mp4);
            assert!(drive.video.ends_with("demo-drive/video.mp4"));
            assert!(drive.gnss.as_ref().unwrap().ends_with("gnss.nmea"));
            assert!(drive.truth.as_ref().unwrap().ends_with("truth.csv"));
            assert_eq!(drive.start_unix_s, Some(1_718_964_000.0));
            assert_eq!(drive.camera.fps, 15.0);
            let frames = drive.open_frames().unwrap();
            assert_eq!(
                (frames.info().width, frames.info().frame_count),
                (960, Some(300))
            );
        }
    }

    #[test]
    fn a_folder_of_drives_lists_each_in_name_order() {
        let root = tempfile::tempdir().unwrap();
        for name in ["b-drive", "a-drive"] {
            let drive = root.path().join(name);
            write_frames(&drive.join("frames"), 3, 64);
            std::fs::write(drive.join("camera.toml"), SMALL_CAMERA).unwrap();
        }
        std::fs::create_dir(root.path().join("out")).unwrap();
        std::fs::write(root.path().join("camera.toml"), SMALL_CAMERA).unwrap();
        std::fs::copy(
            demo_drive().join("camera.toml"),
            root.path().join("cam.toml"),
        )
        .unwrap();
        let drives = discover(root.path(), None).unwrap();
        let names: Vec<_> = drives.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["a-drive", "b-drive"]);
        let drive = &drives[0];
        assert_eq!(
            (drive.kind, drive.gnss.is_none(), drive.start_unix_s),
            (InputKind::ImageFolder, true, None)
        );
        let frames: Vec<_> = drive.open_frames().unwrap().map(Result::unwrap).collect();
        assert_eq!(frames.len(), 3);
        assert!((frames[2].time_s - 0.2).abs() < 1e-12);
        // An explicit camera file wins over each drive's own, and is checked against the frames.
        let drives = discover(root.path(), Some(&root.path().join("cam.toml"))).unwrap();
        let error = drives[0].open_frames().err().unwrap().to_string();
        assert!(
            error.contains("64×48") && error.contains("cam.toml"),
            "{error}"
        );
    }

    #[test]
    fn an_image_folder_takes_the_camera_beside_it() {
        let root = tempfile::tempdir().unwrap();
        let images = root.path().join("images");
        write_frames(&images, 2, 64);
        let error = discover(&images, None).unwrap_err().to_string();
        assert!(
            error.contains("no camera.toml") && error.contains("give its path"),
            "{error}"
        );
        std::fs::write(root.path().join("camera.toml"), SMALL_CAMERA).unwrap();
        let drives = discover(&images, None).unwrap();
        assert_eq!((drives.len(), drives[0].name.as_str()), (1, "images"));
        assert_eq!(drives[0].kind, InputKind::ImageFolder);
    }

    #[test]
    fn a_lone_video_needs_a_camera_and_folders_without_video_are_errors() {
        let root = tempfile::tempdir().unwrap();
        let video = root.path().join("dashcam-0042.mp4");
        std::fs::copy(demo_drive().join("video.mp4"), &video).unwrap();
        let error = discover(&video, None).unwrap_err().to_string();
        assert!(
            error.contains("dashcam-0042.mp4") && error.contains("camera.toml"),
            "{error}"
        );
        let camera = demo_drive().join("camera.toml");
        let drives = discover(&video, Some(&camera)).unwrap();
        assert_eq!(
            (drives[0].name.as_str(), drives[0].gnss.is_none()),
            ("dashcam-0042", true)
        );
        // The folder holding it is a folder of videos sharing one camera.
        std::fs::copy(&camera, root.path().join("camera.toml")).unwrap();
        assert_eq!(discover(root.path(), None).unwrap().len(), 1);
        let empty = tempfile::tempdir().unwrap();
        std::fs::write(empty.path().join("notes.txt"), "no video").unwrap();
        let error = discover(empty.path(), None).unwrap_err().to_string();
        assert!(error.contains("no drive here"), "{error}");
        let error = discover(&empty.path().join("missing"), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("no such file"), "{error}");
        let error = discover(&empty.path().join("notes.txt"), None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a video input"), "{error}");
    }
}
