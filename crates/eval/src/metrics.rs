//! Scoring one estimate against the truth: every figure `mapfix eval` reports.
//!
//! Definitions (all on the fixes scored against the interpolated truth, e = estimate − truth
//! in ENU):
//! - horizontal error ‖(e_east, e_north)‖, vertical error |e_up| (only where both heights
//!   are known);
//! - lateral error e·left and longitudinal error e·forward, with forward the truth's unit
//!   direction of travel and left it turned 90° counter-clockwise: positive lateral is left
//!   of the truth, positive longitudinal ahead of it. Statistics are of the absolute
//!   values; the signed means are reported as biases;
//! - heading error: the estimate's heading minus the truth's, wrapped to (−180°, 180°];
//! - APE: ‖T(estimate) − truth‖ in 3-D after the chosen alignment T (evo's APE on the
//!   translation part);
//! - RPE as the KITTI odometry devkit: from every 10th scored fix, the first later fix
//!   whose truth distance exceeds 100, 200 … 800 m; error = (E_f⁻¹E_l)⁻¹(T_f⁻¹T_l), its
//!   translation over the length in % and its rotation angle over the length in °/m;
//! - availability: the share of the truth's time (each truth sample weighted by half the
//!   time to its neighbours) that has a fix within half the estimate's median row interval;
//! - uncertainty honesty: the horizontal Mahalanobis distance d² = (e_east/σ_east)² +
//!   (e_north/σ_north)²; the share of fixes with d ≤ 1, 2, 3 (a consistent 2-D Gaussian
//!   gives 39.3 %, 86.5 %, 98.9 %) and the mean NEES d² (2 when consistent).

use crate::align::{umeyama, Align, Similarity};
use crate::assoc::{associate, AssocOptions, Association, Pair, Truth};
use crate::stats::Summary;
use crate::track::{SampleSource, Track};
use crate::EvalError;
use mapfix_core::pose::wrap_angle;
use mapfix_core::{Attitude, Pose, Rot3, Vec3};
use mapfix_map::Map;
use nalgebra::Vector2;
use std::path::PathBuf;

/// RPE segment lengths (m), as the KITTI odometry benchmark.
pub const RPE_LENGTHS: [f64; 8] = [100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0];
/// RPE segments start at every this many scored fixes (the KITTI devkit's step).
const RPE_STEP: usize = 10;
/// Shares of a consistent 2-D Gaussian within 1, 2, 3 σ (Mahalanobis): 1 − exp(−k²/2).
pub const EXPECTED_WITHIN: [f64; 3] = [
    0.393_469_340_287_366_6,
    0.864_664_716_763_387_3,
    0.988_891_003_461_758_4,
];

/// Everything that shapes an evaluation besides its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EvalOptions {
    pub assoc: AssocOptions,
    pub align: Align,
}

/// The error of one scored fix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FixError {
    /// Time on the truth's clock (s).
    pub time: f64,
    /// Truth distance travelled (m).
    pub distance: f64,
    pub source: SampleSource,
    /// The map level at the truth's position, when a map is given.
    pub level: Option<i32>,
    pub estimate: Vec3,
    pub truth: Vec3,
    pub horizontal: f64,
    pub vertical: Option<f64>,
    /// Signed, positive to the left of the truth.
    pub lateral: f64,
    /// Signed, positive ahead of the truth.
    pub longitudinal: f64,
    /// Signed heading error (rad).
    pub heading: Option<f64>,
    /// RMS of the east and north σ (m): the radius unit of the σ plot.
    pub sigma: Option<f64>,
    /// Horizontal Mahalanobis distance.
    pub mahalanobis: Option<f64>,
    /// APE after alignment (m).
    pub ape: f64,
}

/// Figures over a subset of fixes (one source or one map level).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStats {
    pub fixes: usize,
    pub availability: f64,
    pub horizontal: Option<Summary>,
    pub lateral: Option<Summary>,
    pub longitudinal: Option<Summary>,
}

/// The absolute pose error after alignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Ape {
    pub align: Align,
    pub transform: Similarity,
    pub stats: Summary,
}

/// The relative pose error over one segment length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RpeWindow {
    pub length: f64,
    pub segments: usize,
    /// Mean translation error over the length, in %.
    pub translation_pct: f64,
    /// Mean rotation error over the length (rad/m).
    pub rotation_per_m: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rpe {
    pub windows: Vec<RpeWindow>,
    /// Over all segments of all lengths, as KITTI averages.
    pub translation_pct: f64,
    pub rotation_per_m: f64,
}

/// How well the reported σ matches the real error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Honesty {
    /// Fixes that carry a σ.
    pub fixes: usize,
    /// Shares with Mahalanobis distance ≤ 1, 2, 3.
    pub within: [f64; 3],
    pub nees_mean: f64,
}

/// One estimate scored against the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub name: String,
    pub path: PathBuf,
    pub rows: usize,
    /// Rows with a position.
    pub fixes: usize,
    pub no_fix: usize,
    pub out_of_span: usize,
    pub in_truth_gap: usize,
    pub availability: f64,
    pub horizontal: Option<Summary>,
    pub vertical: Option<Summary>,
    pub lateral: Option<Summary>,
    pub longitudinal: Option<Summary>,
    pub lateral_bias: Option<f64>,
    pub longitudinal_bias: Option<f64>,
    /// Absolute heading error (rad).
    pub heading: Option<Summary>,
    pub ape: Option<Ape>,
    pub rpe: Option<Rpe>,
    pub honesty: Option<Honesty>,
    pub by_source: Vec<(SampleSource, GroupStats)>,
    pub by_level: Vec<(i32, GroupStats)>,
    /// Every scored fix, in time order.
    pub errors: Vec<FixError>,
}

impl Evaluation {
    /// Scores `estimate` (already in the truth's frame) against `truth`. With a `map`, the
    /// figures are also split by the map level at the truth's position.
    pub fn new(
        truth: &Truth,
        estimate: &Track,
        options: &EvalOptions,
        map: Option<&Map>,
    ) -> Result<Self, EvalError> {
        check_overlap(truth, estimate, options)?;
        let assoc = associate(truth, estimate, &options.assoc);
        let alignment =
            align(&assoc.pairs, options.align).map_err(|message| EvalError::Mismatch {
                truth: truth.track.path.clone(),
                estimate: estimate.path.clone(),
                message: format!("cannot align ({}): {message}", options.align),
            })?;
        let errors: Vec<FixError> = assoc
            .pairs
            .iter()
            .map(|pair| fix_error(pair, &alignment, map))
            .collect();
        let summary =
            |value: fn(&FixError) -> Option<f64>| Summary::of(errors.iter().filter_map(value));
        let mean = |value: fn(&FixError) -> f64| {
            (!errors.is_empty())
                .then(|| errors.iter().map(value).sum::<f64>() / errors.len() as f64)
        };
        let truth_levels: Option<Vec<i32>> =
            map.map(|m| truth.positions().iter().map(|p| m.level_at(p)).collect());
        let coverage = Coverage::new(truth, &assoc);
        let mut sources: Vec<SampleSource> = assoc.fix_times.iter().map(|f| f.1).collect();
        sources.sort_unstable();
        sources.dedup();
        let by_source = sources
            .into_iter()
            .map(|source| {
                let covered = coverage.covered(|s| s == source);
                let group = group_stats(
                    errors.iter().filter(|e| e.source == source),
                    coverage.share(&covered, |_| true),
                );
                (source, group)
            })
            .collect();
        let by_level = match &truth_levels {
            None => Vec::new(),
            Some(levels) => {
                let covered = coverage.covered(|_| true);
                let mut distinct = levels.clone();
                distinct.sort_unstable();
                distinct.dedup();
                distinct
                    .into_iter()
                    .map(|level| {
                        let availability = coverage.share(&covered, |k| levels[k] == level);
                        (
                            level,
                            group_stats(
                                errors.iter().filter(|e| e.level == Some(level)),
                                availability,
                            ),
                        )
                    })
                    .collect()
            }
        };
        Ok(Evaluation {
            name: estimate.label(),
            path: estimate.path.clone(),
            rows: estimate.samples.len(),
            fixes: estimate
                .samples
                .iter()
                .filter(|s| s.position.is_some())
                .count(),
            no_fix: assoc.no_fix,
            out_of_span: assoc.out_of_span,
            in_truth_gap: assoc.in_truth_gap,
            availability: coverage.share(&coverage.covered(|_| true), |_| true),
            horizontal: summary(|e| Some(e.horizontal)),
            vertical: summary(|e| e.vertical),
            lateral: summary(|e| Some(e.lateral.abs())),
            longitudinal: summary(|e| Some(e.longitudinal.abs())),
            lateral_bias: mean(|e| e.lateral),
            longitudinal_bias: mean(|e| e.longitudinal),
            heading: summary(|e| e.heading.map(f64::abs)),
            ape: Summary::of(errors.iter().map(|e| e.ape)).map(|stats| Ape {
                align: options.align,
                transform: alignment,
                stats,
            }),
            rpe: rpe(&assoc.pairs),
            honesty: honesty(&errors),
            by_source,
            by_level,
            errors,
        })
    }
}

/// Refuses an estimate whose rows all lie outside the truth's time span.
fn check_overlap(truth: &Truth, estimate: &Track, options: &EvalOptions) -> Result<(), EvalError> {
    let (Some(first), Some(last)) = (estimate.samples.first(), estimate.samples.last()) else {
        return Err(EvalError::file(
            &estimate.path,
            "the estimate has no samples",
        ));
    };
    let offset = options.assoc.t_offset;
    let (first, last) = (first.time + offset, last.time + offset);
    if last < truth.start() || first > truth.end() {
        return Err(EvalError::Mismatch {
            truth: truth.track.path.clone(),
            estimate: estimate.path.clone(),
            message: format!(
                "no overlap in time: the truth spans {:.3} … {:.3} s, the estimate {:.3} … {:.3} s \
                 (with --t-offset {offset} s); if the clocks differ, pass --t-offset",
                truth.start(),
                truth.end(),
                first,
                last
            ),
        });
    }
    Ok(())
}

/// The transform that maps estimate positions onto the truth's for the APE.
fn align(pairs: &[Pair], align: Align) -> Result<Similarity, String> {
    let estimates: Vec<Vec3> = pairs.iter().map(|p| p.position).collect();
    let truths: Vec<Vec3> = pairs.iter().map(|p| p.truth.position).collect();
    match align {
        Align::None => Ok(Similarity::identity()),
        Align::Se3 | Align::Sim3 => {
            umeyama(&estimates, &truths, align == Align::Sim3).map_err(|e| e.to_string())
        }
        Align::Origin => {
            let Some(first) = pairs.first() else {
                return Ok(Similarity::identity());
            };
            // The full first pose where the estimate has an attitude, else its position only.
            let rotation = estimate_rotation(first).map_or_else(Rot3::identity, |r| {
                first.truth.rotation.to_rotation_matrix() * r.inverse()
            });
            Ok(Similarity {
                rotation,
                translation: first.truth.position - rotation * first.position,
                scale: 1.0,
            })
        }
    }
}

/// The estimate's attitude, or one from its heading alone.
fn estimate_rotation(pair: &Pair) -> Option<Rot3> {
    pair.estimate.rotation.or_else(|| {
        pair.estimate
            .heading
            .map(|h| Attitude::from_heading(h, 0.0, 0.0).rotation())
    })
}

fn estimate_heading(pair: &Pair) -> Option<f64> {
    pair.estimate.heading.or_else(|| {
        pair.estimate
            .rotation
            .map(|r| Attitude::from_rotation(&r).heading())
    })
}

fn fix_error(pair: &Pair, alignment: &Similarity, map: Option<&Map>) -> FixError {
    let truth = &pair.truth;
    let e = pair.position - truth.position;
    let forward = truth.direction;
    let left = Vector2::new(-forward.y, forward.x);
    let horizontal = Vector2::new(e.x, e.y);
    let sigma = pair.estimate.sigma;
    FixError {
        time: pair.time,
        distance: truth.distance,
        source: pair.estimate.source,
        level: map.map(|m| m.level_at(&truth.position)),
        estimate: pair.position,
        truth: truth.position,
        horizontal: horizontal.norm(),
        vertical: (pair.estimate.height_known && truth.height_known).then_some(e.z.abs()),
        lateral: horizontal.dot(&left),
        longitudinal: horizontal.dot(&forward),
        heading: estimate_heading(pair).map(|h| wrap_angle(h - truth.heading)),
        sigma: sigma.map(|[east, north]| ((east * east + north * north) / 2.0).sqrt()),
        mahalanobis: sigma
            .map(|[east, north]| ((e.x / east).powi(2) + (e.y / north).powi(2)).sqrt()),
        ape: (alignment.apply(&pair.position) - truth.position).norm(),
    }
}

fn group_stats<'a>(
    errors: impl Iterator<Item = &'a FixError> + Clone,
    availability: f64,
) -> GroupStats {
    GroupStats {
        fixes: errors.clone().count(),
        availability,
        horizontal: Summary::of(errors.clone().map(|e| e.horizontal)),
        lateral: Summary::of(errors.clone().map(|e| e.lateral.abs())),
        longitudinal: Summary::of(errors.map(|e| e.longitudinal.abs())),
    }
}

/// Which truth samples have a fix near them.
struct Coverage {
    /// Each truth sample's share of the truth's time: half the time to each neighbour.
    weights: Vec<f64>,
    truth_times: Vec<f64>,
    fix_times: Vec<(f64, SampleSource)>,
    half_period: f64,
}

impl Coverage {
    fn new(truth: &Truth, assoc: &Association) -> Self {
        let truth_times: Vec<f64> = truth.times().collect();
        let n = truth_times.len();
        let weights = (0..n)
            .map(|k| (truth_times[(k + 1).min(n - 1)] - truth_times[k.saturating_sub(1)]) / 2.0)
            .collect();
        Coverage {
            weights,
            truth_times,
            fix_times: assoc.fix_times.clone(),
            half_period: assoc.half_period,
        }
    }

    /// For each truth sample, whether a fix of a wanted source lies within half a period.
    fn covered(&self, wanted: impl Fn(SampleSource) -> bool) -> Vec<bool> {
        let times: Vec<f64> = self
            .fix_times
            .iter()
            .filter(|f| wanted(f.1))
            .map(|f| f.0)
            .collect();
        self.truth_times
            .iter()
            .map(|&t| {
                let next = times.partition_point(|&f| f < t);
                let near = |k: usize| {
                    times
                        .get(k)
                        .is_some_and(|&f| (f - t).abs() <= self.half_period + 1e-9)
                };
                near(next) || (next > 0 && near(next - 1))
            })
            .collect()
    }

    /// The covered share of the time of the truth samples `k` with `within(k)`.
    fn share(&self, covered: &[bool], within: impl Fn(usize) -> bool) -> f64 {
        let (mut hit, mut total) = (0.0, 0.0);
        for k in (0..self.weights.len()).filter(|&k| within(k)) {
            total += self.weights[k];
            if covered[k] {
                hit += self.weights[k];
            }
        }
        if total > 0.0 {
            hit / total
        } else {
            0.0
        }
    }
}

/// KITTI-style relative pose error; `None` when the drive is shorter than 100 m.
fn rpe(pairs: &[Pair]) -> Option<Rpe> {
    let n = pairs.len();
    let positions: Vec<Vec3> = pairs.iter().map(|p| p.position).collect();
    let estimate_poses: Vec<Pose> = pairs
        .iter()
        .enumerate()
        .map(|(k, pair)| {
            // Without an attitude, the estimate's own direction of travel stands in for it.
            let rotation = estimate_rotation(pair).unwrap_or_else(|| {
                let d = positions[(k + 1).min(n - 1)] - positions[k.saturating_sub(1)];
                if d.xy().norm() > 1e-6 {
                    Rot3::from_axis_angle(&Vec3::z_axis(), d.y.atan2(d.x))
                } else {
                    pair.truth.rotation.to_rotation_matrix()
                }
            });
            Pose {
                position: pair.position,
                rotation,
            }
        })
        .collect();
    let truth_poses: Vec<Pose> = pairs
        .iter()
        .map(|p| Pose {
            position: p.truth.position,
            rotation: p.truth.rotation.to_rotation_matrix(),
        })
        .collect();
    let mut windows = Vec::new();
    let (mut all_translation, mut all_rotation, mut all_segments) = (0.0, 0.0, 0usize);
    for &length in &RPE_LENGTHS {
        let (mut translation, mut rotation, mut segments) = (0.0, 0.0, 0usize);
        for first in (0..n).step_by(RPE_STEP) {
            let goal = pairs[first].truth.distance + length;
            let Some(last) = (first..n).find(|&k| pairs[k].truth.distance > goal) else {
                continue;
            };
            let truth_delta = truth_poses[first].inverse().compose(&truth_poses[last]);
            let estimate_delta = estimate_poses[first]
                .inverse()
                .compose(&estimate_poses[last]);
            let error = estimate_delta.inverse().compose(&truth_delta);
            translation += error.position.norm() / length;
            rotation += error.rotation.angle() / length;
            segments += 1;
        }
        if segments > 0 {
            windows.push(RpeWindow {
                length,
                segments,
                translation_pct: 100.0 * translation / segments as f64,
                rotation_per_m: rotation / segments as f64,
            });
            all_translation += translation;
            all_rotation += rotation;
            all_segments += segments;
        }
    }
    (all_segments > 0).then(|| Rpe {
        windows,
        translation_pct: 100.0 * all_translation / all_segments as f64,
        rotation_per_m: all_rotation / all_segments as f64,
    })
}

fn honesty(errors: &[FixError]) -> Option<Honesty> {
    let distances: Vec<f64> = errors.iter().filter_map(|e| e.mahalanobis).collect();
    if distances.is_empty() {
        return None;
    }
    let count = distances.len() as f64;
    let within = |k: f64| distances.iter().filter(|&&d| d <= k).count() as f64 / count;
    Some(Honesty {
        fixes: distances.len(),
        within: [within(1.0), within(2.0), within(3.0)],
        nees_mean: distances.iter().map(|d| d * d).sum::<f64>() / count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::{Format, Sample};
    use mapfix_core::FixSource;

    fn sample(time: f64, position: Vec3) -> Sample {
        Sample {
            line: 0,
            time,
            position: Some(position),
            height_known: true,
            heading: None,
            rotation: None,
            sigma: None,
            source: SampleSource::Fix(FixSource::Vision),
        }
    }

    fn track(samples: Vec<Sample>) -> Track {
        Track {
            path: "track.csv".into(),
            format: Format::Csv,
            samples,
        }
    }

    /// A truth driving north at 10 m/s for `seconds`, sampled at 10 Hz.
    fn northward(seconds: usize) -> Truth {
        let samples = (0..=seconds * 10)
            .map(|k| sample(k as f64 / 10.0, Vec3::new(0.0, k as f64, 0.0)))
            .collect();
        Truth::new(track(samples)).unwrap()
    }

    fn shifted(truth: &Truth, offset: impl Fn(f64) -> Vec3) -> Track {
        track(
            truth
                .track
                .samples
                .iter()
                .map(|s| sample(s.time, s.position.unwrap() + offset(s.time)))
                .collect(),
        )
    }

    fn evaluate(truth: &Truth, estimate: &Track) -> Evaluation {
        Evaluation::new(truth, estimate, &EvalOptions::default(), None).unwrap()
    }

    #[test]
    fn offset_to_the_left_is_lateral() {
        let truth = northward(10);
        // Driving north, left is west.
        let e = evaluate(&truth, &shifted(&truth, |_| Vec3::new(-0.5, 0.0, 0.0)));
        assert!((e.lateral.unwrap().median - 0.5).abs() < 1e-12);
        assert!((e.lateral_bias.unwrap() - 0.5).abs() < 1e-12);
        assert!(e.longitudinal.unwrap().max < 1e-12);
        assert!((e.horizontal.unwrap().rmse - 0.5).abs() < 1e-12);
        assert_eq!(e.errors.len(), 101);
        assert!((e.availability - 1.0).abs() < 1e-12);
    }

    proptest::proptest! {
        #[test]
        fn lateral_and_longitudinal_are_the_offset_in_the_truths_frame(
            course in -std::f64::consts::PI..std::f64::consts::PI, left in -5.0f64..5.0, ahead in -5.0f64..5.0,
        ) {
            let forward = Vec3::new(course.cos(), course.sin(), 0.0);
            let side = Vec3::new(-course.sin(), course.cos(), 0.0);
            let samples = (0..50).map(|k| sample(k as f64 * 0.1, forward * k as f64)).collect();
            let truth = Truth::new(track(samples)).unwrap();
            let e = evaluate(&truth, &shifted(&truth, |_| side * left + forward * ahead));
            proptest::prop_assert!((e.lateral_bias.unwrap() - left).abs() < 1e-9);
            proptest::prop_assert!((e.longitudinal_bias.unwrap() - ahead).abs() < 1e-9);
            proptest::prop_assert!((e.horizontal.unwrap().max - left.hypot(ahead)).abs() < 1e-9);
        }
    }

    #[test]
    fn offset_ahead_is_longitudinal() {
        let truth = northward(10);
        let e = evaluate(&truth, &shifted(&truth, |_| Vec3::new(0.0, 1.0, 0.0)));
        assert!((e.longitudinal.unwrap().median - 1.0).abs() < 1e-12);
        assert!((e.longitudinal_bias.unwrap() - 1.0).abs() < 1e-12);
        assert!(e.lateral.unwrap().max < 1e-12);
    }

    #[test]
    fn on_a_curve_an_outward_offset_is_lateral_to_the_right() {
        // Counter-clockwise around a 50 m circle: outward is to the right.
        let point = |t: f64, radius: f64| {
            Vec3::new(radius * (t / 10.0).cos(), radius * (t / 10.0).sin(), 0.0)
        };
        let truth = Truth::new(track(
            (0..300)
                .map(|k| sample(k as f64 * 0.1, point(k as f64 * 0.1, 50.0)))
                .collect(),
        ))
        .unwrap();
        let estimate = track(
            (0..300)
                .map(|k| sample(k as f64 * 0.1, point(k as f64 * 0.1, 50.5)))
                .collect(),
        );
        let e = evaluate(&truth, &estimate);
        assert!(
            (e.lateral_bias.unwrap() + 0.5).abs() < 1e-6,
            "lateral bias {:?}",
            e.lateral_bias
        );
        // Central differences give the exact tangent inside; the two ends use one-sided
        // differences, off by half a sample's turn (0.005 rad · 0.5 m).
        assert!(e.longitudinal.unwrap().p95 < 1e-9);
        assert!(e.longitudinal.unwrap().max < 3e-3);
    }

    #[test]
    fn estimates_between_truth_samples_meet_the_interpolated_truth() {
        let truth = northward(10);
        // At 0.05 s, 0.15 s …: halfway between truth samples, 1 m ahead.
        let estimate = track(
            (0..100)
                .map(|k| {
                    sample(
                        k as f64 / 10.0 + 0.05,
                        Vec3::new(0.0, k as f64 + 0.5 + 1.0, 0.0),
                    )
                })
                .collect(),
        );
        let e = evaluate(&truth, &estimate);
        assert_eq!(e.errors.len(), 100);
        assert!((e.longitudinal.unwrap().max - 1.0).abs() < 1e-9);
    }

    #[test]
    fn ape_alignment_removes_a_rigid_motion() {
        let point = |t: f64| Vec3::new(100.0 * (t / 20.0).sin(), 10.0 * t, 0.5 * (t / 5.0).cos());
        let truth = Truth::new(track(
            (0..200)
                .map(|k| sample(k as f64 * 0.1, point(k as f64 * 0.1)))
                .collect(),
        ))
        .unwrap();
        let moved = crate::align::Similarity {
            rotation: Rot3::from_euler_angles(0.0, 0.0, 0.3),
            translation: Vec3::new(5.0, -3.0, 1.0),
            scale: 1.0,
        };
        let estimate = track(
            truth
                .track
                .samples
                .iter()
                .map(|s| sample(s.time, moved.apply(&s.position.unwrap())))
                .collect(),
        );
        let options = |align| EvalOptions {
            align,
            ..EvalOptions::default()
        };
        let none = Evaluation::new(&truth, &estimate, &options(Align::None), None).unwrap();
        let se3 = Evaluation::new(&truth, &estimate, &options(Align::Se3), None).unwrap();
        assert!(none.ape.unwrap().stats.rmse > 1.0);
        assert!(se3.ape.unwrap().stats.rmse < 1e-9);
        // Origin alignment of position-only tracks is a shift onto the first truth point.
        let origin = Evaluation::new(&truth, &estimate, &options(Align::Origin), None).unwrap();
        assert!(origin.errors[0].ape < 1e-9);
    }

    #[test]
    fn availability_counts_truth_time_without_a_fix() {
        let truth = northward(10);
        let mut samples: Vec<Sample> = shifted(&truth, |_| Vec3::zeros()).samples;
        // No fix for the second half (rows with source none).
        for s in samples.iter_mut().filter(|s| s.time > 5.0 + 1e-9) {
            s.position = None;
            s.source = SampleSource::NoFix;
        }
        let e = evaluate(&truth, &track(samples));
        // Fixes at 0 … 5 s cover up to 5.05 s of the 10 s.
        assert!(
            (e.availability - 0.505).abs() < 1e-9,
            "availability {}",
            e.availability
        );
        assert_eq!(e.no_fix, 50);
    }

    #[test]
    fn sigma_honesty_counts_mahalanobis_distances() {
        let truth = northward(1);
        // Errors of 0.5, 1.5, 2.5 and 3.5 σ east, σ = 2 m.
        let mut samples: Vec<Sample> = Vec::new();
        for (k, d) in [0.5, 1.5, 2.5, 3.5].into_iter().enumerate() {
            let mut s = sample(k as f64 * 0.1, Vec3::new(2.0 * d, k as f64, 0.0));
            s.sigma = Some([2.0, 2.0]);
            samples.push(s);
        }
        let h = evaluate(&truth, &track(samples)).honesty.unwrap();
        assert_eq!(h.within, [0.25, 0.5, 0.75]);
        assert!((h.nees_mean - (0.25 + 2.25 + 6.25 + 12.25) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn rpe_of_a_stretched_track_is_its_stretch() {
        let truth = northward(60);
        // 1 % too far north everywhere: every segment is 1 % too long, no rotation.
        let estimate = shifted(&truth, |t| Vec3::new(0.0, 0.1 * t, 0.0));
        let rpe = evaluate(&truth, &estimate).rpe.unwrap();
        assert_eq!(
            rpe.windows.iter().map(|w| w.length).collect::<Vec<_>>(),
            RPE_LENGTHS[..5]
        );
        assert!(
            (rpe.translation_pct - 1.0).abs() < 0.02,
            "RPE {} %",
            rpe.translation_pct
        );
        assert!(rpe.rotation_per_m < 1e-9);
        assert!(
            evaluate(&truth, &shifted(&truth, |_| Vec3::new(3.0, 0.0, 0.0)))
                .rpe
                .unwrap()
                .translation_pct
                < 1e-9
        );
    }

    #[test]
    fn no_overlap_in_time_is_an_error() {
        let truth = northward(10);
        let estimate = track(
            (0..10)
                .map(|k| sample(100.0 + k as f64, Vec3::zeros()))
                .collect(),
        );
        let error = Evaluation::new(&truth, &estimate, &EvalOptions::default(), None)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no overlap in time") && error.contains("--t-offset"),
            "{error}"
        );
    }

    #[test]
    fn an_empty_estimate_is_an_error_naming_it() {
        let error = Evaluation::new(
            &northward(10),
            &track(Vec::new()),
            &EvalOptions::default(),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("track.csv") && error.contains("no samples"),
            "{error}"
        );
    }

    #[test]
    fn splits_by_map_level() {
        use mapfix_core::{Geodetic, LocalFrame};
        let mut map = Map::new(
            "test",
            LocalFrame::new(Geodetic::from_degrees(50.0, 8.0, 0.0)),
        );
        map.underground.push(mapfix_map::Underground {
            id: "tunnel".into(),
            level: -1,
            outline: vec![
                Vec3::new(-10.0, 50.0, 0.0),
                Vec3::new(10.0, 50.0, 0.0),
                Vec3::new(10.0, 200.0, 0.0),
                Vec3::new(-10.0, 200.0, 0.0),
            ],
            ceiling: 5.0,
        });
        let truth = northward(10);
        let estimate = shifted(&truth, |t| {
            Vec3::new(if t > 5.0 { 2.0 } else { 1.0 }, 0.0, 0.0)
        });
        let e = Evaluation::new(&truth, &estimate, &EvalOptions::default(), Some(&map)).unwrap();
        let levels: Vec<i32> = e.by_level.iter().map(|(l, _)| *l).collect();
        assert_eq!(levels, [-1, 0]);
        assert!((e.by_level[0].1.horizontal.unwrap().median - 2.0).abs() < 1e-12);
        assert!((e.by_level[1].1.horizontal.unwrap().median - 1.0).abs() < 1e-12);
    }
}
