//! World geometry built once from a map: flat-shaded triangles with a material and an
//! affine texture mapping each, grouped into spatial chunks for culling; sign boards kept
//! apart so that each frame can tilt them.

use super::ground::{plan, point_in_ring, GroundClass, GroundMap};
use super::pictograms::{segment_dist2, SignShape};
use mapfix_map::{LineColor, LineStyle, Map, Mounting};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

pub(crate) type V3 = [f32; 3];

pub(crate) fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub(crate) fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
pub(crate) fn scale(a: V3, s: f32) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}
pub(crate) fn dot(a: V3, b: V3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub(crate) fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
pub(crate) fn normalize(a: V3) -> V3 {
    let n = dot(a, a).sqrt();
    if n > 0.0 {
        scale(a, 1.0 / n)
    } else {
        a
    }
}
fn v3(p: &mapfix_core::Vec3) -> V3 {
    [p.x as f32, p.y as f32, p.z as f32]
}

/// What a surface is made of; the shader turns it and the texture coordinates into colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Material {
    /// Street-level ground; the class comes from the ground map at (u, v) = (east, north).
    Ground,
    /// Road surface of ramps and underground driveways.
    Asphalt,
    Paint {
        yellow: bool,
    },
    Kerb,
    /// Walls with windows; (u, v) = (metres along the wall, metres above its foot).
    Facade {
        style: u32,
    },
    Roof {
        style: u32,
    },
    Metal,
    /// A sign's face; (u, v) = texture coordinates.
    SignFace {
        sign: u32,
    },
    Bark,
    Foliage {
        tint: u8,
    },
    CarBody {
        colour: u8,
    },
    Glass,
    Tyre,
    /// Head (front) or tail (rear) lights, glowing in the dark where `on`.
    CarLight {
        rear: bool,
        on: bool,
    },
    Concrete,
    /// Underground ceiling with light panels; (u, v) = (east, north).
    Ceiling,
    LampHead,
}

/// A flat triangle with its texture mapping u = u_map·(p, 1), v = v_map·(p, 1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tri {
    pub v: [V3; 3],
    pub normal: V3,
    pub u_map: [f32; 4],
    pub v_map: [f32; 4],
    pub material: Material,
    /// Drawn only from the side its normal points to.
    pub one_sided: bool,
    /// Lit by underground lighting instead of sun and sky.
    pub indoor: bool,
}

/// Triangles of one spatial cell and their bounding box.
pub(crate) struct Chunk {
    pub min: V3,
    pub max: V3,
    pub tris: std::ops::Range<usize>,
}

/// A sign board: its face, back and rim in world coordinates around `centre`.
pub(crate) struct SignBoard {
    pub sign_index: usize,
    pub class: usize,
    pub centre: V3,
    pub right: V3,
    pub normal: V3,
    /// Face outline (world), for the label box.
    pub outline: Vec<V3>,
    pub tris: Vec<Tri>,
}

/// A light source that glows at night.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lamp {
    pub position: V3,
}

pub(crate) struct World {
    pub tris: Vec<Tri>,
    pub chunks: Vec<Chunk>,
    pub signs: Vec<SignBoard>,
    pub lamps: Vec<Lamp>,
    pub ground: GroundMap,
}

const CHUNK_SIZE: f32 = 32.0;
const DASH_PAINT: f32 = 3.0;
const DASH_GAP: f32 = 6.0;
const LINE_WIDTH: f32 = 0.12;
const STOP_LINE_WIDTH: f32 = 0.5;
const PAINT_LIFT: f32 = 0.015;
const KERB_HEIGHT: f32 = 0.12;
const POLE_RADIUS: f32 = 0.035;

/// Collects triangles.
#[derive(Default)]
struct Mesh {
    tris: Vec<Tri>,
}

/// Texture mapping with `u` along `u_axis` and `v` along `v_axis`, both zero at `origin`.
fn planar_map(origin: V3, u_axis: V3, v_axis: V3) -> ([f32; 4], [f32; 4]) {
    (
        [u_axis[0], u_axis[1], u_axis[2], -dot(u_axis, origin)],
        [v_axis[0], v_axis[1], v_axis[2], -dot(v_axis, origin)],
    )
}

const WORLD_XY: ([f32; 4], [f32; 4]) = ([1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]);

impl Mesh {
    fn tri(
        &mut self,
        v: [V3; 3],
        map: ([f32; 4], [f32; 4]),
        material: Material,
        one_sided: bool,
        indoor: bool,
    ) {
        let normal = normalize(cross(sub(v[1], v[0]), sub(v[2], v[0])));
        if dot(normal, normal) < 0.5 {
            return;
        }
        self.tris.push(Tri {
            v,
            normal,
            u_map: map.0,
            v_map: map.1,
            material,
            one_sided,
            indoor,
        });
    }

    /// A convex polygon, fanned; counter-clockwise seen from the side it faces.
    fn polygon(
        &mut self,
        points: &[V3],
        map: ([f32; 4], [f32; 4]),
        material: Material,
        one_sided: bool,
        indoor: bool,
    ) {
        for i in 1..points.len().saturating_sub(1) {
            self.tri(
                [points[0], points[i], points[i + 1]],
                map,
                material,
                one_sided,
                indoor,
            );
        }
    }

    /// A vertical wall from `a` to `b` between heights `z0` and `z1`, facing left of a→b
    /// (seen from above, counter-clockwise); u runs along the wall from `u0` metres.
    fn wall(
        &mut self,
        a: [f32; 2],
        b: [f32; 2],
        [z0, z1]: [f32; 2],
        u0: f32,
        material: Material,
        indoor: bool,
    ) {
        let along = normalize([b[0] - a[0], b[1] - a[1], 0.0]);
        let origin = [a[0], a[1], z0];
        let (mut u, v) = planar_map(origin, along, [0.0, 0.0, 1.0]);
        u[3] += u0;
        let quad = [
            [a[0], a[1], z0],
            [b[0], b[1], z0],
            [b[0], b[1], z1],
            [a[0], a[1], z1],
        ];
        // Counter-clockwise seen from the left of a→b: a-bottom, a-top … reversed order.
        let quad = [quad[1], quad[0], quad[3], quad[2]];
        self.polygon(&quad, (u, v), material, true, indoor);
    }

    /// A closed prism over a convex or concave ring (walls facing out, flat top).
    fn prism(
        &mut self,
        ring: &[[f32; 2]],
        z0: f32,
        z1: f32,
        side: Material,
        top: Option<Material>,
        indoor: bool,
    ) {
        let ring = counter_clockwise(ring);
        let mut u0 = 0.0;
        for i in 0..ring.len() {
            let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
            // Walking counter-clockwise, the outside is on the right: wall from b to a.
            self.wall(b, a, [z0, z1], u0, side, indoor);
            u0 += ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        }
        if let Some(top) = top {
            for t in triangulate(&ring) {
                self.tri(
                    t.map(|i| [ring[i][0], ring[i][1], z1]),
                    WORLD_XY,
                    top,
                    true,
                    indoor,
                );
            }
        }
    }

    /// A vertical cylinder approximated by `sides` faces.
    fn cylinder(
        &mut self,
        foot: V3,
        radius: f32,
        height: f32,
        sides: usize,
        material: Material,
        indoor: bool,
    ) {
        let ring: Vec<[f32; 2]> = (0..sides)
            .map(|i| {
                let a = i as f32 * std::f32::consts::TAU / sides as f32;
                [foot[0] + radius * a.cos(), foot[1] + radius * a.sin()]
            })
            .collect();
        self.prism(
            &ring,
            foot[2],
            foot[2] + height,
            material,
            Some(material),
            indoor,
        );
    }

    /// An oriented box: centre, unit axes `x` (length) and `y` (width) in the ground plane.
    fn oriented_box(&mut self, centre: V3, x: V3, size: V3, material: Material, indoor: bool) {
        let y = [-x[1], x[0], 0.0];
        let corner = |sx: f32, sy: f32| {
            let p = add(
                add(centre, scale(x, sx * size[0] / 2.0)),
                scale(y, sy * size[1] / 2.0),
            );
            [p[0], p[1]]
        };
        let ring = [
            corner(-1.0, -1.0),
            corner(1.0, -1.0),
            corner(1.0, 1.0),
            corner(-1.0, 1.0),
        ];
        self.prism(
            &ring,
            centre[2] - size[2] / 2.0,
            centre[2] + size[2] / 2.0,
            material,
            Some(material),
            indoor,
        );
    }

    /// A flat strip of `width` centred on a polyline, lifted slightly above it.
    fn ribbon(&mut self, points: &[V3], width: f32, material: Material, indoor: bool) {
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            let along = normalize([b[0] - a[0], b[1] - a[1], 0.0]);
            let side = scale([-along[1], along[0], 0.0], width / 2.0);
            let lift = [0.0, 0.0, PAINT_LIFT];
            let quad = [
                add(sub(a, side), lift),
                add(sub(b, side), lift),
                add(add(b, side), lift),
                add(add(a, side), lift),
            ];
            self.polygon(&quad, WORLD_XY, material, false, indoor);
        }
    }

    /// A dashed or solid painted line along a polyline.
    fn marking(
        &mut self,
        points: &[V3],
        width: f32,
        dashed: bool,
        material: Material,
        indoor: bool,
    ) {
        if !dashed {
            self.ribbon(points, width, material, indoor);
            return;
        }
        for dash in split_dashes(points, DASH_PAINT, DASH_GAP) {
            self.ribbon(&dash, width, material, indoor);
        }
    }
}

/// Pieces of a polyline painted `paint` metres then skipped `gap` metres.
fn split_dashes(points: &[V3], paint: f32, gap: f32) -> Vec<Vec<V3>> {
    let mut dashes = Vec::new();
    let mut current: Vec<V3> = Vec::new();
    let mut phase = 0.0_f32; // distance into the current paint+gap period
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = dot(sub(b, a), sub(b, a)).sqrt();
        let mut t = 0.0;
        while t < len {
            let painting = phase < paint;
            let left_in_state = if painting {
                paint - phase
            } else {
                paint + gap - phase
            };
            let step = left_in_state.min(len - t);
            let p0 = add(a, scale(sub(b, a), t / len));
            let p1 = add(a, scale(sub(b, a), (t + step) / len));
            if painting {
                if current.is_empty() {
                    current.push(p0);
                }
                current.push(p1);
            }
            t += step;
            phase += step;
            if phase >= paint && painting && !current.is_empty() {
                dashes.push(std::mem::take(&mut current));
            }
            if phase >= paint + gap {
                phase = 0.0;
            }
        }
    }
    if current.len() > 1 {
        dashes.push(current);
    }
    dashes
}

fn signed_area(ring: &[[f32; 2]]) -> f32 {
    let n = ring.len();
    (0..n)
        .map(|i| ring[i][0] * ring[(i + 1) % n][1] - ring[(i + 1) % n][0] * ring[i][1])
        .sum::<f32>()
        / 2.0
}

fn counter_clockwise(ring: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let mut ring = ring.to_vec();
    if ring.len() > 2 && ring.first() == ring.last() {
        ring.pop();
    }
    if signed_area(&ring) < 0.0 {
        ring.reverse();
    }
    ring
}

/// Ear-clipping triangulation of a simple counter-clockwise ring: index triples.
fn triangulate(ring: &[[f32; 2]]) -> Vec<[usize; 3]> {
    let mut idx: Vec<usize> = (0..ring.len()).collect();
    let mut out = Vec::new();
    let cross2 = |a: [f32; 2], b: [f32; 2], c: [f32; 2]| {
        (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    };
    let mut guard = 0;
    while idx.len() > 3 && guard < 10 * ring.len() {
        guard += 1;
        let n = idx.len();
        let ear = (0..n).find(|&i| {
            let (a, b, c) = (
                ring[idx[(i + n - 1) % n]],
                ring[idx[i]],
                ring[idx[(i + 1) % n]],
            );
            cross2(a, b, c) > 0.0
                && idx.iter().all(|&k| {
                    let p = ring[k];
                    p == a
                        || p == b
                        || p == c
                        || !(cross2(a, b, p) >= 0.0
                            && cross2(b, c, p) >= 0.0
                            && cross2(c, a, p) >= 0.0)
                })
        });
        let Some(i) = ear else { break };
        out.push([idx[(i + n - 1) % n], idx[i], idx[(i + 1) % n]]);
        idx.remove(i);
    }
    if idx.len() == 3 {
        out.push([idx[0], idx[1], idx[2]]);
    }
    out
}

fn hash_str(s: &str) -> u32 {
    s.bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619))
}

/// Looks up which of a set of 2-D points lie near a query point.
struct PointGrid {
    cell: f32,
    cells: HashMap<(i32, i32), Vec<V3>>,
}

impl PointGrid {
    fn new(cell: f32, points: impl Iterator<Item = V3>) -> Self {
        let mut cells: HashMap<(i32, i32), Vec<V3>> = HashMap::new();
        for p in points {
            cells
                .entry(((p[0] / cell).floor() as i32, (p[1] / cell).floor() as i32))
                .or_default()
                .push(p);
        }
        PointGrid { cell, cells }
    }

    /// The point closest to `p` in plan within `radius`.
    fn nearest_within(&self, p: [f32; 2], radius: f32) -> Option<V3> {
        let (cx, cy) = (
            (p[0] / self.cell).floor() as i32,
            (p[1] / self.cell).floor() as i32,
        );
        let reach = (radius / self.cell).ceil() as i32;
        let d2 = |q: &V3| (q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2);
        (-reach..=reach)
            .flat_map(|dx| (-reach..=reach).map(move |dy| (cx + dx, cy + dy)))
            .filter_map(|key| self.cells.get(&key))
            .flatten()
            .filter(|q| d2(q) <= radius * radius)
            .min_by(|a, b| d2(a).total_cmp(&d2(b)))
            .copied()
    }

    fn any_within(&self, p: [f32; 2], radius: f32) -> bool {
        self.nearest_within(p, radius).is_some()
    }
}

/// Points every `step` metres along a polyline.
fn resample(points: &[V3], step: f32) -> Vec<V3> {
    let mut out = Vec::new();
    for w in points.windows(2) {
        let len = dot(sub(w[1], w[0]), sub(w[1], w[0])).sqrt();
        let n = (len / step).ceil().max(1.0) as usize;
        out.extend((0..n).map(|i| add(w[0], scale(sub(w[1], w[0]), i as f32 / n as f32))));
    }
    out.extend(points.last().copied());
    out
}

impl World {
    pub fn build(map: &Map, seed: u64) -> World {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let ground = GroundMap::build(map);
        let mut mesh = Mesh::default();
        let indoor_level = |level: i32| level < 0;
        let ground_z = ground.street_height;

        ground_tiles(&mut mesh, &ground, map);

        for line in &map.lane_lines {
            let points: Vec<V3> = line.line.points.iter().map(v3).collect();
            let material = Material::Paint {
                yellow: line.color == LineColor::Yellow,
            };
            let indoor = indoor_level(line.line.level);
            match line.style {
                LineStyle::Solid => mesh.marking(&points, LINE_WIDTH, false, material, indoor),
                LineStyle::Dashed => mesh.marking(&points, LINE_WIDTH, true, material, indoor),
                LineStyle::Double => {
                    for side in [-1.0, 1.0] {
                        let shifted = offset_polyline(&points, side * LINE_WIDTH);
                        mesh.marking(&shifted, LINE_WIDTH, false, material, indoor);
                    }
                }
            }
        }
        for stop in &map.stop_lines {
            let points: Vec<V3> = stop.points.iter().map(v3).collect();
            mesh.ribbon(
                &points,
                STOP_LINE_WIDTH,
                Material::Paint { yellow: false },
                indoor_level(stop.level),
            );
        }

        // Kerbs: a low step along each road edge, facing the road side.
        for edge in &map.road_edges {
            let points: Vec<V3> = edge.points.iter().map(v3).collect();
            let indoor = indoor_level(edge.level);
            for w in points.windows(2) {
                let (a, b) = (w[0], w[1]);
                let along = normalize([b[0] - a[0], b[1] - a[1], 0.0]);
                let left = [-along[1], along[0], 0.0];
                let mid = scale(add(a, b), 0.5);
                let probe = |s: f32| ground.class_at(mid[0] + left[0] * s, mid[1] + left[1] * s);
                // The face looks at the road: left of a→b if the road lies there.
                let (p, q) = if probe(0.6) == GroundClass::Road || probe(-0.6) != GroundClass::Road
                {
                    (a, b)
                } else {
                    (b, a)
                };
                let z = a[2].min(b[2]);
                mesh.wall(
                    [p[0], p[1]],
                    [q[0], q[1]],
                    [z, z + KERB_HEIGHT],
                    0.0,
                    Material::Kerb,
                    indoor,
                );
                let dir = normalize([q[0] - p[0], q[1] - p[1], 0.0]);
                let back = scale([dir[1], -dir[0], 0.0], 0.18);
                let top = [p, q, add(q, back), add(p, back)].map(|v| [v[0], v[1], z + KERB_HEIGHT]);
                mesh.polygon(
                    &[top[1], top[0], top[3], top[2]],
                    WORLD_XY,
                    Material::Kerb,
                    true,
                    indoor,
                );
            }
        }

        for building in &map.buildings {
            let ring = plan(&building.footprint);
            if ring.len() < 3 {
                continue;
            }
            let base = building
                .footprint
                .iter()
                .map(|p| p.z as f32)
                .fold(f32::MAX, f32::min)
                .min(ground_z);
            let style = hash_str(&building.id);
            let top = base + building.height as f32;
            mesh.prism(
                &ring,
                base,
                top,
                Material::Facade { style },
                Some(Material::Roof { style }),
                false,
            );
        }

        let mut lamps = Vec::new();
        for pole in &map.poles {
            let foot = v3(&pole.base);
            let height = pole.height as f32;
            if pole.level < 0 {
                let ring = [[-0.3, -0.3], [0.3, -0.3], [0.3, 0.3], [-0.3, 0.3]]
                    .map(|c| [foot[0] + c[0], foot[1] + c[1]]);
                mesh.prism(
                    &ring,
                    foot[2],
                    foot[2] + height,
                    Material::Concrete,
                    None,
                    true,
                );
            } else {
                mesh.cylinder(foot, 0.08, height, 6, Material::Metal, false);
                let head = add(foot, [0.0, 0.0, height]);
                mesh.oriented_box(
                    add(head, [0.0, 0.0, 0.06]),
                    [1.0, 0.0, 0.0],
                    [0.6, 0.25, 0.12],
                    Material::LampHead,
                    false,
                );
                lamps.push(Lamp { position: head });
            }
        }

        let mut signs = Vec::new();
        for (index, sign) in map.signs.iter().enumerate() {
            let Some(class) = sign.class.gtsrb() else {
                continue;
            };
            let floor = if sign.level < 0 {
                underground_floor(map, sign.level).unwrap_or(ground_z)
            } else {
                ground_z
            };
            let ceiling = map
                .underground
                .iter()
                .filter(|u| u.level == sign.level)
                .map(|u| u.ceiling as f32)
                .next();
            let board = sign_board(index, class as usize, sign);
            support(&mut mesh, &board, sign, floor, ceiling, &ground);
            signs.push(board);
        }

        for space in &map.underground {
            underground_space(&mut mesh, map, space, ground_z);
        }
        for edge in map.road_edges.iter().filter(|e| e.level == 0) {
            retaining_walls(&mut mesh, edge, ground_z);
        }

        place_trees(&mut mesh, map, &ground, &mut rng);
        place_parked_cars(&mut mesh, map, &ground, &mut rng);

        let (tris, chunks) = into_chunks(mesh.tris);
        World {
            tris,
            chunks,
            signs,
            lamps,
            ground,
        }
    }
}

/// The ground as 16 m tiles, with a 1 m height field where a road runs in a cutting.
fn ground_tiles(mesh: &mut Mesh, ground: &GroundMap, map: &Map) {
    const TILE: f32 = 16.0;
    const FINE: f32 = 1.0;
    let (x0, y0, x1, y1) = ground.extent();
    let z = ground.street_height;
    // Underground outlines grown by two cells, where the ground may open into a portal.
    let portals: Vec<Vec<[f32; 2]>> = map
        .underground
        .iter()
        .map(|u| {
            let ring = plan(&u.outline);
            let (cx, cy) = ring
                .iter()
                .fold((0.0, 0.0), |c, p| (c.0 + p[0], c.1 + p[1]));
            let centre = [cx / ring.len() as f32, cy / ring.len() as f32];
            ring.iter()
                .map(|p| {
                    let d = normalize([p[0] - centre[0], p[1] - centre[1], 0.0]);
                    [p[0] + d[0] * 2.0 * FINE, p[1] + d[1] * 2.0 * FINE]
                })
                .collect()
        })
        .collect();
    let mut y = y0;
    while y < y1 {
        let mut x = x0;
        while x < x1 {
            let steps = (TILE / 0.5) as usize;
            let cut = (0..steps * steps).any(|k| {
                ground.sunken(
                    x + (k % steps) as f32 * 0.5 + 0.25,
                    y + (k / steps) as f32 * 0.5 + 0.25,
                )
            });
            if cut {
                let n = (TILE / FINE) as usize;
                let at = |i: usize, j: usize| {
                    let (px, py) = (x + i as f32 * FINE, y + j as f32 * FINE);
                    // The deepest height around a vertex, so the cutting's sides stay outside
                    // the road edges, behind the retaining walls.
                    let around = [[-0.6, -0.6], [0.6, -0.6], [0.6, 0.6], [-0.6, 0.6]];
                    let z = around
                        .iter()
                        .map(|d| ground.height_at(px + d[0], py + d[1]))
                        .fold(f32::MAX, f32::min);
                    [px, py, z]
                };
                for j in 0..n {
                    for i in 0..n {
                        let quad = [at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)];
                        let (lo, hi) = quad
                            .iter()
                            .fold((f32::MAX, f32::MIN), |r, p| (r.0.min(p[2]), r.1.max(p[2])));
                        let centre = [x + (i as f32 + 0.5) * FINE, y + (j as f32 + 0.5) * FINE];
                        // Where a cutting meets a tunnel portal the ground steps down into
                        // the tunnel: leave that step open (the portal wall frames it).
                        if hi - lo > 1.0 && portals.iter().any(|o| point_in_ring(&centre, o)) {
                            continue;
                        }
                        mesh.polygon(&quad, WORLD_XY, Material::Ground, true, false);
                    }
                }
            } else {
                let quad = [
                    [x, y, z],
                    [x + TILE, y, z],
                    [x + TILE, y + TILE, z],
                    [x, y + TILE, z],
                ];
                mesh.polygon(&quad, WORLD_XY, Material::Ground, true, false);
            }
            x += TILE;
        }
        y += TILE;
    }
}

/// Height of the parapet on cutting walls and tunnel portals above the street.
const PARAPET: f32 = 0.9;

/// Concrete walls along a road edge where it runs below the street.
fn retaining_walls(mesh: &mut Mesh, edge: &mapfix_map::Polyline, street: f32) {
    let points: Vec<V3> = edge.points.iter().map(v3).collect();
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if street - a[2].min(b[2]) < 0.25 {
            continue;
        }
        let along = normalize(sub(b, a));
        let map = planar_map(a, along, [0.0, 0.0, 1.0]);
        let top = street + PARAPET;
        let quad = [a, b, [b[0], b[1], top], [a[0], a[1], top]];
        mesh.polygon(&quad, map, Material::Concrete, false, false);
    }
}

/// An underground space: floor following its outline's heights, flat ceiling with light
/// panels, and walls, left open where a road passes through the outline (a portal, with a
/// header wall above it up to the street) or where another space joins.
fn underground_space(mesh: &mut Mesh, map: &Map, space: &mapfix_map::Underground, street: f32) {
    let mut ring: Vec<V3> = space.outline.iter().map(v3).collect();
    if ring.len() > 2 && ring.first() == ring.last() {
        ring.pop();
    }
    let flat: Vec<[f32; 2]> = ring.iter().map(|p| [p[0], p[1]]).collect();
    if signed_area(&flat) < 0.0 {
        ring.reverse();
    }
    let flat: Vec<[f32; 2]> = ring.iter().map(|p| [p[0], p[1]]).collect();
    let ceiling = space.ceiling as f32;
    // The floor follows the underground roads: long ear-clipped triangles are split until
    // short and draped onto the nearest lane line's height.
    let lane_heights = PointGrid::new(
        4.0,
        map.lane_lines
            .iter()
            .filter(|l| l.line.level == space.level)
            .flat_map(|l| resample(&l.line.points.iter().map(v3).collect::<Vec<_>>(), 1.0)),
    );
    let drape = |p: V3| {
        let z = lane_heights
            .nearest_within([p[0], p[1]], 12.0)
            .map_or(p[2], |n| n[2]);
        [p[0], p[1], z - 0.01]
    };
    for t in triangulate(&flat) {
        for piece in split_long([ring[t[0]], ring[t[1]], ring[t[2]]], 3.0) {
            mesh.tri(piece.map(drape), WORLD_XY, Material::Asphalt, true, true);
        }
        mesh.tri(
            [t[0], t[2], t[1]].map(|i| [ring[i][0], ring[i][1], ceiling]),
            WORLD_XY,
            Material::Ceiling,
            true,
            true,
        );
    }
    let others: Vec<Vec<[f32; 2]>> = map
        .underground
        .iter()
        .filter(|u| u.id != space.id)
        .map(|u| plan(&u.outline))
        .collect();
    let portal_lanes: Vec<Vec<[f32; 2]>> = map
        .lane_lines
        .iter()
        .filter(|l| l.line.level != space.level)
        .map(|l| plan(&l.line.points))
        .collect();
    let mut u0 = 0.0;
    for i in 0..ring.len() {
        let (a, b) = (ring[i], ring[(i + 1) % ring.len()]);
        let len = dot(sub(b, a), sub(b, a)).sqrt();
        // A road arriving from another level makes the whole edge a portal.
        let (a2, b2) = ([a[0], a[1]], [b[0], b[1]]);
        let crossed = portal_lanes.iter().any(|l| {
            l.windows(2).any(|s| segments_cross(a2, b2, s[0], s[1]))
                || l.iter().any(|e| segment_dist2(*e, a2, b2) < 0.25)
        });
        let pieces = (len / 2.0).ceil().max(1.0) as usize;
        for k in 0..pieces {
            let p = add(a, scale(sub(b, a), k as f32 / pieces as f32));
            let q = add(a, scale(sub(b, a), (k + 1) as f32 / pieces as f32));
            let mid = scale(add(p, q), 0.5);
            let inward = normalize([-(q[1] - p[1]), q[0] - p[0], 0.0]);
            let outside = [mid[0] - inward[0] * 0.3, mid[1] - inward[1] * 0.3];
            if others.iter().any(|o| point_in_ring(&outside, o)) {
                continue;
            }
            let piece_u = u0 + len * k as f32 / pieces as f32;
            let along = normalize(sub(q, p));
            let (mut u, v) = planar_map(p, along, [0.0, 0.0, 1.0]);
            u[3] += piece_u;
            if crossed {
                // A portal: only the wall above the opening, seen from both sides.
                let quad = [
                    [p[0], p[1], ceiling],
                    [q[0], q[1], ceiling],
                    [q[0], q[1], street + PARAPET],
                    [p[0], p[1], street + PARAPET],
                ];
                mesh.polygon(&quad, (u, v), Material::Concrete, false, false);
            } else {
                // Counter-clockwise ring: the inside is on the left of p→q.
                let quad = [q, p, [p[0], p[1], ceiling], [q[0], q[1], ceiling]];
                mesh.polygon(&quad, (u, v), Material::Concrete, true, true);
            }
        }
        u0 += len;
    }
}

/// Splits a triangle at its longest edge's midpoint until no edge exceeds `max`.
fn split_long(t: [V3; 3], max: f32) -> Vec<[V3; 3]> {
    let len2 = |a: V3, b: V3| dot(sub(a, b), sub(a, b));
    let edges = [len2(t[0], t[1]), len2(t[1], t[2]), len2(t[2], t[0])];
    let (k, longest) =
        edges.iter().enumerate().fold(
            (0, 0.0),
            |best, (k, &e)| if e > best.1 { (k, e) } else { best },
        );
    if longest <= max * max {
        return vec![t];
    }
    let (a, b, c) = (t[k], t[(k + 1) % 3], t[(k + 2) % 3]);
    let m = scale(add(a, b), 0.5);
    let mut out = split_long([a, m, c], max);
    out.extend(split_long([m, b, c], max));
    out
}

fn segments_cross(a: [f32; 2], b: [f32; 2], c: [f32; 2], d: [f32; 2]) -> bool {
    let side = |p: [f32; 2], q: [f32; 2], r: [f32; 2]| {
        (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    };
    let (d1, d2) = (side(a, b, c), side(a, b, d));
    let (d3, d4) = (side(c, d, a), side(c, d, b));
    d1 * d2 < 0.0 && d3 * d4 < 0.0
}

fn underground_floor(map: &Map, level: i32) -> Option<f32> {
    map.underground
        .iter()
        .filter(|u| u.level == level)
        .flat_map(|u| u.outline.iter().map(|p| p.z as f32))
        .reduce(f32::min)
}

fn offset_polyline(points: &[V3], offset: f32) -> Vec<V3> {
    let n = points.len();
    (0..n)
        .map(|i| {
            let (a, b) = (points[i.saturating_sub(1)], points[(i + 1).min(n - 1)]);
            let along = normalize([b[0] - a[0], b[1] - a[1], 0.0]);
            add(points[i], scale([-along[1], along[0], 0.0], offset))
        })
        .collect()
}

/// The face, back and rim of one sign, around its map position.
fn sign_board(index: usize, class: usize, sign: &mapfix_map::Sign) -> SignBoard {
    let centre = v3(&sign.position);
    let normal = v3(&sign.normal());
    let right = [-(sign.facing.cos() as f32), sign.facing.sin() as f32, 0.0];
    let up = [0.0, 0.0, 1.0];
    let (hw, hh) = (sign.width as f32 / 2.0, sign.height as f32 / 2.0);
    let outline: Vec<V3> = SignShape::of_class(class as u8)
        .outline()
        .iter()
        .map(|p| add(centre, add(scale(right, p[0] * hw), scale(up, p[1] * hh))))
        .collect();
    // Texture: s from the left edge, t from the top edge, both 0..1 over the bounding box.
    let origin = sub(sub(centre, scale(right, hw)), scale(up, -hh));
    let face_map = planar_map(
        origin,
        scale(right, 1.0 / sign.width as f32),
        scale(up, -1.0 / sign.height as f32),
    );
    let mut mesh = Mesh::default();
    // Counter-clockwise seen from the front (from +normal, right is +x, up is +y).
    mesh.polygon(
        &outline,
        face_map,
        Material::SignFace { sign: index as u32 },
        true,
        sign.level < 0,
    );
    let thickness = scale(normal, -0.02);
    let back: Vec<V3> = outline.iter().rev().map(|p| add(*p, thickness)).collect();
    mesh.polygon(&back, WORLD_XY, Material::Metal, true, sign.level < 0);
    for i in 0..outline.len() {
        let (a, b) = (outline[i], outline[(i + 1) % outline.len()]);
        mesh.polygon(
            &[b, a, add(a, thickness), add(b, thickness)],
            WORLD_XY,
            Material::Metal,
            true,
            sign.level < 0,
        );
    }
    SignBoard {
        sign_index: index,
        class,
        centre,
        right,
        normal,
        outline,
        tris: mesh.tris,
    }
}

/// The pole, gantry or rod that holds a sign.
fn support(
    mesh: &mut Mesh,
    board: &SignBoard,
    sign: &mapfix_map::Sign,
    floor: f32,
    ceiling: Option<f32>,
    ground: &GroundMap,
) {
    let (indoor, height) = (sign.level < 0, sign.height as f32);
    let behind = sub(board.centre, scale(board.normal, 0.02 + POLE_RADIUS));
    let top = board.centre[2] + height / 2.0;
    match sign.mounting {
        Mounting::Pole => {
            let foot = [behind[0], behind[1], floor];
            mesh.cylinder(
                foot,
                POLE_RADIUS,
                top + 0.05 - floor,
                6,
                Material::Metal,
                indoor,
            );
        }
        Mounting::Overhead => {
            let beam_z = top + 0.15;
            // Posts stand just off the road on either side (at most 15 m out).
            let reach = |side: f32| {
                let off_road = (1..=30).map(|k| k as f32 * 0.5).find(|d| {
                    let p = add(behind, scale(board.right, side * d));
                    ground.class_at(p[0], p[1]) != GroundClass::Road
                });
                off_road.unwrap_or(15.0) + 0.4
            };
            let (left, right) = (reach(-1.0), reach(1.0));
            for (side, span) in [(-1.0, left), (1.0, right)] {
                let end = add(behind, scale(board.right, side * span));
                mesh.cylinder(
                    [end[0], end[1], floor],
                    0.12,
                    beam_z + 0.15 - floor,
                    6,
                    Material::Metal,
                    indoor,
                );
            }
            let mid = add(behind, scale(board.right, (right - left) / 2.0));
            let dir = [board.right[0], board.right[1], 0.0];
            mesh.oriented_box(
                [mid[0], mid[1], beam_z],
                dir,
                [left + right, 0.2, 0.25],
                Material::Metal,
                indoor,
            );
        }
        Mounting::Ceiling => {
            let to = ceiling.unwrap_or(top + 0.6).max(top + 0.05);
            mesh.cylinder(
                [behind[0], behind[1], top - 0.05],
                0.02,
                to - top + 0.05,
                4,
                Material::Metal,
                indoor,
            );
        }
        Mounting::Wall => {}
    }
}

/// Street trees on the verges, clear of roads, buildings, signs and poles.
fn place_trees(mesh: &mut Mesh, map: &Map, ground: &GroundMap, rng: &mut ChaCha8Rng) {
    let obstacles = PointGrid::new(
        8.0,
        map.signs
            .iter()
            .map(|s| v3(&s.position))
            .chain(map.poles.iter().map(|p| v3(&p.base))),
    );
    along_kerbs(
        map,
        ground,
        rng,
        4.0..14.0,
        9.0..20.0,
        |rng, p, _, to_road| {
            let spot = add(p, scale(to_road, -rng.random_range(1.0..2.0)));
            let clear = ground.class_at(spot[0], spot[1]) != GroundClass::Road
                && !ground.near_building(spot[0], spot[1], 1.5)
                && !obstacles.any_within([spot[0], spot[1]], 3.0);
            if clear {
                tree(mesh, [spot[0], spot[1], ground.street_height], rng);
            }
        },
    );
}

/// Walks every street-level road edge, calling `visit` with the point, the edge's
/// direction and the horizontal unit vector towards the road, at gaps drawn from `gap`.
fn along_kerbs(
    map: &Map,
    ground: &GroundMap,
    rng: &mut ChaCha8Rng,
    first: std::ops::Range<f32>,
    gap: std::ops::Range<f32>,
    mut visit: impl FnMut(&mut ChaCha8Rng, V3, V3, V3),
) {
    for edge in map.road_edges.iter().filter(|e| e.level == 0) {
        let points: Vec<V3> = edge.points.iter().map(v3).collect();
        let mut next = rng.random_range(first.clone());
        let mut walked = 0.0;
        for w in points.windows(2) {
            let len = dot(sub(w[1], w[0]), sub(w[1], w[0])).sqrt();
            let along = normalize(sub(w[1], w[0]));
            let left = [-along[1], along[0], 0.0];
            while next < walked + len {
                let p = add(w[0], scale(sub(w[1], w[0]), (next - walked) / len));
                next += rng.random_range(gap.clone());
                let road_left =
                    ground.class_at(p[0] + left[0], p[1] + left[1]) == GroundClass::Road;
                let to_road = if road_left { left } else { scale(left, -1.0) };
                visit(rng, p, along, to_road);
            }
            walked += len;
        }
    }
}

fn tree(mesh: &mut Mesh, foot: V3, rng: &mut ChaCha8Rng) {
    let trunk = rng.random_range(2.0..3.2);
    mesh.cylinder(
        foot,
        rng.random_range(0.12..0.2),
        trunk + 0.5,
        5,
        Material::Bark,
        false,
    );
    let radius: f32 = rng.random_range(1.6..3.0);
    let tint = rng.random_range(0..4u8);
    // An icosahedron, stretched a little upwards, with jittered vertices.
    let t = (1.0 + 5f32.sqrt()) / 2.0;
    let base = [
        [-1.0, t, 0.0],
        [1.0, t, 0.0],
        [-1.0, -t, 0.0],
        [1.0, -t, 0.0],
        [0.0, -1.0, t],
        [0.0, 1.0, t],
        [0.0, -1.0, -t],
        [0.0, 1.0, -t],
        [t, 0.0, -1.0],
        [t, 0.0, 1.0],
        [-t, 0.0, -1.0],
        [-t, 0.0, 1.0],
    ];
    // A crown of three overlapping lumps: one main, two smaller ones off to the sides.
    let main = add(foot, [0.0, 0.0, trunk + radius * 0.8]);
    let lumps: Vec<(V3, f32)> = std::iter::once((main, radius))
        .chain((0..2).map(|_| {
            let a = rng.random_range(0.0..std::f32::consts::TAU);
            let offset = [
                a.cos() * radius * 0.55,
                a.sin() * radius * 0.55,
                rng.random_range(-0.3..0.4) * radius,
            ];
            (add(main, offset), radius * rng.random_range(0.55..0.75))
        }))
        .collect();
    for (centre, radius) in lumps {
        let verts: Vec<V3> = base
            .iter()
            .map(|v| {
                let v = normalize(*v);
                let r = radius * rng.random_range(0.8..1.2);
                add(centre, [v[0] * r, v[1] * r, v[2] * r * 1.1])
            })
            .collect();
        let faces = [
            [0, 11, 5],
            [0, 5, 1],
            [0, 1, 7],
            [0, 7, 10],
            [0, 10, 11],
            [1, 5, 9],
            [5, 11, 4],
            [11, 10, 2],
            [10, 7, 6],
            [7, 1, 8],
            [3, 9, 4],
            [3, 4, 2],
            [3, 2, 6],
            [3, 6, 8],
            [3, 8, 9],
            [4, 9, 5],
            [2, 4, 11],
            [6, 2, 10],
            [8, 6, 7],
            [9, 8, 1],
        ];
        for f in faces {
            let (u, v) = planar_map([0.0; 3], [0.7, 0.0, 0.7], [0.0, 0.7, 0.7]);
            mesh.tri(
                [verts[f[0]], verts[f[1]], verts[f[2]]],
                (u, v),
                Material::Foliage { tint },
                false,
                false,
            );
        }
    }
}

/// Cars parked along the kerbs, off the lanes.
fn place_parked_cars(mesh: &mut Mesh, map: &Map, ground: &GroundMap, rng: &mut ChaCha8Rng) {
    let lane_points = PointGrid::new(
        4.0,
        map.lane_lines
            .iter()
            .flat_map(|l| resample(&l.line.points.iter().map(v3).collect::<Vec<_>>(), 1.0)),
    );
    let stops = PointGrid::new(
        8.0,
        map.stop_lines.iter().flat_map(|s| s.points.iter().map(v3)),
    );
    along_kerbs(
        map,
        ground,
        rng,
        2.0..8.0,
        5.5..7.0,
        |rng, p, along, to_road| {
            if !rng.random_bool(0.55) {
                return;
            }
            let spot = add(p, scale(to_road, 1.1));
            let clear = ground.class_at(spot[0], spot[1]) == GroundClass::Road
                && !lane_points.any_within([spot[0], spot[1]], 1.1)
                && !stops.any_within([spot[0], spot[1]], 12.0);
            if clear {
                let heading = if rng.random_bool(0.5) {
                    along
                } else {
                    scale(along, -1.0)
                };
                car(
                    mesh,
                    [spot[0], spot[1], p[2].min(ground.street_height)],
                    heading,
                    rng,
                    false,
                    false,
                );
            }
        },
    );
}

/// A car standing at `foot` facing `heading`; `driving` cars have their lights on.
fn car(mesh: &mut Mesh, foot: V3, heading: V3, rng: &mut ChaCha8Rng, indoor: bool, driving: bool) {
    let colour = rng.random_range(0..8u8);
    let length = rng.random_range(3.9..4.8);
    let width = rng.random_range(1.7..1.85);
    mesh.oriented_box(
        add(foot, [0.0, 0.0, 0.65]),
        heading,
        [length, width, 0.7],
        Material::CarBody { colour },
        indoor,
    );
    let cabin = add(add(foot, [0.0, 0.0, 1.22]), scale(heading, -0.2));
    mesh.oriented_box(
        cabin,
        heading,
        [length * 0.55, width * 0.9, 0.45],
        Material::Glass,
        indoor,
    );
    mesh.oriented_box(
        add(cabin, [0.0, 0.0, 0.25]),
        heading,
        [length * 0.5, width * 0.86, 0.06],
        Material::CarBody { colour },
        indoor,
    );
    let side = [-heading[1], heading[0], 0.0];
    for (fx, sy) in [(0.33, 1.0), (0.33, -1.0), (-0.33, 1.0), (-0.33, -1.0)] {
        let at = add(
            add(foot, scale(heading, fx * length)),
            scale(side, sy * (width / 2.0 - 0.12)),
        );
        mesh.oriented_box(
            add(at, [0.0, 0.0, 0.32]),
            heading,
            [0.64, 0.24, 0.64],
            Material::Tyre,
            indoor,
        );
    }
    for (end, rear) in [(1.0, false), (-1.0, true)] {
        for sy in [1.0, -1.0] {
            let at = add(
                add(foot, scale(heading, end * (length / 2.0 + 0.01))),
                scale(side, sy * (width / 2.0 - 0.25)),
            );
            mesh.oriented_box(
                add(at, [0.0, 0.0, 0.8]),
                heading,
                [0.04, 0.32, 0.12],
                Material::CarLight { rear, on: driving },
                indoor,
            );
        }
    }
}

/// Number of car models other vehicles are drawn from.
const CAR_MODELS: usize = 16;

/// Car models in the car's own frame (x forward, y left, z up, the foot midway between the
/// axles at the origin), lit as outdoors or as underground.
pub(crate) fn car_models(seed: u64, indoor: bool) -> Vec<Vec<Tri>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xCA55_0000);
    (0..CAR_MODELS)
        .map(|_| {
            let mut mesh = Mesh::default();
            car(&mut mesh, [0.0; 3], [1.0, 0.0, 0.0], &mut rng, indoor, true);
            mesh.tris
        })
        .collect()
}

fn into_chunks(tris: Vec<Tri>) -> (Vec<Tri>, Vec<Chunk>) {
    let key = |t: &Tri| {
        let c = scale(add(add(t.v[0], t.v[1]), t.v[2]), 1.0 / 3.0);
        (
            (c[0] / CHUNK_SIZE).floor() as i32,
            (c[1] / CHUNK_SIZE).floor() as i32,
        )
    };
    let mut tris = tris;
    tris.sort_by_key(key);
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < tris.len() {
        let k = key(&tris[start]);
        let end = start + tris[start..].iter().take_while(|t| key(t) == k).count();
        let (mut min, mut max) = ([f32::MAX; 3], [f32::MIN; 3]);
        for v in tris[start..end].iter().flat_map(|t| t.v) {
            for a in 0..3 {
                min[a] = min[a].min(v[a]);
                max[a] = max[a].max(v[a]);
            }
        }
        chunks.push(Chunk {
            min,
            max,
            tris: start..end,
        });
        start = end;
    }
    (tris, chunks)
}
