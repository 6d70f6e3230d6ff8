//! Synthetic dashcam problems with known answers, shared by tests, benchmarks and
//! `mapfix bench solver`.
//!
//! A 1280×720 camera looks ahead from a car (small random pitch and roll, any heading) at
//! landmarks placed uniformly over the image at 5–80 m depth — the geometry signs and
//! poles have from a dashcam. Pixel noise is Gaussian; outliers (wrong associations) get a
//! uniformly random pixel at least [`MIN_OUTLIER_OFFSET_PX`] from the true one. This module makes test data; the solvers themselves never see
//! pixels.

use crate::pose::{CameraPose, Observations};
use mapfix_core::{Attitude, CameraModel, Distortion, Intrinsics, Mount, Pose, Vec3};
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Nearest and farthest landmark depth (metres along the optical axis).
pub const DEPTH_RANGE: (f64, f64) = (5.0, 80.0);

/// An outlier's pixel is at least this far from the landmark's true projection.
pub const MIN_OUTLIER_OFFSET_PX: f64 = 20.0;

/// A pose is a success when its rotation is within this of the truth (1°)…
pub const SUCCESS_ROTATION: f64 = std::f64::consts::PI / 180.0;
/// …and its centre within this fraction of the mean landmark distance (1 %).
pub const SUCCESS_POSITION_FRACTION: f64 = 0.01;

/// A 1280×720 dashcam with a 70° horizontal field of view, no distortion.
pub fn dashcam_camera() -> CameraModel {
    CameraModel {
        intrinsics: Intrinsics {
            width: 1280,
            height: 720,
            fx: 900.0,
            fy: 900.0,
            cx: 639.5,
            cy: 359.5,
        },
        distortion: Distortion::default(),
        mount: Mount::default(),
        fps: 30.0,
    }
}

/// A camera on a car somewhere in a 1 km square: any heading, pitch within ±5°, roll
/// within ±3°, 1.2–1.6 m above a road at 0–50 m elevation.
pub fn dashcam_pose(rng: &mut impl Rng, camera: &CameraModel) -> CameraPose {
    let vehicle = Pose::new(
        Vec3::new(
            rng.random_range(-500.0..500.0),
            rng.random_range(-500.0..500.0),
            rng.random_range(0.0..50.0) + rng.random_range(1.2..1.6),
        ),
        Attitude {
            roll: rng.random_range(-3.0f64..3.0).to_radians(),
            pitch: rng.random_range(-5.0f64..5.0).to_radians(),
            yaw: rng.random_range(-std::f64::consts::PI..std::f64::consts::PI),
        },
    );
    CameraPose::from_world_from_camera(&camera.world_from_camera(&vehicle))
}

/// How many landmarks, what share of them are outliers, and the pixel noise (1σ).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProblemSpec {
    pub landmarks: usize,
    pub outlier_ratio: f64,
    pub noise_px: f64,
}

/// One synthetic problem: what the camera measured and the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticProblem {
    pub camera: CameraModel,
    /// Measured pixels (noisy; random for outliers).
    pub pixels: Vec<[f64; 2]>,
    /// Unit camera-frame bearings of `pixels`.
    pub bearings: Vec<Vec3>,
    /// Landmark positions (world frame).
    pub points: Vec<Vec3>,
    pub truth: CameraPose,
    pub outliers: Vec<bool>,
}

impl SyntheticProblem {
    pub fn observations(&self) -> Observations<'_> {
        Observations::points(&self.bearings, &self.points)
    }

    /// Mean distance from the true camera centre to the landmarks.
    pub fn mean_distance(&self) -> f64 {
        mean_distance(&self.truth.centre, &self.points)
    }

    /// Whether `estimate` meets the success criterion against the truth.
    pub fn is_success(&self, estimate: &CameraPose) -> bool {
        is_success(estimate, &self.truth, &self.points)
    }
}

/// Mean distance from `centre` to `points` (zero for none).
pub fn mean_distance(centre: &Vec3, points: &[Vec3]) -> f64 {
    if points.is_empty() {
        return 0.0;
    }
    points.iter().map(|p| (p - centre).norm()).sum::<f64>() / points.len() as f64
}

/// Rotation error below 1° and position error below 1 % of the mean landmark distance.
pub fn is_success(estimate: &CameraPose, truth: &CameraPose, points: &[Vec3]) -> bool {
    estimate.rotation_error(truth) < SUCCESS_ROTATION
        && estimate.position_error(truth)
            < SUCCESS_POSITION_FRACTION * mean_distance(&truth.centre, points)
}

/// A random dashcam problem.
pub fn dashcam_problem(rng: &mut impl Rng, spec: &ProblemSpec) -> SyntheticProblem {
    let camera = dashcam_camera();
    let truth = dashcam_pose(rng, &camera);
    let k = camera.intrinsics;
    let noise = Normal::new(0.0, spec.noise_px.max(0.0)).expect("non-negative deviation");
    let random_pixel = |rng: &mut dyn rand::RngCore| {
        [
            rng.random_range(0.0..k.width as f64 - 1.0),
            rng.random_range(0.0..k.height as f64 - 1.0),
        ]
    };
    let n = spec.landmarks;
    let mut true_pixels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n);
    let mut points = Vec::with_capacity(n);
    let to_world = truth.rotation.inverse();
    for _ in 0..n {
        let pixel = random_pixel(rng);
        let ray = camera
            .pixel_to_ray(pixel[0], pixel[1])
            .expect("an undistorted camera inverts every pixel");
        let depth = rng.random_range(DEPTH_RANGE.0..DEPTH_RANGE.1);
        points.push(to_world * (ray * (depth / ray.z)) + truth.centre);
        pixels.push([pixel[0] + noise.sample(rng), pixel[1] + noise.sample(rng)]);
        true_pixels.push(pixel);
    }
    let outlier_count = ((n as f64 * spec.outlier_ratio.clamp(0.0, 1.0)).round() as usize).min(n);
    let mut outliers = vec![false; n];
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..outlier_count {
        let pick = rng.random_range(i..n);
        order.swap(i, pick);
        let index = order[i];
        outliers[index] = true;
        // A wrong association lands elsewhere in the image, not on the landmark itself.
        pixels[index] = loop {
            let candidate = random_pixel(rng);
            let [u, v] = true_pixels[index];
            if (candidate[0] - u).hypot(candidate[1] - v) > MIN_OUTLIER_OFFSET_PX {
                break candidate;
            }
        };
    }
    let bearings = pixels
        .iter()
        .map(|p| camera.pixel_to_ray(p[0], p[1]).expect("undistorted"))
        .collect();
    SyntheticProblem {
        camera,
        pixels,
        bearings,
        points,
        truth,
        outliers,
    }
}

/// A seeded stream of dashcam problems: the same seed gives the same problems.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: rand_chacha::ChaCha8Rng,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: rand::SeedableRng::seed_from_u64(seed),
        }
    }

    pub fn problem(&mut self, spec: &ProblemSpec) -> SyntheticProblem {
        dashcam_problem(&mut self.rng, spec)
    }
}
