//! Drawing through a distorting lens: the scene is rasterised into an undistorted pinhole
//! image that covers the whole distorted field of view, then every output pixel reads the
//! pinhole image at the exact undistorted position of its centre (a lookup table built once
//! per camera with `Distortion::remove`, accurate to 1e-9 in normalised coordinates).
//! Geometry therefore lands exactly where `CameraModel::project` puts it; the only cost is
//! the softening of one bilinear resampling.

use mapfix_core::CameraModel;
use nalgebra::Vector2;

/// The pinhole image the rasteriser draws into, and how the output reads it.
pub(crate) struct Lens {
    pub fx: f32,
    pub fy: f32,
    pub cx: f32,
    pub cy: f32,
    pub width: usize,
    pub height: usize,
    /// Per pinhole row, the half-open column range `[start, end)` that some output pixel
    /// sees; pixels outside it are neither shaded nor counted.
    pub spans: Vec<(u32, u32)>,
    /// Per output pixel, its pinhole position; `None` when the camera draws into the output
    /// directly (no distortion).
    pub lookup: Option<Vec<[f32; 2]>>,
    /// The camera this lens was built for (intrinsics and distortion are what matter).
    key: (mapfix_core::Intrinsics, mapfix_core::Distortion),
}

/// Largest pinhole image, relative to the output in each direction; wider fields of view
/// are drawn at a proportionally lower density.
const MAX_OVERSIZE: f64 = 2.0;

impl Lens {
    pub fn fits(&self, camera: &CameraModel) -> bool {
        self.key == (camera.intrinsics, camera.distortion)
    }

    pub fn new(camera: &CameraModel) -> Lens {
        let k = camera.intrinsics;
        let key = (camera.intrinsics, camera.distortion);
        let (w, h) = (k.width as usize, k.height as usize);
        if camera.distortion.is_zero() {
            return Lens {
                fx: k.fx as f32,
                fy: k.fy as f32,
                cx: k.cx as f32,
                cy: k.cy as f32,
                width: w,
                height: h,
                spans: vec![(0, w as u32); h],
                lookup: None,
                key,
            };
        }
        let undistort = |u: f64, v: f64| {
            camera
                .distortion
                .remove(Vector2::new((u - k.cx) / k.fx, (v - k.cy) / k.fy))
        };
        // The output's border, undistorted, bounds the normalised field the pinhole needs.
        let border = (0..=w)
            .flat_map(|i| [(i as f64 - 0.5, -0.5), (i as f64 - 0.5, h as f64 - 0.5)])
            .chain(
                (0..=h).flat_map(|j| [(-0.5, j as f64 - 0.5), (w as f64 - 0.5, j as f64 - 0.5)]),
            );
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for p in border.filter_map(|(u, v)| undistort(u, v)) {
            (x0, y0, x1, y1) = (x0.min(p.x), y0.min(p.y), x1.max(p.x), y1.max(p.y));
        }
        let scale = (MAX_OVERSIZE * w as f64 / ((x1 - x0) * k.fx))
            .min(MAX_OVERSIZE * h as f64 / ((y1 - y0) * k.fy))
            .min(1.0);
        let (fx, fy) = (k.fx * scale, k.fy * scale);
        let (cx, cy) = (-x0 * fx + 0.5, -y0 * fy + 0.5);
        let (pw, ph) = (
            ((x1 - x0) * fx).ceil() as usize + 1,
            ((y1 - y0) * fy).ceil() as usize + 1,
        );
        let lookup: Vec<[f32; 2]> = (0..w * h)
            .map(|i| match undistort((i % w) as f64, (i / w) as f64) {
                Some(p) => [(p.x * fx + cx) as f32, (p.y * fy + cy) as f32],
                None => [f32::NAN, f32::NAN],
            })
            .collect();
        // A pinhole pixel is in use when its centre distorts into the output (with the
        // bilinear footprint's one-pixel margin).
        let spans = (0..ph)
            .map(|j| {
                let inside = |i: usize| {
                    let p = Vector2::new((i as f64 - cx) / fx, (j as f64 - cy) / fy);
                    let d = camera.distortion.apply(p);
                    let (u, v) = (d.x * k.fx + k.cx, d.y * k.fy + k.cy);
                    let margin = 1.5 / scale;
                    u > -margin
                        && v > -margin
                        && u < w as f64 - 1.0 + margin
                        && v < h as f64 - 1.0 + margin
                };
                let start = (0..pw).find(|&i| inside(i));
                match start {
                    Some(s) => {
                        let end = (s..pw).rev().find(|&i| inside(i)).map_or(s, |e| e + 1);
                        (s as u32, end as u32)
                    }
                    None => (0, 0),
                }
            })
            .collect();
        Lens {
            fx: fx as f32,
            fy: fy as f32,
            cx: cx as f32,
            cy: cy as f32,
            width: pw,
            height: ph,
            spans,
            lookup: Some(lookup),
            key,
        }
    }
}
