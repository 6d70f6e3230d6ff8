//! The extended Kalman filter over the vehicle's motion.
//!
//! State: east, north, up (m, the vehicle's reference point), yaw (rad, counter-clockwise
//! from east), speed along the yaw (m/s), path curvature (1/m), climb rate (m/s), the slow
//! error of the GNSS receiver in east, north and up (m), and the body's pitch on its
//! suspension relative to the road's grade (rad; it leans back when accelerating and dips
//! when braking, and a camera that ignores it misjudges every range), and the relative scale
//! error of speeds read from the road surface (the camera's height and pitch over the road
//! set that scale). Motion is constant
//! curvature and velocity: a car turns by driving along a curve, its yaw rate is speed times
//! curvature, so a standing car keeps its heading however long it waits (a yaw-rate state
//! would let the heading wander through every stop). The unknown accelerations enter as
//! white noise (longitudinal and vertical accelerations, steering as a curvature rate, plus
//! a little sideways slip), and the receiver error and the odometer's scale as
//! first-order Gauss–Markov processes — GNSS errors in a city are correlated over tens of
//! seconds, and treating them (or the odometer's) as white noise would make the filter far
//! too sure of itself.

use mapfix_core::pose::wrap_angle;
use mapfix_core::Vec3;
use nalgebra::{SMatrix, SVector};

pub const STATE: usize = 12;
pub const EAST: usize = 0;
pub const NORTH: usize = 1;
pub const UP: usize = 2;
pub const YAW: usize = 3;
pub const SPEED: usize = 4;
pub const CURVATURE: usize = 5;
pub const CLIMB: usize = 6;
pub const GNSS_BIAS: usize = 7;
pub const BODY_PITCH: usize = 10;
pub const ODOMETRY_SCALE: usize = 11;

pub type State = SVector<f64, STATE>;
pub type Covariance = SMatrix<f64, STATE, STATE>;

/// Process and receiver noise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionNoise {
    /// Longitudinal acceleration (m/s², 1σ white).
    pub acceleration: f64,
    /// Steering: change of the path's curvature (1/m per √s, 1σ white), and the time (s)
    /// over which a curvature fades back to straight: turns end, and a curvature left over
    /// from a bad measurement must not spin a dead-reckoned heading round and round.
    pub curvature_rate: f64,
    pub curvature_time: f64,
    /// Vertical acceleration (m/s²).
    pub vertical_acceleration: f64,
    /// Sideways slip and path wobble (m/√s).
    pub lateral: f64,
    /// Steady-state GNSS error (m, 1σ) horizontal and vertical, and its correlation time (s).
    pub gnss_bias_horizontal: f64,
    pub gnss_bias_vertical: f64,
    pub gnss_bias_time: f64,
    /// The body's pitch relative to the road (rad, 1σ) and its correlation time (s).
    pub body_pitch: f64,
    pub body_pitch_time: f64,
    /// The relative error of speeds read from the road surface (1σ) and its correlation
    /// time (s): the camera's height and pitch over the road set their scale, and the
    /// suspension and the road's grade change both for seconds at a time.
    pub odometry_scale: f64,
    pub odometry_scale_time: f64,
}

impl Default for MotionNoise {
    fn default() -> Self {
        Self {
            acceleration: 2.0,
            // 0.6 rad/s² of yaw acceleration at 12 m/s.
            curvature_rate: 0.05,
            curvature_time: 5.0,
            vertical_acceleration: 0.5,
            lateral: 0.1,
            gnss_bias_horizontal: 1.5,
            gnss_bias_vertical: 2.5,
            gnss_bias_time: 60.0,
            body_pitch: 0.5f64.to_radians(),
            body_pitch_time: 2.0,
            odometry_scale: 0.10,
            odometry_scale_time: 10.0,
        }
    }
}

/// Where the filter starts, with 1σ uncertainties.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Start {
    pub position: Vec3,
    pub yaw: f64,
    pub speed: f64,
    pub position_sigma: Vec3,
    pub yaw_sigma: f64,
    pub speed_sigma: f64,
}

/// Outcome of a measurement update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Innovation {
    /// Normalised innovation squared, yᵀS⁻¹y.
    pub nis: f64,
    pub applied: bool,
}

/// The filter: state, covariance and the time they refer to.
#[derive(Debug, Clone, PartialEq)]
pub struct Ekf {
    pub x: State,
    pub p: Covariance,
    pub time_s: f64,
    pub noise: MotionNoise,
    /// The heading at an earlier time, kept with its correlation to the state, so that a
    /// change of heading measured since then can be applied (see [`Ekf::update_turn`]).
    yaw_mark: Option<YawMark>,
}

/// A copy of the heading at `time_s` (a "stochastic clone"): its value, variance, and its
/// covariance with the state as it moves on.
#[derive(Debug, Clone, PartialEq)]
struct YawMark {
    time_s: f64,
    yaw: f64,
    variance: f64,
    cross: State,
}

impl Ekf {
    /// A filter at a known pose; rates and receiver error start at their priors.
    pub fn new(time_s: f64, start: &Start, noise: MotionNoise) -> Self {
        let Start {
            position,
            yaw,
            speed,
            position_sigma,
            yaw_sigma,
            speed_sigma,
        } = *start;
        let mut x = State::zeros();
        x[EAST] = position.x;
        x[NORTH] = position.y;
        x[UP] = position.z;
        x[YAW] = wrap_angle(yaw);
        x[SPEED] = speed;
        let mut diagonal = State::zeros();
        diagonal[EAST] = position_sigma.x.powi(2);
        diagonal[NORTH] = position_sigma.y.powi(2);
        diagonal[UP] = position_sigma.z.powi(2);
        diagonal[YAW] = yaw_sigma.powi(2);
        diagonal[SPEED] = speed_sigma.powi(2);
        diagonal[CURVATURE] = 0.05f64.powi(2);
        diagonal[CLIMB] = 1.0;
        diagonal[GNSS_BIAS] = noise.gnss_bias_horizontal.powi(2);
        diagonal[GNSS_BIAS + 1] = noise.gnss_bias_horizontal.powi(2);
        diagonal[GNSS_BIAS + 2] = noise.gnss_bias_vertical.powi(2);
        diagonal[BODY_PITCH] = noise.body_pitch.powi(2);
        diagonal[ODOMETRY_SCALE] = noise.odometry_scale.powi(2);
        Self {
            x,
            p: Covariance::from_diagonal(&diagonal),
            time_s,
            noise,
            yaw_mark: None,
        }
    }

    pub fn position(&self) -> Vec3 {
        Vec3::new(self.x[EAST], self.x[NORTH], self.x[UP])
    }

    pub fn yaw(&self) -> f64 {
        self.x[YAW]
    }

    /// Covariance of east, north, up, yaw.
    pub fn pose_covariance(&self) -> SMatrix<f64, 4, 4> {
        self.p.fixed_view::<4, 4>(0, 0).into_owned()
    }

    /// The larger horizontal standard deviation (m).
    pub fn horizontal_sigma(&self) -> f64 {
        let h = self.p.fixed_view::<2, 2>(0, 0);
        let (a, b, d) = (h[(0, 0)], h[(0, 1)], h[(1, 1)]);
        let mean = 0.5 * (a + d);
        (mean + (0.25 * (a - d).powi(2) + b * b).sqrt()).sqrt()
    }

    /// Moves the state to `time_s` (no-op for times not after the filter's).
    pub fn predict(&mut self, time_s: f64) {
        let dt = time_s - self.time_s;
        if !(dt > 0.0) {
            return;
        }
        let x = &mut self.x;
        let (v, kappa) = (x[SPEED], x[CURVATURE]);
        let turned = v * kappa * dt;
        let mid = x[YAW] + 0.5 * turned;
        let (s, c) = mid.sin_cos();
        // Derivatives of the mid-step yaw, through which speed and curvature move the position.
        let mid_by_speed = 0.5 * kappa * dt;
        let mid_by_curvature = 0.5 * v * dt;
        let mut f = Covariance::identity();
        f[(EAST, YAW)] = -v * s * dt;
        f[(EAST, SPEED)] = c * dt - v * s * dt * mid_by_speed;
        f[(EAST, CURVATURE)] = -v * s * dt * mid_by_curvature;
        f[(NORTH, YAW)] = v * c * dt;
        f[(NORTH, SPEED)] = s * dt + v * c * dt * mid_by_speed;
        f[(NORTH, CURVATURE)] = v * c * dt * mid_by_curvature;
        f[(UP, CLIMB)] = dt;
        f[(YAW, SPEED)] = kappa * dt;
        f[(YAW, CURVATURE)] = v * dt;
        let keep = (-dt / self.noise.gnss_bias_time).exp();
        for i in 0..3 {
            f[(GNSS_BIAS + i, GNSS_BIAS + i)] = keep;
        }
        let curvature_keep = (-dt / self.noise.curvature_time).exp();
        f[(CURVATURE, CURVATURE)] = curvature_keep;
        x[CURVATURE] *= curvature_keep;
        let pitch_keep = (-dt / self.noise.body_pitch_time).exp();
        f[(BODY_PITCH, BODY_PITCH)] = pitch_keep;
        x[BODY_PITCH] *= pitch_keep;
        let scale_keep = (-dt / self.noise.odometry_scale_time).exp();
        f[(ODOMETRY_SCALE, ODOMETRY_SCALE)] = scale_keep;
        x[ODOMETRY_SCALE] *= scale_keep;
        x[EAST] += v * c * dt;
        x[NORTH] += v * s * dt;
        x[UP] += x[CLIMB] * dt;
        x[YAW] = wrap_angle(x[YAW] + turned);
        for i in 0..3 {
            x[GNSS_BIAS + i] *= keep;
        }

        let n = &self.noise;
        let mut q = Covariance::zeros();
        // White acceleration along the heading: the (position, speed) block of a
        // continuous white-noise-acceleration model, turned into east/north.
        let qa = n.acceleration.powi(2);
        let along = [c, s];
        for i in 0..2 {
            for j in 0..2 {
                q[(i, j)] += qa * dt.powi(3) / 3.0 * along[i] * along[j];
            }
            q[(i, SPEED)] += qa * dt.powi(2) / 2.0 * along[i];
            q[(SPEED, i)] += qa * dt.powi(2) / 2.0 * along[i];
        }
        q[(SPEED, SPEED)] += qa * dt;
        let across = [-s, c];
        for i in 0..2 {
            for j in 0..2 {
                q[(i, j)] += n.lateral.powi(2) * dt * across[i] * across[j];
            }
        }
        // Steering noise turns the heading only as fast as the car moves (its mean square
        // speed, not the square of its mean).
        let qk = n.curvature_rate.powi(2);
        let speed_variance = self.p[(SPEED, SPEED)];
        q[(YAW, YAW)] += qk * (v * v + speed_variance) * dt.powi(3) / 3.0;
        // The turn, speed × curvature, multiplies two unsure states: its variance holds
        // σ_v² σ_κ², which the linearisation (through the means) leaves out, so that a car of
        // unmeasured speed, mean near zero, would keep its heading while it may be turning a
        // corner at walking pace. That part of the turn lasts as long as both errors do: the
        // curvature's time, or the speed error's age (its variance over the rate at which
        // the acceleration noise builds it: a fraction of a second while something measures
        // the speed, seconds when nothing does).
        if qa > 0.0 {
            let lasting_s = (speed_variance / qa).min(n.curvature_time);
            q[(YAW, YAW)] += 2.0 * lasting_s * speed_variance * self.p[(CURVATURE, CURVATURE)] * dt;
        }
        q[(YAW, CURVATURE)] += qk * v * dt.powi(2) / 2.0;
        q[(CURVATURE, YAW)] += qk * v * dt.powi(2) / 2.0;
        q[(CURVATURE, CURVATURE)] +=
            qk * 0.5 * n.curvature_time * (1.0 - curvature_keep * curvature_keep);
        let qz = n.vertical_acceleration.powi(2);
        q[(UP, UP)] += qz * dt.powi(3) / 3.0;
        q[(UP, CLIMB)] += qz * dt.powi(2) / 2.0;
        q[(CLIMB, UP)] += qz * dt.powi(2) / 2.0;
        q[(CLIMB, CLIMB)] += qz * dt;
        let bias_sigmas = [
            n.gnss_bias_horizontal,
            n.gnss_bias_horizontal,
            n.gnss_bias_vertical,
        ];
        for (i, sigma) in bias_sigmas.into_iter().enumerate() {
            q[(GNSS_BIAS + i, GNSS_BIAS + i)] = sigma * sigma * (1.0 - keep * keep);
        }
        q[(BODY_PITCH, BODY_PITCH)] = n.body_pitch.powi(2) * (1.0 - pitch_keep * pitch_keep);
        q[(ODOMETRY_SCALE, ODOMETRY_SCALE)] =
            n.odometry_scale.powi(2) * (1.0 - scale_keep * scale_keep);
        self.p = f * self.p * f.transpose() + q;
        if let Some(mark) = &mut self.yaw_mark {
            // The marked heading does not move, and the process noise is independent of it.
            mark.cross = f * mark.cross;
        }
        self.time_s = time_s;
    }

    /// The normalised innovation of a measurement `z` with prediction `predicted`,
    /// Jacobian `h` and noise `r`, without applying it. Rows in `angles` are wrapped.
    pub fn innovation<const M: usize>(
        &self,
        z: &SVector<f64, M>,
        predicted: &SVector<f64, M>,
        h: &SMatrix<f64, M, STATE>,
        r: &SMatrix<f64, M, M>,
        angles: &[usize],
    ) -> Option<(SVector<f64, M>, SMatrix<f64, M, M>, f64)> {
        let mut y = z - predicted;
        for &row in angles {
            y[row] = wrap_angle(y[row]);
        }
        let s = h * self.p * h.transpose() + r;
        let s_inverse = s.try_inverse()?;
        let nis = (y.transpose() * s_inverse * y)[(0, 0)];
        nis.is_finite().then_some((y, s_inverse, nis))
    }

    /// Applies a measurement when its NIS is within `gate` (`f64::INFINITY` to always apply).
    pub fn update<const M: usize>(
        &mut self,
        z: &SVector<f64, M>,
        predicted: &SVector<f64, M>,
        h: &SMatrix<f64, M, STATE>,
        r: &SMatrix<f64, M, M>,
        angles: &[usize],
        gate: f64,
    ) -> Innovation {
        let Some((y, s_inverse, nis)) = self.innovation(z, predicted, h, r, angles) else {
            return Innovation {
                nis: f64::INFINITY,
                applied: false,
            };
        };
        if nis > gate {
            return Innovation {
                nis,
                applied: false,
            };
        }
        let gain = self.p * h.transpose() * s_inverse;
        if let Some(mark) = &mut self.yaw_mark {
            // The measurement tells of the marked heading too, through its correlation.
            let mark_gain = s_inverse * h * mark.cross;
            mark.yaw += (mark_gain.transpose() * y)[(0, 0)];
            mark.variance -= (mark.cross.transpose() * h.transpose() * mark_gain)[(0, 0)];
            mark.cross -= gain * (h * mark.cross);
        }
        self.x += gain * y;
        self.x[YAW] = wrap_angle(self.x[YAW]);
        // Joseph form: stays symmetric and positive with the large gains of a first fix.
        let i_kh = Covariance::identity() - gain * h;
        self.p = i_kh * self.p * i_kh.transpose() + gain * r * gain.transpose();
        self.p = (self.p + self.p.transpose()) * 0.5;
        Innovation { nis, applied: true }
    }

    /// Marks the heading now, for a turn measured from here to a later time.
    pub fn mark_yaw(&mut self) {
        self.yaw_mark = Some(YawMark {
            time_s: self.time_s,
            yaw: self.x[YAW],
            variance: self.p[(YAW, YAW)],
            cross: self.p.column(YAW).into_owned(),
        });
    }

    /// Applies a measured change of heading `turn` (rad, σ `sigma`) since `since_s`, when
    /// the heading was marked then and within `gate`; `None` when it was not marked. Unlike
    /// a yaw rate, speed × curvature, a change of heading moves the heading whatever the
    /// filter thinks of the speed: a car seen turning a corner at a speed nothing measures.
    /// It moves the heading only: on its own a turn tells neither the speed nor the
    /// curvature (a sharp turn driven slowly, a gentle one fast, or either reversing).
    pub fn update_turn(
        &mut self,
        since_s: f64,
        turn: f64,
        sigma: f64,
        gate: f64,
    ) -> Option<Innovation> {
        let mark = self
            .yaw_mark
            .take()
            .filter(|mark| (mark.time_s - since_s).abs() < 1e-6)?;
        // The heading's change, yaw − marked yaw, as the measurement of the state widened by
        // the mark.
        let y = wrap_angle(turn - wrap_angle(self.x[YAW] - mark.yaw));
        let (yaw_variance, with_mark) = (self.p[(YAW, YAW)], mark.cross[YAW]);
        let s = yaw_variance - 2.0 * with_mark + mark.variance + sigma * sigma;
        let nis = y * y / s;
        if !(nis <= gate) {
            return Some(Innovation {
                nis,
                applied: false,
            });
        }
        // The heading's optimal gain, the others' zero: the heading becomes
        // (1 − k)·yaw + k·(marked yaw + turn), and its covariances follow from that.
        let k = (yaw_variance - with_mark) / s;
        self.x[YAW] = wrap_angle(self.x[YAW] + k * y);
        let mut column = self.p.column(YAW) * (1.0 - k) + mark.cross * k;
        column[YAW] = (1.0 - k).powi(2) * yaw_variance
            + 2.0 * k * (1.0 - k) * with_mark
            + k * k * (mark.variance + sigma * sigma);
        self.p.set_column(YAW, &column);
        self.p.set_row(YAW, &column.transpose());
        Some(Innovation { nis, applied: true })
    }
}

/// χ² quantiles at 99.9 % for 1–6 degrees of freedom, approximated beyond: the innovation
/// gates.
pub fn chi2_gate(degrees_of_freedom: usize) -> f64 {
    match degrees_of_freedom {
        1 => 10.83,
        2 => 13.82,
        3 => 16.27,
        4 => 18.47,
        5 => 20.52,
        6 => 22.46,
        // Wilson–Hilferty beyond the table.
        k => {
            let k = k as f64;
            let z = 3.09;
            k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
        }
    }
}

/// A filter driving east at `speed`, sure of its state to 0.1 m, 0.01 rad and 0.1 m/s.
#[cfg(test)]
pub(crate) fn straight_east(speed: f64) -> Ekf {
    let start = Start {
        position: Vec3::zeros(),
        yaw: 0.0,
        speed,
        position_sigma: Vec3::repeat(0.1),
        yaw_sigma: 0.01,
        speed_sigma: 0.1,
    };
    Ekf::new(0.0, &start, MotionNoise::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prediction_follows_a_turn_and_uncertainty_grows() {
        let mut ekf = straight_east(10.0);
        ekf.x[CURVATURE] = 0.01;
        // A curve that goes on (no fading back to straight).
        ekf.noise.curvature_time = 1e9;
        let before = ekf.horizontal_sigma();
        for k in 1..=100 {
            ekf.predict(k as f64 * 0.1);
        }
        // A 10 s turn at 10 m/s on a 100 m radius: through 1 rad.
        let expected = Vec3::new(100.0 * 1f64.sin(), 100.0 * (1.0 - 1f64.cos()), 0.0);
        assert!(
            (ekf.position() - expected).norm() < 0.05,
            "{}",
            ekf.position()
        );
        assert!((ekf.yaw() - 1.0).abs() < 1e-6);
        assert!(ekf.horizontal_sigma() > 10.0 * before);
        // With nothing to say the curve goes on, it fades: 30 s of dead reckoning turn the
        // heading by speed × curvature × fading time, not round and round.
        let mut fading = straight_east(10.0);
        fading.x[CURVATURE] = 0.01;
        for k in 1..=300 {
            fading.predict(k as f64 * 0.1);
        }
        let expected = 10.0 * 0.01 * fading.noise.curvature_time;
        assert!((fading.yaw() - expected).abs() < 0.02, "{}", fading.yaw());
    }

    #[test]
    fn a_standing_car_keeps_its_heading() {
        let mut ekf = straight_east(0.0);
        ekf.x[CURVATURE] = 0.05;
        let yaw_variance = ekf.p[(YAW, YAW)];
        // Thirty seconds at a stop, its speed measured as zero (Doppler) five times a second.
        let mut h = SMatrix::<f64, 1, STATE>::zeros();
        h[(0, SPEED)] = 1.0;
        let r = SMatrix::<f64, 1, 1>::new(0.1f64.powi(2));
        let zero = nalgebra::Vector1::zeros();
        for k in 1..=150 {
            ekf.predict(k as f64 * 0.2);
            let speed = nalgebra::Vector1::new(ekf.x[SPEED]);
            ekf.update(&zero, &speed, &h, &r, &[], f64::INFINITY);
        }
        assert_eq!(ekf.yaw(), 0.0);
        // Only the small doubt about the speed turns into doubt about the heading.
        let sigma = ekf.p[(YAW, YAW)].sqrt().to_degrees();
        assert!(sigma < 1.5, "heading σ {sigma}° after 30 s standing");
        // A moving one does turn, and grows unsure of its heading.
        let mut moving = straight_east(10.0);
        moving.x[CURVATURE] = 0.05;
        moving.predict(1.0);
        assert!((moving.yaw() - 0.5).abs() < 1e-9);
        assert!(moving.p[(YAW, YAW)] > 10.0 * yaw_variance);
    }

    #[test]
    fn a_car_of_unknown_speed_grows_unsure_of_its_heading() {
        // Both believed standing for 2 s; one is told so 15 times a second (σ 0.1 m/s), the
        // other is told nothing: it may be driving round a corner at walking pace.
        let mut known = straight_east(0.0);
        let mut unknown = straight_east(0.0);
        let mut h = SMatrix::<f64, 1, STATE>::zeros();
        h[(0, SPEED)] = 1.0;
        let r = SMatrix::<f64, 1, 1>::new(0.1f64.powi(2));
        let zero = nalgebra::Vector1::zeros();
        for k in 1..=30 {
            let time_s = k as f64 / 15.0;
            unknown.predict(time_s);
            known.predict(time_s);
            let speed = nalgebra::Vector1::new(known.x[SPEED]);
            known.update(&zero, &speed, &h, &r, &[], f64::INFINITY);
        }
        // Heading variance gained in the 2 s, over the starting 0.01 rad σ.
        let doubt = |ekf: &Ekf| ekf.p[(YAW, YAW)] - 0.01f64.powi(2);
        assert!(doubt(&unknown) > 50.0 * doubt(&known));
        assert!(doubt(&unknown).sqrt().to_degrees() > 2.0);
    }

    #[test]
    fn a_turn_seen_turns_the_heading_of_a_car_of_unknown_speed() {
        // A car believed standing, its speed unsure by 3 m/s, drives round a right-angled
        // corner in 2 s; only the turn from frame to frame (15 a second) is seen.
        let mut ekf = straight_east(0.0);
        ekf.p[(SPEED, SPEED)] = 9.0;
        let mut blind = ekf.clone();
        let per_frame = -std::f64::consts::FRAC_PI_2 / 30.0;
        for k in 1..=30 {
            let time_s = k as f64 / 15.0;
            ekf.mark_yaw();
            ekf.predict(time_s);
            let outcome = ekf.update_turn(time_s - 1.0 / 15.0, per_frame, 0.005, chi2_gate(1));
            assert!(outcome.is_some_and(|outcome| outcome.applied));
            blind.predict(time_s);
        }
        let sigma = |ekf: &Ekf| ekf.p[(YAW, YAW)].sqrt().to_degrees();
        assert!((ekf.yaw().to_degrees() + 90.0).abs() < 1.0, "{}", ekf.yaw());
        assert!(sigma(&ekf) < 2.0, "heading σ {}°", sigma(&ekf));
        // Not seen, the turn is only a growing doubt.
        assert!(blind.yaw().abs() < 1e-9 && sigma(&blind) > 10.0);
        // A turn since a time not marked is not applied.
        ekf.mark_yaw();
        ekf.predict(2.1);
        assert_eq!(ekf.update_turn(2.05, 0.1, 0.005, chi2_gate(1)), None);
    }

    #[test]
    fn a_heading_measured_after_the_mark_moves_the_mark_too() {
        // Heading 0 ± 0.2 rad, marked; a compass says 0.1 rad (±0.01) a moment later, then the
        // turn since the mark is seen to be none: the heading stays at the compass's, the
        // compass having told where the marked heading was as well.
        let mut ekf = straight_east(0.0);
        ekf.p[(YAW, YAW)] = 0.04;
        ekf.mark_yaw();
        ekf.predict(0.1);
        let mut h = SMatrix::<f64, 1, STATE>::zeros();
        h[(0, YAW)] = 1.0;
        let compass = nalgebra::Vector1::new(0.1);
        let predicted = nalgebra::Vector1::new(ekf.yaw());
        let r = SMatrix::<f64, 1, 1>::new(0.01f64.powi(2));
        ekf.update(&compass, &predicted, &h, &r, &[0], chi2_gate(1));
        let outcome = ekf.update_turn(0.0, 0.0, 0.001, chi2_gate(1));
        assert!(outcome.is_some_and(|outcome| outcome.applied && outcome.nis < 1.0));
        assert!((ekf.yaw() - 0.1).abs() < 0.003, "{}", ekf.yaw());
    }

    #[test]
    fn a_position_measurement_pulls_and_shrinks() {
        let mut ekf = straight_east(0.0);
        let mut h = SMatrix::<f64, 2, STATE>::zeros();
        h[(0, EAST)] = 1.0;
        h[(1, NORTH)] = 1.0;
        let r = SMatrix::<f64, 2, 2>::identity() * 0.01;
        let z = nalgebra::Vector2::new(0.1, 0.0);
        let outcome = ekf.update(&z, &nalgebra::Vector2::zeros(), &h, &r, &[], chi2_gate(2));
        assert!(outcome.applied);
        assert!((outcome.nis - 0.5).abs() < 1e-9);
        assert!((ekf.x[EAST] - 0.05).abs() < 1e-9);
        assert!(ekf.p[(EAST, EAST)] < 0.0051);
        let far = nalgebra::Vector2::new(5.0, 0.0);
        let rejected = ekf.update(&far, &nalgebra::Vector2::zeros(), &h, &r, &[], chi2_gate(2));
        assert!(!rejected.applied && rejected.nis > 100.0);
    }
}
