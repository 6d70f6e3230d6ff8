//! mapfix's own map file: a GeoJSON FeatureCollection (DESIGN.md §3), readable by any
//! GeoJSON tool (QGIS, geojson.io) and written so that reading it back gives the same map.
//!
//! Layout:
//! - the collection carries foreign members `name`, `provenance` and `origin`
//!   (`[lon, lat, h]`, degrees and metres: the origin of the map's ENU frame; when absent,
//!   the first coordinate in the file is used);
//! - coordinates are `[lon, lat, ele]` (WGS84 degrees, ellipsoidal metres); a 2-D
//!   position sits at the origin's height; the writer always writes three;
//! - each feature's `properties.kind` says what it is:
//!
//! | kind          | geometry   | properties                                                                 |
//! |---------------|------------|----------------------------------------------------------------------------|
//! | `sign`        | Point      | `class` 0–42 or `"other"` with `code`; `facing_deg`; `width_m`, `height_m` (default 0.6); `mounting` pole\|overhead\|wall\|ceiling (default pole) |
//! | `lane_line`   | LineString | `style` solid\|dashed\|double; `color` white\|yellow (default white)        |
//! | `stop_line`   | LineString |                                                                            |
//! | `road_edge`   | LineString |                                                                            |
//! | `pole`        | Point      | `height_m` (the point is the pole's foot)                                  |
//! | `building`    | Polygon    | `height_m` (outer ring = footprint; holes are not modelled)                |
//! | `underground` | Polygon    | `level` (negative), `ceiling_m` (ceiling height in the map's ENU up)       |
//!
//! Every feature may have an `id` (in `properties`, or the GeoJSON feature `id`) and a
//! `level` (default 0). Features without an id get `kind-N`, counting features of that
//! kind in file order from 1 and skipping ids the file already uses. Unknown extra
//! properties are ignored; an unknown `kind` is an error. Errors name the feature by its
//! index in the `features` array (from 0) and its id.

use crate::model::{
    Building, LaneLine, LineColor, LineStyle, Map, Mounting, Pole, Polyline, Sign, Underground,
};
use crate::{MapError, SignClass, GTSRB_NAMES};
use geojson::{Feature, Geometry, JsonObject, JsonValue, Value};
use mapfix_core::{Geodetic, LocalFrame, Vec3};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Side of a sign board where the file gives none: the common 600 mm German sign.
const DEFAULT_SIGN_SIZE: f64 = 0.6;

/// Reads a map file.
pub fn load(path: &Path) -> Result<Map, MapError> {
    let text = std::fs::read_to_string(path).map_err(|source| MapError::Read {
        path: path.to_owned(),
        source,
    })?;
    from_str(&text, path)
}

/// Writes a map file.
pub fn save(map: &Map, path: &Path) -> Result<(), MapError> {
    std::fs::write(path, to_string(map)).map_err(|source| MapError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Parses map text; `path` only names the source in errors.
pub fn from_str(text: &str, path: &Path) -> Result<Map, MapError> {
    from_str_with_origin(text, path, None)
}

/// Parses map text into the ENU frame around `origin`, or around the file's own origin
/// when `origin` is `None`.
pub fn from_str_with_origin(
    text: &str,
    path: &Path,
    origin: Option<Geodetic>,
) -> Result<Map, MapError> {
    let value: JsonValue = serde_json::from_str(text).map_err(|error| json_error(path, &error))?;
    let JsonValue::Object(mut collection) = value else {
        return Err(MapError::invalid(
            path,
            "top level",
            "expected a GeoJSON FeatureCollection object",
        ));
    };
    match collection.get("type").and_then(JsonValue::as_str) {
        Some("FeatureCollection") => {}
        other => {
            return Err(MapError::invalid(
                path,
                "top level",
                format!(
                    "expected \"type\": \"FeatureCollection\", found {}",
                    describe(other)
                ),
            ))
        }
    }
    let features = match collection.remove("features") {
        Some(JsonValue::Array(features)) => features,
        _ => {
            return Err(MapError::invalid(
                path,
                "top level",
                "`features` must be an array",
            ))
        }
    };
    let features = features
        .into_iter()
        .enumerate()
        .map(|(index, value)| {
            let place = match raw_id(&value) {
                Some(id) => format!("feature {index} (id {id})"),
                None => format!("feature {index}"),
            };
            Feature::from_json_value(value).map_err(|error| {
                let message = match error {
                    geojson::Error::ExpectedF64Value => {
                        "a coordinate is not a number (null or NaN)".to_owned()
                    }
                    other => format!("not a valid GeoJSON feature: {other}"),
                };
                MapError::invalid(path, place, message)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let origin = match origin {
        Some(origin) => origin,
        None => match collection.get("origin") {
            Some(value) => parse_origin(value)
                .map_err(|message| MapError::invalid(path, "`origin`", message))?,
            None => first_position(&features)
                .map(|p| Geodetic::from_degrees(p[1], p[0], p.get(2).copied().unwrap_or(0.0)))
                .unwrap_or(Geodetic::from_degrees(0.0, 0.0, 0.0)),
        },
    };
    let text_member = |key: &str| {
        collection
            .get(key)
            .and_then(JsonValue::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut map = Map::new(text_member("name"), LocalFrame::new(origin));
    map.provenance = text_member("provenance");

    let mut ids = IdAssigner::new(&features);
    let mut first_use: HashMap<String, usize> = HashMap::new();
    let frame = map.frame;
    for (index, feature) in features.iter().enumerate() {
        let properties = feature.properties.as_ref();
        let kind = properties
            .and_then(|p| p.get("kind"))
            .and_then(JsonValue::as_str);
        let id = ids.id_of(index, feature, kind);
        let reader = FeatureReader {
            path,
            index,
            id: &id,
            feature,
            frame: &frame,
            origin_height: origin.height,
        };
        if let Some(first) = first_use.insert(id.clone(), index) {
            return Err(reader.error(format!("id {id} is already used by feature {first}")));
        }
        reader.read_into(kind, &mut map)?;
    }
    Ok(map)
}

/// The map as GeoJSON text: one feature per line, so that map files diff well.
pub fn to_string(map: &Map) -> String {
    let origin = map.frame.origin();
    let json = |value: JsonValue| value.to_string();
    let writer = FeatureWriter { frame: &map.frame };
    let features: Vec<String> = writer
        .features(map)
        .map(|feature| feature.to_string())
        .collect();
    format!(
        "{{\"type\":\"FeatureCollection\",\"name\":{},\"provenance\":{},\"origin\":{},\"features\":[\n{}\n]}}\n",
        json(map.name.clone().into()),
        json(map.provenance.clone().into()),
        json(vec![origin.lon_deg(), origin.lat_deg(), origin.height].into()),
        features.join(",\n")
    )
}

/// serde_json's message without its position suffix, placed at its line and column.
fn json_error(path: &Path, error: &serde_json::Error) -> MapError {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = message.strip_suffix(&suffix).unwrap_or(&message);
    MapError::invalid(
        path,
        format!("line {}, column {}", error.line(), error.column()),
        format!("invalid JSON: {message}"),
    )
}

fn describe(value: Option<&str>) -> String {
    value.map_or("nothing".to_owned(), |v| format!("{v:?}"))
}

fn parse_origin(value: &JsonValue) -> Result<Geodetic, String> {
    let numbers: Option<Vec<f64>> = value
        .as_array()
        .and_then(|items| items.iter().map(JsonValue::as_f64).collect());
    match numbers.as_deref() {
        Some(&[lon, lat]) => {
            check_lon_lat(lon, lat).map(|()| Geodetic::from_degrees(lat, lon, 0.0))
        }
        Some(&[lon, lat, height]) if height.is_finite() => {
            check_lon_lat(lon, lat).map(|()| Geodetic::from_degrees(lat, lon, height))
        }
        _ => Err(format!(
            "expected [lon, lat] or [lon, lat, height] in degrees and metres, found {value}"
        )),
    }
}

fn check_lon_lat(lon: f64, lat: f64) -> Result<(), String> {
    if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) {
        Ok(())
    } else {
        Err(format!("longitude {lon} / latitude {lat} out of range"))
    }
}

fn first_position(features: &[Feature]) -> Option<&[f64]> {
    features
        .iter()
        .filter_map(|f| f.geometry.as_ref())
        .find_map(|g| match &g.value {
            Value::Point(p) => Some(p.as_slice()),
            Value::LineString(line) => line.first().map(Vec::as_slice),
            Value::Polygon(rings) => rings
                .first()
                .and_then(|ring| ring.first())
                .map(Vec::as_slice),
            _ => None,
        })
}

fn id_text(id: &JsonValue) -> Option<String> {
    match id {
        JsonValue::String(s) => Some(s.clone()),
        JsonValue::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The id of a feature the geojson crate could not read, to name it in the error.
fn raw_id(feature: &JsonValue) -> Option<String> {
    feature
        .get("properties")
        .and_then(|p| p.get("id"))
        .or_else(|| feature.get("id"))
        .and_then(id_text)
}

fn explicit_id(feature: &Feature) -> Option<String> {
    let from_properties = feature
        .properties
        .as_ref()
        .and_then(|p| p.get("id"))
        .and_then(id_text);
    let id = from_properties.or_else(|| {
        feature.id.as_ref().map(|id| match id {
            geojson::feature::Id::String(s) => s.clone(),
            geojson::feature::Id::Number(n) => n.to_string(),
        })
    });
    // An empty id names nothing: such a feature gets a generated one.
    id.filter(|id| !id.is_empty())
}

/// Gives features without an id the stable name `kind-N`, never one the file uses.
struct IdAssigner {
    explicit: HashSet<String>,
    counters: HashMap<String, usize>,
}

impl IdAssigner {
    fn new(features: &[Feature]) -> Self {
        Self {
            explicit: features.iter().filter_map(explicit_id).collect(),
            counters: HashMap::new(),
        }
    }

    fn id_of(&mut self, index: usize, feature: &Feature, kind: Option<&str>) -> String {
        if let Some(id) = explicit_id(feature) {
            return id;
        }
        let Some(kind) = kind else {
            return format!("feature-{index}");
        };
        let counter = self.counters.entry(kind.to_owned()).or_default();
        loop {
            *counter += 1;
            let id = format!("{kind}-{counter}");
            if !self.explicit.contains(&id) {
                return id;
            }
        }
    }
}

/// Reads one feature, knowing where it is for error messages.
struct FeatureReader<'a> {
    path: &'a Path,
    index: usize,
    id: &'a str,
    feature: &'a Feature,
    frame: &'a LocalFrame,
    origin_height: f64,
}

impl FeatureReader<'_> {
    fn error(&self, message: impl Into<String>) -> MapError {
        MapError::invalid(
            self.path,
            format!("feature {} (id {})", self.index, self.id),
            message,
        )
    }

    fn read_into(&self, kind: Option<&str>, map: &mut Map) -> Result<(), MapError> {
        let id = self.id.to_owned();
        let level = self.level()?;
        match kind {
            Some("sign") => map.signs.push(Sign {
                id,
                level,
                class: self.sign_class()?,
                position: self.point()?,
                width: self.positive_or("width_m", DEFAULT_SIGN_SIZE)?,
                height: self.positive_or("height_m", DEFAULT_SIGN_SIZE)?,
                facing: self.number("facing_deg")?.to_radians(),
                mounting: self.choice("mounting", Some(Mounting::Pole), MOUNTINGS)?,
            }),
            Some("lane_line") => map.lane_lines.push(LaneLine {
                line: Polyline { id, level, points: self.line_string()? },
                style: self.choice("style", None, STYLES)?,
                color: self.choice("color", Some(LineColor::White), COLORS)?,
            }),
            Some("stop_line") => map.stop_lines.push(Polyline { id, level, points: self.line_string()? }),
            Some("road_edge") => map.road_edges.push(Polyline { id, level, points: self.line_string()? }),
            Some("pole") => map.poles.push(Pole { id, level, base: self.point()?, height: self.positive("height_m")? }),
            Some("building") => {
                map.buildings.push(Building { id, footprint: self.polygon()?, height: self.positive("height_m")? })
            }
            Some("underground") => {
                if level >= 0 {
                    return Err(self.error(format!("an underground space needs a negative `level`, found {level}")));
                }
                map.underground.push(Underground { id, level, outline: self.polygon()?, ceiling: self.number("ceiling_m")? })
            }
            Some(other) => {
                return Err(self.error(format!(
                    "unknown kind {other:?} (expected sign, lane_line, stop_line, road_edge, pole, building or underground)"
                )))
            }
            None => return Err(self.error("missing string property `kind`")),
        }
        Ok(())
    }

    fn property(&self, key: &str) -> Option<&JsonValue> {
        self.feature
            .properties
            .as_ref()
            .and_then(|p| p.get(key))
            .filter(|v| !v.is_null())
    }

    fn number(&self, key: &str) -> Result<f64, MapError> {
        match self.property(key) {
            None => Err(self.error(format!("missing property `{key}`"))),
            Some(value) => value.as_f64().filter(|v| v.is_finite()).ok_or_else(|| {
                self.error(format!("property `{key}` must be a number, found {value}"))
            }),
        }
    }

    fn positive(&self, key: &str) -> Result<f64, MapError> {
        let value = self.number(key)?;
        if value > 0.0 {
            Ok(value)
        } else {
            Err(self.error(format!("property `{key}` must be positive, found {value}")))
        }
    }

    fn positive_or(&self, key: &str, default: f64) -> Result<f64, MapError> {
        match self.property(key) {
            None => Ok(default),
            Some(_) => self.positive(key),
        }
    }

    fn level(&self) -> Result<i32, MapError> {
        match self.property("level") {
            None => Ok(0),
            Some(value) => value
                .as_i64()
                .and_then(|l| i32::try_from(l).ok())
                .ok_or_else(|| {
                    self.error(format!(
                        "property `level` must be an integer, found {value}"
                    ))
                }),
        }
    }

    fn sign_class(&self) -> Result<SignClass, MapError> {
        let value = self
            .property("class")
            .ok_or_else(|| self.error("sign has no `class`"))?;
        if value.as_str() == Some("other") {
            return match self.property("code").and_then(JsonValue::as_str) {
                Some(code) if !code.is_empty() => Ok(SignClass::Other(code.to_owned())),
                _ => Err(self.error("sign of class \"other\" needs a string `code`")),
            };
        }
        let class = value.as_f64().filter(|c| c.fract() == 0.0);
        match class {
            Some(c) if (0.0..GTSRB_NAMES.len() as f64).contains(&c) => {
                Ok(SignClass::Gtsrb(c as u8))
            }
            _ => Err(self.error(format!(
                "sign class must be an integer 0–42 or \"other\", found {value}"
            ))),
        }
    }

    /// A named value out of a fixed set; `default` where the property is optional.
    fn choice<T: Copy>(
        &self,
        key: &str,
        default: Option<T>,
        names: &[(&str, T)],
    ) -> Result<T, MapError> {
        let Some(value) = self.property(key) else {
            return default.ok_or_else(|| self.error(format!("missing property `{key}`")));
        };
        let found = value
            .as_str()
            .and_then(|s| names.iter().find(|(name, _)| *name == s));
        found.map(|(_, item)| *item).ok_or_else(|| {
            let expected: Vec<&str> = names.iter().map(|(name, _)| *name).collect();
            self.error(format!(
                "property `{key}` must be one of {}, found {value}",
                expected.join("|")
            ))
        })
    }

    fn geometry(&self) -> Result<&Value, MapError> {
        self.feature
            .geometry
            .as_ref()
            .map(|g| &g.value)
            .ok_or_else(|| self.error("feature has no geometry"))
    }

    fn wrong_geometry(&self, expected: &str, found: &Value) -> MapError {
        self.error(format!(
            "expected a {expected} geometry, found {}",
            found.type_name()
        ))
    }

    fn position(&self, position: &[f64]) -> Result<Vec3, MapError> {
        let (lon, lat) = (position[0], position[1]);
        let ele = position.get(2).copied().unwrap_or(self.origin_height);
        if position.len() > 3 || !position.iter().all(|c| c.is_finite()) {
            return Err(self.error(format!(
                "bad coordinates {position:?}: expected [lon, lat, ele] finite numbers"
            )));
        }
        check_lon_lat(lon, lat).map_err(|message| self.error(message))?;
        Ok(self.frame.to_enu(&Geodetic::from_degrees(lat, lon, ele)))
    }

    fn point(&self) -> Result<Vec3, MapError> {
        match self.geometry()? {
            Value::Point(p) => self.position(p),
            other => Err(self.wrong_geometry("Point", other)),
        }
    }

    fn line_string(&self) -> Result<Vec<Vec3>, MapError> {
        match self.geometry()? {
            Value::LineString(line) if line.len() >= 2 => {
                line.iter().map(|p| self.position(p)).collect()
            }
            Value::LineString(line) => Err(self.error(format!(
                "a LineString needs 2 or more positions, found {}",
                line.len()
            ))),
            other => Err(self.wrong_geometry("LineString", other)),
        }
    }

    /// The outer ring without its closing position.
    fn polygon(&self) -> Result<Vec<Vec3>, MapError> {
        let ring = match self.geometry()? {
            Value::Polygon(rings) => rings.first().map(Vec::as_slice).unwrap_or_default(),
            other => return Err(self.wrong_geometry("Polygon", other)),
        };
        let open = match ring {
            [first, inner @ .., last] if first == last => &ring[..inner.len() + 1],
            _ => ring,
        };
        if open.len() < 3 {
            return Err(self.error(format!(
                "a polygon ring needs 3 or more distinct corners, found {}",
                open.len()
            )));
        }
        open.iter().map(|p| self.position(p)).collect()
    }
}

const MOUNTINGS: &[(&str, Mounting)] = &[
    ("pole", Mounting::Pole),
    ("overhead", Mounting::Overhead),
    ("wall", Mounting::Wall),
    ("ceiling", Mounting::Ceiling),
];
const STYLES: &[(&str, LineStyle)] = &[
    ("solid", LineStyle::Solid),
    ("dashed", LineStyle::Dashed),
    ("double", LineStyle::Double),
];
const COLORS: &[(&str, LineColor)] = &[("white", LineColor::White), ("yellow", LineColor::Yellow)];

fn name_of<T: PartialEq>(names: &[(&'static str, T)], item: T) -> &'static str {
    names
        .iter()
        .find(|(_, i)| *i == item)
        .map(|(name, _)| *name)
        .expect("every variant has a name")
}

/// Turns map features into GeoJSON features.
struct FeatureWriter<'a> {
    frame: &'a LocalFrame,
}

impl FeatureWriter<'_> {
    fn features<'m>(&'m self, map: &'m Map) -> impl Iterator<Item = Feature> + 'm {
        let signs = map.signs.iter().map(|sign| {
            let mut properties = self.properties("sign", &sign.id, sign.level);
            match &sign.class {
                SignClass::Gtsrb(class) => {
                    properties.insert("class".into(), (*class).into());
                    properties.insert("name".into(), GTSRB_NAMES[*class as usize].into());
                }
                SignClass::Other(code) => {
                    properties.insert("class".into(), "other".into());
                    properties.insert("code".into(), code.clone().into());
                }
            }
            properties.insert("width_m".into(), sign.width.into());
            properties.insert("height_m".into(), sign.height.into());
            properties.insert(
                "facing_deg".into(),
                round_to(sign.facing.to_degrees(), 9).into(),
            );
            properties.insert("mounting".into(), name_of(MOUNTINGS, sign.mounting).into());
            feature(Value::Point(self.position(&sign.position)), properties)
        });
        let lane_lines = map.lane_lines.iter().map(|lane| {
            let mut properties = self.properties("lane_line", &lane.line.id, lane.line.level);
            properties.insert("style".into(), name_of(STYLES, lane.style).into());
            properties.insert("color".into(), name_of(COLORS, lane.color).into());
            feature(self.line_string(&lane.line.points), properties)
        });
        let lines = |kind: &'static str, lines: &'m [Polyline]| {
            lines.iter().map(move |line| {
                feature(
                    self.line_string(&line.points),
                    self.properties(kind, &line.id, line.level),
                )
            })
        };
        let poles = map.poles.iter().map(|pole| {
            let mut properties = self.properties("pole", &pole.id, pole.level);
            properties.insert("height_m".into(), pole.height.into());
            feature(Value::Point(self.position(&pole.base)), properties)
        });
        let buildings = map.buildings.iter().map(|building| {
            let mut properties = self.properties("building", &building.id, 0);
            properties.insert("height_m".into(), building.height.into());
            feature(self.polygon(&building.footprint), properties)
        });
        let underground = map.underground.iter().map(|space| {
            let mut properties = self.properties("underground", &space.id, space.level);
            properties.insert("ceiling_m".into(), space.ceiling.into());
            feature(self.polygon(&space.outline), properties)
        });
        signs
            .chain(lane_lines)
            .chain(lines("stop_line", &map.stop_lines))
            .chain(lines("road_edge", &map.road_edges))
            .chain(poles)
            .chain(buildings)
            .chain(underground)
    }

    fn properties(&self, kind: &str, id: &str, level: i32) -> JsonObject {
        let mut properties = JsonObject::new();
        properties.insert("kind".into(), kind.into());
        properties.insert("id".into(), id.into());
        properties.insert("level".into(), level.into());
        properties
    }

    fn position(&self, point: &Vec3) -> Vec<f64> {
        let g = self.frame.to_geodetic(point);
        vec![
            round_to(g.lon_deg(), 12),
            round_to(g.lat_deg(), 12),
            round_to(g.height, 7),
        ]
    }

    fn line_string(&self, points: &[Vec3]) -> Value {
        Value::LineString(points.iter().map(|p| self.position(p)).collect())
    }

    /// A closed GeoJSON ring from an open one.
    fn polygon(&self, ring: &[Vec3]) -> Value {
        let mut positions: Vec<Vec<f64>> = ring.iter().map(|p| self.position(p)).collect();
        if let Some(first) = positions.first().cloned() {
            positions.push(first);
        }
        Value::Polygon(vec![positions])
    }
}

/// `value` to `decimals` decimal places. Writing coordinates to 1e-12° and 1e-7 m (under
/// 0.1 µm) drops the last-bit noise of the ENU ↔ WGS84 conversion, so that a map read
/// and written again gives the same text.
fn round_to(value: f64, decimals: i32) -> f64 {
    // Dividing by the exact power of ten gives the double nearest the decimal.
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

fn feature(value: Value, properties: JsonObject) -> Feature {
    Feature {
        geometry: Some(Geometry::new(value)),
        properties: Some(properties),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn path() -> PathBuf {
        PathBuf::from("town.geojson")
    }

    fn small_map() -> Map {
        let mut map = Map::new(
            "small",
            LocalFrame::new(Geodetic::from_degrees(49.0069, 8.4037, 115.0)),
        );
        map.provenance = "hand-made for tests".into();
        map.signs.push(Sign {
            id: "s1".into(),
            level: 0,
            class: SignClass::Gtsrb(14),
            position: Vec3::new(10.0, 20.0, 2.5),
            width: 0.6,
            height: 0.6,
            facing: -0.5,
            mounting: Mounting::Pole,
        });
        map.signs.push(Sign {
            id: "s2".into(),
            level: -1,
            class: SignClass::Other("de1020-30".into()),
            position: Vec3::new(-30.0, 5.0, -3.0),
            width: 0.9,
            height: 0.4,
            facing: 4.0,
            mounting: Mounting::Ceiling,
        });
        map.lane_lines.push(LaneLine {
            line: Polyline {
                id: "l1".into(),
                level: 0,
                points: vec![Vec3::new(0.0, 0.0, 0.0), Vec3::new(100.0, 1.0, 0.2)],
            },
            style: LineStyle::Dashed,
            color: LineColor::Yellow,
        });
        map.stop_lines.push(Polyline {
            id: "st".into(),
            level: 0,
            points: vec![Vec3::new(5.0, 0.0, 0.0), Vec3::new(8.0, 0.0, 0.0)],
        });
        map.road_edges.push(Polyline {
            id: "e".into(),
            level: 0,
            points: vec![Vec3::new(0.0, 5.0, 0.0), Vec3::new(50.0, 5.0, 0.0)],
        });
        map.poles.push(Pole {
            id: "p".into(),
            level: 0,
            base: Vec3::new(10.0, 20.0, 0.0),
            height: 3.0,
        });
        let square = |z: f64| {
            vec![
                Vec3::new(0.0, 0.0, z),
                Vec3::new(20.0, 0.0, z),
                Vec3::new(20.0, 20.0, z),
                Vec3::new(0.0, 20.0, z),
            ]
        };
        map.buildings.push(Building {
            id: "b".into(),
            footprint: square(0.0),
            height: 12.0,
        });
        map.underground.push(Underground {
            id: "u".into(),
            level: -1,
            outline: square(-6.0),
            ceiling: -2.0,
        });
        map
    }

    fn assert_maps_close(a: &Map, b: &Map) {
        let close = |p: &Vec3, q: &Vec3| assert!((p - q).norm() < 1e-6, "{p:?} vs {q:?}");
        let close_all = |p: &[Vec3], q: &[Vec3]| {
            assert_eq!(p.len(), q.len());
            p.iter().zip(q).for_each(|(p, q)| close(p, q));
        };
        assert_eq!((&a.name, &a.provenance), (&b.name, &b.provenance));
        let (oa, ob) = (a.frame.origin(), b.frame.origin());
        assert!(
            (oa.lat - ob.lat).abs() < 1e-12
                && (oa.lon - ob.lon).abs() < 1e-12
                && (oa.height - ob.height).abs() < 1e-9
        );
        assert_eq!(a.signs.len(), b.signs.len());
        for (s, t) in a.signs.iter().zip(&b.signs) {
            close(&s.position, &t.position);
            assert!((s.facing - t.facing).abs() < 1e-10);
            assert_eq!(
                (&s.id, s.level, &s.class, s.width, s.height, s.mounting),
                (&t.id, t.level, &t.class, t.width, t.height, t.mounting)
            );
        }
        assert_eq!(a.lane_lines.len(), b.lane_lines.len());
        for (l, m) in a.lane_lines.iter().zip(&b.lane_lines) {
            close_all(&l.line.points, &m.line.points);
            assert_eq!(
                (&l.line.id, l.line.level, l.style, l.color),
                (&m.line.id, m.line.level, m.style, m.color)
            );
        }
        for (p, q) in [
            (&a.stop_lines, &b.stop_lines),
            (&a.road_edges, &b.road_edges),
        ] {
            assert_eq!(p.len(), q.len());
            for (l, m) in p.iter().zip(q) {
                close_all(&l.points, &m.points);
                assert_eq!((&l.id, l.level), (&m.id, m.level));
            }
        }
        assert_eq!(a.poles.len(), b.poles.len());
        for (p, q) in a.poles.iter().zip(&b.poles) {
            close(&p.base, &q.base);
            assert_eq!((&p.id, p.level, p.height), (&q.id, q.level, q.height));
        }
        assert_eq!(a.buildings.len(), b.buildings.len());
        for (p, q) in a.buildings.iter().zip(&b.buildings) {
            close_all(&p.footprint, &q.footprint);
            assert_eq!((&p.id, p.height), (&q.id, q.height));
        }
        assert_eq!(a.underground.len(), b.underground.len());
        for (p, q) in a.underground.iter().zip(&b.underground) {
            close_all(&p.outline, &q.outline);
            assert_eq!((&p.id, p.level, p.ceiling), (&q.id, q.level, q.ceiling));
        }
    }

    fn read_error(text: &str) -> String {
        from_str(text, &path())
            .expect_err("this input must be rejected")
            .to_string()
    }

    fn collection(features: &str) -> String {
        format!(
            r#"{{"type":"FeatureCollection","origin":[8.4,49.0,110.0],"features":[{features}]}}"#
        )
    }

    #[test]
    fn round_trip_of_every_kind() {
        let map = small_map();
        let text = to_string(&map);
        let back = from_str(&text, &path()).unwrap();
        assert_maps_close(&map, &back);
        // The output is plain GeoJSON that the geojson crate itself accepts, in 3-D.
        let parsed: geojson::GeoJson = text.parse().unwrap();
        let geojson::GeoJson::FeatureCollection(collection) = parsed else {
            panic!("not a collection")
        };
        assert_eq!(collection.features.len(), 8);
        let Some(Value::Point(p)) = collection.features[0]
            .geometry
            .as_ref()
            .map(|g| g.value.clone())
        else {
            panic!()
        };
        assert_eq!(p.len(), 3);
        assert!(
            (p[1] - 49.0069).abs() < 0.001 && (p[0] - 8.4037).abs() < 0.001,
            "{p:?}"
        );
    }

    proptest! {
        #[test]
        fn round_trip_random_positions(
            lat in -80.0f64..80.0, lon in -179.0f64..179.0,
            east in -3000.0f64..3000.0, north in -3000.0f64..3000.0, up in -50.0f64..100.0,
            facing in -7.0f64..7.0,
        ) {
            let mut map = small_map();
            map.frame = LocalFrame::new(Geodetic::from_degrees(lat, lon, 50.0));
            map.signs[0].position = Vec3::new(east, north, up);
            map.signs[0].facing = facing;
            map.lane_lines[0].line.points.push(Vec3::new(north, east, -up));
            let back = from_str(&to_string(&map), &path()).unwrap();
            assert_maps_close(&map, &back);
        }
    }

    #[test]
    fn missing_ids_are_generated_without_clashing() {
        let text = collection(
            r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[8.4,49.0,112]},"properties":{"kind":"sign","class":13,"facing_deg":90}},
               {"type":"Feature","geometry":{"type":"Point","coordinates":[8.4,49.0,112]},"properties":{"kind":"sign","id":"sign-2","class":"other","code":"de1020","facing_deg":90}},
               {"type":"Feature","geometry":{"type":"Point","coordinates":[8.4,49.0]},"properties":{"kind":"pole","id":"","height_m":3}},
               {"type":"Feature","id":"p7","geometry":{"type":"Point","coordinates":[8.4,49.0]},"properties":{"kind":"pole","height_m":3}},
               {"type":"Feature","geometry":{"type":"Point","coordinates":[8.4,49.0,112]},"properties":{"kind":"sign","class":1,"facing_deg":90,"colour":"blue"}}"#,
        );
        let map = from_str(&text, &path()).unwrap();
        let ids: Vec<&str> = map.signs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["sign-1", "sign-2", "sign-3"]);
        let pole_ids: Vec<&str> = map.poles.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(pole_ids, ["pole-1", "p7"]);
        // A 2-D position sits at the origin's height; defaults apply.
        assert!(map.poles[1].base.norm() < 1e-6, "{:?}", map.poles[1].base);
        assert!((map.signs[0].position.z - 2.0).abs() < 1e-6);
        assert_eq!(
            (map.signs[0].width, map.signs[0].mounting),
            (0.6, Mounting::Pole)
        );
        assert_eq!(map.signs[1].class, SignClass::Other("de1020".into()));
    }

    #[test]
    fn origin_defaults_to_the_first_coordinate() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","geometry":{"type":"LineString","coordinates":[[8.4,49.0,100],[8.401,49.0,100]]},"properties":{"kind":"road_edge"}}]}"#;
        let map = from_str(text, &path()).unwrap();
        assert!(map.road_edges[0].points[0].norm() < 1e-6);
        assert!(
            (map.road_edges[0].length() - 73.1).abs() < 0.2,
            "{}",
            map.road_edges[0].length()
        );
        assert_eq!(map.road_edges[0].id, "road_edge-1");
    }

    #[test]
    fn sign_without_class_names_feature_and_id() {
        let error = read_error(&collection(
            r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[8.4,49.0,112]},"properties":{"kind":"sign","class":2,"facing_deg":0}},
               {"type":"Feature","geometry":{"type":"Point","coordinates":[8.4,49.0,112]},"properties":{"kind":"sign","facing_deg":0}}"#,
        ));
        assert_eq!(
            error,
            "map town.geojson, feature 1 (id sign-2): sign has no `class`"
        );
    }

    #[test]
    fn content_errors_say_what_is_wrong() {
        let sign = |properties: &str, geometry: &str| {
            read_error(&collection(&format!(
                r#"{{"type":"Feature","geometry":{geometry},"properties":{properties}}}"#
            )))
        };
        let point = r#"{"type":"Point","coordinates":[8.4,49.0,112]}"#;
        let e = sign(r#"{"kind":"sign","class":43,"facing_deg":0}"#, point);
        assert!(
            e.contains("feature 0 (id sign-1)") && e.contains("0–42") && e.contains("43"),
            "{e}"
        );
        let e = sign(
            r#"{"kind":"sign","class":3,"facing_deg":0}"#,
            r#"{"type":"LineString","coordinates":[[8.4,49.0],[8.5,49.0]]}"#,
        );
        assert!(
            e.contains("expected a Point geometry, found LineString"),
            "{e}"
        );
        let e = sign(r#"{"kind":"tree","id":"t1"}"#, point);
        assert!(
            e.contains("feature 0 (id t1)") && e.contains("unknown kind \"tree\""),
            "{e}"
        );
        let e = sign(
            r#"{"kind":"sign","class":3,"facing_deg":0}"#,
            r#"{"type":"Point","coordinates":[8.4,95.0,1]}"#,
        );
        assert!(e.contains("latitude 95 out of range"), "{e}");
        let e = sign(r#"{"kind":"sign","class":3,"facing_deg":"north"}"#, point);
        assert!(e.contains("`facing_deg` must be a number"), "{e}");
        let e = sign(
            r#"{"kind":"lane_line","style":"zigzag"}"#,
            r#"{"type":"LineString","coordinates":[[8.4,49.0],[8.5,49.0]]}"#,
        );
        assert!(
            e.contains("solid|dashed|double") && e.contains("zigzag"),
            "{e}"
        );
        let e = sign(
            r#"{"kind":"underground","ceiling_m":-2}"#,
            r#"{"type":"Polygon","coordinates":[[[8.4,49.0],[8.5,49.0],[8.5,49.1],[8.4,49.0]]]}"#,
        );
        assert!(e.contains("negative `level`"), "{e}");
        let e = sign(
            r#"{"kind":"pole","height_m":3}"#,
            r#"{"type":"Point","coordinates":[8.4,null]}"#,
        );
        assert!(e.contains("feature 0"), "{e}");
    }

    #[test]
    fn non_finite_coordinates_are_rejected() {
        // JSON cannot spell NaN, but a number too large for f64 is the same failure.
        let e = read_error(&collection(
            r#"{"type":"Feature","geometry":{"type":"Point","coordinates":[8.4,49.0,1e999]},"properties":{"kind":"pole","height_m":3}}"#,
        ));
        assert!(e.contains("line 1, column"), "{e}");
        // A map holding NaN writes null, which the reader refuses by place.
        let mut map = small_map();
        map.poles[0].base.x = f64::NAN;
        let e = read_error(&to_string(&map));
        assert!(
            e.contains("feature 5 (id p): a coordinate is not a number"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let line = r#"{"type":"Feature","geometry":{"type":"LineString","coordinates":[[8.4,49.0],[8.5,49.0]]},"properties":{"kind":"stop_line","id":"x"}}"#;
        let e = read_error(&collection(&format!("{line},{line}")));
        assert_eq!(
            e,
            "map town.geojson, feature 1 (id x): id x is already used by feature 0"
        );
    }

    #[test]
    fn truncated_json_names_line_and_column() {
        let text = to_string(&small_map());
        let e = read_error(&text[..text.len() / 2]);
        assert!(e.starts_with("map town.geojson, line "), "{e}");
        assert!(
            e.contains(", column ") && e.contains("invalid JSON: EOF"),
            "{e}"
        );
        let e = read_error(r#"{"type":"Feature","properties":{}}"#);
        assert!(
            e.contains("top level") && e.contains("FeatureCollection"),
            "{e}"
        );
    }

    #[test]
    fn save_and_load_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.geojson");
        save(&small_map(), &file).unwrap();
        assert_maps_close(&small_map(), &load(&file).unwrap());
        let missing = load(&dir.path().join("none.geojson"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("cannot read map ") && missing.contains("none.geojson"),
            "{missing}"
        );
    }
}
