//! `mapfix serve`: positions live, as NMEA 0183 over TCP, the way a GNSS receiver or gpsd
//! feeds navigation apps. Frames go through the same stages as `mapfix run` (the
//! pipeline's `Localizer`), one at a time as they arrive; each frame's sentences go to
//! every connected client at once.
//!
//! A frame "arrives" when it is decoded (from stdin), when its time has come (`--realtime`:
//! a frame decoded late counts its lateness; decoding ahead of time is not counted), or,
//! when a file is served as fast as it can be, when the previous frame is done with.
//! Live inputs (`--realtime`, stdin) keep only the newest frame while one is being
//! processed, as a camera would: when processing falls behind, frames are skipped rather
//! than delayed. At exit (end of input, SIGINT or SIGTERM) the clients get what is queued
//! and the log gives the latency percentiles from arrival to sentences sent.

use crate::pipeline::{gnss_inputs, Localizer, Stages};
use anyhow::{bail, Context};
use clap::Args;
use mapfix_core::CameraModel;
use mapfix_detector::{Detections, Detector};
use mapfix_io::drive::discover;
use mapfix_io::frames::AnnexBSource;
use mapfix_io::tcp::LatencyHistogram;
use mapfix_io::{Frame, FrameSource, NmeaServer, ServerOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct ServeArgs {
    /// A drive folder, a video file, or `-` for a raw Annex-B H.264 stream on stdin
    /// (`ffmpeg … -f h264 - | mapfix serve - …`; needs --camera).
    #[arg(value_name = "INPUT")]
    input: PathBuf,
    /// The HD map (GeoJSON, Lanelet2 .osm or OpenDRIVE .xodr).
    #[arg(long, value_name = "MAP")]
    map: PathBuf,
    /// Where clients connect (10110 is the usual NMEA-over-TCP port; port 0 picks a free
    /// one, printed at start).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:10110")]
    listen: String,
    /// Play a drive or video at its frame rate, as a live camera would deliver it.
    #[arg(long)]
    realtime: bool,
    /// A GNSS log (NMEA or GPX) to fuse, instead of the drive's own.
    #[arg(long, value_name = "FILE")]
    gnss: Option<PathBuf>,
    /// camera.toml, instead of the drive's own (required for stdin).
    #[arg(long, value_name = "FILE")]
    camera: Option<PathBuf>,
    /// The detector (its model card `detector.json` lies beside it).
    #[arg(long, default_value = "models/detector.safetensors")]
    model: PathBuf,
    /// Position from GNSS alone (the camera is not looked at), as `mapfix run --no-vision`.
    #[arg(long)]
    no_vision: bool,
    /// Ignore GNSS: position from the camera alone, as `mapfix run --no-gnss`.
    #[arg(long, conflicts_with = "gnss")]
    no_gnss: bool,
}

/// Set by SIGINT or SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM ask for a clean stop; a second one ends the process at once
/// (SA_RESETHAND puts the default action back).
fn install_stop_handlers() -> anyhow::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe, and
        // the sigaction struct is fully initialised before use.
        let failed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut()) != 0
        };
        if failed {
            bail!(
                "cannot install the handler of signal {signal}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// A frame with the moment it arrived.
struct Arrival {
    frame: Frame,
    at: Instant,
}

/// A one-frame hand-over between the reading thread and the processing loop. Live, a new
/// frame replaces one not yet taken (counted as skipped); otherwise the reader waits.
#[derive(Default)]
struct Mailbox {
    state: Mutex<MailboxState>,
    changed: Condvar,
}

#[derive(Default)]
struct MailboxState {
    frame: Option<Arrival>,
    skipped: u64,
    /// The reader is done: the input ended, or failed with this message.
    ended: Option<Result<(), String>>,
}

impl Mailbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, MailboxState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn put(&self, mut arrival: Arrival, live: bool) {
        let mut state = self.lock();
        if !live {
            while state.frame.is_some() && !STOP.load(Ordering::Relaxed) {
                state = self
                    .changed
                    .wait_timeout(state, Duration::from_millis(100))
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
            // Read ahead, the frame was not due until now.
            arrival.at = Instant::now();
        }
        if state.frame.replace(arrival).is_some() {
            state.skipped += 1;
        }
        self.changed.notify_all();
    }

    fn end(&self, outcome: Result<(), String>) {
        self.lock().ended = Some(outcome);
        self.changed.notify_all();
    }

    /// The next frame; `None` at the end of input (with its outcome) or on a stop request.
    fn take(&self) -> Result<Option<Arrival>, Option<Result<(), String>>> {
        let mut state = self.lock();
        loop {
            if let Some(arrival) = state.frame.take() {
                self.changed.notify_all();
                return Ok(Some(arrival));
            }
            if let Some(outcome) = state.ended.take() {
                return Err(Some(outcome));
            }
            if STOP.load(Ordering::Relaxed) {
                return Err(None);
            }
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// Reads frames into the mailbox, at their own pace when `realtime`.
fn read_frames(open: OpenFrames, mailbox: &Mailbox, realtime: bool, live: bool) {
    let frames = match open() {
        Ok(frames) => frames,
        Err(error) => return mailbox.end(Err(format!("{error:#}"))),
    };
    let start = Instant::now();
    for frame in frames {
        if STOP.load(Ordering::Relaxed) {
            break;
        }
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                mailbox.end(Err(format!("{error:#}")));
                return;
            }
        };
        // Played in real time, a frame arrives when it is due, as from a camera: a frame
        // decoded late counts its lateness.
        let at = if realtime {
            let due = start + Duration::from_secs_f64(frame.time_s.max(0.0));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            due
        } else {
            Instant::now()
        };
        mailbox.put(Arrival { frame, at }, live);
    }
    mailbox.end(Ok(()));
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    install_stop_handlers()?;
    let server = NmeaServer::bind(args.listen.as_str(), ServerOptions::default())?;
    eprintln!("mapfix serve: listening on {}", server.local_addr());

    let from_stdin = args.input.as_os_str() == "-";
    let (mut localizer, detector, open_frames) = prepare(&args, from_stdin)?;
    let live = args.realtime || from_stdin;

    let mailbox = Arc::new(Mailbox::default());
    let reader = {
        let mailbox = Arc::clone(&mailbox);
        let realtime = args.realtime && !from_stdin;
        std::thread::Builder::new()
            .name("frames".into())
            .spawn(move || read_frames(open_frames, &mailbox, realtime, live))
            .context("cannot start the frame reader")?
    };

    let mut queued = LatencyHistogram::default();
    // Where the time goes: detection, and association + solving + filtering.
    let (mut detecting, mut locating) = (LatencyHistogram::default(), LatencyHistogram::default());
    let mut processed = 0u64;
    let mut epoch = String::new();
    let outcome = loop {
        let arrival = match mailbox.take() {
            Ok(Some(arrival)) => arrival,
            Ok(None) | Err(None) => break Ok(()),
            Err(Some(outcome)) => break outcome,
        };
        let started = Instant::now();
        let detections = match detector.as_ref().map(|d| d.detect(&arrival.frame.image)) {
            None => Detections::default(),
            Some(Ok(detections)) => detections,
            Some(Err(error)) => {
                break Err(format!(
                    "frame {}: detection failed: {error:#}",
                    arrival.frame.index
                ))
            }
        };
        let detected = Instant::now();
        if detector.is_some() {
            detecting.record(detected - started);
        }
        let record = localizer.locate(arrival.frame.index, arrival.frame.time_s, &detections);
        locating.record(detected.elapsed());
        epoch.clear();
        mapfix_io::nmea::write_epoch(&record, &mut epoch);
        server.broadcast(epoch.as_bytes(), arrival.at);
        queued.record(arrival.at.elapsed());
        processed += 1;
    };
    let stopped = STOP.load(Ordering::Relaxed);
    if !stopped {
        // The input ended: the reader has finished (a stop request may leave it blocked
        // on stdin, and the process ends without it).
        let _ = reader.join();
    }
    let skipped = mailbox.lock().skipped;
    let sent = server.latency();
    let stats = server.shutdown();

    eprintln!(
        "mapfix serve: {processed} frames processed, {skipped} skipped (arrived while one was processed){}",
        if stopped { ", stopped by signal" } else { "" }
    );
    eprintln!(
        "mapfix serve: latency frame arrival → sentences queued: {}",
        percentiles(&queued)
    );
    eprintln!(
        "mapfix serve: latency frame arrival → written to a client: {}",
        percentiles(&sent)
    );
    eprintln!(
        "mapfix serve: time per frame detecting: {}",
        percentiles(&detecting)
    );
    eprintln!(
        "mapfix serve: time per frame locating: {}",
        percentiles(&locating)
    );
    eprintln!(
        "mapfix serve: {} clients connected, {} dropped as too slow, {} gone",
        stats.connected, stats.dropped_slow, stats.disconnected
    );
    outcome.map_err(|message| anyhow::anyhow!(message))
}

/// Opens the input's frames; called on the reading thread, since a stream on stdin blocks
/// until its first picture.
type OpenFrames = Box<dyn FnOnce() -> Result<Box<dyn FrameSource>, mapfix_io::IoError> + Send>;

/// The stages and the frames: the map, the detector, the tracker with the GNSS log on the
/// frame clock, and the input's frames (a drive or video, or H.264 on stdin). The input is
/// resolved first, so that a wrong one is reported before the model loads.
fn prepare(
    args: &ServeArgs,
    from_stdin: bool,
) -> anyhow::Result<(Localizer, Option<Detector>, OpenFrames)> {
    let (camera, open, gnss, start_unix_s): (CameraModel, OpenFrames, _, _) = if from_stdin {
        let Some(camera_path) = &args.camera else {
            bail!(
                "reading H.264 from stdin needs --camera camera.toml (the stream says nothing \
                 of the lens or the frame rate)"
            );
        };
        let camera = CameraModel::load(camera_path)?;
        let fps = camera.fps;
        let open: OpenFrames = Box::new(move || {
            let stdin = std::io::BufReader::new(std::io::stdin());
            Ok(Box::new(AnnexBSource::new(stdin, Path::new("-"), fps)?) as Box<dyn FrameSource>)
        });
        (camera, open, args.gnss.clone(), None)
    } else {
        let mut drives = discover(&args.input, args.camera.as_deref())?;
        if drives.len() != 1 {
            bail!(
                "{}: holds {} drives; mapfix serve plays one",
                args.input.display(),
                drives.len()
            );
        }
        let drive = drives.remove(0);
        let gnss = args.gnss.clone().or_else(|| drive.gnss.clone());
        let (camera, start_unix_s) = (drive.camera, drive.start_unix_s);
        (
            camera,
            Box::new(move || drive.open_frames()),
            gnss,
            start_unix_s,
        )
    };
    let stages = Stages::load(&args.map, (!args.no_vision).then_some(args.model.as_path()))?;
    let (gnss, start_unix_s) = match gnss.filter(|_| !args.no_gnss) {
        Some(path) => gnss_inputs(&path, start_unix_s, None)?,
        None => (Vec::new(), start_unix_s),
    };
    let localizer = Localizer::new(&stages.map, camera, gnss, start_unix_s)?;
    Ok((localizer, stages.detector, open))
}

/// p50, p95, p99 and the largest latency, or that there were none.
fn percentiles(latency: &LatencyHistogram) -> String {
    let ms = |fraction| {
        latency
            .percentile(fraction)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    if latency.count() == 0 {
        return "no samples".to_owned();
    }
    format!(
        "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
        ms(0.5),
        ms(0.95),
        ms(0.99),
        ms(1.0),
        latency.count()
    )
}
