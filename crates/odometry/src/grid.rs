//! The bird's-eye grid on the road ahead and where each of its cells appears in the image.

use mapfix_core::{CameraModel, Pose, Vec3};

/// Side of a cell (m): about a pixel's footprint at the grid's far end.
pub const CELL_M: f64 = 0.05;
/// Length of the grid along the road (m) and its width across (m).
const LENGTH_M: f64 = 5.0;
const WIDTH_M: f64 = 6.0;
/// Strips across the road that are aligned separately.
pub const STRIPS: usize = 3;
/// Cells kept clear of the image's border (pixels), so that sampling stays inside.
const BORDER_PX: f64 = 2.0;
/// The grid starts where the road first shows below the middle of the image, this much
/// further (m) so that the row is whole across most of the width.
const NEAR_MARGIN_M: f64 = 0.3;
/// The road must show within this distance ahead (m), or the camera is not a road camera.
const MAX_NEAR_M: f64 = 15.0;

/// Cells at (x, y, 0) in the vehicle frame (x forward, y left, the road at z = 0), row
/// `r` at x = `near_m + r · CELL_M`, column `c` at y = `right_m + c · CELL_M`.
#[derive(Debug, Clone)]
pub struct GroundGrid {
    pub rows: usize,
    pub cols: usize,
    pub near_m: f64,
    pub right_m: f64,
    /// Pixel (u, v) of each cell, row-major; `None` where the cell is not in the image.
    pixels: Vec<Option<[f32; 2]>>,
}

impl GroundGrid {
    /// `None` when the road does not show within [`MAX_NEAR_M`] ahead.
    pub fn new(camera: &CameraModel) -> Option<Self> {
        let at_rest = Pose::identity();
        let pixel = |x: f64, y: f64| {
            camera
                .project(&at_rest, &Vec3::new(x, y, 0.0))
                .filter(|&[u, v]| {
                    let k = &camera.intrinsics;
                    u >= BORDER_PX
                        && v >= BORDER_PX
                        && u <= k.width as f64 - 1.0 - BORDER_PX
                        && v <= k.height as f64 - 1.0 - BORDER_PX
                })
        };
        let first_visible = (0..)
            .map(|step| camera.mount.position.x + step as f64 * CELL_M)
            .take_while(|&x| x <= MAX_NEAR_M)
            .find(|&x| pixel(x, 0.0).is_some())?;
        let near_m = first_visible + NEAR_MARGIN_M;
        let rows = (LENGTH_M / CELL_M).round() as usize;
        let cols = (WIDTH_M / CELL_M).round() as usize;
        let right_m = -WIDTH_M / 2.0;
        let pixels = (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .map(|(r, c)| {
                let x = near_m + r as f64 * CELL_M;
                let y = right_m + c as f64 * CELL_M;
                pixel(x, y).map(|[u, v]| [u as f32, v as f32])
            })
            .collect();
        Some(Self {
            rows,
            cols,
            near_m,
            right_m,
            pixels,
        })
    }

    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// The nearest and furthest distance (m) ahead the grid covers.
    pub fn ahead_m(&self) -> (f64, f64) {
        (self.near_m, self.near_m + self.rows as f64 * CELL_M)
    }

    /// The image pixel of cell `index` (row-major), if it is in the image.
    pub fn pixel(&self, index: usize) -> Option<[f32; 2]> {
        self.pixels[index]
    }

    /// The strip (0 = right, across the road) that column `c` belongs to.
    pub fn strip(&self, c: usize) -> usize {
        (c * STRIPS / self.cols).min(STRIPS - 1)
    }
}
