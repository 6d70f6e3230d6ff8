//! LO-RANSAC, generic over the estimation problem.
//!
//! Hypotheses come from minimal samples; each is scored by MSAC (squared residuals
//! truncated at the threshold, lower is better), with early exit once a hypothesis
//! cannot beat the best. Every new best hypothesis is locally optimised (Chum et al.
//! 2003): the problem refines it on its inliers and the result is kept while it scores
//! better. The number of iterations adapts to the inlier ratio seen so far
//! (`log(1 − confidence) / log(1 − wᵏ)`), within a cap. Sampling is seeded, and all
//! buffers live in a reusable [`RansacWorkspace`].

use crate::pose::{CameraPose, Solutions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// An estimation problem RANSAC can solve.
pub trait Problem {
    /// Correspondences in a minimal sample.
    const SAMPLE_SIZE: usize;
    /// Number of correspondences.
    fn correspondence_count(&self) -> usize;
    /// All models that fit the sampled correspondences exactly.
    fn solve_minimal(&self, sample: &[usize], models: &mut Solutions);
    /// Squared residual of correspondence `index` under `model`, in the units of the
    /// squared threshold.
    fn residual_squared(&self, model: &CameraPose, index: usize) -> f64;
    /// Local optimisation: a better model from the correspondences marked in `inliers`,
    /// or `None` if it cannot improve on `model`.
    fn refine(&self, model: &CameraPose, inliers: &[bool]) -> Option<CameraPose>;
}

/// Local optimisations per new best model (each refines, then rescores).
const LO_PASSES: usize = 1;

/// Stopping and scoring settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RansacOptions {
    /// Residual below which a correspondence is an inlier (same units as the residual).
    pub threshold: f64,
    pub confidence: f64,
    pub min_iterations: usize,
    pub max_iterations: usize,
    pub seed: u64,
}

/// The best model found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RansacResult {
    pub model: CameraPose,
    pub inliers: usize,
    pub iterations: usize,
    /// MSAC score of `model` (sum of truncated squared residuals).
    pub score: f64,
}

/// Buffers reused across calls, so that a steady stream of solves does not allocate.
#[derive(Debug, Default, Clone)]
pub struct RansacWorkspace {
    sample: Vec<usize>,
    inliers: Vec<bool>,
    candidate_inliers: Vec<bool>,
    refined_inliers: Vec<bool>,
}

impl RansacWorkspace {
    /// Inlier flags of the last result, one per correspondence.
    pub fn inliers(&self) -> &[bool] {
        &self.inliers
    }
}

/// Iterations needed to draw one all-inlier sample with `confidence`, given the inlier
/// ratio.
pub fn required_iterations(inlier_ratio: f64, sample_size: usize, confidence: f64) -> f64 {
    let all_inliers = inlier_ratio.powi(sample_size as i32);
    if all_inliers >= 1.0 {
        return 0.0;
    }
    if all_inliers <= f64::MIN_POSITIVE {
        return f64::INFINITY;
    }
    (1.0 - confidence).ln() / (1.0 - all_inliers).ln()
}

/// MSAC score of a model and its inlier flags; stops early (returning `None`) once the
/// score exceeds `bound`.
fn score<P: Problem>(
    problem: &P,
    model: &CameraPose,
    threshold_squared: f64,
    bound: f64,
    inliers: &mut [bool],
) -> Option<(f64, usize)> {
    let mut total = 0.0;
    let mut count = 0;
    for (index, flag) in inliers.iter_mut().enumerate() {
        let residual = problem.residual_squared(model, index);
        *flag = residual < threshold_squared;
        if *flag {
            total += residual;
            count += 1;
        } else {
            total += threshold_squared;
        }
        if total > bound {
            return None;
        }
    }
    Some((total, count))
}

/// Runs LO-RANSAC; `None` if no sample produced a model.
pub fn ransac<P: Problem>(
    problem: &P,
    options: &RansacOptions,
    workspace: &mut RansacWorkspace,
) -> Option<RansacResult> {
    let n = problem.correspondence_count();
    let k = P::SAMPLE_SIZE;
    if n < k {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let threshold_squared = options.threshold * options.threshold;
    workspace.sample.clear();
    workspace.sample.resize(k, 0);
    workspace.inliers.clear();
    workspace.inliers.resize(n, false);
    for buffer in [
        &mut workspace.candidate_inliers,
        &mut workspace.refined_inliers,
    ] {
        buffer.clear();
        buffer.resize(n, false);
    }

    let mut best: Option<RansacResult> = None;
    let mut best_score = f64::INFINITY;
    let mut needed = options.max_iterations as f64;
    let mut models = Solutions::new();
    let mut iterations = 0;
    while iterations < options.max_iterations
        && (iterations < options.min_iterations || (iterations as f64) < needed)
    {
        iterations += 1;
        draw_sample(&mut rng, n, &mut workspace.sample);
        models.clear();
        problem.solve_minimal(&workspace.sample, &mut models);
        for model in &models {
            let Some((mut model_score, mut inliers)) = score(
                problem,
                model,
                threshold_squared,
                best_score,
                &mut workspace.candidate_inliers,
            ) else {
                continue;
            };
            let mut model = *model;
            // Local optimisation: refine on the inliers while that improves the score.
            for _ in 0..LO_PASSES {
                let Some(refined) = problem.refine(&model, &workspace.candidate_inliers) else {
                    break;
                };
                match score(
                    problem,
                    &refined,
                    threshold_squared,
                    model_score,
                    &mut workspace.refined_inliers,
                ) {
                    Some((refined_score, count)) if refined_score < model_score => {
                        std::mem::swap(
                            &mut workspace.candidate_inliers,
                            &mut workspace.refined_inliers,
                        );
                        model = refined;
                        model_score = refined_score;
                        inliers = count;
                    }
                    _ => break,
                }
            }
            best_score = model_score;
            workspace
                .inliers
                .copy_from_slice(&workspace.candidate_inliers);
            best = Some(RansacResult {
                model,
                inliers,
                iterations,
                score: model_score,
            });
            needed = required_iterations(inliers as f64 / n as f64, k, options.confidence);
        }
    }
    best.map(|result| RansacResult {
        iterations,
        ..result
    })
}

/// Fills `sample` with distinct random indices below `n`.
fn draw_sample(rng: &mut impl Rng, n: usize, sample: &mut [usize]) {
    for i in 0..sample.len() {
        sample[i] = loop {
            let candidate = rng.random_range(0..n);
            if !sample[..i].contains(&candidate) {
                break candidate;
            }
        };
    }
}
