//! What the street-level ground is at each point: road, pavement or verge, from a raster
//! grown out of the map's lane lines up to its road edges.

use mapfix_map::Map;
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroundClass {
    Verge = 0,
    Road = 1,
    Pavement = 2,
    Building = 3,
}

pub(crate) struct GroundMap {
    origin: [f32; 2],
    cell: f32,
    width: usize,
    height: usize,
    classes: Vec<u8>,
    /// How far (cm) the road surface lies below the street level (ramps), 0 elsewhere.
    sunk_cm: Vec<i16>,
    /// Height (up) of the street-level ground plane.
    pub street_height: f32,
}

/// Ground beyond the outermost features, metres.
const MARGIN: f32 = 80.0;
/// Finest cell size, and the most cells the raster may have.
const FINE_CELL: f32 = 0.25;
const MAX_CELLS: f32 = 16.0e6;
/// How far the road may reach from a lane line where no road edge stops it.
const MAX_ROAD_REACH: f32 = 5.5;
const PAVEMENT_WIDTH: f32 = 3.5;

impl GroundMap {
    pub fn build(map: &Map) -> GroundMap {
        let street_points: Vec<f32> = map
            .lane_lines
            .iter()
            .filter(|l| l.line.level == 0)
            .flat_map(|l| l.line.points.iter().map(|p| p.z as f32))
            .collect();
        let street_height = median(street_points).unwrap_or(0.0);
        let (lo, hi) = map.bounds().map_or(([0.0, 0.0], [1.0, 1.0]), |(lo, hi)| {
            ([lo.x as f32, lo.y as f32], [hi.x as f32, hi.y as f32])
        });
        let origin = [lo[0] - MARGIN, lo[1] - MARGIN];
        let span = [hi[0] - lo[0] + 2.0 * MARGIN, hi[1] - lo[1] + 2.0 * MARGIN];
        let cell = FINE_CELL.max((span[0] * span[1] / MAX_CELLS).sqrt());
        let (width, height) = (
            (span[0] / cell).ceil() as usize,
            (span[1] / cell).ceil() as usize,
        );
        let mut ground = GroundMap {
            origin,
            cell,
            width,
            height,
            classes: vec![GroundClass::Verge as u8; width * height],
            sunk_cm: vec![0; width * height],
            street_height,
        };

        const UNSEEN: u16 = u16::MAX;
        let mut barrier = vec![false; width * height];
        let mut sunk = vec![0i16; width * height];
        for edge in map.road_edges.iter().filter(|e| e.level == 0) {
            ground.walk(&edge.points, |i, z| {
                barrier[i] = true;
                sunk[i] = sunk_cm(street_height, z);
            });
        }
        // Multi-source breadth-first growth from the painted lines, stopped by road edges.
        let mut reach = vec![UNSEEN; width * height];
        let mut queue = VecDeque::new();
        let seeds = map
            .lane_lines
            .iter()
            .map(|l| &l.line)
            .chain(&map.stop_lines)
            .filter(|l| l.level == 0);
        for line in seeds {
            ground.walk(&line.points, |i, z| {
                if reach[i] == UNSEEN {
                    reach[i] = 0;
                    sunk[i] = sunk_cm(street_height, z);
                    queue.push_back(i);
                }
            });
        }
        let max_steps = (MAX_ROAD_REACH / cell) as u16;
        // Roads at street level stop where an underground space begins (a tunnel portal).
        let mut covered = vec![false; width * height];
        for space in &map.underground {
            let ring = plan(&space.outline);
            ground.cells_in_ring(&ring, |i| covered[i] = true);
        }
        ground.grow(
            &mut queue,
            &mut reach,
            max_steps,
            |i| !barrier[i] && !covered[i],
            |from, to| sunk[to] = sunk[from],
        );
        ground.sunk_cm = sunk;
        for i in 0..width * height {
            if reach[i] != UNSEEN || barrier[i] {
                ground.classes[i] = GroundClass::Road as u8;
            }
        }
        // Pavement: a band outside the road edges.
        let mut reach = vec![UNSEEN; width * height];
        for (i, &b) in barrier.iter().enumerate() {
            if b {
                reach[i] = 0;
                queue.push_back(i);
            }
        }
        let classes = ground.classes.clone();
        ground.grow(
            &mut queue,
            &mut reach,
            (PAVEMENT_WIDTH / cell) as u16,
            |i| classes[i] != GroundClass::Road as u8,
            |_, _| {},
        );
        for (class, &steps) in ground.classes.iter_mut().zip(&reach) {
            if steps != UNSEEN && *class != GroundClass::Road as u8 {
                *class = GroundClass::Pavement as u8;
            }
        }
        for building in &map.buildings {
            let ring = plan(&building.footprint);
            let mut cells = Vec::new();
            ground.cells_in_ring(&ring, |i| cells.push(i));
            for i in cells {
                ground.classes[i] = GroundClass::Building as u8;
            }
        }
        ground
    }

    /// Calls `visit` with every cell a polyline passes through and the line's height there.
    fn walk(&self, points: &[mapfix_core::Vec3], mut visit: impl FnMut(usize, f32)) {
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            let len = ((b.x - a.x).powi(2) + (b.y - a.y).powi(2)).sqrt() as f32;
            let n = (len / (self.cell * 0.5)).ceil().max(1.0) as usize;
            for k in 0..=n {
                let t = k as f64 / n as f64;
                if let Some(i) = self.index(
                    a.x as f32 + (b.x - a.x) as f32 * t as f32,
                    a.y as f32 + (b.y - a.y) as f32 * t as f32,
                ) {
                    visit(i, (a.z + (b.z - a.z) * t) as f32);
                }
            }
        }
    }

    fn grow(
        &self,
        queue: &mut VecDeque<usize>,
        reach: &mut [u16],
        max_steps: u16,
        passable: impl Fn(usize) -> bool,
        mut on_reach: impl FnMut(usize, usize),
    ) {
        while let Some(i) = queue.pop_front() {
            let steps = reach[i];
            if steps >= max_steps {
                continue;
            }
            let (x, y) = (i % self.width, i / self.width);
            let neighbours = [
                (x > 0).then(|| i - 1),
                (x + 1 < self.width).then(|| i + 1),
                (y > 0).then(|| i - self.width),
                (y + 1 < self.height).then(|| i + self.width),
            ];
            for n in neighbours.into_iter().flatten() {
                if reach[n] == u16::MAX && passable(n) {
                    reach[n] = steps + 1;
                    on_reach(i, n);
                    queue.push_back(n);
                }
            }
        }
    }

    /// Calls `visit` for every cell whose corner lies inside a ring.
    fn cells_in_ring(&self, ring: &[[f32; 2]], mut visit: impl FnMut(usize)) {
        let (x0, y0, x1, y1) = ring
            .iter()
            .fold((f32::MAX, f32::MAX, f32::MIN, f32::MIN), |b, p| {
                (b.0.min(p[0]), b.1.min(p[1]), b.2.max(p[0]), b.3.max(p[1]))
            });
        let mut y = y0;
        while y <= y1 {
            let mut x = x0;
            while x <= x1 {
                if let (true, Some(i)) = (point_in_ring(&[x, y], ring), self.index(x, y)) {
                    visit(i);
                }
                x += self.cell;
            }
            y += self.cell;
        }
    }

    fn index(&self, x: f32, y: f32) -> Option<usize> {
        let inverse = 1.0 / self.cell;
        let (fx, fy) = (
            (x - self.origin[0]) * inverse,
            (y - self.origin[1]) * inverse,
        );
        (fx >= 0.0 && fy >= 0.0 && (fx as usize) < self.width && (fy as usize) < self.height)
            .then(|| fy as usize * self.width + fx as usize)
    }

    pub fn class_at(&self, x: f32, y: f32) -> GroundClass {
        match self.index(x, y).map(|i| self.classes[i]) {
            Some(1) => GroundClass::Road,
            Some(2) => GroundClass::Pavement,
            Some(3) => GroundClass::Building,
            _ => GroundClass::Verge,
        }
    }

    /// Height of the ground surface: the street level, or a ramp's road below it.
    pub fn height_at(&self, x: f32, y: f32) -> f32 {
        self.street_height
            - self
                .index(x, y)
                .map_or(0.0, |i| self.sunk_cm[i] as f32 / 100.0)
    }

    /// Whether the road at a point runs in a cutting below the street level.
    pub fn sunken(&self, x: f32, y: f32) -> bool {
        self.index(x, y)
            .is_some_and(|i| self.sunk_cm[i] > SUNKEN_CM)
    }

    pub fn near_building(&self, x: f32, y: f32, radius: f32) -> bool {
        let steps = (radius / self.cell).ceil() as i32;
        let stride = (steps / 4).max(1);
        (-steps..=steps).step_by(stride as usize).any(|dy| {
            (-steps..=steps).step_by(stride as usize).any(|dx| {
                self.class_at(x + dx as f32 * self.cell, y + dy as f32 * self.cell)
                    == GroundClass::Building
            })
        })
    }

    /// West, south, east, north limits of the ground.
    pub fn extent(&self) -> (f32, f32, f32, f32) {
        (
            self.origin[0],
            self.origin[1],
            self.origin[0] + self.width as f32 * self.cell,
            self.origin[1] + self.height as f32 * self.cell,
        )
    }
}

/// East and north of `points` in the renderer's `f32`: the plan view that the ground raster
/// and the ring tests work in.
pub(crate) fn plan(points: &[mapfix_core::Vec3]) -> Vec<[f32; 2]> {
    points.iter().map(|p| [p.x as f32, p.y as f32]).collect()
}

/// Even-odd test of a point against a closed ring (east, north).
pub(crate) fn point_in_ring(p: &[f32; 2], ring: &[[f32; 2]]) -> bool {
    let mut inside = false;
    let n = ring.len();
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + n - 1) % n]);
        if (a[1] > p[1]) != (b[1] > p[1])
            && p[0] < a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0])
        {
            inside = !inside;
        }
    }
    inside
}

/// Depth below which a road counts as running in a cutting (cm).
const SUNKEN_CM: i16 = 25;

fn sunk_cm(street_height: f32, z: f32) -> i16 {
    ((street_height - z) * 100.0).clamp(0.0, i16::MAX as f32) as i16
}

fn median(mut values: Vec<f32>) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f32::total_cmp);
    Some(values[values.len() / 2])
}
