//! Minimal absolute pose from three bearings: Lambda Twist (Persson & Nordberg, ECCV 2018).
//!
//! The unknown depths λ_i (`λ_i·y_i = R·(x_i − c)`) satisfy three quadrics
//! `|λ_i y_i − λ_j y_j|² = |x_i − x_j|²`. Eliminating the right-hand sides gives two
//! homogeneous quadratic forms D1, D2 with `λᵀD1λ = λᵀD2λ = 0`. A root γ of the cubic
//! `det(D1 + γ·D2) = 0` makes D0 = D1 + γ·D2 singular and indefinite, so λᵀD0λ = 0
//! factors into two planes through the origin (from D0's eigen-decomposition). On each
//! plane the remaining quadric is a quadratic in one ratio, and the scale follows from the
//! known distances. Gauss–Newton on the three original equations then polishes each depth
//! triple, and the pose comes from aligning the two point triangles. All real solutions
//! with positive depths are returned (at most four); no heap allocation.

use crate::pose::{CameraPose, Solutions};
use mapfix_core::{Rot3, Vec3};
use nalgebra::Matrix3;

/// All poses (up to four) that map `points` (world) onto the unit `bearings`
/// (camera frame) with positive depths. Empty for degenerate input (coincident or
/// collinear points, non-finite values).
pub fn p3p(bearings: &[Vec3; 3], points: &[Vec3; 3]) -> Solutions {
    let mut solutions = Solutions::new();
    let [y1, y2, y3] = bearings;
    let [x1, x2, x3] = points;
    let b12 = y1.dot(y2);
    let b13 = y1.dot(y3);
    let b23 = y2.dot(y3);
    let d12 = x1 - x2;
    let d13 = x1 - x3;
    let a12 = d12.norm_squared();
    let a13 = d13.norm_squared();
    let a23 = (x2 - x3).norm_squared();
    let Some(world_inverse) = Matrix3::from_columns(&[d12, d13, d12.cross(&d13)]).try_inverse()
    else {
        return solutions;
    };

    #[rustfmt::skip]
    let d1 = Matrix3::new(
        a23, -a23 * b12, 0.0,
        -a23 * b12, a23 - a12, a12 * b23,
        0.0, a12 * b23, -a12,
    );
    #[rustfmt::skip]
    let d2 = Matrix3::new(
        a23, 0.0, -a23 * b13,
        0.0, -a13, a13 * b23,
        -a23 * b13, a13 * b23, a23 - a13,
    );
    // Solve det(P + γQ) = 0 with Q the better-conditioned of the two as leading term.
    let (det1, det2) = (d1.determinant(), d2.determinant());
    let (p, q, det_p, det_q) = if det2.abs() >= det1.abs() {
        (d1, d2, det1, det2)
    } else {
        (d2, d1, det2, det1)
    };
    let scale = a12.max(a13).max(a23);
    let (d0, gamma) = if det_q.abs() <= 1e-14 * scale * scale * scale {
        (q, f64::INFINITY)
    } else {
        let gamma = pencil_root(&p, &q, det_p, det_q);
        (p + q * gamma, gamma)
    };
    // On the planes where λᵀD0λ = 0, P = −γQ as quadratic forms: use the larger one.
    let form = if gamma.abs() <= 1.0 { q } else { p };

    let Some((e1, e2, ratio)) = plane_pair(&d0) else {
        return solutions;
    };
    let distances = [a12, a13, a23];
    let cosines = [b12, b13, b23];
    let signs: &[f64] = if ratio > 0.0 { &[1.0, -1.0] } else { &[1.0] };
    for sign in signs {
        // λ lies on the plane k·λ = 0.
        let k = e1 + e2 * (sign * ratio);
        let j = k.iamax();
        let (p_index, q_index) = ((j + 1) % 3, (j + 2) % 3);
        let mut u = Vec3::zeros();
        u[p_index] = 1.0;
        u[j] = -k[p_index] / k[j];
        let mut v = Vec3::zeros();
        v[q_index] = 1.0;
        v[j] = -k[q_index] / k[j];
        // λ ∝ τ·u + v; the remaining quadric is a quadratic in τ.
        let a = u.dot(&(form * u));
        let b = u.dot(&(form * v));
        let c = v.dot(&(form * v));
        for tau in quadratic_roots(a, 2.0 * b, c).iter().flatten() {
            if *tau <= 0.0 {
                continue;
            }
            let direction = u * *tau + v;
            if direction[j] <= 0.0 {
                continue;
            }
            let Some(mut depths) = scale_depths(&direction, &distances, &cosines) else {
                continue;
            };
            polish_depths(&mut depths, &distances, &cosines);
            if depths.iter().any(|d| !(*d > 0.0)) {
                continue;
            }
            let m1 = y1 * depths[0];
            let camera_12 = m1 - y2 * depths[1];
            let camera_13 = m1 - y3 * depths[2];
            let rotation =
                Matrix3::from_columns(&[camera_12, camera_13, camera_12.cross(&camera_13)])
                    * world_inverse;
            let centre = x1 - rotation.transpose() * m1;
            solutions.push(CameraPose {
                rotation: Rot3::from_matrix_unchecked(rotation),
                centre,
            });
        }
    }
    solutions
}

#[inline]
fn det_columns(a: &Vec3, b: &Vec3, c: &Vec3) -> f64 {
    a.dot(&b.cross(c))
}

/// A real root γ of det(P + γQ), with det(Q) ≠ 0.
fn pencil_root(p: &Matrix3<f64>, q: &Matrix3<f64>, det_p: f64, det_q: f64) -> f64 {
    let (p1, p2, p3) = (
        p.column(0).into_owned(),
        p.column(1).into_owned(),
        p.column(2).into_owned(),
    );
    let (q1, q2, q3) = (
        q.column(0).into_owned(),
        q.column(1).into_owned(),
        q.column(2).into_owned(),
    );
    let c1 = det_columns(&q1, &p2, &p3) + det_columns(&p1, &q2, &p3) + det_columns(&p1, &p2, &q3);
    let c2 = det_columns(&p1, &q2, &q3) + det_columns(&q1, &p2, &q3) + det_columns(&q1, &q2, &p3);
    let (a, b, c) = (c2 / det_q, c1 / det_q, det_p / det_q);
    let mut root = largest_cubic_root(a, b, c);
    // Newton polishing: the closed form loses digits when roots are close.
    for _ in 0..2 {
        let value = ((root + a) * root + b) * root + c;
        let slope = (3.0 * root + 2.0 * a) * root + b;
        if slope != 0.0 {
            root -= value / slope;
        }
    }
    root
}

/// The largest real root of x³ + a·x² + b·x + c (closed form).
fn largest_cubic_root(a: f64, b: f64, c: f64) -> f64 {
    let shift = a / 3.0;
    let p = b - a * shift;
    let q = 2.0 * shift * shift * shift - b * shift + c;
    let discriminant = 0.25 * q * q + p * p * p / 27.0;
    let t = if discriminant > 0.0 {
        let root = discriminant.sqrt();
        fast_cbrt(-0.5 * q + root) + fast_cbrt(-0.5 * q - root)
    } else if p < 0.0 {
        let r = (-p / 3.0).sqrt();
        let angle = (-0.5 * q / (r * r * r)).clamp(-1.0, 1.0).acos();
        2.0 * r * (angle / 3.0).cos()
    } else {
        fast_cbrt(-q)
    };
    t - shift
}

/// Cube root to about 1e-10 relative: an exponent-bits estimate refined by two Newton
/// steps. The caller polishes the cubic's root anyway, and libm's cbrt costs a fifth of
/// the whole solver.
#[inline]
fn fast_cbrt(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let magnitude = x.abs();
    // Dividing the exponent bits by three approximates the cube root within ~6 %.
    let mut t = f64::from_bits(magnitude.to_bits() / 3 + (715_094_163u64 << 32));
    for _ in 0..3 {
        t -= (t * t * t - magnitude) / (3.0 * t * t);
    }
    t.copysign(x)
}

/// The real roots of a·x² + b·x + c (numerically stable form).
fn quadratic_roots(a: f64, b: f64, c: f64) -> [Option<f64>; 2] {
    if a.abs() < 1e-14 * (b.abs() + c.abs()) {
        return [(b != 0.0).then(|| -c / b), None];
    }
    let discriminant = b * b - 4.0 * a * c;
    if discriminant < 0.0 {
        return [None, None];
    }
    let temp = -0.5 * (b + b.signum() * discriminant.sqrt());
    if temp == 0.0 {
        return [Some(0.0), None];
    }
    [Some(temp / a), Some(c / temp)]
}

/// A unit null vector of a rank-2 symmetric matrix: the largest cross product of two rows.
fn null_vector(m: &Matrix3<f64>) -> Vec3 {
    let r0 = Vec3::new(m.m11, m.m12, m.m13);
    let r1 = Vec3::new(m.m21, m.m22, m.m23);
    let r2 = Vec3::new(m.m31, m.m32, m.m33);
    let candidates = [r0.cross(&r1), r0.cross(&r2), r1.cross(&r2)];
    let best = candidates
        .iter()
        .max_by(|a, b| a.norm_squared().total_cmp(&b.norm_squared()))
        .copied()
        .unwrap_or_else(Vec3::zeros);
    best.normalize()
}

/// For singular symmetric D0 = σ1·e1e1ᵀ + σ2·e2e2ᵀ, returns (e1, e2, s) with
/// s = √(−σ2/σ1), so that λᵀD0λ = 0 ⇔ (e1 ± s·e2)·λ = 0. s = 0 when D0 is
/// semi-definite (then the only candidate plane is e1·λ = 0).
fn plane_pair(d0: &Matrix3<f64>) -> Option<(Vec3, Vec3, f64)> {
    let trace = d0.trace();
    let minors = d0.m11 * d0.m22 - d0.m12 * d0.m12 + d0.m11 * d0.m33 - d0.m13 * d0.m13
        + d0.m22 * d0.m33
        - d0.m23 * d0.m23;
    let spread = (trace * trace - 4.0 * minors).max(0.0).sqrt();
    let (high, low) = (0.5 * (trace + spread), 0.5 * (trace - spread));
    let (sigma1, sigma2) = if high.abs() >= low.abs() {
        (high, low)
    } else {
        (low, high)
    };
    if !(sigma1.abs() > 0.0) {
        return None;
    }
    let e3 = null_vector(d0);
    let e1 = null_vector(&(d0 - Matrix3::from_diagonal_element(sigma1)));
    let e2 = e3.cross(&e1);
    let ratio = (-sigma2 / sigma1).max(0.0).sqrt();
    (e1.iter().chain(e2.iter()).all(|x| x.is_finite())).then_some((e1, e2, ratio))
}

/// Scales a depth direction so its point triangle has the known side lengths (least
/// squares over the three sides); `None` if the direction is degenerate.
fn scale_depths(direction: &Vec3, distances: &[f64; 3], cosines: &[f64; 3]) -> Option<Vec3> {
    let sides = side_lengths_squared(direction, cosines);
    let total = sides.iter().sum::<f64>();
    if !(total > 0.0) {
        return None;
    }
    Some(direction * ((distances[0] + distances[1] + distances[2]) / total).sqrt())
}

/// |λi·yi − λj·yj|² for (1,2), (1,3), (2,3).
#[inline]
fn side_lengths_squared(l: &Vec3, cosines: &[f64; 3]) -> [f64; 3] {
    [
        l.x * l.x + l.y * l.y - 2.0 * cosines[0] * l.x * l.y,
        l.x * l.x + l.z * l.z - 2.0 * cosines[1] * l.x * l.z,
        l.y * l.y + l.z * l.z - 2.0 * cosines[2] * l.y * l.z,
    ]
}

/// Gauss–Newton steps on the depths: the closed form is already close, and each step
/// squares its relative error.
const POLISH_ITERATIONS: usize = 1;

/// Gauss–Newton on the three side-length equations.
fn polish_depths(depths: &mut Vec3, distances: &[f64; 3], cosines: &[f64; 3]) {
    let [b12, b13, b23] = *cosines;
    for _ in 0..POLISH_ITERATIONS {
        let sides = side_lengths_squared(depths, cosines);
        let residual = Vec3::new(
            sides[0] - distances[0],
            sides[1] - distances[1],
            sides[2] - distances[2],
        );
        if residual.norm_squared() < 1e-28 * distances[0] * distances[0] {
            break;
        }
        let (l1, l2, l3) = (depths.x, depths.y, depths.z);
        #[rustfmt::skip]
        let jacobian = Matrix3::new(
            2.0 * (l1 - b12 * l2), 2.0 * (l2 - b12 * l1), 0.0,
            2.0 * (l1 - b13 * l3), 0.0, 2.0 * (l3 - b13 * l1),
            0.0, 2.0 * (l2 - b23 * l3), 2.0 * (l3 - b23 * l2),
        );
        match jacobian.try_inverse() {
            Some(inverse) => *depths -= inverse * residual,
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{dashcam_problem, ProblemSpec};
    use rand::SeedableRng;

    #[test]
    fn recovers_dashcam_poses_from_exact_bearings() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let spec = ProblemSpec {
            landmarks: 3,
            outlier_ratio: 0.0,
            noise_px: 0.0,
        };
        let mut worst: f64 = 0.0;
        for _ in 0..2000 {
            let problem = dashcam_problem(&mut rng, &spec);
            let bearings = [
                problem.bearings[0],
                problem.bearings[1],
                problem.bearings[2],
            ];
            let points = [problem.points[0], problem.points[1], problem.points[2]];
            let best = p3p(&bearings, &points)
                .iter()
                .map(|pose| {
                    pose.rotation_error(&problem.truth) + pose.position_error(&problem.truth)
                })
                .fold(f64::INFINITY, f64::min);
            worst = worst.max(best);
        }
        assert!(worst < 1e-6, "worst error {worst}");
    }

    #[test]
    fn fast_cube_root_is_accurate() {
        for x in [1e-200, 1e-9, 0.3, 1.0, 8.0, 12345.678, 1e150, -27.0, -1e-30] {
            let exact: f64 = f64::cbrt(x);
            assert!((fast_cbrt(x) - exact).abs() <= 1e-12 * exact.abs(), "{x}");
        }
        assert_eq!(fast_cbrt(0.0), 0.0);
    }

    #[test]
    fn collinear_points_give_no_solution() {
        let bearings = [
            Vec3::z(),
            Vec3::new(0.1, 0.0, 1.0).normalize(),
            Vec3::new(0.2, 0.0, 1.0).normalize(),
        ];
        let points = [
            Vec3::new(0.0, 0.0, 10.0),
            Vec3::new(1.0, 0.0, 10.0),
            Vec3::new(2.0, 0.0, 10.0),
        ];
        assert!(p3p(&bearings, &points).is_empty());
    }
}
