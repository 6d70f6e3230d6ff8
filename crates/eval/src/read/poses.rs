//! TUM (`t x y z qx qy qz qw`) and KITTI (3×4 row-major pose matrix) trajectory files.

use super::number;
use crate::track::{Format, Location, Sample, SampleSource, Track};
use crate::EvalError;
use mapfix_core::{Rot3, Vec3};
use nalgebra::{Matrix3, Quaternion, UnitQuaternion};
use std::path::Path;

/// The content lines of a text file with their 1-based numbers, each split into numbers.
fn rows<'a>(
    path: &'a Path,
    text: &'a str,
    width: usize,
    what: &'a str,
) -> impl Iterator<Item = Result<(usize, Vec<f64>), EvalError>> + 'a {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(move |(i, l)| {
            let line = i + 1;
            let fields: Vec<&str> = l.split_whitespace().collect();
            if fields.len() != width {
                return Err(EvalError::invalid(
                    path,
                    format!("line {line}"),
                    format!(
                        "{what} lines have {width} numbers, this one has {}",
                        fields.len()
                    ),
                ));
            }
            let values = fields
                .iter()
                .enumerate()
                .map(|(k, f)| number(path, line, &format!("field {}", k + 1), f))
                .collect::<Result<_, _>>()?;
            Ok((line, values))
        })
}

fn pose_sample(line: usize, time: f64, position: Vec3, rotation: Rot3) -> Sample<Location> {
    let heading = mapfix_core::pose::heading_from_yaw(
        rotation.matrix()[(1, 0)].atan2(rotation.matrix()[(0, 0)]),
    );
    Sample {
        line,
        time,
        position: Some(Location::Local(position)),
        height_known: true,
        heading: Some(heading),
        rotation: Some(rotation),
        sigma: None,
        source: SampleSource::Unknown,
    }
}

pub(super) fn read_tum(path: &Path, text: &str) -> Result<Track<Location>, EvalError> {
    let samples = rows(path, text, 8, "TUM")
        .map(|row| {
            let (line, v) = row?;
            let quaternion = Quaternion::new(v[7], v[4], v[5], v[6]);
            if quaternion.norm() < 1e-9 {
                return Err(EvalError::invalid(
                    path,
                    format!("line {line}"),
                    "the quaternion is zero",
                ));
            }
            let rotation = UnitQuaternion::from_quaternion(quaternion).to_rotation_matrix();
            Ok(pose_sample(
                line,
                v[0],
                Vec3::new(v[1], v[2], v[3]),
                rotation,
            ))
        })
        .collect::<Result<_, _>>()?;
    Ok(Track {
        path: path.into(),
        format: Format::Tum,
        samples,
    })
}

pub(super) fn read_kitti(path: &Path, text: &str) -> Result<Track<Location>, EvalError> {
    // ENU-like ← KITTI camera world: east = x, north = z, up = −y.
    let world = Matrix3::new(1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0);
    // camera ← vehicle: vehicle x (forward) = camera z, y (left) = −camera x, z (up) = −camera y.
    let camera_from_vehicle = Matrix3::new(0.0, -1.0, 0.0, 0.0, 0.0, -1.0, 1.0, 0.0, 0.0);
    let samples = rows(path, text, 12, "KITTI")
        .enumerate()
        .map(|(index, row)| {
            let (line, v) = row?;
            let rotation = Matrix3::new(v[0], v[1], v[2], v[4], v[5], v[6], v[8], v[9], v[10]);
            if ((rotation.transpose() * rotation) - Matrix3::identity())
                .abs()
                .max()
                > 1e-3
            {
                return Err(EvalError::invalid(
                    path,
                    format!("line {line}"),
                    "the 3×3 part is not a rotation",
                ));
            }
            let vehicle = Rot3::from_matrix(&(world * rotation * camera_from_vehicle));
            Ok(pose_sample(
                line,
                index as f64,
                world * Vec3::new(v[3], v[7], v[11]),
                vehicle,
            ))
        })
        .collect::<Result<_, _>>()?;
    Ok(Track {
        path: path.into(),
        format: Format::Kitti,
        samples,
    })
}
