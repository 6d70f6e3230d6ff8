//! The network's fixed input: every frame is letterboxed into 640 × 384 (resized to fit
//! keeping its aspect ratio, placed at the top-left, the rest padded with grey 127, which
//! the backbone's (x − 127) / 128 turns into zero), and [`Letterbox`] maps points between
//! the frame's own pixels and input pixels.
//!
//! Pixel coordinates put pixel centres at whole numbers (the camera model's cx = 319.5 for
//! a 640-wide frame), the convention the resampler follows too: a frame point u lands at
//! (u + ½)·s − ½ in the input.

use crate::error::{DetectorError, Result};
use candle_core::{Device, Tensor};
use image::imageops::FilterType;
use image::{Rgb, RgbImage};
use rayon::prelude::*;

/// Input width, pixels.
pub const INPUT_WIDTH: u32 = 640;
/// Input height, pixels: a multiple of 32 so that every feature map has whole cells.
pub const INPUT_HEIGHT: u32 = 384;
/// Grey of the padding: zero after the backbone's normalisation.
pub const PAD_VALUE: u8 = 127;

/// Where a frame sits in the input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// The frame's own size.
    pub image_width: u32,
    pub image_height: u32,
    /// The resized frame's size in the input, at its top-left corner.
    pub content_width: u32,
    pub content_height: u32,
}

impl Letterbox {
    /// The largest placement of a `width` × `height` frame inside the input.
    pub fn fit(width: u32, height: u32) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(DetectorError::Input(format!(
                "an image of {width}×{height} pixels has nothing to detect in"
            )));
        }
        let scale = (f64::from(INPUT_WIDTH) / f64::from(width))
            .min(f64::from(INPUT_HEIGHT) / f64::from(height));
        let side =
            |size: u32, limit: u32| ((f64::from(size) * scale).round() as u32).clamp(1, limit);
        Ok(Self {
            image_width: width,
            image_height: height,
            content_width: side(width, INPUT_WIDTH),
            content_height: side(height, INPUT_HEIGHT),
        })
    }

    /// Input pixels per frame pixel along u and v (equal up to rounding of the sides).
    pub fn scale(&self) -> [f32; 2] {
        [
            self.content_width as f32 / self.image_width as f32,
            self.content_height as f32 / self.image_height as f32,
        ]
    }

    /// A frame point in input pixels.
    pub fn to_input(&self, point: [f32; 2]) -> [f32; 2] {
        let [sx, sy] = self.scale();
        [(point[0] + 0.5) * sx - 0.5, (point[1] + 0.5) * sy - 0.5]
    }

    /// An input point in the frame's own pixels.
    pub fn to_image(&self, point: [f32; 2]) -> [f32; 2] {
        let [sx, sy] = self.scale();
        [(point[0] + 0.5) / sx - 0.5, (point[1] + 0.5) / sy - 0.5]
    }

    /// A frame box `[left, top, right, bottom]` in input pixels.
    pub fn box_to_input(&self, bbox: [f32; 4]) -> [f32; 4] {
        let [l, t] = self.to_input([bbox[0], bbox[1]]);
        let [r, b] = self.to_input([bbox[2], bbox[3]]);
        [l, t, r, b]
    }

    /// An input box in the frame's own pixels.
    pub fn box_to_image(&self, bbox: [f32; 4]) -> [f32; 4] {
        let [l, t] = self.to_image([bbox[0], bbox[1]]);
        let [r, b] = self.to_image([bbox[2], bbox[3]]);
        [l, t, r, b]
    }

    /// The frame resized (bilinear, area-averaging when shrinking) onto a padded input
    /// canvas.
    pub fn apply(&self, image: &RgbImage) -> Result<RgbImage> {
        if image.dimensions() != (self.image_width, self.image_height) {
            return Err(DetectorError::Input(format!(
                "image is {}×{}, letterbox made for {}×{}",
                image.width(),
                image.height(),
                self.image_width,
                self.image_height
            )));
        }
        let mut canvas = RgbImage::from_pixel(INPUT_WIDTH, INPUT_HEIGHT, Rgb([PAD_VALUE; 3]));
        if (self.content_width, self.content_height) == image.dimensions() {
            image::imageops::replace(&mut canvas, image, 0, 0);
        } else {
            let resized = image::imageops::resize(
                image,
                self.content_width,
                self.content_height,
                FilterType::Triangle,
            );
            image::imageops::replace(&mut canvas, &resized, 0, 0);
        }
        Ok(canvas)
    }
}

/// A frame letterboxed into the input, with its placement.
pub fn letterbox(image: &RgbImage) -> Result<(RgbImage, Letterbox)> {
    let placement = Letterbox::fit(image.width(), image.height())?;
    Ok((placement.apply(image)?, placement))
}

/// (B, 3, 384, 640) f32 RGB in 0‥255 from input canvases.
pub fn input_tensor(canvases: &[RgbImage]) -> Result<Tensor> {
    let plane = (INPUT_WIDTH * INPUT_HEIGHT) as usize;
    if let Some(wrong) = canvases
        .iter()
        .find(|c| c.dimensions() != (INPUT_WIDTH, INPUT_HEIGHT))
    {
        return Err(DetectorError::Input(format!(
            "input canvas is {}×{}, expected {INPUT_WIDTH}×{INPUT_HEIGHT}",
            wrong.width(),
            wrong.height()
        )));
    }
    if canvases.is_empty() {
        return Err(DetectorError::Input("an empty batch".into()));
    }
    let mut values = vec![0f32; canvases.len() * 3 * plane];
    values
        .par_chunks_mut(3 * plane)
        .zip(canvases)
        .for_each(|(planes, canvas)| {
            for (index, pixel) in canvas.pixels().enumerate() {
                for (channel, &value) in pixel.0.iter().enumerate() {
                    planes[channel * plane + index] = f32::from(value);
                }
            }
        });
    Ok(Tensor::from_vec(
        values,
        (
            canvases.len(),
            3,
            INPUT_HEIGHT as usize,
            INPUT_WIDTH as usize,
        ),
        &Device::Cpu,
    )?)
}

/// Letterboxes frames of any sizes into one input batch.
pub fn input_batch(images: &[RgbImage]) -> Result<(Tensor, Vec<Letterbox>)> {
    let (canvases, placements): (Vec<RgbImage>, Vec<Letterbox>) = images
        .par_iter()
        .map(letterbox)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .unzip();
    Ok((input_tensor(&canvases)?, placements))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_frame_sizes_fit_as_the_contract_says() {
        let cases = [
            ((1280, 720), (640, 360)),
            ((960, 540), (640, 360)),
            ((640, 360), (640, 360)),
            ((1360, 800), (640, 376)),
            ((384, 384), (384, 384)),
            ((100, 1000), (38, 384)),
        ];
        for ((w, h), expected) in cases {
            let fit = Letterbox::fit(w, h).unwrap();
            assert_eq!((fit.content_width, fit.content_height), expected, "{w}×{h}");
        }
        assert!(Letterbox::fit(0, 10).is_err());
    }

    #[test]
    fn points_map_to_the_input_and_back() {
        let fit = Letterbox::fit(1280, 720).unwrap();
        // Pixel centres: the frame's centre (639.5, 359.5) is the content's centre.
        assert_eq!(fit.to_input([639.5, 359.5]), [319.5, 179.5]);
        // Frame pixels 0 and 1 average into input pixel 0, centred at frame u = 0.5.
        assert_eq!(fit.to_input([0.5, 0.5]), [0.0, 0.0]);
        for point in [[0.0, 0.0], [17.25, 700.5], [1279.0, 3.0]] {
            let back = fit.to_image(fit.to_input(point));
            assert!((back[0] - point[0]).abs() < 1e-3 && (back[1] - point[1]).abs() < 1e-3);
        }
        let bbox = [100.0, 50.0, 140.0, 90.0];
        let back = fit.box_to_image(fit.box_to_input(bbox));
        for (a, b) in back.iter().zip(bbox) {
            assert!((a - b).abs() < 1e-3);
        }
    }

    #[test]
    fn the_canvas_holds_the_resized_frame_and_grey_padding() {
        // Left half red, right half blue: the colours stay on their sides after halving.
        let image = RgbImage::from_fn(1280, 720, |x, _| {
            if x < 640 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        });
        let (canvas, fit) = letterbox(&image).unwrap();
        assert_eq!(canvas.dimensions(), (INPUT_WIDTH, INPUT_HEIGHT));
        assert_eq!((fit.content_width, fit.content_height), (640, 360));
        assert_eq!(canvas.get_pixel(10, 10).0, [255, 0, 0]);
        assert_eq!(canvas.get_pixel(630, 359).0, [0, 0, 255]);
        assert_eq!(canvas.get_pixel(300, 360).0, [PAD_VALUE; 3]);
        assert_eq!(canvas.get_pixel(639, 383).0, [PAD_VALUE; 3]);
    }

    #[test]
    fn a_batch_is_planar_rgb_in_input_shape() {
        let small = RgbImage::from_pixel(320, 180, Rgb([10, 20, 30]));
        let large = RgbImage::from_pixel(1360, 800, Rgb([200, 100, 0]));
        let (tensor, fits) = input_batch(&[small, large]).unwrap();
        assert_eq!(tensor.dims(), [2, 3, 384, 640]);
        assert_eq!(fits[0].content_height, 360);
        let first = tensor.get(0).unwrap().get(2).unwrap().get(5).unwrap();
        assert_eq!(first.get(5).unwrap().to_scalar::<f32>().unwrap(), 30.0);
        let padding = tensor.get(1).unwrap().get(0).unwrap().get(380).unwrap();
        assert_eq!(padding.get(0).unwrap().to_scalar::<f32>().unwrap(), 127.0);
        let content = tensor.get(1).unwrap().get(0).unwrap().get(100).unwrap();
        assert_eq!(content.get(600).unwrap().to_scalar::<f32>().unwrap(), 200.0);
        assert!(input_batch(&[]).is_err());
    }
}
