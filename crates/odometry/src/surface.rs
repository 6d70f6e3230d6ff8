//! A frame's road surface on the grid, reduced to its texture.

use crate::grid::GroundGrid;
use image::RgbImage;

/// Half-width (cells) of the window whose mean is taken away: shading and wet patches
/// change slowly across the road, texture does not.
const MEAN_RADIUS: usize = 8;
/// Values beyond this many times the median magnitude are clipped: bright paint would
/// otherwise outweigh the asphalt's texture, and a lane line along the road does not say
/// how far the car moved.
const CLIP: f32 = 2.5;

/// High-passed luminance per grid cell, row-major; NaN where the cell is not in the image
/// (or is left out).
#[derive(Debug, Clone)]
pub struct RoadSurface {
    pub values: Vec<f32>,
}

impl RoadSurface {
    /// The texture of a frame's luminance on the grid (see [`sample_luminance`]).
    pub fn texture(grid: &GroundGrid, luminance: &[f32]) -> Self {
        let mut values = subtract_local_mean(luminance, grid.rows, grid.cols);
        subtract_column_means(&mut values, grid.rows, grid.cols);
        clip_outliers(&mut values);
        Self { values }
    }

    /// Leaves out the cells where `keep` is false.
    pub fn mask(&mut self, keep: &[bool]) {
        for (value, _) in self.values.iter_mut().zip(keep).filter(|(_, keep)| !**keep) {
            *value = f32::NAN;
        }
    }
}

/// The luminance (0–255) of each grid cell, row-major; NaN where the cell is not in the
/// image.
pub fn sample_luminance(grid: &GroundGrid, image: &RgbImage) -> Vec<f32> {
    (0..grid.len())
        .map(|index| match grid.pixel(index) {
            // Four samples half a pixel apart: a little smoothing against sensor noise.
            Some([u, v]) => {
                [(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)]
                    .iter()
                    .map(|(du, dv)| luminance(image, u + du, v + dv))
                    .sum::<f32>()
                    / 4.0
            }
            None => f32::NAN,
        })
        .collect()
}

/// Bilinear luminance (0–255) at (u, v); the caller keeps (u, v) a pixel inside the image.
fn luminance(image: &RgbImage, u: f32, v: f32) -> f32 {
    let (width, height) = image.dimensions();
    let u = u.clamp(0.0, width as f32 - 1.0);
    let v = v.clamp(0.0, height as f32 - 1.0);
    let (u0, v0) = (u.floor() as u32, v.floor() as u32);
    let (u1, v1) = ((u0 + 1).min(width - 1), (v0 + 1).min(height - 1));
    let (fu, fv) = (u - u0 as f32, v - v0 as f32);
    let grey = |u: u32, v: u32| {
        let [r, g, b] = image.get_pixel(u, v).0;
        (r as f32 + 2.0 * g as f32 + b as f32) / 4.0
    };
    let top = grey(u0, v0) * (1.0 - fu) + grey(u1, v0) * fu;
    let bottom = grey(u0, v1) * (1.0 - fu) + grey(u1, v1) * fu;
    top * (1.0 - fv) + bottom * fv
}

/// Each valid value less the mean of the valid values within [`MEAN_RADIUS`] cells.
fn subtract_local_mean(raw: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    // Summed-area tables of the values and of the valid-cell count, one row and column of
    // zeros in front.
    let stride = cols + 1;
    let mut sums = vec![0.0f64; (rows + 1) * stride];
    let mut counts = vec![0.0f64; (rows + 1) * stride];
    for r in 0..rows {
        for c in 0..cols {
            let value = raw[r * cols + c];
            let (add, count) = if value.is_nan() {
                (0.0, 0.0)
            } else {
                (value as f64, 1.0)
            };
            let at = (r + 1) * stride + c + 1;
            sums[at] = add + sums[at - 1] + sums[at - stride] - sums[at - stride - 1];
            counts[at] = count + counts[at - 1] + counts[at - stride] - counts[at - stride - 1];
        }
    }
    let mut out = vec![f32::NAN; raw.len()];
    for r in 0..rows {
        let (top, bottom) = (
            r.saturating_sub(MEAN_RADIUS),
            (r + MEAN_RADIUS + 1).min(rows),
        );
        for c in 0..cols {
            let value = raw[r * cols + c];
            if value.is_nan() {
                continue;
            }
            let (left, right) = (
                c.saturating_sub(MEAN_RADIUS),
                (c + MEAN_RADIUS + 1).min(cols),
            );
            let window = |table: &[f64]| {
                table[bottom * stride + right]
                    - table[top * stride + right]
                    - table[bottom * stride + left]
                    + table[top * stride + left]
            };
            out[r * cols + c] = value - (window(&sums) / window(&counts)) as f32;
        }
    }
    out
}

/// Takes away each column's mean along the road: what is the same all along a column (a
/// lane line, a kerb, the shadow of a wall) cannot show forward motion.
fn subtract_column_means(values: &mut [f32], rows: usize, cols: usize) {
    for c in 0..cols {
        let column = (0..rows)
            .map(|r| values[r * cols + c])
            .filter(|v| !v.is_nan());
        let (sum, count) = column.fold((0.0f64, 0usize), |(s, n), v| (s + v as f64, n + 1));
        if count == 0 {
            continue;
        }
        let mean = (sum / count as f64) as f32;
        for r in 0..rows {
            values[r * cols + c] -= mean;
        }
    }
}

/// Clips values to [`CLIP`] times the median magnitude.
fn clip_outliers(values: &mut [f32]) {
    let mut magnitudes: Vec<f32> = values
        .iter()
        .filter(|v| !v.is_nan())
        .map(|v| v.abs())
        .collect();
    if magnitudes.is_empty() {
        return;
    }
    let middle = magnitudes.len() / 2;
    let (_, median, _) = magnitudes.select_nth_unstable_by(middle, f32::total_cmp);
    let limit = CLIP * *median;
    for value in values.iter_mut().filter(|v| !v.is_nan()) {
        *value = value.clamp(-limit, limit);
    }
}
