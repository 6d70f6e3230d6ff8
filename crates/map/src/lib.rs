//! The HD map: the landmarks mapfix positions against, and everything that reads, writes,
//! indexes and queries them.
//!
//! A [`Map`] holds signs, lane lines, stop lines, road edges, poles, buildings and
//! underground spaces in a local ENU frame ([`model`]). Maps come from GeoJSON, mapfix's
//! own format ([`geojson`]), or are imported from Lanelet2 ([`lanelet2`]) and OpenDRIVE
//! ([`opendrive`]) files; [`demo_town`] generates the seeded demo town. [`MapIndex`] answers
//! "what can this camera see from here". The map knows nothing of pixels or detections.

pub mod demo_town;
mod error;
pub mod geojson;
pub mod import;
pub mod index;
pub mod lanelet2;
pub mod model;
pub mod opendrive;
pub mod sign_class;
mod xml;

pub use error::MapError;
pub use import::{load, ImportOptions, ImportReport};
pub use index::{MapIndex, Visible};
pub use model::{
    Building, LaneLine, LineColor, LineStyle, Map, Mounting, Pole, Polyline, Sign, Underground,
};
pub use sign_class::{SignClass, GTSRB_NAMES};
