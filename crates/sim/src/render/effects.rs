//! The camera after the lens: motion blur, lens softness, rain on the windscreen,
//! vignetting, exposure and tone mapping, sensor noise and JPEG compression.

use super::conditions::Conditions;
use super::shade::{hash01, Rgb};
use rayon::prelude::*;
use std::sync::OnceLock;

/// Blurs along a line of `length` pixels at `angle` (radians from the image x axis).
pub(crate) fn motion_blur(
    image: &mut [Rgb],
    scratch: &mut Vec<Rgb>,
    width: usize,
    length: f32,
    angle: f32,
) {
    if length < 0.75 {
        return;
    }
    let taps = (length.ceil() as usize + 1).min(16);
    let (dx, dy) = (angle.cos() * length, angle.sin() * length);
    let height = image.len() / width;
    scratch.clear();
    scratch.extend_from_slice(image);
    let source = &scratch[..];
    image
        .par_chunks_mut(width)
        .enumerate()
        .for_each(|(y, row)| {
            for (x, out) in row.iter_mut().enumerate() {
                let mut sum = [0.0; 3];
                for k in 0..taps {
                    let t = k as f32 / (taps - 1) as f32 - 0.5;
                    let sx = (x as f32 + t * dx).round().clamp(0.0, width as f32 - 1.0) as usize;
                    let sy = (y as f32 + t * dy).round().clamp(0.0, height as f32 - 1.0) as usize;
                    let p = source[sy * width + sx];
                    sum = [sum[0] + p[0], sum[1] + p[1], sum[2] + p[2]];
                }
                *out = sum.map(|s| s / taps as f32);
            }
        });
}

/// Separable Gaussian blur with standard deviation `sigma` pixels.
pub(crate) fn gaussian_blur(image: &mut [Rgb], scratch: &mut Vec<Rgb>, width: usize, sigma: f32) {
    if sigma < 0.2 {
        return;
    }
    let radius = (sigma * 2.0).ceil() as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    let weights: Vec<f32> = weights.iter().map(|w| w / total).collect();
    let height = image.len() / width;
    scratch.clear();
    scratch.resize(image.len(), [0.0; 3]);
    let pass = |from: &[Rgb], to: &mut [Rgb], horizontal: bool| {
        to.par_chunks_mut(width).enumerate().for_each(|(y, row)| {
            for (x, out) in row.iter_mut().enumerate() {
                let mut sum = [0.0; 3];
                for (k, w) in weights.iter().enumerate() {
                    let o = k as isize - radius;
                    let (sx, sy) = if horizontal {
                        ((x as isize + o).clamp(0, width as isize - 1) as usize, y)
                    } else {
                        (x, (y as isize + o).clamp(0, height as isize - 1) as usize)
                    };
                    let p = from[sy * width + sx];
                    sum = [sum[0] + p[0] * w, sum[1] + p[1] * w, sum[2] + p[2] * w];
                }
                *out = sum;
            }
        });
    };
    pass(image, scratch, true);
    pass(scratch, image, false);
}

/// Streaks of falling rain, lit by the scene behind them.
pub(crate) fn rain_streaks(image: &mut [Rgb], width: usize, conditions: &Conditions, seed: u64) {
    let rain = conditions.rain;
    if rain <= 0.0 {
        return;
    }
    let height = image.len() / width;
    let count = (rain * 400.0) as i32;
    let seed = seed as u32 ^ (seed >> 32) as u32;
    // Drops catch the ambient light: bright by day, faint at night.
    let glint = conditions.sky_horizon.map(|c| c * 1.4 + 0.02);
    for k in 0..count {
        let x0 = hash01(k, 1, seed) * width as f32;
        let y0 = hash01(k, 2, seed) * height as f32;
        let len = 6.0 + hash01(k, 3, seed) * 18.0;
        let slant = 0.15 + 0.1 * hash01(k, 4, seed);
        let strength = 0.06 + 0.08 * hash01(k, 5, seed);
        for s in 0..len as i32 {
            let (x, y) = ((x0 + s as f32 * slant) as usize, (y0 + s as f32) as usize);
            if x < width && y < height {
                let p = &mut image[y * width + x];
                *p = [0, 1, 2].map(|c| p[c] + (glint[c] - p[c]) * strength);
            }
        }
    }
}

/// Linear radiance → 8-bit sRGB through a filmic curve (ACES fit), tabulated.
fn tone_table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..TONE_ENTRIES)
            .map(|i| {
                let x = i as f32 / TONE_ENTRIES as f32 * TONE_MAX;
                let y = (x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14);
                let y = y.clamp(0.0, 1.0);
                let s = if y <= 0.0031308 {
                    y * 12.92
                } else {
                    1.055 * y.powf(1.0 / 2.4) - 0.055
                };
                (s * 255.0 + 0.5) as u8
            })
            .collect()
    })
}
const TONE_ENTRIES: usize = 8192;
const TONE_MAX: f32 = 16.0;

/// Exposure, vignetting, tone mapping and sensor noise into the output image.
pub(crate) fn develop(
    image: &[Rgb],
    out: &mut image::RgbImage,
    conditions: &Conditions,
    seed: u64,
) {
    let table = tone_table();
    let width = out.width() as usize;
    let height = out.height() as usize;
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    let inv_r2 = 1.0 / (cx * cx + cy * cy);
    let seed = seed as u32 ^ (seed >> 32) as u32 ^ 0x9e37_79b9;
    let exposure = conditions.exposure * 0.65;
    let noise = conditions.noise;
    let vignetting = conditions.vignetting;
    out.par_chunks_mut(width * 3)
        .enumerate()
        .for_each(|(y, row)| {
            for x in 0..width {
                let r2 = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)) * inv_r2;
                let gain = exposure * (1.0 - vignetting * r2 * r2);
                let p = image[y * width + x];
                // Roughly Gaussian: the sum of two uniforms (both halves of one hash), centred.
                let h = super::shade::hash(x as i32, y as i32, seed);
                let n = (((h & 0xffff) + (h >> 16)) as f32 / 65536.0 - 1.0) * noise * 2.45;
                let to_index = gain * (TONE_ENTRIES as f32 / TONE_MAX);
                for c in 0..3 {
                    let index = ((p[c] * to_index) as usize).min(TONE_ENTRIES - 1);
                    row[x * 3 + c] = (table[index] as f32 + n).clamp(0.0, 255.0) as u8;
                }
            }
        });
}

/// Round-trips the image through a JPEG encoder at `quality`.
pub(crate) fn jpeg_artefacts(image: &mut image::RgbImage, quality: u8) {
    let mut bytes = Vec::new();
    let encoder =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100));
    if image.write_with_encoder(encoder).is_err() {
        return;
    }
    if let Ok(decoded) = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg) {
        *image = decoded.to_rgb8();
    }
}
