//! Lanelet2 import: an `.osm` (OSM XML) Lanelet2 map into a [`Map`].
//!
//! What becomes what:
//! - `line_thin` / `line_thick` ways → lane lines (`solid` → solid, `dashed` → dashed,
//!   `solid_solid`, `dashed_solid`, `solid_dashed`, `dashed_dashed` → double; `color` tag,
//!   white by default), whether or not a lanelet uses them as a boundary; `curbstone` and
//!   `road_border` → road edges; `stop_line` → stop lines. Every way is imported once, even
//!   when two lanelets share it. `virtual` boundaries and all other types are skipped and
//!   counted in the report.
//! - `traffic_sign` ways (and nodes) → signs, their `subtype` (`de205`) mapped with
//!   [`SignClass::from_german_code`]; a speed-limit regulatory element's `sign_type`
//!   (`"50 km/h"`) supplies the value a bare `de274` lacks. Unknown codes stay as
//!   [`SignClass::Other`] and are counted. Traffic lights are counted, not imported.
//!
//! Positions. The local frame's origin is the centre of the nodes' lat/lon bounding box at
//! height 0; a node's `ele` is its height in that frame (0 where missing). Where nodes carry
//! `local_x`/`local_y` (the map's own metric frame), those place the node: a rigid 2-D fit
//! (rotation and shift, no scale) over the nodes that carry both local and lat/lon
//! coordinates ties the local frame to ENU, so the map keeps its local geometry exactly and
//! sits where its lat/lon say; `ele` is then the height. The report gives the fit's
//! residual. A map with only local coordinates uses them as ENU around
//! [`ImportOptions::origin`].
//!
//! Signs. As for Lanelet2 traffic lights (whose `height` tag reaches up from the
//! linestring), a sign's linestring is taken as the bottom edge of its face: the face is as
//! wide as the linestring (0.6 m where the linestring is shorter than 0.3 m or longer than
//! 3 m, too short or long to be a drawn face) and as tall as its `height` tag (else
//! square); its centre is the linestring's `ele` plus half the face height. A sign without
//! `ele` has its centre [`ImportOptions::default_sign_height`] above the nearest lanelet's
//! boundary. The face normal is perpendicular to the linestring, on the side that faces
//! the traffic the sign is for: the lanelets whose regulatory element refers to the sign
//! (for right-of-way elements, the yielding lanelets for give-way and stop signs, the
//! priority lanelets for priority signs), the nearest of them; else the nearest lanelet for
//! vehicles (not a cycle lane, footway or crossing). Only a sign with no lanelet at all
//! gets a guessed side (the left of the linestring's direction), and the report counts it.

use crate::model::{LaneLine, LineColor, LineStyle, Map, Mounting, Polyline, Sign};
use crate::{xml, ImportOptions, ImportReport, MapError, SignClass};
use mapfix_core::{Geodetic, LocalFrame, Vec3};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Face size (m) for a sign whose linestring does not give a plausible one: a common German
/// sign size, and typical of the GTSRB signs.
const DEFAULT_SIGN_SIZE: f64 = 0.6;
/// Linestring lengths (m) believed as a face width.
const PLAUSIBLE_SIGN_WIDTH: std::ops::RangeInclusive<f64> = 0.3..=3.0;
/// A sign whose centre is this high (m) above the road hangs over it.
const OVERHEAD_CLEARANCE: f64 = 4.5;

/// Imports a Lanelet2 map. `path` only names the file in errors, notes and provenance.
pub fn import(
    text: &str,
    path: &Path,
    options: &ImportOptions,
) -> Result<(Map, ImportReport), MapError> {
    let doc = xml::parse(text, path)?;
    let osm = Osm::read(&doc, path)?;
    let mut report = ImportReport::default();
    let (frame, positions) = place_nodes(&osm, path, options, &mut report)?;
    let geometry = way_geometry(&osm, &positions, path)?;
    let lanelets = read_lanelets(&osm, &geometry, path)?;

    let name = path.file_stem().map_or_else(
        || "lanelet2".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let mut map = Map::new(name, frame);
    map.provenance = format!("Lanelet2 import of {}", path.display());
    report.notes.push(format!("{} lanelets", lanelets.len()));
    import_lines(&osm, &geometry, &mut map, &mut report);
    map.signs = import_signs(
        &osm,
        &geometry,
        &positions,
        &lanelets,
        options,
        path,
        &mut report,
    )?;
    report.count_other_signs(&map.signs);
    Ok((map, report))
}

// ---------------------------------------------------------------------------------------
// Reading the OSM elements.

/// An element's `<tag k v/>` children.
struct Tags<'a>(Vec<(&'a str, &'a str)>);

impl<'a> Tags<'a> {
    fn read(element: roxmltree::Node<'a, '_>) -> Self {
        Tags(
            element
                .children()
                .filter(|c| c.has_tag_name("tag"))
                .filter_map(|c| Some((c.attribute("k")?, c.attribute("v")?)))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn is(&self, key: &str, value: &str) -> bool {
        self.get(key) == Some(value)
    }
}

struct OsmNode<'a> {
    id: &'a str,
    place: String,
    /// Latitude and longitude in degrees.
    lat_lon: Option<(f64, f64)>,
    /// `local_x`, `local_y` (m) in the map's own frame.
    local: Option<(f64, f64)>,
    ele: Option<f64>,
    tags: Tags<'a>,
}

struct OsmWay<'a> {
    id: &'a str,
    place: String,
    nodes: Vec<&'a str>,
    tags: Tags<'a>,
}

struct Member<'a> {
    kind: &'a str,
    id: &'a str,
    role: &'a str,
}

struct OsmRelation<'a> {
    id: &'a str,
    place: String,
    members: Vec<Member<'a>>,
    tags: Tags<'a>,
}

impl<'a> OsmRelation<'a> {
    fn members_with_role<'s>(&'s self, role: &'s str) -> impl Iterator<Item = &'s Member<'a>> + 's {
        self.members.iter().filter(move |m| m.role == role)
    }
}

struct Osm<'a> {
    nodes: Vec<OsmNode<'a>>,
    ways: Vec<OsmWay<'a>>,
    relations: Vec<OsmRelation<'a>>,
}

impl<'a> Osm<'a> {
    fn read(doc: &'a roxmltree::Document<'_>, path: &Path) -> Result<Self, MapError> {
        let root = doc.root_element();
        if !root.has_tag_name("osm") {
            return Err(MapError::invalid(
                path,
                "root element",
                format!(
                    "expected <osm>, found <{}>: not an OSM XML file",
                    root.tag_name().name()
                ),
            ));
        }
        let mut osm = Osm {
            nodes: Vec::new(),
            ways: Vec::new(),
            relations: Vec::new(),
        };
        for element in root.children().filter(|c| c.is_element()) {
            let kind = element.tag_name().name();
            if !matches!(kind, "node" | "way" | "relation") {
                continue;
            }
            let line = doc.text_pos_at(element.range().start).row;
            let id = element.attribute("id").ok_or_else(|| {
                MapError::invalid(
                    path,
                    format!("line {line}"),
                    format!("<{kind}> without an id"),
                )
            })?;
            let place = format!("{kind} {id} (line {line})");
            let tags = Tags::read(element);
            match kind {
                "node" => {
                    let pair = |first, second| number_pair([first, second], &place, path);
                    let lat_lon = pair(
                        ("lat", element.attribute("lat")),
                        ("lon", element.attribute("lon")),
                    )?;
                    let local = pair(
                        ("local_x", tags.get("local_x")),
                        ("local_y", tags.get("local_y")),
                    )?;
                    let ele = tags
                        .get("ele")
                        .map(|e| number(e, "ele", &place, path))
                        .transpose()?;
                    if lat_lon.is_none() && local.is_none() {
                        return Err(MapError::invalid(
                            path,
                            place,
                            "missing lat/lon (and no local_x/local_y)",
                        ));
                    }
                    osm.nodes.push(OsmNode {
                        id,
                        place,
                        lat_lon,
                        local,
                        ele,
                        tags,
                    });
                }
                "way" => {
                    let nodes = element
                        .children()
                        .filter(|c| c.has_tag_name("nd"))
                        .map(|nd| {
                            nd.attribute("ref").ok_or_else(|| {
                                MapError::invalid(path, &place, "has an <nd> without a ref")
                            })
                        })
                        .collect::<Result<_, _>>()?;
                    osm.ways.push(OsmWay {
                        id,
                        place,
                        nodes,
                        tags,
                    });
                }
                _ => {
                    let members = element
                        .children()
                        .filter(|c| c.has_tag_name("member"))
                        .map(|m| match (m.attribute("type"), m.attribute("ref")) {
                            (Some(kind), Some(id)) => Ok(Member {
                                kind,
                                id,
                                role: m.attribute("role").unwrap_or(""),
                            }),
                            _ => Err(MapError::invalid(
                                path,
                                &place,
                                "has a <member> without type or ref",
                            )),
                        })
                        .collect::<Result<_, _>>()?;
                    osm.relations.push(OsmRelation {
                        id,
                        place,
                        members,
                        tags,
                    });
                }
            }
        }
        Ok(osm)
    }

    fn relations_of_type<'s>(
        &'s self,
        kind: &'s str,
    ) -> impl Iterator<Item = &'s OsmRelation<'a>> + 's {
        self.relations
            .iter()
            .filter(move |r| r.tags.is("type", kind))
    }
}

/// Two numbers that come together (lat and lon, local_x and local_y), or neither.
fn number_pair(
    [(first, first_text), (second, second_text)]: [(&str, Option<&str>); 2],
    place: &str,
    path: &Path,
) -> Result<Option<(f64, f64)>, MapError> {
    match (first_text, second_text) {
        (Some(a), Some(b)) => Ok(Some((
            number(a, first, place, path)?,
            number(b, second, place, path)?,
        ))),
        (None, None) => Ok(None),
        _ => Err(MapError::invalid(
            path,
            place,
            format!("has only one of {first} and {second}"),
        )),
    }
}

fn number(text: &str, what: &str, place: &str, path: &Path) -> Result<f64, MapError> {
    xml::number(text)
        .ok_or_else(|| MapError::invalid(path, place, format!("{what} '{text}' is not a number")))
}

// ---------------------------------------------------------------------------------------
// Placing nodes in the local frame.

/// East/north or local x/y (m).
type Point2 = (f64, f64);

/// A rotation and shift taking the map's `local_x`/`local_y` frame to ENU east/north.
struct LocalToEnu {
    cos: f64,
    sin: f64,
    shift: Point2,
}

impl LocalToEnu {
    const IDENTITY: LocalToEnu = LocalToEnu {
        cos: 1.0,
        sin: 0.0,
        shift: (0.0, 0.0),
    };

    /// Least-squares rigid fit of `(local, enu)` pairs (2-D Procrustes without scale).
    fn fit(pairs: &[(Point2, Point2)]) -> Self {
        let n = pairs.len() as f64;
        let mean = |pick: fn(&(Point2, Point2)) -> Point2| {
            let (sx, sy) = pairs
                .iter()
                .map(pick)
                .fold((0.0, 0.0), |(ax, ay), (x, y)| (ax + x, ay + y));
            (sx / n, sy / n)
        };
        let local_mean = mean(|p| p.0);
        let enu_mean = mean(|p| p.1);
        let (mut dot, mut cross) = (0.0, 0.0);
        for ((lx, ly), (ex, ey)) in pairs {
            let (lx, ly) = (lx - local_mean.0, ly - local_mean.1);
            let (ex, ey) = (ex - enu_mean.0, ey - enu_mean.1);
            dot += lx * ex + ly * ey;
            cross += lx * ey - ly * ex;
        }
        // With one pair (or all points equal) the angle is undetermined: keep the axes.
        let angle = if dot == 0.0 && cross == 0.0 {
            0.0
        } else {
            cross.atan2(dot)
        };
        let (sin, cos) = angle.sin_cos();
        let rotated = (
            cos * local_mean.0 - sin * local_mean.1,
            sin * local_mean.0 + cos * local_mean.1,
        );
        LocalToEnu {
            cos,
            sin,
            shift: (enu_mean.0 - rotated.0, enu_mean.1 - rotated.1),
        }
    }

    fn apply(&self, (x, y): Point2) -> Point2 {
        (
            self.cos * x - self.sin * y + self.shift.0,
            self.sin * x + self.cos * y + self.shift.1,
        )
    }
}

/// The map's frame and every node's ENU position.
fn place_nodes<'a>(
    osm: &Osm<'a>,
    path: &Path,
    options: &ImportOptions,
    report: &mut ImportReport,
) -> Result<(LocalFrame, HashMap<&'a str, Vec3>), MapError> {
    let lat_lons: Vec<(f64, f64)> = osm.nodes.iter().filter_map(|n| n.lat_lon).collect();
    let origin = if lat_lons.is_empty() {
        let origin = options
            .origin
            .unwrap_or(Geodetic::from_degrees(0.0, 0.0, 0.0));
        report.notes.push(format!(
            "no node has lat/lon: local_x/local_y used as east/north around {:.7}° N, {:.7}° E{}",
            origin.lat_deg(),
            origin.lon_deg(),
            if options.origin.is_none() {
                " (no origin given: 0° N, 0° E assumed)"
            } else {
                ""
            }
        ));
        origin
    } else {
        let (lat_min, lat_max, lon_min, lon_max) = lat_lons.iter().fold(
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ),
            |(a, b, c, d), &(lat, lon)| (a.min(lat), b.max(lat), c.min(lon), d.max(lon)),
        );
        let origin =
            Geodetic::from_degrees((lat_min + lat_max) / 2.0, (lon_min + lon_max) / 2.0, 0.0);
        report.notes.push(format!(
            "origin: centre of the nodes' lat/lon bounds, {:.7}° N, {:.7}° E, height 0 m; `ele` is height in this frame",
            origin.lat_deg(),
            origin.lon_deg()
        ));
        origin
    };
    let frame = LocalFrame::new(origin);
    let geodetic_enu = |node: &OsmNode| {
        node.lat_lon.map(|(lat, lon)| {
            frame.to_enu(&Geodetic::from_degrees(lat, lon, node.ele.unwrap_or(0.0)))
        })
    };

    let local_to_enu = local_frame_fit(osm, path, &lat_lons, &geodetic_enu, report)?;
    let positions = osm
        .nodes
        .iter()
        .map(|node| {
            let position = match (node.local, &local_to_enu) {
                (Some(local), Some(fit)) => {
                    let (east, north) = fit.apply(local);
                    Vec3::new(east, north, node.ele.unwrap_or(0.0))
                }
                _ => geodetic_enu(node)
                    .expect("a node without local coordinates has lat/lon (checked on reading)"),
            };
            (node.id, position)
        })
        .collect();

    let without_ele = osm.nodes.iter().filter(|n| n.ele.is_none()).count();
    if without_ele > 0 {
        report.notes.push(format!(
            "{without_ele} of {} nodes have no `ele`: placed at height 0",
            osm.nodes.len()
        ));
    }
    Ok((frame, positions))
}

/// How the nodes' `local_x`/`local_y` map to ENU, or `None` where no node has them.
fn local_frame_fit(
    osm: &Osm,
    path: &Path,
    lat_lons: &[(f64, f64)],
    geodetic_enu: &dyn Fn(&OsmNode) -> Option<Vec3>,
    report: &mut ImportReport,
) -> Result<Option<LocalToEnu>, MapError> {
    let local_count = osm.nodes.iter().filter(|n| n.local.is_some()).count();
    if local_count == 0 {
        return Ok(None);
    }
    if lat_lons.is_empty() {
        return Ok(Some(LocalToEnu::IDENTITY));
    }
    let pairs: Vec<_> = osm
        .nodes
        .iter()
        .filter_map(|n| Some((n.local?, geodetic_enu(n)?)))
        .map(|(local, enu)| (local, (enu.x, enu.y)))
        .collect();
    if pairs.is_empty() {
        let node = osm
            .nodes
            .iter()
            .find(|n| n.lat_lon.is_none())
            .expect("local-only node exists");
        return Err(MapError::invalid(
            path,
            &node.place,
            "has only local_x/local_y, and no node has both local and lat/lon coordinates to tie them to the earth",
        ));
    }
    let fit = LocalToEnu::fit(&pairs);
    let squared: f64 = pairs
        .iter()
        .map(|&(local, enu)| {
            let (e, n) = fit.apply(local);
            (e - enu.0).powi(2) + (n - enu.1).powi(2)
        })
        .sum();
    report.notes.push(format!(
        "{local_count} nodes placed by local_x/local_y, tied to lat/lon by a rigid fit over {} nodes \
         (local frame rotated {:.3}° from ENU, RMS residual {:.3} m)",
        pairs.len(),
        fit.sin.atan2(fit.cos).to_degrees(),
        (squared / pairs.len() as f64).sqrt()
    ));
    Ok(Some(fit))
}

/// Every way's points, in order.
fn way_geometry<'a>(
    osm: &Osm<'a>,
    positions: &HashMap<&str, Vec3>,
    path: &Path,
) -> Result<HashMap<&'a str, Vec<Vec3>>, MapError> {
    osm.ways
        .iter()
        .map(|way| {
            let points = way
                .nodes
                .iter()
                .map(|id| {
                    positions.get(id).copied().ok_or_else(|| {
                        MapError::invalid(
                            path,
                            &way.place,
                            format!("refers to node {id}, which is not in the file"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok((way.id, points))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Lanelets: the driving directions that decide which way a sign faces.

struct Lanelet<'a> {
    id: &'a str,
    /// Left and right boundaries, both ordered along the direction of travel.
    left: Vec<Vec3>,
    right: Vec<Vec3>,
    regulatory_elements: Vec<&'a str>,
    /// Whether cars drive on it (not a cycle lane, footway or crossing).
    for_vehicles: bool,
}

/// The point of a lanelet boundary nearest to a position.
struct Nearest {
    /// Horizontal distance (m).
    distance: f64,
    /// Unit horizontal direction of travel there.
    travel: Vec3,
    /// Height of the boundary there.
    ground: f64,
}

impl Lanelet<'_> {
    fn nearest(&self, position: &Vec3) -> Option<Nearest> {
        self.left
            .windows(2)
            .chain(self.right.windows(2))
            .filter_map(|segment| {
                let (a, b) = (segment[0], segment[1]);
                let along = horizontal(&(b - a));
                let length2 = along.norm_squared();
                if length2 < 1e-12 {
                    return None;
                }
                let t = (horizontal(&(position - a)).dot(&along) / length2).clamp(0.0, 1.0);
                let closest = a + (b - a) * t;
                Some(Nearest {
                    distance: horizontal(&(position - closest)).norm(),
                    travel: along / length2.sqrt(),
                    ground: closest.z,
                })
            })
            .min_by(|p, q| p.distance.total_cmp(&q.distance))
    }
}

fn horizontal(v: &Vec3) -> Vec3 {
    Vec3::new(v.x, v.y, 0.0)
}

fn read_lanelets<'a>(
    osm: &Osm<'a>,
    geometry: &HashMap<&str, Vec<Vec3>>,
    path: &Path,
) -> Result<Vec<Lanelet<'a>>, MapError> {
    osm.relations_of_type("lanelet")
        .map(|relation| {
            let bound = |role: &str| {
                let member = relation
                    .members_with_role(role)
                    .find(|m| m.kind == "way")
                    .ok_or_else(|| {
                        MapError::invalid(
                            path,
                            &relation.place,
                            format!("lanelet without a {role} bound"),
                        )
                    })?;
                geometry.get(member.id).cloned().ok_or_else(|| {
                    MapError::invalid(
                        path,
                        &relation.place,
                        format!(
                            "{role} bound is way {}, which is not in the file",
                            member.id
                        ),
                    )
                })
            };
            let (mut left, mut right) = (bound("left")?, bound("right")?);
            orient_bounds(&mut left, &mut right);
            let regulatory_elements = relation
                .members_with_role("regulatory_element")
                .filter(|m| m.kind == "relation")
                .map(|m| m.id)
                .collect();
            let for_vehicles = !relation.tags.is("participant:vehicle", "no")
                && !matches!(
                    relation.tags.get("subtype"),
                    Some("bicycle_lane" | "walkway" | "shared_walkway" | "crosswalk" | "stairs")
                );
            Ok(Lanelet {
                id: relation.id,
                left,
                right,
                regulatory_elements,
                for_vehicles,
            })
        })
        .collect()
}

/// Orders both boundaries along the direction of travel. Lanelet2 lets a lanelet use a
/// shared way in either direction; what fixes the direction is that the left bound lies on
/// the left of it.
fn orient_bounds(left: &mut [Vec3], right: &mut [Vec3]) {
    let (Some(&l0), Some(&ln), Some(&r0), Some(&rn)) =
        (left.first(), left.last(), right.first(), right.last())
    else {
        return;
    };
    if (l0 - r0).norm() + (ln - rn).norm() > (l0 - rn).norm() + (ln - r0).norm() {
        right.reverse();
    }
    let (r0, rn) = (right[0], right[right.len() - 1]);
    let travel = (ln + rn - l0 - r0) / 2.0;
    let leftwards = (l0 + ln - r0 - rn) / 2.0;
    if travel.x * leftwards.y - travel.y * leftwards.x < 0.0 {
        left.reverse();
        right.reverse();
    }
}

// ---------------------------------------------------------------------------------------
// Lines.

fn import_lines(
    osm: &Osm,
    geometry: &HashMap<&str, Vec<Vec3>>,
    map: &mut Map,
    report: &mut ImportReport,
) {
    let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut unknown_subtype, mut unknown_color, mut too_short) = (0, 0, 0);
    for way in &osm.ways {
        let kind = way.tags.get("type").unwrap_or("(untyped)");
        if matches!(kind, "traffic_sign" | "traffic_light") {
            continue; // signs are imported apart; lights are counted there
        }
        let points = &geometry[way.id];
        let polyline = || Polyline {
            id: format!("way/{}", way.id),
            level: 0,
            points: points.clone(),
        };
        let is_line = matches!(
            kind,
            "line_thin" | "line_thick" | "curbstone" | "road_border" | "stop_line"
        );
        if is_line && points.len() < 2 {
            too_short += 1;
            continue;
        }
        match kind {
            "line_thin" | "line_thick" => {
                let style = match way.tags.get("subtype") {
                    Some("solid") => LineStyle::Solid,
                    Some("dashed") => LineStyle::Dashed,
                    Some("solid_solid" | "dashed_solid" | "solid_dashed" | "dashed_dashed") => {
                        LineStyle::Double
                    }
                    _ => {
                        unknown_subtype += 1;
                        LineStyle::Solid
                    }
                };
                let color = match way.tags.get("color") {
                    None | Some("white") => LineColor::White,
                    Some("yellow") => LineColor::Yellow,
                    Some(_) => {
                        unknown_color += 1;
                        LineColor::White
                    }
                };
                map.lane_lines.push(LaneLine {
                    line: polyline(),
                    style,
                    color,
                });
            }
            "curbstone" | "road_border" => map.road_edges.push(polyline()),
            "stop_line" => map.stop_lines.push(polyline()),
            other => *skipped.entry(other).or_default() += 1,
        }
    }
    report.notes.push(format!(
        "{} lane lines, {} road edges (curbstone, road_border), {} stop lines",
        map.lane_lines.len(),
        map.road_edges.len(),
        map.stop_lines.len()
    ));
    if unknown_subtype > 0 {
        report.notes.push(format!(
            "{unknown_subtype} lane lines without a known subtype: imported as solid"
        ));
    }
    if unknown_color > 0 {
        report.notes.push(format!("{unknown_color} lane lines with a colour other than white or yellow: imported as white"));
    }
    if too_short > 0 {
        report.notes.push(format!(
            "{too_short} line ways with fewer than 2 nodes skipped"
        ));
    }
    if !skipped.is_empty() {
        let list: Vec<String> = skipped
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        report
            .notes
            .push(format!("ways not imported, by type: {}", list.join(", ")));
    }
}

// ---------------------------------------------------------------------------------------
// Signs.

/// A `traffic_sign` way or node, with what the file says about it.
struct SignSource<'a> {
    /// `way/ID` or `node/ID`, as regulatory elements name it.
    key: (&'a str, &'a str),
    place: &'a str,
    tags: &'a Tags<'a>,
    points: Vec<Vec3>,
    /// Whether every point has an `ele`.
    has_ele: bool,
}

/// How the signs' facings and sizes were decided, for the report.
#[derive(Default)]
struct SignTally {
    default_height: usize,
    default_size: usize,
    facing_from_element: usize,
    facing_from_nearest: usize,
    facing_guessed: usize,
}

fn import_signs(
    osm: &Osm,
    geometry: &HashMap<&str, Vec<Vec3>>,
    positions: &HashMap<&str, Vec3>,
    lanelets: &[Lanelet],
    options: &ImportOptions,
    path: &Path,
    report: &mut ImportReport,
) -> Result<Vec<Sign>, MapError> {
    let has_ele: HashMap<&str, bool> = osm.nodes.iter().map(|n| (n.id, n.ele.is_some())).collect();
    if let Some(empty) = osm
        .ways
        .iter()
        .find(|w| w.tags.is("type", "traffic_sign") && w.nodes.is_empty())
    {
        return Err(MapError::invalid(
            path,
            &empty.place,
            "a traffic_sign way without nodes",
        ));
    }
    let sign_ways = osm
        .ways
        .iter()
        .filter(|w| w.tags.is("type", "traffic_sign"))
        .map(|way| SignSource {
            key: ("way", way.id),
            place: &way.place,
            tags: &way.tags,
            points: geometry[way.id].clone(),
            has_ele: way.nodes.iter().all(|id| has_ele[id]),
        });
    let sign_nodes = osm
        .nodes
        .iter()
        .filter(|n| n.tags.is("type", "traffic_sign"))
        .map(|node| SignSource {
            key: ("node", node.id),
            place: &node.place,
            tags: &node.tags,
            points: vec![positions[node.id]],
            has_ele: node.ele.is_some(),
        });
    let elements: Vec<&OsmRelation> = osm.relations_of_type("regulatory_element").collect();
    let mut tally = SignTally::default();
    let mut signs = Vec::new();
    for source in sign_ways.chain(sign_nodes) {
        let referring: Vec<&OsmRelation> = elements
            .iter()
            .copied()
            .filter(|e| {
                e.members_with_role("refers")
                    .any(|m| (m.kind, m.id) == source.key)
            })
            .collect();
        let class = sign_class(source.tags.get("subtype"), &referring);
        let approached = approached_lanelets(&class, &referring, lanelets);
        let face_height = source
            .tags
            .get("height")
            .map(|h| number(h, "height", source.place, path))
            .transpose()?;
        let sign = place_sign(
            &source,
            class,
            face_height,
            &approached,
            lanelets,
            options,
            &mut tally,
        );
        signs.push(sign);
    }

    let lights = osm
        .ways
        .iter()
        .filter(|w| w.tags.is("type", "traffic_light"))
        .count();
    report.notes.push(format!(
        "{} signs; {lights} traffic lights not imported (no sign class)",
        signs.len()
    ));
    let SignTally {
        default_height,
        default_size,
        facing_from_element,
        facing_from_nearest,
        facing_guessed,
    } = tally;
    if default_height > 0 {
        report.notes.push(format!(
            "{default_height} signs without `ele`: centre placed {} m above the nearest lanelet boundary",
            options.default_sign_height
        ));
    }
    if default_size > 0 {
        report.notes.push(format!(
            "{default_size} signs whose linestring is no plausible face width: face {DEFAULT_SIGN_SIZE} m wide"
        ));
    }
    report.notes.push(format!(
        "sign facing: {facing_from_element} towards the lanelets of their regulatory element, \
         {facing_from_nearest} towards the nearest lanelet, {facing_guessed} without a lanelet to decide"
    ));
    Ok(signs)
}

/// A sign's class from its code, refined by what its regulatory elements say: a speed
/// limit's `sign_type` value (`"50 km/h"`), or the `sign_type` code where the sign has none.
fn sign_class(code: Option<&str>, referring: &[&OsmRelation]) -> SignClass {
    let element_sign_type = referring.iter().find_map(|e| e.tags.get("sign_type"));
    let speed_kmh = referring
        .iter()
        .filter(|e| e.tags.is("subtype", "speed_limit"))
        .find_map(|e| {
            e.tags
                .get("sign_type")
                .or(e.tags.get("speed_limit"))
                .and_then(speed_in_kmh)
        });
    let code = code
        .or(element_sign_type.filter(|t| speed_in_kmh(t).is_none()))
        .unwrap_or("(none)")
        .trim();
    match code.to_ascii_lowercase().as_str() {
        "stop_sign" | "stop" => SignClass::Gtsrb(14),
        "yield" | "give_way" | "yield_sign" => SignClass::Gtsrb(13),
        lower if lower.starts_with("de") || lower.starts_with(|c: char| c.is_ascii_digit()) => {
            SignClass::from_german_code(code, None, speed_kmh)
        }
        _ => SignClass::Other(code.to_owned()),
    }
}

/// A speed in km/h from text such as `50`, `50 km/h`, `30 mph` or `13.9 mps`.
fn speed_in_kmh(text: &str) -> Option<f64> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let value: f64 = text[..digits_end].parse().ok()?;
    let factor = match text[digits_end..].trim().to_ascii_lowercase().as_str() {
        "" | "km/h" | "kmh" | "kph" => 1.0,
        "mph" => 1.609_344,
        "mps" | "m/s" => 3.6,
        _ => return None,
    };
    Some(value * factor)
}

/// Indices of the lanelets whose traffic a sign speaks to, by its regulatory elements.
fn approached_lanelets(
    class: &SignClass,
    referring: &[&OsmRelation],
    lanelets: &[Lanelet],
) -> Vec<usize> {
    let role = match class.gtsrb() {
        Some(13 | 14) => Some("yield"),
        Some(11 | 12) => Some("right_of_way"),
        _ => None,
    };
    let mut found = Vec::new();
    for element in referring {
        let by_role: Vec<&str> = role
            .into_iter()
            .flat_map(|r| element.members_with_role(r))
            .map(|m| m.id)
            .collect();
        for (index, lanelet) in lanelets.iter().enumerate() {
            let named = if by_role.is_empty() {
                lanelet.regulatory_elements.contains(&element.id)
            } else {
                by_role.contains(&lanelet.id)
            };
            if named && !found.contains(&index) {
                found.push(index);
            }
        }
    }
    found
}

fn place_sign(
    source: &SignSource,
    class: SignClass,
    face_height: Option<f64>,
    approached: &[usize],
    lanelets: &[Lanelet],
    options: &ImportOptions,
    tally: &mut SignTally,
) -> Sign {
    let (first, last) = (source.points[0], source.points[source.points.len() - 1]);
    let base = (first + last) / 2.0;
    let nearest_of = |indices: &mut dyn Iterator<Item = usize>| {
        indices
            .filter_map(|i| lanelets[i].nearest(&base))
            .min_by(|p, q| p.distance.total_cmp(&q.distance))
    };
    let nearest = match nearest_of(&mut approached.iter().copied()) {
        Some(found) => {
            tally.facing_from_element += 1;
            Some(found)
        }
        None => {
            let found = nearest_of(&mut (0..lanelets.len()).filter(|&i| lanelets[i].for_vehicles));
            if found.is_some() {
                tally.facing_from_nearest += 1;
            }
            found
        }
    };

    let along = horizontal(&(last - first));
    let left_of_way = Vec3::new(-along.y, along.x, 0.0).normalize();
    // The face's normal, on the side the traffic comes from (against its travel). A
    // linestring within 30° of the travel direction cannot be the face: the sign then
    // faces the traffic squarely.
    let normal = match (&nearest, along.norm() > 1e-3) {
        (Some(near), true) if left_of_way.dot(&near.travel).abs() >= 0.5 => {
            -left_of_way * left_of_way.dot(&near.travel).signum()
        }
        (Some(near), _) => -near.travel,
        (None, true) => {
            tally.facing_guessed += 1;
            left_of_way
        }
        (None, false) => {
            tally.facing_guessed += 1;
            Vec3::new(0.0, 1.0, 0.0)
        }
    };

    let mut width = along.norm();
    if !PLAUSIBLE_SIGN_WIDTH.contains(&width) {
        width = DEFAULT_SIGN_SIZE;
        tally.default_size += 1;
    }
    let face_height = face_height.filter(|h| *h > 0.0).unwrap_or(width);
    let ground = nearest.as_ref().map_or(base.z, |near| near.ground);
    let centre_z = if source.has_ele {
        base.z + face_height / 2.0
    } else {
        tally.default_height += 1;
        ground + options.default_sign_height
    };
    Sign {
        id: format!("{}/{}", source.key.0, source.key.1),
        level: 0,
        class,
        position: Vec3::new(base.x, base.y, centre_z),
        width,
        height: face_height,
        facing: normal.x.atan2(normal.y),
        mounting: if centre_z - ground >= OVERHEAD_CLEARANCE {
            Mounting::Overhead
        } else {
            Mounting::Pole
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapfix_core::pose::wrap_angle;
    use proptest::prelude::*;
    use std::f64::consts::FRAC_PI_2;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/maps")
            .join(name)
    }

    fn import_file(path: &Path) -> Result<(Map, ImportReport), MapError> {
        let text = std::fs::read_to_string(path).expect("fixture readable");
        import(&text, path, &ImportOptions::default())
    }

    fn tiny() -> (Map, ImportReport) {
        import_file(&fixture("tiny.osm")).expect("tiny.osm imports")
    }

    fn sign<'m>(map: &'m Map, id: &str) -> &'m Sign {
        map.signs
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("no sign {id}"))
    }

    fn lane_line<'m>(map: &'m Map, id: &str) -> &'m LaneLine {
        map.lane_lines
            .iter()
            .find(|l| l.line.id == id)
            .unwrap_or_else(|| panic!("no lane line {id}"))
    }

    fn assert_noted(report: &ImportReport, text: &str) {
        let notes = &report.notes;
        assert!(
            notes.iter().any(|n| n.contains(text)),
            "no note says {text:?}: {notes:#?}"
        );
    }

    #[test]
    fn tiny_map_counts_and_line_styles() {
        let (map, report) = tiny();
        assert_eq!(map.name, "tiny");
        assert_eq!(
            map.lane_lines.len(),
            3,
            "the shared centre line once, the unused yellow line too"
        );
        assert_eq!(map.road_edges.len(), 2);
        assert_eq!(map.stop_lines.len(), 1);
        assert_eq!(map.signs.len(), 4, "the traffic light is no sign");
        let dashed = lane_line(&map, "way/101");
        assert_eq!(
            (dashed.style, dashed.color),
            (LineStyle::Dashed, LineColor::White)
        );
        assert_eq!(dashed.line.points.len(), 3);
        let double = lane_line(&map, "way/103");
        assert_eq!(
            (double.style, double.color),
            (LineStyle::Double, LineColor::Yellow)
        );
        assert_eq!(lane_line(&map, "way/105").style, LineStyle::Solid);
        assert_noted(&report, "3 lanelets");
        assert_noted(&report, "virtual 1");
        assert_noted(&report, "1 traffic lights not imported");
        assert_noted(&report, "origin: centre of the nodes' lat/lon bounds");
    }

    #[test]
    fn tiny_map_sign_classes() {
        let (map, report) = tiny();
        assert_eq!(
            sign(&map, "way/200").class,
            SignClass::Gtsrb(14),
            "de206 stop"
        );
        assert_eq!(
            sign(&map, "way/201").class,
            SignClass::Gtsrb(13),
            "de205 give way"
        );
        assert_eq!(
            sign(&map, "way/202").class,
            SignClass::Other("de1020-30".into())
        );
        assert_eq!(
            sign(&map, "way/203").class,
            SignClass::Gtsrb(2),
            "de274 + speed_limit 50 km/h"
        );
        assert_eq!(
            report.other_sign_codes,
            BTreeMap::from([("de1020-30".to_owned(), 1)])
        );
    }

    #[test]
    fn tiny_map_sign_heights_and_sizes() {
        let (map, report) = tiny();
        // Linestring at ele 3.0 along the face's bottom edge, face 0.8 m tall.
        let stop = sign(&map, "way/200");
        assert!((stop.position.z - 3.4).abs() < 1e-3, "{}", stop.position.z);
        assert!((stop.height - 0.8).abs() < 1e-9);
        assert!((stop.width - 0.6).abs() < 1e-3, "{}", stop.width);
        // No ele: the default 2.5 m above the road, whose nodes are at ele 1.0.
        let give_way = sign(&map, "way/201");
        assert!(
            (give_way.position.z - 3.5).abs() < 1e-3,
            "{}",
            give_way.position.z
        );
        // Square face without a height tag.
        assert!((sign(&map, "way/202").height - 0.6).abs() < 1e-3);
        assert_noted(&report, "1 signs without `ele`");
        assert!(map.signs.iter().all(|s| s.mounting == Mounting::Pole));

        let path = fixture("tiny.osm");
        let text = std::fs::read_to_string(&path).unwrap();
        let taller = ImportOptions {
            default_sign_height: 3.0,
            ..ImportOptions::default()
        };
        let (map, _) = import(&text, &path, &taller).unwrap();
        assert!((sign(&map, "way/201").position.z - 4.0).abs() < 1e-3);
    }

    #[test]
    fn tiny_map_signs_face_their_traffic() {
        let (map, report) = tiny();
        let assert_facing = |id, expected: f64| {
            let facing = sign(&map, id).facing;
            assert!(
                wrap_angle(facing - expected).abs() < 1e-3,
                "{id} faces {facing}, not {expected}"
            );
        };
        // Eastbound traffic approaches from the west, so those signs face west.
        assert_facing("way/200", -FRAC_PI_2);
        assert_facing("way/203", -FRAC_PI_2);
        // The give-way sign is for the yielding westbound lanelet: it faces east.
        assert_facing("way/201", FRAC_PI_2);
        // No regulatory element: the nearest lanelet (eastbound) decides.
        assert_facing("way/202", -FRAC_PI_2);
        assert_noted(
            &report,
            "3 towards the lanelets of their regulatory element, 1 towards the nearest",
        );
    }

    /// One eastbound lanelet from 8.4° E to 8.401° E just south of 49° N, with `signs`.
    fn one_lanelet_with(signs: &str) -> Map {
        let text = format!(
            "<osm>\
            <node id='1' lat='49' lon='8.4'/><node id='2' lat='49' lon='8.401'/>\
            <node id='3' lat='48.99997' lon='8.4'/><node id='4' lat='48.99997' lon='8.401'/>\
            <way id='7'><nd ref='1'/><nd ref='2'/></way><way id='8'><nd ref='3'/><nd ref='4'/></way>\
            <relation id='10'><member type='way' ref='7' role='left'/><member type='way' ref='8' role='right'/>\
            <tag k='type' v='lanelet'/></relation>{signs}</osm>"
        );
        import(&text, Path::new("one.osm"), &ImportOptions::default())
            .unwrap()
            .0
    }

    #[test]
    fn sign_drawn_along_the_road_faces_the_traffic() {
        let map = one_lanelet_with(
            "<node id='5' lat='48.99996' lon='8.4005'/><node id='6' lat='48.99996' lon='8.40051'/>\
            <way id='9'><nd ref='5'/><nd ref='6'/><tag k='type' v='traffic_sign'/><tag k='subtype' v='de205'/></way>",
        );
        let facing = map.signs[0].facing;
        assert!(wrap_angle(facing + FRAC_PI_2).abs() < 1e-3, "{facing}");
    }

    #[test]
    fn sign_on_a_node() {
        let map = one_lanelet_with(
            "<node id='5' lat='48.99996' lon='8.4005'>\
            <tag k='type' v='traffic_sign'/><tag k='subtype' v='de206'/><tag k='ele' v='2'/></node>",
        );
        let stop = &map.signs[0];
        assert_eq!(
            (stop.id.as_str(), &stop.class),
            ("node/5", &SignClass::Gtsrb(14))
        );
        assert!(
            wrap_angle(stop.facing + FRAC_PI_2).abs() < 1e-3,
            "{}",
            stop.facing
        );
        assert!((stop.position.z - (2.0 + DEFAULT_SIGN_SIZE / 2.0)).abs() < 1e-3);
    }

    #[test]
    fn local_coordinates_keep_their_geometry() {
        let (map, report) = tiny();
        let yellow = &lane_line(&map, "way/103").line;
        // The local coordinates say 80.000 m; the rounded lat/lon would say 80.05 m.
        assert!((yellow.length() - 80.0).abs() < 1e-3, "{}", yellow.length());
        // Tied to lat/lon: 10 m north of the centre line, the local frame's 1° turn undone.
        let centre = &lane_line(&map, "way/101").line;
        for (on_yellow, on_centre) in yellow.points.iter().zip(&centre.points) {
            let offset = on_yellow - on_centre;
            assert!(
                (offset - Vec3::new(0.0, 10.0, 0.0)).norm() < 0.05,
                "{offset}"
            );
        }
        assert_noted(&report, "local frame rotated 1.000°");
    }

    #[test]
    fn only_local_coordinates_use_the_given_origin() {
        let text = r#"<osm>
            <node id="1"><tag k="local_x" v="5"/><tag k="local_y" v="-2"/><tag k="ele" v="0.5"/></node>
            <node id="2"><tag k="local_x" v="25"/><tag k="local_y" v="-2"/></node>
            <way id="3"><nd ref="1"/><nd ref="2"/><tag k="type" v="stop_line"/></way>
        </osm>"#;
        let origin = Geodetic::from_degrees(35.9, 139.9, 10.0);
        let options = ImportOptions {
            origin: Some(origin),
            ..ImportOptions::default()
        };
        let (map, _) = import(text, Path::new("local.osm"), &options).unwrap();
        assert_eq!(map.frame.origin(), origin);
        assert_eq!(
            map.stop_lines[0].points,
            vec![Vec3::new(5.0, -2.0, 0.5), Vec3::new(25.0, -2.0, 0.0)]
        );
    }

    #[test]
    fn truncated_file_names_file_and_place() {
        let path = fixture("truncated.osm");
        let error = import_file(&path).unwrap_err();
        let MapError::Invalid {
            path: named,
            place,
            message,
        } = &error
        else {
            panic!("{error}")
        };
        assert_eq!(named, &path);
        assert_eq!(place, "line 94, column 37");
        assert!(message.contains("truncated"), "{message}");
        assert!(error.to_string().contains("truncated.osm"), "{error}");
    }

    /// Imports `text` as `bad.osm`, expecting an error whose message has all of `wanted`.
    fn assert_error_mentions(text: &str, wanted: &[&str]) {
        let options = ImportOptions::default();
        let message = import(text, Path::new("bad.osm"), &options)
            .unwrap_err()
            .to_string();
        for part in wanted.iter().chain(&["bad.osm"]) {
            assert!(message.contains(part), "{message:?} lacks {part:?}");
        }
    }

    #[test]
    fn malformed_xml_names_the_line() {
        assert_error_mentions(
            "<osm>\n  <node id='1' lat='49' lon='8'>\n  </way>\n</osm>",
            &["line 3"],
        );
    }

    #[test]
    fn way_with_missing_node_is_named() {
        let text = "<osm>\n<node id='1' lat='49' lon='8.4'/>\n<way id='77'><nd ref='1'/><nd ref='2'/></way>\n</osm>";
        assert_error_mentions(text, &["way 77 (line 3)", "node 2"]);
    }

    #[test]
    fn node_without_lat_lon_is_named() {
        let text = "<osm>\n<node id='1' lat='49' lon='8.4'/>\n<node id='5'/>\n</osm>";
        assert_error_mentions(text, &["node 5 (line 3)", "missing lat/lon"]);
        assert_error_mentions(
            "<osm><node id='9' lat='49' lon='east'/></osm>",
            &["node 9", "lon 'east'"],
        );
    }

    #[test]
    fn lanelet_with_missing_bound_is_named() {
        let text = "<osm><node id='1' lat='49' lon='8.4'/><node id='2' lat='49' lon='8.41'/>\
            <way id='3'><nd ref='1'/><nd ref='2'/></way>\
            <relation id='4'><member type='way' ref='3' role='left'/><member type='way' ref='8' role='right'/>\
            <tag k='type' v='lanelet'/></relation></osm>";
        assert_error_mentions(text, &["relation 4", "way 8"]);
    }

    #[test]
    fn speeds_with_units() {
        assert_eq!(speed_in_kmh("50 km/h"), Some(50.0));
        assert_eq!(speed_in_kmh("30"), Some(30.0));
        assert!((speed_in_kmh("30 mph").unwrap() - 48.28).abs() < 0.01);
        assert_eq!(speed_in_kmh("fast"), None);
        assert_eq!(speed_in_kmh("50 knots"), None);
    }

    proptest! {
        #[test]
        fn local_frame_fit_recovers_a_rigid_motion(
            angle in -3.1f64..3.1,
            shift in (-1e4f64..1e4, -1e4f64..1e4),
            points in prop::collection::vec((-500f64..500.0, -500f64..500.0), 2..20),
        ) {
            prop_assume!(points.iter().any(|p| (p.0 - points[0].0).hypot(p.1 - points[0].1) > 1.0));
            let truth = LocalToEnu { cos: angle.cos(), sin: angle.sin(), shift };
            let pairs: Vec<_> = points.iter().map(|&p| (p, truth.apply(p))).collect();
            let fit = LocalToEnu::fit(&pairs);
            prop_assert!(wrap_angle(fit.sin.atan2(fit.cos) - angle).abs() < 1e-9);
            prop_assert!((fit.shift.0 - shift.0).abs() < 1e-6 && (fit.shift.1 - shift.1).abs() < 1e-6);
        }
    }

    /// The real maps in `../shared/data/maps` (present in CI beside the clone).
    fn shared_map(relative: &str) -> Option<PathBuf> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/maps")
            .join(relative);
        if path.exists() {
            Some(path)
        } else {
            println!("skipped: {} is not here", path.display());
            None
        }
    }

    fn classes(map: &Map) -> BTreeMap<SignClass, usize> {
        let mut counts = BTreeMap::new();
        for sign in &map.signs {
            *counts.entry(sign.class.clone()).or_default() += 1;
        }
        counts
    }

    #[test]
    fn karlsruhe_example_map() {
        let Some(path) = shared_map("lanelet2-karlsruhe/mapping_example.osm") else {
            return;
        };
        let (map, report) = import_file(&path).unwrap();
        assert_eq!(map.signs.len(), 11);
        assert_eq!(
            classes(&map),
            BTreeMap::from([
                (SignClass::Gtsrb(11), 5),
                (SignClass::Gtsrb(13), 5),
                (SignClass::Other("de274_1".into()), 1),
            ])
        );
        assert_eq!(
            report.other_sign_codes,
            BTreeMap::from([("de274_1".to_owned(), 1)])
        );
        assert_eq!(map.lane_lines.len(), 187);
        assert_eq!(map.stop_lines.len(), 28);
        assert_eq!(map.road_edges.len(), 563);
        // No sign has ele: all stand the default 2.5 m above the road beside them (at ele 0,
        // which is up to 0.2 m below the origin's tangent plane at the map's ends).
        for sign in &map.signs {
            let road = map
                .lane_lines
                .iter()
                .map(|l| &l.line)
                .chain(&map.road_edges)
                .flat_map(|l| &l.points)
                .min_by(|p, q| {
                    horizontal(&(*p - sign.position))
                        .norm()
                        .total_cmp(&horizontal(&(*q - sign.position)).norm())
                })
                .unwrap();
            assert!(
                (sign.position.z - road.z - 2.5).abs() < 0.01,
                "{} at {} over {}",
                sign.id,
                sign.position.z,
                road.z
            );
        }
        let origin = map.frame.origin();
        assert!(
            (49.0..49.01).contains(&origin.lat_deg()) && (8.42..8.45).contains(&origin.lon_deg())
        );
    }

    #[test]
    fn kashiwanoha_map() {
        let Some(path) = shared_map("lanelet2-kashiwanoha/lanelet2_map.osm") else {
            return;
        };
        let (map, report) = import_file(&path).unwrap();
        assert_eq!(classes(&map), BTreeMap::from([(SignClass::Gtsrb(14), 1)]));
        assert!(report.other_sign_codes.is_empty());
        assert_eq!(map.lane_lines.len(), 29);
        assert_eq!(map.stop_lines.len(), 2);
        // The stop sign's linestring is at ele 0.94–0.96 (its bottom edge), the road at -0.9.
        let stop = &map.signs[0];
        assert!(
            (stop.position.z - (0.95 + stop.height / 2.0)).abs() < 0.02,
            "{}",
            stop.position.z
        );
    }
}
