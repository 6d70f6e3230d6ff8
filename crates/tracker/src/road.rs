//! The road surface under the vehicle, from the map's lane lines: a car's reference point
//! is on the road, so the map tells its height and pitch wherever it drives between
//! painted lines — on ramps and between levels too, where GNSS heights are poor or absent.

use mapfix_core::Vec3;
use mapfix_map::Map;
use rstar::primitives::{GeomWithData, Line};
use rstar::RTree;

/// Lane-line segments farther than this (m, horizontal) do not describe the road here.
const SEARCH_RADIUS: f64 = 8.0;
/// Roads more than this (m) above or below the estimate belong to another level.
const LEVEL_TOLERANCE: f64 = 2.0;
/// Segments shorter than this (m) give no trustworthy slope.
const MIN_SEGMENT: f64 = 0.5;

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
    segments: RTree<GeomWithData<Line<[f64; 2]>, [Vec3; 2]>>,
}

impl RoadSurface {
    pub fn new(map: &Map) -> Self {
        let segments = map
            .lane_lines
            .iter()
            .flat_map(|lane| lane.line.points.windows(2))
            .filter(|w| (w[1] - w[0]).xy().norm() >= MIN_SEGMENT)
            .map(|w| GeomWithData::new(Line::new([w[0].x, w[0].y], [w[1].x, w[1].y]), [w[0], w[1]]))
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
                let [a, b] = entry.data;
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
