//! Where is the camera, given the directions in which it sees known landmarks?
//!
//! `mapfix-solver` turns bearings (unit rays in the camera frame, x right, y down,
//! z forward) to landmarks with known 3-D positions in the world (ENU) frame into a camera
//! pose, its covariance and an explicit status. It never sees pixels or maps: the caller
//! converts pixels with the camera model and associates detections with map landmarks.
//! A pose is the camera centre `c` and the world → camera rotation `R`, so that a world
//! point maps into the camera as `p_cam = R·(p_world − c)` (the `mapfix-core` convention).
//!
//! Every solver has the same signature ([`PoseSolver::solve`]) and differs only in what it
//! is told in advance:
//! - [`PositionOnly`] — attitude known: linear resection, then Gauss–Newton on angles;
//! - [`Upright`] — roll and pitch known: minimal 2-point solver, then least squares over
//!   x, y, z and yaw;
//! - [`AbsolutePose`] — nothing known: Lambda Twist P3P ([`p3p`]) inside LO-RANSAC
//!   ([`ransac`]), then Levenberg–Marquardt with a robust loss ([`refine`]).
//!
//! Lane-line rays ([`lane`]) join the same least squares, so signs and lanes are solved
//! together. Each fix carries a covariance from the normal equations ([`covariance`]);
//! input that cannot determine the pose is reported as an error status
//! ([`SolveError`], [`Degeneracy`]) rather than answered with a confident guess.
//! Minimal and least-squares solvers run on stack `nalgebra` types without allocating;
//! [`synthetic`] generates realistic dashcam problems for tests and benchmarks.

// `!(x > 0.0)` is deliberate throughout: NaN must fail every such check.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod absolute;
pub mod covariance;
pub mod degeneracy;
pub mod lane;
pub mod p3p;
pub mod position_only;
pub mod ransac;
pub mod refine;
pub mod synthetic;
pub mod upright;

mod fix;
mod pose;

pub use absolute::{AbsolutePose, AbsoluteWorkspace};
pub use degeneracy::Degeneracy;
pub use fix::{Fix, PoseSolver, ResidualStats, SolveError, SolveOptions};
pub use lane::LaneObservation;
pub use pose::{CameraPose, Observations, Solutions, MAX_SOLUTIONS};
pub use position_only::PositionOnly;
pub use refine::{Freedom, Loss};
pub use upright::Upright;

pub use mapfix_core::{Rot3, Vec3};
