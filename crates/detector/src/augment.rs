//! Training examples: a labelled image letterboxed into the input, optionally with random
//! changes the network should not care about (zoom and shift, colour, blur, noise), and its
//! labels carried along into input pixels as the heads' targets.
//!
//! Geometry is one affine map, input point = zoom · letterboxed point + shift, applied to the
//! pixels (by sampling back) and to every label point alike, so labels stay exact. Nothing
//! mirrors: a mirrored sign is another sign, and mirroring swaps the lane slots.

use crate::data::{LabelledImage, MIN_VISIBLE};
use crate::error::Result;
use crate::image_input::bilinear;
use crate::input::{letterbox, Letterbox, INPUT_HEIGHT, INPUT_WIDTH, PAD_VALUE};
use crate::lane_head::LaneTarget;
use crate::sign_head::SignTarget;
use image::{Rgb, RgbImage};
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Signs shorter than this in the input (pixels) are left out of the targets: below a
/// stride-8 cell they are a few blurred pixels.
pub const MIN_TARGET_HEIGHT: f32 = 4.0;
/// A sign cut by the picture's edge stays a target while this share of its box remains.
const MIN_KEPT_AREA: f32 = 0.5;

/// The ranges random changes are drawn from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augmentation {
    /// Zoom factor, drawn log-uniformly.
    pub zoom: [f32; 2],
    /// Brightness offset (grey levels).
    pub brightness: f32,
    /// Contrast and saturation factors lie in 1 ± this.
    pub contrast: f32,
    pub saturation: f32,
    /// Per-channel gain in 1 ± this (white balance).
    pub channel_gain: f32,
    /// Chance of a 3×3 blur (once or twice).
    pub blur_chance: f32,
    /// Largest standard deviation of Gaussian pixel noise (grey levels).
    pub max_noise: f32,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            zoom: [0.75, 1.35],
            brightness: 25.0,
            contrast: 0.25,
            saturation: 0.3,
            channel_gain: 0.08,
            blur_chance: 0.3,
            max_noise: 6.0,
        }
    }
}

/// A letterboxed image with its targets in input pixels.
#[derive(Debug, Clone)]
pub struct Example {
    pub canvas: RgbImage,
    pub signs: Vec<SignTarget>,
    /// `None` where the image has no lane labels.
    pub lanes: Option<Vec<LaneTarget>>,
}

/// Input point = zoom · letterboxed point + shift; the picture covers `content`
/// (`[left, top, right, bottom]` in input pixels, edges at pixel borders).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Placement {
    letterbox: Letterbox,
    zoom: f32,
    shift: [f32; 2],
    content: [f32; 4],
}

impl Placement {
    fn new(letterbox: Letterbox, zoom: f32, shift: [f32; 2]) -> Self {
        let right = (zoom * letterbox.content_width as f32 + shift[0]).min(INPUT_WIDTH as f32);
        let bottom = (zoom * letterbox.content_height as f32 + shift[1]).min(INPUT_HEIGHT as f32);
        Self {
            letterbox,
            zoom,
            shift,
            content: [shift[0].max(0.0), shift[1].max(0.0), right, bottom],
        }
    }

    /// An image point in input pixels. Pixel centres map as the letterbox does; the zoom
    /// acts about the input's pixel-border origin.
    fn point(&self, point: [f32; 2]) -> [f32; 2] {
        let [u, v] = self.letterbox.to_input(point);
        [
            self.zoom * (u + 0.5) + self.shift[0] - 0.5,
            self.zoom * (v + 0.5) + self.shift[1] - 0.5,
        ]
    }

    fn inside(&self, [u, v]: [f32; 2]) -> bool {
        let [l, t, r, b] = self.content;
        u >= l - 0.5 && u <= r - 0.5 && v >= t - 0.5 && v <= b - 0.5
    }

    fn sign(&self, label: &crate::data::SignLabel) -> Option<SignTarget> {
        if label.visible < MIN_VISIBLE {
            return None;
        }
        let [l, t] = self.point([label.bbox[0], label.bbox[1]]);
        let [r, b] = self.point([label.bbox[2], label.bbox[3]]);
        let center = self.point(label.center);
        if b - t < MIN_TARGET_HEIGHT || !self.inside(center) {
            return None;
        }
        let [cl, ct, cr, cb] = self.content;
        let clipped = [
            l.max(cl - 0.5),
            t.max(ct - 0.5),
            r.min(cr - 0.5),
            b.min(cb - 0.5),
        ];
        let area = |b: [f32; 4]| (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
        (area(clipped) >= MIN_KEPT_AREA * area([l, t, r, b])).then_some(SignTarget {
            class: label.class,
            bbox: clipped,
            center,
        })
    }

    fn lane(&self, label: &crate::data::LaneLabel) -> Option<LaneTarget> {
        let points: Vec<[f32; 2]> = label
            .points
            .iter()
            .map(|&p| self.point(p))
            .filter(|&p| self.inside(p))
            .collect();
        (points.len() >= 2).then_some(LaneTarget {
            slot: label.slot,
            points,
        })
    }

    fn targets(&self, item: &LabelledImage) -> (Vec<SignTarget>, Option<Vec<LaneTarget>>) {
        let signs = item.signs.iter().filter_map(|s| self.sign(s)).collect();
        let lanes = item
            .lanes
            .as_ref()
            .map(|lanes| lanes.iter().filter_map(|l| self.lane(l)).collect());
        (signs, lanes)
    }
}

/// The image as the detector sees it at run time, with its targets.
pub fn plain_example(image: &RgbImage, item: &LabelledImage) -> Result<Example> {
    let (canvas, fit) = letterbox(image)?;
    let (signs, lanes) = Placement::new(fit, 1.0, [0.0, 0.0]).targets(item);
    Ok(Example {
        canvas,
        signs,
        lanes,
    })
}

/// A randomly changed copy of the image with its targets.
pub fn augmented_example(
    image: &RgbImage,
    item: &LabelledImage,
    augmentation: &Augmentation,
    rng: &mut impl Rng,
) -> Result<Example> {
    let (letterboxed, fit) = letterbox(image)?;
    let [low, high] = augmentation.zoom;
    let zoom = (rng.random_range(low.ln()..=high.ln())).exp();
    // The zoomed picture is shifted anywhere between flush left/top and flush right/bottom.
    let shift = [
        (fit.content_width, INPUT_WIDTH),
        (fit.content_height, INPUT_HEIGHT),
    ]
    .map(|(content, input)| {
        let slack = input as f32 - zoom * content as f32;
        if slack.abs() < 1.0 {
            0.0
        } else {
            rng.random_range(slack.min(0.0)..=slack.max(0.0)).round()
        }
    });
    let placement = Placement::new(fit, zoom, shift);
    let mut canvas = warp(&letterboxed, &placement);
    photometric(&mut canvas, placement.content, augmentation, rng);
    let (signs, lanes) = placement.targets(item);
    Ok(Example {
        canvas,
        signs,
        lanes,
    })
}

/// Samples the letterboxed picture (bilinear) into a new input canvas; outside the
/// picture is padding.
fn warp(letterboxed: &RgbImage, placement: &Placement) -> RgbImage {
    let width = placement.letterbox.content_width as f32;
    let height = placement.letterbox.content_height as f32;
    let mut canvas = RgbImage::from_pixel(INPUT_WIDTH, INPUT_HEIGHT, Rgb([PAD_VALUE; 3]));
    let [l, t, r, b] = placement.content;
    for y in (t as u32)..(b.ceil() as u32).min(INPUT_HEIGHT) {
        let source_v = (y as f32 + 0.5 - placement.shift[1]) / placement.zoom - 0.5;
        for x in (l as u32)..(r.ceil() as u32).min(INPUT_WIDTH) {
            let source_u = (x as f32 + 0.5 - placement.shift[0]) / placement.zoom - 0.5;
            let u = source_u.clamp(0.0, width - 1.0);
            let v = source_v.clamp(0.0, height - 1.0);
            let colour = bilinear(letterboxed, u, v);
            canvas.put_pixel(x, y, Rgb(colour.map(|c| c.round().clamp(0.0, 255.0) as u8)));
        }
    }
    canvas
}

/// Colour, blur and noise inside `content`; the padding keeps its exact grey.
pub(crate) fn photometric(
    canvas: &mut RgbImage,
    content: [f32; 4],
    augmentation: &Augmentation,
    rng: &mut impl Rng,
) {
    let [l, t, r, b] = content.map(|v| v.round().max(0.0) as u32);
    let r = r.min(canvas.width());
    let b = b.min(canvas.height());
    if r <= l || b <= t {
        return;
    }
    let brightness = rng.random_range(-augmentation.brightness..=augmentation.brightness);
    let contrast = 1.0 + rng.random_range(-augmentation.contrast..=augmentation.contrast);
    let saturation = 1.0 + rng.random_range(-augmentation.saturation..=augmentation.saturation);
    let gains: [f32; 3] = std::array::from_fn(|_| {
        1.0 + rng.random_range(-augmentation.channel_gain..=augmentation.channel_gain)
    });
    let blur_passes = if rng.random::<f32>() < augmentation.blur_chance {
        rng.random_range(1..=2)
    } else {
        0
    };
    let noise_sigma = rng.random_range(0.0..=augmentation.max_noise);
    let noise = Normal::new(0.0f32, noise_sigma.max(1e-3)).expect("positive deviation");
    for _ in 0..blur_passes {
        blur3(canvas, [l, t, r, b]);
    }
    for y in t..b {
        for x in l..r {
            let pixel = canvas.get_pixel_mut(x, y);
            let rgb = pixel.0.map(f32::from);
            let grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
            pixel.0 = std::array::from_fn(|k| {
                let saturated = grey + (rgb[k] - grey) * saturation;
                let value = (saturated - 127.0) * contrast + 127.0 + brightness;
                let value = value * gains[k] + noise.sample(rng);
                value.round().clamp(0.0, 255.0) as u8
            });
        }
    }
}

/// A separable [1 2 1] / 4 blur over a region, its edges clamped.
fn blur3(canvas: &mut RgbImage, [l, t, r, b]: [u32; 4]) {
    let source = canvas.clone();
    let tap = |x: u32, y: u32, dx: i64, dy: i64| {
        let sx = (x as i64 + dx).clamp(l as i64, r as i64 - 1) as u32;
        let sy = (y as i64 + dy).clamp(t as i64, b as i64 - 1) as u32;
        source.get_pixel(sx, sy).0.map(u32::from)
    };
    for y in t..b {
        for x in l..r {
            let mut sum = [0u32; 3];
            for (dy, wy) in [(-1, 1), (0, 2), (1, 1)] {
                for (dx, wx) in [(-1, 1), (0, 2), (1, 1)] {
                    let value = tap(x, y, dx, dy);
                    for k in 0..3 {
                        sum[k] += value[k] * wx * wy;
                    }
                }
            }
            canvas.put_pixel(x, y, Rgb(sum.map(|s| ((s + 8) / 16) as u8)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{LaneLabel, SignLabel};
    use crate::detections::LaneSlot;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A 1280×720 grey frame with a red square sign and a white lane stripe, labelled.
    fn scene() -> (RgbImage, LabelledImage) {
        let mut image = RgbImage::from_pixel(1280, 720, Rgb([90, 90, 90]));
        for y in 300..340 {
            for x in 800..840 {
                image.put_pixel(x, y, Rgb([230, 20, 20]));
            }
        }
        let lane: Vec<[f32; 2]> = (0..10)
            .map(|k| [200.0 + 30.0 * k as f32, 719.0 - 30.0 * k as f32])
            .collect();
        for p in &lane {
            image.put_pixel(p[0] as u32, p[1] as u32, Rgb([255, 255, 255]));
        }
        let item = LabelledImage {
            path: "scene.png".into(),
            signs: vec![
                SignLabel {
                    class: 14,
                    bbox: [799.5, 299.5, 839.5, 339.5],
                    center: [819.5, 319.5],
                    visible: 1.0,
                },
                // Nearly hidden: never a target.
                SignLabel {
                    class: 3,
                    bbox: [100.0, 100.0, 140.0, 140.0],
                    center: [120.0, 120.0],
                    visible: 0.1,
                },
                // Too small in the input.
                SignLabel {
                    class: 3,
                    bbox: [400.0, 100.0, 405.0, 105.0],
                    center: [402.5, 102.5],
                    visible: 1.0,
                },
            ],
            lanes: Some(vec![LaneLabel {
                slot: LaneSlot::EgoLeft,
                points: lane,
            }]),
        };
        (image, item)
    }

    /// Zoom and shift without any change of colour.
    fn geometry_only() -> Augmentation {
        Augmentation {
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
            channel_gain: 0.0,
            blur_chance: 0.0,
            max_noise: 0.0,
            ..Augmentation::default()
        }
    }

    #[test]
    fn a_plain_example_halves_a_1280_frame_with_its_labels() {
        let (image, item) = scene();
        let example = plain_example(&image, &item).unwrap();
        assert_eq!(example.signs.len(), 1);
        let sign = example.signs[0];
        assert_eq!(sign.class, 14);
        assert_eq!(sign.center, [409.5, 159.5]);
        assert_eq!(sign.bbox, [399.5, 149.5, 419.5, 169.5]);
        let lanes = example.lanes.unwrap();
        assert_eq!(lanes[0].points.len(), 10);
        assert_eq!(lanes[0].points[0], [99.75, 359.25]);
        assert_eq!(example.canvas.get_pixel(409, 159).0, [230, 20, 20]);
        assert_eq!(example.canvas.get_pixel(10, 370).0, [PAD_VALUE; 3]);
    }

    #[test]
    fn augmented_labels_follow_the_pixels() {
        let (image, item) = scene();
        let quiet = geometry_only();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut seen = 0;
        for _ in 0..20 {
            let example = augmented_example(&image, &item, &quiet, &mut rng).unwrap();
            for sign in &example.signs {
                seen += 1;
                // The sign's centre pixel is red, the pixel just outside its box is not.
                let [u, v] = sign.center.map(|c| c.round() as u32);
                assert_eq!(example.canvas.get_pixel(u, v).0, [230, 20, 20], "{sign:?}");
                let outside = (sign.bbox[2] + 2.0).round() as u32;
                if outside < INPUT_WIDTH && sign.bbox[2] < 600.0 {
                    assert_ne!(example.canvas.get_pixel(outside, v).0, [230, 20, 20]);
                }
                let height = sign.bbox[3] - sign.bbox[1];
                assert!((14.0..28.0).contains(&height), "{height}");
            }
        }
        assert!(
            seen >= 15,
            "the sign should stay in most crops, kept {seen}/20"
        );
    }

    #[test]
    fn augmentation_changes_colours_but_not_the_padding_and_repeats_with_its_seed() {
        let (image, item) = scene();
        let quiet = geometry_only();
        let draw = |seed, augmentation: &Augmentation| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            augmented_example(&image, &item, augmentation, &mut rng).unwrap()
        };
        let loud = Augmentation::default();
        let (a, b, c) = (draw(1, &loud), draw(1, &loud), draw(2, &loud));
        assert_eq!(a.canvas, b.canvas);
        assert_eq!(a.signs, b.signs);
        assert_ne!(a.canvas, c.canvas);
        // Geometry is drawn first, so the quiet copy of seed 1 has the same placement: its
        // padding is padding in the loud copy too, and the picture itself changed.
        let plain = draw(1, &quiet);
        assert_eq!(plain.signs, a.signs);
        let mut padding = 0;
        let mut changed = 0;
        for (quiet_pixel, loud_pixel) in plain.canvas.pixels().zip(a.canvas.pixels()) {
            if quiet_pixel.0 == [PAD_VALUE; 3] {
                padding += 1;
                assert_eq!(loud_pixel.0, [PAD_VALUE; 3]);
            } else if quiet_pixel != loud_pixel {
                changed += 1;
            }
        }
        assert!(
            padding > 0 && changed > 10_000,
            "padding {padding}, changed {changed}"
        );
    }
}
