//! The edges of mapfix: everything that reads recordings and writes results. Frames come
//! in from MP4/H.264 files, raw H.264 streams and image folders behind one `FrameSource`
//! trait, with time stamps; GNSS logs come in from NMEA and GPX; position tracks go out as
//! CSV, GeoJSON, GPX, TUM and NMEA 0183, to files or to TCP clients. No other crate of
//! mapfix touches a file format of recordings or tracks.

pub mod drive;
mod error;
pub mod frames;
pub mod gnss;
pub mod nmea;
pub mod record;
pub mod tcp;
mod utc;
pub mod writers;

pub use drive::Drive;
pub use error::IoError;
pub use frames::{Frame, FrameInfo, FrameSource};
pub use gnss::{GnssFix, GnssLog};
pub use record::{ErrorEllipse, Fix, GnssStatus, PositionRecord, Sigma};
pub use tcp::{NmeaServer, ServeError, ServerOptions};
pub use writers::{TrackOutputs, TrackWriter, WriteError};
