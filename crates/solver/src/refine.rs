//! Levenberg–Marquardt on angular residuals with robust losses.
//!
//! A point landmark contributes the 2-vector of its direction's deviation from the
//! measured bearing, in a tangent basis of the bearing (radians for small angles); a lane
//! ray contributes its angle to the plane of the nearest lane segment ([`crate::lane`]).
//! The pose is updated as `R ← exp([δθ]×)·R`, `c ← c + δc`; [`Freedom`] restricts the
//! update to what the caller does not already know. Robust losses enter by iteratively
//! reweighted least squares.

use crate::lane::ray_residual;
use crate::pose::{CameraPose, Observations};
use mapfix_core::{Rot3, Vec3};
use nalgebra::{Matrix2x6, Matrix6, SMatrix, Vector2, Vector6};

/// The robust loss ρ(s) of a squared residual s; the scale is in radians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Plain least squares.
    Trivial,
    /// Quadratic up to the scale, linear beyond.
    Huber(f64),
    /// Logarithmic beyond the scale: far outliers have almost no pull.
    Cauchy(f64),
}

impl Loss {
    pub fn rho(&self, squared: f64) -> f64 {
        match *self {
            Loss::Trivial => squared,
            Loss::Huber(k) => {
                if squared <= k * k {
                    squared
                } else {
                    2.0 * k * squared.sqrt() - k * k
                }
            }
            Loss::Cauchy(k) => k * k * (squared / (k * k)).ln_1p(),
        }
    }

    /// dρ/ds: the weight of a residual in the reweighted normal equations.
    pub fn weight(&self, squared: f64) -> f64 {
        match *self {
            Loss::Trivial => 1.0,
            Loss::Huber(k) => {
                if squared <= k * k {
                    1.0
                } else {
                    k / squared.sqrt()
                }
            }
            Loss::Cauchy(k) => 1.0 / (1.0 + squared / (k * k)),
        }
    }
}

/// Which parts of the pose the least squares may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freedom {
    /// Rotation and centre (6 degrees of freedom).
    Full,
    /// Centre only; the rotation is known.
    PositionOnly,
    /// Centre and the rotation about the world's up axis (yaw); roll and pitch are known.
    Upright,
}

impl Freedom {
    /// Number of free parameters.
    pub fn dimension(self) -> usize {
        match self {
            Freedom::Full => 6,
            Freedom::PositionOnly => 3,
            Freedom::Upright => 4,
        }
    }
}

/// The basis (columns in `[δθ, δc]`) of the position-only update.
pub(crate) fn position_basis() -> SMatrix<f64, 6, 3> {
    let mut basis = SMatrix::<f64, 6, 3>::zeros();
    basis.fixed_view_mut::<3, 3>(3, 0).fill_with_identity();
    basis
}

/// The basis of the upright update: a yaw about the world's up axis, then the centre.
pub(crate) fn upright_basis(pose: &CameraPose) -> SMatrix<f64, 6, 4> {
    let mut basis = SMatrix::<f64, 6, 4>::zeros();
    // R·Rz(−δ) = exp(−δ·[R·e_z]×)·R: a world yaw is a camera-frame rotation about −R·e_z.
    let axis = -(pose.rotation * Vec3::z());
    basis.fixed_view_mut::<3, 1>(0, 0).copy_from(&axis);
    basis.fixed_view_mut::<3, 3>(3, 1).fill_with_identity();
    basis
}

/// A unit bearing's tangent basis: two unit vectors orthogonal to it and to each other.
#[inline]
pub(crate) fn tangent_basis(bearing: &Vec3) -> (Vec3, Vec3) {
    let helper = if bearing.x.abs() < 0.9 {
        Vec3::x()
    } else {
        Vec3::y()
    };
    let first = bearing.cross(&helper);
    let first = first * (1.0 / first.norm());
    (first, bearing.cross(&first))
}

/// The residual of one observation and its Jacobian with respect to `[δθ, δt]`
/// (`δt = R·δc`: the centre's update in camera axes, which spares a rotation per row).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Residual {
    pub value: Vector2<f64>,
    pub jacobian: Matrix2x6<f64>,
    /// 2 for a point landmark, 1 for a lane ray (only the first row is used).
    pub rows: usize,
}

impl Residual {
    pub fn squared_norm(&self) -> f64 {
        if self.rows == 2 {
            self.value.norm_squared()
        } else {
            self.value.x * self.value.x
        }
    }
}

/// Squared residual of a point landmark (`sin²` of its angle to the bearing), `None` if
/// it lies behind the camera. Cheaper than [`point_residual`]: no Jacobian, no basis.
#[inline]
pub(crate) fn point_residual_squared(
    pose: &CameraPose,
    bearing: &Vec3,
    point: &Vec3,
) -> Option<f64> {
    let p = pose.to_camera(point);
    let cosine = bearing.dot(&p) / p.norm();
    (cosine > 0.0).then_some(1.0 - cosine * cosine)
}

/// Residual of a point landmark, `None` if it lies behind the camera. The Jacobian is
/// with respect to `[δθ, δt]`, where `δt = R·δc` moves the centre in camera axes.
#[inline]
pub(crate) fn point_residual(pose: &CameraPose, bearing: &Vec3, point: &Vec3) -> Option<Residual> {
    let p = pose.to_camera(point);
    let inverse_range = 1.0 / p.norm();
    let direction = p * inverse_range;
    if !(direction.dot(bearing) > 0.0) {
        return None;
    }
    let (e1, e2) = tangent_basis(bearing);
    let (r1, r2) = (e1.dot(&direction), e2.dot(&direction));
    // d r_k / d p = g_k (projection of e_k orthogonal to the direction, over the range).
    let g1 = (e1 - direction * r1) * inverse_range;
    let g2 = (e2 - direction * r2) * inverse_range;
    let (w1, w2) = (p.cross(&g1), p.cross(&g2));
    #[rustfmt::skip]
    let jacobian = Matrix2x6::new(
        w1.x, w1.y, w1.z, -g1.x, -g1.y, -g1.z,
        w2.x, w2.y, w2.z, -g2.x, -g2.y, -g2.z,
    );
    Some(Residual {
        value: Vector2::new(r1, r2),
        jacobian,
        rows: 2,
    })
}

/// Turns normal equations in `[δθ, δt]` into `[δθ, δc]` (`δt = R·δc`).
pub(crate) fn to_centre_coordinates(
    hessian: &Matrix6<f64>,
    gradient: &Vector6<f64>,
    pose: &CameraPose,
) -> (Matrix6<f64>, Vector6<f64>) {
    let mut transform = Matrix6::identity();
    transform
        .fixed_view_mut::<3, 3>(3, 3)
        .copy_from(pose.rotation.matrix());
    (
        transform.transpose() * hessian * transform,
        transform.transpose() * gradient,
    )
}

/// Adds `weight·jᵀj` to the upper triangle of `hessian`.
#[inline]
pub(crate) fn add_outer_upper(
    hessian: &mut Matrix6<f64>,
    j: &nalgebra::RowVector6<f64>,
    weight: f64,
) {
    for column in 0..6 {
        let scaled = weight * j[column];
        for row in 0..=column {
            hessian[(row, column)] += scaled * j[row];
        }
    }
}

/// Copies the upper triangle into the lower.
pub(crate) fn symmetrize(matrix: &mut Matrix6<f64>) {
    for column in 0..6 {
        for row in column + 1..6 {
            matrix[(row, column)] = matrix[(column, row)];
        }
    }
}

/// Cost charged for a point behind the camera: a constant, so that it neither pulls nor
/// lets the optimiser gain by pushing points behind.
const BEHIND_SQUARED: f64 = 4.0;

/// Calls `visit` with every residual of the observations (points where `mask` allows;
/// `None` for a point behind the camera), then every lane ray that meets its polyline.
pub(crate) fn visit_residuals(
    observations: &Observations<'_>,
    mask: Option<&[bool]>,
    pose: &CameraPose,
    mut visit: impl FnMut(Option<&Residual>),
) {
    for (index, (bearing, point)) in observations
        .bearings
        .iter()
        .zip(observations.points)
        .enumerate()
    {
        if mask.is_none_or(|mask| mask[index]) {
            visit(point_residual(pose, bearing, point).as_ref());
        }
    }
    for lane in observations.lanes {
        for ray in lane.rays {
            if let Some((value, row)) = ray_residual(pose, ray, lane.polyline) {
                let mut jacobian = Matrix2x6::zeros();
                jacobian.set_row(0, &row);
                visit(Some(&Residual {
                    value: Vector2::new(value, 0.0),
                    jacobian,
                    rows: 1,
                }));
            }
        }
    }
}

struct NormalEquations {
    hessian: Matrix6<f64>,
    gradient: Vector6<f64>,
    cost: f64,
}

fn normal_equations(
    observations: &Observations<'_>,
    mask: Option<&[bool]>,
    pose: &CameraPose,
    loss: Loss,
) -> NormalEquations {
    let mut hessian = Matrix6::zeros();
    let mut gradient = Vector6::zeros();
    let mut cost = 0.0;
    visit_residuals(observations, mask, pose, |residual| match residual {
        None => cost += loss.rho(BEHIND_SQUARED),
        Some(residual) => {
            let squared = residual.squared_norm();
            cost += loss.rho(squared);
            let weight = loss.weight(squared);
            for row in 0..residual.rows {
                let j = residual.jacobian.fixed_rows::<1>(row).into_owned();
                add_outer_upper(&mut hessian, &j, weight);
                gradient += j.transpose() * (weight * residual.value[row]);
            }
        }
    });
    symmetrize(&mut hessian);
    let (hessian, gradient) = to_centre_coordinates(&hessian, &gradient, pose);
    NormalEquations {
        hessian,
        gradient,
        cost,
    }
}

/// The robust cost alone: the terms of [`visit_residuals`] without their Jacobians,
/// which trial steps do not need.
pub(crate) fn cost(
    observations: &Observations<'_>,
    mask: Option<&[bool]>,
    pose: &CameraPose,
    loss: Loss,
) -> f64 {
    let mut cost = 0.0;
    for (index, (bearing, point)) in observations
        .bearings
        .iter()
        .zip(observations.points)
        .enumerate()
    {
        if mask.is_none_or(|mask| mask[index]) {
            cost +=
                loss.rho(point_residual_squared(pose, bearing, point).unwrap_or(BEHIND_SQUARED));
        }
    }
    for lane in observations.lanes {
        for ray in lane.rays {
            if let Some((value, _)) = ray_residual(pose, ray, lane.polyline) {
                cost += loss.rho(value * value);
            }
        }
    }
    cost
}

/// Solves the damped normal equations in the subspace spanned by `basis`.
fn damped_step<const D: usize>(
    hessian: &Matrix6<f64>,
    gradient: &Vector6<f64>,
    basis: &SMatrix<f64, 6, D>,
    damping: f64,
) -> Option<Vector6<f64>> {
    let mut reduced = basis.transpose() * hessian * basis;
    let largest = reduced.diagonal().max();
    for i in 0..D {
        // A floor keeps directions the data do not see (a lane's length) from making the
        // system singular; the step along them stays near zero.
        reduced[(i, i)] += damping * reduced[(i, i)].max(1e-9 * largest + 1e-300);
    }
    let step = reduced
        .cholesky()?
        .solve(&(-(basis.transpose() * gradient)));
    Some(basis * step)
}

fn step(
    freedom: Freedom,
    pose: &CameraPose,
    equations: &NormalEquations,
    damping: f64,
) -> Option<Vector6<f64>> {
    let (h, g) = (&equations.hessian, &equations.gradient);
    match freedom {
        Freedom::Full => damped_step(h, g, &Matrix6::identity(), damping),
        Freedom::PositionOnly => damped_step(h, g, &position_basis(), damping),
        Freedom::Upright => damped_step(h, g, &upright_basis(pose), damping),
    }
}

/// Applies an update `[δθ, δc]` to a pose.
pub(crate) fn apply_update(pose: &CameraPose, update: &Vector6<f64>) -> CameraPose {
    let rotation = Rot3::new(update.fixed_rows::<3>(0).into_owned()) * pose.rotation;
    CameraPose {
        rotation: Rot3::from_matrix_unchecked(rotation.matrix().into_owned()),
        centre: pose.centre + update.fixed_rows::<3>(3),
    }
}

/// Settings of one refinement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineOptions {
    pub loss: Loss,
    pub max_iterations: usize,
}

/// The outcome of [`refine`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Refinement {
    pub pose: CameraPose,
    /// Robust cost at `pose`.
    pub cost: f64,
    pub iterations: usize,
    /// Whether the steps became negligible before the iteration limit.
    pub converged: bool,
}

/// Minimises the robust angular cost of `observations` (points where `mask`, one flag
/// per point, allows, and all lane rays) over the parameters `freedom` leaves free,
/// starting at `initial`.
pub fn refine(
    observations: &Observations<'_>,
    mask: Option<&[bool]>,
    initial: &CameraPose,
    freedom: Freedom,
    options: &RefineOptions,
) -> Refinement {
    let mut pose = *initial;
    let mut equations = normal_equations(observations, mask, &pose, options.loss);
    let mut damping = 1e-4;
    let mut converged = false;
    let mut iterations = 0;
    while iterations < options.max_iterations && !converged {
        iterations += 1;
        let Some(update) = step(freedom, &pose, &equations, damping) else {
            damping *= 10.0;
            continue;
        };
        let candidate = apply_update(&pose, &update);
        let candidate_cost = cost(observations, mask, &candidate, options.loss);
        let negligible = update.fixed_rows::<3>(0).norm() < 1e-11
            && update.fixed_rows::<3>(3).norm() < 1e-9 * (1.0 + pose.centre.norm());
        if candidate_cost <= equations.cost {
            let decrease = equations.cost - candidate_cost;
            pose = candidate;
            // Below this the remaining change is far under any noise level.
            converged = negligible || decrease <= 1e-7 * equations.cost;
            if converged {
                // No further step: the normal equations at the final pose are not needed.
                equations.cost = candidate_cost;
            } else {
                equations = normal_equations(observations, mask, &pose, options.loss);
            }
            damping = (damping * 0.1).max(1e-12);
        } else {
            // A step that no longer lowers the cost within rounding means we are there.
            converged = negligible || damping > 1e8;
            damping *= 10.0;
        }
    }
    Refinement {
        pose,
        cost: equations.cost,
        iterations,
        converged,
    }
}
