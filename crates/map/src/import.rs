//! What every importer shares: options, the report of what an import did, and [`load`],
//! which reads a map of any supported format.

use crate::{Map, MapError, Sign, SignClass};
use mapfix_core::Geodetic;
use std::collections::BTreeMap;
use std::path::Path;

/// Choices an importer needs where the source file is silent.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// Height (m) of a sign's centre above the road where the source gives none.
    pub default_sign_height: f64,
    /// The WGS84 origin of the local frame for sources in local coordinates without a
    /// georeference. `None` uses 0° N, 0° E at 0 m, and the report says so.
    pub origin: Option<Geodetic>,
    /// Spacing (m) at which curved geometry (OpenDRIVE reference lines) is sampled.
    pub sample_step: f64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            default_sign_height: 2.5,
            origin: None,
            sample_step: 1.0,
        }
    }
}

/// What an import found beyond the map itself, for the user to read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    /// Sign codes with no GTSRB class, and how often each occurred: kept in the map as
    /// [`crate::SignClass::Other`], counted here.
    pub other_sign_codes: BTreeMap<String, usize>,
    /// Plain-language notes: assumed origins, defaulted heights, skipped elements.
    pub notes: Vec<String>,
}

impl ImportReport {
    /// Counts the codes of the signs that have no GTSRB class.
    pub fn count_other_signs(&mut self, signs: &[Sign]) {
        for sign in signs {
            if let SignClass::Other(code) = &sign.class {
                *self.other_sign_codes.entry(code.clone()).or_default() += 1;
            }
        }
    }
}

/// Reads a map, choosing the format by the file's extension: `.geojson`/`.json` (mapfix's
/// own format), `.osm` (Lanelet2) or `.xodr` (OpenDRIVE). For GeoJSON, `options.origin`
/// (when set) re-anchors the local frame; the other options concern importers only.
pub fn load(path: &Path, options: &ImportOptions) -> Result<(Map, ImportReport), MapError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let read = || {
        std::fs::read_to_string(path).map_err(|source| MapError::Read {
            path: path.to_owned(),
            source,
        })
    };
    match extension.as_deref() {
        Some("geojson" | "json") => {
            let map = crate::geojson::from_str_with_origin(&read()?, path, options.origin)?;
            let mut report = ImportReport::default();
            report.count_other_signs(&map.signs);
            if let Some(origin) = options.origin {
                report.notes.push(format!(
                    "local frame re-anchored at {:.7}° N, {:.7}° E, {:.2} m as asked",
                    origin.lat_deg(),
                    origin.lon_deg(),
                    origin.height
                ));
            }
            Ok((map, report))
        }
        Some("osm") => crate::lanelet2::import(&read()?, path, options),
        Some("xodr") => crate::opendrive::import(&read()?, path, options),
        _ => Err(MapError::UnknownFormat {
            path: path.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_chooses_by_extension_and_counts_other_codes() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"type":"FeatureCollection","origin":[8.4,49.0,100],"features":[
            {"type":"Feature","geometry":{"type":"Point","coordinates":[8.4001,49.0,102.5]},
             "properties":{"kind":"sign","class":"other","code":"de1020-30","facing_deg":180}}]}"#;
        let file = dir.path().join("m.JSON");
        std::fs::write(&file, text).unwrap();
        let (map, report) = load(&file, &ImportOptions::default()).unwrap();
        assert_eq!(map.signs.len(), 1);
        assert_eq!(report.other_sign_codes.get("de1020-30"), Some(&1));
        assert!(report.notes.is_empty());

        let origin = Geodetic::from_degrees(49.0, 8.4001, 100.0);
        let options = ImportOptions {
            origin: Some(origin),
            ..Default::default()
        };
        let (map, report) = load(&file, &options).unwrap();
        assert!((map.signs[0].position - mapfix_core::Vec3::new(0.0, 0.0, 2.5)).norm() < 1e-3);
        assert_eq!(report.notes.len(), 1);

        let unknown = dir.path().join("m.shp");
        std::fs::write(&unknown, text).unwrap();
        let error = load(&unknown, &ImportOptions::default()).unwrap_err();
        assert!(matches!(error, MapError::UnknownFormat { .. }), "{error}");
    }
}
