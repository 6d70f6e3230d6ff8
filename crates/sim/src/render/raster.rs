//! The rasteriser: triangles into camera space, near-plane clipping, projection into the
//! pinhole image, and scan conversion into a visibility buffer (inverse depth + which
//! triangle) in parallel row bands.
//!
//! Every triangle is planar, so inverse depth is an affine function of the pixel
//! position; the shader later rebuilds the exact camera-space point of each pixel from it,
//! which makes texturing perspective-correct without interpolating attributes.

use super::lens::Lens;
use super::scene::{dot, Material, Tri, V3};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// Closest distance drawn (m).
pub(crate) const NEAR: f32 = 0.05;
/// Farthest distance drawn (m).
pub(crate) const FAR: f32 = 400.0;
/// Rows per parallel band.
pub(crate) const BAND: usize = 8;

/// A rigid transform into camera space: p_cam = rot·p + trans.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Isometry {
    pub rot: [V3; 3],
    pub trans: V3,
}

impl Isometry {
    pub fn rotate(&self, v: V3) -> V3 {
        [
            dot(self.rot[0], v),
            dot(self.rot[1], v),
            dot(self.rot[2], v),
        ]
    }

    pub fn apply(&self, p: V3) -> V3 {
        let r = self.rotate(p);
        [
            r[0] + self.trans[0],
            r[1] + self.trans[1],
            r[2] + self.trans[2],
        ]
    }

    /// `self ∘ other`.
    pub fn then_after(&self, other: &Isometry) -> Isometry {
        let cols =
            [0, 1, 2].map(|c| self.rotate([other.rot[0][c], other.rot[1][c], other.rot[2][c]]));
        let rot = [0, 1, 2].map(|r| [cols[0][r], cols[1][r], cols[2][r]]);
        Isometry {
            rot,
            trans: self.apply(other.trans),
        }
    }
}

/// What the shader needs about one source triangle, in camera space.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShadeTri {
    pub normal: V3,
    pub u_map: [f32; 4],
    pub v_map: [f32; 4],
    pub material: Material,
    pub indoor: bool,
    /// Index into the frame's visible-sign list, or `NO_SIGN`.
    pub sign_slot: u32,
}

pub(crate) const NO_SIGN: u32 = u32::MAX;

/// A projected triangle ready for scan conversion.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScreenTri {
    pub p: [[f32; 2]; 3],
    /// Inverse depth = a·x + b·y + c over the pinhole image.
    pub inv_z: [f32; 3],
    pub y_min: f32,
    pub y_max: f32,
    pub shade: u32,
    pub sign_slot: u32,
}

/// Per-frame projection state.
pub(crate) struct Projector<'a> {
    pub lens: &'a Lens,
    pub shades: &'a mut Vec<ShadeTri>,
    pub screen: &'a mut Vec<ScreenTri>,
}

impl Projector<'_> {
    /// Whether a world-space box can be seen at all.
    pub fn box_visible(&self, view: &Isometry, min: V3, max: V3) -> bool {
        let corners: [V3; 8] = std::array::from_fn(|i| {
            [
                if i & 1 == 0 { min[0] } else { max[0] },
                if i & 2 == 0 { min[1] } else { max[1] },
                if i & 4 == 0 { min[2] } else { max[2] },
            ]
        });
        let cam = corners.map(|c| view.apply(c));
        let (x_lo, x_hi, y_lo, y_hi) = self.frustum();
        let all = |f: &dyn Fn(V3) -> bool| cam.iter().all(|&c| f(c));
        !(all(&|c| c[2] < NEAR)
            || all(&|c| c[2] > FAR)
            || all(&|c| c[0] > c[2] * x_hi)
            || all(&|c| c[0] < c[2] * x_lo)
            || all(&|c| c[1] > c[2] * y_hi)
            || all(&|c| c[1] < c[2] * y_lo))
    }

    /// Normalised image-plane limits of the pinhole image, with a pixel of margin.
    fn frustum(&self) -> (f32, f32, f32, f32) {
        let l = self.lens;
        (
            (-1.0 - l.cx) / l.fx,
            (l.width as f32 + 1.0 - l.cx) / l.fx,
            (-1.0 - l.cy) / l.fy,
            (l.height as f32 + 1.0 - l.cy) / l.fy,
        )
    }

    /// Transforms, culls, clips and projects one triangle.
    pub fn emit(&mut self, tri: &Tri, to_camera: &Isometry, sign_slot: u32) {
        let v = tri.v.map(|p| to_camera.apply(p));
        let normal = to_camera.rotate(tri.normal);
        let k = dot(normal, v[0]);
        // Facing away (the camera is behind the plane) or seen exactly edge-on.
        if (tri.one_sided && k >= 0.0) || k.abs() < 1e-7 {
            return;
        }
        let (x_lo, x_hi, y_lo, y_hi) = self.frustum();
        let outside = |f: &dyn Fn(V3) -> bool| v.iter().all(|&c| f(c));
        if outside(&|c| c[2] < NEAR)
            || outside(&|c| c[2] > FAR)
            || outside(&|c| c[0] > c[2] * x_hi)
            || outside(&|c| c[0] < c[2] * x_lo)
            || outside(&|c| c[1] > c[2] * y_hi)
            || outside(&|c| c[1] < c[2] * y_lo)
        {
            return;
        }
        let mut poly = [[0.0f32; 3]; 4];
        let n = clip_near(&v, &mut poly);
        if n < 3 {
            return;
        }
        let l = self.lens;
        let projected: [[f32; 2]; 4] = poly.map(|p| {
            [
                l.fx * p[0] / p[2].max(NEAR * 0.5) + l.cx,
                l.fy * p[1] / p[2].max(NEAR * 0.5) + l.cy,
            ]
        });
        // 1/z = (n·(x', y', 1)) / k with x' = (x − cx)/fx.
        let inv_z = [
            normal[0] / (l.fx * k),
            normal[1] / (l.fy * k),
            (normal[2] - normal[0] * l.cx / l.fx - normal[1] * l.cy / l.fy) / k,
        ];
        let shade = self.shades.len() as u32;
        let map_to_camera = |m: [f32; 4]| {
            // u = m·p_world + m3 with p_world = Rᵀ(p_cam − t): axis R·m, offset m3 − (R·m)·t.
            let axis = to_camera.rotate([m[0], m[1], m[2]]);
            [axis[0], axis[1], axis[2], m[3] - dot(axis, to_camera.trans)]
        };
        self.shades.push(ShadeTri {
            normal,
            u_map: map_to_camera(tri.u_map),
            v_map: map_to_camera(tri.v_map),
            material: tri.material,
            indoor: tri.indoor,
            sign_slot,
        });
        let (w, h) = (l.width as f32, l.height as f32);
        for i in 1..n - 1 {
            let p = [projected[0], projected[i], projected[i + 1]];
            let (y_min, y_max) = (
                p[0][1].min(p[1][1]).min(p[2][1]),
                p[0][1].max(p[1][1]).max(p[2][1]),
            );
            let (x_min, x_max) = (
                p[0][0].min(p[1][0]).min(p[2][0]),
                p[0][0].max(p[1][0]).max(p[2][0]),
            );
            if y_max < -1.0 || y_min > h + 1.0 || x_max < -1.0 || x_min > w + 1.0 {
                continue;
            }
            self.screen.push(ScreenTri {
                p,
                inv_z,
                y_min,
                y_max,
                shade,
                sign_slot,
            });
        }
    }
}

/// Clips a triangle against z ≥ NEAR; returns the vertex count written to `out` (0, 3 or 4).
fn clip_near(v: &[V3; 3], out: &mut [V3; 4]) -> usize {
    let mut n = 0;
    for i in 0..3 {
        let (a, b) = (v[i], v[(i + 1) % 3]);
        let (ina, inb) = (a[2] >= NEAR, b[2] >= NEAR);
        if ina {
            out[n] = a;
            n += 1;
        }
        if ina != inb {
            let t = (NEAR - a[2]) / (b[2] - a[2]);
            out[n] = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, NEAR];
            n += 1;
        }
    }
    n
}

/// The x where edge a–b crosses row y, computed the same way whichever triangle owns it.
#[inline]
fn edge_x(a: [f32; 2], b: [f32; 2], y: f32) -> Option<f32> {
    let (a, b) = if (a[1], a[0]) <= (b[1], b[0]) {
        (a, b)
    } else {
        (b, a)
    };
    (y >= a[1] && y < b[1]).then(|| a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]))
}

/// Scan-converts every triangle into the visibility buffer, band by band in parallel, and
/// counts each sign's covered pixels ignoring depth (for its visible share).
pub(crate) fn rasterise(
    screen: &[ScreenTri],
    bins: &mut Vec<Vec<u32>>,
    lens: &Lens,
    depth: &mut [f32],
    ids: &mut [u32],
    sign_cover: &[AtomicU32],
) {
    let width = lens.width;
    // Each band's triangles, in drawing order.
    let bands = lens.height.div_ceil(BAND);
    bins.resize_with(bands, Vec::new);
    bins.iter_mut().for_each(Vec::clear);
    for (k, tri) in screen.iter().enumerate() {
        let first = (tri.y_min.max(0.0) as usize / BAND).min(bands);
        let last = ((tri.y_max.max(0.0) as usize) / BAND + 1).min(bands);
        for bin in &mut bins[first..last] {
            bin.push(k as u32);
        }
    }
    let bins = &bins[..];
    depth
        .par_chunks_mut(BAND * width)
        .zip(ids.par_chunks_mut(BAND * width))
        .enumerate()
        .for_each(|(band, (depth, ids))| {
            depth.fill(0.0);
            ids.fill(0);
            let y0 = band * BAND;
            let y1 = y0 + depth.len() / width;
            for tri in bins[band].iter().map(|&k| &screen[k as usize]) {
                let first = (tri.y_min.ceil().max(y0 as f32)) as usize;
                let last = (tri.y_max.ceil().min(y1 as f32)) as usize;
                let mut covered = 0u32;
                for y in first..last {
                    let yf = y as f32;
                    let mut xs = [0.0f32; 2];
                    let mut found = 0;
                    for e in 0..3 {
                        if let Some(x) = edge_x(tri.p[e], tri.p[(e + 1) % 3], yf) {
                            if found < 2 {
                                xs[found] = x;
                            }
                            found += 1;
                        }
                    }
                    if found < 2 {
                        continue;
                    }
                    let (span_lo, span_hi) = lens.spans[y];
                    let lo = xs[0].min(xs[1]).ceil().max(span_lo as f32) as usize;
                    let hi = xs[0].max(xs[1]).ceil().min(span_hi as f32) as usize;
                    if lo >= hi {
                        continue;
                    }
                    covered += (hi - lo) as u32;
                    let row = (y - y0) * width;
                    let [a, b, c] = tri.inv_z;
                    let mut z = a * lo as f32 + b * yf + c;
                    let id = tri.shade + 1;
                    for x in lo..hi {
                        let i = row + x;
                        if z > depth[i] {
                            depth[i] = z;
                            ids[i] = id;
                        }
                        z += a;
                    }
                }
                if tri.sign_slot != NO_SIGN && covered > 0 {
                    sign_cover[tri.sign_slot as usize].fetch_add(covered, Ordering::Relaxed);
                }
            }
        });
}
