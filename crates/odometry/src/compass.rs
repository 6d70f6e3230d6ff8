//! The turn between two frames, read on the horizon: a yaw turns everything far away
//! sideways by the same angle, so a band of the picture around the horizon, averaged down
//! each column and resampled at equal steps of azimuth, shifts by the yaw change. It is
//! what tells a turn where the road ahead shows too little texture to align (a car park's
//! floor in daylight, a wet road in rain). Things near the car also drift outwards as it
//! drives on; that makes the reading about a tenth too large in a turn, and off by a
//! twentieth of a degree a frame on a straight street, so the road's own turn is preferred
//! wherever there is one.

use crate::align::vertex;
use image::RgbImage;
use mapfix_core::{CameraModel, Pose, Vec3};

/// Step of azimuth (rad) between the profile's samples.
const STEP_RAD: f64 = 0.1 * std::f64::consts::PI / 180.0;
/// The band around the horizon averaged down each column: this share of the image's
/// height above it (distant walls, pillars, buildings) and below it.
const ABOVE_SHARE: f64 = 0.2;
const BELOW_SHARE: f64 = 0.03;
/// Distance (m) of the points that stand for the horizon.
const FAR_M: f64 = 1000.0;
/// Samples either side averaged into the slow part of the profile that is taken out, so
/// that a change of exposure does not read as a turn.
const SMOOTHING_HALF: usize = 20;
/// Fastest yaw rate searched for (rad/s).
const MAX_YAW_RATE: f64 = 1.0;
/// A turn counts when the profiles agree at it this much better than at the median shift
/// searched, and the profile varies by at least this much (of 255) on average.
const MAX_COST_RATIO: f64 = 0.7;
const MIN_CONTRAST: f64 = 0.5;
/// Standard deviation of a reading: a floor (rad) and a share of the turn read, from the
/// d31–d33 drives (day, rain, night; street and car park).
const SIGMA_FLOOR_RAD: f64 = 0.3 * std::f64::consts::PI / 180.0;
const SIGMA_SHARE: f64 = 0.15;

/// Where each azimuth sample of the horizon band lies in the image.
#[derive(Debug, Clone)]
pub struct HorizonCompass {
    /// Column (pixels) of each sample, left to right, and the band's rows.
    columns: Vec<f64>,
    rows: std::ops::Range<u32>,
}

/// A frame's horizon profile, slow part taken out; `NaN`-free.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile(Vec<f64>);

/// A yaw change (rad, counter-clockwise) and its standard deviation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Turn {
    pub yaw_change_rad: f64,
    pub sigma_rad: f64,
}

impl HorizonCompass {
    /// `None` when the horizon is not in the picture (a camera pointing at the road or the
    /// sky), or too little of it.
    pub fn new(camera: &CameraModel) -> Option<Self> {
        let k = &camera.intrinsics;
        let (width, height) = (k.width as f64, k.height as f64);
        let at_rest = Pose::identity();
        let mount = camera.mount.position;
        let horizon = |azimuth: f64| {
            let far = mount + FAR_M * Vec3::new(azimuth.cos(), azimuth.sin(), 0.0);
            camera
                .project(&at_rest, &far)
                .filter(|&[u, v]| u >= 1.0 && u <= width - 2.0 && v >= 0.0 && v < height)
        };
        let middle = horizon(0.0)?;
        // Leftmost azimuth to rightmost, as far as the horizon shows.
        let reach = |sign: f64| {
            (1..)
                .map(|k| sign * k as f64 * STEP_RAD)
                .take_while(|&azimuth| azimuth.abs() < std::f64::consts::FRAC_PI_2)
                .take_while(|&azimuth| horizon(azimuth).is_some())
                .last()
                .unwrap_or(0.0)
        };
        let (left, right) = (reach(1.0), reach(-1.0));
        let samples = ((left - right) / STEP_RAD).round() as usize;
        let columns: Vec<f64> = (0..=samples)
            .filter_map(|k| horizon(left - k as f64 * STEP_RAD).map(|[u, _]| u))
            .collect();
        let top = (middle[1] - ABOVE_SHARE * height).max(0.0) as u32;
        let bottom = ((middle[1] + BELOW_SHARE * height) as u32).min(k.height);
        let enough = columns.len() > 4 * SMOOTHING_HALF && bottom > top;
        enough.then_some(Self {
            columns,
            rows: top..bottom,
        })
    }

    /// The horizon band's profile of `image` (the camera's size).
    pub fn profile(&self, image: &RgbImage) -> Profile {
        let (width, height) = image.dimensions();
        let rows = self.rows.start.min(height)..self.rows.end.min(height);
        let count = rows.len().max(1) as f64;
        let column_mean = |u: u32| {
            let u = u.min(width - 1);
            let sum: u32 = rows
                .clone()
                .map(|v| u32::from(image.get_pixel(u, v).0[1]))
                .sum();
            f64::from(sum) / count
        };
        let raw: Vec<f64> = self
            .columns
            .iter()
            .map(|&u| {
                let left = u.floor();
                let share = u - left;
                let left = left as u32;
                (1.0 - share) * column_mean(left) + share * column_mean(left + 1)
            })
            .collect();
        let slow = |k: usize| {
            let window =
                &raw[k.saturating_sub(SMOOTHING_HALF)..(k + SMOOTHING_HALF + 1).min(raw.len())];
            window.iter().sum::<f64>() / window.len() as f64
        };
        Profile((0..raw.len()).map(|k| raw[k] - slow(k)).collect())
    }

    /// The turn from `before` to `now`, `interval_s` apart, or `None` when the horizon
    /// does not show one clearly (too plain, or alike at many turns).
    pub fn turn(&self, before: &Profile, now: &Profile, interval_s: f64) -> Option<Turn> {
        let (before, now) = (&before.0, &now.0);
        if before.len() != now.len() {
            return None;
        }
        let contrast = now.iter().map(|x| x.abs()).sum::<f64>() / now.len() as f64;
        if !(contrast >= MIN_CONTRAST) {
            return None;
        }
        let most = ((MAX_YAW_RATE * interval_s / STEP_RAD).ceil() as usize).max(1);
        // The edges, where the slow part is taken over fewer samples, are left out.
        let margin = most + SMOOTHING_HALF;
        if now.len() <= 2 * margin + SMOOTHING_HALF {
            return None;
        }
        // now[k] = before[k + shift]: a left turn moves the picture right, to a negative
        // shift.
        let cost = |shift: isize| {
            let compared = margin..now.len() - margin;
            let count = compared.len() as f64;
            compared
                .map(|k| (now[k] - before[(k as isize + shift) as usize]).abs())
                .sum::<f64>()
                / count
        };
        let costs: Vec<f64> = (-(most as isize)..=most as isize).map(cost).collect();
        let (best, &least) = costs.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1))?;
        let mut sorted = costs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        if best == 0 || best == costs.len() - 1 || !(least <= MAX_COST_RATIO * median) {
            return None;
        }
        // The minimum between samples: a parabola through the best and its neighbours.
        let offset = vertex(-costs[best - 1], -least, -costs[best + 1]);
        let yaw_change_rad = -(best as f64 - most as f64 + offset) * STEP_RAD;
        Some(Turn {
            yaw_change_rad,
            sigma_rad: SIGMA_FLOOR_RAD + SIGMA_SHARE * yaw_change_rad.abs(),
        })
    }
}
