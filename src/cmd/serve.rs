//! `mapfix serve`: positions live, as NMEA 0183 over TCP, the way a GNSS receiver or gpsd
//! feeds navigation apps. Frames go through the same stages as `mapfix run` (the
//! pipeline's `Localizer`); each frame's sentences go to every connected client at once.
//!
//! The detector is far slower than the frame rate, so it does not hold frames up: every
//! frame is answered at once with the tracker's prediction at its time (GNSS up to then
//! included), while a detection thread takes the newest frame whenever it is free. Its
//! result for a frame is committed to the tracker in time order (GNSS epochs up to the
//! frame's time first), and the frames after it are predicted from there.
//!
//! A frame "arrives" when it is decoded (from stdin), when its time has come (`--realtime`:
//! a frame decoded late counts its lateness; decoding ahead of time is not counted), or,
//! when a file is served as fast as it can be, when the previous frame is done with; then
//! the detector, too, gets every frame, and the frames after it wait for it.
//! Live inputs (`--realtime`, stdin) keep only the newest frame while one is being
//! processed, as a camera would: when processing falls behind, frames are skipped rather
//! than delayed. At exit (end of input, SIGINT or SIGTERM) the clients get what is queued
//! and the log gives the latency percentiles from arrival to sentences sent, and how many
//! frames were detected and how many only predicted.

use crate::pipeline::{gnss_inputs, Localizer, Stages};
use anyhow::{bail, Context};
use clap::Args;
use mapfix_core::CameraModel;
use mapfix_detector::{Detections, Detector};
use mapfix_io::drive::discover;
use mapfix_io::frames::AnnexBSource;
use mapfix_io::tcp::LatencyHistogram;
use mapfix_io::{Frame, FrameSource, NmeaServer, ServerOptions};
use mapfix_odometry::{GroundMotion, RoadOdometry};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
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
    /// Do not read the vehicle's speed from the road surface, as `mapfix run --no-odometry`.
    #[arg(long)]
    no_odometry: bool,
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
    /// The road's motion since the frame decoded before it.
    motion: Option<GroundMotion>,
}

/// A one-item hand-over between two threads: a new item replaces one not yet taken
/// (counted as skipped); a producer that must not skip waits for room first.
struct Mailbox<T> {
    state: Mutex<MailboxState<T>>,
    changed: Condvar,
}

struct MailboxState<T> {
    item: Option<T>,
    skipped: u64,
    /// The producer is done: the input ended, or failed with this message.
    ended: Option<Result<(), String>>,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(MailboxState {
                item: None,
                skipped: 0,
                ended: None,
            }),
            changed: Condvar::new(),
        }
    }
}

impl<T> Mailbox<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, MailboxState<T>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until the last item was taken (or a stop is requested).
    fn wait_for_room(&self) {
        let mut state = self.lock();
        while state.item.is_some() && !STOP.load(Ordering::Relaxed) {
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    fn put(&self, item: T) {
        let mut state = self.lock();
        if state.item.replace(item).is_some() {
            state.skipped += 1;
        }
        self.changed.notify_all();
    }

    fn end(&self, outcome: Result<(), String>) {
        self.lock().ended = Some(outcome);
        self.changed.notify_all();
    }

    fn skipped(&self) -> u64 {
        self.lock().skipped
    }

    /// The next item; `None` at the end (with its outcome) or on a stop request.
    fn take(&self) -> Result<T, Option<Result<(), String>>> {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.item.take() {
                self.changed.notify_all();
                return Ok(item);
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
fn read_frames(
    open: OpenFrames,
    mut odometry: Option<RoadOdometry>,
    mailbox: &Mailbox<Arrival>,
    realtime: bool,
    live: bool,
) {
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
        // Every decoded frame, skipped ones too: each motion is measured from the frame
        // before it.
        let motion = odometry
            .as_mut()
            .and_then(|odometry| odometry.observe(frame.time_s, &frame.image));
        if !live {
            mailbox.wait_for_room();
        }
        mailbox.put(Arrival { frame, at, motion });
    }
    mailbox.end(Ok(()));
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    install_stop_handlers()?;
    let server = NmeaServer::bind(args.listen.as_str(), ServerOptions::default())?;
    eprintln!("mapfix serve: listening on {}", server.local_addr());

    let from_stdin = args.input.as_os_str() == "-";
    let (mut localizer, detector, odometry, open_frames) = prepare(&args, from_stdin)?;
    let live = args.realtime || from_stdin;

    let mailbox = Arc::new(Mailbox::default());
    let reader = {
        let mailbox = Arc::clone(&mailbox);
        let realtime = args.realtime && !from_stdin;
        std::thread::Builder::new()
            .name("frames".into())
            .spawn(move || read_frames(open_frames, odometry, &mailbox, realtime, live))
            .context("cannot start the frame reader")?
    };

    let to_detect = Mailbox::<Frame>::default();
    let (results, detected) = mpsc::channel::<Detected>();
    let mut log = ServeLog::default();
    let outcome = std::thread::scope(|scope| {
        if let Some(detector) = &detector {
            let (to_detect, results) = (&to_detect, results);
            std::thread::Builder::new()
                .name("detector".into())
                .spawn_scoped(scope, move || detect_frames(detector, to_detect, &results))
                .context("cannot start the detection thread")?;
        }
        let outcome = answer_frames(
            &mailbox,
            detector.as_ref().map(|_| &to_detect),
            &detected,
            &mut localizer,
            &server,
            live,
            &mut log,
        );
        to_detect.end(Ok(()));
        anyhow::Ok(outcome)
    })?;
    let stopped = STOP.load(Ordering::Relaxed);
    if !stopped {
        // The input ended: the reader has finished (a stop request may leave it blocked
        // on stdin, and the process ends without it).
        let _ = reader.join();
    }
    let skipped = mailbox.skipped();
    let sent = server.latency();
    let stats = server.shutdown();

    eprintln!(
        "mapfix serve: {} frames processed, each answered with the prediction at its time \
         ({} of them detected, {} only predicted), {skipped} skipped (arrived while one was \
         processed){}",
        log.answered,
        log.committed,
        log.answered - log.committed,
        if stopped { ", stopped by signal" } else { "" }
    );
    eprintln!(
        "mapfix serve: latency frame arrival → sentences queued: {}",
        percentiles(&log.queued)
    );
    eprintln!(
        "mapfix serve: latency frame arrival → written to a client: {}",
        percentiles(&sent)
    );
    eprintln!(
        "mapfix serve: time per frame predicting: {}",
        percentiles(&log.predicting)
    );
    eprintln!(
        "mapfix serve: time per detection (its own thread): {}",
        percentiles(&log.detecting)
    );
    eprintln!(
        "mapfix serve: time per detection committed (association, solving, filtering): {}",
        percentiles(&log.committing)
    );
    eprintln!(
        "mapfix serve: {} clients connected, {} dropped as too slow, {} gone",
        stats.connected, stats.dropped_slow, stats.disconnected
    );
    outcome.map_err(|message| anyhow::anyhow!(message))
}

/// A frame's detections, from the detection thread.
struct Detected {
    time_s: f64,
    detections: Result<Detections, String>,
    took: Duration,
}

/// What the exit log reports.
#[derive(Default)]
struct ServeLog {
    answered: u64,
    committed: u64,
    /// Arrival → sentences queued.
    queued: LatencyHistogram,
    predicting: LatencyHistogram,
    detecting: LatencyHistogram,
    committing: LatencyHistogram,
}

/// The detection thread: the newest frame whenever it is free, until the frames end.
fn detect_frames(detector: &Detector, frames: &Mailbox<Frame>, results: &mpsc::Sender<Detected>) {
    while let Ok(frame) = frames.take() {
        let started = Instant::now();
        let detections = detector
            .detect(&frame.image)
            .map_err(|error| format!("frame {}: detection failed: {error:#}", frame.index));
        let done = Detected {
            time_s: frame.time_s,
            detections,
            took: started.elapsed(),
        };
        if results.send(done).is_err() {
            break;
        }
    }
}

/// Answers every arriving frame with the tracker's prediction at its time, committing the
/// detections that came back before it, and hands the frame to the detection thread, if
/// there is one. Returns how the input ended.
fn answer_frames(
    frames: &Mailbox<Arrival>,
    to_detect: Option<&Mailbox<Frame>>,
    detected: &mpsc::Receiver<Detected>,
    localizer: &mut Localizer,
    server: &NmeaServer,
    live: bool,
    log: &mut ServeLog,
) -> Result<(), String> {
    let mut epoch = String::new();
    loop {
        let mut arrival = match frames.take() {
            Ok(arrival) => arrival,
            Err(None) => return Ok(()),
            Err(Some(outcome)) => return outcome,
        };
        if !live {
            // Read ahead: the frame was not due until the previous one was done with.
            arrival.at = Instant::now();
        }
        // Results come in the order their frames were handed over, each before this frame.
        for done in detected.try_iter() {
            let started = Instant::now();
            localizer.commit(done.time_s, &done.detections?);
            log.committing.record(started.elapsed());
            log.detecting.record(done.took);
            log.committed += 1;
        }
        let started = Instant::now();
        let record = localizer.preview(arrival.frame.index, arrival.frame.time_s, arrival.motion);
        epoch.clear();
        mapfix_io::nmea::write_epoch(&record, &mut epoch);
        log.predicting.record(started.elapsed());
        server.broadcast(epoch.as_bytes(), arrival.at);
        log.queued.record(arrival.at.elapsed());
        log.answered += 1;
        if let Some(to_detect) = to_detect {
            if !live {
                // Served as fast as it can be, the detector sees every frame.
                to_detect.wait_for_room();
            }
            to_detect.put(arrival.frame);
        }
    }
}

/// Opens the input's frames; called on the reading thread, since a stream on stdin blocks
/// until its first picture.
type OpenFrames = Box<dyn FnOnce() -> Result<Box<dyn FrameSource>, mapfix_io::IoError> + Send>;

/// The stages and the frames: the map, the detector, the tracker with the GNSS log on the
/// frame clock, the road odometer, and the input's frames (a drive or video, or H.264 on
/// stdin). The input is resolved first, so that a wrong one is reported before the model
/// loads.
fn prepare(
    args: &ServeArgs,
    from_stdin: bool,
) -> anyhow::Result<(
    Localizer,
    Option<Detector>,
    Option<RoadOdometry>,
    OpenFrames,
)> {
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
    let mut stages = Stages::load(&args.map, (!args.no_vision).then_some(args.model.as_path()))?;
    stages.road_odometry &= !args.no_odometry;
    let odometry = stages.odometer(&camera);
    let (gnss, start_unix_s) = match gnss.filter(|_| !args.no_gnss) {
        Some(path) => gnss_inputs(&path, start_unix_s, None)?,
        None => (Vec::new(), start_unix_s),
    };
    let localizer = Localizer::new(&stages.map, camera, gnss, start_unix_s)?;
    Ok((localizer, stages.detector, odometry, open))
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
