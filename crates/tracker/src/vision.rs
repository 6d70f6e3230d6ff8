//! From paired detections to a vision fix of the vehicle: bearings to the paired map signs
//! and rays along the paired lane lines go to the solver (upright: roll and pitch come from
//! the prior), and the camera pose it returns becomes the vehicle's position and yaw with
//! their covariance — or the reason the frame gives no trustworthy fix.

use crate::associate::{Association, Prior, POSE_PARAMETERS};
use mapfix_core::pose::wrap_angle;
use mapfix_core::{CameraModel, Pose, Vec3};
use mapfix_detector::Detections;
use mapfix_map::Map;
use mapfix_solver::{
    Fix, LaneObservation, Observations, PoseSolver, SolveError, SolveOptions, Upright,
};
use nalgebra::{Matrix4, SMatrix, Vector4};

/// Roll and pitch change (rad) by which the fix's sensitivity to them is measured.
const ATTITUDE_STEP: f64 = 0.002;

/// A vehicle pose measured from one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisionFix {
    /// The vehicle's reference point (ENU, m).
    pub position: Vec3,
    pub yaw: f64,
    /// Covariance of east, north, up, yaw.
    pub covariance: Matrix4<f64>,
    /// The solver's camera fix.
    pub camera: Fix,
    /// Lane rays that entered the solve.
    pub lane_rays: usize,
    /// How the fix (east, north, up, yaw) moves per radian of pitch the solver was told:
    /// the filter, which estimates the body's pitch, accounts for it.
    pub pitch_sensitivity: Vector4<f64>,
}

/// Why a frame gave no vision fix.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum VisionError {
    #[error("{0} paired signs, need 2")]
    TooFewSigns(usize),
    #[error(transparent)]
    Solver(#[from] SolveError),
    #[error("residuals too large: rms {rms:.4} rad")]
    Residuals { rms: f64 },
    #[error("fix too uncertain: horizontal σ {sigma:.2} m")]
    Uncertain { sigma: f64 },
}

/// Settings of the per-frame solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisionOptions {
    pub solve: SolveOptions,
    /// Lane points per lane handed to the solver (evenly spread).
    pub max_lane_rays: usize,
    /// Largest acceptable RMS angular residual (rad).
    pub max_residual_rms: f64,
    /// Largest acceptable horizontal 1σ (m).
    pub max_horizontal_sigma: f64,
    /// Uncertainty (rad, 1σ) of the roll the upright solver is told (none): the body
    /// rolls in bends and on bumps.
    pub roll_sigma: f64,
}

impl Default for VisionOptions {
    fn default() -> Self {
        Self {
            solve: SolveOptions::default(),
            max_lane_rays: 16,
            max_residual_rms: 0.004,
            max_horizontal_sigma: 3.0,
            roll_sigma: 0.3f64.to_radians(),
        }
    }
}

/// Up to `count` items spread evenly over `items`, first and last included.
pub fn spread<T: Copy>(items: &[T], count: usize) -> impl Iterator<Item = T> + '_ {
    let n = items.len();
    let take = n.min(count);
    (0..take).map(move |k| {
        let index = if take > 1 {
            k * (n - 1) / (take - 1)
        } else {
            0
        };
        items[index]
    })
}

/// Solves the paired landmarks for the vehicle pose.
pub fn solve_frame(
    map: &Map,
    camera: &CameraModel,
    prior: &Prior,
    detections: &Detections,
    association: &Association,
    options: &VisionOptions,
) -> Result<VisionFix, VisionError> {
    let mut bearings = Vec::with_capacity(association.signs.len());
    let mut points = Vec::with_capacity(association.signs.len());
    for pair in &association.signs {
        let [u, v] = detections.signs[pair.detection].center;
        if let Some(ray) = camera.pixel_to_ray(f64::from(u), f64::from(v)) {
            bearings.push(ray);
            points.push(map.signs[pair.sign].position);
        }
    }
    if bearings.len() < 2 {
        return Err(VisionError::TooFewSigns(bearings.len()));
    }
    let rays: Vec<Vec<Vec3>> = association
        .lanes
        .iter()
        .map(|pair| {
            spread(
                &detections.lanes[pair.detection].points,
                options.max_lane_rays,
            )
            .filter_map(|[u, v]| camera.pixel_to_ray(f64::from(u), f64::from(v)))
            .collect()
        })
        .collect();
    let lanes: Vec<LaneObservation<'_>> = association
        .lanes
        .iter()
        .zip(&rays)
        .filter_map(|(pair, rays)| {
            let line = &map.lane_lines[pair.lane_line].line.points;
            let polyline = line.get(pair.vertices.start..pair.vertices.end.min(line.len()))?;
            (polyline.len() >= 2).then_some(LaneObservation { rays, polyline })
        })
        .collect();
    let observations = Observations::points(&bearings, &points).with_lanes(&lanes);
    let solve_at = |delta: &[f64; POSE_PARAMETERS]| -> Result<VisionFix, VisionError> {
        let world_to_camera = camera
            .world_from_camera(&prior.perturbed(delta))
            .rotation
            .inverse();
        let fix = Upright::new(world_to_camera).solve(&observations, &options.solve)?;
        Ok(to_vehicle(camera, &fix))
    };
    let mut vehicle_fix = solve_at(&[0.0; POSE_PARAMETERS])?;
    let fix = vehicle_fix.camera;
    if fix.inliers < 2 {
        return Err(VisionError::TooFewSigns(fix.inliers));
    }
    if fix.residuals.rms > options.max_residual_rms {
        return Err(VisionError::Residuals {
            rms: fix.residuals.rms,
        });
    }
    // The solver trusts the roll and pitch it is told; how far the answer moves when they
    // change says what their errors do to it: the roll's uncertainty joins the covariance,
    // the pitch's sensitivity goes to the filter, which estimates the pitch.
    let sensitivity = |parameter: usize| -> Result<Vector4<f64>, VisionError> {
        let mut delta = [0.0; POSE_PARAMETERS];
        delta[parameter] = ATTITUDE_STEP;
        let moved = solve_at(&delta)?;
        Ok(Vector4::new(
            moved.position.x - vehicle_fix.position.x,
            moved.position.y - vehicle_fix.position.y,
            moved.position.z - vehicle_fix.position.z,
            wrap_angle(moved.yaw - vehicle_fix.yaw),
        ) / ATTITUDE_STEP)
    };
    let roll = sensitivity(5)? * options.roll_sigma;
    vehicle_fix.pitch_sensitivity = sensitivity(4)?;
    vehicle_fix.covariance += roll * roll.transpose();
    let horizontal = vehicle_fix.covariance.fixed_view::<2, 2>(0, 0);
    let sigma = horizontal.trace().sqrt();
    if !(sigma <= options.max_horizontal_sigma) {
        return Err(VisionError::Uncertain { sigma });
    }
    vehicle_fix.lane_rays = lanes.iter().map(|l| l.rays.len()).sum();
    Ok(vehicle_fix)
}

/// The vehicle pose of a camera fix, with the covariance of east, north, up and yaw.
///
/// The solver's covariance is over `[δθ, δc]` (camera-frame rotation, camera centre). A
/// vehicle yaw δψ is the camera rotation δθ = −δψ·a with a = R·e_z, so δψ = −aᵀδθ; the
/// vehicle's reference point p = c − R_wv·m moves by δc − (e_z × R_wv·m)·δψ.
fn to_vehicle(camera: &CameraModel, fix: &Fix) -> VisionFix {
    let world_from_camera = fix.pose.world_from_camera();
    let camera_from_vehicle = camera.vehicle_from_camera().inverse();
    let vehicle: Pose = world_from_camera.compose(&camera_from_vehicle);
    let a = fix.pose.rotation * Vec3::z();
    let lever = Vec3::z().cross(&(vehicle.rotation * camera.mount.position));
    let mut map = SMatrix::<f64, 4, 6>::zeros();
    let spin = lever * a.transpose();
    map.fixed_view_mut::<3, 3>(0, 0).copy_from(&spin);
    map.fixed_view_mut::<3, 3>(0, 3).fill_with_identity();
    map.fixed_view_mut::<1, 3>(3, 0)
        .copy_from(&(-a.transpose()));
    let covariance = map * fix.covariance * map.transpose();
    VisionFix {
        position: vehicle.position,
        yaw: vehicle.attitude().yaw,
        covariance,
        camera: *fix,
        lane_rays: 0,
        pitch_sensitivity: Vector4::zeros(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_keeps_the_ends() {
        let items: Vec<usize> = (0..10).collect();
        assert_eq!(spread(&items, 4).collect::<Vec<_>>(), vec![0, 3, 6, 9]);
        assert_eq!(spread(&items, 20).count(), 10);
        assert_eq!(spread(&items[..1], 3).collect::<Vec<_>>(), vec![0]);
    }
}
