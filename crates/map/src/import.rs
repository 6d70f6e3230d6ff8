//! What every importer shares: options and the report of what an import did.

use mapfix_core::Geodetic;
use std::collections::BTreeMap;

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
        Self { default_sign_height: 2.5, origin: None, sample_step: 1.0 }
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
    pub fn count_other(&mut self, code: &str) {
        *self.other_sign_codes.entry(code.to_owned()).or_default() += 1;
    }
}
