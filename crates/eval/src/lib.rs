//! Scores position tracks against ground truth: the numbers users compare maps, models,
//! cameras and settings by, and the pictures that explain them.
//!
//! Tracks are read from `positions.csv` / `truth.csv`, GPX, NMEA, TUM and KITTI files
//! ([`read`]) and put into one ENU frame ([`Track::resolve`]); the truth is interpolated
//! at every estimate's time ([`assoc`]); [`Evaluation`] holds the figures — horizontal,
//! vertical, lateral and longitudinal error, heading error, APE after alignment
//! ([`align`]), KITTI-style RPE, availability and uncertainty honesty, split by source and
//! map level ([`metrics`] defines each); [`report`] turns evaluations into a text table,
//! JSON, SVG/PNG plots and a self-contained HTML page. Evaluation judges outputs and never
//! runs the pipeline.

pub mod align;
pub mod assoc;
mod error;
pub mod metrics;
pub mod read;
pub mod report;
pub mod stats;
pub mod track;

pub use align::Align;
pub use assoc::{AssocOptions, Truth};
pub use error::EvalError;
pub use metrics::{EvalOptions, Evaluation};
pub use read::read_track;
pub use stats::Summary;
pub use track::{Location, Sample, SampleSource, Track};

use mapfix_core::LocalFrame;
use mapfix_map::Map;
use std::path::Path;

/// Reads a truth file and estimate files and scores each estimate: the whole of
/// `mapfix eval` but the output. Latitude/longitude go into the map's frame when a map is
/// given, else into the ENU frame at the truth's first point.
pub fn evaluate_files(
    truth: &Path,
    estimates: &[&Path],
    map: Option<&Map>,
    options: &EvalOptions,
) -> Result<(Truth, Vec<Evaluation>), EvalError> {
    let truth = read_track(truth)?;
    let frame = map
        .map(|m| m.frame)
        .or_else(|| truth.first_geodetic().map(LocalFrame::new));
    let truth = Truth::new(truth.resolve(frame.as_ref())?)?;
    let evaluations = estimates
        .iter()
        .map(|path| {
            Evaluation::new(
                &truth,
                &read_track(path)?.resolve(frame.as_ref())?,
                options,
                map,
            )
        })
        .collect::<Result<_, _>>()?;
    Ok((truth, evaluations))
}
