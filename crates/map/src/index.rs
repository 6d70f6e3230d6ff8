//! A spatial index over a map's landmarks, and the question the tracker asks of it: which
//! landmarks can this camera see from here?
//!
//! Signs and poles are indexed as points, lane lines and stop lines as segments, all by
//! their east/north position in R*-trees (`rstar`); heights and levels are checked after
//! the horizontal search. A landmark is visible when it is on the camera's level (a car
//! underground sees no street signs, and the other way round), within range, in front of
//! the camera and inside the image; a sign must also face the camera.

use crate::model::{Map, Polyline};
use mapfix_core::{CameraModel, Pose, Vec3};
use rstar::primitives::{GeomWithData, Line};
use rstar::RTree;

/// Closest distance (m) along the optical axis at which anything counts as in front.
const NEAR: f64 = 0.1;
/// Spacing (m) of the points at which line pieces are tested against the image.
const SAMPLE_STEP: f64 = 0.5;
/// Most test points on one segment, so that a very long segment stays cheap.
const MAX_SAMPLES: usize = 256;

/// A landmark with extent, as found in the map's vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineLandmark {
    /// Index into [`Map::lane_lines`].
    LaneLine(usize),
    /// Index into [`Map::stop_lines`].
    StopLine(usize),
    /// Index into [`Map::poles`]; the segment runs from the foot to the top.
    Pole(usize),
}

/// A sign the camera sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisibleSign {
    /// Index into [`Map::signs`].
    pub sign: usize,
    /// Where the centre of its face appears (inside the image).
    pub pixel: [f64; 2],
    /// Distance (m) from the camera to the centre of the face.
    pub range: f64,
}

/// The part of one straight segment of a line landmark that the camera sees.
#[derive(Debug, Clone, PartialEq)]
pub struct VisiblePiece {
    pub landmark: LineLandmark,
    /// Index of the segment's first point in the polyline (0 for a pole).
    pub segment: usize,
    /// Ends of the seen part (world, m): within range, in front of the camera, and from
    /// the first to the last test point that falls inside the image.
    pub from: Vec3,
    pub to: Vec3,
    /// Pixels of the test points from `from` to `to` that fall inside the image, at most
    /// half a metre apart on the segment; they follow the lens distortion.
    pub pixels: Vec<[f64; 2]>,
}

/// What a camera sees of the map from one pose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Visible {
    /// The level the camera is on ([`Map::level_at`] of its position).
    pub level: i32,
    /// Visible signs, nearest first.
    pub signs: Vec<VisibleSign>,
    /// Visible pieces of lane lines, stop lines and poles.
    pub pieces: Vec<VisiblePiece>,
}

/// What an entry in the point tree stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PointLandmark {
    Sign(usize),
    Pole(usize),
}

/// A spatial index over a copy of a map.
#[derive(Debug, Clone)]
pub struct MapIndex {
    map: Map,
    points: RTree<GeomWithData<[f64; 2], PointLandmark>>,
    segments: RTree<Segment>,
}

/// A segment of a lane or stop line in plan, with its landmark and first point's index.
type Segment = GeomWithData<Line<[f64; 2]>, (LineLandmark, usize)>;

fn plan(p: &Vec3) -> [f64; 2] {
    [p.x, p.y]
}

impl MapIndex {
    pub fn new(map: &Map) -> Self {
        let signs = map
            .signs
            .iter()
            .enumerate()
            .map(|(i, s)| GeomWithData::new(plan(&s.position), PointLandmark::Sign(i)));
        let poles = map
            .poles
            .iter()
            .enumerate()
            .map(|(i, p)| GeomWithData::new(plan(&p.base), PointLandmark::Pole(i)));
        let lane_lines = map
            .lane_lines
            .iter()
            .enumerate()
            .map(|(i, l)| (LineLandmark::LaneLine(i), &l.line));
        let stop_lines = map
            .stop_lines
            .iter()
            .enumerate()
            .map(|(i, l)| (LineLandmark::StopLine(i), l));
        let segments =
            lane_lines
                .chain(stop_lines)
                .flat_map(|(landmark, line): (LineLandmark, &Polyline)| {
                    line.points.windows(2).enumerate().map(move |(k, w)| {
                        GeomWithData::new(Line::new(plan(&w[0]), plan(&w[1])), (landmark, k))
                    })
                });
        Self {
            map: map.clone(),
            points: RTree::bulk_load(signs.chain(poles).collect()),
            segments: RTree::bulk_load(segments.collect()),
        }
    }

    /// The map this index was built from; [`Visible`] indexes into its vectors.
    pub fn map(&self) -> &Map {
        &self.map
    }

    /// Indices of the signs whose horizontal distance to `center` is at most `radius` (m),
    /// nearest first; for searching without a trusted height or level.
    pub fn signs_within(&self, center: &Vec3, radius: f64) -> Vec<usize> {
        let mut found: Vec<(f64, usize)> = self
            .points
            .locate_within_distance(plan(center), radius * radius)
            .filter_map(|entry| match entry.data {
                PointLandmark::Sign(i) => {
                    Some(((self.map.signs[i].position.xy() - center.xy()).norm(), i))
                }
                PointLandmark::Pole(_) => None,
            })
            .collect();
        found.sort_by(|a, b| a.0.total_cmp(&b.0));
        found.into_iter().map(|(_, i)| i).collect()
    }

    /// The landmarks `camera`, mounted on a vehicle at `vehicle`, sees within `max_range`
    /// metres.
    pub fn visible_from(&self, vehicle: &Pose, camera: &CameraModel, max_range: f64) -> Visible {
        let view = View::new(camera, vehicle, max_range);
        let level = self.map.level_at(&view.camera.position);
        let mut visible = Visible {
            level,
            ..Default::default()
        };
        let center = plan(&view.camera.position);
        let radius_2 = max_range * max_range;

        for entry in self.points.locate_within_distance(center, radius_2) {
            match entry.data {
                PointLandmark::Sign(i) => {
                    let sign = &self.map.signs[i];
                    let to_camera = view.camera.position - sign.position;
                    let range = to_camera.norm();
                    if sign.level != level
                        || range > max_range
                        || sign.normal().dot(&to_camera) <= 0.0
                    {
                        continue;
                    }
                    if let Some(pixel) = view.pixel(&sign.position) {
                        visible.signs.push(VisibleSign {
                            sign: i,
                            pixel,
                            range,
                        });
                    }
                }
                PointLandmark::Pole(i) => {
                    let pole = &self.map.poles[i];
                    let top = pole.base + Vec3::z() * pole.height;
                    if pole.level == level {
                        visible.pieces.extend(view.piece(
                            LineLandmark::Pole(i),
                            0,
                            &pole.base,
                            &top,
                        ));
                    }
                }
            }
        }
        for entry in self.segments.locate_within_distance(center, radius_2) {
            let (landmark, k) = entry.data;
            let line = match landmark {
                LineLandmark::LaneLine(i) => &self.map.lane_lines[i].line,
                LineLandmark::StopLine(i) => &self.map.stop_lines[i],
                LineLandmark::Pole(_) => unreachable!("poles are indexed as points"),
            };
            if line.level == level {
                visible.pieces.extend(view.piece(
                    landmark,
                    k,
                    &line.points[k],
                    &line.points[k + 1],
                ));
            }
        }
        visible.signs.sort_by(|a, b| a.range.total_cmp(&b.range));
        visible
            .pieces
            .sort_by_key(|piece| (piece.landmark, piece.segment));
        visible
    }
}

/// One camera pose and the limits of what it sees.
struct View<'c> {
    model: &'c CameraModel,
    /// world ← camera.
    camera: Pose,
    max_range: f64,
    /// Largest |x/z| and |y/z| of undistorted rays through the image border, with a margin:
    /// outside them the distortion polynomial can fold far-off points back into the image.
    max_tan: [f64; 2],
}

impl<'c> View<'c> {
    fn new(model: &'c CameraModel, vehicle: &Pose, max_range: f64) -> Self {
        let k = &model.intrinsics;
        let (right, bottom) = (k.width as f64 - 0.5, k.height as f64 - 0.5);
        let mut max_tan = [0.0f64; 2];
        for (u, v) in [
            (-0.5, -0.5),
            (right, -0.5),
            (-0.5, bottom),
            (right, bottom),
            (k.cx, -0.5),
            (-0.5, k.cy),
            (k.cx, bottom),
            (right, k.cy),
        ] {
            let ray = model
                .pixel_to_ray(u, v)
                .unwrap_or_else(|| Vec3::new((u - k.cx) / k.fx, (v - k.cy) / k.fy, 1.0));
            max_tan[0] = max_tan[0].max((ray.x / ray.z).abs());
            max_tan[1] = max_tan[1].max((ray.y / ray.z).abs());
        }
        Self {
            model,
            camera: model.world_from_camera(vehicle),
            max_range,
            max_tan: max_tan.map(|t| t * 1.1),
        }
    }

    /// The pixel of a world point, if it lies in front of the camera and inside the image.
    fn pixel(&self, world: &Vec3) -> Option<[f64; 2]> {
        let p = self.camera.inverse_transform_point(world);
        if p.z < NEAR || (p.x / p.z).abs() > self.max_tan[0] || (p.y / p.z).abs() > self.max_tan[1]
        {
            return None;
        }
        self.model
            .ray_to_pixel(&p)
            .filter(|pixel| self.model.contains(*pixel))
    }

    /// The seen part of segment a–b: clipped to the range sphere and the near plane, then
    /// trimmed to the test points inside the image.
    fn piece(
        &self,
        landmark: LineLandmark,
        segment: usize,
        a: &Vec3,
        b: &Vec3,
    ) -> Option<VisiblePiece> {
        let (t0, t1) = self.clip(a, b)?;
        let direction = b - a;
        let length = (t1 - t0) * direction.norm();
        let samples = ((length / SAMPLE_STEP).ceil() as usize).clamp(1, MAX_SAMPLES - 1) + 1;
        let mut seen = (0..samples).filter_map(|s| {
            let t = t0 + (t1 - t0) * s as f64 / (samples - 1) as f64;
            let point = a + direction * t;
            self.pixel(&point).map(|pixel| (point, pixel))
        });
        let (from, first_pixel) = seen.next()?;
        let mut pixels = vec![first_pixel];
        let mut to = from;
        for (point, pixel) in seen {
            pixels.push(pixel);
            to = point;
        }
        Some(VisiblePiece {
            landmark,
            segment,
            from,
            to,
            pixels,
        })
    }

    /// The parameter interval of a + t·(b − a), t ∈ [0, 1], within range and in front.
    fn clip(&self, a: &Vec3, b: &Vec3) -> Option<(f64, f64)> {
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        // In front: z(t) = za + t·(zb − za) ≥ NEAR.
        let za = self.camera.inverse_transform_point(a).z;
        let zb = self.camera.inverse_transform_point(b).z;
        if (za - zb).abs() < 1e-12 {
            if za < NEAR {
                return None;
            }
        } else {
            let t_near = (NEAR - za) / (zb - za);
            if zb > za {
                t0 = t0.max(t_near);
            } else {
                t1 = t1.min(t_near);
            }
        }
        // In range: |a − c + t·d|² ≤ r², a quadratic in t.
        let d = b - a;
        let m = a - self.camera.position;
        let (qa, qb, qc) = (
            d.dot(&d),
            2.0 * d.dot(&m),
            m.dot(&m) - self.max_range * self.max_range,
        );
        if qa < 1e-18 {
            if qc > 0.0 {
                return None;
            }
        } else {
            let discriminant = qb * qb - 4.0 * qa * qc;
            if discriminant < 0.0 {
                return None;
            }
            let root = discriminant.sqrt();
            t0 = t0.max((-qb - root) / (2.0 * qa));
            t1 = t1.min((-qb + root) / (2.0 * qa));
        }
        (t0 <= t1).then_some((t0, t1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LaneLine, LineColor, LineStyle, Mounting, Pole, Sign, Underground};
    use crate::SignClass;
    use mapfix_core::{Attitude, Distortion, Geodetic, Intrinsics, LocalFrame, Mount};
    use std::f64::consts::PI;

    const SOUTH: f64 = PI;
    const NORTH: f64 = 0.0;

    fn camera() -> CameraModel {
        CameraModel {
            intrinsics: Intrinsics {
                width: 1280,
                height: 720,
                fx: 1000.0,
                fy: 1000.0,
                cx: 639.5,
                cy: 359.5,
            },
            distortion: Distortion::default(),
            mount: Mount {
                position: Vec3::new(0.0, 0.0, 1.5),
                attitude: Attitude::default(),
            },
            fps: 30.0,
        }
    }

    fn heading_north_at(position: Vec3) -> Pose {
        Pose::new(position, Attitude::from_heading(0.0, 0.0, 0.0))
    }

    fn sign(id: &str, level: i32, position: Vec3, facing: f64) -> Sign {
        Sign {
            id: id.into(),
            level,
            class: SignClass::Gtsrb(14),
            position,
            width: 0.6,
            height: 0.6,
            facing,
            mounting: Mounting::Pole,
        }
    }

    fn lane(level: i32, from: Vec3, to: Vec3) -> LaneLine {
        LaneLine {
            line: Polyline {
                id: format!("lane{level}"),
                level,
                points: vec![from, to],
            },
            style: LineStyle::Dashed,
            color: LineColor::White,
        }
    }

    /// A street running north from the origin, and a car park under x ∈ [50, 150] m.
    fn test_map() -> Map {
        let mut map = Map::new(
            "index test",
            LocalFrame::new(Geodetic::from_degrees(49.0, 8.4, 100.0)),
        );
        map.signs = vec![
            sign("visible", 0, Vec3::new(2.0, 30.0, 2.5), SOUTH),
            sign("behind", 0, Vec3::new(2.0, -32.0, 2.5), NORTH),
            sign("facing-away", 0, Vec3::new(-2.0, 40.0, 2.5), NORTH),
            sign("out-of-range", 0, Vec3::new(0.0, 200.0, 2.5), SOUTH),
            sign("other-level", -1, Vec3::new(1.0, 20.0, 2.5), SOUTH),
            sign("beside", 0, Vec3::new(30.0, 5.0, 2.5), -PI / 2.0),
            sign("street-above-park", 0, Vec3::new(100.0, 20.0, 2.5), SOUTH),
            sign("in-park", -1, Vec3::new(100.0, 20.0, -2.5), SOUTH),
        ];
        map.lane_lines = vec![
            lane(
                0,
                Vec3::new(-1.75, -20.0, 0.0),
                Vec3::new(-1.75, 300.0, 0.0),
            ),
            lane(
                -1,
                Vec3::new(1.75, -20.0, -5.0),
                Vec3::new(1.75, 30.0, -5.0),
            ),
        ];
        map.stop_lines = vec![Polyline {
            id: "stop".into(),
            level: 0,
            points: vec![Vec3::new(-3.0, -10.0, 0.0), Vec3::new(3.0, -10.0, 0.0)],
        }];
        map.poles = vec![Pole {
            id: "pole".into(),
            level: 0,
            base: Vec3::new(3.0, 25.0, 0.0),
            height: 6.0,
        }];
        map.underground = vec![Underground {
            id: "park".into(),
            level: -1,
            outline: [(50.0, -50.0), (150.0, -50.0), (150.0, 50.0), (50.0, 50.0)]
                .map(|(x, y)| Vec3::new(x, y, -6.0))
                .to_vec(),
            ceiling: -1.0,
        }];
        map
    }

    fn visible_sign_ids(index: &MapIndex, visible: &Visible) -> Vec<String> {
        visible
            .signs
            .iter()
            .map(|s| index.map().signs[s.sign].id.clone())
            .collect()
    }

    #[test]
    fn street_camera_sees_only_the_sign_in_front_facing_it_in_range_on_its_level() {
        let index = MapIndex::new(&test_map());
        let visible = index.visible_from(&heading_north_at(Vec3::zeros()), &camera(), 100.0);
        assert_eq!(visible.level, 0);
        assert_eq!(visible_sign_ids(&index, &visible), ["visible"]);
        // The pixel is the real projection: 2 m right and 1 m up at 30 m ahead.
        let [u, v] = visible.signs[0].pixel;
        assert!(
            (u - (639.5 + 1000.0 * 2.0 / 30.0)).abs() < 1e-6
                && (v - (359.5 - 1000.0 / 30.0)).abs() < 1e-6,
            "{u} {v}"
        );
        assert!((visible.signs[0].range - (4.0f64 + 900.0 + 1.0).sqrt()).abs() < 1e-9);
        // With a longer range the far sign comes in.
        let far = index.visible_from(&heading_north_at(Vec3::zeros()), &camera(), 250.0);
        assert_eq!(visible_sign_ids(&index, &far), ["visible", "out-of-range"]);
        // Turned around, the camera sees the sign that was behind it.
        let south = Pose::new(Vec3::zeros(), Attitude::from_heading(PI, 0.0, 0.0));
        assert_eq!(
            visible_sign_ids(&index, &index.visible_from(&south, &camera(), 100.0)),
            ["behind"]
        );
        // Turned east, the sign beside the road comes into view.
        let east = Pose::new(Vec3::zeros(), Attitude::from_heading(PI / 2.0, 0.0, 0.0));
        assert_eq!(
            visible_sign_ids(&index, &index.visible_from(&east, &camera(), 100.0)),
            ["beside"]
        );
    }

    #[test]
    fn underground_camera_sees_only_underground_signs() {
        let index = MapIndex::new(&test_map());
        let street = index.visible_from(
            &heading_north_at(Vec3::new(100.0, 0.0, 0.0)),
            &camera(),
            100.0,
        );
        assert_eq!(
            (street.level, visible_sign_ids(&index, &street)),
            (0, vec!["street-above-park".to_owned()])
        );
        let below = index.visible_from(
            &heading_north_at(Vec3::new(100.0, 0.0, -5.0)),
            &camera(),
            100.0,
        );
        assert_eq!(
            (below.level, visible_sign_ids(&index, &below)),
            (-1, vec!["in-park".to_owned()])
        );
    }

    #[test]
    fn lane_line_is_clipped_to_range_and_image() {
        let index = MapIndex::new(&test_map());
        let visible = index.visible_from(&heading_north_at(Vec3::zeros()), &camera(), 100.0);
        let lane: Vec<&VisiblePiece> = visible
            .pieces
            .iter()
            .filter(|p| p.landmark == LineLandmark::LaneLine(0))
            .collect();
        assert_eq!(lane.len(), 1);
        let piece = lane[0];
        // The road surface enters the image where 1.5 m below the axis reaches the bottom
        // row: 1000·1.5/d = 360.5 px at d ≈ 4.16 m; test points are ≤ 0.5 m apart.
        assert!(
            piece.from.y > 4.16 && piece.from.y < 4.7,
            "{:?}",
            piece.from
        );
        // It ends on the range sphere: 1.75² + 1.5² + y² = 100².
        let end = (100.0f64.powi(2) - 1.75f64.powi(2) - 1.5f64.powi(2)).sqrt();
        assert!((piece.to.y - end).abs() < 1e-6, "{:?}", piece.to);
        assert!(piece.pixels.len() > 150 && piece.pixels.iter().all(|p| camera().contains(*p)));
        // The underground lane and the stop line behind are not seen; the pole is.
        assert!(!visible.pieces.iter().any(|p| matches!(
            p.landmark,
            LineLandmark::LaneLine(1) | LineLandmark::StopLine(_)
        )));
        let pole = visible
            .pieces
            .iter()
            .find(|p| p.landmark == LineLandmark::Pole(0))
            .expect("the pole is in view");
        assert!(
            pole.to.z > 5.0 && pole.to.z <= 6.0,
            "its top is in view too: {:?}",
            pole.to
        );
    }

    #[test]
    fn a_segment_entirely_behind_or_beyond_range_gives_nothing() {
        let index = MapIndex::new(&test_map());
        let model = camera();
        let view = View::new(&model, &heading_north_at(Vec3::zeros()), 50.0);
        let ahead = |y0: f64, y1: f64| {
            view.piece(
                LineLandmark::StopLine(0),
                0,
                &Vec3::new(0.0, y0, 2.0),
                &Vec3::new(0.0, y1, 2.0),
            )
        };
        assert!(ahead(-30.0, -5.0).is_none(), "behind");
        assert!(ahead(60.0, 80.0).is_none(), "beyond range");
        let crossing = ahead(-5.0, 80.0).expect("crosses the view");
        assert!(
            crossing.from.y >= NEAR && crossing.to.y < 50.0,
            "{crossing:?}"
        );
        assert!(index
            .visible_from(
                &heading_north_at(Vec3::new(0.0, -500.0, 0.0)),
                &camera(),
                50.0
            )
            .pieces
            .is_empty());
    }

    #[test]
    fn signs_within_is_horizontal_and_nearest_first() {
        let index = MapIndex::new(&test_map());
        let found = index.signs_within(&Vec3::new(100.0, 0.0, 50.0), 25.0);
        let ids: Vec<&str> = found
            .iter()
            .map(|&i| index.map().signs[i].id.as_str())
            .collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&"street-above-park") && ids.contains(&"in-park"));
        let near = index.signs_within(&Vec3::new(0.0, 0.0, 0.0), 35.0);
        let ids: Vec<&str> = near
            .iter()
            .map(|&i| index.map().signs[i].id.as_str())
            .collect();
        assert_eq!(ids, ["other-level", "visible", "beside", "behind"]);
    }

    /// The signs a plain scan of the whole map finds visible, without the index.
    fn signs_seen_by_scan(
        map: &Map,
        vehicle: &Pose,
        camera: &CameraModel,
        range: f64,
    ) -> Vec<usize> {
        let eye = camera.world_from_camera(vehicle).position;
        let level = map.level_at(&eye);
        (0..map.signs.len())
            .filter(|&i| {
                let sign = &map.signs[i];
                let to_camera = eye - sign.position;
                sign.level == level
                    && to_camera.norm() <= range
                    && sign.normal().dot(&to_camera) > 0.0
                    && camera
                        .project(vehicle, &sign.position)
                        .is_some_and(|pixel| camera.contains(pixel))
            })
            .collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The index finds exactly what a scan of every sign of the demo town finds, on the
        /// street and in the underground car park.
        #[test]
        fn index_agrees_with_a_full_scan_on_the_demo_town(
            fx in 0.0f64..1.0, fy in 0.0f64..1.0, heading in 0.0f64..6.3, underground: bool,
        ) {
            let map = crate::demo_town::generate(crate::demo_town::SHIPPED_SEED);
            let index = MapIndex::new(&map);
            let (lo, hi) = map.bounds().unwrap();
            let position = match map.underground.iter().find(|u| u.level < 0).filter(|_| underground) {
                Some(space) => {
                    let (a, b) = (space.outline[0], space.outline[space.outline.len() / 2]);
                    Vec3::new(a.x + fx * (b.x - a.x), a.y + fy * (b.y - a.y), a.z)
                }
                None => Vec3::new(lo.x + fx * (hi.x - lo.x), lo.y + fy * (hi.y - lo.y), 0.0),
            };
            let vehicle = Pose::new(position, Attitude::from_heading(heading, 0.0, 0.0));
            let mut found: Vec<usize> = index.visible_from(&vehicle, &camera(), 80.0).signs.iter().map(|s| s.sign).collect();
            found.sort_unstable();
            proptest::prop_assert_eq!(found, signs_seen_by_scan(&map, &vehicle, &camera(), 80.0));
        }
    }
}
