//! The renderer: a CPU rasteriser that draws a map's world through a real camera model.
//!
//! [`Scene::build`] turns a map into flat-shaded, textured triangles once: ground (road,
//! pavement and verge from a raster grown between lane lines and road edges), lane
//! markings (solid, 3 m / 6 m dashes, double; white and yellow, worn), stop lines, kerbs,
//! buildings with windowed façades, street lamps, trees, parked cars, sign boards with
//! procedurally drawn faces for all 43 GTSRB classes on poles, gantries, walls or ceiling
//! rods, and underground spaces (floor, walls, ceiling with light panels, pillars).
//! [`Scene::render`] then draws one frame: chunk culling, near-plane clipping, scan
//! conversion into a visibility buffer in parallel row bands (rayon), one shading pass
//! (procedural textures, sun, sky, lamps, headlights, fog, wet roads), the lens distortion
//! (see [`lens`]'s method: exact per pixel), and the sensor effects of [`Conditions`].
//!
//! Other vehicles ([`OtherVehicle`]) are placed per frame from a few car models built with
//! the scene; they occlude like everything else.
//!
//! Signs' visibility is measured on the pixels: the share of a face's in-image pixels that
//! win the depth test against everything else. Any other world point can be asked about
//! the same way ([`FrameExtras::probes`]): lane labels use it to drop hidden points.
//!
//! The scene is drawn from [`Scene::drawn`], the map with a seeded σ = 5 cm error on its
//! landmarks ([`jitter`]), not from the map itself.

mod conditions;
mod effects;
mod ground;
pub mod jitter;
mod lens;
mod pictograms;
mod raster;
mod scene;
mod shade;
#[cfg(test)]
mod tests;

pub use conditions::{Conditions, ConditionsPreset, UnknownPreset};

use lens::Lens;
use mapfix_core::{CameraModel, Pose, Vec3};
use mapfix_map::Map;
use pictograms::SignTexture;
use raster::{Isometry, Projector, ScreenTri, ShadeTri, BAND, NEAR, NO_SIGN};
use rayon::prelude::*;
use scene::{add, dot, scale, sub, Material, Tri, World, V3};
use shade::{Rgb, ShadeContext, MAX_LAMPS};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

/// World geometry built once from a map, ready to render from any pose.
pub struct Scene {
    world: World,
    /// The map as drawn: its landmarks displaced by their map-to-world error.
    drawn: Map,
    /// Car models for other vehicles, in the car's frame; `[outdoor, indoor]` lighting.
    cars: [Vec<Vec<Tri>>; 2],
    textures: Vec<SignTexture>,
    ceiling: f32,
}

/// Another vehicle on the road in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OtherVehicle {
    /// world ← vehicle (x forward, y left, z up), the reference point on the road surface
    /// midway between the axles.
    pub pose: Pose,
    /// Which car model it is (any number, taken modulo the scene's models).
    pub model: usize,
}

/// What a frame shows besides the static world, and what it is asked about.
#[derive(Debug, Clone, Copy, Default)]
pub struct FrameExtras<'a> {
    pub traffic: &'a [OtherVehicle],
    /// World points whose visibility the frame reports in [`RenderedFrame::probes_visible`].
    pub probes: &'a [Vec3],
}

/// One rendered frame and the signs in it.
pub struct RenderedFrame {
    pub image: image::RgbImage,
    /// One entry per map sign that has at least one visible pixel in this frame.
    pub signs: Vec<SignVisibility>,
    /// For each of [`FrameExtras::probes`]: whether nothing drawn is in front of it (a
    /// point outside the image or behind the camera counts as not visible).
    pub probes_visible: Vec<bool>,
}

/// How much of a sign the frame shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SignVisibility {
    /// Index into `map.signs`.
    pub sign_index: usize,
    /// Visible share of the face's in-image pixels (depth-tested against everything).
    pub visible: f32,
    /// `[left, top, right, bottom]` of the face's outline in pixels (pixel centres at
    /// integers, as in `CameraModel`), clipped to the image `[-0.5, size − 0.5]`.
    pub bbox: [f32; 4],
}

/// Buffers reused from frame to frame (one set per rendering thread).
#[derive(Default)]
struct FrameBuffers {
    lens: Option<Lens>,
    depth: Vec<f32>,
    ids: Vec<u32>,
    colour: Vec<Rgb>,
    output: Vec<Rgb>,
    scratch: Vec<Rgb>,
    shades: Vec<ShadeTri>,
    /// Sun and sky light on each shaded triangle.
    tri_light: Vec<Rgb>,
    screen: Vec<ScreenTri>,
    bins: Vec<Vec<u32>>,
    sign_cover: Vec<AtomicU32>,
    sign_seen: Vec<AtomicU32>,
    frame_signs: Vec<FrameSign>,
}

/// A sign board considered in this frame.
struct FrameSign {
    board: usize,
    tilt: Isometry,
    fade: f32,
}

thread_local! {
    /// Buffers free for the next frame on this thread. A stack rather than one set: a rayon
    /// worker waiting inside one frame's parallel pass may start rendering another frame.
    static FREE_BUFFERS: RefCell<Vec<FrameBuffers>> = const { RefCell::new(Vec::new()) };
}

impl Scene {
    /// Builds the world of `map` as drawn; `seed` places trees and parked cars, shapes the
    /// car models and draws the landmarks' map-to-world error.
    pub fn build(map: &Map, seed: u64) -> Scene {
        let ceiling = map.underground.first().map_or(0.0, |u| u.ceiling as f32);
        let drawn = jitter::drawn_world(map, seed);
        Scene {
            world: World::build(&drawn, seed),
            drawn,
            cars: [false, true].map(|indoor| scene::car_models(seed, indoor)),
            textures: pictograms::all_textures(),
            ceiling,
        }
    }

    /// The map as drawn: the map's features with the landmarks (signs, poles, lane and
    /// stop lines) where the scene draws them, about 5 cm from where the map has them.
    pub fn drawn(&self) -> &Map {
        &self.drawn
    }

    /// Renders the view of `camera` mounted on a vehicle at `vehicle` (world ← vehicle).
    pub fn render(
        &self,
        camera: &CameraModel,
        vehicle: &Pose,
        conditions: &Conditions,
        frame_seed: u64,
    ) -> RenderedFrame {
        self.render_frame(
            camera,
            vehicle,
            conditions,
            frame_seed,
            &FrameExtras::default(),
        )
    }

    /// [`Scene::render`] with other vehicles in the view and points to test for visibility.
    pub fn render_frame(
        &self,
        camera: &CameraModel,
        vehicle: &Pose,
        conditions: &Conditions,
        frame_seed: u64,
        extras: &FrameExtras,
    ) -> RenderedFrame {
        let mut buffers = FREE_BUFFERS.with_borrow_mut(Vec::pop).unwrap_or_default();
        let frame = self.render_with(
            &mut buffers,
            camera,
            vehicle,
            conditions,
            frame_seed,
            extras,
        );
        FREE_BUFFERS.with_borrow_mut(|free| free.push(buffers));
        frame
    }

    fn render_with(
        &self,
        buf: &mut FrameBuffers,
        camera: &CameraModel,
        vehicle: &Pose,
        conditions: &Conditions,
        frame_seed: u64,
        extras: &FrameExtras,
    ) -> RenderedFrame {
        if !buf.lens.as_ref().is_some_and(|l| l.fits(camera)) {
            buf.lens = Some(Lens::new(camera));
        }
        let lens = buf.lens.as_ref().expect("lens was just set");
        let pinhole_pixels = lens.width * lens.height;
        let camera_pose = camera.world_from_camera(vehicle);
        let view = view_isometry(&camera_pose);

        // Geometry: static chunks, other vehicles, then the (tilted) sign boards.
        buf.shades.clear();
        buf.screen.clear();
        buf.frame_signs.clear();
        let mut projector = Projector {
            lens,
            shades: &mut buf.shades,
            screen: &mut buf.screen,
        };
        for chunk in &self.world.chunks {
            if projector.box_visible(&view, chunk.min, chunk.max) {
                for tri in &self.world.tris[chunk.tris.clone()] {
                    projector.emit(tri, &view, NO_SIGN);
                }
            }
        }
        for other in extras.traffic {
            let placement = pose_isometry(&other.pose);
            let centre = placement.apply([0.0, 0.0, 0.8]);
            let reach = [3.0; 3];
            if !projector.box_visible(&view, sub(centre, reach), add(centre, reach)) {
                continue;
            }
            let indoor = self.drawn.level_at(&(other.pose.position + Vec3::z())) < 0;
            let models = &self.cars[usize::from(indoor)];
            let to_camera = view.then_after(&placement);
            for tri in &models[other.model % models.len()] {
                projector.emit(tri, &to_camera, NO_SIGN);
            }
        }
        for (b, board) in self.world.signs.iter().enumerate() {
            let reach = [2.0; 3];
            if !projector.box_visible(&view, sub(board.centre, reach), add(board.centre, reach)) {
                continue;
            }
            let slot = buf.frame_signs.len() as u32;
            let (tilt, fade) = sign_wear(board, conditions);
            let to_camera = view.then_after(&tilt);
            for tri in &board.tris {
                let face = matches!(tri.material, Material::SignFace { .. });
                projector.emit(tri, &to_camera, if face { slot } else { NO_SIGN });
            }
            buf.frame_signs.push(FrameSign {
                board: b,
                tilt,
                fade,
            });
        }
        let slots = buf.frame_signs.len();
        buf.sign_cover.resize_with(slots, AtomicU32::default);
        buf.sign_seen.resize_with(slots, AtomicU32::default);
        for counter in buf.sign_cover.iter().chain(&buf.sign_seen) {
            counter.store(0, Ordering::Relaxed);
        }

        buf.depth.resize(pinhole_pixels, 0.0);
        buf.ids.resize(pinhole_pixels, 0);
        raster::rasterise(
            &buf.screen,
            &mut buf.bins,
            lens,
            &mut buf.depth,
            &mut buf.ids,
            &buf.sign_cover[..slots],
        );
        let probes_visible = extras
            .probes
            .iter()
            .map(|p| probe_visible(lens, &view, &buf.depth, &buf.ids, &buf.shades, p))
            .collect();

        // Shading.
        let sun = conditions.sun_direction().map(|v| v as f32);
        let camera_position = [
            camera_pose.position.x as f32,
            camera_pose.position.y as f32,
            camera_pose.position.z as f32,
        ];
        let mut lamps: Vec<V3> = if conditions.is_dark() {
            self.world.lamps.iter().map(|l| l.position).collect()
        } else {
            Vec::new()
        };
        lamps.sort_by(|a, b| {
            dot(sub(*a, camera_position), sub(*a, camera_position))
                .total_cmp(&dot(sub(*b, camera_position), sub(*b, camera_position)))
        });
        lamps.truncate(MAX_LAMPS);
        let sign_class: Vec<usize> = buf
            .frame_signs
            .iter()
            .map(|s| self.world.signs[s.board].class)
            .collect();
        let sign_fade: Vec<f32> = buf.frame_signs.iter().map(|s| s.fade).collect();
        let ctx = ShadeContext {
            conditions,
            ground: &self.world.ground,
            textures: &self.textures,
            sign_class: &sign_class,
            sign_fade: &sign_fade,
            view,
            sun,
            lamps: &lamps,
            ceiling: self.ceiling,
            fx: lens.fx,
        };
        buf.colour.resize(pinhole_pixels, [0.0; 3]);
        let sky_fog = (conditions.fog_density * 120.0).min(1.0);
        buf.tri_light.clear();
        buf.tri_light.par_extend(
            buf.shades
                .par_iter()
                .map(|t| ctx.outdoor_light(ctx.to_world(t.normal))),
        );
        let (shades, tri_light, depth, ids, seen) = (
            &buf.shades,
            &buf.tri_light,
            &buf.depth,
            &buf.ids,
            &buf.sign_seen[..slots],
        );
        buf.colour
            .par_chunks_mut(BAND * lens.width)
            .enumerate()
            .for_each(|(band, colour)| {
                let mut counts = vec![0u32; slots];
                for (r, row) in colour.chunks_mut(lens.width).enumerate() {
                    let y = band * BAND + r;
                    let (lo, hi) = lens.spans[y];
                    let ray_y = (y as f32 - lens.cy) / lens.fy;
                    for (x, out) in row
                        .iter_mut()
                        .enumerate()
                        .take(hi as usize)
                        .skip(lo as usize)
                    {
                        let i = y * lens.width + x;
                        let ray = [(x as f32 - lens.cx) / lens.fx, ray_y, 1.0];
                        *out = match ids[i] {
                            0 => {
                                let sky = ctx.sky(ctx.to_world(ray));
                                [0, 1, 2]
                                    .map(|c| sky[c] + (conditions.fog_colour[c] - sky[c]) * sky_fog)
                            }
                            id => {
                                let k = id as usize - 1;
                                let tri = &shades[k];
                                if tri.sign_slot != NO_SIGN {
                                    counts[tri.sign_slot as usize] += 1;
                                }
                                ctx.surface(tri, tri_light[k], scale(ray, 1.0 / depth[i]))
                            }
                        };
                    }
                }
                for (slot, &n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
                    seen[slot].fetch_add(n, Ordering::Relaxed);
                }
            });

        // Lens distortion: each output pixel reads its exact undistorted position.
        let (width, height) = (
            camera.intrinsics.width as usize,
            camera.intrinsics.height as usize,
        );
        match &lens.lookup {
            Some(lookup) => {
                buf.output.resize(width * height, [0.0; 3]);
                let colour = &buf.colour;
                buf.output
                    .par_iter_mut()
                    .zip(lookup.par_iter())
                    .for_each(|(out, &[x, y])| {
                        *out = bilinear(colour, lens.width, lens.height, x, y);
                    });
            }
            None => std::mem::swap(&mut buf.output, &mut buf.colour),
        }

        effects::motion_blur(
            &mut buf.output,
            &mut buf.scratch,
            width,
            conditions.motion_blur_px,
            conditions.motion_blur_angle,
        );
        effects::gaussian_blur(
            &mut buf.output,
            &mut buf.scratch,
            width,
            conditions.lens_blur_px,
        );
        effects::rain_streaks(&mut buf.output, width, conditions, frame_seed);
        let mut image = image::RgbImage::new(width as u32, height as u32);
        effects::develop(&buf.output, &mut image, conditions, frame_seed);
        if let Some(quality) = conditions.jpeg_quality {
            effects::jpeg_artefacts(&mut image, quality);
        }
        if lens.lookup.is_none() {
            // The colour buffer went out as the output; give it back for the next frame.
            std::mem::swap(&mut buf.output, &mut buf.colour);
        }

        let signs = buf
            .frame_signs
            .iter()
            .enumerate()
            .filter_map(|(slot, fs)| {
                let seen = buf.sign_seen[slot].load(Ordering::Relaxed);
                let cover = buf.sign_cover[slot].load(Ordering::Relaxed);
                if seen == 0 {
                    return None;
                }
                let board = &self.world.signs[fs.board];
                let bbox = outline_box(camera, &camera_pose, board, &fs.tilt)?;
                Some(SignVisibility {
                    sign_index: board.sign_index,
                    visible: (seen as f32 / cover.max(seen) as f32).min(1.0),
                    bbox,
                })
            })
            .collect();
        RenderedFrame {
            image,
            signs,
            probes_visible,
        }
    }
}

/// Whether world point `p` wins the depth test: the surface drawn at its pixel, taken on
/// that surface's plane along the point's exact ray, is not nearer by more than 10 cm + 2 %
/// (the margin keeps paint, lifted 1.5 cm above the road, from hiding its own line).
fn probe_visible(
    lens: &Lens,
    view: &Isometry,
    depth: &[f32],
    ids: &[u32],
    shades: &[ShadeTri],
    p: &Vec3,
) -> bool {
    let c = view.apply([p.x as f32, p.y as f32, p.z as f32]);
    if c[2] < NEAR {
        return false;
    }
    let (x, y) = (
        lens.fx * c[0] / c[2] + lens.cx,
        lens.fy * c[1] / c[2] + lens.cy,
    );
    let (xi, yi) = (x.round(), y.round());
    if !(xi >= 0.0 && yi >= 0.0 && (xi as usize) < lens.width && (yi as usize) < lens.height) {
        return false;
    }
    let i = yi as usize * lens.width + xi as usize;
    let id = ids[i];
    if id == 0 {
        return true;
    }
    let normal = shades[id as usize - 1].normal;
    let ray = |x: f32, y: f32| [(x - lens.cx) / lens.fx, (y - lens.cy) / lens.fy, 1.0];
    let at_centre = dot(normal, ray(xi, yi));
    let inverse_depth = if at_centre.abs() > 1e-6 {
        depth[i] * dot(normal, ray(x, y)) / at_centre
    } else {
        depth[i]
    };
    inverse_depth <= 0.0 || 1.0 / inverse_depth >= c[2] - (0.1 + 0.02 * c[2])
}

/// world ← body of a pose as an f32 isometry.
fn pose_isometry(pose: &Pose) -> Isometry {
    let m = pose.rotation.matrix();
    let p = pose.position;
    Isometry {
        rot: [0, 1, 2].map(|r| [m[(r, 0)] as f32, m[(r, 1)] as f32, m[(r, 2)] as f32]),
        trans: [p.x as f32, p.y as f32, p.z as f32],
    }
}

/// camera ← world as an f32 isometry.
fn view_isometry(camera_pose: &Pose) -> Isometry {
    let m = camera_pose.rotation.matrix();
    let rot = [0, 1, 2].map(|r| [m[(0, r)] as f32, m[(1, r)] as f32, m[(2, r)] as f32]);
    let c = camera_pose.position;
    let t = -(camera_pose.rotation.inverse() * c);
    Isometry {
        rot,
        trans: [t.x as f32, t.y as f32, t.z as f32],
    }
}

/// A sign's per-condition tilt about its centre and its fading, stable over a drive.
fn sign_wear(board: &scene::SignBoard, conditions: &Conditions) -> (Isometry, f32) {
    let seed = (conditions.sign_seed as u32) ^ ((conditions.sign_seed >> 32) as u32);
    let r = |k: i32| shade::hash01(board.sign_index as i32, k, seed) * 2.0 - 1.0;
    let yaw = r(1) * conditions.sign_tilt;
    let roll = r(2) * conditions.sign_tilt * 0.4;
    let fade = (r(3) * 0.5 + 0.5) * conditions.sign_fading;
    let rot = mul3(
        &axis_angle([0.0, 0.0, 1.0], yaw),
        &axis_angle(board.normal, roll),
    );
    let centre = board.centre;
    let turned = Isometry {
        rot,
        trans: [0.0; 3],
    }
    .rotate(centre);
    (
        Isometry {
            rot,
            trans: sub(centre, turned),
        },
        fade,
    )
}

/// Rotation matrix (rows) about a unit axis.
fn axis_angle(axis: V3, angle: f32) -> [V3; 3] {
    let (s, c) = angle.sin_cos();
    let [x, y, z] = axis;
    let t = 1.0 - c;
    [
        [c + x * x * t, x * y * t - z * s, x * z * t + y * s],
        [y * x * t + z * s, c + y * y * t, y * z * t - x * s],
        [z * x * t - y * s, z * y * t + x * s, c + z * z * t],
    ]
}

fn mul3(a: &[V3; 3], b: &[V3; 3]) -> [V3; 3] {
    std::array::from_fn(|r| {
        std::array::from_fn(|c| a[r][0] * b[0][c] + a[r][1] * b[1][c] + a[r][2] * b[2][c])
    })
}

/// The image box of a (tilted) sign outline, sampled densely along its edges so that
/// distortion bends it correctly; `None` if no part is in front of the camera.
fn outline_box(
    camera: &CameraModel,
    camera_pose: &Pose,
    board: &scene::SignBoard,
    tilt: &Isometry,
) -> Option<[f32; 4]> {
    let n = board.outline.len();
    let steps = if n > 8 { 1 } else { 8 };
    let mut bounds = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for i in 0..n {
        let (a, b) = (
            tilt.apply(board.outline[i]),
            tilt.apply(board.outline[(i + 1) % n]),
        );
        for k in 0..steps {
            let p = add(a, scale(sub(b, a), k as f32 / steps as f32));
            let world = Vec3::new(p[0] as f64, p[1] as f64, p[2] as f64);
            if let Some([u, v]) = camera.ray_to_pixel(&camera_pose.inverse_transform_point(&world))
            {
                bounds = [
                    bounds[0].min(u),
                    bounds[1].min(v),
                    bounds[2].max(u),
                    bounds[3].max(v),
                ];
            }
        }
    }
    if bounds[0] > bounds[2] {
        return None;
    }
    let (w, h) = (
        camera.intrinsics.width as f64 - 0.5,
        camera.intrinsics.height as f64 - 0.5,
    );
    Some([
        bounds[0].clamp(-0.5, w) as f32,
        bounds[1].clamp(-0.5, h) as f32,
        bounds[2].clamp(-0.5, w) as f32,
        bounds[3].clamp(-0.5, h) as f32,
    ])
}

fn bilinear(image: &[Rgb], width: usize, height: usize, x: f32, y: f32) -> Rgb {
    if !(x >= 0.0 && y >= 0.0) {
        return [0.0; 3];
    }
    let (x0, y0) = ((x as usize).min(width - 1), (y as usize).min(height - 1));
    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let (a, b, c, d) = (
        image[y0 * width + x0],
        image[y0 * width + x1],
        image[y1 * width + x0],
        image[y1 * width + x1],
    );
    std::array::from_fn(|k| {
        let top = a[k] + (b[k] - a[k]) * fx;
        let bottom = c[k] + (d[k] - c[k]) * fx;
        top + (bottom - top) * fy
    })
}
