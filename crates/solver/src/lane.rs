//! Lane-line residuals: the ray through a lane pixel must lie in the plane spanned by the
//! camera centre and the nearest segment of the map's lane polyline.
//!
//! The residual is the sine of the angle between the ray and that plane — an angle, like
//! the point residuals, so both join one least-squares problem. A straight lane pins the
//! camera's lateral offset, height and yaw, and says nothing about the position along it;
//! point landmarks (signs) supply that.

use crate::pose::CameraPose;
use mapfix_core::Vec3;
use nalgebra::RowVector6;

/// Rays through the pixels of one detected lane line (unit vectors, camera frame) and the
/// map polyline (world frame, at least two vertices) they were associated with.
#[derive(Debug, Clone, Copy)]
pub struct LaneObservation<'a> {
    pub rays: &'a [Vec3],
    pub polyline: &'a [Vec3],
}

/// The residual of one lane ray against the nearest polyline segment whose angular
/// extent contains it, and its Jacobian with respect to `[δθ, δt]`; `None` where no
/// segment lies in the ray's direction (the ray cannot be explained by this polyline).
/// As for points, the Jacobian's centre part is in camera axes (`δt = R·δc`).
pub(crate) fn ray_residual(
    pose: &CameraPose,
    ray: &Vec3,
    polyline: &[Vec3],
) -> Option<(f64, RowVector6<f64>)> {
    let mut best: Option<(f64, Vec3, Vec3)> = None;
    let mut start = pose.to_camera(polyline.first()?);
    for vertex in &polyline[1..] {
        let end = pose.to_camera(vertex);
        let normal = start.cross(&end);
        let length = normal.norm();
        let between = start.cross(ray).dot(&normal) >= 0.0 && ray.cross(&end).dot(&normal) >= 0.0;
        if length > 1e-12 && between {
            let residual = ray.dot(&normal) / length;
            if best.is_none_or(|(r, _, _)| residual.abs() < r.abs()) {
                best = Some((residual, start, end));
            }
        }
        start = end;
    }
    let (residual, start, end) = best?;
    let normal = start.cross(&end);
    let length = normal.norm();
    // d residual / d normal
    let gradient = (ray - normal * (residual / length)) / length;
    let d_rotation = normal.cross(&gradient);
    let d_centre = (start - end).cross(&gradient);
    let jacobian = RowVector6::new(
        d_rotation.x,
        d_rotation.y,
        d_rotation.z,
        d_centre.x,
        d_centre.y,
        d_centre.z,
    );
    Some((residual, jacobian))
}
