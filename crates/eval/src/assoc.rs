//! Time association: the truth at each estimate's time.
//!
//! The truth is interpolated linearly in position and by slerp in attitude between the two
//! truth samples around the estimate's time (shifted by `t_offset`, so that
//! `truth time = estimate time + t_offset`). An estimate is scored only when a truth sample
//! lies within `max_dt` of it; one inside a longer truth gap is counted as such, and one
//! before the truth's first or after its last sample as outside the truth's span.

use crate::track::{Sample, SampleSource, Track};
use crate::EvalError;
use mapfix_core::pose::heading_from_yaw;
use mapfix_core::{Attitude, Rot3, Vec3};
use nalgebra::{UnitQuaternion, Vector2};

/// Times closer than this (s) are the same time.
const TIME_EPSILON: f64 = 1e-9;

/// How estimates are matched to the truth in time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AssocOptions {
    /// Largest distance in time (s) from an estimate to the nearest truth sample.
    pub max_dt: f64,
    /// Added to every estimate time to put it on the truth's clock (s).
    pub t_offset: f64,
}

impl Default for AssocOptions {
    fn default() -> Self {
        Self {
            max_dt: 0.1,
            t_offset: 0.0,
        }
    }
}

/// The truth at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TruthState {
    pub position: Vec3,
    pub height_known: bool,
    /// Unit east/north direction of travel (the vehicle's heading when standing still).
    pub direction: Vector2<f64>,
    /// world ← vehicle: the truth's attitude, or one built from its heading or its
    /// direction of travel where the file gives no attitude.
    pub rotation: UnitQuaternion<f64>,
    /// Compass heading (rad) of `rotation`'s x axis.
    pub heading: f64,
    /// Distance (m) travelled along the truth since its first sample.
    pub distance: f64,
}

/// The truth, ready to be looked up at any time.
#[derive(Debug, Clone)]
pub struct Truth {
    pub track: Track,
    positions: Vec<Vec3>,
    tangents: Vec<Option<Vector2<f64>>>,
    rotations: Vec<UnitQuaternion<f64>>,
    distances: Vec<f64>,
}

/// Where an estimate's time falls relative to the truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup {
    OutOfSpan,
    InGap,
    At(TruthState),
}

impl Truth {
    /// Prepares a truth track; every sample must carry a position.
    pub fn new(track: Track) -> Result<Self, EvalError> {
        let positions = track
            .samples
            .iter()
            .map(|s| {
                s.position.ok_or_else(|| {
                    EvalError::invalid(
                        &track.path,
                        format!("line {}", s.line),
                        "the truth has no position here",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let n = positions.len();
        if n < 2 {
            return Err(EvalError::file(
                &track.path,
                format!("the truth needs at least two samples, it has {n}"),
            ));
        }
        let tangents: Vec<Option<Vector2<f64>>> = (0..n)
            .map(|k| {
                let (a, b) = (
                    positions[k.saturating_sub(1)],
                    positions[(k + 1).min(n - 1)],
                );
                let d = Vector2::new(b.x - a.x, b.y - a.y);
                (d.norm() > 1e-6).then(|| d.normalize())
            })
            .collect();
        let mut distances = Vec::with_capacity(n);
        let mut travelled = 0.0;
        for k in 0..n {
            if k > 0 {
                travelled += (positions[k] - positions[k - 1]).norm();
            }
            distances.push(travelled);
        }
        let rotations = best_rotations(&track.samples, &tangents);
        Ok(Self {
            track,
            positions,
            tangents,
            rotations,
            distances,
        })
    }

    pub fn start(&self) -> f64 {
        self.track.samples[0].time
    }

    pub fn end(&self) -> f64 {
        self.track.samples[self.track.samples.len() - 1].time
    }

    pub fn times(&self) -> impl Iterator<Item = f64> + '_ {
        self.track.samples.iter().map(|s| s.time)
    }

    /// How far the truth travels (m), along its positions.
    pub fn length(&self) -> f64 {
        self.distances.last().copied().unwrap_or_default()
    }

    pub fn positions(&self) -> &[Vec3] {
        &self.positions
    }

    /// The truth at `time`, or why there is none.
    pub fn at(&self, time: f64, max_dt: f64) -> Lookup {
        let samples = &self.track.samples;
        if time < self.start() - TIME_EPSILON || time > self.end() + TIME_EPSILON {
            return Lookup::OutOfSpan;
        }
        // The truth samples i and j = i + 1 around `time` (there are at least two).
        let j = samples
            .partition_point(|s| s.time <= time)
            .clamp(1, samples.len() - 1);
        let i = j - 1;
        let (ti, tj) = (samples[i].time, samples[j].time);
        if (time - ti).min(tj - time) > max_dt + TIME_EPSILON {
            return Lookup::InGap;
        }
        let a = ((time - ti) / (tj - ti)).clamp(0.0, 1.0);
        let rotation = self.rotations[i].slerp(&self.rotations[j], a);
        let forward = rotation * Vec3::x();
        let direction = match (self.tangents[i], self.tangents[j]) {
            (Some(u), Some(v)) => Some((1.0 - a) * u + a * v).filter(|d| d.norm() > 1e-9),
            (one, other) => one.or(other),
        }
        .unwrap_or_else(|| Vector2::new(forward.x, forward.y))
        .normalize();
        Lookup::At(TruthState {
            position: self.positions[i].lerp(&self.positions[j], a),
            height_known: samples[i].height_known && samples[j].height_known,
            direction,
            rotation,
            heading: heading_from_yaw(forward.y.atan2(forward.x)),
            distance: self.distances[i] + a * (self.distances[j] - self.distances[i]),
        })
    }
}

/// A rotation for every truth sample: its attitude, else one from its heading, else one
/// along its direction of travel, else that of the nearest sample that has one.
fn best_rotations(
    samples: &[Sample],
    tangents: &[Option<Vector2<f64>>],
) -> Vec<UnitQuaternion<f64>> {
    let known: Vec<Option<Rot3>> = samples
        .iter()
        .zip(tangents)
        .map(|(s, tangent)| {
            s.rotation
                .or_else(|| {
                    s.heading
                        .map(|h| Attitude::from_heading(h, 0.0, 0.0).rotation())
                })
                .or_else(|| tangent.map(|d| Rot3::from_axis_angle(&Vec3::z_axis(), d.y.atan2(d.x))))
        })
        .collect();
    let nearest = |k: usize| {
        let later = known[k..].iter().flatten().next();
        let earlier = known[..k].iter().rev().flatten().next();
        earlier.or(later).copied().unwrap_or_else(Rot3::identity)
    };
    (0..samples.len())
        .map(|k| UnitQuaternion::from_rotation_matrix(&known[k].unwrap_or_else(|| nearest(k))))
        .collect()
}

/// An estimate fix with the truth at its time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// The estimate's line in its file.
    pub line: usize,
    /// Time on the truth's clock (s).
    pub time: f64,
    pub estimate: Sample,
    pub position: Vec3,
    pub truth: TruthState,
}

/// The estimate's samples sorted by how they met the truth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Association {
    pub pairs: Vec<Pair>,
    /// Rows without a fix inside the truth's span.
    pub no_fix: usize,
    /// Fixes before the truth's first or after its last sample.
    pub out_of_span: usize,
    /// Fixes inside the truth's span but farther than `max_dt` from any truth sample.
    pub in_truth_gap: usize,
    /// Times (on the truth's clock) and sources of every fix, scored or not.
    pub fix_times: Vec<(f64, SampleSource)>,
    /// Half the estimate's median row interval (s): how long a fix stands for its time.
    pub half_period: f64,
}

/// Matches every estimate sample to the truth.
pub fn associate(truth: &Truth, estimate: &Track, options: &AssocOptions) -> Association {
    let mut result = Association::default();
    for sample in &estimate.samples {
        let time = sample.time + options.t_offset;
        let lookup = truth.at(time, options.max_dt);
        let Some(position) = sample.position else {
            if lookup != Lookup::OutOfSpan {
                result.no_fix += 1;
            }
            continue;
        };
        result.fix_times.push((time, sample.source));
        match lookup {
            Lookup::OutOfSpan => result.out_of_span += 1,
            Lookup::InGap => result.in_truth_gap += 1,
            Lookup::At(state) => result.pairs.push(Pair {
                line: sample.line,
                time,
                estimate: *sample,
                position,
                truth: state,
            }),
        }
    }
    let mut intervals: Vec<f64> = estimate
        .samples
        .windows(2)
        .map(|w| w[1].time - w[0].time)
        .collect();
    intervals.sort_by(f64::total_cmp);
    result.half_period =
        crate::stats::percentile(&intervals, 50.0).map_or(options.max_dt, |median| median / 2.0);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::Format;
    use mapfix_core::FixSource;

    pub(crate) fn sample(time: f64, position: Option<Vec3>) -> Sample {
        Sample {
            line: 0,
            time,
            position,
            height_known: true,
            heading: None,
            rotation: None,
            sigma: None,
            source: SampleSource::Fix(FixSource::Vision),
        }
    }

    fn northward_truth() -> Truth {
        let samples = (0..11)
            .map(|k| sample(k as f64, Some(Vec3::new(0.0, 10.0 * k as f64, 0.0))))
            .collect();
        Truth::new(Track {
            path: "truth.csv".into(),
            format: Format::Csv,
            samples,
        })
        .unwrap()
    }

    #[test]
    fn interpolates_between_truth_samples() {
        let truth = northward_truth();
        let Lookup::At(state) = truth.at(2.25, 0.5) else {
            panic!("expected a truth state")
        };
        assert!((state.position - Vec3::new(0.0, 22.5, 0.0)).norm() < 1e-12);
        assert!((state.direction - Vector2::new(0.0, 1.0)).norm() < 1e-12);
        assert!(
            state.heading.abs() < 1e-12,
            "northward heading is 0, got {}",
            state.heading
        );
        assert!((state.distance - 22.5).abs() < 1e-12);
    }

    #[test]
    fn gaps_and_span_are_reported() {
        let truth = northward_truth();
        assert_eq!(truth.at(-0.5, 0.1), Lookup::OutOfSpan);
        assert_eq!(truth.at(10.5, 0.1), Lookup::OutOfSpan);
        assert_eq!(truth.at(3.5, 0.1), Lookup::InGap);
        assert!(matches!(truth.at(3.05, 0.1), Lookup::At(_)));
        assert!(matches!(truth.at(10.0, 0.1), Lookup::At(_)));

        let estimate = Track {
            path: "positions.csv".into(),
            format: Format::Csv,
            samples: vec![
                sample(-1.0, Some(Vec3::zeros())),
                sample(0.0, None),
                sample(1.0, Some(Vec3::zeros())),
                sample(1.5, Some(Vec3::zeros())),
                sample(11.0, Some(Vec3::zeros())),
            ],
        };
        // Shifting the estimate's clock by +1 s moves the first fix into the truth's span.
        let shifted = associate(
            &truth,
            &estimate,
            &AssocOptions {
                max_dt: 0.1,
                t_offset: 1.0,
            },
        );
        assert_eq!(
            (
                shifted.pairs.len(),
                shifted.no_fix,
                shifted.out_of_span,
                shifted.in_truth_gap
            ),
            (2, 1, 1, 1)
        );
        assert_eq!(shifted.pairs[0].time, 0.0);
    }

    #[test]
    fn attitude_is_slerped() {
        let mut samples: Vec<Sample> = (0..2)
            .map(|k| sample(k as f64, Some(Vec3::new(k as f64, 0.0, 0.0))))
            .collect();
        samples[0].heading = Some(0.0);
        samples[1].heading = Some(90f64.to_radians());
        let truth = Truth::new(Track {
            path: "t.csv".into(),
            format: Format::Csv,
            samples,
        })
        .unwrap();
        let Lookup::At(state) = truth.at(0.5, 1.0) else {
            panic!("expected a truth state")
        };
        assert!((state.heading - 45f64.to_radians()).abs() < 1e-12);
        // The direction of travel is east whatever the heading says.
        assert!((state.direction - Vector2::new(1.0, 0.0)).norm() < 1e-12);
    }
}
