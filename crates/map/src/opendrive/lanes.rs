//! Lane sections → lane lines (from each lane's `roadMark`s along its outer boundary) and
//! road edges (the outer boundary of the carriageway on each side).

use super::geometry::{CubicProfile, Pose2};
use super::Tally;
use crate::{LaneLine, LineColor, LineStyle, Polyline};
use mapfix_core::Vec3;

/// One `<roadMark>`: from `s` (absolute) to the next mark or the section's end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RoadMark {
    pub s: f64,
    pub kind: String,
    pub color: String,
}

/// One `<lane>` of a section. Profiles are keyed by absolute s.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lane {
    pub id: i32,
    pub kind: String,
    pub width: CubicProfile,
    /// `<border>` records: the outer boundary's distance from the lane-offset line, used
    /// where a lane has no `<width>`.
    pub border: Option<CubicProfile>,
    pub marks: Vec<RoadMark>,
}

/// A `<laneSection>` from `s` to `end`: the centre lane's marks, left lanes ordered
/// outwards (1, 2, …) and right lanes ordered outwards (−1, −2, …).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LaneSection {
    pub s: f64,
    pub end: f64,
    pub center_marks: Vec<RoadMark>,
    pub left: Vec<Lane>,
    pub right: Vec<Lane>,
}

/// Lane types that belong to the carriageway: the road edge lies beyond the outermost.
const CARRIAGEWAY: [&str; 17] = [
    "driving",
    "shoulder",
    "parking",
    "stop",
    "restricted",
    "biking",
    "bidirectional",
    "entry",
    "exit",
    "onRamp",
    "offRamp",
    "connectingRamp",
    "bus",
    "taxi",
    "HOV",
    "slipLane",
    "mwyEntry",
];

/// How a `roadMark` type is painted, or `None` for marks that are no painted line.
pub(crate) fn style_of(kind: &str) -> Option<LineStyle> {
    match kind {
        "solid" => Some(LineStyle::Solid),
        "broken" | "botts dots" => Some(LineStyle::Dashed),
        "solid solid" | "broken broken" | "solid broken" | "broken solid" => {
            Some(LineStyle::Double)
        }
        _ => None,
    }
}

/// The section's geometry at its stations: reference poses, elevations and the lateral
/// offset t of every lane boundary.
pub(crate) struct SectionSamples {
    pub stations: Vec<f64>,
    pub poses: Vec<Pose2>,
    pub heights: Vec<f64>,
    /// t of the lane-offset (centre) line at each station.
    pub center: Vec<f64>,
    /// t of each left lane's outer boundary, in the order of `LaneSection::left`.
    pub left: Vec<Vec<f64>>,
    pub right: Vec<Vec<f64>>,
}

impl SectionSamples {
    pub fn new(
        section: &LaneSection,
        stations: Vec<f64>,
        poses: Vec<Pose2>,
        heights: Vec<f64>,
        lane_offset: &CubicProfile,
    ) -> Self {
        let center: Vec<f64> = stations.iter().map(|s| lane_offset.at(*s)).collect();
        let outer = |lanes: &[Lane], side: f64| -> Vec<Vec<f64>> {
            let mut inner = center.clone();
            lanes
                .iter()
                .map(|lane| {
                    let boundary: Vec<f64> = stations
                        .iter()
                        .zip(center.iter().zip(&inner))
                        .map(|(s, (c, i))| match &lane.border {
                            Some(border) if lane.width.records.is_empty() => {
                                c + side * border.at(*s)
                            }
                            _ => i + side * lane.width.at(*s),
                        })
                        .collect();
                    inner = boundary.clone();
                    boundary
                })
                .collect()
        };
        let left = outer(&section.left, 1.0);
        let right = outer(&section.right, -1.0);
        Self {
            stations,
            poses,
            heights,
            center,
            left,
            right,
        }
    }

    /// The boundary polyline with offsets `t` over stations with s in [from, to].
    fn polyline(
        &self,
        t: &[f64],
        from: f64,
        to: f64,
        to_world: &dyn Fn(f64, f64, f64) -> Vec3,
    ) -> Vec<Vec3> {
        (0..self.stations.len())
            .filter(|i| self.stations[*i] >= from - 1e-9 && self.stations[*i] <= to + 1e-9)
            .map(|i| {
                let (x, y) = self.poses[i].offset(t[i]);
                to_world(x, y, self.heights[i])
            })
            .collect()
    }
}

/// Lane lines for every painted mark of the section, and its road edges unless the road
/// lies inside a junction (where connecting roads overlap and have no curbs of their own).
pub(crate) fn section_features(
    id_prefix: &str,
    section: &LaneSection,
    samples: &SectionSamples,
    in_junction: bool,
    to_world: &dyn Fn(f64, f64, f64) -> Vec3,
    tally: &mut Tally,
) -> (Vec<LaneLine>, Vec<Polyline>) {
    let boundaries = std::iter::once((0, &section.center_marks, &samples.center))
        .chain(
            section
                .left
                .iter()
                .zip(&samples.left)
                .map(|(lane, t)| (lane.id, &lane.marks, t)),
        )
        .chain(
            section
                .right
                .iter()
                .zip(&samples.right)
                .map(|(lane, t)| (lane.id, &lane.marks, t)),
        );
    let mut lines = Vec::new();
    for (lane_id, marks, t) in boundaries {
        for (index, mark) in marks.iter().enumerate() {
            let end = marks
                .get(index + 1)
                .map_or(section.end, |next| next.s)
                .min(section.end);
            let Some(style) = style_of(&mark.kind) else {
                if mark.kind != "none" {
                    tally.add(format!(
                        "roadMark type '{}' is no lane line: skipped",
                        mark.kind
                    ));
                }
                continue;
            };
            let color = match mark.color.as_str() {
                "yellow" => LineColor::Yellow,
                "white" | "standard" => LineColor::White,
                other => {
                    tally.add(format!("roadMark colour '{other}' taken as white"));
                    LineColor::White
                }
            };
            let points = samples.polyline(t, mark.s, end, to_world);
            if points.len() >= 2 {
                let id = format!("{id_prefix}/lane{lane_id}/mark{index}");
                lines.push(LaneLine {
                    line: Polyline {
                        id,
                        level: 0,
                        points,
                    },
                    style,
                    color,
                });
            }
        }
    }
    let mut edges = Vec::new();
    if !in_junction {
        for (side, lanes, offsets) in [
            ("left", &section.left, &samples.left),
            ("right", &section.right, &samples.right),
        ] {
            // The outermost carriageway lane: medians and borders inside it are passed over.
            if let Some(outermost) = lanes
                .iter()
                .rposition(|lane| CARRIAGEWAY.contains(&lane.kind.as_str()))
            {
                let points =
                    samples.polyline(&offsets[outermost], section.s, section.end, to_world);
                edges.push(Polyline {
                    id: format!("{id_prefix}/edge-{side}"),
                    level: 0,
                    points,
                });
            }
        }
    }
    (lines, edges)
}
