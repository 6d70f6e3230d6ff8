//! `mapfix simulate`: render a synthetic drive folder from a map, and
//! `mapfix simulate dataset`: render a detector training set.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mapfix_core::CameraModel;
use mapfix_map::{ImportOptions, Map};
use mapfix_sim::dataset::{write_dataset, DatasetOptions};
use mapfix_sim::drive::{
    dashcam, sub_seed, write_drive, ConditionsChoice, DriveOptions, ROUTE_STREAM, TRAFFIC_STREAM,
};
use mapfix_sim::gnss::GnssConfig;
use mapfix_sim::lanes::LaneNetwork;
use mapfix_sim::render::{ConditionsPreset, Scene};
use mapfix_sim::route::{load_waypoints, DrivingLimits, Route};
use mapfix_sim::traffic::Traffic;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimulateArgs {
    #[command(subcommand)]
    command: Option<SimulateCommand>,
    #[command(flatten)]
    drive: DriveArgs,
}

#[derive(Subcommand)]
enum SimulateCommand {
    /// Render N independent frames at random poses and conditions, with labels, for
    /// training the detector.
    Dataset(DatasetArgs),
}

/// Render a drive: frames and/or video, camera.toml, truth.csv, labels.jsonl, gnss.nmea.
#[derive(Args)]
struct DriveArgs {
    /// The map (.geojson, .osm Lanelet2 or .xodr OpenDRIVE).
    #[arg(long, required = true)]
    map: Option<PathBuf>,
    /// The drive folder to write.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// `auto` (a random route from the seed) or a route file: one waypoint a line,
    /// `lat,lon` or, after a header `east_m,north_m`, map coordinates; optional third
    /// column the level.
    #[arg(long, default_value = "auto")]
    route: String,
    /// Length of the drive (s).
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Frames per second (default 30, or the camera file's).
    #[arg(long)]
    fps: Option<f64>,
    /// Image width (default 1280, or the camera file's).
    #[arg(long, requires = "height", conflicts_with = "camera")]
    width: Option<u32>,
    /// Image height (default 720, or the camera file's).
    #[arg(long, requires = "width", conflicts_with = "camera")]
    height: Option<u32>,
    /// A camera.toml to film with instead of the built-in dashcam.
    #[arg(long)]
    camera: Option<PathBuf>,
    /// Write frames/000000.png … (with --video, both).
    #[arg(long)]
    png: bool,
    /// Write video.mp4 (the default when neither --png nor --video is given).
    #[arg(long)]
    video: bool,
    /// GNSS fixes per second (1–10).
    #[arg(long = "gnss-rate", default_value_t = 5.0)]
    gnss_rate: f64,
    /// Seed of every random choice (route, conditions, noise, GNSS); recorded in sim.json.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// day, dusk, night, rain, fog or random.
    #[arg(long, default_value = "day")]
    conditions: String,
}

#[derive(Args)]
struct DatasetArgs {
    /// The map (.geojson, .osm Lanelet2 or .xodr OpenDRIVE).
    #[arg(long)]
    map: PathBuf,
    /// Number of frames.
    #[arg(long)]
    count: usize,
    /// The folder to write.
    #[arg(long)]
    out: PathBuf,
    /// Seed of every random choice; recorded in dataset.json.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Image width.
    #[arg(long, default_value_t = 640, conflicts_with = "camera")]
    width: u32,
    /// Image height.
    #[arg(long, default_value_t = 360, conflicts_with = "camera")]
    height: u32,
    /// A camera.toml to render with instead of the built-in dashcam.
    #[arg(long)]
    camera: Option<PathBuf>,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    match args.command {
        Some(SimulateCommand::Dataset(dataset)) => run_dataset(dataset),
        None => run_drive(args.drive),
    }
}

/// Loads a map and builds its scene and lanes, saying what it found.
pub fn load_world(path: &Path, seed: u64) -> anyhow::Result<(Map, Scene, LaneNetwork)> {
    let (map, _report) = mapfix_map::import::load(path, &ImportOptions::default())
        .with_context(|| format!("loading map {}", path.display()))?;
    let started = Instant::now();
    let scene = Scene::build(&map, seed);
    let network = LaneNetwork::from_map(&map);
    eprintln!(
        "map {}: {} signs, {} lane lines → {} lanes; scene built in {:.1} s",
        map.name,
        map.signs.len(),
        map.lane_lines.len(),
        network.lanes.len(),
        started.elapsed().as_secs_f64()
    );
    Ok((map, scene, network))
}

/// This process's command line, program name as `mapfix`, for the record in sim.json.
fn command_line() -> String {
    std::iter::once("mapfix".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

fn progress_bar(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:40}] {pos}/{len} frames, {per_sec}, {eta} left",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(what.to_owned());
    bar
}

fn run_drive(args: DriveArgs) -> anyhow::Result<()> {
    let (Some(map_path), Some(out)) = (args.map, args.out) else {
        bail!("--map and --out are required");
    };
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be positive, got {}", args.seconds);
    }
    if !(1.0..=10.0).contains(&args.gnss_rate) {
        bail!("--gnss-rate must be 1–10 Hz, got {}", args.gnss_rate);
    }
    let conditions = match args.conditions.as_str() {
        "random" => ConditionsChoice::Random,
        name => ConditionsChoice::Preset(name.parse::<ConditionsPreset>().context("--conditions")?),
    };
    let mut camera = match &args.camera {
        Some(path) => CameraModel::load(path)?,
        None => dashcam(args.width.unwrap_or(1280), args.height.unwrap_or(720), 30.0),
    };
    if let Some(fps) = args.fps {
        if !(fps > 0.0 && fps <= 240.0) {
            bail!("--fps must be in (0, 240], got {fps}");
        }
        camera.fps = fps;
    }
    let (map, scene, network) = load_world(&map_path, args.seed)?;
    let limits = DrivingLimits::default();
    let route_seed = sub_seed(args.seed, ROUTE_STREAM);
    let route = if args.route == "auto" {
        // Long enough to keep moving for the whole drive, stops included.
        Route::auto(
            &network,
            &map,
            limits.street_speed * args.seconds * 1.3 + 100.0,
            &limits,
            route_seed,
        )?
    } else {
        let route_path = Path::new(&args.route);
        let waypoints = load_waypoints(route_path, &map)?;
        Route::through(&network, &map, &waypoints, &limits, route_seed)
            .with_context(|| format!("route file {}", route_path.display()))?
    };
    let video = args.video || !args.png;
    let k = camera.intrinsics;
    let options = DriveOptions {
        camera,
        seconds: args.seconds,
        conditions,
        png: args.png,
        video,
        gnss: GnssConfig {
            rate_hz: args.gnss_rate,
            ..GnssConfig::default()
        },
        seed: args.seed,
        route_source: args.route.clone(),
        command: command_line(),
    };
    let frames = (args.seconds * camera.fps).round() as usize;
    let traffic = Traffic::spawn(
        &network,
        &map,
        args.seconds,
        Some(&route),
        sub_seed(args.seed, TRAFFIC_STREAM),
    );
    let bar = progress_bar(frames, "rendering");
    let started = Instant::now();
    let summary = write_drive(
        &map,
        &scene,
        &route,
        &traffic,
        &options,
        &out,
        &mut |done| bar.set_position(done as u64),
    )
    .with_context(|| format!("writing drive {}", out.display()))?;
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}: {} frames {}×{} in {:.1} s ({:.1} frames/s), {} sign labels, {} other cars, GNSS {} of {} epochs with a fix, route {:.0} m",
        out.display(),
        summary.frames,
        k.width,
        k.height,
        elapsed,
        summary.frames as f64 / elapsed.max(1e-9),
        summary.sign_labels,
        traffic.len(),
        summary.gnss_fixes,
        summary.gnss_epochs,
        route.length()
    );
    Ok(())
}

fn run_dataset(args: DatasetArgs) -> anyhow::Result<()> {
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    let camera = match &args.camera {
        Some(path) => CameraModel::load(path)?,
        None => dashcam(args.width, args.height, 30.0),
    };
    let (map, scene, network) = load_world(&args.map, args.seed)?;
    let options = DatasetOptions {
        count: args.count,
        camera,
        seed: args.seed,
        command: command_line(),
    };
    let bar = progress_bar(args.count, "rendering");
    let started = Instant::now();
    let summary = write_dataset(&map, &scene, &network, &options, &args.out, &mut |done| {
        bar.set_position(done as u64)
    })
    .with_context(|| format!("writing training set {}", args.out.display()))?;
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}: {} frames in {:.1} s ({:.1} frames/s), {} with signs, {} sign labels",
        args.out.display(),
        summary.frames,
        elapsed,
        summary.frames as f64 / elapsed.max(1e-9),
        summary.frames_with_signs,
        summary.sign_labels
    );
    Ok(())
}

/// `mapfix bench sim`: how fast drives render.
#[derive(Args)]
pub struct BenchSimArgs {
    /// The map to drive through (default: the demo town, generated in memory).
    #[arg(long)]
    map: Option<PathBuf>,
    /// Frames to render.
    #[arg(long, default_value_t = 300)]
    frames: usize,
    #[arg(long, default_value_t = 640)]
    width: u32,
    #[arg(long, default_value_t = 360)]
    height: u32,
    /// Also encode video.mp4 (otherwise frames are rendered and labelled, not stored).
    #[arg(long)]
    video: bool,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Renders a drive along an auto route into a scratch folder and reports frames per second.
pub fn bench(args: BenchSimArgs) -> anyhow::Result<()> {
    let (map, scene, network) = match &args.map {
        Some(path) => load_world(path, args.seed)?,
        None => {
            let map = mapfix_map::demo_town::generate(mapfix_map::demo_town::SHIPPED_SEED);
            let scene = Scene::build(&map, args.seed);
            let network = LaneNetwork::from_map(&map);
            (map, scene, network)
        }
    };
    let camera = dashcam(args.width, args.height, 30.0);
    let seconds = args.frames as f64 / camera.fps;
    let limits = DrivingLimits::default();
    let route = Route::auto(
        &network,
        &map,
        limits.street_speed * seconds * 1.3 + 100.0,
        &limits,
        sub_seed(args.seed, ROUTE_STREAM),
    )?;
    let options = DriveOptions {
        camera,
        seconds,
        conditions: ConditionsChoice::Preset(ConditionsPreset::Day),
        png: false,
        video: args.video,
        gnss: GnssConfig::default(),
        seed: args.seed,
        route_source: "auto".into(),
        command: command_line(),
    };
    let traffic = Traffic::spawn(
        &network,
        &map,
        seconds,
        Some(&route),
        sub_seed(args.seed, TRAFFIC_STREAM),
    );
    let scratch = std::env::temp_dir().join(format!("mapfix-bench-sim-{}", std::process::id()));
    let started = Instant::now();
    let result = write_drive(
        &map,
        &scene,
        &route,
        &traffic,
        &options,
        &scratch,
        &mut |_| {},
    );
    let elapsed = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&scratch);
    let summary = result?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "sim: {} frames {}×{}{} in {:.2} s = {:.1} frames/s on {threads} threads ({} sign labels, {} other cars, route {:.0} m)",
        summary.frames,
        args.width,
        args.height,
        if args.video { " + H.264" } else { "" },
        elapsed,
        summary.frames as f64 / elapsed,
        summary.sign_labels,
        traffic.len(),
        route.length()
    );
    Ok(())
}
