//! Materials, lighting and sky: one linear-RGB radiance per visible pixel.
//!
//! Textures are procedural (hashed value noise over world or surface coordinates), except
//! the sign faces, which are mip-mapped pictograms.

use super::conditions::Conditions;
use super::ground::{GroundClass, GroundMap};
use super::pictograms::{SignTexture, TEXTURE_SIZE};
use super::raster::{Isometry, ShadeTri};
use super::scene::{dot, normalize, scale, sub, Material, V3};

pub(crate) type Rgb = [f32; 3];

#[inline]
pub(crate) fn hash(x: i32, y: i32, seed: u32) -> u32 {
    let mut h = (x as u32).wrapping_mul(0x8da6b343)
        ^ (y as u32).wrapping_mul(0xd8163841)
        ^ seed.wrapping_mul(0xcb1ab31f);
    h ^= h >> 13;
    h = h.wrapping_mul(0x5bd1e995);
    h ^ (h >> 15)
}

#[inline]
pub(crate) fn hash01(x: i32, y: i32, seed: u32) -> f32 {
    (hash(x, y, seed) >> 8) as f32 / (1u32 << 24) as f32
}

/// floor() without a libm call (the baseline x86-64 target has no rounding instruction).
#[inline]
pub(crate) fn floor(x: f32) -> f32 {
    let i = x as i32;
    (i - (x < i as f32) as i32) as f32
}

/// x mod 1, in [0, 1).
#[inline]
fn frac(x: f32) -> f32 {
    x - floor(x)
}

const NOISE_SIZE: usize = 256;

/// A tileable table of random values: one load per lattice point instead of a hash.
fn noise_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..NOISE_SIZE * NOISE_SIZE)
            .map(|i| hash01((i % NOISE_SIZE) as i32, (i / NOISE_SIZE) as i32, 0x51ed))
            .collect()
    })
}

/// Smooth value noise in [0, 1]; each seed reads a different part of the table.
#[inline(always)]
fn noise(x: f32, y: f32, seed: u32) -> f32 {
    let table = noise_table();
    // Small offsets (whole table periods apart would repeat): up to 1023 cells.
    let offset = (seed.wrapping_mul(2654435761) >> 22) as f32;
    let (x, y) = (x + offset * 1.37, y + offset * 0.71);
    let (fx, fy) = (floor(x), floor(y));
    let (ix, iy) = (
        fx as i32 as usize & (NOISE_SIZE - 1),
        fy as i32 as usize & (NOISE_SIZE - 1),
    );
    let (jx, jy) = ((ix + 1) & (NOISE_SIZE - 1), (iy + 1) & (NOISE_SIZE - 1));
    let (tx, ty) = (x - fx, y - fy);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let a = table[iy * NOISE_SIZE + ix];
    let b = table[iy * NOISE_SIZE + jx];
    let c = table[jy * NOISE_SIZE + ix];
    let d = table[jy * NOISE_SIZE + jx];
    let top = a + (b - a) * sx;
    let bottom = c + (d - c) * sx;
    top + (bottom - top) * sy
}

/// Noise of frequency `freq` (1/m), or its mean where a pixel covers several of its
/// cells (`footprint` metres per pixel): cheaper, and no shimmering in the distance.
#[inline]
fn detail(x: f32, y: f32, freq: f32, seed: u32, footprint: f32) -> f32 {
    if footprint * freq > 0.7 {
        0.5
    } else {
        noise(x * freq, y * freq, seed)
    }
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn mul(a: Rgb, b: Rgb) -> Rgb {
    [a[0] * b[0], a[1] * b[1], a[2] * b[2]]
}

fn add3(a: Rgb, b: Rgb) -> Rgb {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

const FACADE_COLOURS: [Rgb; 8] = [
    [0.42, 0.36, 0.27],
    [0.48, 0.46, 0.42],
    [0.30, 0.12, 0.08],
    [0.40, 0.33, 0.18],
    [0.33, 0.33, 0.33],
    [0.46, 0.40, 0.32],
    [0.26, 0.19, 0.14],
    [0.36, 0.38, 0.36],
];
const CAR_COLOURS: [Rgb; 8] = [
    [0.75, 0.75, 0.75],
    [0.02, 0.02, 0.02],
    [0.40, 0.41, 0.43],
    [0.03, 0.06, 0.20],
    [0.45, 0.03, 0.02],
    [0.15, 0.15, 0.16],
    [0.04, 0.12, 0.06],
    [0.50, 0.44, 0.33],
];
const FOLIAGE: [Rgb; 4] = [
    [0.05, 0.12, 0.03],
    [0.07, 0.14, 0.03],
    [0.04, 0.09, 0.03],
    [0.09, 0.13, 0.04],
];

/// Lamps close enough to light a frame.
pub(crate) const MAX_LAMPS: usize = 8;

/// Everything the shader reads for one frame.
pub(crate) struct ShadeContext<'a> {
    pub conditions: &'a Conditions,
    pub ground: &'a GroundMap,
    pub textures: &'a [SignTexture],
    /// Texture (GTSRB class) and fading of each visible-sign slot.
    pub sign_class: &'a [usize],
    pub sign_fade: &'a [f32],
    /// camera ← world, and its inverse rotation for rays and normals.
    pub view: Isometry,
    pub sun: V3,
    pub lamps: &'a [V3],
    pub ceiling: f32,
    pub fx: f32,
}

impl ShadeContext<'_> {
    /// World direction of a camera-space vector.
    pub fn to_world(&self, v: V3) -> V3 {
        let r = &self.view.rot;
        [
            r[0][0] * v[0] + r[1][0] * v[1] + r[2][0] * v[2],
            r[0][1] * v[0] + r[1][1] * v[1] + r[2][1] * v[2],
            r[0][2] * v[0] + r[1][2] * v[1] + r[2][2] * v[2],
        ]
    }

    pub fn sky(&self, dir: V3) -> Rgb {
        let c = self.conditions;
        let d = normalize(dir);
        let el = d[2];
        if el < 0.0 {
            // Below the horizon beyond the map: hazy distant ground.
            let far = mix(
                c.sky_horizon,
                scale([0.22, 0.24, 0.2], c.sky_light[1] * 1.5),
                (-el * 8.0).min(1.0),
            );
            return far;
        }
        let t = (1.0 - el).powi(3);
        let mut colour = mix(c.sky_zenith, c.sky_horizon, t);
        if c.clouds > 0.0 && el > 0.01 {
            let (px, py) = (d[0] / (el + 0.08) * 2.5, d[1] / (el + 0.08) * 2.5);
            let n = noise(px, py, 7) * 0.6 + noise(px * 2.7, py * 2.7, 8) * 0.4;
            let cover = ((n - (1.0 - c.clouds)) * 3.0).clamp(0.0, 1.0) * (el * 6.0).min(1.0);
            let cloud = scale(
                add3(c.sky_horizon, scale(c.sun_light, 0.12)),
                1.05 - 0.3 * n,
            );
            colour = mix(colour, cloud, cover * 0.9);
        }
        if c.sun_elevation > -0.05 {
            let s = dot(d, self.sun).max(0.0);
            colour = add3(
                colour,
                scale(c.sun_light, s.powi(64) * 0.5 + s.powi(800) * 6.0),
            );
        }
        colour
    }

    /// Radiance of a surface point `p` (camera space) on triangle `tri`.
    /// `outdoor` is the sun and sky light on the triangle ([`outdoor_light`]).
    pub fn surface(&self, tri: &ShadeTri, outdoor: Rgb, p: V3) -> Rgb {
        let c = self.conditions;
        let world = self.to_world(sub(p, self.view.trans));
        let u = dot([tri.u_map[0], tri.u_map[1], tri.u_map[2]], p) + tri.u_map[3];
        let v = dot([tri.v_map[0], tri.v_map[1], tri.v_map[2]], p) + tri.v_map[3];
        let distance = dot(p, p).sqrt();
        let view_dir = scale(p, 1.0 / distance);
        let cos_view = dot(tri.normal, view_dir).abs();
        // Metres of surface under one pixel.
        let footprint = distance / self.fx / cos_view.max(0.2);
        let mut emission = [0.0; 3];
        let mut wet = 0.0;
        let mut retro = 0.0;
        let albedo: Rgb = match tri.material {
            Material::Ground => {
                let jitter = (detail(world[0], world[1], 1.3, 3, footprint * 5.0) - 0.5) * 0.35;
                match self.ground.class_at(world[0] + jitter, world[1] - jitter) {
                    GroundClass::Road => {
                        wet = c.rain;
                        asphalt(world[0], world[1], footprint)
                    }
                    GroundClass::Pavement => {
                        let (tx, ty) = (frac(world[0] * 3.3), frac(world[1] * 3.3));
                        let seam = if tx < 0.06 || ty < 0.06 { 0.75 } else { 1.0 };
                        wet = c.rain * 0.6;
                        scale(
                            [0.30, 0.29, 0.27],
                            seam * (0.85 + 0.3 * noise(world[0] * 0.7, world[1] * 0.7, 4)),
                        )
                    }
                    _ => {
                        let n = noise(world[0] * 0.5, world[1] * 0.5, 5) * 0.6
                            + detail(world[0], world[1], 4.0, 6, footprint) * 0.4;
                        mix(
                            [0.06, 0.11, 0.03],
                            [0.16, 0.13, 0.08],
                            (n - 0.35).clamp(0.0, 1.0),
                        )
                    }
                }
            }
            Material::Asphalt => {
                wet = c.rain * 0.3;
                scale(asphalt(world[0], world[1], footprint), 0.9)
            }
            Material::Paint { yellow } => {
                wet = c.rain * 0.8;
                let paint = if yellow {
                    [0.70, 0.45, 0.05]
                } else {
                    [0.72, 0.72, 0.70]
                };
                let worn = noise(world[0] * 2.5, world[1] * 2.5, 9) * 0.7
                    + detail(world[0], world[1], 13.0, 10, footprint) * 0.3;
                mix(
                    paint,
                    asphalt(world[0], world[1], footprint),
                    ((worn - 0.55) * 2.5).clamp(0.0, 0.85),
                )
            }
            Material::Kerb => scale([0.36, 0.36, 0.35], 0.85 + 0.3 * noise(u * 2.0, v * 2.0, 11)),
            Material::Facade { style } => self.facade(style, u, v, cos_view, &mut emission),
            Material::Roof { style } => {
                if style % 3 == 0 {
                    [0.25, 0.08, 0.05]
                } else {
                    [0.13, 0.13, 0.14]
                }
            }
            Material::Metal => [0.42, 0.43, 0.45],
            Material::SignFace { .. } => {
                retro = 1.0;
                self.sign(tri, u, v, distance, cos_view)
            }
            Material::Bark => [0.10, 0.07, 0.05],
            Material::Foliage { tint } => {
                let n = noise(u * 2.2, v * 2.2, 12) * 0.5 + detail(u, v, 7.0, 13, footprint) * 0.5;
                scale(FOLIAGE[tint as usize % FOLIAGE.len()], 0.55 + 0.9 * n)
            }
            Material::CarBody { colour } => {
                wet = 0.25;
                CAR_COLOURS[colour as usize % CAR_COLOURS.len()]
            }
            Material::Glass => {
                wet = 0.6;
                [0.02, 0.025, 0.03]
            }
            Material::Tyre => [0.025, 0.025, 0.025],
            Material::CarLight { rear, on } => {
                if on && (c.is_dark() || tri.indoor) {
                    emission = if rear {
                        [3.0, 0.15, 0.08]
                    } else {
                        [7.0, 6.6, 5.6]
                    };
                }
                if rear {
                    [0.45, 0.03, 0.03]
                } else {
                    [0.75, 0.75, 0.72]
                }
            }
            Material::Concrete => {
                scale([0.42, 0.41, 0.39], 0.8 + 0.35 * noise(u * 0.8, v * 0.8, 14))
            }
            Material::Ceiling => {
                let (lx, ly) = (frac(world[0] / 6.0), frac(world[1] / 4.0));
                if (lx - 0.5).abs() < 0.1 && (ly - 0.5).abs() < 0.02 {
                    emission = [6.0, 6.0, 5.6];
                }
                [0.33, 0.33, 0.32]
            }
            Material::LampHead => {
                if c.is_dark() {
                    emission = [8.0, 6.5, 4.0];
                }
                [0.3, 0.3, 0.3]
            }
        };
        let mut light = if tri.indoor {
            self.indoor_light(world, self.to_world(tri.normal))
        } else {
            outdoor
        };
        if c.is_dark() && !tri.indoor {
            light = add3(light, self.lamp_light(world, self.to_world(tri.normal)));
        }
        if c.headlights > 0.0 {
            light = add3(
                light,
                scale(self.headlight(p, tri.normal, distance), 1.0 + 40.0 * retro),
            );
        }
        let mut colour = add3(mul(albedo, light), emission);
        if wet > 0.0 {
            let fresnel = 0.03 + 0.97 * (1.0 - cos_view).powi(5);
            let puddle = ((noise(world[0] * 0.35, world[1] * 0.35, 15) - 0.55) * 4.0)
                .clamp(0.0, 1.0)
                * c.rain;
            colour = scale(colour, 1.0 - 0.45 * wet);
            let reflected = [view_dir[0], view_dir[1], -view_dir[2]];
            let reflection = if tri.indoor {
                scale(c.underground_light, 0.5)
            } else {
                self.sky(self.to_world(reflected))
            };
            colour = add3(
                colour,
                scale(reflection, wet * (fresnel * 0.8 + puddle * 0.5)),
            );
        }
        self.fog(colour, distance)
    }

    pub fn fog(&self, colour: Rgb, distance: f32) -> Rgb {
        let c = self.conditions;
        let f = (-c.fog_density * distance).exp();
        mix(c.fog_colour, colour, f)
    }

    /// Sun and sky light on a surface with this world normal.
    pub fn outdoor_light(&self, normal: V3) -> Rgb {
        let c = self.conditions;
        let sun = dot(normal, self.sun).max(0.0) * if c.sun_elevation > 0.0 { 1.0 } else { 0.0 };
        let sky = 0.55 + 0.45 * normal[2];
        let bounce = 0.12 * (0.5 - 0.5 * normal[2]);
        add3(
            scale(c.sun_light, sun + bounce * self.sun[2].max(0.0)),
            scale(c.sky_light, sky),
        )
    }

    fn indoor_light(&self, world: V3, normal: V3) -> Rgb {
        let c = self.conditions;
        let mut light = scale(c.underground_light, 0.7 + 0.3 * normal[2].abs());
        // Nearest ceiling panel on the 6 m × 4 m grid.
        let (gx, gy) = (
            (floor(world[0] / 6.0) + 0.5) * 6.0,
            (floor(world[1] / 4.0) + 0.5) * 4.0,
        );
        let to_light = [gx - world[0], gy - world[1], self.ceiling - 0.05 - world[2]];
        let d2 = dot(to_light, to_light).max(0.3);
        let lambert = (dot(normal, to_light) / d2.sqrt()).max(0.0);
        light = add3(light, scale([1.0, 0.98, 0.92], 3.5 * lambert / d2));
        light
    }

    fn lamp_light(&self, world: V3, normal: V3) -> Rgb {
        let mut total = 0.0;
        for lamp in self.lamps {
            let l = sub(*lamp, world);
            let d2 = dot(l, l) + 1.0;
            total += (dot(normal, l) / d2.sqrt()).max(0.0) * 14.0 / d2;
        }
        scale([1.0, 0.8, 0.55], total)
    }

    /// Dipped-beam headlights at the camera, pointing along its axis (camera space).
    fn headlight(&self, p: V3, normal: V3, distance: f32) -> Rgb {
        if p[2] <= 0.0 {
            return [0.0; 3];
        }
        let (x, y) = (p[0] / p[2], p[1] / p[2]);
        let beam = 1.0 - ((x / 0.55).powi(2) + ((y - 0.12) / 0.18).powi(2)).min(1.0);
        // Dipped beams cut off above the horizon, except for reflective signs near it.
        let cutoff = ((y + 0.03) * 12.0).clamp(0.15, 1.0);
        let to_camera = scale(p, -1.0 / distance);
        let lambert = dot(normal, to_camera).max(0.0);
        let i = self.conditions.headlights * 60.0 * beam * cutoff * lambert
            / (distance * distance + 4.0);
        [i, i * 0.97, i * 0.9]
    }

    fn facade(&self, style: u32, u: f32, v: f32, cos_view: f32, emission: &mut Rgb) -> Rgb {
        let base = FACADE_COLOURS[(style % 8) as usize];
        let floor_h = 3.0 + ((style >> 4) % 4) as f32 * 0.15;
        let spacing = 2.3 + ((style >> 6) % 5) as f32 * 0.25;
        let storey = floor(v / floor_h);
        let (fu, fv) = (frac(u / spacing), frac(v / floor_h));
        let plaster = scale(base, 0.9 + 0.2 * noise(u * 0.5, v * 0.5, style));
        let ground_floor = storey < 1.0;
        let (win_w, win_lo, win_hi) = if ground_floor {
            (0.75, 0.12, 0.8)
        } else {
            (0.42, 0.3, 0.78)
        };
        let in_window = (fu - 0.5).abs() < win_w / 2.0 && fv > win_lo && fv < win_hi && v > 0.2;
        if !in_window {
            let frame = (fu - 0.5).abs() < win_w / 2.0 + 0.04
                && fv > win_lo - 0.04
                && fv < win_hi + 0.03
                && v > 0.2;
            return if frame { scale(plaster, 1.2) } else { plaster };
        }
        let cell = (floor(u / spacing) as i32, storey as i32);
        let lit = hash01(cell.0, cell.1, style) < 0.18;
        if self.conditions.is_dark() && lit {
            *emission = [0.45, 0.34, 0.2];
        }
        let fresnel = 0.1 + 0.6 * (1.0 - cos_view).powi(3);
        let interior = if hash01(cell.0, cell.1, style ^ 0x55) < 0.5 {
            [0.03, 0.03, 0.035]
        } else {
            [0.07, 0.06, 0.05]
        };
        add3(interior, scale(self.conditions.sky_horizon, fresnel * 0.25))
    }

    fn sign(&self, tri: &ShadeTri, u: f32, v: f32, distance: f32, cos_view: f32) -> Rgb {
        let slot = tri.sign_slot as usize;
        let texture = &self.textures[self.sign_class[slot]];
        // Texels per pixel: texture-space rate (|∂u/∂p| per metre) × metres per pixel.
        let per_metre = (tri.u_map[0] * tri.u_map[0]
            + tri.u_map[1] * tri.u_map[1]
            + tri.u_map[2] * tri.u_map[2])
            .sqrt();
        let texels_per_pixel =
            TEXTURE_SIZE as f32 * per_metre * distance / self.fx / cos_view.max(0.25);
        let lod = texels_per_pixel.max(1.0).log2();
        let colour = texture.sample(u, v, lod);
        let fade = self.sign_fade[slot];
        let grey = (colour[0] + colour[1] + colour[2]) / 3.0;
        mix(colour, [grey * 1.1 + 0.05; 3], fade)
    }
}

fn asphalt(x: f32, y: f32, footprint: f32) -> Rgb {
    let grain = detail(x, y, 9.0, 1, footprint) * 0.5 + detail(x, y, 31.0, 2, footprint) * 0.5;
    let patch = noise(x * 0.15, y * 0.15, 16);
    // Repaired strips: rectangles of slightly darker, fresher asphalt.
    let (cx, cy) = (floor(x / 7.0) as i32, floor(y / 2.5) as i32);
    let repair = if hash01(cx, cy, 17) > 0.93 { 0.8 } else { 1.0 };
    let g = (0.062 + 0.03 * grain + 0.025 * patch) * repair;
    [g, g, g * 1.03]
}
