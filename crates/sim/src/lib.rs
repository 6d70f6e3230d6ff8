//! The simulator: synthetic dashcam drives and detector training sets, rendered from an HD
//! map with exact ground truth.
//!
//! [`render`] rasterises the map's world (roads, markings, signs, buildings, underground)
//! through the real camera model on the CPU. The rest of the crate drives a vehicle along
//! the map's lanes ([`lanes`], [`route`]) among other traffic ([`traffic`]), simulates a GNSS receiver with urban-canyon
//! errors and outages ([`gnss`]), and writes drive folders (frames or video, `camera.toml`,
//! `truth.csv`, `labels.jsonl`, `gnss.nmea`) and training sets.

pub mod dataset;
pub mod drive;
mod error;
pub mod gnss;
pub mod labels;
pub mod lanes;
mod printed;
pub mod render;
pub mod route;
pub mod traffic;
pub mod video;

pub use error::SimError;
