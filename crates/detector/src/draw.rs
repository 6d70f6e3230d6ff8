//! Pictures of what the detector found: sign boxes with their class ids, sign centres, and
//! lane lines coloured by slot, drawn onto the image itself.
//!
//! Text is a built-in 5×7 pixel font of the digits only (class ids are all it writes), so
//! drawing needs no font file.

use crate::detections::{Detections, LaneSlot};
use image::{Rgb, RgbImage};

/// Sign boxes.
pub const SIGN_COLOUR: Rgb<u8> = Rgb([255, 220, 0]);
/// The cross at a sign's centre.
pub const CENTRE_COLOUR: Rgb<u8> = Rgb([0, 255, 255]);
const LABEL_BACKGROUND: Rgb<u8> = Rgb([0, 0, 0]);

/// Lane colours, left to right: blue, green, red, magenta.
pub fn slot_colour(slot: LaneSlot) -> Rgb<u8> {
    match slot {
        LaneSlot::LeftLeft => Rgb([40, 120, 255]),
        LaneSlot::EgoLeft => Rgb([0, 230, 60]),
        LaneSlot::EgoRight => Rgb([255, 40, 40]),
        LaneSlot::RightRight => Rgb([230, 0, 230]),
    }
}

/// Draws every lane line, then every sign (box, centre cross, class id above the box).
/// Line widths and text grow with the image: one pixel per 640 of width.
pub fn draw_detections(image: &mut RgbImage, detections: &Detections) {
    let scale = (image.width() / 640).max(1);
    let thickness = scale as f32 + 1.0;
    for lane in &detections.lanes {
        draw_polyline(image, &lane.points, thickness, slot_colour(lane.slot));
    }
    for sign in &detections.signs {
        let [left, top, right, bottom] = sign.bbox;
        let corners = [
            [left, top],
            [right, top],
            [right, bottom],
            [left, bottom],
            [left, top],
        ];
        draw_polyline(image, &corners, scale as f32, SIGN_COLOUR);
        let [u, v] = sign.center;
        let arm = 3.0 * scale as f32;
        draw_polyline(image, &[[u - arm, v], [u + arm, v]], 1.0, CENTRE_COLOUR);
        draw_polyline(image, &[[u, v - arm], [u, v + arm]], 1.0, CENTRE_COLOUR);
        let text = sign.class.to_string();
        let text_height = (GLYPH_ROWS as u32 + 2) * scale;
        // Above the box, or inside its top when the box touches the image's top.
        let y = if top >= text_height as f32 {
            top - text_height as f32
        } else {
            top
        };
        draw_text(image, left, y, &text, scale, SIGN_COLOUR);
    }
}

/// Draws a polyline `thickness` pixels wide. Points outside the image (or not finite) are
/// fine: what falls outside is clipped.
pub fn draw_polyline(image: &mut RgbImage, points: &[[f32; 2]], thickness: f32, colour: Rgb<u8>) {
    let radius = 0.5 * thickness.max(1.0);
    for segment in points.windows(2) {
        let [a, b] = [segment[0], segment[1]];
        if !(a.iter().chain(&b).all(|v| v.is_finite())) {
            continue;
        }
        let length = (b[0] - a[0]).hypot(b[1] - a[1]);
        // Half-pixel steps leave no gaps; a segment far longer than the image is sampled
        // no finer than the image needs.
        let steps = (2.0 * length)
            .ceil()
            .min(8.0 * (image.width() + image.height()) as f32);
        let steps = steps.max(1.0) as u32;
        for step in 0..=steps {
            let t = step as f32 / steps as f32;
            let centre = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
            fill_square(image, centre, radius, colour);
        }
    }
}

/// Fills the pixels whose centres lie within `radius` (per axis) of `centre`.
fn fill_square(image: &mut RgbImage, centre: [f32; 2], radius: f32, colour: Rgb<u8>) {
    let span = |c: f32, size: u32| {
        let low = (c - radius).round().max(0.0);
        let high = (c + radius).round().min(size as f32);
        (low as u32, high as u32)
    };
    let (x0, x1) = span(centre[0], image.width());
    let (y0, y1) = span(centre[1], image.height());
    for y in y0..y1 {
        for x in x0..x1 {
            image.put_pixel(x, y, colour);
        }
    }
}

const GLYPH_COLUMNS: usize = 5;
const GLYPH_ROWS: usize = 7;

/// Digits 0–9, one byte per row, the low five bits left to right.
const DIGITS: [[u8; GLYPH_ROWS]; 10] = [
    [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
    [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
    [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
    [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
    [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
    [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
    [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
    [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
    [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
    [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
];

/// Writes the digits of `text` with their top-left corner at (x, y), each font pixel
/// `scale` × `scale`, on a black band one font pixel wider all round. Other characters
/// leave a blank.
pub fn draw_text(image: &mut RgbImage, x: f32, y: f32, text: &str, scale: u32, colour: Rgb<u8>) {
    if !(x.is_finite() && y.is_finite()) {
        return;
    }
    let cell = scale as f32;
    let advance = (GLYPH_COLUMNS + 1) as f32 * cell;
    let characters = text.chars().count() as f32;
    fill_rect(
        image,
        [x, y],
        [
            x + characters * advance + cell,
            y + (GLYPH_ROWS + 2) as f32 * cell,
        ],
        LABEL_BACKGROUND,
    );
    for (index, character) in text.chars().enumerate() {
        let Some(glyph) = character.to_digit(10).map(|d| &DIGITS[d as usize]) else {
            continue;
        };
        let left = x + cell + index as f32 * advance;
        for (row, bits) in glyph.iter().enumerate() {
            for column in 0..GLYPH_COLUMNS {
                if bits & (0x10 >> column) != 0 {
                    let corner = [left + column as f32 * cell, y + (row + 1) as f32 * cell];
                    fill_rect(image, corner, [corner[0] + cell, corner[1] + cell], colour);
                }
            }
        }
    }
}

/// Fills the pixels from `low` (inclusive) to `high` (exclusive), clipped to the image.
fn fill_rect(image: &mut RgbImage, low: [f32; 2], high: [f32; 2], colour: Rgb<u8>) {
    let clip = |v: f32, size: u32| v.round().clamp(0.0, size as f32) as u32;
    for y in clip(low[1], image.height())..clip(high[1], image.height()) {
        for x in clip(low[0], image.width())..clip(high[0], image.width()) {
            image.put_pixel(x, y, colour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detections::{Lane, SignDetection};
    use proptest::prelude::*;

    const GREY: Rgb<u8> = Rgb([128, 128, 128]);

    fn blank(width: u32, height: u32) -> RgbImage {
        RgbImage::from_pixel(width, height, GREY)
    }

    fn sign(class: u8, bbox: [f32; 4]) -> SignDetection {
        SignDetection {
            class,
            score: 0.9,
            bbox,
            center: [0.5 * (bbox[0] + bbox[2]), 0.5 * (bbox[1] + bbox[3])],
        }
    }

    #[test]
    fn a_sign_box_is_outlined_with_its_class_above_and_its_centre_crossed() {
        let mut image = blank(640, 360);
        let detections = Detections {
            signs: vec![sign(7, [100.0, 100.0, 140.0, 150.0])],
            lanes: Vec::new(),
        };
        draw_detections(&mut image, &detections);
        // The four sides.
        for (x, y) in [(120, 100), (120, 150), (100, 125), (140, 125)] {
            assert_eq!(*image.get_pixel(x, y), SIGN_COLOUR, "({x}, {y})");
        }
        // Inside, away from the cross, the picture is untouched.
        assert_eq!(*image.get_pixel(105, 105), GREY);
        assert_eq!(*image.get_pixel(120, 125), CENTRE_COLOUR);
        // The class id sits on a black band just above the box.
        let band: Vec<Rgb<u8>> = (91..100)
            .flat_map(|y| (100..107).map(move |x| (x, y)))
            .map(|(x, y)| *image.get_pixel(x, y))
            .collect();
        assert!(band.contains(&LABEL_BACKGROUND));
        assert!(band.contains(&SIGN_COLOUR));
        assert!(!band.contains(&GREY));
    }

    #[test]
    fn lanes_take_their_slot_colour() {
        let mut image = blank(640, 360);
        let lanes = LaneSlot::ALL
            .iter()
            .enumerate()
            .map(|(index, &slot)| Lane {
                slot,
                score: 1.0,
                points: vec![[100.0 + 100.0 * index as f32, 350.0], [300.0, 200.0]],
            })
            .collect();
        draw_detections(
            &mut image,
            &Detections {
                signs: Vec::new(),
                lanes,
            },
        );
        for (index, slot) in LaneSlot::ALL.into_iter().enumerate() {
            assert_eq!(
                *image.get_pixel(100 + 100 * index as u32, 349),
                slot_colour(slot)
            );
        }
        let colours: std::collections::HashSet<_> = LaneSlot::ALL
            .map(|slot| slot_colour(slot).0)
            .into_iter()
            .collect();
        assert_eq!(colours.len(), 4);
    }

    /// The font pixels of one digit drawn alone.
    fn rendered(digit: char) -> Vec<bool> {
        let mut image = blank(8, 10);
        draw_text(&mut image, 0.0, 0.0, &digit.to_string(), 1, SIGN_COLOUR);
        image.pixels().map(|p| *p == SIGN_COLOUR).collect()
    }

    #[test]
    fn every_digit_draws_differently() {
        let glyphs: Vec<Vec<bool>> = ('0'..='9').map(rendered).collect();
        for (a, first) in glyphs.iter().enumerate() {
            assert!(first.iter().any(|&on| on), "digit {a} is blank");
            for (b, second) in glyphs.iter().enumerate().skip(a + 1) {
                assert_ne!(first, second, "digits {a} and {b} look alike");
            }
        }
        // "1" is the narrow one: its pixels fill three columns of five.
        let columns: std::collections::BTreeSet<usize> = rendered('1')
            .iter()
            .enumerate()
            .filter(|(_, &on)| on)
            .map(|(index, _)| index % 8)
            .collect();
        assert_eq!(columns.into_iter().collect::<Vec<_>>(), vec![2, 3, 4]);
    }

    proptest! {
        #[test]
        fn drawing_anywhere_never_panics(
            l in -1e6f32..1e6, t in -1e6f32..1e6, w in -100f32..1e6, h in -100f32..1e6,
            u in proptest::num::f32::ANY, v in proptest::num::f32::ANY, class in 0u8..43,
        ) {
            let mut image = blank(64, 36);
            let detections = Detections {
                signs: vec![SignDetection { class, score: 0.5, bbox: [l, t, l + w, t + h], center: [u, v] }],
                lanes: vec![Lane { slot: LaneSlot::EgoLeft, score: 0.5, points: vec![[u, v], [l, t], [f32::NAN, 3.0], [w, h]] }],
            };
            draw_detections(&mut image, &detections);
        }
    }
}
