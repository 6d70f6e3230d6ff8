//! Aligning two frames' road surfaces: the forward distance and yaw change that carry the
//! earlier surface onto the later one, found strip by strip and kept where strips agree.

use crate::grid::{GroundGrid, CELL_M, STRIPS};
use crate::surface::RoadSurface;

/// Fastest forward speed (m/s) and yaw rate (rad/s) searched for, and the most the car may
/// reverse (m/s).
const MAX_SPEED: f64 = 40.0;
const MAX_REVERSE_SPEED: f64 = 8.0;
const MAX_YAW_RATE: f64 = 1.0;
/// A car cannot turn on the spot: its tightest turn, about 4 m round the rear axle, holds
/// its yaw change to this much per metre driven (1/m), give or take a coarse step.
const MAX_CURVATURE: f64 = 0.25;
/// Furthest distance (m) searched: half the grid must still overlap.
const MAX_DISTANCE_M: f64 = 2.5;
/// Steps of the coarse search (on every other cell) and of the fine one.
const COARSE_DISTANCE_M: f64 = 0.1;
const COARSE_YAW_RAD: f64 = 0.5 * std::f64::consts::PI / 180.0;
const FINE_DISTANCE_M: f64 = 0.05;
const FINE_YAW_RAD: f64 = 0.25 * std::f64::consts::PI / 180.0;
/// A strip counts when its best correlation reaches this over at least this many cells
/// (coarse search, every other cell).
const MIN_SCORE: f64 = 0.3;
const MIN_CELLS: f64 = 150.0;
/// Strips agree when their motions differ by no more than this.
const AGREE_DISTANCE_M: f64 = 0.15;
const AGREE_YAW_RAD: f64 = 0.75 * std::f64::consts::PI / 180.0;

/// The motions searched between two frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchRange {
    /// Forward distance (m), least and most.
    pub distance_m: (f64, f64),
    /// Yaw change (rad), least and most.
    pub yaw_rad: (f64, f64),
}

impl SearchRange {
    /// Every motion a car can make in `interval_s`.
    pub fn for_interval(interval_s: f64) -> Self {
        let yaw = (MAX_YAW_RATE * interval_s).max(COARSE_YAW_RAD);
        Self {
            distance_m: (
                -(MAX_REVERSE_SPEED * interval_s).min(MAX_DISTANCE_M),
                (MAX_SPEED * interval_s).min(MAX_DISTANCE_M),
            ),
            yaw_rad: (-yaw, yaw),
        }
    }

    /// The motions within `half_distance_m` and `half_yaw_rad` of an expected one, within
    /// what a car can make.
    pub fn around(
        (distance_m, half_distance_m): (f64, f64),
        (yaw_rad, half_yaw_rad): (f64, f64),
        interval_s: f64,
    ) -> Self {
        let all = Self::for_interval(interval_s);
        let clamp = |value: f64, half: f64, (low, high): (f64, f64)| {
            (
                (value - half).clamp(low, high),
                (value + half).clamp(low, high),
            )
        };
        Self {
            distance_m: clamp(distance_m, half_distance_m, all.distance_m),
            yaw_rad: clamp(yaw_rad, half_yaw_rad, all.yaw_rad),
        }
    }

    /// Whether `found` lies within this range.
    pub fn holds(&self, found: &Alignment) -> bool {
        let within = |value: f64, (low, high): (f64, f64)| (low..=high).contains(&value);
        within(found.distance_m, self.distance_m) && within(found.yaw_change_rad, self.yaw_rad)
    }

    /// Whether `found` lies at an edge of this range that is not an edge of `all`: the
    /// best motion may then lie outside. Within half a fine step of the edge counts as on
    /// it, and so does beyond it (the fine search may end there).
    pub fn clips(&self, found: &Alignment, all: &SearchRange) -> bool {
        let at_edge =
            |value: f64, (low, high): (f64, f64), (all_low, all_high): (f64, f64), step: f64| {
                (value < low + step / 2.0 && low > all_low)
                    || (value > high - step / 2.0 && high < all_high)
            };
        at_edge(
            found.distance_m,
            self.distance_m,
            all.distance_m,
            FINE_DISTANCE_M,
        ) || at_edge(
            found.yaw_change_rad,
            self.yaw_rad,
            all.yaw_rad,
            FINE_YAW_RAD,
        )
    }
}

/// The motion that best carries one surface onto the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alignment {
    pub distance_m: f64,
    pub yaw_change_rad: f64,
}

/// Sums for a normalised cross-correlation.
#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    n: f64,
    p: f64,
    q: f64,
    pp: f64,
    qq: f64,
    pq: f64,
}

impl Sums {
    fn add(&mut self, p: f64, q: f64) {
        self.n += 1.0;
        self.p += p;
        self.q += q;
        self.pp += p * p;
        self.qq += q * q;
        self.pq += p * q;
    }

    fn merge(&mut self, other: &Sums) {
        self.n += other.n;
        self.p += other.p;
        self.q += other.q;
        self.pp += other.pp;
        self.qq += other.qq;
        self.pq += other.pq;
    }

    fn correlation(&self) -> f64 {
        if self.n < 2.0 {
            return f64::NAN;
        }
        let cov = self.pq - self.p * self.q / self.n;
        let var_p = self.pp - self.p * self.p / self.n;
        let var_q = self.qq - self.q * self.q / self.n;
        cov / (var_p * var_q).sqrt()
    }
}

/// The best motion of one strip in the coarse search.
#[derive(Debug, Clone, Copy)]
struct StripBest {
    distance_m: f64,
    yaw_rad: f64,
    score: f64,
    cells: f64,
}

/// The motion from `previous` to `current`, when at least two strips agree on it.
pub fn align(
    grid: &GroundGrid,
    previous: &RoadSurface,
    current: &RoadSurface,
    range: &SearchRange,
) -> Option<Alignment> {
    let mut best: [Option<StripBest>; STRIPS] = [None; STRIPS];
    for yaw_rad in steps(range.yaw_rad.0, range.yaw_rad.1, COARSE_YAW_RAD) {
        for distance_m in steps(range.distance_m.0, range.distance_m.1, COARSE_DISTANCE_M) {
            if !drivable(distance_m, yaw_rad) {
                continue;
            }
            let sums = correlate(grid, previous, current, distance_m, yaw_rad, 2);
            for (strip, sums) in sums.iter().enumerate() {
                let score = sums.correlation();
                if best[strip].is_none_or(|b| score > b.score) {
                    best[strip] = Some(StripBest {
                        distance_m,
                        yaw_rad,
                        score,
                        cells: sums.n,
                    });
                }
            }
        }
    }
    let usable: Vec<(usize, StripBest)> = best
        .iter()
        .enumerate()
        .filter_map(|(strip, b)| b.map(|b| (strip, b)))
        .filter(|(_, b)| b.score >= MIN_SCORE && b.cells >= MIN_CELLS)
        .collect();
    let agreeing = |anchor: &StripBest| -> Vec<usize> {
        usable
            .iter()
            .filter(|(_, b)| {
                (b.distance_m - anchor.distance_m).abs() <= AGREE_DISTANCE_M
                    && (b.yaw_rad - anchor.yaw_rad).abs() <= AGREE_YAW_RAD
            })
            .map(|&(strip, _)| strip)
            .collect()
    };
    let (anchor, strips) = usable
        .iter()
        .map(|(_, b)| (*b, agreeing(b)))
        .max_by(|(a, sa), (b, sb)| sa.len().cmp(&sb.len()).then(a.score.total_cmp(&b.score)))?;
    if strips.len() < 2 {
        return None;
    }
    refine(grid, previous, current, &anchor, &strips)
        .filter(|found| drivable(found.distance_m, found.yaw_change_rad))
}

/// Whether a car can make the motion (see [`MAX_CURVATURE`]).
fn drivable(distance_m: f64, yaw_rad: f64) -> bool {
    yaw_rad.abs() <= MAX_CURVATURE * distance_m.abs() + COARSE_YAW_RAD
}

/// The fine search around the coarse motion over the agreeing strips, with a parabola
/// through the best cell and its neighbours on each axis.
fn refine(
    grid: &GroundGrid,
    previous: &RoadSurface,
    current: &RoadSurface,
    anchor: &StripBest,
    strips: &[usize],
) -> Option<Alignment> {
    const DISTANCE_STEPS: i32 = 2;
    const YAW_STEPS: i32 = 1;
    let width = (2 * DISTANCE_STEPS + 1) as usize;
    let mut scores = Vec::with_capacity(width * (2 * YAW_STEPS + 1) as usize);
    for j in -YAW_STEPS..=YAW_STEPS {
        for i in -DISTANCE_STEPS..=DISTANCE_STEPS {
            let distance_m = anchor.distance_m + i as f64 * FINE_DISTANCE_M;
            let yaw_rad = anchor.yaw_rad + j as f64 * FINE_YAW_RAD;
            let per_strip = correlate(grid, previous, current, distance_m, yaw_rad, 1);
            let mut sums = Sums::default();
            for &strip in strips {
                sums.merge(&per_strip[strip]);
            }
            scores.push(sums.correlation());
        }
    }
    let (at, &score) = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    let (i, j) = (at % width, at / width);
    let di = if i > 0 && i + 1 < width {
        vertex(scores[at - 1], score, scores[at + 1])
    } else {
        0.0
    };
    let dj = if j > 0 && j + 1 < (2 * YAW_STEPS + 1) as usize {
        vertex(scores[at - width], score, scores[at + width])
    } else {
        0.0
    };
    Some(Alignment {
        distance_m: anchor.distance_m + (i as f64 - DISTANCE_STEPS as f64 + di) * FINE_DISTANCE_M,
        yaw_change_rad: anchor.yaw_rad + (j as f64 - YAW_STEPS as f64 + dj) * FINE_YAW_RAD,
    })
}

/// Offset (−½…½) of the top of the parabola through three equally spaced values, the
/// middle one the largest.
pub(crate) fn vertex(left: f64, middle: f64, right: f64) -> f64 {
    let curvature = left - 2.0 * middle + right;
    if !(curvature < 0.0) || !left.is_finite() || !right.is_finite() {
        return 0.0;
    }
    (0.5 * (left - right) / curvature).clamp(-0.5, 0.5)
}

/// `from`, `from + step`, … up to `to` (inclusive, within rounding).
fn steps(from: f64, to: f64, step: f64) -> impl Iterator<Item = f64> {
    let count = ((to - from) / step + 1e-9).floor() as usize + 1;
    (0..count).map(move |k| from + k as f64 * step)
}

/// Correlation sums per strip of `current` against `previous` moved by the motion, over
/// every `stride`-th row and column.
fn correlate(
    grid: &GroundGrid,
    previous: &RoadSurface,
    current: &RoadSurface,
    distance_m: f64,
    yaw_rad: f64,
    stride: usize,
) -> [Sums; STRIPS] {
    // In cells: the earlier frame's (row, col) of the cell (r, c) is
    // rotation · (position) + (distance, 0), shifted to the grid's origin; it changes by a
    // fixed step from one column to the next.
    let (sin, cos) = yaw_rad.sin_cos();
    let near = grid.near_m / CELL_M;
    let right = grid.right_m / CELL_M;
    let forward = distance_m / CELL_M;
    let mut sums = [Sums::default(); STRIPS];
    for r in (0..grid.rows).step_by(stride) {
        let x = near + r as f64;
        let row_start = cos * x - sin * right + forward - near;
        let col_start = sin * x + cos * right - right;
        let values = &current.values[r * grid.cols..(r + 1) * grid.cols];
        for c in (0..grid.cols).step_by(stride) {
            let q = values[c];
            if q.is_nan() {
                continue;
            }
            let row = row_start - sin * c as f64;
            let col = col_start + cos * c as f64;
            if let Some(p) = bilinear(previous, grid, row, col) {
                sums[grid.strip(c)].add(p as f64, q as f64);
            }
        }
    }
    sums
}

/// `surface` at fractional (row, col); `None` outside the grid or next to a cell that is
/// not in the image.
fn bilinear(surface: &RoadSurface, grid: &GroundGrid, row: f64, col: f64) -> Option<f32> {
    if !(row >= 0.0 && col >= 0.0) {
        return None;
    }
    let (r0, c0) = (row as usize, col as usize);
    if r0 + 1 >= grid.rows || c0 + 1 >= grid.cols {
        return None;
    }
    let (fr, fc) = ((row - r0 as f64) as f32, (col - c0 as f64) as f32);
    let at = |r: usize, c: usize| surface.values[r * grid.cols + c];
    let top = at(r0, c0) * (1.0 - fc) + at(r0, c0 + 1) * fc;
    let bottom = at(r0 + 1, c0) * (1.0 - fc) + at(r0 + 1, c0 + 1) * fc;
    let value = top * (1.0 - fr) + bottom * fr;
    (!value.is_nan()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surface::sample_luminance;
    use mapfix_core::{Attitude, Pose, Vec3};
    use mapfix_sim::drive::dashcam;
    use mapfix_sim::labels::render_labelled;
    use mapfix_sim::render::{Conditions, ConditionsPreset, Scene};

    /// The demo town's avenue, seen by day from where the car stands and from `moved`
    /// (forward m, left turn rad) further on, as the odometer's grid and road surfaces.
    fn avenue(moved: (f64, f64)) -> (GroundGrid, RoadSurface, RoadSurface) {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../maps/demo-town.geojson");
        let map = mapfix_map::geojson::load(std::path::Path::new(path)).unwrap();
        let scene = Scene::build(&map, 1);
        let camera = dashcam(960, 540, 15.0);
        let grid = GroundGrid::new(&camera).unwrap();
        let day = Conditions::preset(ConditionsPreset::Day);
        let surface = |k: usize, distance_m: f64, yaw: f64| {
            let position = Vec3::new(300.0 + distance_m, 148.0, 0.0);
            let pose = Pose::new(
                position,
                Attitude {
                    roll: 0.0,
                    pitch: 0.0,
                    yaw,
                },
            );
            let (frame, _) = render_labelled(&map, &scene, &camera, &pose, &day, k as u64, &[], k);
            RoadSurface::texture(&grid, &sample_luminance(&grid, &frame.image))
        };
        let (before, after) = (surface(0, 0.0, 0.0), surface(1, moved.0, moved.1));
        (grid, before, after)
    }

    #[test]
    fn a_turn_on_the_spot_is_no_motion_a_car_can_make() {
        let range = SearchRange::for_interval(1.0 / 15.0);
        // Driving 0.4 m while turning 2° (a 11 m radius) is found.
        let (grid, before, after) = avenue((0.4, 2f64.to_radians()));
        let found = align(&grid, &before, &after, &range).expect("a motion");
        assert!((found.distance_m - 0.4).abs() < 0.05, "{found:?}");
        assert!(
            (found.yaw_change_rad.to_degrees() - 2.0).abs() < 0.3,
            "{found:?}"
        );
        // Turning 2° where it stands is not: the road's texture alone would read it so.
        let (grid, before, after) = avenue((0.0, 2f64.to_radians()));
        let found = align(&grid, &before, &after, &range);
        assert_eq!(found, None);
    }
}
