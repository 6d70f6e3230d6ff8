//! How a position fix was obtained: the `source` column of `positions.csv` (DESIGN.md §3),
//! shared by the tracker that decides it, the writers that spell it and the evaluation
//! that splits its figures by it.

/// What a fix rests on. "Recent" means within the estimator's freshness window; a frame
/// without a fix has no `FixSource` and is written as [`NO_FIX_NAME`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FixSource {
    /// Recent vision measurements (map landmarks in the frames), no recent GNSS.
    Vision,
    /// Recent vision and GNSS measurements.
    Fused,
    /// Recent GNSS measurements only.
    Gnss,
    /// Nothing measured recently: the motion model carries the last estimate on.
    DeadReckoning,
}

/// The `source` written for a frame without a fix; not the name of any [`FixSource`].
pub const NO_FIX_NAME: &str = "none";

impl FixSource {
    pub const ALL: [FixSource; 4] = [
        FixSource::Vision,
        FixSource::Fused,
        FixSource::Gnss,
        FixSource::DeadReckoning,
    ];

    /// The name written in outputs: `vision`, `fused`, `gnss` or `dead_reckoning`.
    pub fn name(self) -> &'static str {
        match self {
            FixSource::Vision => "vision",
            FixSource::Fused => "fused",
            FixSource::Gnss => "gnss",
            FixSource::DeadReckoning => "dead_reckoning",
        }
    }

    /// The source with this name; [`NO_FIX_NAME`] is the absence of a fix, not a source.
    pub fn from_name(name: &str) -> Option<FixSource> {
        FixSource::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_not_a_source() {
        for source in FixSource::ALL {
            assert_eq!(FixSource::from_name(source.name()), Some(source));
        }
        let names: Vec<&str> = FixSource::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["vision", "fused", "gnss", "dead_reckoning"]);
        assert_eq!(FixSource::from_name(NO_FIX_NAME), None);
        assert_eq!(FixSource::from_name("Vision"), None);
        assert_eq!(FixSource::from_name(""), None);
    }
}
