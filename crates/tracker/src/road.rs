//! The road surface under the vehicle, from the map's lane lines: a car's reference point
//! is on the road, so the map tells its height and pitch wherever it drives between
//! painted lines — on ramps and between levels too, where GNSS heights are poor or absent.
//! The painted cross-section also tells which half of the carriageway traffic in a given
//! direction keeps to.

use mapfix_core::Vec3;
use mapfix_map::{LineColor, LineStyle, Map};
use rstar::primitives::{GeomWithData, Line};
use rstar::RTree;

/// Lane-line segments farther than this (m, horizontal) do not describe the road here.
const SEARCH_RADIUS: f64 = 8.0;
/// Roads more than this (m) above or below the estimate belong to another level.
const LEVEL_TOLERANCE: f64 = 2.0;
/// Segments shorter than this (m) give no trustworthy slope.
const MIN_SEGMENT: f64 = 0.5;
/// Lines farther than this (m) across the road are not part of the cross-section looked at.
const CROSS_SECTION_REACH: f64 = 15.0;
/// Lines count as running along the road when |cos| of their angle to it exceeds this.
const PARALLEL_COS: f64 = 0.9;
/// Lines closer than this (m) across the road are one line (pieces of one marking).
const SAME_LINE: f64 = 0.3;
/// Widest gap (m) between neighbouring lines of one carriageway, and the narrowest lane.
const MAX_LANE_WIDTH: f64 = 5.5;
const MIN_LANE_WIDTH: f64 = 2.2;

/// A lane-line segment: its 3-D ends, and whether the line divides the traffic directions
/// (yellow or double).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    ends: [Vec3; 2],
    divider: bool,
}

/// The half of the carriageway that traffic in one direction keeps to, across the road
/// from a given position (m, positive to the left of the direction of travel).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TravelHalf {
    /// Its middle.
    pub centre: f64,
    pub width: f64,
}

/// The road at one place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoadPoint {
    /// Height (m, ENU up) of the road.
    pub height: f64,
    /// Rise per metre east and per metre north.
    pub gradient: [f64; 2],
}

/// Lane-line segments in plan, with their 3-D ends.
#[derive(Debug, Clone)]
pub struct RoadSurface {
    segments: RTree<GeomWithData<Line<[f64; 2]>, Segment>>,
}

impl RoadSurface {
    pub fn new(map: &Map) -> Self {
        let segments = map
            .lane_lines
            .iter()
            .flat_map(|lane| {
                let divider = lane.color == LineColor::Yellow || lane.style == LineStyle::Double;
                lane.line.points.windows(2).map(move |w| Segment {
                    ends: [w[0], w[1]],
                    divider,
                })
            })
            .filter(|s| (s.ends[1] - s.ends[0]).xy().norm() >= MIN_SEGMENT)
            .map(|s| {
                let [a, b] = s.ends;
                GeomWithData::new(Line::new([a.x, a.y], [b.x, b.y]), s)
            })
            .collect();
        Self {
            segments: RTree::bulk_load(segments),
        }
    }

    /// The road under `position`: from the nearest lane line in plan whose height is
    /// within a level's tolerance, else the one nearest in height; `None` where no lane
    /// line is near.
    pub fn at(&self, position: &Vec3) -> Option<RoadPoint> {
        let plan = [position.x, position.y];
        self.segments
            .locate_within_distance(plan, SEARCH_RADIUS * SEARCH_RADIUS)
            .map(|entry| {
                let [a, b] = entry.data.ends;
                let run = b - a;
                let along = run.xy();
                let t =
                    ((position.xy() - a.xy()).dot(&along) / along.norm_squared()).clamp(0.0, 1.0);
                let height = a.z + t * run.z;
                let slope = run.z / along.norm_squared();
                let distance = (position.xy() - (a.xy() + along * t)).norm();
                let point = RoadPoint {
                    height,
                    gradient: [slope * along.x, slope * along.y],
                };
                // The nearest line in plan, unless it belongs to another level.
                let off_level = ((height - position.z).abs() - LEVEL_TOLERANCE).max(0.0);
                (distance + 100.0 * off_level, point)
            })
            .min_by(|x, y| x.0.total_cmp(&y.0))
            .map(|(_, point)| point)
    }

    /// The pitch (rad, nose down positive) of a vehicle at `position` heading along `yaw`
    /// whose axles are `wheelbase` apart: the grade between the road under each axle.
    pub fn pitch(&self, position: &Vec3, yaw: f64, wheelbase: f64) -> Option<f64> {
        let half = Vec3::new(yaw.cos(), yaw.sin(), 0.0) * (0.5 * wheelbase);
        let front = self.at(&(position + half))?;
        let rear = self.at(&(position - half))?;
        Some(-(front.height - rear.height).atan2(wheelbase))
    }

    /// The half of the carriageway that traffic at `position` heading along `yaw` keeps to:
    /// between the divider and the outermost line on the traffic side (the right for
    /// right-hand traffic). The divider is the yellow or double line nearest the position,
    /// else the middle of the painted cross-section. `None` off the painted roads, and where
    /// that half holds no lane (a one-lane road has no halves to choose between).
    pub fn travel_half(&self, position: &Vec3, yaw: f64, right_hand: bool) -> Option<TravelHalf> {
        // The level: the road nearest the position (a GNSS height can be metres off).
        let height = self.at(position)?.height;
        let along = nalgebra::Vector2::new(yaw.cos(), yaw.sin());
        let across = nalgebra::Vector2::new(-yaw.sin(), yaw.cos());
        let mut lines: Vec<(f64, bool)> = self
            .segments
            .locate_within_distance(
                [position.x, position.y],
                CROSS_SECTION_REACH * CROSS_SECTION_REACH,
            )
            .filter_map(|entry| {
                let [a, b] = entry.data.ends;
                let run = (b - a).xy();
                let run_along = run.dot(&along);
                if run_along.abs() < PARALLEL_COS * run.norm() {
                    return None;
                }
                // Where the segment crosses the line across the road through the position.
                let t = (position.xy() - a.xy()).dot(&along) / run_along;
                let at = a + (b - a) * t;
                ((0.0..=1.0).contains(&t) && (at.z - height).abs() <= LEVEL_TOLERANCE)
                    .then(|| ((at.xy() - position.xy()).dot(&across), entry.data.divider))
            })
            .collect();
        lines.sort_by(|x, y| x.0.total_cmp(&y.0));
        lines.dedup_by(|next, kept| {
            let same = next.0 - kept.0 < SAME_LINE;
            kept.1 |= same && next.1;
            same
        });
        // The carriageway under the position: lines on both sides, no gap wider than a lane.
        let first_left = lines.iter().position(|line| line.0 > 0.0)?;
        let right_end = (0..first_left)
            .rev()
            .take_while(|&i| i + 1 == first_left || lines[i + 1].0 - lines[i].0 <= MAX_LANE_WIDTH)
            .last()?;
        let left_end = (first_left..lines.len())
            .take_while(|&i| i == first_left || lines[i].0 - lines[i - 1].0 <= MAX_LANE_WIDTH)
            .last()?;
        if lines[first_left].0 - lines[first_left - 1].0 > MAX_LANE_WIDTH {
            return None;
        }
        let carriageway = &lines[right_end..=left_end];
        let divider = carriageway
            .iter()
            .filter(|line| line.1)
            .min_by(|x, y| x.0.abs().total_cmp(&y.0.abs()))
            .map_or_else(
                || 0.5 * (carriageway[0].0 + carriageway[carriageway.len() - 1].0),
                |line| line.0,
            );
        let outer = if right_hand {
            carriageway[0].0
        } else {
            carriageway[carriageway.len() - 1].0
        };
        let width = (divider - outer).abs();
        (width >= MIN_LANE_WIDTH).then_some(TravelHalf {
            centre: 0.5 * (divider + outer),
            width,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapfix_core::{Geodetic, LocalFrame};
    use mapfix_map::model::{LaneLine, LineColor, LineStyle, Polyline};

    fn line(points: Vec<Vec3>) -> LaneLine {
        LaneLine {
            line: Polyline {
                id: "l".into(),
                level: 0,
                points,
            },
            style: LineStyle::Solid,
            color: LineColor::White,
        }
    }

    /// A straight road running east with lines at these norths.
    fn road(lines: &[(f64, LineStyle, LineColor)]) -> RoadSurface {
        let mut map = Map::new(
            "road",
            LocalFrame::new(Geodetic::from_degrees(49.0, 8.4, 100.0)),
        );
        for &(north, style, color) in lines {
            map.lane_lines.push(LaneLine {
                style,
                color,
                ..line(vec![
                    Vec3::new(0.0, north, 0.0),
                    Vec3::new(100.0, north, 0.0),
                ])
            });
        }
        RoadSurface::new(&map)
    }

    #[test]
    fn traffic_keeps_to_its_half_of_the_carriageway() {
        use std::f64::consts::PI;
        use LineColor::{White, Yellow};
        use LineStyle::{Dashed, Double, Solid};
        let two_way = road(&[
            (-3.25, Solid, White),
            (0.0, Dashed, White),
            (3.25, Solid, White),
        ]);
        // Eastbound in the wrong (northern) lane: the right half's middle is 3.25 m right.
        // GNSS heights are metres off: the road under the position sets the level.
        let wrong_lane = Vec3::new(50.0, 1.6, 4.5);
        let half = two_way.travel_half(&wrong_lane, 0.0, true).unwrap();
        assert!((half.centre + 3.225).abs() < 1e-9, "{half:?}");
        assert!((half.width - 3.25).abs() < 1e-9);
        // Westbound there, it is the right lane; with left-hand traffic the other one.
        let west = two_way.travel_half(&wrong_lane, PI, true).unwrap();
        assert!((west.centre + 0.025).abs() < 1e-9, "{west:?}");
        let left_hand = two_way.travel_half(&wrong_lane, 0.0, false).unwrap();
        assert!((left_hand.centre - 0.025).abs() < 1e-9, "{left_hand:?}");
        // A painted divider wins over the middle: two lanes east, one west.
        let divided = road(&[
            (-6.5, Solid, White),
            (-3.25, Dashed, White),
            (0.0, Double, White),
            (3.25, Solid, White),
        ]);
        let east = divided
            .travel_half(&Vec3::new(50.0, -1.6, 0.0), 0.0, true)
            .unwrap();
        assert!((east.centre + 1.65).abs() < 1e-9 && (east.width - 6.5).abs() < 1e-9);
        let yellow = road(&[
            (-6.5, Solid, White),
            (-3.25, Dashed, Yellow),
            (0.0, Dashed, White),
            (3.25, Solid, White),
        ]);
        let split = yellow
            .travel_half(&Vec3::new(50.0, 1.0, 0.0), 0.0, true)
            .unwrap();
        assert!((split.centre + 5.875).abs() < 1e-9, "{split:?}");
        // One lane, or no road: nothing to choose.
        let one_lane = road(&[(-1.75, Solid, Yellow), (1.75, Solid, Yellow)]);
        assert!(one_lane
            .travel_half(&Vec3::new(50.0, 0.0, 0.0), 0.0, true)
            .is_none());
        assert!(two_way
            .travel_half(&Vec3::new(50.0, 30.0, 0.0), 0.0, true)
            .is_none());
        // Lines across the road (a crossing street) are not part of it.
        assert!(two_way.travel_half(&wrong_lane, PI / 2.0, true).is_none());
    }

    #[test]
    fn a_ramp_gives_height_and_pitch_and_the_nearer_level_wins() {
        let mut map = Map::new(
            "ramp",
            LocalFrame::new(Geodetic::from_degrees(49.0, 8.4, 100.0)),
        );
        // A ramp going east, down 1 m per 10 m, beside a flat street 6 m above.
        map.lane_lines.push(line(vec![
            Vec3::new(0.0, 1.75, 0.0),
            Vec3::new(60.0, 1.75, -6.0),
        ]));
        map.lane_lines.push(line(vec![
            Vec3::new(0.0, -1.75, 6.0),
            Vec3::new(60.0, -1.75, 6.0),
        ]));
        let surface = RoadSurface::new(&map);
        let on_ramp = Vec3::new(20.0, 0.0, -1.0);
        let low = surface.at(&on_ramp).unwrap();
        assert!((low.height + 2.0).abs() < 1e-9);
        assert!((low.gradient[0] + 0.1).abs() < 1e-9 && low.gradient[1].abs() < 1e-12);
        let east = surface.pitch(&on_ramp, 0.0, 2.8).unwrap();
        assert!(
            (east - 0.1f64.atan()).abs() < 1e-9,
            "downhill is nose down: {east}"
        );
        let west = surface.pitch(&on_ramp, std::f64::consts::PI, 2.8).unwrap();
        assert!((west + 0.1f64.atan()).abs() < 1e-9);
        let high = surface.at(&Vec3::new(20.0, 0.0, 5.0)).unwrap();
        assert!((high.height - 6.0).abs() < 1e-9);
        assert!(surface.at(&Vec3::new(20.0, 30.0, 0.0)).is_none());
    }
}
