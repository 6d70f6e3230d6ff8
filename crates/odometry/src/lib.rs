//! The camera's odometer: how far the vehicle moved between two frames, and how much it
//! turned, read from the road surface. Where GNSS is gone (tunnels, car parks) and no sign
//! is in view, this is what tells the tracker whether the car stands or moves, and how fast.
//!
//! Each frame's road ahead is resampled onto a metric bird's-eye grid (`grid.rs`: inverse
//! perspective through the calibrated camera, the road taken as the plane under the
//! wheels), high-passed so that only texture remains (`surface.rs`), and aligned with the
//! previous frame's grid over forward distance and yaw (`align.rs`). The grid is split across the road into strips that are
//! aligned separately: a pillar, a wall or a car ahead breaks the flat-road assumption in
//! one strip, and a motion counts only when strips agree on it. Where the road shows no
//! motion at all, the horizon may still show the turn (`compass.rs`).

// `!(x < y)` is deliberate: NaN must fail every such check.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

mod align;
mod compass;
mod grid;
mod surface;

use align::{Alignment, SearchRange};
pub use compass::{HorizonCompass, Profile, Turn};
use grid::GroundGrid;
use surface::{sample_luminance, RoadSurface};

use image::RgbImage;
use mapfix_core::CameraModel;

/// The vehicle's motion between two frames, as the road surface shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundMotion {
    /// The later frame's time (s).
    pub time_s: f64,
    /// Seconds since the earlier frame.
    pub interval_s: f64,
    /// Distance driven forward (m; negative when reversing); `None` when only the turn
    /// was seen (on the horizon, the road showing nothing).
    pub distance_m: Option<f64>,
    /// Change of yaw (rad, counter-clockwise positive: a left turn).
    pub yaw_change_rad: f64,
    /// Standard deviation of `distance_m` (m), when there is one.
    pub distance_sigma_m: f64,
    /// Standard deviation of `yaw_change_rad` (rad).
    pub yaw_sigma_rad: f64,
    /// The stretch of road read (m ahead of the vehicle's reference point, nearest and
    /// furthest), taken to be the plane under the wheels: where the road's grade changes
    /// within it (a ramp's crest or foot) the distance is off by about 2·x/h per radian
    /// of change, x the distance ahead and h the camera's height.
    pub road_ahead_m: (f64, f64),
}

impl GroundMotion {
    /// Mean speed over the interval (m/s) and its standard deviation, when the distance
    /// was seen.
    pub fn speed(&self) -> Option<(f64, f64)> {
        let distance_m = self.distance_m?;
        Some((
            distance_m / self.interval_s,
            self.distance_sigma_m / self.interval_s,
        ))
    }

    /// Mean yaw rate over the interval (rad/s, counter-clockwise) and its standard
    /// deviation.
    pub fn yaw_rate(&self) -> (f64, f64) {
        (
            self.yaw_change_rad / self.interval_s,
            self.yaw_sigma_rad / self.interval_s,
        )
    }
}

/// Frame-to-frame odometry for one camera: keeps the last frame's road surface and a slow
/// average of the surfaces, the background.
#[derive(Debug, Clone)]
pub struct RoadOdometry {
    grid: GroundGrid,
    /// The turn where the road shows none.
    compass: Option<HorizonCompass>,
    previous: Option<Observed>,
    /// What stays put in the grid while the car moves: the tint of a wet road's
    /// reflections, fog, a wall's smooth face, marks on the lens. It is the same in every
    /// frame, so it would pull every alignment towards standing still; it is taken out of
    /// each surface before the surfaces are aligned.
    background: Vec<f32>,
    /// Frames the background has taken in since it started.
    background_frames: usize,
    /// The last motion found, as a speed: the next is searched for only where the car can
    /// have got to from it.
    last: Option<LastMotion>,
    /// A motion found by searching everywhere when the last one said it could not be: it
    /// replaces the last one once the next frame's search confirms it.
    unconfirmed: Option<LastMotion>,
}

/// Speed (m/s) and yaw rate (rad/s) of the last motion found, and when.
#[derive(Debug, Clone, Copy)]
struct LastMotion {
    time_s: f64,
    speed: f64,
    yaw_rate: f64,
}

impl LastMotion {
    fn of(found: &Alignment, time_s: f64, interval_s: f64) -> Self {
        Self {
            time_s,
            speed: found.distance_m / interval_s,
            yaw_rate: found.yaw_change_rad / interval_s,
        }
    }

    /// The range the car can have moved in over `interval_s` to `time_s`, or `None` when
    /// this motion is too old to say.
    fn bounds(&self, time_s: f64, interval_s: f64) -> Option<SearchRange> {
        let since = time_s - self.time_s;
        (since <= MEMORY_S).then(|| {
            SearchRange::around(
                (
                    self.speed * interval_s,
                    MAX_ACCELERATION * since * interval_s + SEARCH_MARGIN_M,
                ),
                (
                    self.yaw_rate * interval_s,
                    MAX_YAW_ACCELERATION * since * interval_s + SEARCH_MARGIN_RAD,
                ),
                interval_s,
            )
        })
    }
}

/// One frame's luminance, its surface as sampled and less the background (once there is
/// one), and a sparse sample of its whole picture.
#[derive(Debug, Clone)]
struct Observed {
    time_s: f64,
    luminance: Vec<f32>,
    surface: RoadSurface,
    foreground: Option<RoadSurface>,
    picture: Picture,
    horizon: Option<Profile>,
}

/// The picture's green channel every [`PICTURE_STEP`] pixels across and down.
#[derive(Debug, Clone, PartialEq)]
struct Picture {
    columns: usize,
    samples: Vec<u8>,
}

/// A cell's luminance changing by less than this (of 255) from one frame to the next was
/// copied, not seen again.
const COPIED_LEVEL: f32 = 0.25;
/// A video codec that copies every textured cell of the road from the frame before (all
/// but this share) while something else in the picture changes shows a standing car. On
/// the d31 drive (OpenH264, 960×540): 100 % of the road copied on 9 standing frames in 10,
/// at most 99.7 % below 1 m/s. A picture copied whole is no sign: a camera or recorder that
/// repeats a frame it dropped does that at any speed.
const STANDING_COPIED_SHARE: f64 = 0.999;
/// A cell has texture when its high-passed luminance is this far (of 255) from its
/// surroundings; flat cells stay the same without being copied (a black road at night).
const TEXTURE_LEVEL: f32 = 1.0;
/// Fewest textured cells for the copied share to say anything.
const MIN_TEXTURED_CELLS: usize = 1000;
/// Every this many pixels across and down, the picture is sampled to tell a repeated
/// frame from a coded standstill, and a standing picture from a moving one.
const PICTURE_STEP: u32 = 2;
/// A sample is on an edge when its neighbours across differ by this much (of 255).
const EDGE_LEVEL: i16 = 12;
/// An edge sample changing by no more than this (of 255) stayed where it was.
const STILL_LEVEL: i16 = 2;
/// A picture whose edges stayed, all but this share of them, shows a standing car even
/// where the road's own texture says nothing: a car park's floor too faint for the
/// codec to keep, or rain that changes the road between frames (a raindrop changes the
/// few edges it crosses). Moving, even slowly, shifts the edges of what is near: on the
/// d31–d33 drives (OpenH264, 960×540; day, rain, night) at most 74 % of edges stayed
/// from 0.5 m/s on, against 82 % (rain) to 99 % (day) standing. Night's sensor noise
/// keeps it below this; the road's texture then shows the standstill instead.
const STANDING_STILL_EDGES: f64 = 0.8;
/// Fewest edge samples for that share to say anything.
const MIN_EDGES: usize = 1000;
/// Longest gap (s) between frames that are still compared: beyond it the car may have
/// moved further than the grid is long.
const MAX_INTERVAL_S: f64 = 0.25;
/// Time constant (s) of the background average: long enough that the road's texture
/// averages out at walking pace and faster, short enough to follow a tunnel's entrance.
const BACKGROUND_TIME_S: f64 = 0.5;
/// Frames the background averages with equal weight before it becomes a running average,
/// and before which no motion is measured: until then it has not learnt what stays put.
const BACKGROUND_WARM_UP: usize = 6;
/// Standard deviation of a measured distance (m), from the alignment's errors on
/// rendered drives (day, rain and night; street, tunnel and car park).
const DISTANCE_SIGMA_M: f64 = 0.06;
const YAW_SIGMA_RAD: f64 = 0.25 * std::f64::consts::PI / 180.0;
/// A motion this short (m) between frames found on the surfaces as sampled is a standing
/// or creeping car, whose texture the background has absorbed.
const CREEP_M: f64 = 0.1;
/// The most a car's speed (m/s²) and yaw rate (rad/s²) change, and how long (s) the last
/// motion found bounds the next: after that the whole range is searched again.
const MAX_ACCELERATION: f64 = 8.0;
const MAX_YAW_ACCELERATION: f64 = 1.5;
const MEMORY_S: f64 = 1.0;
/// Room (m, rad) for the measurement's own error around what the car can have done.
const SEARCH_MARGIN_M: f64 = 0.08;
const SEARCH_MARGIN_RAD: f64 = std::f64::consts::PI / 180.0;

impl RoadOdometry {
    /// `None` when the camera does not see the road close ahead (pointing up, or the road
    /// hidden by the vehicle's own hood beyond the grid's reach).
    pub fn new(camera: &CameraModel) -> Option<Self> {
        let grid = GroundGrid::new(camera)?;
        Some(Self {
            background: vec![0.0; grid.len()],
            background_frames: 0,
            grid,
            compass: HorizonCompass::new(camera),
            previous: None,
            last: None,
            unconfirmed: None,
        })
    }

    /// Takes the frame at `time_s` (frames in time order) and returns the motion since the
    /// previous one, when the road showed it.
    pub fn observe(&mut self, time_s: f64, image: &RgbImage) -> Option<GroundMotion> {
        let luminance = sample_luminance(&self.grid, image);
        let mut surface = RoadSurface::texture(&self.grid, &luminance);
        let interval_s = self.previous.as_ref().map(|p| time_s - p.time_s);
        let mut foreground = self.take_background(&surface, interval_s);
        let picture = Picture::sample(image);
        // A cell whose pixels did not change at all was not seen again: a video codec
        // copied it from the frame before (a sensor's noise alone changes every pixel),
        // and a copy says nothing of how far the car moved, unless the codec copied the
        // whole road and not the whole picture (see `STANDING_COPIED_SHARE`).
        let mut standing = false;
        if let Some(previous) = &self.previous {
            let seen_again: Vec<bool> = luminance
                .iter()
                .zip(&previous.luminance)
                .map(|(now, before)| !((now - before).abs() < COPIED_LEVEL))
                .collect();
            standing = picture != previous.picture
                && (road_copied(&surface, &seen_again) || picture.stood(&previous.picture));
            surface.mask(&seen_again);
            if let Some(foreground) = &mut foreground {
                foreground.mask(&seen_again);
            }
        }
        let horizon = self.compass.as_ref().map(|compass| compass.profile(image));
        let current = Observed {
            time_s,
            luminance,
            surface,
            foreground,
            picture,
            horizon,
        };
        let previous = self.previous.take();
        let interval_s = interval_s.filter(|&dt| dt > 0.0 && dt <= MAX_INTERVAL_S);
        let warm = current.foreground.is_some();
        let (Some(previous), Some(interval_s)) = (previous, interval_s) else {
            self.previous = Some(current);
            return None;
        };
        let found = if standing && warm {
            Some(Alignment {
                distance_m: 0.0,
                yaw_change_rad: 0.0,
            })
        } else {
            self.found(&previous, &current, interval_s)
        };
        // Distance (when seen), yaw change and its σ: off the road, else on the horizon.
        let seen = match found {
            Some(found) => {
                self.last = Some(LastMotion::of(&found, time_s, interval_s));
                Some((Some(found.distance_m), found.yaw_change_rad, YAW_SIGMA_RAD))
            }
            None => self
                .turn(&previous, &current, interval_s)
                .map(|turn| (None, turn.yaw_change_rad, turn.sigma_rad)),
        };
        self.previous = Some(current);
        let (distance_m, yaw_change_rad, yaw_sigma_rad) = seen?;
        Some(GroundMotion {
            time_s,
            interval_s,
            distance_m,
            yaw_change_rad,
            distance_sigma_m: DISTANCE_SIGMA_M,
            yaw_sigma_rad,
            road_ahead_m: self.grid.ahead_m(),
        })
    }

    /// The turn between two frames on the horizon; none between copies of one picture (a
    /// recorder repeating a frame says nothing).
    fn turn(&self, previous: &Observed, current: &Observed, interval_s: f64) -> Option<Turn> {
        if current.picture == previous.picture {
            return None;
        }
        let compass = self.compass.as_ref()?;
        let (before, now) = (previous.horizon.as_ref()?, current.horizon.as_ref()?);
        compass.turn(before, now, interval_s)
    }

    /// The motion between two frames: on their foregrounds, else a standing or creeping car
    /// on the surfaces as sampled.
    fn found(
        &mut self,
        previous: &Observed,
        current: &Observed,
        interval_s: f64,
    ) -> Option<Alignment> {
        let (Some(previous_foreground), Some(foreground)) =
            (&previous.foreground, &current.foreground)
        else {
            return None;
        };
        let time_s = current.time_s;
        self.moving(previous_foreground, foreground, time_s, interval_s)
            .or_else(|| self.creeping(&previous.surface, &current.surface, time_s, interval_s))
    }

    /// `surface` less the background, which then takes `surface` in; `None` while the
    /// background is warming up.
    fn take_background(
        &mut self,
        surface: &RoadSurface,
        interval_s: Option<f64>,
    ) -> Option<RoadSurface> {
        let running = match interval_s {
            Some(dt) if dt > 0.0 && dt <= MAX_INTERVAL_S => 1.0 - (-dt / BACKGROUND_TIME_S).exp(),
            // The first frame, or one after a gap, starts the average afresh.
            _ => {
                self.background.fill(0.0);
                self.background_frames = 0;
                1.0
            }
        };
        self.background_frames += 1;
        let weight = running.max(1.0 / self.background_frames as f64) as f32;
        let warm = self.background_frames > BACKGROUND_WARM_UP;
        let values = surface
            .values
            .iter()
            .zip(&mut self.background)
            .map(|(&value, background)| {
                let foreground = value - *background;
                if !value.is_nan() {
                    *background += weight * (value - *background);
                }
                foreground
            })
            .collect();
        warm.then_some(RoadSurface { values })
    }

    /// What the last motion found says of this one: the range the car can have moved
    /// in since, or `None` when it is too old to say.
    fn expected(&self, time_s: f64, interval_s: f64) -> Option<SearchRange> {
        self.last?.bounds(time_s, interval_s)
    }

    /// The motion between two foregrounds: where the last one says it can be, anywhere
    /// when there is none. A best motion on the edge of the expected range is no motion
    /// found: the surfaces agree best on something the car cannot have done (a picture
    /// that stands still while the car moves, as a video codec's skipped blocks do). But
    /// the last motion may have been the wrong one: what a search everywhere finds in two
    /// frames running, each where the other allows, stands.
    fn moving(
        &mut self,
        previous: &RoadSurface,
        current: &RoadSurface,
        time_s: f64,
        interval_s: f64,
    ) -> Option<Alignment> {
        let all = SearchRange::for_interval(interval_s);
        let Some(range) = self.expected(time_s, interval_s) else {
            return align::align(&self.grid, previous, current, &all);
        };
        if let Some(found) = align::align(&self.grid, previous, current, &range)
            .filter(|found| !range.clips(found, &all))
        {
            self.unconfirmed = None;
            return Some(found);
        }
        let found = align::align(&self.grid, previous, current, &all)?;
        let confirmed = self
            .unconfirmed
            .and_then(|unconfirmed| unconfirmed.bounds(time_s, interval_s))
            .is_some_and(|range| !range.clips(&found, &all) && range.holds(&found));
        self.unconfirmed = (!confirmed).then(|| LastMotion::of(&found, time_s, interval_s));
        confirmed.then_some(found)
    }

    /// A standing or creeping car: the surfaces as sampled align at (almost) no motion. Only
    /// where the last motion says the car may have stopped since: what stays put in the
    /// picture (see `background`) would look like a stop.
    fn creeping(
        &self,
        previous: &RoadSurface,
        current: &RoadSurface,
        time_s: f64,
        interval_s: f64,
    ) -> Option<Alignment> {
        let expected = self.expected(time_s, interval_s)?;
        if !(expected.distance_m.0 <= 0.0) {
            return None;
        }
        let half_yaw = (expected.yaw_rad.1 - expected.yaw_rad.0) / 2.0;
        let range = SearchRange::around((0.0, CREEP_M), (0.0, half_yaw), interval_s);
        align::align(&self.grid, previous, current, &range)
            .filter(|found| found.distance_m.abs() < CREEP_M)
    }
}

/// Whether all but [`STANDING_COPIED_SHARE`] of the textured cells of `surface` (as
/// sampled, before any masking) were copied, that is not `seen_again`.
fn road_copied(surface: &RoadSurface, seen_again: &[bool]) -> bool {
    let textured = surface
        .values
        .iter()
        .zip(seen_again)
        .filter(|(value, _)| value.abs() >= TEXTURE_LEVEL);
    let (cells, copied) = textured.fold((0usize, 0usize), |(cells, copied), (_, seen)| {
        (cells + 1, copied + usize::from(!seen))
    });
    cells >= MIN_TEXTURED_CELLS && copied as f64 >= STANDING_COPIED_SHARE * cells as f64
}

impl Picture {
    fn sample(image: &RgbImage) -> Self {
        let (width, height) = image.dimensions();
        let samples = (0..height)
            .step_by(PICTURE_STEP as usize)
            .flat_map(|v| {
                (0..width)
                    .step_by(PICTURE_STEP as usize)
                    .map(move |u| image.get_pixel(u, v).0[1])
            })
            .collect();
        Self {
            columns: width.div_ceil(PICTURE_STEP) as usize,
            samples,
        }
    }

    /// Whether all but [`STANDING_STILL_EDGES`] of the edges of `before` stayed in this
    /// picture (of the same size).
    fn stood(&self, before: &Picture) -> bool {
        if self.columns < 3
            || self.columns != before.columns
            || self.samples.len() != before.samples.len()
        {
            return false;
        }
        let level = |picture: &Picture, k: usize| i16::from(picture.samples[k]);
        let (mut edges, mut stayed) = (0usize, 0usize);
        for start in (0..before.samples.len()).step_by(self.columns) {
            for k in start + 1..start + self.columns - 1 {
                if (level(before, k + 1) - level(before, k - 1)).abs() >= EDGE_LEVEL {
                    edges += 1;
                    stayed += usize::from((level(self, k) - level(before, k)).abs() <= STILL_LEVEL);
                }
            }
        }
        edges >= MIN_EDGES && stayed as f64 >= STANDING_STILL_EDGES * edges as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// Vertical bars 6 px wide, alternately dark and light, `shift` pixels to the right.
    fn bars(shift: u32) -> RgbImage {
        RgbImage::from_fn(320, 180, |u, _| {
            let level = if ((u + 1000 - shift) / 6).is_multiple_of(2) {
                60
            } else {
                160
            };
            Rgb([level, level, level])
        })
    }

    #[test]
    fn a_picture_stands_when_its_edges_stay_though_rain_changes_some() {
        let before = Picture::sample(&bars(0));
        let mut rain = bars(0);
        // Streaks over every seventh column: a seventh of the edges change.
        for (u, _, pixel) in rain.enumerate_pixels_mut() {
            if u % 7 == 3 {
                *pixel = Rgb([220, 220, 220]);
            }
        }
        assert!(Picture::sample(&rain).stood(&before));
        // The same picture 2 px further: every edge moved.
        assert!(!Picture::sample(&bars(2)).stood(&before));
        // A flat picture has no edges to tell.
        let grey = Picture::sample(&RgbImage::from_pixel(320, 180, Rgb([90, 90, 90])));
        assert!(!grey.stood(&grey.clone()));
    }
}
