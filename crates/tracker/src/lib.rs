//! Where the vehicle is, frame after frame. The tracker pairs a frame's detections with the
//! map landmarks the camera could see from the predicted pose (gated, class-consistent,
//! one-to-one), hands the pairs to the solver for a fix with covariance, and runs a filter
//! over time that fuses those fixes with GNSS, rejects outliers, flags GNSS it cannot
//! trust, and dead-reckons through gaps, so that street, tunnel and underground follow one
//! another without a jump.
