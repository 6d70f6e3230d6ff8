//! Labelled images for training and evaluation: the simulator's sets (`labels.jsonl` beside
//! `frames/NNNNNN.jpg`, with `dataset.json` saying how they were made) and the real German
//! Traffic Sign Detection Benchmark scenes (`gt.txt`, no lane labels).
//!
//! Everything here is in the image's own pixels; [`crate::input::Letterbox`] takes it to
//! the network's input.

use crate::detections::LaneSlot;
use crate::error::{DetectorError, Result};
use serde::Deserialize;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Signs with less of their face showing than this are too hidden to ask the network for
/// (labels carry the share as `visible`).
pub const MIN_VISIBLE: f32 = 0.25;

/// GTSDB image numbers held back from training for testing (the rest of 00000–00049 train).
pub const GTSDB_HELD_BACK: Range<u32> = 40..50;

/// A labelled sign.
#[derive(Debug, Clone, PartialEq)]
pub struct SignLabel {
    /// GTSRB class, 0–42.
    pub class: u8,
    /// `[left, top, right, bottom]`, pixels.
    pub bbox: [f32; 4],
    /// The point the detector should report: where the sign's face is drawn (the
    /// label's `drawn_center` when it has one, else its `center`, the projection of the
    /// map position; GTSDB: the box centre).
    pub center: [f32; 2],
    /// Share of the face not hidden, 0–1 (1 where a label does not say).
    pub visible: f32,
}

impl SignLabel {
    pub fn height(&self) -> f32 {
        self.bbox[3] - self.bbox[1]
    }
}

/// A labelled lane line.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneLabel {
    pub slot: LaneSlot,
    /// Pixels, near to far.
    pub points: Vec<[f32; 2]>,
}

/// One line of `labels.jsonl`.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameLabels {
    pub frame: usize,
    pub signs: Vec<SignLabel>,
    pub lanes: Vec<LaneLabel>,
}

#[derive(Deserialize)]
struct RawFrame {
    frame: usize,
    #[serde(default)]
    signs: Vec<RawSign>,
    #[serde(default)]
    lanes: Vec<RawLane>,
}

#[derive(Deserialize)]
struct RawSign {
    class: u8,
    #[serde(rename = "box")]
    bbox: [f64; 4],
    center: [f64; 2],
    #[serde(default)]
    drawn_center: Option<[f64; 2]>,
    #[serde(default = "fully_visible")]
    visible: f64,
}

fn fully_visible() -> f64 {
    1.0
}

#[derive(Deserialize)]
struct RawLane {
    slot: String,
    points: Vec<[f64; 2]>,
}

/// GTSRB has 43 classes.
const CLASSES: u8 = 43;

fn check_class(class: u8) -> std::result::Result<u8, String> {
    if class < CLASSES {
        Ok(class)
    } else {
        Err(format!("sign class {class} is not a GTSRB class (0–42)"))
    }
}

fn finite<const N: usize>(values: [f64; N], what: &str) -> std::result::Result<[f32; N], String> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(values.map(|v| v as f32))
    } else {
        Err(format!("{what} {values:?} is not finite"))
    }
}

impl RawFrame {
    fn check(self) -> std::result::Result<FrameLabels, String> {
        let signs = self
            .signs
            .into_iter()
            .map(|sign| {
                Ok(SignLabel {
                    class: check_class(sign.class)?,
                    bbox: finite(sign.bbox, "box")?,
                    center: finite(sign.drawn_center.unwrap_or(sign.center), "center")?,
                    visible: sign.visible as f32,
                })
            })
            .collect::<std::result::Result<_, String>>()?;
        let lanes = self
            .lanes
            .into_iter()
            .map(|lane| {
                let slot = LaneSlot::from_name(&lane.slot)
                    .ok_or_else(|| format!("unknown lane slot `{}`", lane.slot))?;
                let points = lane
                    .points
                    .into_iter()
                    .map(|p| finite(p, "lane point"))
                    .collect::<std::result::Result<_, String>>()?;
                Ok(LaneLabel { slot, points })
            })
            .collect::<std::result::Result<_, String>>()?;
        Ok(FrameLabels {
            frame: self.frame,
            signs,
            lanes,
        })
    }
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| DetectorError::Io {
        path: path.to_owned(),
        source,
    })
}

fn labels_error(path: &Path, line: usize, reason: impl Into<String>) -> DetectorError {
    DetectorError::Labels {
        path: path.to_owned(),
        line,
        reason: reason.into(),
    }
}

/// Reads a `labels.jsonl` (of a drive or a training set), one [`FrameLabels`] per
/// non-empty line.
pub fn read_labels(path: &Path) -> Result<Vec<FrameLabels>> {
    read_text(path)?
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str::<RawFrame>(line)
                .map_err(|error| error.to_string())
                .and_then(RawFrame::check)
                .map_err(|reason| labels_error(path, index + 1, reason))
        })
        .collect()
}

/// Where a set of labelled images comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `mapfix simulate dataset`, with the command and seed from its `dataset.json`.
    Simulated {
        command: Option<String>,
        seed: Option<u64>,
    },
    /// German Traffic Sign Detection Benchmark scenes.
    Gtsdb,
}

/// An image file with its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledImage {
    pub path: PathBuf,
    pub signs: Vec<SignLabel>,
    /// `None` where the source labels no lane lines (GTSDB): absence of a lane is then
    /// unknown, not a fact.
    pub lanes: Option<Vec<LaneLabel>>,
}

/// A directory of labelled images.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSet {
    pub dir: PathBuf,
    pub source: Source,
    pub items: Vec<LabelledImage>,
}

#[derive(Deserialize)]
struct DatasetRecord {
    command: Option<String>,
    seed: Option<u64>,
}

/// Reads a set written by `mapfix simulate dataset`: `labels.jsonl`, `frames/NNNNNN.jpg`
/// and (optional) `dataset.json`.
pub fn read_sim_set(dir: &Path) -> Result<DataSet> {
    let labels_path = dir.join("labels.jsonl");
    let frames = read_labels(&labels_path)?;
    let items = frames
        .into_iter()
        .enumerate()
        .map(|(index, labels)| {
            let path = dir.join("frames").join(format!("{:06}.jpg", labels.frame));
            if !path.is_file() {
                return Err(labels_error(
                    &labels_path,
                    index + 1,
                    format!("frame {} has no image {}", labels.frame, path.display()),
                ));
            }
            Ok(LabelledImage {
                path,
                signs: labels.signs,
                lanes: Some(labels.lanes),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let record_path = dir.join("dataset.json");
    let record = if record_path.is_file() {
        serde_json::from_str::<DatasetRecord>(&read_text(&record_path)?)
            .map_err(|error| labels_error(&record_path, error.line(), error.to_string()))?
    } else {
        DatasetRecord {
            command: None,
            seed: None,
        }
    };
    Ok(DataSet {
        dir: dir.to_owned(),
        source: Source::Simulated {
            command: record.command,
            seed: record.seed,
        },
        items,
    })
}

/// The GTSDB image number of a file name like `00042.jpg`.
pub fn gtsdb_number(path: &Path) -> Option<u32> {
    let stem = path.file_stem()?.to_str()?;
    (stem.len() == 5 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// Reads GTSDB scenes: every `NNNNN.{jpg,png,ppm}` in `dir` (scenes without signs
/// included) with its signs from `gt.txt` (`image;left;top;right;bottom;class`, the image
/// named by number whatever its extension there).
pub fn read_gtsdb(dir: &Path) -> Result<DataSet> {
    let listing = std::fs::read_dir(dir).map_err(|source| DetectorError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut items = Vec::new();
    for entry in listing {
        let path = entry
            .map_err(|source| DetectorError::Io {
                path: dir.to_owned(),
                source,
            })?
            .path();
        let image_file = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            ["jpg", "jpeg", "png", "ppm"].contains(&e.to_ascii_lowercase().as_str())
        });
        if image_file && gtsdb_number(&path).is_some() {
            items.push(LabelledImage {
                path,
                signs: Vec::new(),
                lanes: None,
            });
        }
    }
    items.sort_by_key(|item| gtsdb_number(&item.path));
    let gt_path = dir.join("gt.txt");
    for (index, line) in read_text(&gt_path)?.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (number, sign) =
            parse_gt_line(line).map_err(|reason| labels_error(&gt_path, index + 1, reason))?;
        let item = items
            .iter_mut()
            .find(|item| gtsdb_number(&item.path) == Some(number))
            .ok_or_else(|| {
                labels_error(
                    &gt_path,
                    index + 1,
                    format!("no image {number:05} in {}", dir.display()),
                )
            })?;
        item.signs.push(sign);
    }
    Ok(DataSet {
        dir: dir.to_owned(),
        source: Source::Gtsdb,
        items,
    })
}

fn parse_gt_line(line: &str) -> std::result::Result<(u32, SignLabel), String> {
    let fields: Vec<&str> = line.trim().split(';').collect();
    let [image, left, top, right, bottom, class] = fields[..] else {
        return Err(format!(
            "expected image;left;top;right;bottom;class, found {} fields",
            fields.len()
        ));
    };
    let number = gtsdb_number(Path::new(image))
        .ok_or_else(|| format!("`{image}` is not a GTSDB image name"))?;
    let coordinate = |text: &str| {
        text.trim()
            .parse::<f32>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("`{text}` is not a pixel coordinate"))
    };
    let bbox = [
        coordinate(left)?,
        coordinate(top)?,
        coordinate(right)?,
        coordinate(bottom)?,
    ];
    if bbox[2] < bbox[0] || bbox[3] < bbox[1] {
        return Err(format!(
            "box {bbox:?} has its right/bottom before its left/top"
        ));
    }
    let class = class
        .trim()
        .parse::<u8>()
        .map_err(|_| format!("`{class}` is not a class number"))
        .and_then(check_class)?;
    Ok((
        number,
        SignLabel {
            class,
            bbox,
            center: [(bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0],
            visible: 1.0,
        },
    ))
}

/// Reads GTSRB sign crops: every `GT-*.csv` in `dir` or its subfolders
/// (`Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId`, the box of the sign inside
/// the crop), each row an image beside its CSV with that one sign.
pub fn read_gtsrb_crops(dir: &Path) -> Result<Vec<LabelledImage>> {
    let mut tables = Vec::new();
    let mut folders = vec![dir.to_owned()];
    while let Some(folder) = folders.pop() {
        let listing = std::fs::read_dir(&folder).map_err(|source| DetectorError::Io {
            path: folder.clone(),
            source,
        })?;
        for entry in listing {
            let path = entry
                .map_err(|source| DetectorError::Io {
                    path: folder.clone(),
                    source,
                })?
                .path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                folders.push(path);
            } else if name.starts_with("GT-") && name.ends_with(".csv") {
                tables.push(path);
            }
        }
    }
    tables.sort();
    let mut items = Vec::new();
    for table in tables {
        let folder = table.parent().unwrap_or(dir);
        for (index, line) in read_text(&table)?.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let item = parse_gtsrb_line(folder, line)
                .map_err(|reason| labels_error(&table, index + 1, reason))?;
            items.push(item);
        }
    }
    Ok(items)
}

fn parse_gtsrb_line(folder: &Path, line: &str) -> std::result::Result<LabelledImage, String> {
    let fields: Vec<&str> = line.trim().split(';').collect();
    let [file, _, _, x1, y1, x2, y2, class] = fields[..] else {
        return Err(format!(
            "expected Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId, found {} fields",
            fields.len()
        ));
    };
    let path = folder.join(file.trim());
    if !path.is_file() {
        return Err(format!("no image {}", path.display()));
    }
    // The box and class read as a GTSDB line does (same corners, same checks).
    let (_, sign) = parse_gt_line(&format!("00000;{x1};{y1};{x2};{y2};{class}"))?;
    Ok(LabelledImage {
        path,
        signs: vec![sign],
        lanes: None,
    })
}

impl DataSet {
    /// Splits GTSDB scenes into (training, held back) by [`GTSDB_HELD_BACK`].
    pub fn split_gtsdb(self) -> (DataSet, DataSet) {
        let (held, kept): (Vec<_>, Vec<_>) = self.items.into_iter().partition(|item| {
            gtsdb_number(&item.path).is_some_and(|n| GTSDB_HELD_BACK.contains(&n))
        });
        let part = |items| DataSet {
            dir: self.dir.clone(),
            source: self.source.clone(),
            items,
        };
        (part(kept), part(held))
    }

    /// How many signs the set labels.
    pub fn sign_count(&self) -> usize {
        self.items.iter().map(|item| item.signs.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn labels_read_with_drawn_centre_preferred_and_visibility() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "labels.jsonl",
            concat!(
                r#"{"frame":0,"signs":[{"id":"s","class":1,"box":[1,2,11,12],"center":[6.5,7],"visible":0.6}],"lanes":[{"id":"l","slot":"ego_left","points":[[1,300],[50,200]]}]}"#,
                "\n\n",
                r#"{"frame":3,"signs":[{"id":"t","class":14,"box":[1,2,11,12],"center":[6,7],"drawn_center":[5.5,6.5]}],"lanes":[]}"#,
                "\n"
            ),
        );
        let frames = read_labels(&path).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].signs[0].center, [6.5, 7.0]);
        assert_eq!(frames[0].signs[0].visible, 0.6);
        assert_eq!(frames[0].signs[0].height(), 10.0);
        assert_eq!(frames[0].lanes[0].slot, LaneSlot::EgoLeft);
        assert_eq!(frames[0].lanes[0].points[1], [50.0, 200.0]);
        assert_eq!(frames[1].frame, 3);
        assert_eq!(frames[1].signs[0].center, [5.5, 6.5]);
        assert_eq!(frames[1].signs[0].visible, 1.0);
    }

    #[test]
    fn bad_labels_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = r#"{"frame":0,"signs":[],"lanes":[]}"#;
        let cases = [
            (
                r#"{"frame":1,"signs":[{"class":50,"box":[0,0,1,1],"center":[0,0]}]}"#,
                "GTSRB",
            ),
            (
                r#"{"frame":1,"lanes":[{"slot":"middle","points":[]}]}"#,
                "middle",
            ),
            (
                r#"{"frame":1,"signs":[{"class":3,"box":[0,0,1],"center":[0,0]}]}"#,
                "expected",
            ),
            ("{not json", "key"),
        ];
        for (bad, expected) in cases {
            let path = write(dir.path(), "labels.jsonl", &format!("{good}\n{bad}\n"));
            let message = read_labels(&path).unwrap_err().to_string();
            assert!(message.contains("labels.jsonl:2:"), "{message}");
            assert!(message.contains(expected), "{message}");
        }
        let missing = read_labels(&dir.path().join("absent.jsonl")).unwrap_err();
        assert!(missing.to_string().contains("absent.jsonl"), "{missing}");
    }

    #[test]
    fn a_sim_set_pairs_labels_with_frames_and_reads_its_record() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("frames")).unwrap();
        write(dir.path(), "frames/000000.jpg", "not decoded here");
        write(dir.path(), "labels.jsonl", "{\"frame\":0}\n");
        write(
            dir.path(),
            "dataset.json",
            r#"{"command": "mapfix simulate dataset --seed 5", "seed": 5, "frames": 1}"#,
        );
        let set = read_sim_set(dir.path()).unwrap();
        assert_eq!(set.items.len(), 1);
        assert!(set.items[0].path.ends_with("frames/000000.jpg"));
        assert_eq!(set.items[0].lanes, Some(Vec::new()));
        assert_eq!(
            set.source,
            Source::Simulated {
                command: Some("mapfix simulate dataset --seed 5".into()),
                seed: Some(5)
            }
        );
        write(dir.path(), "labels.jsonl", "{\"frame\":0}\n{\"frame\":1}\n");
        let message = read_sim_set(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("labels.jsonl:2:") && message.contains("000001.jpg"),
            "{message}"
        );
    }

    #[test]
    fn gtsrb_crops_read_from_class_folders_and_bad_rows_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let stop = dir.path().join("stop");
        std::fs::create_dir(&stop).unwrap();
        write(&stop, "00000_00005.ppm", "");
        let header = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n";
        write(
            &stop,
            "GT-00014.csv",
            &format!("{header}00000_00005.ppm;52;51;6;6;47;46;14\n"),
        );
        let items = read_gtsrb_crops(dir.path()).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].signs[0].class, 14);
        assert_eq!(items[0].signs[0].bbox, [6.0, 6.0, 47.0, 46.0]);
        assert!(items[0].path.ends_with("stop/00000_00005.ppm"));

        write(
            &stop,
            "GT-00014.csv",
            &format!("{header}00000_00009.ppm;52;51;6;6;47;46;14\n"),
        );
        let message = read_gtsrb_crops(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("GT-00014.csv:2:") && message.contains("00000_00009.ppm"),
            "{message}"
        );
        let message = read_gtsrb_crops(&dir.path().join("absent"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("absent"), "{message}");
    }

    #[test]
    fn gtsdb_scenes_read_with_box_centres_and_split() {
        let dir = tempfile::tempdir().unwrap();
        for number in [0, 1, 41] {
            write(dir.path(), &format!("{number:05}.jpg"), "");
        }
        write(dir.path(), "notes.txt", "");
        write(
            dir.path(),
            "gt.txt",
            "00000.ppm;10;20;30;44;11\n00041.ppm;1;1;5;5;2\n00041.ppm;7;7;9;9;3\n",
        );
        let set = read_gtsdb(dir.path()).unwrap();
        assert_eq!(set.items.len(), 3);
        assert_eq!(set.sign_count(), 3);
        assert_eq!(set.items[0].signs[0].center, [20.0, 32.0]);
        assert!(set.items[1].signs.is_empty() && set.items[1].lanes.is_none());
        let (train, held) = set.split_gtsdb();
        assert_eq!(train.items.len(), 2);
        assert_eq!(held.items.len(), 1);
        assert_eq!(held.sign_count(), 2);

        for (bad, expected) in [
            ("00000.ppm;10;20;30;44", "found 5 fields"),
            ("00000.ppm;10;20;x;44;1", "`x`"),
            ("00000.ppm;10;20;5;44;1", "before"),
            ("00000.ppm;10;20;30;44;43", "GTSRB"),
            ("00007.ppm;10;20;30;44;1", "no image 00007"),
        ] {
            write(
                dir.path(),
                "gt.txt",
                &format!("00001.ppm;1;1;2;2;1\n{bad}\n"),
            );
            let message = read_gtsdb(dir.path()).unwrap_err().to_string();
            assert!(message.contains("gt.txt:2:"), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }
}
