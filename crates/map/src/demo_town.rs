//! The demo town: a seeded generator of a small German-style town with an underground car
//! park, the map behind the README demo, the simulator's default drives and the tests.
//!
//! The street plan is fixed (so routes and tests can name places); the seed shapes what a
//! real town varies: where along a street each sign post and lamp stands, how far from the
//! kerb, how tall the signs are mounted, and every building (lots, depths, heights).
//!
//! Plan (east x, north y, metres from the origin): a two-lane ring road around
//! x ∈ [0, 450], y ∈ [0, 300] with rounded corners; a four-lane avenue along y = 150;
//! a two-lane residential street along x = 150 (past a school) and a one-way street
//! northwards along x = 300; a construction zone with yellow markings on the ring's south
//! side. From the ring's east side at y = 225 an access road runs east, ramps down at 10 %
//! into a tunnel and ends in an underground car park (level −1, floor −6 m) whose aisle is a
//! one-way loop. Traffic drives on the right; the avenue has priority, side streets stop or
//! give way.
//!
//! [`build`] also returns the driving lanes (lane centrelines in the direction of travel,
//! with junction connectors and successors), which the map model has no element for:
//! simulated drives follow them.

use crate::model::{
    path_length, Building, LaneLine, LineColor, LineStyle, Map, Mounting, Pole, Polyline, Sign,
    Underground,
};
use crate::SignClass;
use mapfix_core::{Geodetic, LocalFrame, Vec3};
use nalgebra::Vector2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeSet, BinaryHeap};
use std::f64::consts::{PI, TAU};

type P2 = Vector2<f64>;

/// The town's origin: latitude and longitude (degrees), ellipsoidal height (m) — in
/// Karlsruhe, where the project's public Lanelet2 data comes from.
pub const ORIGIN_DEG: (f64, f64, f64) = (49.0, 8.4, 115.0);
/// The seed of the shipped `maps/demo-town.geojson`.
pub const SHIPPED_SEED: u64 = 7;

/// Floor and ceiling heights (m, ENU up) of the underground car park, and the tunnel's
/// ceiling; the street is at 0.
pub const CARPARK_FLOOR: f64 = -6.0;
const CARPARK_CEILING: f64 = -3.0;
const TUNNEL_CEILING: f64 = -1.0;
/// The car park's outline in plan: west, south, east, north (m).
const CARPARK: [f64; 4] = [680.0, 165.0, 800.0, 285.0];
/// Where the access road starts to descend (east, m), its grade and the length of each
/// vertical curve (parabolic transition) at the top and bottom.
const RAMP_START_X: f64 = 485.0;
const RAMP_GRADE: f64 = 0.10;
const RAMP_TRANSITION: f64 = 15.0;
/// The tunnel portal: the access road is covered from here on (road 4.5 m below the street).
const PORTAL_X: f64 = RAMP_START_X + 52.5;
/// Distance from the outermost lane line to the kerb.
const KERB_GAP: f64 = 0.5;
/// Walkway between the kerb and the tunnel wall.
const TUNNEL_WALKWAY: f64 = 1.0;

/// A driving lane: the centreline of one lane in its direction of travel, or a connector
/// through a junction, with the lanes a vehicle may continue into.
#[derive(Debug, Clone, PartialEq)]
pub struct DrivingLane {
    /// `road/f0` (forward lanes counted from the right), `road/b0` (backward lanes), or
    /// `node:from>to` for a junction connector.
    pub id: String,
    pub level: i32,
    /// Centreline points (ENU, m) in the direction of travel.
    pub points: Vec<Vec3>,
    /// Speed limit (m/s).
    pub speed_limit: f64,
    /// Indices into [`DemoTown::lanes`] of the lanes that may follow this one.
    pub successors: Vec<usize>,
    /// True for a connector across a junction.
    pub connector: bool,
    /// The neighbouring lanes in the same direction on the same road (for lane changes).
    pub left: Option<usize>,
    pub right: Option<usize>,
}

impl DrivingLane {
    pub fn length(&self) -> f64 {
        path_length(&self.points)
    }
}

/// The generated town: the map and the lane graph that goes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoTown {
    pub map: Map,
    pub lanes: Vec<DrivingLane>,
}

impl DemoTown {
    /// Index of the lane with this id.
    pub fn lane(&self, id: &str) -> Option<usize> {
        self.lanes.iter().position(|lane| lane.id == id)
    }

    /// The shortest sequence of lanes (by length) from the start of `from` to the end of
    /// `to`, both included, or `None` when `to` cannot be reached.
    pub fn shortest_route(&self, from: usize, to: usize) -> Option<Vec<usize>> {
        let mut best = vec![f64::INFINITY; self.lanes.len()];
        let mut previous = vec![usize::MAX; self.lanes.len()];
        let mut queue = BinaryHeap::new();
        best[from] = self.lanes[from].length();
        queue.push(Reached {
            cost: best[from],
            lane: from,
        });
        while let Some(Reached { cost, lane }) = queue.pop() {
            if lane == to {
                let mut route = vec![to];
                while *route.last().unwrap() != from {
                    route.push(previous[*route.last().unwrap()]);
                }
                route.reverse();
                return Some(route);
            }
            if cost > best[lane] {
                continue;
            }
            for &next in &self.lanes[lane].successors {
                let total = cost + self.lanes[next].length();
                if total < best[next] {
                    best[next] = total;
                    previous[next] = lane;
                    queue.push(Reached {
                        cost: total,
                        lane: next,
                    });
                }
            }
        }
        None
    }

    /// The points of a sequence of lanes as one polyline (joints not repeated).
    pub fn route_points(&self, route: &[usize]) -> Vec<Vec3> {
        let mut points: Vec<Vec3> = Vec::new();
        for &lane in route {
            for p in &self.lanes[lane].points {
                if points.last().is_none_or(|last| (last - p).norm() > 1e-6) {
                    points.push(*p);
                }
            }
        }
        points
    }

    /// The demo drive: east along the avenue in its left lane, left onto the ring, right
    /// into the access road, down the ramp and through the tunnel, once round the car park.
    /// About 440 m on the street before the tunnel portal, 930 m in all.
    pub fn demo_route(&self) -> Vec<usize> {
        let start = self
            .lane("avenue-2/f1")
            .expect("the avenue is part of every demo town");
        let end = self
            .lane("carpark-loop/f0")
            .expect("the car park is part of every demo town");
        self.shortest_route(start, end)
            .expect("the car park is reachable from the avenue")
    }
}

/// Dijkstra queue entry, ordered so the cheapest pops first.
#[derive(PartialEq)]
struct Reached {
    cost: f64,
    lane: usize,
}

impl Eq for Reached {}

impl Ord for Reached {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .cost
            .total_cmp(&self.cost)
            .then(other.lane.cmp(&self.lane))
    }
}

impl PartialOrd for Reached {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The demo town's map for `seed`.
pub fn generate(seed: u64) -> Map {
    build(seed).map
}

/// The demo town for `seed`: the map and its driving lanes.
pub fn build(seed: u64) -> DemoTown {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (lat, lon, height) = ORIGIN_DEG;
    let mut map = Map::new(
        "demo-town",
        LocalFrame::new(Geodetic::from_degrees(lat, lon, height)),
    );
    map.provenance = format!("mapfix map demo-town --seed {seed}");

    let roads = build_roads();
    let junctions = build_junctions(&roads);
    let lanes = build_lanes(&roads, &junctions);
    map.underground = underground_spaces(&roads);
    paint(&mut map, &roads, &junctions);
    place_signs(&mut map, &mut rng, &roads, &junctions, &lanes);
    place_lamps(&mut map, &mut rng, &roads);
    place_pillars(&mut map, &lanes.lanes);
    place_buildings(&mut map, &mut rng, &roads);
    DemoTown {
        map,
        lanes: lanes.lanes,
    }
}

// ---------------------------------------------------------------------------------------
// Street plan

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Avenue,
    Ring,
    Residential,
    OneWay,
    /// The open part of the access road (level 0, descending).
    Ramp,
    /// The covered part of the access road (level −1).
    Tunnel,
    /// The car park's aisle.
    Aisle,
}

/// A road's cross-section and rules.
#[derive(Debug, Clone, Copy)]
struct Section {
    forward: usize,
    backward: usize,
    lane_width: f64,
    edge_lines: bool,
    /// The line between the two directions.
    centre: LineStyle,
    colour: LineColor,
    kerbs: bool,
    speed_kmh: u32,
}

impl Kind {
    fn section(self) -> Section {
        use LineColor::*;
        use LineStyle::*;
        let two_lane = |lane_width, edge_lines, speed_kmh| Section {
            forward: 1,
            backward: 1,
            lane_width,
            edge_lines,
            centre: Dashed,
            colour: White,
            kerbs: true,
            speed_kmh,
        };
        match self {
            Kind::Avenue => Section {
                forward: 2,
                backward: 2,
                lane_width: 3.5,
                centre: Double,
                ..two_lane(3.5, true, 60)
            },
            Kind::Ring => two_lane(3.25, true, 50),
            Kind::Residential => two_lane(3.25, false, 30),
            Kind::OneWay => Section {
                backward: 0,
                ..two_lane(3.5, true, 30)
            },
            Kind::Ramp | Kind::Tunnel => Section {
                centre: Double,
                ..two_lane(3.5, true, 30)
            },
            Kind::Aisle => Section {
                backward: 0,
                colour: Yellow,
                kerbs: false,
                ..two_lane(3.5, true, 20)
            },
        }
    }

    fn level(self) -> i32 {
        match self {
            Kind::Tunnel | Kind::Aisle => -1,
            _ => 0,
        }
    }

    /// Height of the road surface at a point.
    fn ground(self, p: &P2) -> f64 {
        match self {
            Kind::Ramp | Kind::Tunnel => ramp_height(p.x - RAMP_START_X),
            Kind::Aisle => CARPARK_FLOOR,
            _ => 0.0,
        }
    }
}

impl Section {
    fn lanes(&self) -> usize {
        self.forward + self.backward
    }

    /// Lateral offsets (left of the forward direction positive) of the lane boundaries,
    /// from the leftmost to the rightmost. Two-way roads split at the centreline, one-way
    /// roads are centred on it.
    fn boundaries(&self) -> Vec<f64> {
        let n = self.lanes();
        let left = if self.backward == 0 {
            n as f64 * self.lane_width / 2.0
        } else {
            self.backward as f64 * self.lane_width
        };
        (0..=n).map(|k| left - k as f64 * self.lane_width).collect()
    }

    /// Offsets of the left and right kerbs.
    fn kerbs_at(&self) -> (f64, f64) {
        let b = self.boundaries();
        (b[0] + KERB_GAP, b[b.len() - 1] - KERB_GAP)
    }

    fn half_width(&self) -> f64 {
        let (left, right) = self.kerbs_at();
        left.max(-right)
    }

    /// Offset of the centre of a lane counted from the right in its direction of travel.
    fn lane_centre(&self, forward: bool, index: usize) -> f64 {
        let b = self.boundaries();
        let k = if forward {
            self.lanes() - 1 - index
        } else {
            index
        };
        (b[k] + b[k + 1]) / 2.0
    }

    fn speed_limit_class(&self) -> u8 {
        match self.speed_kmh {
            20 => 0,
            30 => 1,
            50 => 2,
            _ => 3,
        }
    }
}

/// Road surface height along the access road, `s` metres past the top of the ramp: level,
/// a parabolic vertical curve into the 10 % grade, the grade, a curve out of it, level
/// again at the car park floor. Height and grade are continuous.
fn ramp_height(s: f64) -> f64 {
    let depth = -CARPARK_FLOOR;
    let (g, t) = (RAMP_GRADE, RAMP_TRANSITION);
    let straight = (depth - g * t) / g;
    if s <= 0.0 {
        0.0
    } else if s < t {
        -g * s * s / (2.0 * t)
    } else if s < t + straight {
        -(g * t / 2.0 + g * (s - t))
    } else if s < 2.0 * t + straight {
        let u = 2.0 * t + straight - s;
        -(depth - g * u * u / (2.0 * t))
    } else {
        -depth
    }
}

/// Who gives way where a road reaches a junction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Priority,
    Yield,
    Stop,
}

struct NodeSpec {
    name: &'static str,
    at: (f64, f64),
    level: i32,
    /// A joint only links two pieces of one road (where it goes underground).
    joint: bool,
}

/// A street junction.
const fn junction(name: &'static str, x: f64, y: f64) -> NodeSpec {
    NodeSpec {
        name,
        at: (x, y),
        level: 0,
        joint: false,
    }
}

const NODES: [NodeSpec; 11] = [
    junction("avenue-west", 0.0, 150.0),
    junction("avenue-x150", 150.0, 150.0),
    junction("avenue-x300", 300.0, 150.0),
    junction("avenue-east", 450.0, 150.0),
    junction("south-x150", 150.0, 0.0),
    junction("south-x300", 300.0, 0.0),
    junction("north-x150", 150.0, 300.0),
    junction("north-x300", 300.0, 300.0),
    junction("access", 450.0, 225.0),
    NodeSpec {
        name: "portal",
        at: (PORTAL_X, 225.0),
        level: 0,
        joint: true,
    },
    NodeSpec {
        name: "carpark",
        at: (695.0, 225.0),
        level: -1,
        joint: false,
    },
];

struct RoadSpec {
    name: &'static str,
    kind: Kind,
    from: usize,
    to: usize,
    /// Corners between the two nodes, rounded with the road's curve radius.
    via: &'static [(f64, f64)],
    /// Control for traffic arriving at `from` (backward lanes) and at `to` (forward lanes).
    from_control: Control,
    to_control: Control,
}

const RING_RADIUS: f64 = 40.0;
const AISLE_RADIUS: f64 = 10.0;

#[rustfmt::skip]
const ROADS: [RoadSpec; 14] = {
    use Control::*;
    use Kind::*;
    [
        // The ring, counter-clockwise from the south side.
        RoadSpec { name: "ring-s", kind: Ring, from: 4, to: 5, via: &[], from_control: Priority, to_control: Priority },
        RoadSpec { name: "ring-se", kind: Ring, from: 5, to: 3, via: &[(450.0, 0.0)], from_control: Priority, to_control: Priority },
        RoadSpec { name: "ring-e", kind: Ring, from: 3, to: 8, via: &[], from_control: Priority, to_control: Priority },
        RoadSpec { name: "ring-ne", kind: Ring, from: 8, to: 7, via: &[(450.0, 300.0)], from_control: Priority, to_control: Priority },
        RoadSpec { name: "ring-n", kind: Ring, from: 7, to: 6, via: &[], from_control: Priority, to_control: Priority },
        RoadSpec { name: "ring-nw", kind: Ring, from: 6, to: 0, via: &[(0.0, 300.0)], from_control: Priority, to_control: Priority },
        RoadSpec { name: "ring-sw", kind: Ring, from: 0, to: 4, via: &[(0.0, 0.0)], from_control: Priority, to_control: Priority },
        // The avenue, west to east; it ends at the ring with stop signs.
        RoadSpec { name: "avenue-1", kind: Avenue, from: 0, to: 1, via: &[], from_control: Stop, to_control: Priority },
        RoadSpec { name: "avenue-2", kind: Avenue, from: 1, to: 2, via: &[], from_control: Priority, to_control: Priority },
        RoadSpec { name: "avenue-3", kind: Avenue, from: 2, to: 3, via: &[], from_control: Priority, to_control: Stop },
        RoadSpec { name: "school-s", kind: Residential, from: 4, to: 1, via: &[], from_control: Yield, to_control: Stop },
        RoadSpec { name: "school-n", kind: Residential, from: 1, to: 6, via: &[], from_control: Stop, to_control: Yield },
        RoadSpec { name: "oneway-s", kind: OneWay, from: 5, to: 2, via: &[], from_control: Priority, to_control: Yield },
        RoadSpec { name: "oneway-n", kind: OneWay, from: 2, to: 7, via: &[], from_control: Priority, to_control: Stop },
    ]
};

#[rustfmt::skip]
const UNDERGROUND_ROADS: [RoadSpec; 3] = {
    use Control::*;
    use Kind::*;
    [
        RoadSpec { name: "ramp", kind: Ramp, from: 8, to: 9, via: &[], from_control: Yield, to_control: Priority },
        RoadSpec { name: "tunnel", kind: Tunnel, from: 9, to: 10, via: &[], from_control: Priority, to_control: Yield },
        RoadSpec {
            name: "carpark-loop", kind: Aisle, from: 10, to: 10,
            via: &[(695.0, 180.0), (785.0, 180.0), (785.0, 270.0), (695.0, 270.0)],
            from_control: Priority, to_control: Priority,
        },
    ]
};

/// Turns nobody may make: (node, road arriving, turn). Traffic leaving the car park turns
/// right only, away from the avenue junction 75 m south.
const BANNED_TURNS: [(usize, &str, Turn); 1] = [(8, "ramp", Turn::Left)];

/// Stretch of `ring-s` (metres from each end) painted yellow for road works.
const ROAD_WORKS_MARGIN: f64 = 35.0;

/// A curve of a road, by station.
#[derive(Debug, Clone, Copy)]
struct Curve {
    start: f64,
    end: f64,
    left: bool,
}

/// A road between two nodes, trimmed back to the edges of its junctions.
struct Road {
    name: &'static str,
    kind: Kind,
    section: Section,
    level: i32,
    /// Centreline in the forward direction, with the road surface height.
    centre: Vec<Vec3>,
    /// Distance along the centreline of each centre point.
    station: Vec<f64>,
    curves: Vec<Curve>,
    from: usize,
    to: usize,
    from_control: Control,
    to_control: Control,
    /// Stations painted yellow (road works).
    yellow: Option<(f64, f64)>,
}

impl Road {
    fn length(&self) -> f64 {
        *self.station.last().unwrap()
    }

    /// Centre point and unit forward tangent (plan) at a station.
    fn at(&self, s: f64) -> (Vec3, P2) {
        let s = s.clamp(0.0, self.length());
        let i = self
            .station
            .partition_point(|&st| st <= s)
            .clamp(1, self.centre.len() - 1);
        let (a, b) = (self.centre[i - 1], self.centre[i]);
        let f = (s - self.station[i - 1]) / (self.station[i] - self.station[i - 1]);
        (a + (b - a) * f, plan(&(b - a)).normalize())
    }

    /// A point `offset` metres left of the centreline at a station.
    fn point(&self, s: f64, offset: f64) -> Vec3 {
        let (c, t) = self.at(s);
        c + lift(&left_normal(&t)) * offset
    }

    /// The line `offset` metres left of the centreline, between two stations.
    fn line(&self, offset: f64, s0: f64, s1: f64) -> Vec<Vec3> {
        let n = self.centre.len();
        let shifted: Vec<Vec3> = (0..n)
            .map(|i| {
                let t = plan(&(self.centre[(i + 1).min(n - 1)] - self.centre[i.saturating_sub(1)]))
                    .normalize();
                self.centre[i] + lift(&left_normal(&t)) * offset
            })
            .collect();
        cut(&shifted, &self.station, s0, s1)
    }

    /// Travel direction: the heading of the road's forward tangent, reversed for the
    /// backward lanes.
    fn heading(&self, s: f64, forward: bool) -> f64 {
        let (_, t) = self.at(s);
        let h = heading_of(&t);
        if forward {
            h
        } else {
            (h + PI).rem_euclid(TAU)
        }
    }

    /// Station of a point `d` metres along the road in a direction of travel.
    fn station_of(&self, forward: bool, d: f64) -> f64 {
        if forward {
            d
        } else {
            self.length() - d
        }
    }

    /// The node a direction of travel leads to, and who gives way there.
    fn exit(&self, forward: bool) -> (usize, Control) {
        if forward {
            (self.to, self.to_control)
        } else {
            (self.from, self.from_control)
        }
    }

    fn directions(&self) -> Vec<bool> {
        let mut dirs = Vec::new();
        if self.section.forward > 0 {
            dirs.push(true);
        }
        if self.section.backward > 0 {
            dirs.push(false);
        }
        dirs
    }

    fn one_way(&self) -> bool {
        self.section.backward == 0
    }
}

fn plan(v: &Vec3) -> P2 {
    P2::new(v.x, v.y)
}

fn lift(v: &P2) -> Vec3 {
    Vec3::new(v.x, v.y, 0.0)
}

fn left_normal(t: &P2) -> P2 {
    P2::new(-t.y, t.x)
}

/// Compass heading (from north, clockwise) of a plan direction.
fn heading_of(t: &P2) -> f64 {
    t.x.atan2(t.y).rem_euclid(TAU)
}

/// The part of a polyline between two stations (given per point), ends interpolated.
fn cut(points: &[Vec3], station: &[f64], s0: f64, s1: f64) -> Vec<Vec3> {
    let at = |s: f64| {
        let i = station
            .partition_point(|&st| st <= s)
            .clamp(1, points.len() - 1);
        let f = ((s - station[i - 1]) / (station[i] - station[i - 1])).clamp(0.0, 1.0);
        points[i - 1] + (points[i] - points[i - 1]) * f
    };
    let mut out = vec![at(s0)];
    out.extend(
        points
            .iter()
            .zip(station)
            .filter(|(_, &s)| s > s0 + 1e-6 && s < s1 - 1e-6)
            .map(|(p, _)| *p),
    );
    out.push(at(s1));
    out
}

fn stations(points: &[Vec3]) -> Vec<f64> {
    let mut s = vec![0.0];
    for w in points.windows(2) {
        s.push(s.last().unwrap() + plan(&(w[1] - w[0])).norm());
    }
    s
}

/// A polyline through `corners` with every interior corner rounded by an arc of `radius`,
/// sampled at most `step` metres apart on straights and 2 m on arcs.
fn rounded_path(corners: &[P2], radius: f64, step: f64) -> (Vec<P2>, Vec<Curve>) {
    let mut points = vec![corners[0]];
    let mut curves = Vec::new();
    let mut length = 0.0;
    let line_to = |points: &mut Vec<P2>, length: &mut f64, to: P2| {
        let from = *points.last().unwrap();
        let span = (to - from).norm();
        let n = (span / step).ceil().max(1.0) as usize;
        points.extend((1..=n).map(|k| from + (to - from) * (k as f64 / n as f64)));
        *length += span;
    };
    for i in 1..corners.len() - 1 {
        let (prev, corner, next) = (corners[i - 1], corners[i], corners[i + 1]);
        let d1 = (corner - prev).normalize();
        let d2 = (next - corner).normalize();
        let angle = d1.perp(&d2).atan2(d1.dot(&d2));
        let tangent = radius * (angle.abs() / 2.0).tan();
        let start = corner - d1 * tangent;
        line_to(&mut points, &mut length, start);
        let centre = start + left_normal(&d1) * radius * angle.signum();
        let phi0 = (start.y - centre.y).atan2(start.x - centre.x);
        let n = (radius * angle.abs() / 2.0).ceil() as usize;
        points.extend((1..=n).map(|k| {
            let phi = phi0 + angle * k as f64 / n as f64;
            centre + P2::new(phi.cos(), phi.sin()) * radius
        }));
        curves.push(Curve {
            start: length,
            end: length + radius * angle.abs(),
            left: angle > 0.0,
        });
        length += radius * angle.abs();
    }
    line_to(&mut points, &mut length, corners[corners.len() - 1]);
    (points, curves)
}

fn all_road_specs() -> impl Iterator<Item = &'static RoadSpec> {
    ROADS.iter().chain(UNDERGROUND_ROADS.iter())
}

/// A road spec's corners: its two nodes with the corners between.
fn spec_corners(spec: &RoadSpec) -> Vec<P2> {
    let node_at = |n: usize| P2::new(NODES[n].at.0, NODES[n].at.1);
    std::iter::once(node_at(spec.from))
        .chain(spec.via.iter().map(|&(x, y)| P2::new(x, y)))
        .chain(std::iter::once(node_at(spec.to)))
        .collect()
}

/// Unit plan direction pointing away from a node along a road spec's first or last leg.
fn spec_outward(spec: &RoadSpec, at_end: bool) -> P2 {
    let corners = spec_corners(spec);
    let n = corners.len();
    if at_end {
        (corners[n - 2] - corners[n - 1]).normalize()
    } else {
        (corners[1] - corners[0]).normalize()
    }
}

/// How far a road end is cut back from a junction's centre: past the kerbs of every
/// crossing or branching road there (not the road straight across), plus the corner radius.
fn trim_at(node: usize, spec_index: usize, at_end: bool) -> f64 {
    if NODES[node].joint {
        return 0.0;
    }
    let specs: Vec<&RoadSpec> = all_road_specs().collect();
    let own = spec_outward(specs[spec_index], at_end);
    let corner = if NODES[node].level < 0 { 4.0 } else { 6.0 };
    let widest = specs
        .iter()
        .enumerate()
        .flat_map(|(i, spec)| [(i, false, spec.from), (i, true, spec.to)])
        .filter(|&(i, end, n)| n == node && (i, end) != (spec_index, at_end))
        .filter(|&(i, end, _)| own.dot(&spec_outward(specs[i], end)) > -0.9)
        .map(|(i, _, _)| specs[i].kind.section().half_width())
        .fold(0.0, f64::max);
    widest + corner
}

fn build_roads() -> Vec<Road> {
    all_road_specs()
        .enumerate()
        .map(|(index, spec)| {
            let corners = spec_corners(spec);
            let radius = if spec.kind == Kind::Aisle {
                AISLE_RADIUS
            } else {
                RING_RADIUS
            };
            // Sloping roads need dense points for a smooth profile.
            let step = if matches!(spec.kind, Kind::Ramp | Kind::Tunnel) {
                2.0
            } else {
                10.0
            };
            let (path, curves) = rounded_path(&corners, radius, step);
            let flat: Vec<Vec3> = path.iter().map(lift).collect();
            let full = stations(&flat);
            let (s0, s1) = (
                trim_at(spec.from, index, false),
                full.last().unwrap() - trim_at(spec.to, index, true),
            );
            let centre: Vec<Vec3> = cut(&flat, &full, s0, s1)
                .into_iter()
                .map(|p| Vec3::new(p.x, p.y, spec.kind.ground(&plan(&p))))
                .collect();
            let station = stations(&centre);
            let length = *station.last().unwrap();
            let curves = curves
                .into_iter()
                .map(|c| Curve {
                    start: (c.start - s0).max(0.0),
                    end: (c.end - s0).min(length),
                    ..c
                })
                .filter(|c| c.end > c.start)
                .collect();
            let yellow =
                (spec.name == "ring-s").then_some((ROAD_WORKS_MARGIN, length - ROAD_WORKS_MARGIN));
            Road {
                name: spec.name,
                kind: spec.kind,
                section: spec.kind.section(),
                level: spec.kind.level(),
                centre,
                station,
                curves,
                from: spec.from,
                to: spec.to,
                from_control: spec.from_control,
                to_control: spec.to_control,
                yellow,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Junctions and the lane graph

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Turn {
    Left,
    Straight,
    Right,
}

/// One road end at a node.
struct Mouth {
    road: usize,
    /// The road's end (its forward lanes arrive here) rather than its start.
    at_end: bool,
    point: Vec3,
    /// Unit plan direction pointing away from the node along the road.
    outward: P2,
}

impl Mouth {
    fn arriving_forward(&self) -> bool {
        self.at_end
    }
}

struct Junction {
    mouths: Vec<Mouth>,
}

fn build_junctions(roads: &[Road]) -> Vec<Junction> {
    (0..NODES.len())
        .map(|node| {
            let mut mouths = Vec::new();
            for (i, road) in roads.iter().enumerate() {
                if road.from == node {
                    let (point, t) = road.at(0.0);
                    mouths.push(Mouth {
                        road: i,
                        at_end: false,
                        point,
                        outward: t,
                    });
                }
                if road.to == node {
                    let (point, t) = road.at(road.length());
                    mouths.push(Mouth {
                        road: i,
                        at_end: true,
                        point,
                        outward: -t,
                    });
                }
            }
            Junction { mouths }
        })
        .collect()
}

/// The turn from arriving along `-a.outward` to leaving along `b.outward`, or `None` for a
/// U-turn.
fn turn_between(a: &Mouth, b: &Mouth) -> Option<Turn> {
    let (arrive, leave) = (-a.outward, b.outward);
    let angle = arrive.perp(&leave).atan2(arrive.dot(&leave));
    match angle.to_degrees() {
        a if a.abs() > 150.0 => None,
        a if a > 30.0 => Some(Turn::Left),
        a if a < -30.0 => Some(Turn::Right),
        _ => Some(Turn::Straight),
    }
}

struct LaneGraph {
    lanes: Vec<DrivingLane>,
    /// Per road: lane indices of its forward and backward lanes, counted from the right.
    forward: Vec<Vec<usize>>,
    backward: Vec<Vec<usize>>,
    /// Per (node, mouth index): the turns each arriving lane (from the right) may make.
    allowed: Vec<Vec<Vec<BTreeSet<Turn>>>>,
}

impl LaneGraph {
    fn arriving(&self, mouth: &Mouth) -> &[usize] {
        if mouth.arriving_forward() {
            &self.forward[mouth.road]
        } else {
            &self.backward[mouth.road]
        }
    }

    fn leaving(&self, mouth: &Mouth) -> &[usize] {
        if mouth.arriving_forward() {
            &self.backward[mouth.road]
        } else {
            &self.forward[mouth.road]
        }
    }
}

fn build_lanes(roads: &[Road], junctions: &[Junction]) -> LaneGraph {
    let mut graph = LaneGraph {
        lanes: Vec::new(),
        forward: Vec::new(),
        backward: Vec::new(),
        allowed: Vec::new(),
    };
    for road in roads {
        let section = road.section;
        let speed_limit = section.speed_kmh as f64 / 3.6;
        for forward in [true, false] {
            let count = if forward {
                section.forward
            } else {
                section.backward
            };
            let indices = (0..count)
                .map(|i| {
                    let mut points = road.line(section.lane_centre(forward, i), 0.0, road.length());
                    if !forward {
                        points.reverse();
                    }
                    graph.lanes.push(DrivingLane {
                        id: format!("{}/{}{i}", road.name, if forward { 'f' } else { 'b' }),
                        level: road.level,
                        points,
                        speed_limit,
                        successors: Vec::new(),
                        connector: false,
                        left: None,
                        right: None,
                    });
                    graph.lanes.len() - 1
                })
                .collect::<Vec<usize>>();
            for pair in indices.windows(2) {
                graph.lanes[pair[0]].left = Some(pair[1]);
                graph.lanes[pair[1]].right = Some(pair[0]);
            }
            if forward {
                graph.forward.push(indices);
            } else {
                graph.backward.push(indices);
            }
        }
    }
    for (node, junction) in junctions.iter().enumerate() {
        let mut allowed_here = Vec::new();
        for a in &junction.mouths {
            let arriving = graph.arriving(a).to_vec();
            let mut allowed = vec![BTreeSet::new(); arriving.len()];
            if arriving.is_empty() {
                allowed_here.push(allowed);
                continue;
            }
            for b in &junction.mouths {
                let leaving = graph.leaving(b).to_vec();
                if std::ptr::eq(a, b) || leaving.is_empty() {
                    continue;
                }
                if NODES[node].joint {
                    for (&from, &to) in arriving.iter().zip(&leaving) {
                        graph.lanes[from].successors.push(to);
                    }
                    continue;
                }
                let Some(turn) = turn_between(a, b) else {
                    continue;
                };
                if BANNED_TURNS.contains(&(node, roads[a.road].name, turn)) {
                    continue;
                }
                let last = arriving.len() - 1;
                for (i, &from) in arriving.iter().enumerate() {
                    // Right turns from the rightmost lane, left turns from the leftmost.
                    let to = match turn {
                        Turn::Right if i == 0 => leaving[0],
                        Turn::Left if i == last => leaving[leaving.len() - 1],
                        Turn::Straight => leaving[i.min(leaving.len() - 1)],
                        _ => continue,
                    };
                    allowed[i].insert(turn);
                    let connector = connect(
                        &graph.lanes[from],
                        &graph.lanes[to],
                        to,
                        NODES[node].name,
                        NODES[node].level,
                    );
                    graph.lanes.push(connector);
                    let index = graph.lanes.len() - 1;
                    graph.lanes[from].successors.push(index);
                }
            }
            allowed_here.push(allowed);
        }
        graph.allowed.push(allowed_here);
    }
    graph
}

/// A connector from the end of one lane to the start of another: a cubic Bézier leaving
/// and arriving along the lanes.
fn connect(
    from: &DrivingLane,
    to: &DrivingLane,
    to_index: usize,
    node: &str,
    level: i32,
) -> DrivingLane {
    let n = from.points.len();
    let p0 = from.points[n - 1];
    let p3 = to.points[0];
    let d0 = (p0 - from.points[n - 2]).normalize();
    let d3 = (to.points[1] - p3).normalize();
    let reach = (p3 - p0).norm() * 0.4;
    let (p1, p2) = (p0 + d0 * reach, p3 - d3 * reach);
    let steps = ((p3 - p0).norm() / 1.5).ceil().max(4.0) as usize;
    let points = (0..=steps)
        .map(|k| {
            let t = k as f64 / steps as f64;
            let u = 1.0 - t;
            p0 * (u * u * u) + p1 * (3.0 * u * u * t) + p2 * (3.0 * u * t * t) + p3 * (t * t * t)
        })
        .collect();
    DrivingLane {
        id: format!("{node}:{}>{}", from.id, to.id),
        level,
        points,
        speed_limit: from.speed_limit.min(to.speed_limit).min(30.0 / 3.6),
        successors: vec![to_index],
        connector: true,
        left: None,
        right: None,
    }
}

// ---------------------------------------------------------------------------------------
// Markings and kerbs

/// The pieces of lane boundary `k` of a road: station ranges with their paint.
fn line_pieces(road: &Road, k: usize) -> Vec<(f64, f64, LineStyle, LineColor)> {
    let section = road.section;
    let n = section.lanes();
    let edge = k == 0 || k == n;
    if edge && !section.edge_lines {
        return Vec::new();
    }
    let length = road.length();
    let centre = section.backward > 0 && k == section.backward;
    let junction_at = |node: usize| !NODES[node].joint;
    // Where a dashed line turns solid: the centre line near the ring's bends (no
    // overtaking) and in the last 15 m before a junction; lane dividers in the last 30 m
    // of an approach, once drivers have chosen their lane by the arrows.
    let mut solid: Vec<(f64, f64)> = Vec::new();
    if centre {
        if road.kind == Kind::Ring {
            solid.extend(road.curves.iter().map(|c| (c.start - 25.0, c.end + 25.0)));
        }
        if junction_at(road.from) {
            solid.push((0.0, 15.0));
        }
        if junction_at(road.to) {
            solid.push((length - 15.0, length));
        }
    } else if k > section.backward && junction_at(road.to) {
        solid.push((length - 30.0, length));
    } else if k < section.backward && junction_at(road.from) {
        solid.push((0.0, 30.0));
    }
    let default = if centre {
        section.centre
    } else {
        LineStyle::Dashed
    };
    let paint = |s: f64| {
        let in_solid = solid.iter().any(|&(a, b)| s > a && s < b);
        let style = if edge || (default == LineStyle::Dashed && in_solid) {
            LineStyle::Solid
        } else {
            default
        };
        let colour = match road.yellow {
            Some((a, b)) if s > a && s < b => LineColor::Yellow,
            _ => section.colour,
        };
        (style, colour)
    };
    let mut breaks = vec![0.0, length];
    breaks.extend(road.yellow.iter().flat_map(|&(a, b)| [a, b]));
    breaks.extend(solid.iter().flat_map(|&(a, b)| [a, b]));
    breaks.retain(|s| (0.0..=length).contains(s));
    breaks.sort_by(f64::total_cmp);
    breaks.dedup_by(|a, b| (*a - *b).abs() < 0.5);
    let mut pieces: Vec<(f64, f64, LineStyle, LineColor)> = Vec::new();
    for w in breaks.windows(2) {
        let (style, colour) = paint((w[0] + w[1]) / 2.0);
        match pieces.last_mut() {
            Some(last) if (last.2, last.3) == (style, colour) => last.1 = w[1],
            _ => pieces.push((w[0], w[1], style, colour)),
        }
    }
    pieces
}

fn paint(map: &mut Map, roads: &[Road], junctions: &[Junction]) {
    for road in roads {
        let section = road.section;
        let bounds = section.boundaries();
        let n = section.lanes();
        let length = road.length();
        for (k, &offset) in bounds.iter().enumerate() {
            for (piece, (s0, s1, style, color)) in line_pieces(road, k).into_iter().enumerate() {
                map.lane_lines.push(LaneLine {
                    line: Polyline {
                        id: format!("line-{}-{k}-{piece}", road.name),
                        level: road.level,
                        points: road.line(offset, s0, s1),
                    },
                    style,
                    color,
                });
            }
        }
        // Stop lines across the lanes arriving at a junction where they must give way.
        let arrivals = [
            (
                road.to,
                road.to_control,
                section.forward > 0,
                length - 0.3,
                bounds[section.backward],
                bounds[n],
                "end",
            ),
            (
                road.from,
                road.from_control,
                section.backward > 0,
                0.3,
                bounds[0],
                bounds[section.backward],
                "start",
            ),
        ];
        for (node, control, has_lanes, s, a, b, end) in arrivals {
            if has_lanes && control != Control::Priority && !NODES[node].joint {
                map.stop_lines.push(Polyline {
                    id: format!("stop-{}-{end}", road.name),
                    level: road.level,
                    points: vec![road.point(s, a), road.point(s, b)],
                });
            }
        }
        if section.kerbs {
            let (left, right) = section.kerbs_at();
            for (side, offset) in [("l", left), ("r", right)] {
                map.road_edges.push(Polyline {
                    id: format!("kerb-{}-{side}", road.name),
                    level: road.level,
                    points: road.line(offset, 0.0, length),
                });
            }
        }
    }
    for (node, junction) in junctions.iter().enumerate() {
        if !NODES[node].joint {
            kerb_corners(map, roads, node, junction);
        }
    }
}

/// Kerbs round the corners of a junction: between each road end and the next one
/// counter-clockwise, a quadratic Bézier from one kerb end to the other with its control
/// point where the two kerb lines meet (a straight kerb where they are parallel).
fn kerb_corners(map: &mut Map, roads: &[Road], node: usize, junction: &Junction) {
    let mut mouths: Vec<&Mouth> = junction
        .mouths
        .iter()
        .filter(|m| roads[m.road].section.kerbs)
        .collect();
    if mouths.len() < 2 {
        return;
    }
    mouths.sort_by(|a, b| {
        a.outward
            .y
            .atan2(a.outward.x)
            .total_cmp(&b.outward.y.atan2(b.outward.x))
    });
    for i in 0..mouths.len() {
        let (a, b) = (mouths[i], mouths[(i + 1) % mouths.len()]);
        let kerb_a = a.point + lift(&left_normal(&a.outward)) * roads[a.road].section.half_width();
        let kerb_b = b.point - lift(&left_normal(&b.outward)) * roads[b.road].section.half_width();
        let denominator = a.outward.perp(&b.outward);
        let control = if denominator.abs() < 0.1 {
            (kerb_a + kerb_b) / 2.0
        } else {
            let t = plan(&(kerb_b - kerb_a)).perp(&b.outward) / denominator;
            kerb_a + lift(&a.outward) * t
        };
        let points = (0..=8)
            .map(|k| {
                let t = k as f64 / 8.0;
                kerb_a * ((1.0 - t) * (1.0 - t))
                    + control * (2.0 * t * (1.0 - t))
                    + kerb_b * (t * t)
            })
            .collect();
        map.road_edges.push(Polyline {
            id: format!("kerb-{}-{i}", NODES[node].name),
            level: NODES[node].level,
            points,
        });
    }
}

// ---------------------------------------------------------------------------------------
// Underground spaces

fn underground_spaces(roads: &[Road]) -> Vec<Underground> {
    let tunnel = roads
        .iter()
        .find(|r| r.kind == Kind::Tunnel)
        .expect("the tunnel is in the plan");
    let (left, right) = tunnel.section.kerbs_at();
    // The tunnel runs due east; its walls end 1 m inside the car park.
    let end = tunnel.length() - (tunnel.centre.last().unwrap().x - (CARPARK[0] + 1.0));
    let mut outline = tunnel.line(left + TUNNEL_WALKWAY, 0.0, end);
    outline.extend(
        tunnel
            .line(right - TUNNEL_WALKWAY, 0.0, end)
            .into_iter()
            .rev(),
    );
    let [west, south, east, north] = CARPARK;
    let floor = CARPARK_FLOOR;
    vec![
        Underground {
            id: "ug-tunnel".into(),
            level: -1,
            outline,
            ceiling: TUNNEL_CEILING,
        },
        Underground {
            id: "ug-carpark".into(),
            level: -1,
            outline: vec![
                Vec3::new(west, south, floor),
                Vec3::new(east, south, floor),
                Vec3::new(east, north, floor),
                Vec3::new(west, north, floor),
            ],
            ceiling: CARPARK_CEILING,
        },
    ]
}

/// Ceiling height above a point underground.
fn ceiling_at(map: &Map, p: &Vec3) -> Option<f64> {
    map.underground
        .iter()
        .find(|space| crate::model::point_in_ring(p, &space.outline))
        .map(|space| space.ceiling)
}

// ---------------------------------------------------------------------------------------
// Signs

/// Where on a road a sign is mounted, relative to the direction of travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Beside the road on the right (on a pole, or on the tunnel wall).
    Right,
    /// Beside the road on the left.
    Left,
    /// On a gantry above a lane (counted from the right).
    Overhead(usize),
    /// Hanging from the ceiling above a lane.
    Ceiling(usize),
}

/// One sign support: the signs on it, top first.
struct Post {
    road: usize,
    forward: bool,
    place: Place,
    station: f64,
    classes: Vec<u8>,
}

struct SignPlan<'a> {
    roads: &'a [Road],
    posts: Vec<Post>,
}

impl SignPlan<'_> {
    /// Adds a sign `d` metres along a road in a direction of travel (negative: from the
    /// end). A pole carries two signs; a third moves 6 m towards oncoming traffic.
    fn add(&mut self, road: usize, forward: bool, d: f64, class: u8, place: Place) {
        let r = &self.roads[road];
        let length = r.length();
        let mut station = r.station_of(forward, if d < 0.0 { length + d } else { d });
        for _ in 0..4 {
            if station < 1.0 || station > length - 1.0 {
                return;
            }
            let capacity = if matches!(place, Place::Right | Place::Left) {
                2
            } else {
                1
            };
            let near = self.posts.iter_mut().find(|p| {
                p.road == road
                    && p.forward == forward
                    && p.place == place
                    && (p.station - station).abs() < 4.0
            });
            match near {
                Some(post) if post.classes.contains(&class) => return,
                Some(post) if post.classes.len() < capacity => {
                    post.classes.push(class);
                    return;
                }
                Some(post) => station = post.station + if forward { -6.0 } else { 6.0 },
                None => {
                    self.posts.push(Post {
                        road,
                        forward,
                        place,
                        station,
                        classes: vec![class],
                    });
                    return;
                }
            }
        }
    }
}

/// GTSRB class of a lane arrow sign for the turns a lane allows, if there is one.
fn arrow_class(turns: &BTreeSet<Turn>) -> Option<u8> {
    use Turn::*;
    match turns.iter().copied().collect::<Vec<_>>().as_slice() {
        [Straight] => Some(35),
        [Left] => Some(34),
        [Right] => Some(33),
        [Left, Straight] => Some(37),
        [Straight, Right] => Some(36),
        _ => None,
    }
}

/// Signs particular to one place: (road, forward, metres along (negative: from the end),
/// class, place).
#[rustfmt::skip]
const LOCAL_SIGNS: [(&str, bool, f64, u8, Place); 27] = {
    use Place::*;
    [
        // No overtaking for lorries along the avenue.
        ("avenue-1", true, 60.0, 10, Right), ("avenue-3", false, 60.0, 10, Right),
        ("avenue-3", true, -85.0, 42, Right), ("avenue-1", false, -85.0, 42, Right),
        ("avenue-2", true, 70.0, 27, Right), ("avenue-2", false, 70.0, 27, Right),
        // Road works with yellow markings on the ring's south side.
        ("ring-s", true, 10.0, 25, Right), ("ring-s", true, 10.0, 22, Right),
        ("ring-s", false, 10.0, 25, Right), ("ring-s", false, 10.0, 22, Right),
        ("ring-s", true, -20.0, 32, Right), ("ring-s", false, -20.0, 32, Right),
        // The school street: children, a zebra crossing, no lorries.
        ("school-s", true, 45.0, 28, Right), ("school-n", false, 45.0, 28, Right),
        ("school-s", true, 8.0, 16, Right), ("school-n", false, 8.0, 16, Right),
        ("school-n", true, 60.0, 27, Right),
        // Cycle route crossing the ring's west side.
        ("ring-nw", true, 60.0, 29, Right), ("ring-sw", false, 60.0, 29, Right),
        // Traffic from the car park joins the ring.
        ("ring-e", true, 8.0, 18, Right), ("ring-ne", false, -45.0, 18, Right),
        // The ramp: no overtaking, ice and wet surface; the ban ends on the way out.
        ("ramp", true, 5.0, 9, Right), ("ramp", true, 40.0, 30, Right), ("ramp", true, 40.0, 23, Right),
        ("ramp", false, -35.0, 41, Right),
        // In the tunnel: no overtaking on the wall; 20 km/h from the ceiling before the car park.
        ("tunnel", true, 60.0, 9, Right), ("tunnel", true, -30.0, 0, Ceiling(0)),
    ]
};

fn board_size(class: u8) -> (f64, f64) {
    match class {
        11 | 13 | 18..=31 => (0.9, 0.79),
        12 => (0.85, 0.85),
        _ => (0.6, 0.6),
    }
}

fn place_signs(
    map: &mut Map,
    rng: &mut ChaCha8Rng,
    roads: &[Road],
    junctions: &[Junction],
    lanes: &LaneGraph,
) {
    let mut plan = SignPlan {
        roads,
        posts: Vec::new(),
    };
    let jitter = |rng: &mut ChaCha8Rng| rng.random_range(-2.0..2.0);
    let side = |road: &Road| {
        if road.kind == Kind::Aisle {
            Place::Ceiling(0)
        } else {
            Place::Right
        }
    };

    // At junction approaches: stop or give way, lane arrows where turns are restricted,
    // no entry at the exits of one-way roads.
    for (i, road) in roads.iter().enumerate() {
        for forward in road.directions() {
            let (node, control) = road.exit(forward);
            if NODES[node].joint {
                continue;
            }
            let at_line = if road.level < 0 { -8.0 } else { -1.5 };
            match control {
                Control::Stop => plan.add(i, forward, at_line, 14, side(road)),
                Control::Yield => plan.add(i, forward, at_line, 13, side(road)),
                Control::Priority => {}
            }
            let junction = &junctions[node];
            let (m, mouth) = junction
                .mouths
                .iter()
                .enumerate()
                .find(|(_, m)| m.road == i && m.at_end == forward)
                .expect("every road end is a mouth of its node");
            let possible: BTreeSet<Turn> = junction
                .mouths
                .iter()
                .filter(|b| !std::ptr::eq(*b, mouth))
                .filter_map(|b| turn_between(mouth, b))
                .collect();
            let allowed = &lanes.allowed[node][m];
            if allowed.iter().all(|turns| *turns == possible) {
                continue;
            }
            if allowed.len() > 1 {
                for (lane, turns) in allowed.iter().enumerate() {
                    if let Some(class) = arrow_class(turns) {
                        plan.add(i, forward, -45.0, class, Place::Overhead(lane));
                    }
                }
            } else if let Some(class) = arrow_class(&allowed[0]) {
                plan.add(i, forward, at_line, class, side(road));
            }
        }
        if road.one_way() && !NODES[road.to].joint {
            // Facing wrong-way drivers coming from the junction: "backward" travel.
            if road.level < 0 {
                plan.add(i, false, 2.0, 17, Place::Ceiling(0));
            } else {
                plan.add(i, false, 2.0, 17, Place::Right);
                plan.add(i, false, 2.0, 17, Place::Left);
            }
        }
    }
    // Speed limits after each junction, under "priority road" along the avenue.
    for (i, road) in roads.iter().enumerate() {
        for forward in road.directions() {
            if road.length() < 50.0 {
                continue;
            }
            let d = 20.0 + jitter(rng);
            let (_, exit_control) = road.exit(forward);
            if road.kind == Kind::Avenue && exit_control == Control::Priority {
                plan.add(i, forward, d, 12, side(road));
            }
            plan.add(i, forward, d, road.section.speed_limit_class(), side(road));
        }
    }
    // Bends: warnings 40 m ahead on streets, direction arrows from the car park ceiling.
    for (i, road) in roads.iter().enumerate() {
        for forward in road.directions() {
            for curve in &road.curves {
                let start = if forward {
                    curve.start
                } else {
                    road.length() - curve.end
                };
                let left = curve.left == forward;
                if road.kind == Kind::Aisle {
                    plan.add(
                        i,
                        forward,
                        start - 8.0,
                        if left { 34 } else { 33 },
                        Place::Ceiling(0),
                    );
                } else if start - 40.0 >= 5.0 {
                    plan.add(
                        i,
                        forward,
                        start - 40.0 + jitter(rng),
                        if left { 19 } else { 20 },
                        side(road),
                    );
                }
            }
        }
    }
    for (name, forward, d, class, place) in LOCAL_SIGNS {
        let i = roads
            .iter()
            .position(|r| r.name == name)
            .expect("local signs name roads of the plan");
        let d = if matches!(place, Place::Right | Place::Left) {
            d + jitter(rng)
        } else {
            d
        };
        plan.add(i, forward, d, class, place);
    }
    // Priority at the next junction along the ring.
    for (i, road) in roads.iter().enumerate() {
        for forward in road.directions() {
            let (node, control) = road.exit(forward);
            if road.kind == Kind::Ring
                && control == Control::Priority
                && !NODES[node].joint
                && road.length() > 70.0
            {
                plan.add(i, forward, -50.0 + jitter(rng), 11, Place::Right);
            }
        }
    }
    emit_signs(map, rng, roads, plan.posts);
}

/// Turns the planned posts into signs and their poles and gantries.
fn emit_signs(map: &mut Map, rng: &mut ChaCha8Rng, roads: &[Road], posts: Vec<Post>) {
    let mut gantries: Vec<(usize, bool, f64)> = Vec::new();
    for (p, post) in posts.iter().enumerate() {
        let road = &roads[post.road];
        let section = road.section;
        let (kerb_left, kerb_right) = section.kerbs_at();
        let facing = (road.heading(post.station, post.forward) + PI).rem_euclid(TAU);
        let right_of_travel = (post.place == Place::Right) == post.forward;
        let push =
            |map: &mut Map, class: u8, position: Vec3, (width, height): (f64, f64), mounting| {
                map.signs.push(Sign {
                    id: format!("sign-{:03}", map.signs.len() + 1),
                    level: road.level,
                    class: SignClass::Gtsrb(class),
                    position,
                    width,
                    height,
                    facing,
                    mounting,
                })
            };
        match post.place {
            Place::Right | Place::Left => {
                let (mounting, out) = if road.level < 0 {
                    (Mounting::Wall, TUNNEL_WALKWAY - 0.05)
                } else {
                    (Mounting::Pole, rng.random_range(1.5..2.5))
                };
                let offset = if right_of_travel {
                    kerb_right - out
                } else {
                    kerb_left + out
                };
                let foot = road.point(post.station, offset);
                // Single signs at 2.2–2.6 m; two stacked from 1.75 m up, the first on top.
                let sizes: Vec<(f64, f64)> = post.classes.iter().map(|&c| board_size(c)).collect();
                let mut centres = if sizes.len() == 1 {
                    vec![rng.random_range(2.2..2.6)]
                } else {
                    let lower = 1.75 + sizes[1].1 / 2.0;
                    vec![lower + sizes[1].1 / 2.0 + 0.05 + sizes[0].1 / 2.0, lower]
                };
                centres.truncate(sizes.len());
                for ((&class, &size), &centre) in post.classes.iter().zip(&sizes).zip(&centres) {
                    push(map, class, foot + Vec3::z() * centre, size, mounting);
                }
                if mounting == Mounting::Pole {
                    map.poles.push(Pole {
                        id: format!("post-{:03}", p + 1),
                        level: road.level,
                        base: foot,
                        height: centres[0] + sizes[0].1 / 2.0 + 0.1,
                    });
                }
            }
            Place::Overhead(lane) => {
                let class = post.classes[0];
                let (w, h) = board_size(class);
                let centre = road.point(post.station, section.lane_centre(post.forward, lane));
                push(
                    map,
                    class,
                    centre + Vec3::z() * 5.5,
                    (w * 1.5, h * 1.5),
                    Mounting::Overhead,
                );
                if !gantries.iter().any(|g| {
                    g.0 == post.road && g.1 == post.forward && (g.2 - post.station).abs() < 1.0
                }) {
                    gantries.push((post.road, post.forward, post.station));
                    for (side, offset) in [("l", kerb_left + 1.5), ("r", kerb_right - 1.5)] {
                        map.poles.push(Pole {
                            id: format!("gantry-{}-{side}", gantries.len()),
                            level: road.level,
                            base: road.point(post.station, offset),
                            height: 6.5,
                        });
                    }
                }
            }
            Place::Ceiling(lane) => {
                let class = post.classes[0];
                let size = board_size(class);
                let centre = road.point(post.station, section.lane_centre(post.forward, lane));
                let ceiling = ceiling_at(map, &centre).expect("ceiling signs hang underground");
                push(
                    map,
                    class,
                    Vec3::new(centre.x, centre.y, ceiling - 0.15 - size.1 / 2.0),
                    size,
                    Mounting::Ceiling,
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Lamps, pillars, buildings

fn plan_distance_to_polyline(p: &P2, points: &[Vec3]) -> f64 {
    points
        .windows(2)
        .map(|w| {
            let (a, b) = (plan(&w[0]), plan(&w[1]));
            let ab = b - a;
            let t = ((p - a).dot(&ab) / ab.norm_squared().max(1e-12)).clamp(0.0, 1.0);
            (a + ab * t - p).norm()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Street lamps 0.7 m behind the kerb: both sides of the avenue and the ramp, the outer
/// side of the ring and the right side of other streets.
fn place_lamps(map: &mut Map, rng: &mut ChaCha8Rng, roads: &[Road]) {
    let mut count = 0;
    for road in roads.iter().filter(|r| r.level == 0) {
        let (spacing, both, height) = match road.kind {
            Kind::Avenue => (30.0, true, 10.0),
            Kind::Ramp => (25.0, true, 8.0),
            _ => (35.0, false, 8.0),
        };
        let (left, right) = road.section.kerbs_at();
        let sides: &[f64] = if both {
            &[right - 0.7, left + 0.7]
        } else {
            &[right - 0.7]
        };
        for (k, &offset) in sides.iter().enumerate() {
            // Staggered: the second side starts half a spacing on.
            let mut s = rng.random_range(4.0..spacing) + k as f64 * spacing / 2.0;
            while s < road.length() - 4.0 {
                let base = road.point(s, offset);
                if map
                    .poles
                    .iter()
                    .all(|p| plan(&(p.base - base)).norm() > 2.5)
                {
                    count += 1;
                    map.poles.push(Pole {
                        id: format!("lamp-{count:03}"),
                        level: 0,
                        base,
                        height,
                    });
                }
                s += spacing;
            }
        }
    }
}

/// Car park pillars on an 8 m grid, clear of the aisle and the junction by 3.5 m.
fn place_pillars(map: &mut Map, lanes: &[DrivingLane]) {
    let [west, south, east, north] = CARPARK;
    let underground: Vec<&DrivingLane> = lanes.iter().filter(|l| l.level < 0).collect();
    let mut count = 0;
    let mut x = west + 4.0;
    while x < east - 2.0 {
        let mut y = south + 4.0;
        while y < north - 2.0 {
            let at = P2::new(x, y);
            if underground
                .iter()
                .all(|l| plan_distance_to_polyline(&at, &l.points) > 3.5)
            {
                count += 1;
                map.poles.push(Pole {
                    id: format!("pillar-{count:03}"),
                    level: -1,
                    base: Vec3::new(x, y, CARPARK_FLOOR),
                    height: CARPARK_CEILING - CARPARK_FLOOR,
                });
            }
            y += 8.0;
        }
        x += 8.0;
    }
}

/// An axis-aligned footprint: min and max corners.
type Rect = (P2, P2);

/// Candidate lots along one side of a block: frontages 12–28 m wide, some gaps.
fn frontage(
    rng: &mut ChaCha8Rng,
    start: P2,
    along: P2,
    inward: P2,
    length: f64,
    max_depth: f64,
    heights: (f64, f64),
) -> Vec<(Rect, f64)> {
    let mut lots = Vec::new();
    let mut t = 0.0;
    loop {
        if rng.random_bool(0.2) {
            t += rng.random_range(3.0..10.0);
        }
        let width = rng.random_range(12.0..28.0);
        if t + width > length {
            return lots;
        }
        let depth = rng.random_range(10.0..max_depth);
        let a = start + along * t;
        let c = a + along * width + inward * depth;
        lots.push((
            (a.inf(&c), a.sup(&c)),
            rng.random_range(heights.0..heights.1),
        ));
        t += width;
    }
}

fn place_buildings(map: &mut Map, rng: &mut ChaCha8Rng, roads: &[Road]) {
    let xs = [0.0, 150.0, 300.0, 450.0];
    let ys = [0.0, 150.0, 300.0];
    let mut candidates = Vec::new();
    for j in 0..2 {
        for i in 0..3 {
            // Building lines: 12 m from the avenue's centreline, 8.5 m from other streets.
            let margin = |y: f64| if y == 150.0 { 12.0 } else { 8.5 };
            let lo = P2::new(xs[i] + 8.5, ys[j] + margin(ys[j]));
            let hi = P2::new(xs[i + 1] - 8.5, ys[j + 1] - margin(ys[j + 1]));
            let heights = match (i, j) {
                (1, 1) => (24.0, 40.0),
                (1, 0) => (14.0, 26.0),
                (_, 1) => (12.0, 24.0),
                _ => (8.0, 18.0),
            };
            let depth = 18.0f64.min((hi.y - lo.y) / 2.0 - 1.0);
            let (w, h) = (hi.x - lo.x, hi.y - lo.y);
            // The east and west rows fit between the corner buildings of the other two.
            let sides = [
                (lo, P2::x(), P2::y(), w),
                (
                    P2::new(hi.x, lo.y + depth),
                    P2::y(),
                    -P2::x(),
                    h - 2.0 * depth,
                ),
                (hi, -P2::x(), -P2::y(), w),
                (
                    P2::new(lo.x, hi.y - depth),
                    -P2::y(),
                    P2::x(),
                    h - 2.0 * depth,
                ),
            ];
            for (start, along, inward, length) in sides {
                candidates.extend(frontage(rng, start, along, inward, length, depth, heights));
            }
        }
    }
    let outskirts = [
        (P2::new(-30.0, -8.5), P2::x(), -P2::y(), 510.0),
        (P2::new(458.5, -30.0), P2::y(), P2::x(), 360.0),
        (P2::new(480.0, 308.5), -P2::x(), P2::y(), 510.0),
        (P2::new(-8.5, 330.0), -P2::y(), -P2::x(), 360.0),
    ];
    for (start, along, inward, length) in outskirts {
        candidates.extend(frontage(
            rng,
            start,
            along,
            inward,
            length,
            18.0,
            (8.0, 15.0),
        ));
    }

    // Keep a lot clear of every road (4 m behind its kerb) and of the underground plaza.
    let road_points: Vec<(P2, f64)> = roads
        .iter()
        .flat_map(|road| {
            let n = (road.length() / 1.0).ceil() as usize;
            let reach = road.section.half_width() + 4.0;
            (0..=n).map(move |k| (plan(&road.at(road.length() * k as f64 / n as f64).0), reach))
        })
        .collect();
    let plaza: Vec<Rect> = map
        .underground
        .iter()
        .map(|u| {
            let (lo, hi) = u.outline.iter().fold(
                (P2::repeat(f64::INFINITY), P2::repeat(f64::NEG_INFINITY)),
                |(lo, hi), p| (lo.inf(&plan(p)), hi.sup(&plan(p))),
            );
            (lo - P2::repeat(2.0), hi + P2::repeat(2.0))
        })
        .collect();
    let overlaps = |a: &Rect, b: &Rect| {
        a.0.x < b.1.x - 1e-6 && b.0.x < a.1.x - 1e-6 && a.0.y < b.1.y - 1e-6 && b.0.y < a.1.y - 1e-6
    };
    let mut kept: Vec<(Rect, f64)> = Vec::new();
    for (rect, height) in candidates {
        let clear_of_roads = road_points.iter().all(|(p, reach)| {
            let nearest = p.sup(&rect.0).inf(&rect.1);
            (nearest - p).norm() >= *reach
        });
        if clear_of_roads
            && !plaza.iter().any(|u| overlaps(u, &rect))
            && !kept.iter().any(|(k, _)| overlaps(k, &rect))
        {
            kept.push((rect, height));
        }
    }
    for (n, ((lo, hi), height)) in kept.into_iter().enumerate() {
        map.buildings.push(Building {
            id: format!("building-{:03}", n + 1),
            footprint: vec![
                Vec3::new(lo.x, lo.y, 0.0),
                Vec3::new(hi.x, lo.y, 0.0),
                Vec3::new(hi.x, hi.y, 0.0),
                Vec3::new(lo.x, hi.y, 0.0),
            ],
            height,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::point_in_ring;
    use std::collections::HashSet;
    use std::sync::OnceLock;

    fn town() -> &'static DemoTown {
        static TOWN: OnceLock<DemoTown> = OnceLock::new();
        TOWN.get_or_init(|| build(SHIPPED_SEED))
    }

    fn map() -> &'static Map {
        &town().map
    }

    fn angle_between(a: f64, b: f64) -> f64 {
        (a - b + PI).rem_euclid(TAU) - PI
    }

    /// Height of the road surface below a point: the nearest lane line in plan on the same
    /// level, interpolated.
    fn ground_below(map: &Map, p: &Vec3, level: i32) -> f64 {
        let at = plan(p);
        map.lane_lines
            .iter()
            .filter(|l| l.line.level == level)
            .flat_map(|l| l.line.points.windows(2))
            .map(|w| {
                let (a, b) = (plan(&w[0]), plan(&w[1]));
                let t =
                    ((at - a).dot(&(b - a)) / (b - a).norm_squared().max(1e-12)).clamp(0.0, 1.0);
                (
                    (a + (b - a) * t - at).norm(),
                    w[0].z + (w[1].z - w[0].z) * t,
                )
            })
            .min_by(|x, y| x.0.total_cmp(&y.0))
            .expect("lane lines on every level")
            .1
    }

    #[test]
    fn same_seed_same_town_other_seed_other_town() {
        assert_eq!(&build(SHIPPED_SEED), town());
        let other = generate(SHIPPED_SEED + 1);
        assert_ne!(&other, map());
        assert_eq!(other.provenance, "mapfix map demo-town --seed 8");
        assert_eq!(
            map().provenance,
            format!("mapfix map demo-town --seed {SHIPPED_SEED}")
        );
    }

    #[test]
    fn the_shipped_map_is_this_generator_s_output() {
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../../maps/demo-town.geojson");
        let text =
            std::fs::read_to_string(shipped).expect("maps/demo-town.geojson is in the repository");
        assert!(
            text.trim_end() == crate::geojson::to_string(map()).trim_end(),
            "maps/demo-town.geojson is stale: regenerate it with \
             `mapfix map demo-town --seed {SHIPPED_SEED} -o maps/demo-town.geojson`"
        );
    }

    #[test]
    fn feature_ids_are_unique() {
        let m = map();
        let ids: Vec<&str> = m
            .signs
            .iter()
            .map(|s| s.id.as_str())
            .chain(m.lane_lines.iter().map(|l| l.line.id.as_str()))
            .chain(
                m.stop_lines
                    .iter()
                    .chain(&m.road_edges)
                    .map(|l| l.id.as_str()),
            )
            .chain(m.poles.iter().map(|p| p.id.as_str()))
            .chain(m.buildings.iter().map(|b| b.id.as_str()))
            .chain(m.underground.iter().map(|u| u.id.as_str()))
            .collect();
        let distinct: HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len());
        let lane_ids: HashSet<&str> = town().lanes.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(lane_ids.len(), town().lanes.len());
    }

    #[test]
    fn streets_are_long_enough_with_two_and_four_lanes() {
        let roads = build_roads();
        let total: f64 = roads.iter().map(Road::length).sum();
        assert!(total >= 2000.0, "{total:.0} m of road");
        let underground: f64 = roads.iter().filter(|r| r.level < 0).map(Road::length).sum();
        assert!(underground >= 300.0, "{underground:.0} m underground");
        assert!(roads.iter().any(|r| r.section.lanes() == 4));
        assert!(roads.iter().any(|r| r.section.lanes() == 2));
        assert!(NODES.iter().filter(|n| !n.joint).count() >= 8, "junctions");
    }

    #[test]
    fn signs_cover_the_classes_at_realistic_heights() {
        let m = map();
        assert!(m.signs.len() >= 80, "{} signs", m.signs.len());
        let classes: HashSet<u8> = m.signs.iter().filter_map(|s| s.class.gtsrb()).collect();
        assert!(classes.len() >= 20, "{} classes", classes.len());
        for class in [1, 2, 3, 11, 12, 13, 14, 17, 19, 20, 25, 33, 34, 35, 36, 37] {
            assert!(classes.contains(&class), "class {class}");
        }
        let mountings: HashSet<Mounting> = m.signs.iter().map(|s| s.mounting).collect();
        assert_eq!(mountings.len(), 4, "{mountings:?}");
        for sign in &m.signs {
            assert_eq!(
                m.level_at(&sign.position),
                sign.level,
                "{} on its level",
                sign.id
            );
            let above = sign.position.z - ground_below(m, &sign.position, sign.level);
            let range = match sign.mounting {
                Mounting::Pole => 2.0..=3.0,
                Mounting::Overhead => 5.0..=6.0,
                Mounting::Wall => 1.5..=3.0,
                Mounting::Ceiling => 2.0..=5.0,
            };
            assert!(
                range.contains(&above),
                "{} {:?} at {above:.2} m",
                sign.id,
                sign.mounting
            );
            if sign.mounting == Mounting::Ceiling {
                let ceiling = ceiling_at(m, &sign.position).unwrap();
                assert!(
                    sign.position.z + sign.height / 2.0 < ceiling,
                    "{} below the ceiling",
                    sign.id
                );
            }
        }
        let underground: Vec<&Sign> = m.signs.iter().filter(|s| s.level == -1).collect();
        assert!(underground.iter().any(|s| s.mounting == Mounting::Wall));
        assert!(underground.iter().any(|s| s.mounting == Mounting::Ceiling));
    }

    #[test]
    fn no_sign_or_pole_stands_on_a_lane() {
        let m = map();
        let beside: Vec<(&str, Vec3)> = m
            .signs
            .iter()
            .filter(|s| matches!(s.mounting, Mounting::Pole | Mounting::Wall))
            .map(|s| (s.id.as_str(), s.position))
            .chain(m.poles.iter().map(|p| (p.id.as_str(), p.base)))
            .collect();
        for (id, at) in beside {
            for line in &m.lane_lines {
                let d = plan_distance_to_polyline(&plan(&at), &line.line.points);
                assert!(d >= 1.0, "{id} is {d:.2} m from {}", line.line.id);
            }
        }
    }

    #[test]
    fn signs_face_the_traffic_they_are_for() {
        let t = town();
        for sign in &t.map.signs {
            // Vehicles this sign is for drive against its normal; no-entry signs face
            // wrong-way drivers, so along the one-way lane.
            let wanted = if sign.class == SignClass::Gtsrb(17) {
                sign.facing
            } else {
                sign.facing + PI
            };
            let served = t
                .lanes
                .iter()
                .filter(|l| !l.connector && l.level == sign.level)
                .any(|lane| {
                    lane.points.windows(2).any(|w| {
                        let heading = heading_of(&plan(&(w[1] - w[0])));
                        let ahead = plan_distance_to_polyline(&plan(&sign.position), w) < 9.0;
                        ahead && angle_between(heading, wanted).abs() < 0.35
                    })
                });
            assert!(served, "{} ({}) faces no lane", sign.id, sign.class);
        }
    }

    #[test]
    fn every_line_style_and_colour_is_painted() {
        let m = map();
        for style in [LineStyle::Solid, LineStyle::Dashed, LineStyle::Double] {
            assert!(m.lane_lines.iter().any(|l| l.style == style), "{style:?}");
        }
        for color in [LineColor::White, LineColor::Yellow] {
            assert!(m.lane_lines.iter().any(|l| l.color == color), "{color:?}");
        }
        assert!(m.lane_lines.iter().any(|l| l.line.level == -1));
    }

    #[test]
    fn lanes_lie_between_their_lines() {
        let t = town();
        for lane in t.lanes.iter().filter(|l| !l.connector) {
            let middle = lane.points[lane.points.len() / 2];
            let nearest = t
                .map
                .lane_lines
                .iter()
                .filter(|l| l.line.level == lane.level)
                .map(|l| plan_distance_to_polyline(&plan(&middle), &l.line.points))
                .fold(f64::INFINITY, f64::min);
            assert!(
                (1.6..=1.76).contains(&nearest),
                "{}: nearest line {nearest:.2} m",
                lane.id
            );
        }
    }

    #[test]
    fn stop_lines_cross_the_approach_lanes() {
        let t = town();
        assert!(t.map.stop_lines.len() >= 8);
        for stop in &t.map.stop_lines {
            let (a, b) = (plan(&stop.points[0]), plan(&stop.points[1]));
            let width = (b - a).norm();
            assert!((3.2..=7.01).contains(&width), "{}: {width:.2} m", stop.id);
            // A lane ends just past the line, heading across it.
            let crossing = t.lanes.iter().filter(|l| !l.connector).any(|lane| {
                let end = plan(lane.points.last().unwrap());
                let before = plan(&lane.points[lane.points.len() - 2]);
                let along = (end - before).normalize();
                plan_distance_to_polyline(&end, &stop.points) < 0.5
                    && along.dot(&(b - a)).abs() < 0.05 * width
            });
            assert!(crossing, "{} is not across an approach lane", stop.id);
        }
    }

    #[test]
    fn the_ramp_slopes_smoothly_and_gently() {
        let m = map();
        let mut steepest: f64 = 0.0;
        for line in &m.lane_lines {
            let grades: Vec<f64> = line
                .line
                .points
                .windows(2)
                .filter(|w| plan(&(w[1] - w[0])).norm() > 0.5)
                .map(|w| (w[1].z - w[0].z) / plan(&(w[1] - w[0])).norm())
                .collect();
            for g in &grades {
                assert!(g.abs() <= 0.12, "{}: grade {g:.3}", line.line.id);
                steepest = steepest.max(g.abs());
            }
            for w in grades.windows(2) {
                assert!(
                    (w[1] - w[0]).abs() <= 0.02,
                    "{}: grade jumps {:.3} → {:.3}",
                    line.line.id,
                    w[0],
                    w[1]
                );
            }
        }
        assert!(steepest > 0.09, "the ramp descends ({steepest:.3})");
        let floor = m
            .lane_lines
            .iter()
            .filter(|l| l.line.level == -1)
            .flat_map(|l| &l.line.points)
            .map(|p| p.z);
        assert!((floor.fold(f64::INFINITY, f64::min) - CARPARK_FLOOR).abs() < 1e-9);
    }

    #[test]
    fn the_car_park_and_tunnel_are_level_minus_one() {
        let m = map();
        assert!(m.levels().contains(&-1));
        let eye = |x, y, floor| Vec3::new(x, y, floor + 1.5);
        assert_eq!(
            m.level_at(&eye(740.0, 225.0, CARPARK_FLOOR)),
            -1,
            "car park"
        );
        assert_eq!(m.level_at(&eye(620.0, 225.0, CARPARK_FLOOR)), -1, "tunnel");
        assert_eq!(
            m.level_at(&eye(
                PORTAL_X + 1.0,
                225.0,
                ramp_height(PORTAL_X + 1.0 - RAMP_START_X)
            )),
            -1
        );
        assert_eq!(
            m.level_at(&eye(
                PORTAL_X - 5.0,
                225.0,
                ramp_height(PORTAL_X - 5.0 - RAMP_START_X)
            )),
            0
        );
        assert_eq!(m.level_at(&eye(740.0, 225.0, 0.0)), 0, "on the plaza above");
        let pillars = m.poles.iter().filter(|p| p.level == -1).count();
        assert!(pillars >= 20, "{pillars} pillars");
    }

    #[test]
    fn buildings_line_the_streets_taller_downtown() {
        let m = map();
        assert!(m.buildings.len() >= 100, "{} buildings", m.buildings.len());
        assert!(m.buildings.iter().all(|b| (8.0..=40.0).contains(&b.height)));
        let downtown = |b: &Building| {
            b.footprint
                .iter()
                .all(|p| p.x > 150.0 && p.x < 300.0 && p.y > 150.0 && p.y < 300.0)
        };
        assert!(m
            .buildings
            .iter()
            .filter(|b| downtown(b))
            .all(|b| b.height >= 24.0));
        assert!(m.buildings.iter().any(|b| b.height >= 30.0));
        let things: Vec<Vec3> = m
            .signs
            .iter()
            .map(|s| s.position)
            .chain(m.poles.iter().map(|p| p.base))
            .chain(
                m.lane_lines
                    .iter()
                    .flat_map(|l| l.line.points.iter().copied()),
            )
            .chain(m.road_edges.iter().flat_map(|l| l.points.iter().copied()))
            .collect();
        for building in &m.buildings {
            assert!(
                things
                    .iter()
                    .all(|p| !point_in_ring(p, &building.footprint)),
                "{} stands on something",
                building.id
            );
        }
    }

    #[test]
    fn every_lane_leads_on() {
        let t = town();
        for lane in &t.lanes {
            assert!(!lane.successors.is_empty(), "{} is a dead end", lane.id);
            for &next in &lane.successors {
                let gap = (t.lanes[next].points[0] - lane.points.last().unwrap()).norm();
                assert!(
                    gap < 1e-6,
                    "{} → {} jumps {gap:.2} m",
                    lane.id,
                    t.lanes[next].id
                );
            }
        }
        // Everything reaches the car park and the car park reaches everything.
        let carpark = t.lane("carpark-loop/f0").unwrap();
        for lane in (0..t.lanes.len()).filter(|&l| !t.lanes[l].connector) {
            assert!(
                t.shortest_route(lane, carpark).is_some(),
                "{} cannot reach the car park",
                t.lanes[lane].id
            );
            assert!(
                t.shortest_route(carpark, lane).is_some(),
                "the car park cannot reach {}",
                t.lanes[lane].id
            );
        }
    }

    #[test]
    fn neighbouring_lanes_are_one_lane_width_apart() {
        let t = town();
        let pairs: Vec<(&DrivingLane, &DrivingLane)> = t
            .lanes
            .iter()
            .filter_map(|l| l.left.map(|n| (l, &t.lanes[n])))
            .collect();
        assert_eq!(
            pairs.len(),
            6,
            "one pair each way on each of the avenue's three blocks"
        );
        for (lane, left) in pairs {
            assert_eq!(left.right.map(|r| &t.lanes[r].id), Some(&lane.id));
            let middle = lane.points[lane.points.len() / 2];
            let gap = plan_distance_to_polyline(&plan(&middle), &left.points);
            assert!(
                (gap - 3.5).abs() < 0.01,
                "{} ↔ {}: {gap:.2} m",
                lane.id,
                left.id
            );
        }
    }

    #[test]
    fn turns_follow_the_one_way_rules() {
        let t = town();
        let leads_to = |from: &str, to: &str| {
            let from = t.lane(from).unwrap();
            t.lanes[from]
                .successors
                .iter()
                .any(|&c| t.lanes[c].successors.iter().any(|&n| t.lanes[n].id == to))
        };
        assert!(
            leads_to("ramp/b0", "ring-ne/f0"),
            "out of the car park, right turn"
        );
        assert!(
            !leads_to("ramp/b0", "ring-e/b0"),
            "no left turn out of the car park"
        );
        assert!(
            leads_to("avenue-2/f1", "avenue-3/f1"),
            "straight on from the left lane"
        );
        assert!(
            leads_to("avenue-2/f1", "oneway-n/f0"),
            "left turn from the left lane"
        );
        assert!(
            !leads_to("avenue-2/f0", "oneway-n/f0"),
            "no left turn from the right lane"
        );
        assert!(t.lane("oneway-s/b0").is_none(), "one-way");
        assert!(!t.lanes.iter().any(|l| l
            .successors
            .iter()
            .any(|&n| t.lanes[n].id == "oneway-s/f0")
            && l.id.starts_with("avenue")));
    }

    #[test]
    fn the_demo_route_drives_down_into_the_car_park() {
        let t = town();
        let route = t.demo_route();
        let points = t.route_points(&route);
        assert_eq!(t.lanes[route[0]].level, 0);
        let eye_level = |p: &Vec3| t.map.level_at(&(p + Vec3::z() * 1.5));
        let portal = points
            .iter()
            .position(|p| eye_level(p) == -1)
            .expect("the route goes underground");
        let street: f64 = points[..=portal]
            .windows(2)
            .map(|w| (w[1] - w[0]).norm())
            .sum();
        assert!(street >= 300.0, "{street:.0} m on the street");
        assert!(
            points.windows(2).all(|w| (w[1] - w[0]).norm() < 12.0),
            "gap in the route"
        );
        assert!(
            points[portal..].iter().all(|p| eye_level(p) == -1),
            "stays underground"
        );
        let end = points.last().unwrap() + Vec3::z() * 1.5;
        assert_eq!(t.map.level_at(&end), -1);
        let [west, south, east, north] = CARPARK;
        assert!(end.x > west && end.x < east && end.y > south && end.y < north);
    }
}
