//! Pictures in, network input out.

use crate::error::{DetectorError, Result};
use candle_core::{Device, Tensor};
use image::imageops::FilterType;
use image::RgbImage;
use std::path::Path;

/// Decodes an image file to RGB, naming the file on failure.
pub fn read_rgb(path: &Path) -> Result<RgbImage> {
    let image = image::open(path).map_err(|error| DetectorError::Image {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    Ok(image.to_rgb8())
}

/// A (1, 3, H, W) f32 tensor of the image's RGB values in 0‥255, resized to
/// `width` × `height` (bilinear) when its size differs.
pub fn image_tensor(image: &RgbImage, width: u32, height: u32) -> Result<Tensor> {
    let resized;
    let image = if image.dimensions() == (width, height) {
        image
    } else {
        resized = image::imageops::resize(image, width, height, FilterType::Triangle);
        &resized
    };
    // In usize: width × height can exceed u32::MAX.
    let plane = width as usize * height as usize;
    let mut planar = vec![0f32; 3 * plane];
    for (index, pixel) in image.pixels().enumerate() {
        for (channel, &value) in pixel.0.iter().enumerate() {
            planar[channel * plane + index] = f32::from(value);
        }
    }
    Ok(Tensor::from_vec(
        planar,
        (1, 3, height as usize, width as usize),
        &Device::Cpu,
    )?)
}

/// The colour at a point between pixel centres (`u`, `v` in 0‥width−1, 0‥height−1),
/// interpolated between the four nearest pixels.
pub(crate) fn bilinear(image: &RgbImage, u: f32, v: f32) -> [f32; 3] {
    let (x0, y0) = (u.floor() as u32, v.floor() as u32);
    let x1 = (x0 + 1).min(image.width() - 1);
    let y1 = (y0 + 1).min(image.height() - 1);
    let (fx, fy) = (u - x0 as f32, v - y0 as f32);
    let p = |x, y| image.get_pixel(x, y).0.map(f32::from);
    let [a, b, c, d] = [p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1)];
    std::array::from_fn(|k| {
        let top = a[k] + (b[k] - a[k]) * fx;
        let bottom = c[k] + (d[k] - c[k]) * fx;
        top + (bottom - top) * fy
    })
}
