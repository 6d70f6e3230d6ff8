//! The HD map model: landmarks in the map's local ENU frame.
//!
//! Every coordinate is in metres in the world frame (east, north, up) of
//! [`Map::frame`]; conversion to and from WGS84 happens only at the file edges. `level` is 0
//! at street level and negative underground (−1 for the first level down).

use crate::SignClass;
use mapfix_core::{LocalFrame, Vec3};

/// How a lane line is painted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineStyle {
    Solid,
    Dashed,
    Double,
}

/// The colour of a lane line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineColor {
    White,
    Yellow,
}

/// What a sign board is fixed to; the renderer draws the support, the map only records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mounting {
    Pole,
    Overhead,
    Wall,
    Ceiling,
}

/// A traffic sign: the centre of its face, its size and which way the face points.
#[derive(Debug, Clone, PartialEq)]
pub struct Sign {
    pub id: String,
    pub level: i32,
    pub class: SignClass,
    /// Centre of the sign face (ENU, m).
    pub position: Vec3,
    pub width: f64,
    pub height: f64,
    /// Compass direction (radians from north, clockwise) of the face's outward normal: the
    /// sign is readable from points in that direction.
    pub facing: f64,
    pub mounting: Mounting,
}

impl Sign {
    /// Unit outward normal of the sign face (horizontal, ENU).
    pub fn normal(&self) -> Vec3 {
        Vec3::new(self.facing.sin(), self.facing.cos(), 0.0)
    }
}

/// An open polyline on the ground or on a structure (ENU, m).
#[derive(Debug, Clone, PartialEq)]
pub struct Polyline {
    pub id: String,
    pub level: i32,
    pub points: Vec<Vec3>,
}

impl Polyline {
    pub fn length(&self) -> f64 {
        path_length(&self.points)
    }
}

/// Length (m) of the path through `points` in order.
pub(crate) fn path_length(points: &[Vec3]) -> f64 {
    points.windows(2).map(|w| (w[1] - w[0]).norm()).sum()
}

/// A painted lane line.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneLine {
    pub line: Polyline,
    pub style: LineStyle,
    pub color: LineColor,
}

/// A pole (lamp post, sign post, pillar): its foot and height.
#[derive(Debug, Clone, PartialEq)]
pub struct Pole {
    pub id: String,
    pub level: i32,
    pub base: Vec3,
    pub height: f64,
}

/// A building: its footprint ring at ground height and its height.
#[derive(Debug, Clone, PartialEq)]
pub struct Building {
    pub id: String,
    pub footprint: Vec<Vec3>,
    pub height: f64,
}

/// An underground space (tunnel, car park): its outline in plan, floor and ceiling heights.
/// A point inside the outline between floor and ceiling is on `level`.
#[derive(Debug, Clone, PartialEq)]
pub struct Underground {
    pub id: String,
    pub level: i32,
    pub outline: Vec<Vec3>,
    /// Height (up, m) of the ceiling above the world origin.
    pub ceiling: f64,
}

/// An HD map.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    pub name: String,
    /// Where the map came from (source file, generator and seed), carried into outputs.
    pub provenance: String,
    /// The ENU frame all coordinates are given in.
    pub frame: LocalFrame,
    pub signs: Vec<Sign>,
    pub lane_lines: Vec<LaneLine>,
    pub stop_lines: Vec<Polyline>,
    pub road_edges: Vec<Polyline>,
    pub poles: Vec<Pole>,
    pub buildings: Vec<Building>,
    pub underground: Vec<Underground>,
}

impl Map {
    /// An empty map around `frame`.
    pub fn new(name: impl Into<String>, frame: LocalFrame) -> Self {
        Self {
            name: name.into(),
            provenance: String::new(),
            frame,
            signs: Vec::new(),
            lane_lines: Vec::new(),
            stop_lines: Vec::new(),
            road_edges: Vec::new(),
            poles: Vec::new(),
            buildings: Vec::new(),
            underground: Vec::new(),
        }
    }

    /// The level at a world position: that of the underground space containing it, else 0.
    pub fn level_at(&self, position: &Vec3) -> i32 {
        self.underground
            .iter()
            .find(|space| position.z < space.ceiling && point_in_ring(position, &space.outline))
            .map_or(0, |space| space.level)
    }

    /// Distinct levels that carry any feature, sorted.
    pub fn levels(&self) -> Vec<i32> {
        let mut levels: Vec<i32> = std::iter::once(0)
            .filter(|_| !self.signs.is_empty() || !self.lane_lines.is_empty())
            .chain(self.signs.iter().map(|s| s.level))
            .chain(self.lane_lines.iter().map(|l| l.line.level))
            .chain(
                self.stop_lines
                    .iter()
                    .chain(&self.road_edges)
                    .map(|l| l.level),
            )
            .chain(self.poles.iter().map(|p| p.level))
            .chain(self.underground.iter().map(|u| u.level))
            .collect();
        levels.sort_unstable();
        levels.dedup();
        levels
    }

    /// Smallest and largest east/north/up over every feature's points, or `None` if empty.
    pub fn bounds(&self) -> Option<(Vec3, Vec3)> {
        let points = self
            .signs
            .iter()
            .map(|s| s.position)
            .chain(
                self.lane_lines
                    .iter()
                    .flat_map(|l| l.line.points.iter().copied()),
            )
            .chain(
                self.stop_lines
                    .iter()
                    .chain(&self.road_edges)
                    .flat_map(|l| l.points.iter().copied()),
            )
            .chain(self.poles.iter().map(|p| p.base))
            .chain(
                self.buildings
                    .iter()
                    .flat_map(|b| b.footprint.iter().copied()),
            )
            .chain(
                self.underground
                    .iter()
                    .flat_map(|u| u.outline.iter().copied()),
            );
        points.fold(None, |bounds, p| match bounds {
            None => Some((p, p)),
            Some((lo, hi)) => Some((lo.inf(&p), hi.sup(&p))),
        })
    }
}

/// Even-odd test of a point's east/north against a closed ring (first point not repeated
/// or repeated, both work).
pub fn point_in_ring(point: &Vec3, ring: &[Vec3]) -> bool {
    let mut inside = false;
    let n = ring.len();
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + n - 1) % n]);
        if (a.y > point.y) != (b.y > point.y) {
            let x_cross = a.x + (point.y - a.y) / (b.y - a.y) * (b.x - a.x);
            if point.x < x_cross {
                inside = !inside;
            }
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapfix_core::Geodetic;

    #[test]
    fn level_from_underground_outline() {
        let mut map = Map::new(
            "t",
            LocalFrame::new(Geodetic::from_degrees(49.0, 8.4, 100.0)),
        );
        map.underground.push(Underground {
            id: "park".into(),
            level: -1,
            outline: vec![
                Vec3::new(0.0, 0.0, -6.0),
                Vec3::new(100.0, 0.0, -6.0),
                Vec3::new(100.0, 50.0, -6.0),
                Vec3::new(0.0, 50.0, -6.0),
            ],
            ceiling: -2.0,
        });
        assert_eq!(map.level_at(&Vec3::new(50.0, 25.0, -5.0)), -1);
        assert_eq!(
            map.level_at(&Vec3::new(50.0, 25.0, 0.5)),
            0,
            "on the street above"
        );
        assert_eq!(
            map.level_at(&Vec3::new(150.0, 25.0, -5.0)),
            0,
            "outside the outline"
        );
        assert_eq!(map.levels(), vec![-1]);
    }
}
