//! The per-frame entry point: GNSS epochs since the last frame, then the frame's
//! detections, through association, solving and the filter, to one estimate per frame.

use crate::associate::{
    associate, jacobian, map_error, project_with_jacobian, row_offsets, Association,
    AssociationOptions, Prior, POSE_PARAMETERS,
};
use crate::filter::{
    chi2_gate, Ekf, Innovation, MotionNoise, Start, BODY_PITCH, CLIMB, CURVATURE, EAST, GNSS_BIAS,
    NORTH, ODOMETRY_SCALE, SPEED, STATE, UP, YAW,
};
use crate::global::{global_search, GlobalOptions};
use crate::gnss::{GnssInput, GnssQuality};
use crate::road::RoadSurface;
use crate::vision::{solve_frame, spread, VisionFix, VisionOptions};
use mapfix_core::pose::{heading_from_yaw, yaw_from_heading};
use mapfix_core::{Attitude, CameraModel, FixSource, Pose, Rot3, Vec3};
use mapfix_detector::Detections;
use mapfix_map::{Map, MapIndex};
use mapfix_odometry::GroundMotion;
use nalgebra::{
    DMatrix, DVector, Matrix1, Matrix3, Matrix4, SMatrix, Vector1, Vector2, Vector3, Vector4,
};
use std::sync::Arc;

/// Why a tracker cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrackerError {
    #[error("map '{0}' has no signs and no lane lines: nothing to position against")]
    NoLandmarks(String),
    #[error("invalid option: {0}")]
    InvalidOption(&'static str),
}

/// How the frame's detections entered the filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VisionUse {
    /// Nothing usable was paired.
    None,
    /// A solver fix (signs, with lanes when paired).
    Fix { residual_rms: f64 },
    /// Paired landmarks too few for a fix, applied one by one as image measurements.
    Landmarks,
}

/// Events of one step worth reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// A GNSS epoch disagreed with the track beyond its gate: taken as multipath and
    /// down-weighted.
    pub gnss_multipath: bool,
    /// A vision fix disagreed with the track beyond its gate and was not used.
    pub vision_rejected: bool,
    /// The pose was found by the global search (no prior).
    pub relocalised: bool,
    /// The filter (re)started this step.
    pub started: bool,
    /// The uncertainty outgrew the limit and the track was dropped.
    pub lost: bool,
}

/// The tracked vehicle pose (its reference point, on the road).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackedPose {
    pub position: Vec3,
    /// Counter-clockwise from east (rad).
    pub yaw: f64,
    /// From the road's grade (rad, nose down positive).
    pub pitch: f64,
    /// m/s along the heading.
    pub speed: f64,
    /// Covariance of east, north, up (m²) and yaw (rad²).
    pub covariance: Matrix4<f64>,
    /// The map level at the position (0 street, negative underground).
    pub level: i32,
}

impl TrackedPose {
    /// Compass heading (rad, from north, clockwise).
    pub fn heading(&self) -> f64 {
        heading_from_yaw(self.yaw)
    }

    pub fn pose(&self) -> Pose {
        Pose::new(
            self.position,
            Attitude {
                roll: 0.0,
                pitch: self.pitch,
                yaw: self.yaw,
            },
        )
    }

    pub fn sigma_east(&self) -> f64 {
        self.covariance[(0, 0)].sqrt()
    }

    pub fn sigma_north(&self) -> f64 {
        self.covariance[(1, 1)].sqrt()
    }

    pub fn sigma_up(&self) -> f64 {
        self.covariance[(2, 2)].sqrt()
    }

    pub fn sigma_heading(&self) -> f64 {
        self.covariance[(3, 3)].sqrt()
    }

    /// 1σ of the horizontal position error's length: √(σe² + σn²).
    pub fn sigma_horizontal(&self) -> f64 {
        (self.covariance[(0, 0)] + self.covariance[(1, 1)]).sqrt()
    }
}

/// One frame's estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameEstimate {
    pub time_s: f64,
    /// What the estimate rests on; `None` exactly when `pose` is (no estimate).
    pub source: Option<FixSource>,
    pub pose: Option<TrackedPose>,
    /// Map signs the frame's vision measurement used.
    pub landmarks: usize,
    /// Map lane lines it used.
    pub lane_lines: usize,
    pub vision: VisionUse,
    pub flags: Flags,
}

/// Everything the tracker can be tuned by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerOptions {
    pub association: AssociationOptions,
    pub vision: VisionOptions,
    pub global: GlobalOptions,
    pub noise: MotionNoise,
    /// Landmarks farther than this (m) are not looked for.
    pub max_range: f64,
    /// The GNSS antenna in the vehicle frame (m).
    pub gnss_antenna: Vec3,
    /// White GNSS noise per unit of HDOP (m, 1σ per horizontal axis), on top of the slow
    /// receiver error the filter tracks.
    pub gnss_white_per_hdop: f64,
    /// HDOP assumed when a fix reports none.
    pub default_hdop: f64,
    /// Vertical over horizontal GNSS noise.
    pub gnss_vertical_factor: f64,
    /// GNSS speed (m/s) and course (rad) noise, 1σ; the course is used above `min_course_speed`.
    pub gnss_speed_sigma: f64,
    pub gnss_course_sigma: f64,
    pub min_course_speed: f64,
    /// Above this horizontal 1σ (m) the prior is loose: the global search runs first, and
    /// only where it finds nothing does the prior pair the frame's detections.
    pub global_search_sigma: f64,
    /// Above this horizontal 1σ (m) the track is dropped.
    pub lost_sigma: f64,
    /// A measurement counts as recent for the source label within these many seconds.
    pub vision_fresh_s: f64,
    pub gnss_fresh_s: f64,
    /// After this many consecutive vision fixes outside the gate the track is re-anchored
    /// on vision (the filter, not the camera, is then taken to be wrong).
    pub max_rejected_fixes: usize,
    /// After this many consecutive road speeds outside the gate the filter's speed is let
    /// go to the road's (a third of a second at 15 fps).
    pub max_rejected_speeds: usize,
    /// A turn seen on the horizon alone is taken only when the filter's speed is this
    /// unsure (1σ, m/s): with the speed known, speed × curvature turns the heading through
    /// a frame or two the road missed as well, and the horizon reads turns a tenth too
    /// large.
    pub horizon_turn_speed_sigma: f64,
    /// Traffic keeps to the right (false: to the left). A track started from GNSS, whose
    /// error across the road is often more than half a lane, starts in the half of the
    /// carriageway its heading drives in; lane lines look alike, and started in the
    /// opposite lane the track would lock onto it.
    pub right_hand_traffic: bool,
    /// Lane points per lane line applied as image measurements when there is no fix.
    pub landmark_lane_points: usize,
    /// Distance (m) between the axles: the vehicle pitches with the road's grade between them.
    pub wheelbase: f64,
    /// How well the map's lane lines give the road's height under the vehicle (m, 1σ).
    pub road_sigma: f64,
    /// Seconds over which the map errors of the landmarks in view stay the same: vision
    /// variances are scaled by the number of frames looked at in that time (at least 1),
    /// so that the filter does not average those errors away, however often it looks.
    pub map_error_s: f64,
    /// Floor on a vision fix's variance (east, north, up in m; yaw in rad; 1σ).
    pub fix_floor: [f64; 4],
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            association: AssociationOptions::default(),
            vision: VisionOptions::default(),
            global: GlobalOptions::default(),
            noise: MotionNoise::default(),
            max_range: 80.0,
            gnss_antenna: Vec3::new(0.0, 0.0, 1.5),
            gnss_white_per_hdop: 0.5,
            default_hdop: 1.5,
            gnss_vertical_factor: 2.0,
            gnss_speed_sigma: 0.3,
            gnss_course_sigma: 2f64.to_radians(),
            min_course_speed: 3.0,
            global_search_sigma: 8.0,
            lost_sigma: 30.0,
            vision_fresh_s: 0.5,
            gnss_fresh_s: 1.1,
            max_rejected_fixes: 5,
            max_rejected_speeds: 5,
            horizon_turn_speed_sigma: 1.5,
            right_hand_traffic: true,
            landmark_lane_points: 6,
            wheelbase: 2.8,
            road_sigma: 0.05,
            // Ten frames of the 15 fps demo drive.
            map_error_s: 10.0 / 15.0,
            fix_floor: [0.02, 0.02, 0.05, 0.1f64.to_radians()],
        }
    }
}

/// Shortest GNSS displacement (m) from which a heading is taken when no course is reported.
const MIN_HEADING_BASELINE: f64 = 3.0;
/// Longest gap (s) between two GNSS fixes that give a heading, or a GNSS position that
/// narrows a global search.
const MAX_GNSS_AGE: f64 = 5.0;
/// Speed uncertainty (m/s, 1σ) when starting without any speed measurement.
const UNKNOWN_SPEED_SIGMA: f64 = 10.0;
/// Densification step (m) of map lane lines projected for image measurements.
const LANE_STEP: f64 = 1.0;

/// Tracks one vehicle through one recording; call [`Tracker::step`] for every frame, in order.
/// A copy is cheap (the map-derived parts are shared), which is what [`Tracker::preview`]
/// relies on.
#[derive(Debug, Clone)]
pub struct Tracker {
    index: Arc<MapIndex>,
    road: Arc<RoadSurface>,
    camera: CameraModel,
    options: TrackerOptions,
    ekf: Option<Ekf>,
    pitch: f64,
    last_vision_s: Option<f64>,
    /// When the detector last looked (with or without finding anything).
    last_looked_s: Option<f64>,
    last_gnss_s: Option<f64>,
    /// The last GNSS fix (time, antenna ENU, speed if reported).
    last_gnss: Option<(f64, Vec3, Option<f64>)>,
    rejected_fixes: usize,
    /// The road speeds the filter's gate has rejected since it last took one.
    rejected_speeds: Vec<f64>,
}

impl Tracker {
    pub fn new(
        map: &Map,
        camera: CameraModel,
        options: TrackerOptions,
    ) -> Result<Self, TrackerError> {
        if map.signs.is_empty() && map.lane_lines.is_empty() {
            return Err(TrackerError::NoLandmarks(map.name.clone()));
        }
        if !(options.max_range > 0.0) {
            return Err(TrackerError::InvalidOption("max_range must be positive"));
        }
        if !(options.lost_sigma > options.global_search_sigma) {
            return Err(TrackerError::InvalidOption(
                "lost_sigma must exceed global_search_sigma",
            ));
        }
        Ok(Self {
            index: Arc::new(MapIndex::new(map)),
            road: Arc::new(RoadSurface::new(map)),
            camera,
            options,
            ekf: None,
            pitch: 0.0,
            last_vision_s: None,
            last_looked_s: None,
            last_gnss_s: None,
            last_gnss: None,
            rejected_fixes: 0,
            rejected_speeds: Vec::new(),
        })
    }

    pub fn map(&self) -> &Map {
        self.index.map()
    }

    /// One frame: the GNSS epochs received since the previous frame (any order, times not
    /// after `time_s`), the road's motion since the previous frame ([`GroundMotion`], its
    /// speed), then the frame's detections at `time_s`, or `None` for a frame the
    /// detector did not look at (the filter predicts it). Frames come in time order; a
    /// time before the last step's is not predicted back to. Epochs without a fix are
    /// ignored.
    pub fn step(
        &mut self,
        time_s: f64,
        detections: Option<&Detections>,
        motion: Option<&GroundMotion>,
        gnss_since_last: &[GnssInput],
    ) -> FrameEstimate {
        let mut flags = Flags::default();
        let mut epochs: Vec<&GnssInput> = gnss_since_last.iter().collect();
        epochs.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        for epoch in epochs {
            self.gnss_epoch(epoch, &mut flags);
        }
        if let Some(ekf) = &mut self.ekf {
            ekf.predict(time_s);
        }
        if let Some(motion) = motion {
            self.take_road_motion(time_s, motion);
        }
        self.follow_road();
        let (vision, landmarks, lane_lines) = self.vision(time_s, detections, &mut flags);
        if detections.is_some() {
            self.last_looked_s = Some(time_s);
        }
        if self
            .ekf
            .as_ref()
            .is_some_and(|ekf| !(ekf.horizontal_sigma() <= self.options.lost_sigma))
        {
            self.ekf = None;
            flags.lost = true;
        }
        if let Some(ekf) = &mut self.ekf {
            ekf.mark_yaw();
        }
        self.estimate(time_s, vision, landmarks, lane_lines, flags)
    }

    /// The estimate a step at `time_s` without detections would give, leaving this tracker
    /// as it is: a live frame is answered with it while its detections are still being
    /// computed, and a later step commits them. The copy is stepped through the road's
    /// `motions` since the last step (in time order, the last one perhaps at `time_s`), each
    /// after the GNSS epochs up to its time.
    pub fn preview(
        &self,
        time_s: f64,
        motions: &[GroundMotion],
        gnss_since_last: &[GnssInput],
    ) -> FrameEstimate {
        let mut copy = self.clone();
        let mut epochs: Vec<GnssInput> = gnss_since_last.to_vec();
        epochs.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        let mut next = 0;
        let mut due = |until_s: f64| {
            let end = next + epochs[next..].partition_point(|epoch| epoch.time_s <= until_s);
            let due = epochs[next..end].to_vec();
            next = end;
            due
        };
        let (last, earlier) = match motions.split_last() {
            Some((last, earlier)) if last.time_s == time_s => (Some(last), earlier),
            _ => (None, motions),
        };
        for motion in earlier {
            copy.step(motion.time_s, None, Some(motion), &due(motion.time_s));
        }
        copy.step(time_s, None, last, &due(f64::INFINITY))
    }

    fn estimate(
        &self,
        time_s: f64,
        vision: VisionUse,
        landmarks: usize,
        lane_lines: usize,
        flags: Flags,
    ) -> FrameEstimate {
        let recent =
            |last: Option<f64>, window: f64| last.is_some_and(|t| time_s - t <= window + 1e-9);
        let pose = self.ekf.as_ref().map(|ekf| TrackedPose {
            position: ekf.position(),
            yaw: ekf.yaw(),
            pitch: self.pitch + ekf.x[BODY_PITCH],
            speed: ekf.x[SPEED],
            covariance: ekf.pose_covariance(),
            level: self.map().level_at(&ekf.position()),
        });
        let source = match (
            pose.is_some(),
            recent(self.last_vision_s, self.options.vision_fresh_s),
            recent(self.last_gnss_s, self.options.gnss_fresh_s),
        ) {
            (false, _, _) => None,
            (true, true, true) => Some(FixSource::Fused),
            (true, true, false) => Some(FixSource::Vision),
            (true, false, true) => Some(FixSource::Gnss),
            (true, false, false) => Some(FixSource::DeadReckoning),
        };
        FrameEstimate {
            time_s,
            source,
            pose,
            landmarks,
            lane_lines,
            vision,
            flags,
        }
    }

    /// White GNSS noise (m, 1σ per horizontal axis) of an epoch; reported figures that are
    /// not positive and finite are ignored.
    fn gnss_white_sigma(&self, epoch: &GnssInput) -> f64 {
        let usable = |x: &f64| x.is_finite() && *x > 0.0;
        let sigma = epoch.sigma_horizontal_m.filter(usable).unwrap_or_else(|| {
            self.options.gnss_white_per_hdop
                * epoch
                    .hdop
                    .filter(usable)
                    .unwrap_or(self.options.default_hdop)
        });
        let quality = match epoch.quality {
            GnssQuality::RtkFixed => 0.1,
            GnssQuality::Differential => 0.5,
            _ => 1.0,
        };
        (sigma * quality).max(0.02)
    }

    /// Speed and course of an epoch, where both are reported, finite, and the speed is high
    /// enough for the course to mean something.
    fn gnss_course(&self, epoch: &GnssInput) -> Option<(f64, f64)> {
        epoch.speed_mps.zip(epoch.course).filter(|(speed, course)| {
            course.is_finite() && speed.is_finite() && *speed >= self.options.min_course_speed
        })
    }

    fn gnss_epoch(&mut self, epoch: &GnssInput, flags: &mut Flags) {
        if !epoch.has_fix() || !epoch.time_s.is_finite() {
            return;
        }
        let antenna = epoch.enu_position(&self.map().frame);
        if !antenna.iter().all(|x| x.is_finite()) {
            return;
        }
        let white = self.gnss_white_sigma(epoch);
        let course = self.gnss_course(epoch);
        let reported_speed = epoch.speed_mps.filter(|s| s.is_finite() && *s >= 0.0);
        if self.ekf.is_none() {
            self.start_from_gnss(epoch, antenna, white, flags);
        } else if let Some(ekf) = &mut self.ekf {
            ekf.predict(epoch.time_s);
            let yaw = ekf.x[YAW];
            let lever = Rot3::from_axis_angle(&Vec3::z_axis(), yaw) * self.options.gnss_antenna;
            let mut h = SMatrix::<f64, 3, STATE>::zeros();
            for i in 0..3 {
                h[(i, EAST + i)] = 1.0;
                h[(i, GNSS_BIAS + i)] = 1.0;
            }
            h[(0, YAW)] = -lever.y;
            h[(1, YAW)] = lever.x;
            let predicted: Vector3<f64> = ekf.position()
                + lever
                + Vec3::new(ekf.x[GNSS_BIAS], ekf.x[GNSS_BIAS + 1], ekf.x[GNSS_BIAS + 2]);
            let vertical = white * self.options.gnss_vertical_factor;
            let mut r = Matrix3::from_diagonal(&Vector3::new(
                white * white,
                white * white,
                vertical * vertical,
            ));
            let gate = chi2_gate(3);
            let tried = ekf.innovation(&antenna, &predicted, &h, &r, &[]);
            if let Some((_, _, nis)) = tried {
                if nis > gate {
                    // Beyond the gate: multipath (or a jump). Keep it with a weight that
                    // falls with the square of its excess (a redescending influence), so
                    // that a persistent bias pulls only slowly while the track's own
                    // uncertainty grows enough to take a real jump in the end.
                    flags.gnss_multipath = true;
                    r *= (nis / gate).powi(2);
                }
                ekf.update(&antenna, &predicted, &h, &r, &[], f64::INFINITY);
                // Speed and course come from Doppler, which multipath hardly biases. The speed
                // counts at a standstill too: a stop is when the filter most needs to know it.
                if let Some(speed) = reported_speed {
                    update_speed(ekf, speed, self.options.gnss_speed_sigma, chi2_gate(1));
                }
                if let Some((_, course)) = course {
                    let mut h = SMatrix::<f64, 1, STATE>::zeros();
                    h[(0, YAW)] = 1.0;
                    let r = Matrix1::new(self.options.gnss_course_sigma.powi(2));
                    let z = Vector1::new(yaw_from_heading(course));
                    let predicted = Vector1::new(ekf.x[YAW]);
                    ekf.update(&z, &predicted, &h, &r, &[0], chi2_gate(1));
                }
                self.last_gnss_s = Some(epoch.time_s);
            }
        }
        self.last_gnss = Some((epoch.time_s, antenna, reported_speed));
    }

    /// Starts the filter from GNSS once a heading is known: from the reported course, or
    /// from the displacement since the previous fix.
    fn start_from_gnss(&mut self, epoch: &GnssInput, antenna: Vec3, white: f64, flags: &mut Flags) {
        let reported = self.gnss_course(epoch).map(|(speed, course)| {
            (
                yaw_from_heading(course),
                speed,
                self.options.gnss_course_sigma,
            )
        });
        let from_track = self.last_gnss.and_then(|(time, previous, _)| {
            let dt = epoch.time_s - time;
            let moved = antenna - previous;
            (dt > 0.0 && dt <= MAX_GNSS_AGE && moved.xy().norm() >= MIN_HEADING_BASELINE).then(
                || {
                    let sigma = 2.0
                        * (white * white + self.options.noise.gnss_bias_horizontal.powi(2)).sqrt()
                        / moved.xy().norm();
                    (
                        moved.y.atan2(moved.x),
                        moved.xy().norm() / dt,
                        sigma.min(1.0),
                    )
                },
            )
        });
        let Some((yaw, speed, yaw_sigma)) = reported.or(from_track) else {
            return;
        };
        let lever = Rot3::from_axis_angle(&Vec3::z_axis(), yaw) * self.options.gnss_antenna;
        let noise = self.options.noise;
        let horizontal = (white * white + noise.gnss_bias_horizontal.powi(2)).sqrt();
        let vertical = ((white * self.options.gnss_vertical_factor).powi(2)
            + noise.gnss_bias_vertical.powi(2))
        .sqrt();
        let start = Start {
            position: antenna - lever,
            yaw,
            speed,
            position_sigma: Vec3::new(horizontal, horizontal, vertical),
            yaw_sigma,
            speed_sigma: 1.0,
        };
        let mut ekf = Ekf::new(epoch.time_s, &start, noise);
        // The receiver's slow error is inside the starting uncertainty already.
        for i in 0..3 {
            ekf.p[(EAST + i, GNSS_BIAS + i)] = -ekf.p[(GNSS_BIAS + i, GNSS_BIAS + i)];
            ekf.p[(GNSS_BIAS + i, EAST + i)] = -ekf.p[(GNSS_BIAS + i, GNSS_BIAS + i)];
        }
        let travel_half =
            self.road
                .travel_half(&ekf.position(), yaw, self.options.right_hand_traffic);
        if let Some(half) = travel_half {
            // Anywhere in that half alike: a uniform spread, as its variance.
            let mut h = SMatrix::<f64, 1, STATE>::zeros();
            h[(0, EAST)] = -yaw.sin();
            h[(0, NORTH)] = yaw.cos();
            let r = Matrix1::new(half.width.powi(2) / 12.0);
            let z = Vector1::new(half.centre);
            ekf.update(&z, &Vector1::zeros(), &h, &r, &[], f64::INFINITY);
        }
        self.ekf = Some(ekf);
        self.last_gnss_s = Some(epoch.time_s);
        self.rejected_fixes = 0;
        self.rejected_speeds.clear();
        flags.started = true;
    }

    /// The road's motion since the last frame into the filter: its speed, gated, and let
    /// go to the road's where the road shows one other speed frame after frame with nothing
    /// to say otherwise; then its yaw rate, gated. A motion seen on the horizon alone is a
    /// change of heading since the last frame.
    fn take_road_motion(&mut self, time_s: f64, motion: &GroundMotion) {
        let Some(ekf) = &mut self.ekf else {
            return;
        };
        let Some((speed, sigma)) = motion.speed() else {
            if ekf.p[(SPEED, SPEED)].sqrt() > self.options.horizon_turn_speed_sigma {
                // Only the turn was seen: the heading's change since the last frame.
                ekf.update_turn(
                    motion.time_s - motion.interval_s,
                    motion.yaw_change_rad,
                    motion.yaw_sigma_rad,
                    chi2_gate(1),
                );
            }
            return;
        };
        let off = odometry_grade_error(
            &self.road,
            ekf,
            motion,
            &self.camera,
            self.options.wheelbase,
        );
        let sigma = sigma.hypot(off * speed);
        let pitch_scale = pitch_scale(motion, &self.camera);
        let applied = update_road_speed(ekf, speed, sigma, pitch_scale, chi2_gate(1));
        if applied.applied {
            self.rejected_speeds.clear();
        } else {
            self.rejected_speeds.push(speed);
        }
        let rejected = &mut self.rejected_speeds;
        if rejected.len() >= self.options.max_rejected_speeds {
            let (least, most) = rejected
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, m), &v| {
                    (l.min(v), m.max(v))
                });
            let gnss_fresh =
                (self.last_gnss_s).is_some_and(|last| time_s - last <= self.options.gnss_fresh_s);
            if most - least <= sigma && !gnss_fresh {
                // The road has shown one other speed frame after frame, and no GNSS says
                // otherwise: the filter, not the odometer, is taken to be wrong (it may
                // have believed a few bad readings in a turn), and its speed is let go to
                // the road's. (At night a car's own headlights on the road read as a near
                // standstill, frame after frame, though not as one speed.)
                ekf.p[(SPEED, SPEED)] += (speed - ekf.x[SPEED]).powi(2);
                update_road_speed(ekf, speed, sigma, pitch_scale, f64::INFINITY);
                rejected.clear();
            } else {
                rejected.remove(0);
            }
        }
        let (yaw_rate, sigma) = motion.yaw_rate();
        update_yaw_rate(ekf, yaw_rate, sigma, chi2_gate(1));
    }

    /// Keeps the vehicle on the map's road: its height as a measurement, its grade as the
    /// pitch. Off the mapped lanes the pitch follows the filter's climb rate.
    fn follow_road(&mut self) {
        let Some(ekf) = &mut self.ekf else {
            return;
        };
        let Some(road) = self.road.at(&ekf.position()) else {
            if ekf.x[SPEED] > 2.0 {
                self.pitch = (-ekf.x[CLIMB]).atan2(ekf.x[SPEED]);
            }
            return;
        };
        self.pitch = self
            .road
            .pitch(&ekf.position(), ekf.yaw(), self.options.wheelbase)
            .unwrap_or(self.pitch);
        let mut h = SMatrix::<f64, 1, STATE>::zeros();
        h[(0, EAST)] = -road.gradient[0];
        h[(0, EAST + 1)] = -road.gradient[1];
        h[(0, UP)] = 1.0;
        let mut r = Matrix1::new(self.options.road_sigma.powi(2));
        let predicted = Vector1::new(ekf.x[UP] - road.height);
        let gate = chi2_gate(1);
        if let Some((_, _, nis)) = ekf.innovation(&Vector1::zeros(), &predicted, &h, &r, &[]) {
            // A road far from the estimate: trust it only as far as the gate allows.
            r *= (nis / gate).max(1.0);
            ekf.update(&Vector1::zeros(), &predicted, &h, &r, &[], f64::INFINITY);
        }
    }

    /// Frames looked at within the time the map errors of the landmarks in view stay the
    /// same, at the rate of the last two looks (1 for the first).
    fn map_error_frames(&self, time_s: f64) -> f64 {
        self.last_looked_s.map_or(1.0, |last| {
            (self.options.map_error_s / (time_s - last).max(1e-3)).max(1.0)
        })
    }

    /// The prior for association: the filter's pose, the road's pitch, no roll.
    fn prior(&self, ekf: &Ekf) -> Prior {
        // East, north, up, yaw and the body's pitch come from the filter; roll is unknown.
        let from_state = [EAST, NORTH, UP, YAW, BODY_PITCH];
        let mut covariance = SMatrix::<f64, POSE_PARAMETERS, POSE_PARAMETERS>::zeros();
        for (i, &a) in from_state.iter().enumerate() {
            for (j, &b) in from_state.iter().enumerate() {
                covariance[(i, j)] = ekf.p[(a, b)];
            }
        }
        covariance[(5, 5)] = self.options.vision.roll_sigma.powi(2);
        Prior {
            position: ekf.position(),
            attitude: Attitude {
                roll: 0.0,
                pitch: self.pitch + ekf.x[BODY_PITCH],
                yaw: ekf.yaw(),
            },
            covariance,
        }
    }

    /// The frame's detections into the filter: association with the prior and a solver
    /// fix, or image measurements of the few landmarks paired, or a global search.
    fn vision(
        &mut self,
        time_s: f64,
        detections: Option<&Detections>,
        flags: &mut Flags,
    ) -> (VisionUse, usize, usize) {
        let nothing = (VisionUse::None, 0, 0);
        let Some(detections) =
            detections.filter(|found| !found.signs.is_empty() || !found.lanes.is_empty())
        else {
            return nothing;
        };
        let Some(ekf) = &self.ekf else {
            return self.relocalise(time_s, detections, flags);
        };
        let loose = ekf.horizontal_sigma() > self.options.global_search_sigma;
        if loose {
            // A loose track: the global search around it first; where too few signs are
            // found for it, the track's own prior still pairs the frame, which is how a
            // track that dead-reckoned through a tunnel gets its place along the road back.
            let found = self.relocalise(time_s, detections, flags);
            if found.0 != VisionUse::None {
                return found;
            }
        }
        let Some(ekf) = &self.ekf else {
            return nothing;
        };
        let prior = self.prior(ekf);
        let mut association = self.pair(&prior, detections);
        if association.signs.len() >= 2 {
            if let Ok(fix) = solve_frame(
                self.map(),
                &self.camera,
                &prior,
                detections,
                &association,
                &self.options.vision,
            ) {
                return self.apply_fix(time_s, &fix, &association, flags);
            }
        }
        if loose {
            // A single sign paired from a loose prior is too often another sign of its
            // class, or ranged metres off through its elevation (a 2-minute rain drive
            // jumped 19 m in a tunnel on one): only fixes and lane lines count then.
            association.signs.clear();
        }
        let applied = self.apply_landmarks(time_s, detections, &association);
        if applied.0 + applied.1 == 0 {
            return nothing;
        }
        self.last_vision_s = Some(time_s);
        (VisionUse::Landmarks, applied.0, applied.1)
    }

    /// The frame's detections paired with the map landmarks visible from `prior`.
    fn pair(&self, prior: &Prior, detections: &Detections) -> Association {
        let visible = self
            .index
            .visible_from(&prior.pose(), &self.camera, self.options.max_range);
        associate(
            &self.index,
            &self.camera,
            prior,
            &visible,
            detections,
            &self.options.association,
        )
    }

    fn apply_fix(
        &mut self,
        time_s: f64,
        fix: &VisionFix,
        association: &Association,
        flags: &mut Flags,
    ) -> (VisionUse, usize, usize) {
        let used = (
            VisionUse::Fix {
                residual_rms: fix.camera.residuals.rms,
            },
            fix.camera.inliers,
            association.lanes.len(),
        );
        let map_error_frames = self.map_error_frames(time_s);
        let Some(ekf) = &mut self.ekf else {
            return used;
        };
        let outcome = update_with_fix(
            ekf,
            fix,
            &self.options.fix_floor,
            map_error_frames,
            chi2_gate(4),
        );
        if outcome.applied {
            self.rejected_fixes = 0;
            self.last_vision_s = Some(time_s);
            return used;
        }
        flags.vision_rejected = true;
        self.rejected_fixes += 1;
        if self.rejected_fixes >= self.options.max_rejected_fixes {
            self.start_from_fix(time_s, fix, flags);
            return used;
        }
        (VisionUse::None, 0, 0)
    }

    fn start_from_fix(&mut self, time_s: f64, fix: &VisionFix, flags: &mut Flags) {
        let floor = &self.options.fix_floor;
        let sigma = |i: usize| fix.covariance[(i, i)].sqrt().max(floor[i]);
        // Speed: the filter's if it has one, else the last GNSS report, else unknown.
        let (speed, speed_sigma) = match (&self.ekf, self.last_gnss) {
            (Some(ekf), _) => (ekf.x[SPEED], ekf.p[(SPEED, SPEED)].sqrt()),
            (None, Some((time, _, Some(speed)))) if time_s - time <= MAX_GNSS_AGE => (speed, 1.0),
            _ => (0.0, UNKNOWN_SPEED_SIGMA),
        };
        let start = Start {
            position: fix.position,
            yaw: fix.yaw,
            speed,
            position_sigma: Vec3::new(sigma(0), sigma(1), sigma(2)),
            yaw_sigma: sigma(3),
            speed_sigma,
        };
        self.ekf = Some(Ekf::new(time_s, &start, self.options.noise));
        self.rejected_fixes = 0;
        self.rejected_speeds.clear();
        self.last_vision_s = Some(time_s);
        flags.started = true;
    }

    /// Global search, then the fix of what it found: starts the filter or re-anchors it.
    fn relocalise(
        &mut self,
        time_s: f64,
        detections: &Detections,
        flags: &mut Flags,
    ) -> (VisionUse, usize, usize) {
        let nothing = (VisionUse::None, 0, 0);
        let area = match (&self.ekf, self.last_gnss) {
            (Some(ekf), _) => Some((
                ekf.position(),
                self.options.max_range + 3.0 * ekf.horizontal_sigma(),
            )),
            (None, Some((time, antenna, _))) if time_s - time <= MAX_GNSS_AGE => {
                Some((antenna, self.options.max_range + 3.0 * 10.0))
            }
            _ => None,
        };
        let level = Prior {
            position: Vec3::zeros(),
            attitude: Attitude::default(),
            covariance: SMatrix::zeros(),
        };
        let level_rotation = self
            .camera
            .world_from_camera(&level.pose())
            .rotation
            .inverse();
        let Some(association) = global_search(
            &self.index,
            &self.camera,
            &level_rotation,
            detections,
            area,
            &self.options.global,
            &self.options.vision.solve,
        ) else {
            return nothing;
        };
        // The global pairs fix a pose, perhaps loosely; paired again from there, with the
        // lane lines and every sign in view, the frame gives a proper fix.
        let loose = VisionOptions {
            max_horizontal_sigma: self.options.global_search_sigma,
            ..self.options.vision
        };
        let Ok(found) = solve_frame(
            self.map(),
            &self.camera,
            &level,
            detections,
            &association,
            &loose,
        ) else {
            return nothing;
        };
        let mut covariance = SMatrix::<f64, POSE_PARAMETERS, POSE_PARAMETERS>::zeros();
        covariance
            .fixed_view_mut::<4, 4>(0, 0)
            .copy_from(&found.covariance);
        covariance[(4, 4)] = self.options.noise.body_pitch.powi(2);
        covariance[(5, 5)] = self.options.vision.roll_sigma.powi(2);
        let prior = Prior {
            position: found.position,
            attitude: Attitude {
                roll: 0.0,
                pitch: self
                    .road
                    .pitch(&found.position, found.yaw, self.options.wheelbase)
                    .unwrap_or(0.0),
                yaw: found.yaw,
            },
            covariance,
        };
        let paired = self.pair(&prior, detections);
        let Ok(fix) = solve_frame(
            self.map(),
            &self.camera,
            &prior,
            detections,
            &paired,
            &self.options.vision,
        ) else {
            return nothing;
        };
        flags.relocalised = true;
        let used = (
            VisionUse::Fix {
                residual_rms: fix.camera.residuals.rms,
            },
            fix.camera.inliers,
            paired.lanes.len(),
        );
        let map_error_frames = self.map_error_frames(time_s);
        let applied = self.ekf.as_mut().is_some_and(|ekf| {
            update_with_fix(
                ekf,
                &fix,
                &self.options.fix_floor,
                map_error_frames,
                chi2_gate(4),
            )
            .applied
        });
        if applied {
            self.last_vision_s = Some(time_s);
        } else {
            self.start_from_fix(time_s, &fix, flags);
        }
        used
    }

    /// Paired signs and lane points applied one at a time as image measurements (each
    /// relinearised at the updated state); returns the signs and lane lines used.
    fn apply_landmarks(
        &mut self,
        time_s: f64,
        detections: &Detections,
        association: &Association,
    ) -> (usize, usize) {
        let Some(mut ekf) = self.ekf.take() else {
            return (0, 0);
        };
        let sign_variance = self.options.association.sign_sigma_px.powi(2);
        let lane_variance = self.options.association.lane_sigma_px.powi(2);
        // A landmark's map error stays for many frames: the filter must not average it away.
        let map_variance =
            self.options.association.map_sigma_m.powi(2) * self.map_error_frames(time_s);
        let shared = self.options.landmark_lane_points as f64;
        let mut signs = 0;
        for pair in &association.signs {
            let prior = self.prior(&ekf);
            let point = self.map().signs[pair.sign].position;
            let Some((pixel, j)) = project_with_jacobian(&self.camera, &prior, &point) else {
                continue;
            };
            let [u, v] = detections.signs[pair.detection].center;
            let z = Vector2::new(f64::from(u), f64::from(v));
            let (h, r) = split_jacobian(&j, &prior, sign_variance, map_variance);
            signs += usize::from(ekf.update(&z, &pixel, &h, &r, &[], chi2_gate(2)).applied);
        }
        let mut lanes = 0;
        // A lane line the prior cannot tell from its neighbours would lock the track onto
        // whichever is nearest the prior (after a dead-reckoned turn, a car park's next
        // aisle): only a fix, with signs, settles which lane the vehicle is in.
        for pair in association.lanes.iter().filter(|pair| !pair.ambiguous) {
            let line = &self.map().lane_lines[pair.lane_line].line.points;
            let Some(vertices) = line.get(pair.vertices.start..pair.vertices.end.min(line.len()))
            else {
                continue;
            };
            let dense = densify(vertices, LANE_STEP);
            let points: Vec<(f64, f64)> = spread(
                &detections.lanes[pair.detection].points,
                self.options.landmark_lane_points,
            )
            .map(|[u, v]| (f64::from(u), f64::from(v)))
            .collect();
            // The map error along one line drifts slowly: its points share it.
            let measure = |ekf: &Ekf, (u, v): (f64, f64)| {
                self.lane_point(ekf, &dense, u, v, lane_variance, map_variance * shared)
            };
            // The line as a whole first: a detection of another line (in a turn at night,
            // the crossing road's) can pass point by point, each moving the prior towards
            // the next, but not its shape.
            let at_prior: Vec<Option<LanePoint>> =
                points.iter().map(|&point| measure(&ekf, point)).collect();
            if !line_fits(&ekf, at_prior.iter().flatten()) {
                continue;
            }
            let mut used = false;
            for (&point, measured) in points.iter().zip(at_prior) {
                // Until a point is applied the state is the prior's, and so is its measure.
                let measured = if used { measure(&ekf, point) } else { measured };
                let Some(point) = measured else {
                    continue;
                };
                let (z, predicted) = (&point.z, &point.predicted);
                used |= ekf
                    .update(z, predicted, &point.h, &point.r, &[], chi2_gate(1))
                    .applied;
            }
            lanes += usize::from(used);
        }
        self.ekf = Some(ekf);
        (signs, lanes)
    }

    /// One point (`u`, `v`) of a detected lane line as an image measurement of the map
    /// line `dense`: its column against the map line's predicted one in the row `v`.
    fn lane_point(
        &self,
        ekf: &Ekf,
        dense: &[Vec3],
        u: f64,
        v: f64,
        pixel_variance: f64,
        map_variance: f64,
    ) -> Option<LanePoint> {
        let prior = self.prior(ekf);
        let column = |pose: &Pose| -> Option<Vector1<f64>> {
            let pixels: Vec<[f64; 2]> = dense
                .iter()
                .filter_map(|x| self.camera.project(pose, x))
                .collect();
            let offset = row_offsets(&pixels, std::iter::once([u, v])).next();
            offset.map(|offset| Vector1::new(u - offset))
        };
        let (predicted, j) = jacobian(&prior, column)?;
        let (mut h, mut r) = split_jacobian(&j, &prior, pixel_variance, map_variance);
        keep_across_the_road(ekf, &mut h, &mut r);
        Some(LanePoint {
            z: Vector1::new(u),
            predicted,
            h,
            r,
        })
    }
}

/// A lane point's column measured (`z`), as the prior predicts it, its Jacobian and noise.
struct LanePoint {
    z: Vector1<f64>,
    predicted: Vector1<f64>,
    h: SMatrix<f64, 1, STATE>,
    r: Matrix1<f64>,
}

/// Whether a lane line's points, each measured at the same prior, fit the map line
/// together: their joint innovation within the χ² gate of as many degrees of freedom.
fn line_fits<'a>(ekf: &Ekf, points: impl IntoIterator<Item = &'a LanePoint>) -> bool {
    let points: Vec<&LanePoint> = points.into_iter().collect();
    let n = points.len();
    if n < 2 {
        return true;
    }
    let mut h = DMatrix::<f64>::zeros(n, STATE);
    let mut y = DVector::<f64>::zeros(n);
    let mut s = DMatrix::<f64>::zeros(n, n);
    for (i, point) in points.iter().enumerate() {
        h.row_mut(i).copy_from(&point.h);
        y[i] = point.z[0] - point.predicted[0];
        s[(i, i)] = point.r[(0, 0)];
    }
    let p = DMatrix::from_column_slice(STATE, STATE, ekf.p.as_slice());
    s += &h * p * h.transpose();
    s.cholesky()
        .is_some_and(|s| y.dot(&s.solve(&y)) <= chi2_gate(n))
}

/// Narrows a lane line's image measurement (Jacobian `h`, noise `r`) to what a lane line
/// says: where the vehicle is across the road, not along it nor how high. What it seems to
/// say of those comes from the road's grade under a position already uncertain along the
/// road (the height follows the position along a ramp), and it would feed back into the
/// speed: at a ramp's foot, lines seen late dragged a live track 11 m back. Those errors
/// still move the line in the picture, most where the line runs at an angle to the heading
/// (in a turn, the new road's lines) or the road bends vertically: they become its noise
/// (their variance through the Jacobian), not a pull on the position.
fn keep_across_the_road(ekf: &Ekf, h: &mut SMatrix<f64, 1, STATE>, r: &mut Matrix1<f64>) {
    let along = Vector2::new(ekf.yaw().cos(), ekf.yaw().sin());
    let plan = Vector2::new(h[(0, EAST)], h[(0, NORTH)]);
    let along_part = plan.dot(&along);
    let across = plan - along * along_part;
    let mut left_out = SMatrix::<f64, 1, STATE>::zeros();
    left_out[(0, EAST)] = along.x * along_part;
    left_out[(0, NORTH)] = along.y * along_part;
    left_out[(0, UP)] = h[(0, UP)];
    h[(0, EAST)] = across.x;
    h[(0, NORTH)] = across.y;
    h[(0, UP)] = 0.0;
    *r += left_out * ekf.p * left_out.transpose();
}

/// An image measurement's Jacobian split into the filter's part (east, north, up, yaw) and
/// the noise: the detector's, the landmark's map error (variance in m²), the roll the filter
/// does not estimate, and the pitch. Single signs and lane lines leave the pitch to the
/// solver's fixes: one sign's height in the image trades pitch against range, and on a
/// vertical curve lanes trade it against the position along the road (both measured on the
/// demo drive).
fn split_jacobian<const M: usize>(
    j: &SMatrix<f64, M, POSE_PARAMETERS>,
    prior: &Prior,
    pixel_variance: f64,
    map_variance: f64,
) -> (SMatrix<f64, M, STATE>, SMatrix<f64, M, M>) {
    let mut h = SMatrix::<f64, M, STATE>::zeros();
    h.fixed_view_mut::<M, 4>(0, EAST)
        .copy_from(&j.fixed_view::<M, 4>(0, 0));
    let (pitch, roll) = (j.column(4), j.column(5));
    let r = SMatrix::<f64, M, M>::identity() * pixel_variance
        + map_error(j, map_variance.sqrt())
        + pitch * pitch.transpose() * prior.covariance[(4, 4)]
        + roll * roll.transpose() * prior.covariance[(5, 5)];
    (h, r)
}

/// A vision fix as a measurement of east, north, up and yaw. Its errors come largely from
/// the map's errors of the landmarks in view, which stay the same for `map_error_frames`
/// looks: the covariance is scaled by that count so that the filter cannot average them
/// away.
fn update_with_fix(
    ekf: &mut Ekf,
    fix: &VisionFix,
    floor: &[f64; 4],
    map_error_frames: f64,
    gate: f64,
) -> Innovation {
    let mut h = SMatrix::<f64, 4, STATE>::zeros();
    for i in 0..4 {
        h[(i, EAST + i)] = 1.0;
    }
    // The fix was solved with the filter's pitch; had the pitch been higher by δ, the fix
    // would have moved by sensitivity·δ, so the true pitch enters with the opposite sign.
    h.set_column(BODY_PITCH, &(-fix.pitch_sensitivity));
    let z = Vector4::new(fix.position.x, fix.position.y, fix.position.z, fix.yaw);
    let predicted = Vector4::new(ekf.x[EAST], ekf.x[EAST + 1], ekf.x[UP], ekf.x[YAW]);
    let mut r = fix.covariance * map_error_frames;
    for (i, sigma) in floor.iter().enumerate() {
        r[(i, i)] = r[(i, i)].max(sigma * sigma);
    }
    ekf.update(&z, &predicted, &h, &r, &[3], gate)
}

/// A measurement of the speed (m/s) with its 1σ, applied within `gate`.
fn update_speed(ekf: &mut Ekf, speed: f64, sigma: f64, gate: f64) {
    let mut h = SMatrix::<f64, 1, STATE>::zeros();
    h[(0, SPEED)] = 1.0;
    let predicted = Vector1::new(ekf.x[SPEED]);
    let r = Matrix1::new(sigma * sigma);
    ekf.update(&Vector1::new(speed), &predicted, &h, &r, &[], gate);
}

/// The relative error of a road motion's distance from the change of the mapped road's
/// grade between under the wheels and the stretch the odometer read (see
/// [`GroundMotion::road_ahead_m`]); 0 off the mapped roads.
fn odometry_grade_error(
    road: &RoadSurface,
    ekf: &Ekf,
    motion: &GroundMotion,
    camera: &CameraModel,
    wheelbase: f64,
) -> f64 {
    let (near, far) = motion.road_ahead_m;
    let (position, yaw) = (ekf.position(), ekf.yaw());
    let ahead = Vec3::new(yaw.cos(), yaw.sin(), 0.0) * (0.5 * (near + far));
    let here = road.pitch(&position, yaw, wheelbase);
    let there = road.pitch(&(position + ahead), yaw, far - near);
    match (here, there) {
        (Some(here), Some(there)) => pitch_scale(motion, camera) * (there - here).abs(),
        _ => 0.0,
    }
}

/// How much a road motion's distance changes, relative, per radian the road it read tilts
/// against the plane under the wheels (2·x/h, x the middle of the stretch read, h the
/// camera's height).
fn pitch_scale(motion: &GroundMotion, camera: &CameraModel) -> f64 {
    let (near, far) = motion.road_ahead_m;
    (near + far) / camera.mount.position.z
}

/// A speed read from the road's motion: the true speed times (1 + the odometer's scale
/// error) and times (1 + `pitch_scale` × the body's pitch): the odometer takes the camera to
/// sit on the road as calibrated, and a body pitched nose down (braking) shows the road
/// nearer, its motion larger (see [`pitch_scale`]).
fn update_road_speed(
    ekf: &mut Ekf,
    speed: f64,
    sigma: f64,
    pitch_scale: f64,
    gate: f64,
) -> Innovation {
    let scale = 1.0 + ekf.x[ODOMETRY_SCALE];
    let pitched = 1.0 + pitch_scale * ekf.x[BODY_PITCH];
    let mut h = SMatrix::<f64, 1, STATE>::zeros();
    h[(0, SPEED)] = scale * pitched;
    h[(0, ODOMETRY_SCALE)] = ekf.x[SPEED] * pitched;
    h[(0, BODY_PITCH)] = ekf.x[SPEED] * scale * pitch_scale;
    let predicted = Vector1::new(ekf.x[SPEED] * scale * pitched);
    let r = Matrix1::new(sigma * sigma);
    ekf.update(&Vector1::new(speed), &predicted, &h, &r, &[], gate)
}

/// A measured yaw rate: speed × curvature in the filter's state.
fn update_yaw_rate(ekf: &mut Ekf, yaw_rate: f64, sigma: f64, gate: f64) {
    let mut h = SMatrix::<f64, 1, STATE>::zeros();
    h[(0, SPEED)] = ekf.x[CURVATURE];
    h[(0, CURVATURE)] = ekf.x[SPEED];
    let predicted = Vector1::new(ekf.x[SPEED] * ekf.x[CURVATURE]);
    let r = Matrix1::new(sigma * sigma);
    ekf.update(&Vector1::new(yaw_rate), &predicted, &h, &r, &[], gate);
}

/// Points along a polyline at most `step` apart, vertices included.
fn densify(vertices: &[Vec3], step: f64) -> Vec<Vec3> {
    let mut points = Vec::new();
    for pair in vertices.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let pieces = ((b - a).norm() / step).ceil().max(1.0) as usize;
        points.extend((0..pieces).map(|k| a + (b - a) * (k as f64 / pieces as f64)));
    }
    points.extend(vertices.last());
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::straight_east;

    #[test]
    fn a_braking_body_pitched_nose_down_explains_the_odometer_reading_long() {
        // Braking at 10 m/s: nose down 0.75°, known (vision measured it); an odometer that
        // reads the road 12 m ahead of a camera 1.4 m up reads 22 % long.
        let pitch = 0.75f64.to_radians();
        let pitch_scale = 2.0 * 12.0 / 1.4;
        let cruising = || {
            let mut ekf = straight_east(10.0);
            ekf.p[(SPEED, SPEED)] = 1.0;
            ekf
        };
        let mut ekf = cruising();
        ekf.x[BODY_PITCH] = pitch;
        ekf.p[(BODY_PITCH, BODY_PITCH)] = 0.05f64.to_radians().powi(2);
        let long = 10.0 * (1.0 + pitch_scale * pitch);
        assert!(long > 11.2);
        update_road_speed(&mut ekf, long, 0.2, pitch_scale, chi2_gate(1));
        assert!((ekf.x[SPEED] - 10.0).abs() < 0.1, "speed {}", ekf.x[SPEED]);

        // Where nothing measured the pitch, the reading is part speed, part pitch, and the
        // speed is less sure than the reading alone would make it.
        let mut unsure = cruising();
        update_road_speed(&mut unsure, long, 0.2, pitch_scale, chi2_gate(1));
        let mut level = cruising();
        update_road_speed(&mut level, long, 0.2, 0.0, chi2_gate(1));
        assert!(unsure.x[BODY_PITCH] > 0.0);
        assert!(unsure.p[(SPEED, SPEED)] > level.p[(SPEED, SPEED)]);
    }

    #[test]
    fn a_lane_line_moves_the_position_across_the_road_only() {
        // Going east down a ramp: the road ties the height to the position along it, so
        // the filter holds them correlated, and both uncertain.
        let mut ekf = straight_east(8.0);
        ekf.p[(EAST, EAST)] = 1.0;
        ekf.p[(UP, UP)] = 0.01;
        ekf.p[(EAST, UP)] = -0.09;
        ekf.p[(UP, EAST)] = -0.09;
        // A line that moves in the picture with the position across (north), along (east,
        // as a line at an angle does) and with the camera's height.
        let mut h = SMatrix::<f64, 1, STATE>::zeros();
        h[(0, EAST)] = 20.0;
        h[(0, NORTH)] = 60.0;
        h[(0, UP)] = -80.0;
        let mut r = Matrix1::new(4.0);
        keep_across_the_road(&ekf, &mut h, &mut r);
        assert!(r[(0, 0)] > 4.0 + 20f64.powi(2) * 0.5, "noise {}", r[(0, 0)]);

        // Seen 6 px off: the position moves north, not east, the height and speed stay.
        let before = ekf.x;
        let outcome = ekf.update(
            &Vector1::new(6.0),
            &Vector1::zeros(),
            &h,
            &r,
            &[],
            f64::INFINITY,
        );
        assert!(outcome.applied);
        assert!(
            ekf.x[NORTH] - before[NORTH] > 0.003,
            "north {}",
            ekf.x[NORTH]
        );
        for (state, name) in [(EAST, "east"), (UP, "up"), (SPEED, "speed")] {
            assert!(
                (ekf.x[state] - before[state]).abs() < 1e-12,
                "{name} moved {}",
                ekf.x[state] - before[state]
            );
        }
    }

    #[test]
    fn a_line_of_another_shape_does_not_fit_though_each_point_would() {
        // Heading east, 0.5 m unsure across; a line's points 5, 10, 20 and 40 m ahead move
        // in the picture by 120, 60, 30 and 15 px per metre across.
        let mut ekf = straight_east(8.0);
        ekf.p[(NORTH, NORTH)] = 0.25;
        let points = |offsets: [f64; 4]| -> Vec<_> {
            [120.0, 60.0, 30.0, 15.0]
                .into_iter()
                .zip(offsets)
                .map(|(per_metre, offset)| {
                    let mut h = SMatrix::<f64, 1, STATE>::zeros();
                    h[(0, NORTH)] = per_metre;
                    LanePoint {
                        z: Vector1::new(offset),
                        predicted: Vector1::zeros(),
                        h,
                        r: Matrix1::new(4.0),
                    }
                })
                .collect()
        };
        // The vehicle 0.8 m off across: the offsets fall with the distance.
        let shifted = points([96.0, 48.0, 24.0, 12.0]);
        assert!(line_fits(&ekf, &shifted));
        // Near points one way, far ones the other: no position across explains it.
        let other = points([-60.0, 0.0, 20.0, 20.0]);
        assert!(!line_fits(&ekf, &other));
        for point in &other {
            assert!(line_fits(&ekf, std::slice::from_ref(point)));
            let nis = ekf
                .innovation(&point.z, &point.predicted, &point.h, &point.r, &[])
                .unwrap()
                .2;
            assert!(
                nis < chi2_gate(1),
                "alone, each point is within its gate: {nis}"
            );
        }
    }
}
