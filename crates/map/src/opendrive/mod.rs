//! OpenDRIVE (`.xodr`) import: roads' reference lines, lanes, road marks, signals and
//! objects become mapfix lane lines, road edges, stop lines, signs and poles.
//!
//! What is read, and how:
//! - plan view: `line`, `arc`, `spiral` (clothoid, integrated to machine precision),
//!   `poly3` (by arc length) and `paramPoly3` (`arcLength` or `normalized`); lines are
//!   sampled every [`ImportOptions::sample_step`] metres and at every geometry start;
//! - `elevationProfile` gives the height of the reference line; the lateral profile
//!   (superelevation, shape) is ignored, so a lane boundary has the height of the
//!   reference line at its s (the report says when a file has superelevation);
//! - `laneOffset`, `laneSection`s, lane `width` (or `border`) records place each lane's
//!   outer boundary; each `roadMark` other than `none` becomes a [`LaneLine`] along it
//!   (solid → solid, broken and Botts' dots → dashed, the two-line types → double;
//!   yellow → yellow, white and standard → white); the outer boundary of the carriageway
//!   (driving, shoulder, parking … lanes) on each side is a road edge, except on
//!   connecting roads inside junctions;
//! - `signals` and `objects`: see [`signals`] for placement and facing; German codes
//!   (country `DE`, `DEU`, `OpenDRIVE` or none) map to GTSRB classes, other codes are kept
//!   as [`SignClass::Other`](crate::SignClass::Other) and counted; traffic lights and road
//!   markings given as signals (flat on the road) are counted in the notes, StVO 294
//!   becomes a stop line, `pole`/`streetLamp` objects become poles;
//!   `signalReference`s are ignored (they repeat a signal for another road);
//! - `header/geoReference` (`+proj=tmerc`/`+proj=utm`, see [`projection`]) and
//!   `header/offset` place the file's frame on WGS84: the map's origin is the file's (0, 0),
//!   and every point is projected to WGS84 and then into that local ENU frame. Without a
//!   usable geoReference the file's x, y are taken as east, north around
//!   [`ImportOptions::origin`] (or 0° N 0° E); the report's notes say which was used.

mod geometry;
mod lanes;
pub mod projection;
pub mod signals;

use crate::{xml, ImportOptions, ImportReport, LaneLine, Map, MapError, Polyline};
use geometry::{CubicProfile, Geometry, Pose2, ReferenceLine, Shape};
use lanes::{Lane, LaneSection, RoadMark, SectionSamples};
use mapfix_core::{Geodetic, LocalFrame, Vec3};
use projection::TransverseMercator;
use roxmltree::{Document, Node};
use signals::{FacingConvention, FurnitureReader, RoadFurniture, RoadPlacement};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// Imports an OpenDRIVE document; `path` names the file in errors and provenance.
pub fn import(
    text: &str,
    path: &Path,
    options: &ImportOptions,
) -> Result<(Map, ImportReport), MapError> {
    if !(options.sample_step > 0.0 && options.sample_step.is_finite()) {
        return Err(MapError::invalid(
            path,
            "import options",
            format!(
                "sample step must be a positive number of metres, not {}",
                options.sample_step
            ),
        ));
    }
    let document = xml::parse(text, path)?;
    let root = document.root_element();
    let header = root.children().find(|n| n.has_tag_name("header"));
    let exporter = header
        .into_iter()
        .flat_map(|h| h.descendants())
        .find(|n| n.has_tag_name("vectorScene"))
        .and_then(|n| n.attribute("program"));
    let context = Context {
        path,
        document: &document,
        facing: if exporter == Some("RoadRunner") {
            FacingConvention::ModelHeading
        } else {
            FacingConvention::Standard
        },
    };
    if !root.has_tag_name("OpenDRIVE") {
        return Err(context.invalid(
            root,
            format!(
                "root element is <{}>, not <OpenDRIVE>",
                root.tag_name().name()
            ),
        ));
    }
    let mut report = ImportReport::default();
    if context.facing == FacingConvention::ModelHeading {
        report.notes.push(
            "RoadRunner export: sign faces turned by their heading offset from looking back \
             along the road, orientation not used for facing (RoadRunner's convention)"
                .into(),
        );
    }
    let placement = Placement::from_header(&context, header, options, &mut report)?;
    let name = header
        .and_then(|h| h.attribute("name"))
        .filter(|n| !n.trim().is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "opendrive".into(), |s| s.to_string_lossy().into_owned())
        });
    let mut map = Map::new(name, placement.frame);
    map.provenance = format!(
        "OpenDRIVE {}.{} import of {}",
        header.and_then(|h| h.attribute("revMajor")).unwrap_or("?"),
        header.and_then(|h| h.attribute("revMinor")).unwrap_or("?"),
        path.display()
    );
    let mut tally = Tally::default();
    for road in root.children().filter(|n| n.has_tag_name("road")) {
        read_road(&context, road, options, &placement, &mut map, &mut tally)?;
    }
    make_ids_unique(&mut map, &mut tally);
    report.count_other_signs(&map.signs);
    report.notes.extend(
        tally
            .counts
            .into_iter()
            .map(|(what, count)| format!("{count}× {what}")),
    );
    Ok((map, report))
}

/// Makes every feature id unique: files reuse signal and object ids, even within a road.
fn make_ids_unique(map: &mut Map, tally: &mut Tally) {
    let mut seen = HashSet::new();
    let ids = map
        .signs
        .iter_mut()
        .map(|s| &mut s.id)
        .chain(map.lane_lines.iter_mut().map(|l| &mut l.line.id))
        .chain(
            map.stop_lines
                .iter_mut()
                .chain(map.road_edges.iter_mut())
                .map(|l| &mut l.id),
        )
        .chain(map.poles.iter_mut().map(|p| &mut p.id));
    for id in ids {
        if !seen.insert(id.clone()) {
            let free = (2..)
                .map(|n| format!("{id}#{n}"))
                .find(|c| !seen.contains(c))
                .unwrap();
            *id = free;
            seen.insert(id.clone());
            tally.add("features whose id the file used before: suffixed #2, #3 …".into());
        }
    }
}

/// Counts of things skipped or assumed, reported once each with their number.
#[derive(Default)]
pub(crate) struct Tally {
    counts: BTreeMap<String, usize>,
}

impl Tally {
    pub fn add(&mut self, what: String) {
        *self.counts.entry(what).or_default() += 1;
    }
}

/// The document being read, for attribute access with errors that name file and line.
pub(crate) struct Context<'a, 'input> {
    path: &'a Path,
    document: &'a Document<'input>,
    /// How this file's signals and objects turn their faces.
    facing: FacingConvention,
}

impl Context<'_, '_> {
    /// "line L, column C, <element> (road R)" for an element.
    fn place(&self, node: Node) -> String {
        let pos = self.document.text_pos_at(node.range().start);
        let road = node
            .ancestors()
            .find(|n| n.has_tag_name("road"))
            .and_then(|r| r.attribute("id"))
            .map(|id| format!(" of road {id}"))
            .unwrap_or_default();
        format!(
            "line {}, column {}, <{}>{road}",
            pos.row,
            pos.col,
            node.tag_name().name()
        )
    }

    fn invalid(&self, node: Node, message: impl Into<String>) -> MapError {
        MapError::invalid(self.path, self.place(node), message)
    }

    fn optional(&self, node: Node, attribute: &str) -> Result<Option<f64>, MapError> {
        node.attribute(attribute)
            .map(|text| {
                xml::number(text).ok_or_else(|| {
                    self.invalid(
                        node,
                        format!("attribute `{attribute}` is not a number: '{text}'"),
                    )
                })
            })
            .transpose()
    }

    fn required(&self, node: Node, attribute: &str) -> Result<f64, MapError> {
        self.optional(node, attribute)?
            .ok_or_else(|| self.invalid(node, format!("missing required attribute `{attribute}`")))
    }

    fn required_text<'n>(&self, node: Node<'n, '_>, attribute: &str) -> Result<&'n str, MapError> {
        node.attribute(attribute)
            .ok_or_else(|| self.invalid(node, format!("missing required attribute `{attribute}`")))
    }

    /// Cubic coefficients from attributes a, b, c, d (or with a suffix, as aU … dV).
    fn cubic(&self, node: Node, suffix: &str) -> Result<[f64; 4], MapError> {
        let mut k = [0.0; 4];
        for (value, letter) in k.iter_mut().zip(["a", "b", "c", "d"]) {
            *value = self.required(node, &format!("{letter}{suffix}"))?;
        }
        Ok(k)
    }

    /// `<tag s|sOffset a b c d>` children of `parent` as a profile over absolute s.
    fn profile(
        &self,
        parent: Option<Node>,
        tag: &str,
        start_key: &str,
        base: f64,
    ) -> Result<CubicProfile, MapError> {
        let mut records = Vec::new();
        for node in parent
            .into_iter()
            .flat_map(|p| p.children())
            .filter(|n| n.has_tag_name(tag))
        {
            records.push((
                base + self.required(node, start_key)?,
                self.cubic(node, "")?,
            ));
        }
        records.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(CubicProfile { records })
    }
}

fn child<'a, 'input>(node: Node<'a, 'input>, tag: &str) -> Option<Node<'a, 'input>> {
    node.children().find(|n| n.has_tag_name(tag))
}

/// How the file's inertial x, y, z reach the map's ENU frame.
struct Placement {
    /// `<header><offset>`: file coordinates are turned by `hdg` and then shifted by x, y, z.
    offset: [f64; 4],
    projection: Option<TransverseMercator>,
    frame: LocalFrame,
}

impl Placement {
    fn from_header(
        context: &Context,
        header: Option<Node>,
        options: &ImportOptions,
        report: &mut ImportReport,
    ) -> Result<Self, MapError> {
        let mut offset = [0.0; 4];
        if let Some(node) = header.and_then(|h| child(h, "offset")) {
            for (value, key) in offset.iter_mut().zip(["x", "y", "z", "hdg"]) {
                *value = context.optional(node, key)?.unwrap_or(0.0);
            }
            report.notes.push(format!(
                "header offset applied: x {} m, y {} m, z {} m, hdg {} rad",
                offset[0], offset[1], offset[2], offset[3]
            ));
        }
        let proj_text: Option<String> = header.and_then(|h| child(h, "geoReference")).map(|node| {
            node.descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect::<String>()
                .trim()
                .to_owned()
        });
        let projection = match proj_text.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(text) => match projection::parse_proj(text) {
                Ok(definition) => {
                    report.notes.extend(
                        definition
                            .notes
                            .into_iter()
                            .map(|n| format!("geoReference: {n}")),
                    );
                    Some(definition.projection)
                }
                Err(reason) => {
                    report
                        .notes
                        .push(format!("geoReference '{text}' not used: {reason}"));
                    None
                }
            },
        };
        let origin = match &projection {
            Some(projection) => {
                let (lat, lon) = projection.inverse(offset[0], offset[1]);
                let origin = Geodetic {
                    lat,
                    lon,
                    height: 0.0,
                };
                report.notes.push(format!(
                    "origin: the file's (0, 0) placed by its geoReference at {:.8}° N, {:.8}° E",
                    origin.lat_deg(),
                    origin.lon_deg()
                ));
                origin
            }
            None => {
                let origin = options.origin.unwrap_or(Geodetic {
                    lat: 0.0,
                    lon: 0.0,
                    height: 0.0,
                });
                let source = if options.origin.is_some() {
                    "the given origin"
                } else {
                    "0° N 0° E (no origin given)"
                };
                report.notes.push(format!(
                    "origin: no usable geoReference, the file's x, y taken as east, north from {source} at {:.8}° N, {:.8}° E",
                    origin.lat_deg(),
                    origin.lon_deg()
                ));
                origin
            }
        };
        Ok(Self {
            offset,
            projection,
            frame: LocalFrame::new(origin),
        })
    }

    fn to_world(&self, x: f64, y: f64, z: f64) -> Vec3 {
        let [dx, dy, dz, hdg] = self.offset;
        let (sin, cos) = hdg.sin_cos();
        let (px, py, pz) = (cos * x - sin * y + dx, sin * x + cos * y + dy, z + dz);
        match &self.projection {
            Some(projection) => {
                let (lat, lon) = projection.inverse(px, py);
                self.frame.to_enu(&Geodetic {
                    lat,
                    lon,
                    height: pz,
                })
            }
            None => Vec3::new(px, py, pz),
        }
    }
}

fn read_road(
    context: &Context,
    road: Node,
    options: &ImportOptions,
    placement: &Placement,
    map: &mut Map,
    tally: &mut Tally,
) -> Result<(), MapError> {
    let road_id = context.required_text(road, "id")?;
    let plan_view =
        child(road, "planView").ok_or_else(|| context.invalid(road, "road has no <planView>"))?;
    let mut geometries = plan_view
        .children()
        .filter(|n| n.has_tag_name("geometry"))
        .map(|node| read_geometry(context, node))
        .collect::<Result<Vec<_>, _>>()?;
    if geometries.is_empty() {
        return Err(context.invalid(plan_view, "plan view has no <geometry>"));
    }
    geometries.sort_by(|a, b| a.s.total_cmp(&b.s));
    let road_end = match context.optional(road, "length")? {
        Some(length) => geometries[0].s + length,
        None => geometries.last().map_or(0.0, |g| g.s + g.length),
    };
    let reference = ReferenceLine { geometries };
    let elevation = context.profile(child(road, "elevationProfile"), "elevation", "s", 0.0)?;
    let superelevation =
        context.profile(child(road, "lateralProfile"), "superelevation", "s", 0.0)?;
    if !superelevation.is_zero() {
        tally.add(
            "roads with superelevation (ignored: lane lines take the reference line's height)"
                .into(),
        );
    }
    let to_world = |x: f64, y: f64, z: f64| placement.to_world(x, y, z);
    let in_junction = road
        .attribute("junction")
        .is_some_and(|j| !j.trim().is_empty() && j.trim() != "-1");
    if let Some(lanes) = child(road, "lanes") {
        let lane_offset = context.profile(Some(lanes), "laneOffset", "s", 0.0)?;
        let sections = read_lane_sections(context, lanes, road_end)?;
        for (index, section) in sections.iter().enumerate().filter(|(_, s)| s.end > s.s) {
            let breaks: Vec<f64> = section
                .center_marks
                .iter()
                .chain(
                    section
                        .left
                        .iter()
                        .chain(&section.right)
                        .flat_map(|lane| &lane.marks),
                )
                .map(|mark| mark.s)
                .collect();
            let stations = reference.stations(section.s, section.end, options.sample_step, &breaks);
            let poses: Vec<Pose2> = stations.iter().map(|s| reference.pose_at(*s)).collect();
            let heights: Vec<f64> = stations.iter().map(|s| elevation.at(*s)).collect();
            let samples = SectionSamples::new(section, stations, poses, heights, &lane_offset);
            let prefix = format!("road{road_id}/section{index}");
            let (lines, edges): (Vec<LaneLine>, Vec<Polyline>) =
                lanes::section_features(&prefix, section, &samples, in_junction, &to_world, tally);
            map.lane_lines.extend(lines);
            map.road_edges.extend(edges);
        }
    }
    let mut reader = FurnitureReader {
        context,
        road: RoadPlacement {
            road_id,
            reference: &reference,
            elevation: &elevation,
            to_world: &to_world,
        },
        default_sign_height: options.default_sign_height,
        furniture: RoadFurniture::default(),
        tally,
    };
    let items = [child(road, "signals"), child(road, "objects")];
    for node in items.into_iter().flatten().flat_map(|n| n.children()) {
        match node.tag_name().name() {
            "signal" => reader.signal(node)?,
            "object" => reader.object(node)?,
            "signalReference" => reader
                .tally
                .add("signalReferences (repeat a signal for another road): ignored".into()),
            _ => {}
        }
    }
    let furniture = reader.furniture;
    map.signs.extend(furniture.signs);
    map.stop_lines.extend(furniture.stop_lines);
    map.poles.extend(furniture.poles);
    Ok(())
}

fn read_geometry(context: &Context, node: Node) -> Result<Geometry, MapError> {
    let s = context.required(node, "s")?;
    let start = Pose2 {
        x: context.required(node, "x")?,
        y: context.required(node, "y")?,
        hdg: context.required(node, "hdg")?,
    };
    let length = context.required(node, "length")?;
    let shape_node = node
        .children()
        .find(Node::is_element)
        .ok_or_else(|| context.invalid(node, format!("geometry at s={s} has no shape element")))?;
    let shape = match shape_node.tag_name().name() {
        "line" => Shape::Line,
        "arc" => Shape::Arc { curvature: context.required(shape_node, "curvature")? },
        "spiral" => Shape::Spiral {
            curv_start: context.required(shape_node, "curvStart")?,
            curv_end: context.required(shape_node, "curvEnd")?,
        },
        "poly3" => Shape::Poly3 { coefficients: context.cubic(shape_node, "")? },
        "paramPoly3" => Shape::ParamPoly3 {
            u: context.cubic(shape_node, "U")?,
            v: context.cubic(shape_node, "V")?,
            normalized: match shape_node.attribute("pRange").unwrap_or("normalized") {
                "normalized" => true,
                "arcLength" => false,
                other => return Err(context.invalid(shape_node, format!("unknown pRange '{other}' at s={s}"))),
            },
        },
        other => {
            return Err(context.invalid(
                shape_node,
                format!("unknown geometry <{other}> at s={s} (expected line, arc, spiral, poly3 or paramPoly3)"),
            ))
        }
    };
    Ok(Geometry {
        s,
        start,
        length,
        shape,
    })
}

fn read_lane_sections(
    context: &Context,
    lanes: Node,
    road_end: f64,
) -> Result<Vec<LaneSection>, MapError> {
    let mut sections = Vec::new();
    for node in lanes.children().filter(|n| n.has_tag_name("laneSection")) {
        let s = context.required(node, "s")?;
        let read_side = |side: &str| -> Result<Vec<Lane>, MapError> {
            let mut lanes = Vec::new();
            for lane in child(node, side)
                .into_iter()
                .flat_map(|n| n.children())
                .filter(|n| n.has_tag_name("lane"))
            {
                let id_text = context.required_text(lane, "id")?;
                let id: i32 = id_text.trim().parse().map_err(|_| {
                    context.invalid(lane, format!("lane id '{id_text}' is not an integer"))
                })?;
                let has_border = lane.children().any(|n| n.has_tag_name("border"));
                lanes.push(Lane {
                    id,
                    kind: lane.attribute("type").unwrap_or("none").to_owned(),
                    width: context.profile(Some(lane), "width", "sOffset", s)?,
                    border: if has_border {
                        Some(context.profile(Some(lane), "border", "sOffset", s)?)
                    } else {
                        None
                    },
                    marks: read_marks(context, lane, s)?,
                });
            }
            lanes.sort_by_key(|lane| lane.id.abs());
            Ok(lanes)
        };
        let center_marks = match child(node, "center").and_then(|c| child(c, "lane")) {
            Some(lane) => read_marks(context, lane, s)?,
            None => Vec::new(),
        };
        sections.push(LaneSection {
            s,
            end: road_end,
            center_marks,
            left: read_side("left")?,
            right: read_side("right")?,
        });
    }
    sections.sort_by(|a, b| a.s.total_cmp(&b.s));
    for index in 1..sections.len() {
        sections[index - 1].end = sections[index].s;
    }
    Ok(sections)
}

fn read_marks(context: &Context, lane: Node, section_s: f64) -> Result<Vec<RoadMark>, MapError> {
    let mut marks = Vec::new();
    for node in lane.children().filter(|n| n.has_tag_name("roadMark")) {
        marks.push(RoadMark {
            s: section_s + context.required(node, "sOffset")?,
            kind: context.required_text(node, "type")?.trim().to_owned(),
            color: node
                .attribute("color")
                .unwrap_or("standard")
                .trim()
                .to_owned(),
        });
    }
    marks.sort_by(|a, b| a.s.total_cmp(&b.s));
    Ok(marks)
}

#[cfg(test)]
mod tests;
