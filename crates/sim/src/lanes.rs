//! Driving lanes derived from any map's painted lane lines and road edges.
//!
//! Maps describe what is painted, not where cars drive, so the lanes are found the way a
//! driver finds them: between two roughly parallel boundaries 2.2–5.5 m apart, each lane's
//! centre runs midway. Its direction follows right-hand traffic: the carriageway's divider
//! (a yellow or double line, else the middle of the contiguous cross-section) lies on the
//! driver's left. Where the paint is alike on both sides of a lane (a one-way aisle between
//! two yellow lines, a one-lane road between edges), the signs along it decide: they face
//! the traffic that reads them. Lanes that end at a junction are linked to lanes that start
//! across it by a smooth Bézier connector; lanes that continue through a gap in the paint
//! are linked directly.

use mapfix_core::Vec3;
use mapfix_map::{LineColor, LineStyle, Map, Sign};
use std::collections::{BTreeMap, HashMap};

/// Spacing (m) at which boundaries are sampled for lane centres.
const SAMPLE_STEP: f64 = 1.0;
const MIN_LANE_WIDTH: f64 = 2.2;
const MAX_LANE_WIDTH: f64 = 5.5;
const MIN_LANE_LENGTH: f64 = 8.0;
/// A boundary hit counts as parallel to the casting line when |cos| of the angle exceeds this.
const PARALLEL_COS: f64 = 0.85;
/// Largest vertical distance (m) between features that belong to the same road surface.
const SAME_SURFACE_DZ: f64 = 2.0;
/// Farthest a lane's end may be from the start of the lane it leads to across a junction.
const MAX_JUNCTION_GAP: f64 = 40.0;
/// Ends closer than this continue straight on without a connector.
const DIRECT_GAP: f64 = 2.0;
/// Spacing (m) of the points of junction connectors.
const CONNECTOR_STEP: f64 = 0.5;
/// The divider counts as beside a lane, not under it, beyond this offset (m); dividers on
/// the two sides closer than this to equally far leave the side to the signs.
const DIVIDER_MARGIN: f64 = 0.3;
/// Farthest (m, in plan) a sign may stand from a lane's centre to tell its direction: over
/// the lane or at its kerb.
const SIGN_REACH: f64 = 4.0;
/// GTSRB class of "no entry", which faces the drivers it turns away.
const NO_ENTRY: u8 = 17;

/// One driving lane: its centre line in the direction of travel.
#[derive(Debug, Clone)]
pub struct Lane {
    /// Built from the ids of the two boundaries, e.g. `"l12|l13#0"`.
    pub id: String,
    pub level: i32,
    pub centre: Polyline3,
    /// Mean distance (m) between its boundaries.
    pub width: f64,
}

/// A way from the end of one lane onto the start of another.
#[derive(Debug, Clone)]
pub struct Link {
    pub to: usize,
    /// The connector's points from the end of the lane to the start of `to` (both
    /// included); empty where the lanes meet.
    pub connector: Vec<Vec3>,
}

/// The lanes of a map and how they connect.
#[derive(Debug, Clone, Default)]
pub struct LaneNetwork {
    pub lanes: Vec<Lane>,
    /// `links[i]`: where a vehicle at the end of lane `i` may go on.
    pub links: Vec<Vec<Link>>,
}

/// A polyline with its cumulative arc length, for lookups by distance along it.
#[derive(Debug, Clone, Default)]
pub struct Polyline3 {
    points: Vec<Vec3>,
    arc: Vec<f64>,
}

impl Polyline3 {
    pub fn new(points: Vec<Vec3>) -> Self {
        let mut arc = Vec::with_capacity(points.len());
        let mut total = 0.0;
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                total += (p - points[i - 1]).norm();
            }
            arc.push(total);
        }
        Self { points, arc }
    }

    pub fn points(&self) -> &[Vec3] {
        &self.points
    }

    pub fn length(&self) -> f64 {
        self.arc.last().copied().unwrap_or(0.0)
    }

    /// Index of the segment holding arc length `s` (clamped to the line).
    fn segment_at(&self, s: f64) -> usize {
        let i = self.arc.partition_point(|&a| a <= s);
        i.clamp(1, self.points.len().max(2) - 1) - 1
    }

    /// The point at arc length `s`, clamped to the ends.
    pub fn point_at(&self, s: f64) -> Vec3 {
        if self.points.len() < 2 {
            return self.points.first().copied().unwrap_or_else(Vec3::zeros);
        }
        let i = self.segment_at(s);
        let span = self.arc[i + 1] - self.arc[i];
        let t = if span > 0.0 {
            ((s - self.arc[i]) / span).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.points[i].lerp(&self.points[i + 1], t)
    }

    /// Unit horizontal direction of travel at arc length `s`.
    pub fn direction_at(&self, s: f64) -> Vec3 {
        let i = self.segment_at(s);
        horizontal_unit(&(self.points[(i + 1).min(self.points.len() - 1)] - self.points[i]))
    }

    /// Arc length of the point nearest to `p` in plan, and its horizontal distance.
    pub fn project(&self, p: &Vec3) -> (f64, f64) {
        let mut best = (0.0, f64::INFINITY);
        for (i, w) in self.points.windows(2).enumerate() {
            let (t, d) = project_on_segment(p, &w[0], &w[1]);
            if d < best.1 {
                best = (self.arc[i] + t * (self.arc[i + 1] - self.arc[i]), d);
            }
        }
        best
    }

    /// Points from arc length `from` to `to` (from < to), ends interpolated.
    pub fn slice(&self, from: f64, to: f64) -> Vec<Vec3> {
        let mut out = vec![self.point_at(from)];
        out.extend(
            self.points
                .iter()
                .zip(&self.arc)
                .filter(|(_, &a)| a > from && a < to)
                .map(|(p, _)| *p),
        );
        out.push(self.point_at(to));
        out
    }
}

/// A boundary a lane can lie against: a lane line or a road edge.
struct Boundary<'a> {
    id: &'a str,
    level: i32,
    points: &'a [Vec3],
    is_lane_line: bool,
    /// A yellow or double line separates the two directions of travel.
    is_divider: bool,
}

/// Where a ray met a boundary.
#[derive(Clone, Copy)]
struct Hit {
    boundary: usize,
    distance: f64,
    point: Vec3,
    tangent: Vec3,
}

/// Boundary segments bucketed on a square grid in plan, for ray casts.
struct SegmentGrid {
    cell: f64,
    cells: HashMap<(i64, i64), Vec<(usize, usize)>>,
}

impl SegmentGrid {
    fn new(boundaries: &[Boundary], cell: f64) -> Self {
        let mut cells: HashMap<(i64, i64), Vec<(usize, usize)>> = HashMap::new();
        for (b, boundary) in boundaries.iter().enumerate() {
            for (s, w) in boundary.points.windows(2).enumerate() {
                let (lo, hi) = (w[0].inf(&w[1]), w[0].sup(&w[1]));
                for cx in (lo.x / cell).floor() as i64..=(hi.x / cell).floor() as i64 {
                    for cy in (lo.y / cell).floor() as i64..=(hi.y / cell).floor() as i64 {
                        cells.entry((cx, cy)).or_default().push((b, s));
                    }
                }
            }
        }
        Self { cell, cells }
    }

    /// Every crossing of the ray `origin + t·direction`, 0 < t ≤ length, with a boundary
    /// other than `exclude` on the same surface, nearest first.
    fn cast(
        &self,
        boundaries: &[Boundary],
        origin: &Vec3,
        direction: &Vec3,
        length: f64,
        exclude: Option<usize>,
    ) -> Vec<Hit> {
        let end = origin + direction * length;
        let (lo, hi) = (origin.inf(&end), origin.sup(&end));
        let mut hits: Vec<Hit> = Vec::new();
        for cx in (lo.x / self.cell).floor() as i64..=(hi.x / self.cell).floor() as i64 {
            for cy in (lo.y / self.cell).floor() as i64..=(hi.y / self.cell).floor() as i64 {
                for &(b, s) in self.cells.get(&(cx, cy)).into_iter().flatten() {
                    if Some(b) == exclude {
                        continue;
                    }
                    let (a, c) = (boundaries[b].points[s], boundaries[b].points[s + 1]);
                    let Some((t, u)) = ray_segment(origin, direction, &a, &c) else {
                        continue;
                    };
                    let point = a.lerp(&c, u);
                    if t > 1e-6
                        && t <= length
                        && (point.z - origin.z).abs() < SAME_SURFACE_DZ
                        && !hits
                            .iter()
                            .any(|h| h.boundary == b && (h.distance - t).abs() < 1e-6)
                    {
                        hits.push(Hit {
                            boundary: b,
                            distance: t,
                            point,
                            tangent: horizontal_unit(&(c - a)),
                        });
                    }
                }
            }
        }
        hits.sort_by(|a, b| a.distance.total_cmp(&b.distance));
        hits
    }
}

/// A lane-centre sample found from a boundary: arc position on it, centre, width.
struct CentreSample {
    s: f64,
    centre: Vec3,
    width: f64,
}

impl LaneNetwork {
    /// Derives the lanes of `map` from its lane lines and road edges, and links them.
    pub fn from_map(map: &Map) -> Self {
        let boundaries: Vec<Boundary> = map
            .lane_lines
            .iter()
            .map(|l| Boundary {
                id: &l.line.id,
                level: l.line.level,
                points: &l.line.points,
                is_lane_line: true,
                is_divider: l.color == LineColor::Yellow || l.style == LineStyle::Double,
            })
            .chain(map.road_edges.iter().map(|e| Boundary {
                id: &e.id,
                level: e.level,
                points: &e.points,
                is_lane_line: false,
                is_divider: false,
            }))
            .filter(|b| b.points.len() >= 2)
            .collect();
        let grid = SegmentGrid::new(&boundaries, 10.0);
        let mut lanes = Vec::new();
        for (key, samples) in centre_samples(&boundaries, &grid) {
            for (run, samples) in split_runs(samples).into_iter().enumerate() {
                let centre = Polyline3::new(samples.iter().map(|c| c.centre).collect());
                if centre.length() < MIN_LANE_LENGTH {
                    continue;
                }
                let width = samples.iter().map(|c| c.width).sum::<f64>() / samples.len() as f64;
                let (a, b, _) = key;
                let mut lane = Lane {
                    id: format!("{}|{}#{run}", boundaries[a].id, boundaries[b].id),
                    level: boundaries[a].level,
                    centre,
                    width,
                };
                let divider = divider_side(&lane, &boundaries, &grid);
                let reverse = if divider.distinct {
                    divider.right
                } else {
                    signs_oppose(&lane, &map.signs).unwrap_or(divider.right)
                };
                if reverse {
                    let mut points = lane.centre.points().to_vec();
                    points.reverse();
                    lane.centre = Polyline3::new(points);
                }
                lanes.push(lane);
            }
        }
        let links = link_lanes(&lanes);
        Self { lanes, links }
    }

    /// The lane nearest to `p` in plan (on `level`, if given): its index, the arc length of
    /// the nearest point and the distance.
    pub fn nearest(&self, p: &Vec3, level: Option<i32>) -> Option<(usize, f64, f64)> {
        self.lanes
            .iter()
            .enumerate()
            .filter(|(_, lane)| level.is_none_or(|l| l == lane.level))
            .map(|(i, lane)| {
                let (s, d) = lane.centre.project(p);
                (i, s, d)
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
    }

    /// The lane beside lane `lane` at arc length `s`, on the left (`left`) or right, that
    /// runs the same way: its index and the arc length abreast of `s`.
    pub fn neighbour(&self, lane: usize, s: f64, left: bool) -> Option<(usize, f64)> {
        let here = &self.lanes[lane];
        let direction = here.centre.direction_at(s);
        let side = if left {
            left_normal(&direction)
        } else {
            -left_normal(&direction)
        };
        let target = here.centre.point_at(s) + side * here.width;
        self.lanes
            .iter()
            .enumerate()
            .filter(|&(j, other)| j != lane && other.level == here.level)
            .filter_map(|(j, other)| {
                let (sj, d) = other.centre.project(&target);
                let aligned = other.centre.direction_at(sj).dot(&direction) > 0.9;
                (aligned && d < 0.35 * here.width).then_some((j, sj, d))
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(j, sj, _)| (j, sj))
    }
}

/// Casts rays to both sides of every lane line; a ray that meets a parallel boundary at a
/// lane's width gives a centre sample, keyed by (casting line, boundary met, side). A pair
/// of lane lines is sampled from the lower-numbered one only, so each lane is found once.
fn centre_samples(
    boundaries: &[Boundary],
    grid: &SegmentGrid,
) -> BTreeMap<(usize, usize, i8), Vec<CentreSample>> {
    let mut found: BTreeMap<(usize, usize, i8), Vec<CentreSample>> = BTreeMap::new();
    for (a, boundary) in boundaries
        .iter()
        .enumerate()
        .filter(|(_, b)| b.is_lane_line)
    {
        let line = Polyline3::new(boundary.points.to_vec());
        let count = (line.length() / SAMPLE_STEP).floor() as usize;
        for k in 0..=count {
            let s = k as f64 * SAMPLE_STEP;
            let (p, tangent) = (line.point_at(s), line.direction_at(s));
            for side in [1i8, -1] {
                let normal = left_normal(&tangent) * f64::from(side);
                let Some(hit) = grid
                    .cast(boundaries, &p, &normal, MAX_LANE_WIDTH, Some(a))
                    .into_iter()
                    .next()
                else {
                    continue;
                };
                let other = &boundaries[hit.boundary];
                let parallel = hit.tangent.dot(&tangent).abs() > PARALLEL_COS;
                if hit.distance < MIN_LANE_WIDTH
                    || !parallel
                    || other.level != boundary.level
                    || (other.is_lane_line && hit.boundary < a)
                {
                    continue;
                }
                found
                    .entry((a, hit.boundary, side))
                    .or_default()
                    .push(CentreSample {
                        s,
                        centre: (p + hit.point) / 2.0,
                        width: hit.distance,
                    });
            }
        }
    }
    found
}

/// Splits samples where consecutive ones are more than a step and a half apart.
fn split_runs(samples: Vec<CentreSample>) -> Vec<Vec<CentreSample>> {
    let mut runs: Vec<Vec<CentreSample>> = Vec::new();
    for sample in samples {
        match runs.last_mut() {
            Some(run)
                if sample.s - run.last().map_or(f64::NEG_INFINITY, |c| c.s)
                    <= 1.5 * SAMPLE_STEP =>
            {
                run.push(sample)
            }
            _ => runs.push(vec![sample]),
        }
    }
    runs
}

/// Where a lane's paint puts the carriageway's divider.
struct DividerSide {
    /// Right of the lane as sampled, so that right-hand traffic drives it the other way.
    right: bool,
    /// The paint settles the side: one divider is the nearest, or the cross-section's
    /// middle lies clearly to one side. Where the lane lies midway between like boundaries
    /// `right` is only a tie broken by rounding.
    distinct: bool,
}

/// Which side of the lane as sampled the carriageway's divider lies on. The cross-section
/// at the lane's middle is walked outwards to each side until a road edge or a gap wider
/// than a lane.
fn divider_side(lane: &Lane, boundaries: &[Boundary], grid: &SegmentGrid) -> DividerSide {
    let s = lane.centre.length() / 2.0;
    let (centre, tangent) = (lane.centre.point_at(s), lane.centre.direction_at(s));
    let mut offsets: Vec<(f64, bool)> = Vec::new();
    for side in [1.0, -1.0] {
        let normal = left_normal(&tangent) * side;
        let mut reach = 0.0;
        for hit in grid.cast(boundaries, &centre, &normal, 30.0, None) {
            if hit.tangent.dot(&tangent).abs() < PARALLEL_COS {
                continue;
            }
            if hit.distance - reach > MAX_LANE_WIDTH + 0.5 {
                break;
            }
            reach = hit.distance;
            let boundary = &boundaries[hit.boundary];
            offsets.push((side * hit.distance, boundary.is_divider));
            if !boundary.is_lane_line {
                break;
            }
        }
    }
    let nearest_divider = |side: f64| {
        offsets
            .iter()
            .filter(|&&(o, is_divider)| is_divider && o * side > 0.0)
            .map(|(o, _)| *o)
            .min_by(|a, b| a.abs().total_cmp(&b.abs()))
    };
    let (left, right) = (nearest_divider(1.0), nearest_divider(-1.0));
    let tied = matches!((left, right), (Some(l), Some(r)) if (l + r).abs() < DIVIDER_MARGIN);
    let divider = [left, right]
        .into_iter()
        .flatten()
        .min_by(|a, b| a.abs().total_cmp(&b.abs()))
        .or_else(|| {
            let (lo, hi) = offsets
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (o, _)| {
                    (lo.min(*o), hi.max(*o))
                });
            lo.is_finite().then_some((lo + hi) / 2.0)
        });
    DividerSide {
        right: divider.is_some_and(|d| d < -DIVIDER_MARGIN),
        distinct: !tied && divider.is_some_and(|d| d.abs() > DIVIDER_MARGIN),
    }
}

/// Whether the signs along `lane` (on its level, within [`SIGN_REACH`] in plan, facing
/// along it) say it runs against its direction as sampled, by a majority: a sign faces the
/// traffic that reads it, so the lane runs opposite to its facing, except a "no entry",
/// which faces the drivers it turns away. `None` where they do not decide.
fn signs_oppose(lane: &Lane, signs: &[Sign]) -> Option<bool> {
    let votes: i32 = signs
        .iter()
        .filter(|sign| sign.level == lane.level)
        .filter_map(|sign| {
            let (s, distance) = lane.centre.project(&sign.position);
            let along = sign.normal().dot(&lane.centre.direction_at(s));
            if distance > SIGN_REACH || along.abs() < PARALLEL_COS {
                return None;
            }
            let faces_its_traffic = sign.class.gtsrb() != Some(NO_ENTRY);
            // −1: read by traffic running the lane as sampled.
            Some(if (along < 0.0) == faces_its_traffic {
                -1
            } else {
                1
            })
        })
        .sum();
    (votes != 0).then_some(votes > 0)
}

/// Links every lane's end to the lanes a vehicle can take from there, its own start among
/// them where the lane is a loop (a one-way aisle round a car park, broken only where a
/// road joins it).
fn link_lanes(lanes: &[Lane]) -> Vec<Vec<Link>> {
    lanes
        .iter()
        .map(|lane| {
            let length = lane.centre.length();
            let (end, end_dir) = (
                lane.centre.point_at(length),
                lane.centre.direction_at(length),
            );
            lanes
                .iter()
                .enumerate()
                .filter_map(|(j, next)| {
                    let (start, start_dir) =
                        (next.centre.point_at(0.0), next.centre.direction_at(0.0));
                    link(&end, &end_dir, &start, &start_dir)
                        .map(|connector| Link { to: j, connector })
                })
                .collect()
        })
        .collect()
}

/// The connector from a lane's end to another lane's start, if a vehicle would drive it:
/// straight on (across a gap or a junction) or a turn of up to 110° towards the side the
/// next lane lies on.
fn link(end: &Vec3, end_dir: &Vec3, start: &Vec3, start_dir: &Vec3) -> Option<Vec<Vec3>> {
    let gap = start - end;
    let distance = gap.xy().norm();
    if distance > MAX_JUNCTION_GAP || gap.z.abs() > SAME_SURFACE_DZ {
        return None;
    }
    let turn = end_dir
        .xy()
        .perp(&start_dir.xy())
        .atan2(end_dir.dot(start_dir));
    let lateral = end_dir.xy().perp(&gap.xy());
    if distance < DIRECT_GAP {
        return (turn.abs() < 30f64.to_radians() && lateral.abs() < 0.7).then(Vec::new);
    }
    let ahead = end_dir.dot(&gap) > 1.0 && start_dir.dot(&gap) > 0.0;
    let straight = turn.abs() < 25f64.to_radians() && lateral.abs() < 1.5;
    let turning =
        (25f64.to_radians()..110f64.to_radians()).contains(&turn.abs()) && lateral * turn > 0.0;
    (ahead && (straight || turning)).then(|| bezier(end, end_dir, start, start_dir, distance))
}

/// A cubic Bézier from `a` leaving along `a_dir` to `b` arriving along `b_dir`.
fn bezier(a: &Vec3, a_dir: &Vec3, b: &Vec3, b_dir: &Vec3, distance: f64) -> Vec<Vec3> {
    let handle = 0.4 * distance;
    let (p1, p2) = (a + a_dir * handle, b - b_dir * handle);
    let steps = ((distance / CONNECTOR_STEP).ceil() as usize).max(2);
    (0..=steps)
        .map(|k| {
            let t = k as f64 / steps as f64;
            let u = 1.0 - t;
            a * (u * u * u) + p1 * (3.0 * u * u * t) + p2 * (3.0 * u * t * t) + b * (t * t * t)
        })
        .collect()
}

/// Ray `o + t·d` against segment `a + u·(b − a)` in plan: (t, u) where they cross.
pub(crate) fn ray_segment(o: &Vec3, d: &Vec3, a: &Vec3, b: &Vec3) -> Option<(f64, f64)> {
    let e = (b - a).xy();
    let denom = d.xy().perp(&e);
    if denom.abs() < 1e-12 {
        return None;
    }
    let w = (a - o).xy();
    let t = w.perp(&e) / denom;
    let u = w.perp(&d.xy()) / denom;
    (0.0..=1.0).contains(&u).then_some((t, u))
}

/// Fraction along segment a→b of the point nearest to p in plan, and the distance to it.
pub(crate) fn project_on_segment(p: &Vec3, a: &Vec3, b: &Vec3) -> (f64, f64) {
    let e = (b - a).xy();
    let len2 = e.norm_squared();
    let t = if len2 > 0.0 {
        ((p - a).xy().dot(&e) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (t, ((a + (b - a) * t) - p).xy().norm())
}

/// The unit vector along `v` in plan (z dropped).
pub(crate) fn horizontal_unit(v: &Vec3) -> Vec3 {
    Vec3::new(v.x, v.y, 0.0)
        .try_normalize(1e-12)
        .unwrap_or_else(Vec3::x)
}

/// The horizontal unit vector 90° to the left of horizontal direction `d`.
pub(crate) fn left_normal(d: &Vec3) -> Vec3 {
    Vec3::new(-d.y, d.x, 0.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mapfix_core::{Geodetic, LocalFrame};
    use mapfix_map::{LaneLine, Mounting, Polyline, SignClass};

    fn line(id: &str, points: &[(f64, f64)], style: LineStyle, color: LineColor) -> LaneLine {
        LaneLine {
            line: Polyline {
                id: id.into(),
                level: 0,
                points: points.iter().map(|&(x, y)| Vec3::new(x, y, 0.0)).collect(),
            },
            style,
            color,
        }
    }

    /// Two crossing two-way streets (east–west along y = 0, north–south along x = 0), each
    /// with a dashed centre line and solid edge lines, the paint stopping 12 m from the
    /// middle of the junction. Lanes are 3.5 m wide.
    pub(crate) fn crossroads() -> Map {
        let mut map = Map::new(
            "crossroads",
            LocalFrame::new(Geodetic::from_degrees(49.0, 8.4, 110.0)),
        );
        let (w, gap, far) = (3.5, 12.0, 200.0);
        for (name, sign) in [("west", -1.0), ("east", 1.0)] {
            let (a, b) = (sign * gap, sign * far);
            map.lane_lines.push(line(
                &format!("{name}-c"),
                &[(a, 0.0), (b, 0.0)],
                LineStyle::Dashed,
                LineColor::White,
            ));
            map.lane_lines.push(line(
                &format!("{name}-n"),
                &[(a, w), (b, w)],
                LineStyle::Solid,
                LineColor::White,
            ));
            map.lane_lines.push(line(
                &format!("{name}-s"),
                &[(a, -w), (b, -w)],
                LineStyle::Solid,
                LineColor::White,
            ));
        }
        for (name, sign) in [("south", -1.0), ("north", 1.0)] {
            let (a, b) = (sign * gap, sign * far);
            map.lane_lines.push(line(
                &format!("{name}-c"),
                &[(0.0, a), (0.0, b)],
                LineStyle::Dashed,
                LineColor::White,
            ));
            map.lane_lines.push(line(
                &format!("{name}-e"),
                &[(w, a), (w, b)],
                LineStyle::Solid,
                LineColor::White,
            ));
            map.lane_lines.push(line(
                &format!("{name}-w"),
                &[(-w, a), (-w, b)],
                LineStyle::Solid,
                LineColor::White,
            ));
        }
        map
    }

    #[test]
    fn crossroads_has_eight_lanes_driving_on_the_right() {
        let network = LaneNetwork::from_map(&crossroads());
        assert_eq!(
            network.lanes.len(),
            8,
            "{:?}",
            network.lanes.iter().map(|l| &l.id).collect::<Vec<_>>()
        );
        for lane in &network.lanes {
            assert!((lane.width - 3.5).abs() < 1e-9);
            let mid = lane.centre.point_at(lane.centre.length() / 2.0);
            let dir = lane.centre.direction_at(lane.centre.length() / 2.0);
            // Right-hand traffic: the road's centre line (through the origin) is on the left.
            let to_axis = if mid.x.abs() > mid.y.abs() {
                Vec3::new(0.0, -mid.y, 0.0)
            } else {
                Vec3::new(-mid.x, 0.0, 0.0)
            };
            assert!(
                left_normal(&dir).dot(&to_axis) > 0.0,
                "lane {} drives on the left",
                lane.id
            );
        }
    }

    /// A sign of GTSRB `class` 2.5 m above (x, y) on `level`, facing `facing_deg` (compass).
    fn sign(class: u8, (x, y): (f64, f64), level: i32, facing_deg: f64) -> Sign {
        Sign {
            id: format!("sign-{class}-{x}-{y}"),
            level,
            class: SignClass::Gtsrb(class),
            position: Vec3::new(x, y, 2.5),
            width: 0.6,
            height: 0.6,
            facing: facing_deg.to_radians(),
            mounting: Mounting::Ceiling,
        }
    }

    /// The direction (east component) of the one lane of a 100 m road along y = 0 between
    /// two yellow lines, whose paint does not say which way it runs, under `signs`.
    fn aisle_direction(signs: Vec<Sign>) -> f64 {
        let mut map = Map::new(
            "aisle",
            LocalFrame::new(Geodetic::from_degrees(49.0, 8.4, 110.0)),
        );
        for (id, y) in [("north", 1.75), ("south", -1.75)] {
            let points = [(0.0, y), (100.0, y)];
            map.lane_lines
                .push(line(id, &points, LineStyle::Solid, LineColor::Yellow));
        }
        map.signs = signs;
        let network = LaneNetwork::from_map(&map);
        assert_eq!(network.lanes.len(), 1);
        network.lanes[0].centre.direction_at(50.0).x
    }

    #[test]
    fn signs_over_a_lane_the_paint_leaves_open_set_its_direction() {
        // Signs face the traffic that reads them: facing west, they are read driving east.
        let east = aisle_direction(vec![sign(34, (30.0, 0.0), 0, 270.0)]);
        assert!(east > 0.99, "{east}");
        let west = aisle_direction(vec![
            sign(34, (30.0, 0.0), 0, 90.0),
            sign(2, (70.0, 3.0), 0, 95.0),
        ]);
        assert!(west < -0.99, "{west}");
        // "No entry" faces the drivers it turns away: facing east, the lane runs east.
        let no_entry = aisle_direction(vec![sign(17, (98.0, 0.0), 0, 90.0)]);
        assert!(no_entry > 0.99, "{no_entry}");
        // The majority decides.
        let outvoted = aisle_direction(vec![
            sign(34, (20.0, 0.0), 0, 90.0),
            sign(34, (50.0, 0.0), 0, 270.0),
            sign(34, (80.0, 0.0), 0, 270.0),
        ]);
        assert!(outvoted > 0.99, "{outvoted}");
    }

    #[test]
    fn signs_across_away_from_or_below_a_lane_leave_it_as_it_was() {
        let unsigned = aisle_direction(Vec::new());
        for ignored in [
            sign(34, (30.0, 0.0), 0, 0.0),
            sign(34, (30.0, 8.0), 0, 270.0),
            sign(34, (30.0, 8.0), 0, 90.0),
            sign(34, (30.0, 0.0), -1, 270.0),
            sign(34, (30.0, 0.0), -1, 90.0),
        ] {
            let direction = aisle_direction(vec![ignored.clone()]);
            assert_eq!(direction, unsigned, "{ignored:?}");
        }
    }

    #[test]
    fn painted_directions_ignore_the_signs() {
        let plain = LaneNetwork::from_map(&crossroads());
        let mut signed = crossroads();
        // Beside both lanes of the east arm, signs read by wrong-way drivers.
        for x in [50.0, 100.0, 150.0] {
            signed.signs.push(sign(34, (x, -2.5), 0, 90.0));
            signed.signs.push(sign(34, (x, 2.5), 0, 270.0));
        }
        let signed = LaneNetwork::from_map(&signed);
        for (a, b) in plain.lanes.iter().zip(&signed.lanes) {
            assert_eq!(a.centre.points(), b.centre.points(), "{}", a.id);
        }
    }

    #[test]
    fn junction_links_go_straight_and_turn_but_never_back() {
        let network = LaneNetwork::from_map(&crossroads());
        // The eastbound lane west of the junction: y = −1.75, ending at x = −12.
        let (lane, _, d) = network
            .nearest(&Vec3::new(-50.0, -1.75, 0.0), Some(0))
            .unwrap();
        assert!(d < 1e-9);
        let targets: Vec<Vec3> = network.links[lane]
            .iter()
            .map(|l| network.lanes[l.to].centre.direction_at(0.0))
            .collect();
        assert_eq!(targets.len(), 3, "straight, left and right");
        assert!(targets.iter().any(|d| d.x > 0.99), "straight on east");
        assert!(targets.iter().any(|d| d.y > 0.99), "left turn north");
        assert!(targets.iter().any(|d| d.y < -0.99), "right turn south");
        for link in &network.links[lane] {
            let first = link.connector.first().unwrap();
            let last = link.connector.last().unwrap();
            assert!((first - network.lanes[lane].centre.point_at(1e9)).norm() < 1e-9);
            assert!((last - network.lanes[link.to].centre.point_at(0.0)).norm() < 1e-9);
        }
    }

    #[test]
    fn neighbour_lanes_run_the_same_way() {
        let mut map = crossroads();
        // A second eastbound lane south of the first: the east arm's middle moves to
        // y = −1.75, so both lanes south of the dashed line drive east.
        map.lane_lines.push(line(
            "east-s2",
            &[(12.0, -7.0), (200.0, -7.0)],
            LineStyle::Solid,
            LineColor::White,
        ));
        let network = LaneNetwork::from_map(&map);
        let (lane, s, _) = network
            .nearest(&Vec3::new(100.0, -1.75, 0.0), Some(0))
            .unwrap();
        let right = network.neighbour(lane, s, false);
        let left = network.neighbour(lane, s, true);
        assert!(left.is_none(), "the westbound lane is not a neighbour");
        let (j, sj) = right.expect("the lane south of it");
        assert!(
            (network.lanes[j].centre.point_at(sj) - Vec3::new(100.0, -5.25, 0.0)).norm() < 1e-6
        );
    }
}
