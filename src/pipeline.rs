//! The stages every frame goes through, shared by `mapfix run` (batch) and `mapfix serve`
//! (live): detect → associate, solve and filter (the tracker) → one `PositionRecord`.
//! Only the driving differs: batch detects a chunk of keyframes together and tracks every
//! frame in order (those between keyframes by prediction); live answers each frame as it
//! arrives with a preview and commits detections as they come back (`mapfix serve`).

use anyhow::Context;
use image::RgbImage;
use mapfix_core::{CameraModel, Vec3};
use mapfix_detector::{Detections, Detector};
use mapfix_io::gnss::{FixQuality, GnssLog};
use mapfix_io::{Drive, Fix, GnssStatus, PositionRecord, Sigma, TrackOutputs};
use mapfix_map::Map;
use mapfix_odometry::{GroundMotion, RoadOdometry};
use mapfix_tracker::{
    FrameEstimate, GnssInput, GnssPosition, GnssQuality, Tracker, TrackerOptions,
};
use nalgebra::Matrix3;
use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

/// Turns a recording's frames, one after another, into position records.
pub struct Localizer {
    tracker: Tracker,
    map_frame: mapfix_core::LocalFrame,
    /// The recording's GNSS epochs on the frame clock, in time order.
    gnss: Vec<GnssInput>,
    /// The first epoch not yet given to the tracker.
    next_gnss: usize,
    /// The first epoch after the last record's time (a record says whether GNSS arrived
    /// since the one before).
    next_reported_gnss: usize,
    /// Unix time of frame 0, when known: outputs then carry UTC.
    start_unix_s: Option<f64>,
    /// The road's motions of frames answered with a preview and not committed yet, in
    /// time order: a commit steps the tracker through them first.
    uncommitted_motions: Vec<GroundMotion>,
}

/// Most motions kept for a later commit; beyond it the oldest are committed on their own
/// (a detector that has stopped answering must not make every preview slower).
const MAX_UNCOMMITTED_MOTIONS: usize = 120;

impl Localizer {
    pub fn new(
        map: &Map,
        camera: CameraModel,
        mut gnss: Vec<GnssInput>,
        start_unix_s: Option<f64>,
    ) -> anyhow::Result<Self> {
        let tracker = Tracker::new(map, camera, TrackerOptions::default())
            .with_context(|| format!("cannot position against map '{}'", map.name))?;
        gnss.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        Ok(Self {
            tracker,
            map_frame: map.frame,
            gnss,
            next_gnss: 0,
            next_reported_gnss: 0,
            start_unix_s,
            uncommitted_motions: Vec::new(),
        })
    }

    /// The record of the frame `index` taken at `time_s` (seconds since frame 0), given what
    /// the detector found in it (`None`: not looked at, the tracker predicts) and the road's
    /// motion since the frame before. GNSS epochs up to `time_s` are fed first. Frames come
    /// in time order.
    pub fn locate(
        &mut self,
        index: u64,
        time_s: f64,
        detections: Option<&Detections>,
        motion: Option<&GroundMotion>,
    ) -> PositionRecord {
        let estimate = self.step(time_s, detections, motion);
        let gnss_arrived = self.report_gnss(time_s);
        self.record(index, time_s, &estimate, gnss_arrived)
    }

    /// Commits what the detector found in a frame taken at `time_s`, after every frame
    /// before it was committed or answered with [`Localizer::preview`]; the road's motions
    /// and GNSS epochs up to `time_s` go first.
    pub fn commit(&mut self, time_s: f64, detections: &Detections) {
        let due = self
            .uncommitted_motions
            .partition_point(|motion| motion.time_s <= time_s);
        let motions: Vec<GroundMotion> = self.uncommitted_motions.drain(..due).collect();
        let own = motions.last().filter(|motion| motion.time_s == time_s);
        for motion in &motions[..motions.len() - usize::from(own.is_some())] {
            self.step(motion.time_s, None, Some(motion));
        }
        self.step(time_s, Some(detections), own);
    }

    /// The record of the frame `index` at `time_s`, with the road's motion since the frame
    /// before, as the tracker predicts it from what is committed: the uncommitted motions
    /// and GNSS epochs up to `time_s` are applied to a copy, the tracker is left as it is.
    /// Frames come in time order, not before the last commit.
    pub fn preview(
        &mut self,
        index: u64,
        time_s: f64,
        motion: Option<GroundMotion>,
    ) -> PositionRecord {
        if self.uncommitted_motions.len() >= MAX_UNCOMMITTED_MOTIONS {
            let oldest = self.uncommitted_motions.remove(0);
            self.step(oldest.time_s, None, Some(&oldest));
        }
        self.uncommitted_motions.extend(motion);
        let due = self.due_gnss(self.next_gnss, time_s);
        let estimate = self.tracker.preview(
            time_s,
            &self.uncommitted_motions,
            &self.gnss[self.next_gnss..due],
        );
        let gnss_arrived = self.report_gnss(time_s);
        self.record(index, time_s, &estimate, gnss_arrived)
    }

    /// Steps the tracker to `time_s`, GNSS epochs up to then first.
    fn step(
        &mut self,
        time_s: f64,
        detections: Option<&Detections>,
        motion: Option<&GroundMotion>,
    ) -> FrameEstimate {
        let due = self.due_gnss(self.next_gnss, time_s);
        let epochs = &self.gnss[self.next_gnss..due];
        self.next_gnss = due;
        self.tracker.step(time_s, detections, motion, epochs)
    }

    /// The end of the epochs from `from` on with times up to `time_s`.
    fn due_gnss(&self, from: usize, time_s: f64) -> usize {
        from + self.gnss[from..].partition_point(|epoch| epoch.time_s <= time_s)
    }

    /// Whether an epoch came since the last record, which is now at `time_s`.
    fn report_gnss(&mut self, time_s: f64) -> bool {
        let due = self.due_gnss(self.next_reported_gnss, time_s);
        let arrived = due > self.next_reported_gnss;
        self.next_reported_gnss = due;
        arrived
    }

    fn record(
        &self,
        index: u64,
        time_s: f64,
        estimate: &FrameEstimate,
        gnss_arrived: bool,
    ) -> PositionRecord {
        let utc_s = self.start_unix_s.map(|start| start + time_s);
        let gnss = if estimate.flags.gnss_multipath {
            GnssStatus::Suspect
        } else if gnss_arrived {
            GnssStatus::Used
        } else {
            GnssStatus::Absent
        };
        let fix = estimate.pose.zip(estimate.source).map(|(pose, source)| {
            let position_covariance: Matrix3<f64> = pose.covariance.fixed_view::<3, 3>(0, 0).into();
            Fix {
                source,
                position: self.map_frame.to_geodetic(&pose.position),
                local: pose.position,
                heading: pose.heading(),
                speed: Some(pose.speed),
                sigma: Sigma::from_covariance(&position_covariance, Some(pose.covariance[(3, 3)])),
                landmarks: estimate.landmarks as u32,
            }
        });
        PositionRecord {
            frame: index,
            time_s,
            utc_s,
            fix,
            gnss,
        }
    }
}

/// What every recording of a run shares: the map and the network (none when the camera
/// is not looked at).
pub struct Stages {
    pub map: Map,
    pub detector: Option<Detector>,
    /// Whether the road surface is read for the vehicle's speed between frames
    /// (`mapfix-odometry`): only when the camera is looked at.
    pub road_odometry: bool,
}

impl Stages {
    /// Loads the map, which must have signs, and the detector unless `model` is `None`.
    pub fn load(map_path: &Path, model: Option<&Path>) -> anyhow::Result<Self> {
        let (map, _) = mapfix_map::load(map_path, &mapfix_map::ImportOptions::default())?;
        if map.signs.is_empty() {
            anyhow::bail!(
                "{}: the map has no signs: mapfix positions the camera against signs (and \
                 lane lines), so it needs a map that has them",
                map_path.display()
            );
        }
        let detector = model
            .map(|path| {
                Detector::load(path)
                    .with_context(|| format!("loading the detector {}", path.display()))
            })
            .transpose()?;
        let road_odometry = detector.is_some();
        Ok(Self {
            map,
            detector,
            road_odometry,
        })
    }

    /// The road odometer for `camera`, when the road surface is read and the camera sees
    /// it.
    pub fn odometer(&self, camera: &CameraModel) -> Option<RoadOdometry> {
        self.road_odometry
            .then(|| RoadOdometry::new(camera))
            .flatten()
    }
}

/// The GNSS epochs of a drive on its frame clock, and the Unix time of its frame 0 when
/// that is known (from the drive's record or a dated log). Frame 0's time comes from the
/// drive's record, else the video's creation time if it fits the log, else the first fix.
pub fn gnss_inputs(
    log_path: &Path,
    recorded_start_unix_s: Option<f64>,
    container_start_unix_s: Option<f64>,
) -> anyhow::Result<(Vec<GnssInput>, Option<f64>)> {
    let log = GnssLog::read(log_path)?;
    let clock = log.frame_clock(recorded_start_unix_s, container_start_unix_s);
    let start_unix_s = recorded_start_unix_s.or(log.dated.then_some(clock.start_utc_s));
    let inputs = log
        .fixes
        .iter()
        .map(|fix| GnssInput {
            time_s: clock.time_s(fix),
            position: match fix.position {
                Some(position) => GnssPosition::Geodetic(position),
                None => GnssPosition::Enu(Vec3::zeros()),
            },
            quality: match (fix.position, fix.quality) {
                (None, _) | (_, FixQuality::Invalid) => GnssQuality::NoFix,
                (_, FixQuality::Differential | FixQuality::RtkFloat) => GnssQuality::Differential,
                (_, FixQuality::RtkFixed) => GnssQuality::RtkFixed,
                (_, FixQuality::Estimated | FixQuality::Manual | FixQuality::Simulated) => {
                    GnssQuality::Estimated
                }
                (_, FixQuality::Autonomous | FixQuality::Unknown) => GnssQuality::Autonomous,
            },
            hdop: fix.hdop,
            sigma_horizontal_m: None,
            speed_mps: fix.speed_mps,
            course: fix.course,
        })
        .collect();
    Ok((inputs, start_unix_s))
}

/// Which frames the detector looks at; the tracker predicts the others.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Keyframes {
    /// About this many frames a second of recording.
    Rate(f64),
    /// Every n-th frame (1: all of them).
    Every(u64),
}

impl Keyframes {
    /// Every how many frames one is detected, for a recording at `fps`.
    pub fn interval(self, fps: f64) -> u64 {
        match self {
            Keyframes::Rate(hz) => (fps / hz).round().max(1.0) as u64,
            Keyframes::Every(n) => n.max(1),
        }
    }
}

/// How a drive went.
#[derive(Debug, Default)]
pub struct DriveSummary {
    pub frames: u64,
    /// Frames the detector looked at, and every how many frames it did.
    pub detected: u64,
    pub detect_interval: u64,
    /// Frames by `source` name, in first-seen order.
    pub sources: Vec<(&'static str, u64)>,
    pub seconds: f64,
    /// The error that ended the drive early, after its frames so far were written.
    pub failure: Option<anyhow::Error>,
}

impl DriveSummary {
    fn count(&mut self, source: &'static str) {
        self.frames += 1;
        match self.sources.iter_mut().find(|(name, _)| *name == source) {
            Some((_, count)) => *count += 1,
            None => self.sources.push((source, 1)),
        }
    }

    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }

    /// Frames with a fix of any source.
    pub fn available(&self) -> u64 {
        self.sources
            .iter()
            .filter(|(name, _)| *name != mapfix_io::record::NO_FIX_NAME)
            .map(|(_, count)| count)
            .sum()
    }
}

/// Keyframes detected together: enough to keep both cores busy, few enough that memory stays
/// small whatever the recording's length. Decoding may run one chunk's frames ahead, so that
/// it goes on while the detector works (with 8 frames of room instead, 720p30 ran at 28 fps
/// instead of 36).
const DETECT_CHUNK: usize = 4;
/// The most frames decoding runs ahead, whatever the keyframe interval: memory stays bounded
/// (48 RGB frames of 1920×1080 are 300 MB).
const MAX_DECODE_AHEAD: usize = 48;

/// Runs one drive through every stage into `out_dir`'s `positions.*`, reporting to
/// `progress` the frames done and, where the input says, how many there are. Decoding runs
/// on its own thread ahead of detection. The detector looks at the `keyframes` (none
/// without a detector), a chunk of them at a time; every frame is tracked in order, those
/// between keyframes by the tracker's prediction. An input error midway (a damaged video)
/// ends the drive after the frames before it are written; it is returned in the summary,
/// the outputs stay valid.
pub fn track_drive(
    drive: &Drive,
    stages: &Stages,
    use_gnss: bool,
    keyframes: Keyframes,
    out_dir: &Path,
    progress: &(dyn Fn(u64, Option<u64>) + Sync),
) -> anyhow::Result<DriveSummary> {
    let source = drive.open_frames()?;
    let created_unix_s = source.info().creation_unix_s;
    let frame_count = source.info().frame_count;
    let interval = keyframes.interval(source.info().fps);
    let (gnss, start_unix_s) = match (&drive.gnss, use_gnss) {
        (Some(path), true) => gnss_inputs(path, drive.start_unix_s, created_unix_s)?,
        _ => (Vec::new(), drive.start_unix_s),
    };
    let mut localizer = Localizer::new(&stages.map, drive.camera, gnss, start_unix_s)?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let mut outputs = TrackOutputs::create(out_dir)?;
    let started = Instant::now();
    let mut summary = DriveSummary {
        detect_interval: interval,
        ..DriveSummary::default()
    };
    // The frames up to a chunk's last keyframe.
    let chunk_frames = DETECT_CHUNK * interval as usize;
    let (sender, receiver) = mpsc::sync_channel(chunk_frames.min(MAX_DECODE_AHEAD));
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut odometry = stages.odometer(&drive.camera);
        // Odometry runs here too, beside decoding: it needs every frame in order.
        scope.spawn(move || {
            for frame in source {
                let failed = frame.is_err();
                let with_motion = frame.map(|frame| {
                    let motion = odometry
                        .as_mut()
                        .and_then(|odometry| odometry.observe(frame.time_s, &frame.image));
                    (frame, motion)
                });
                if sender.send(with_motion).is_err() || failed {
                    break;
                }
            }
        });
        let mut frames = receiver.iter().peekable();
        while frames.peek().is_some() {
            let mut chunk = Vec::with_capacity(chunk_frames);
            let mut images: Vec<RgbImage> = Vec::with_capacity(DETECT_CHUNK);
            while images.len() < DETECT_CHUNK && chunk.len() < chunk_frames {
                match frames.next() {
                    Some(Ok((frame, motion))) => {
                        let keyframe = stages.detector.is_some() && frame.index % interval == 0;
                        chunk.push((frame.index, frame.time_s, keyframe, motion));
                        if keyframe {
                            images.push(frame.image);
                        }
                    }
                    Some(Err(error)) => {
                        summary.failure = Some(error.into());
                        break;
                    }
                    None => break,
                }
            }
            let detections = match &stages.detector {
                Some(detector) if !images.is_empty() => {
                    detector.detect_batch(&images).with_context(|| {
                        format!(
                            "detecting in {} from frame {}",
                            drive.video.display(),
                            chunk[0].0
                        )
                    })?
                }
                _ => Vec::new(),
            };
            let mut detected = detections.iter();
            for (index, time_s, keyframe, motion) in &chunk {
                let found = if *keyframe { detected.next() } else { None };
                let record = localizer.locate(*index, *time_s, found, motion.as_ref());
                outputs.write(&record)?;
                summary.count(record.source_name());
                summary.detected += u64::from(found.is_some());
                progress(summary.frames, frame_count);
            }
            if summary.failure.is_some() {
                break;
            }
        }
        Ok(())
    })?;
    outputs.finish()?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
