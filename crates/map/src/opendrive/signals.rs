//! `<signals>` and `<objects>` → signs, stop lines and poles.
//!
//! Placement: a signal at (s, t) stands t metres left of the reference line point at s.
//! `zOffset` is the height of the bottom of the sign face above the road surface there;
//! a [`Sign`]'s position is the centre of its face, so it lies `zOffset + height/2` above
//! the road. Where the file gives no face size (height 0 or missing), `zOffset` is taken
//! as the foot of the support and the centre is put the default sign height above it.
//!
//! Facing: `orientation="+"` means valid for traffic moving in +s, so the face looks
//! back along the road (reference heading + π); `"-"` looks along +s; `hOffset` (objects:
//! `hdg`) turns the face from there. `"none"` is treated like `"+"`. RoadRunner's exports
//! (CARLA's towns) follow another convention: the heading offset turns the face from
//! looking back along the road, whatever the `orientation`.

use super::geometry::{CubicProfile, ReferenceLine};
use super::{Context, Tally};

use crate::{MapError, Mounting, Pole, Polyline, Sign, SignClass};
use mapfix_core::Vec3;
use roxmltree::Node;
use std::f64::consts::PI;

/// Edge of a sign face (m) where the file gives no size: a common regulatory sign.
const DEFAULT_SIGN_SIZE: f64 = 0.6;
/// Bottom of the face (m above the road) from which a sign counts as overhead.
const OVERHEAD_CLEARANCE: f64 = 4.5;
/// Signals flat on the road (no higher than this, m) are painted markings, not signs.
const MARKING_THICKNESS: f64 = 0.1;
/// Length (m) of a stop line whose signal gives no width: one lane.
const DEFAULT_STOP_LINE_LENGTH: f64 = 3.5;

/// What a road contributes besides lane lines.
#[derive(Default)]
pub(crate) struct RoadFurniture {
    pub signs: Vec<Sign>,
    pub stop_lines: Vec<Polyline>,
    pub poles: Vec<Pole>,
}

/// The road a signal or object stands on, and how to put its points into the world.
pub(crate) struct RoadPlacement<'a> {
    pub road_id: &'a str,
    pub reference: &'a ReferenceLine,
    pub elevation: &'a CubicProfile,
    pub to_world: &'a dyn Fn(f64, f64, f64) -> Vec3,
}

/// A point of a road in its (s, t, height above the road) coordinates.
struct RoadPoint {
    x: f64,
    y: f64,
    road_z: f64,
    hdg: f64,
}

impl RoadPlacement<'_> {
    fn at(&self, s: f64, t: f64) -> RoadPoint {
        let pose = self.reference.pose_at(s);
        let (x, y) = pose.offset(t);
        RoadPoint {
            x,
            y,
            road_z: self.elevation.at(s),
            hdg: pose.hdg,
        }
    }

    /// Compass facing of a horizontal direction `angle` (rad, inertial, counter-clockwise
    /// from x) at a point, through the same map from file to world as the points.
    fn compass(&self, point: &RoadPoint, angle: f64) -> f64 {
        let from = (self.to_world)(point.x, point.y, point.road_z);
        let to = (self.to_world)(point.x + angle.cos(), point.y + angle.sin(), point.road_z);
        let d = to - from;
        d.x.atan2(d.y).rem_euclid(2.0 * PI)
    }
}

/// How a file turns a sign's face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FacingConvention {
    /// The standard's: `orientation` names the traffic the sign is for, and the heading
    /// offset turns the face from looking back at that traffic.
    Standard,
    /// RoadRunner's exports: the heading offset is the sign model's heading relative to
    /// the road, its face looks back along it, and `orientation` is written the other way
    /// round (CARLA's towns put "-" lights and signs on the right of +s traffic, at the
    /// ends of the roads they control, with offset 0; "+" ones on the left with offset π).
    ModelHeading,
}

/// The face direction (inertial, rad) for an `orientation` and heading offset.
fn face_angle(
    convention: FacingConvention,
    hdg: f64,
    orientation: Option<&str>,
    heading_offset: f64,
) -> f64 {
    let looks_along_s = convention == FacingConvention::Standard && orientation == Some("-");
    let base = if looks_along_s { hdg } else { hdg + PI };
    base + heading_offset
}

/// Sign codes read as German StVO numbers: Germany, and OpenDRIVE's own catalogue
/// (`country="OpenDRIVE"`, which uses the German numbers) or no country at all.
fn is_german(country: &str) -> bool {
    matches!(
        country.to_ascii_uppercase().as_str(),
        "DE" | "DEU" | "OPENDRIVE" | ""
    )
}

/// Reads one road's `<signal>`s and `<object>`s into its furniture.
pub(crate) struct FurnitureReader<'a> {
    pub context: &'a Context<'a, 'a>,
    pub road: RoadPlacement<'a>,
    pub default_sign_height: f64,
    pub furniture: RoadFurniture,
    pub tally: &'a mut Tally,
}

/// What signals and objects share: where they stand, their face and its facing.
struct Item {
    id: String,
    s: f64,
    t: f64,
    point: RoadPoint,
    z_offset: Option<f64>,
    face: FaceSize,
    facing: f64,
}

/// A sign face's size as the file gives it.
struct FaceSize {
    height: Option<f64>,
    width: Option<f64>,
}

impl FurnitureReader<'_> {
    /// The common attributes; `heading_attribute` turns the face from its orientation.
    fn item(&self, node: Node, kind: &str, heading_attribute: &str) -> Result<Item, MapError> {
        let context = self.context;
        let (s, t) = (context.required(node, "s")?, context.required(node, "t")?);
        let point = self.road.at(s, t);
        let heading_offset = context.optional(node, heading_attribute)?.unwrap_or(0.0);
        let face_direction = face_angle(
            context.facing,
            point.hdg,
            node.attribute("orientation"),
            heading_offset,
        );
        Ok(Item {
            id: format!(
                "road{}/{kind}{}",
                self.road.road_id,
                node.attribute("id").unwrap_or("?")
            ),
            s,
            t,
            facing: self.road.compass(&point, face_direction),
            point,
            z_offset: context.optional(node, "zOffset")?,
            face: FaceSize {
                height: context.optional(node, "height")?.filter(|h| *h > 0.0),
                width: context.optional(node, "width")?.filter(|w| *w > 0.0),
            },
        })
    }

    pub fn signal(&mut self, node: Node) -> Result<(), MapError> {
        let item = self.item(node, "signal", "hOffset")?;
        let country = node.attribute("country").unwrap_or("");
        let kind = node.attribute("type").unwrap_or("").trim();
        let subtype = node
            .attribute("subtype")
            .map(str::trim)
            .filter(|s| !s.is_empty() && *s != "-1" && *s != "none");
        let german = is_german(country);
        if node.attribute("dynamic") == Some("yes")
            || matches!(kind, "1000001" | "1000002" | "1000011")
        {
            self.tally.add("traffic lights (not signs): skipped".into());
        } else if german && kind == "294" {
            // StVO 294 "Haltlinie": a stop line across the road, `width` long, starting at
            // (s, t) and running to the right of the traffic it stops (as esmini's maps
            // place them: t = 0 for the lanes beside the centre line); centred for "none".
            let length = item.face.width.unwrap_or(DEFAULT_STOP_LINE_LENGTH);
            let (from, to) = match node.attribute("orientation") {
                Some("+") => (-length, 0.0),
                Some("-") => (0.0, length),
                _ => (-0.5 * length, 0.5 * length),
            };
            let points = [from, to]
                .iter()
                .map(|dt| {
                    let p = self.road.at(item.s, item.t + dt);
                    (self.road.to_world)(p.x, p.y, p.road_z)
                })
                .collect();
            self.furniture.stop_lines.push(Polyline {
                id: item.id,
                level: 0,
                points,
            });
        } else if item.z_offset.unwrap_or(0.0).abs() < 0.05
            && item.face.height.is_some_and(|h| h < MARKING_THICKNESS)
        {
            self.tally
                .add("road markings given as signals (crosswalks, arrows …): skipped".into());
        } else {
            let class = if kind.is_empty() || kind == "-1" {
                SignClass::Other(if country.is_empty() {
                    "unknown".into()
                } else {
                    format!("{}:unknown", country.to_ascii_lowercase())
                })
            } else if german {
                SignClass::from_german_code(kind, subtype, self.context.optional(node, "value")?)
            } else {
                let sub = subtype.map(|s| format!("-{s}")).unwrap_or_default();
                SignClass::Other(format!("{}:{kind}{sub}", country.to_ascii_lowercase()))
            };
            self.push_sign(item, class);
        }
        Ok(())
    }

    pub fn object(&mut self, node: Node) -> Result<(), MapError> {
        let item = self.item(node, "object", "hdg")?;
        let kind = node.attribute("type").unwrap_or("");
        let name = node.attribute("name").unwrap_or("");
        if node.children().any(|c| c.has_tag_name("repeat")) {
            self.tally
                .add("object <repeat> ignored: only the first instance imported".into());
        }
        if matches!(kind, "pole" | "streetLamp") {
            let point = &item.point;
            let foot = point.road_z + item.z_offset.unwrap_or(0.0);
            self.furniture.poles.push(Pole {
                id: item.id,
                level: 0,
                base: (self.road.to_world)(point.x, point.y, foot),
                height: item.face.height.unwrap_or(self.default_sign_height),
            });
        } else if let Some(speed) = name
            .strip_prefix("Speed_")
            .and_then(|v| v.parse::<f64>().ok())
        {
            // CARLA names its speed-limit sign objects `Speed_<km/h>` and gives them no code.
            self.tally
                .add("CARLA `Speed_N` objects read as speed-limit signs (StVO 274)".into());
            let class = match SignClass::from_german_code("274", None, Some(speed)) {
                SignClass::Other(_) => SignClass::Other(format!("de274 {speed} km/h")),
                class => class,
            };
            self.push_sign(item, class);
        } else {
            self.tally.add(format!(
                "objects of type '{kind}' (not a sign or pole): skipped"
            ));
        }
        Ok(())
    }

    fn push_sign(&mut self, item: Item, class: SignClass) {
        let default_height = self.default_sign_height;
        let centre_above_road = match (item.face.height, item.z_offset) {
            (Some(height), Some(bottom)) => bottom + height / 2.0,
            (_, foot) => {
                self.tally.add(format!(
                    "signs without a face size or zOffset: centre put {default_height} m above their foot"
                ));
                foot.unwrap_or(0.0) + default_height
            }
        };
        let (height, width) = match (item.face.height, item.face.width) {
            (Some(height), Some(width)) => (height, width),
            (Some(side), None) | (None, Some(side)) => {
                self.tally
                    .add("sign faces with only one side given: taken as square".into());
                (side, side)
            }
            (None, None) => {
                self.tally.add(format!(
                    "sign faces without a size: taken as {DEFAULT_SIGN_SIZE} m square"
                ));
                (DEFAULT_SIGN_SIZE, DEFAULT_SIGN_SIZE)
            }
        };
        let bottom = centre_above_road - height / 2.0;
        let point = &item.point;
        self.furniture.signs.push(Sign {
            id: item.id,
            level: 0,
            class,
            position: (self.road.to_world)(point.x, point.y, point.road_z + centre_above_road),
            width,
            height,
            facing: item.facing,
            mounting: if bottom >= OVERHEAD_CLEARANCE {
                Mounting::Overhead
            } else {
                Mounting::Pole
            },
        });
    }
}
