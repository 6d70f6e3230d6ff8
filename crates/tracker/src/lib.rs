//! Where the vehicle is, frame after frame. The tracker pairs a frame's detections with the
//! map landmarks the camera could see from the predicted pose (gated, class-consistent,
//! one-to-one), hands the pairs to the solver for a fix with covariance, and runs a filter
//! over time that fuses those fixes with GNSS, rejects outliers, flags GNSS it cannot
//! trust, and dead-reckons through gaps, so that street, tunnel and underground follow one
//! another without a jump.
//!
//! One call per frame, in order: [`Tracker::step`] takes the frame's time, its
//! [`Detections`](mapfix_detector::Detections) and the GNSS epochs received since the
//! previous frame ([`GnssInput`]), and returns a [`FrameEstimate`]: the pose with its
//! covariance, what it rests on ([`FixSource`](mapfix_core::FixSource)), the landmarks used and what happened
//! ([`Flags`]). Inside: [`associate`] (projection with uncertainty, gated Hungarian
//! pairing — [`assignment`]), [`global`] search without a prior, [`vision`] fixes through
//! `mapfix-solver`, the [`road`] under the vehicle (height and grade from the map's lane
//! lines), and the [`filter`] (EKF).
//!
//! Per frame: GNSS epochs update the filter (gated; beyond the gate flagged as multipath
//! and down-weighted); the filter predicts to the frame and is held on the mapped road's
//! height; with a prior tight enough to associate, two or more paired signs (with any
//! paired lane lines) give a solver fix, and fewer are applied one by one as image
//! measurements (lane lines across the road only); without one, a global search finds the
//! vehicle. Map errors of landmarks and the roll and pitch the camera does not measure are
//! part of every vision measurement's noise.

// `!(x > 0.0)` is deliberate: NaN must fail every such check.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod assignment;
pub mod associate;
pub mod filter;
pub mod global;
pub mod gnss;
pub mod road;
pub mod vision;

mod tracker;

pub use gnss::{GnssInput, GnssPosition, GnssQuality};
pub use tracker::{
    Flags, FrameEstimate, TrackedPose, Tracker, TrackerError, TrackerOptions, VisionUse,
};
