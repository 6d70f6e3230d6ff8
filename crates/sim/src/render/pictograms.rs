//! Procedural sign faces for the 43 GTSRB classes, drawn once per scene from vector shapes
//! (discs, rings, polygons, stroked polylines and a small stroke font) into mip-mapped
//! linear-RGB textures.
//!
//! Drawing space: the sign's bounding box is `[-1, 1]²`, y up. Each texel is the
//! supersampled coverage-weighted blend of the shapes painted over it, in order.

use super::ground::point_in_ring;

/// The outline of a sign face, which the renderer turns into board geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignShape {
    Circle,
    /// Point up (warning signs).
    Triangle,
    /// Point down (give way).
    InvertedTriangle,
    Octagon,
    Diamond,
}

impl SignShape {
    pub fn of_class(class: u8) -> SignShape {
        match class {
            11 | 18..=31 => SignShape::Triangle,
            12 => SignShape::Diamond,
            13 => SignShape::InvertedTriangle,
            14 => SignShape::Octagon,
            _ => SignShape::Circle,
        }
    }

    /// The outline in drawing space (counter-clockwise, y up).
    pub fn outline(self) -> Vec<[f32; 2]> {
        match self {
            SignShape::Circle => regular_polygon(32, 0.0),
            SignShape::Triangle => vec![[-1.0, -1.0], [1.0, -1.0], [0.0, 1.0]],
            SignShape::InvertedTriangle => vec![[0.0, -1.0], [1.0, 1.0], [-1.0, 1.0]],
            SignShape::Octagon => regular_polygon(8, std::f32::consts::PI / 8.0),
            SignShape::Diamond => vec![[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]],
        }
    }
}

fn regular_polygon(n: usize, phase: f32) -> Vec<[f32; 2]> {
    (0..n)
        .map(|i| {
            let a = phase + i as f32 * std::f32::consts::TAU / n as f32;
            [a.cos(), a.sin()]
        })
        .collect()
}

/// Side of the finest mip level, texels.
pub const TEXTURE_SIZE: usize = 64;
const SUPERSAMPLE: usize = 4;

/// One class's face: linear RGB, mip levels from `TEXTURE_SIZE` down to 1.
pub struct SignTexture {
    levels: Vec<Vec<[f32; 3]>>,
}

impl SignTexture {
    /// Bilinear sample at texture coordinates `(s, t)` ∈ [0, 1]² (t down) on mip `lod`
    /// (0 finest; fractional lods blend two levels).
    pub fn sample(&self, s: f32, t: f32, lod: f32) -> [f32; 3] {
        let max = (self.levels.len() - 1) as f32;
        let lod = lod.clamp(0.0, max);
        let lo = lod.floor() as usize;
        let frac = lod - lo as f32;
        let a = self.bilinear(lo, s, t);
        if frac < 0.01 || lo + 1 >= self.levels.len() {
            return a;
        }
        let b = self.bilinear(lo + 1, s, t);
        [0, 1, 2].map(|c| a[c] + (b[c] - a[c]) * frac)
    }

    fn bilinear(&self, level: usize, s: f32, t: f32) -> [f32; 3] {
        let size = TEXTURE_SIZE >> level;
        let texels = &self.levels[level];
        let x = (s * size as f32 - 0.5).clamp(0.0, size as f32 - 1.0);
        let y = (t * size as f32 - 0.5).clamp(0.0, size as f32 - 1.0);
        let (x0, y0) = (x as usize, y as usize);
        let (x1, y1) = ((x0 + 1).min(size - 1), (y0 + 1).min(size - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let at = |xx: usize, yy: usize| texels[yy * size + xx];
        let (p00, p10, p01, p11) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
        [0, 1, 2].map(|c| {
            let top = p00[c] + (p10[c] - p00[c]) * fx;
            let bottom = p01[c] + (p11[c] - p01[c]) * fx;
            top + (bottom - top) * fy
        })
    }

    /// The finest level's texels, row-major from the top.
    #[cfg(test)]
    pub fn texels(&self) -> &[[f32; 3]] {
        &self.levels[0]
    }
}

/// All 43 faces, indexed by GTSRB class id.
pub fn all_textures() -> Vec<SignTexture> {
    (0..43u8).map(|class| draw(class).into_texture()).collect()
}

// Sign colours (sRGB, as printed), converted to linear when painted.
const RED: [f32; 3] = [0.80, 0.08, 0.12];
const WHITE: [f32; 3] = [0.94, 0.94, 0.92];
const BLACK: [f32; 3] = [0.06, 0.06, 0.07];
const BLUE: [f32; 3] = [0.05, 0.30, 0.70];
const YELLOW: [f32; 3] = [0.98, 0.76, 0.05];
const GREY: [f32; 3] = [0.55, 0.55, 0.55];
const GREEN: [f32; 3] = [0.10, 0.65, 0.25];
const METAL: [f32; 3] = [0.72, 0.73, 0.74];

fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

enum Shape {
    Disc {
        centre: [f32; 2],
        radius: f32,
    },
    Ring {
        centre: [f32; 2],
        inner: f32,
        outer: f32,
    },
    Polygon(Vec<[f32; 2]>),
    Stroke {
        points: Vec<[f32; 2]>,
        width: f32,
    },
}

impl Shape {
    fn contains(&self, p: [f32; 2]) -> bool {
        match self {
            Shape::Disc { centre, radius } => dist2(p, *centre) <= radius * radius,
            Shape::Ring {
                centre,
                inner,
                outer,
            } => {
                let d2 = dist2(p, *centre);
                d2 >= inner * inner && d2 <= outer * outer
            }
            Shape::Polygon(points) => point_in_ring(&p, points),
            Shape::Stroke { points, width } => {
                let r2 = width * width / 4.0;
                points
                    .windows(2)
                    .any(|w| segment_dist2(p, w[0], w[1]) <= r2)
            }
        }
    }

    fn bounds(&self) -> [f32; 4] {
        let of_points = |points: &[[f32; 2]], pad: f32| {
            points
                .iter()
                .fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |b, p| {
                    [
                        b[0].min(p[0] - pad),
                        b[1].min(p[1] - pad),
                        b[2].max(p[0] + pad),
                        b[3].max(p[1] + pad),
                    ]
                })
        };
        match self {
            Shape::Disc { centre, radius }
            | Shape::Ring {
                centre,
                outer: radius,
                ..
            } => [
                centre[0] - radius,
                centre[1] - radius,
                centre[0] + radius,
                centre[1] + radius,
            ],
            Shape::Polygon(points) => of_points(points, 0.0),
            Shape::Stroke { points, width } => of_points(points, width / 2.0),
        }
    }
}

fn dist2(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

pub(crate) fn segment_dist2(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    dist2(p, [a[0] + t * dx, a[1] + t * dy])
}

/// A texture being painted: linear RGB at the finest level.
struct Canvas {
    texels: Vec<[f32; 3]>,
}

impl Canvas {
    fn new(background: [f32; 3]) -> Canvas {
        Canvas {
            texels: vec![background.map(srgb_to_linear); TEXTURE_SIZE * TEXTURE_SIZE],
        }
    }

    fn paint(&mut self, shape: Shape, colour: [f32; 3]) {
        let colour = colour.map(srgb_to_linear);
        let n = TEXTURE_SIZE as f32;
        let [x0, y0, x1, y1] = shape.bounds();
        // Texel column i spans x ∈ [-1 + 2i/n, -1 + 2(i+1)/n]; row j counts down from y = 1.
        let col = |x: f32| ((x + 1.0) * n / 2.0).floor().clamp(0.0, n - 1.0) as usize;
        let row = |y: f32| ((1.0 - y) * n / 2.0).floor().clamp(0.0, n - 1.0) as usize;
        let step = 2.0 / n / SUPERSAMPLE as f32;
        for j in row(y1)..=row(y0) {
            for i in col(x0)..=col(x1) {
                let mut hits = 0;
                for sy in 0..SUPERSAMPLE {
                    for sx in 0..SUPERSAMPLE {
                        let x = -1.0 + 2.0 * i as f32 / n + (sx as f32 + 0.5) * step;
                        let y = 1.0 - 2.0 * j as f32 / n - (sy as f32 + 0.5) * step;
                        hits += shape.contains([x, y]) as usize;
                    }
                }
                if hits > 0 {
                    let cover = hits as f32 / (SUPERSAMPLE * SUPERSAMPLE) as f32;
                    let texel = &mut self.texels[j * TEXTURE_SIZE + i];
                    *texel = [0, 1, 2].map(|c| texel[c] + (colour[c] - texel[c]) * cover);
                }
            }
        }
    }

    fn into_texture(self) -> SignTexture {
        let mut levels = vec![self.texels];
        let mut size = TEXTURE_SIZE;
        while size > 1 {
            let half = size / 2;
            let prev = levels.last().expect("finest level exists");
            let next = (0..half * half)
                .map(|k| {
                    let (x, y) = (2 * (k % half), 2 * (k / half));
                    let quad = [
                        prev[y * size + x],
                        prev[y * size + x + 1],
                        prev[(y + 1) * size + x],
                        prev[(y + 1) * size + x + 1],
                    ];
                    [0, 1, 2].map(|c| quad.iter().map(|t| t[c]).sum::<f32>() / 4.0)
                })
                .collect();
            levels.push(next);
            size = half;
        }
        SignTexture { levels }
    }
}

fn disc(r: f32) -> Shape {
    Shape::Disc {
        centre: [0.0, 0.0],
        radius: r,
    }
}

fn ring(inner: f32, outer: f32) -> Shape {
    Shape::Ring {
        centre: [0.0, 0.0],
        inner,
        outer,
    }
}

fn stroke(points: &[[f32; 2]], width: f32) -> Shape {
    Shape::Stroke {
        points: points.to_vec(),
        width,
    }
}

fn poly(points: &[[f32; 2]]) -> Shape {
    Shape::Polygon(points.to_vec())
}

/// Points of a circular arc (angles in radians, counter-clockwise from +x).
fn arc(centre: [f32; 2], radius: f32, from: f32, to: f32, n: usize) -> Vec<[f32; 2]> {
    (0..=n)
        .map(|i| {
            let a = from + (to - from) * i as f32 / n as f32;
            [centre[0] + radius * a.cos(), centre[1] + radius * a.sin()]
        })
        .collect()
}

fn transform(points: &[[f32; 2]], scale: f32, offset: [f32; 2], mirror: bool) -> Vec<[f32; 2]> {
    let sx = if mirror { -scale } else { scale };
    points
        .iter()
        .map(|p| [p[0] * sx + offset[0], p[1] * scale + offset[1]])
        .collect()
}

/// Stroke-font glyphs in a box 1 wide, 1.6 high (origin bottom left).
fn glyph(c: char) -> Vec<Vec<[f32; 2]>> {
    use std::f32::consts::PI;
    let oval = |cy: f32, ry: f32| {
        arc([0.5, cy], 1.0, 0.0, 2.0 * PI, 24)
            .iter()
            .map(|p| [0.5 + (p[0] - 0.5) * 0.5, cy + (p[1] - cy) * ry])
            .collect::<Vec<_>>()
    };
    match c {
        '0' => vec![oval(0.8, 0.8)],
        '1' => vec![vec![[0.2, 1.2], [0.6, 1.6], [0.6, 0.0]]],
        '2' => {
            let mut top = arc([0.5, 1.15], 0.45, PI * 0.95, -PI * 0.25, 10);
            top.extend([[0.05, 0.0], [0.98, 0.0]]);
            vec![top]
        }
        '3' => vec![
            arc([0.5, 1.2], 0.4, PI * 0.9, -PI * 0.5, 10),
            arc([0.5, 0.42], 0.45, PI * 0.5, -PI * 0.85, 10),
        ],
        '4' => vec![vec![[0.75, 0.0], [0.75, 1.6], [0.0, 0.45], [1.0, 0.45]]],
        '5' => {
            let mut s = vec![[0.9, 1.6], [0.15, 1.6], [0.1, 0.85]];
            s.extend(arc([0.5, 0.5], 0.5, PI * 0.75, -PI * 0.8, 12));
            vec![s]
        }
        '6' => {
            let mut s = vec![
                [0.85, 1.45],
                [0.55, 1.6],
                [0.25, 1.45],
                [0.07, 1.0],
                [0.04, 0.5],
            ];
            s.extend(arc([0.5, 0.48], 0.46, PI, 3.0 * PI, 18));
            vec![s]
        }
        '7' => vec![vec![[0.02, 1.6], [0.98, 1.6], [0.35, 0.0]]],
        '8' => vec![
            arc([0.5, 1.22], 0.36, 0.0, 2.0 * PI, 16),
            arc([0.5, 0.46], 0.46, 0.0, 2.0 * PI, 16),
        ],
        '9' => glyph('6')
            .into_iter()
            .map(|s| s.iter().map(|p| [1.0 - p[0], 1.6 - p[1]]).collect())
            .collect(),
        'S' => {
            let mut s = arc([0.5, 1.2], 0.4, PI * 0.1, PI * 1.5, 10);
            s.extend(arc([0.5, 0.4], 0.4, PI * 0.5, -PI * 0.9, 10));
            vec![s]
        }
        'T' => vec![vec![[0.0, 1.6], [1.0, 1.6]], vec![[0.5, 1.6], [0.5, 0.0]]],
        'O' => vec![oval(0.8, 0.8)],
        'P' => {
            let mut s = vec![[0.1, 0.0], [0.1, 1.6], [0.5, 1.6]];
            s.extend(arc([0.5, 1.2], 0.4, PI * 0.5, -PI * 0.5, 8));
            s.push([0.1, 0.8]);
            vec![s]
        }
        _ => Vec::new(),
    }
}

/// Paints `text` centred at `centre` with glyph height `height`.
fn text(canvas: &mut Canvas, text: &str, centre: [f32; 2], height: f32, colour: [f32; 3]) {
    let scale = height / 1.6;
    let advance = 1.35 * scale;
    let width = advance * (text.chars().count() as f32 - 1.0) + scale;
    for (k, c) in text.chars().enumerate() {
        let origin = [
            centre[0] - width / 2.0 + k as f32 * advance,
            centre[1] - height / 2.0,
        ];
        for s in glyph(c) {
            canvas.paint(
                stroke(&transform(&s, scale, origin, false), 0.28 * scale),
                colour,
            );
        }
    }
}

/// A car seen from behind-ish, as on overtaking signs, centred at `at`.
fn car(at: [f32; 2], scale: f32) -> Vec<Shape> {
    let body = [
        [-0.5, -0.25],
        [0.5, -0.25],
        [0.5, 0.1],
        [0.35, 0.15],
        [0.25, 0.45],
        [-0.25, 0.45],
        [-0.35, 0.15],
        [-0.5, 0.1],
    ];
    let wheels = [[-0.3, -0.3], [0.3, -0.3]];
    let mut shapes = vec![poly(&transform(&body, scale, at, false))];
    shapes.extend(wheels.iter().map(|w| Shape::Disc {
        centre: [at[0] + w[0] * scale, at[1] + w[1] * scale],
        radius: 0.12 * scale,
    }));
    shapes
}

/// A lorry in side view, cab to the left.
fn truck(at: [f32; 2], scale: f32) -> Vec<Shape> {
    let cargo = [[-0.2, -0.2], [0.65, -0.2], [0.65, 0.5], [-0.2, 0.5]];
    let cab = [
        [-0.65, -0.2],
        [-0.25, -0.2],
        [-0.25, 0.3],
        [-0.5, 0.3],
        [-0.65, 0.1],
    ];
    let mut shapes = vec![
        poly(&transform(&cargo, scale, at, false)),
        poly(&transform(&cab, scale, at, false)),
    ];
    shapes.extend([-0.45, 0.15, 0.45].iter().map(|x| Shape::Disc {
        centre: [at[0] + x * scale, at[1] - 0.25 * scale],
        radius: 0.13 * scale,
    }));
    shapes
}

/// A walking person (head, body, legs and arms as strokes).
fn person(at: [f32; 2], scale: f32, mirror: bool) -> Vec<Shape> {
    let t = |pts: &[[f32; 2]]| transform(pts, scale, at, mirror);
    let head = t(&[[0.05, 0.62]])[0];
    vec![
        Shape::Disc {
            centre: head,
            radius: 0.13 * scale,
        },
        stroke(&t(&[[0.0, 0.42], [-0.05, -0.05]]), 0.18 * scale),
        stroke(&t(&[[-0.05, -0.05], [-0.3, -0.6]]), 0.13 * scale),
        stroke(
            &t(&[[-0.05, -0.05], [0.15, -0.3], [0.2, -0.6]]),
            0.13 * scale,
        ),
        stroke(&t(&[[0.0, 0.35], [-0.25, 0.05]]), 0.1 * scale),
        stroke(&t(&[[0.0, 0.35], [0.25, 0.1]]), 0.1 * scale),
    ]
}

/// An arrow along `path` with a head at its end.
fn arrow(path: &[[f32; 2]], width: f32, head: f32) -> Vec<Shape> {
    let n = path.len();
    let (a, b) = (path[n - 2], path[n - 1]);
    let len = dist2(a, b).sqrt();
    let dir = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
    let side = [-dir[1], dir[0]];
    let tip = [b[0] + dir[0] * head, b[1] + dir[1] * head];
    let base = |s: f32| [b[0] + side[0] * head * s, b[1] + side[1] * head * s];
    vec![stroke(path, width), poly(&[base(-0.9), tip, base(0.9)])]
}

/// Paints the diagonal "end of restriction" bars (top right to bottom left).
fn end_bars(canvas: &mut Canvas, count: usize) {
    for k in 0..count {
        let offset = (k as f32 - (count as f32 - 1.0) / 2.0) * 0.13;
        let n = [std::f32::consts::FRAC_1_SQRT_2; 2];
        let a = [0.72 + offset * n[0], 0.72 - offset * n[1]];
        let b = [-0.72 + offset * n[0], -0.72 - offset * n[1]];
        canvas.paint(stroke(&[[a[0], a[1]], [b[0], b[1]]], 0.055), BLACK);
    }
}

fn paint_all(canvas: &mut Canvas, shapes: Vec<Shape>, colour: [f32; 3]) {
    for s in shapes {
        canvas.paint(s, colour);
    }
}

fn round_sign(ring_colour: [f32; 3]) -> Canvas {
    let mut c = Canvas::new(METAL);
    c.paint(disc(1.0), WHITE);
    c.paint(ring(0.76, 0.96), ring_colour);
    c
}

fn end_sign() -> Canvas {
    let mut c = Canvas::new(METAL);
    c.paint(disc(1.0), WHITE);
    c.paint(ring(0.9, 0.96), GREY);
    c
}

fn warning_sign() -> Canvas {
    let mut c = Canvas::new(METAL);
    let outer = [[-0.98, -0.96], [0.98, -0.96], [0.0, 0.98]];
    let inner = [[-0.68, -0.78], [0.68, -0.78], [0.0, 0.5]];
    c.paint(poly(&[[-1.0, -1.0], [1.0, -1.0], [0.0, 1.0]]), WHITE);
    c.paint(poly(&outer), RED);
    c.paint(poly(&inner), WHITE);
    c
}

fn blue_sign() -> Canvas {
    let mut c = Canvas::new(METAL);
    c.paint(disc(1.0), WHITE);
    c.paint(disc(0.95), BLUE);
    c
}

fn draw(class: u8) -> Canvas {
    use std::f32::consts::PI;
    // Warning-sign symbols sit in the lower part of the triangle's white field.
    let sym = [0.0, -0.35];
    match class {
        0..=5 | 7 | 8 => {
            let speed = ["20", "30", "50", "60", "70", "80", "", "100", "120"][class as usize];
            let mut c = round_sign(RED);
            let height = if speed.len() == 3 { 0.55 } else { 0.75 };
            text(&mut c, speed, [0.0, 0.0], height, BLACK);
            c
        }
        6 => {
            let mut c = end_sign();
            text(&mut c, "80", [0.0, 0.0], 0.75, GREY);
            end_bars(&mut c, 5);
            c
        }
        9 | 10 => {
            let mut c = round_sign(RED);
            if class == 9 {
                paint_all(&mut c, car([-0.3, -0.05], 0.55), RED);
            } else {
                paint_all(&mut c, truck([-0.28, -0.05], 0.5), RED);
            }
            paint_all(&mut c, car([0.3, -0.05], 0.55), BLACK);
            c
        }
        11 => {
            let mut c = warning_sign();
            c.paint(stroke(&[[0.0, -0.65], [0.0, 0.2]], 0.2), BLACK);
            c.paint(stroke(&[[-0.32, -0.25], [0.32, -0.25]], 0.1), BLACK);
            c
        }
        12 => {
            let mut c = Canvas::new(METAL);
            c.paint(
                poly(&[[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]),
                WHITE,
            );
            c.paint(
                poly(&[[0.0, -0.88], [0.88, 0.0], [0.0, 0.88], [-0.88, 0.0]]),
                BLACK,
            );
            c.paint(
                poly(&[[0.0, -0.84], [0.84, 0.0], [0.0, 0.84], [-0.84, 0.0]]),
                WHITE,
            );
            c.paint(
                poly(&[[0.0, -0.58], [0.58, 0.0], [0.0, 0.58], [-0.58, 0.0]]),
                YELLOW,
            );
            c
        }
        13 => {
            let mut c = Canvas::new(METAL);
            c.paint(poly(&[[0.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]), WHITE);
            c.paint(poly(&[[0.0, -0.96], [0.98, 0.96], [-0.98, 0.96]]), RED);
            c.paint(poly(&[[0.0, -0.5], [0.66, 0.78], [-0.66, 0.78]]), WHITE);
            c
        }
        14 => {
            let mut c = Canvas::new(METAL);
            c.paint(poly(&regular_polygon(8, PI / 8.0)), WHITE);
            c.paint(
                poly(&transform(
                    &regular_polygon(8, PI / 8.0),
                    0.93,
                    [0.0, 0.0],
                    false,
                )),
                RED,
            );
            text(&mut c, "STOP", [0.0, 0.0], 0.5, WHITE);
            c
        }
        15 => round_sign(RED),
        16 => {
            let mut c = round_sign(RED);
            paint_all(&mut c, truck([0.0, -0.05], 0.8), BLACK);
            c
        }
        17 => {
            let mut c = Canvas::new(METAL);
            c.paint(disc(1.0), WHITE);
            c.paint(disc(0.96), RED);
            c.paint(
                poly(&[[-0.7, -0.17], [0.7, -0.17], [0.7, 0.17], [-0.7, 0.17]]),
                WHITE,
            );
            c
        }
        18 => {
            let mut c = warning_sign();
            c.paint(stroke(&[[0.0, 0.18], [0.0, -0.38]], 0.14), BLACK);
            c.paint(
                Shape::Disc {
                    centre: [0.0, -0.58],
                    radius: 0.08,
                },
                BLACK,
            );
            c
        }
        19 | 20 => {
            let mut c = warning_sign();
            let path = [[0.12, -0.7], [0.12, -0.25], [0.0, -0.05], [-0.2, 0.08]];
            let arrow_path = transform(&path, 1.0, [0.0, 0.0], class == 20);
            paint_all(&mut c, arrow(&arrow_path, 0.1, 0.13), BLACK);
            c
        }
        21 => {
            let mut c = warning_sign();
            let path = [
                [0.15, -0.72],
                [0.15, -0.5],
                [-0.15, -0.3],
                [-0.15, -0.1],
                [0.12, 0.07],
            ];
            paint_all(&mut c, arrow(&path, 0.1, 0.12), BLACK);
            c
        }
        22 => {
            let mut c = warning_sign();
            let mut bumps = arc([-0.22, -0.62], 0.18, PI, 0.0, 8);
            bumps.extend(arc([0.22, -0.62], 0.18, PI, 0.0, 8));
            bumps.insert(0, [-0.55, -0.62]);
            bumps.push([0.55, -0.62]);
            c.paint(stroke(&bumps, 0.09), BLACK);
            c
        }
        23 => {
            let mut c = warning_sign();
            paint_all(&mut c, car([0.0, -0.15], 0.45), BLACK);
            for dx in [-0.16_f32, 0.16] {
                let wave: Vec<[f32; 2]> = (0..9)
                    .map(|i| {
                        [
                            dx + 0.08 * ((i as f32) * 1.4).sin() + (i as f32 - 4.0) * 0.02,
                            -0.45 - i as f32 * 0.035,
                        ]
                    })
                    .collect();
                c.paint(stroke(&wave, 0.05), BLACK);
            }
            c
        }
        24 => {
            let mut c = warning_sign();
            c.paint(stroke(&[[-0.25, -0.7], [-0.25, 0.05]], 0.09), BLACK);
            c.paint(
                stroke(
                    &[[0.3, -0.7], [0.3, -0.35], [0.1, -0.15], [0.1, 0.05]],
                    0.09,
                ),
                BLACK,
            );
            c
        }
        25 => {
            let mut c = warning_sign();
            paint_all(&mut c, person([-0.05, -0.3], 0.55, false), BLACK);
            c.paint(stroke(&[[0.1, -0.12], [0.35, -0.55]], 0.06), BLACK);
            c.paint(poly(&[[0.2, -0.72], [0.55, -0.72], [0.42, -0.52]]), BLACK);
            c
        }
        26 => {
            let mut c = warning_sign();
            c.paint(
                poly(&[[-0.17, -0.76], [0.17, -0.76], [0.17, 0.08], [-0.17, 0.08]]),
                BLACK,
            );
            for (k, colour) in [RED, YELLOW, GREEN].iter().enumerate() {
                c.paint(
                    Shape::Disc {
                        centre: [0.0, -0.07 - 0.27 * k as f32],
                        radius: 0.1,
                    },
                    *colour,
                );
            }
            c
        }
        27 => {
            let mut c = warning_sign();
            paint_all(&mut c, person(sym, 0.6, false), BLACK);
            c
        }
        28 => {
            let mut c = warning_sign();
            paint_all(&mut c, person([-0.15, -0.3], 0.55, false), BLACK);
            paint_all(&mut c, person([0.22, -0.42], 0.4, false), BLACK);
            c
        }
        29 => {
            let mut c = warning_sign();
            for x in [-0.3_f32, 0.3] {
                c.paint(
                    Shape::Ring {
                        centre: [x, -0.55],
                        inner: 0.1,
                        outer: 0.17,
                    },
                    BLACK,
                );
            }
            c.paint(
                stroke(
                    &[[-0.3, -0.55], [-0.05, -0.3], [0.2, -0.3], [0.3, -0.55]],
                    0.06,
                ),
                BLACK,
            );
            c.paint(
                stroke(
                    &[[-0.05, -0.3], [0.0, -0.55], [0.2, -0.3], [0.15, -0.15]],
                    0.06,
                ),
                BLACK,
            );
            c
        }
        30 => {
            let mut c = warning_sign();
            for k in 0..3 {
                let a = k as f32 * PI / 3.0;
                let (dx, dy) = (a.cos() * 0.3, a.sin() * 0.3);
                c.paint(
                    stroke(
                        &[[sym[0] - dx, sym[1] - dy], [sym[0] + dx, sym[1] + dy]],
                        0.07,
                    ),
                    BLACK,
                );
            }
            c
        }
        31 => {
            let mut c = warning_sign();
            let deer = [
                [-0.45, -0.35],
                [-0.2, -0.2],
                [0.2, -0.22],
                [0.32, -0.05],
                [0.42, 0.05],
                [0.5, 0.02],
                [0.36, -0.18],
                [0.3, -0.35],
                [0.42, -0.7],
                [0.32, -0.7],
                [0.15, -0.38],
                [-0.15, -0.38],
                [-0.4, -0.72],
                [-0.5, -0.7],
                [-0.32, -0.4],
            ];
            c.paint(poly(&deer), BLACK);
            c.paint(
                stroke(&[[0.36, 0.0], [0.3, 0.2], [0.22, 0.25]], 0.04),
                BLACK,
            );
            c
        }
        32 => {
            let mut c = end_sign();
            end_bars(&mut c, 5);
            c
        }
        33..=39 => {
            let mut c = blue_sign();
            let paths: Vec<Vec<[f32; 2]>> = match class {
                33 | 34 => {
                    let mut p = vec![[-0.15, -0.6], [-0.15, -0.05]];
                    p.extend(arc([0.15, -0.05], 0.3, PI, PI / 2.0, 6));
                    p.push([0.38, 0.25]);
                    vec![p]
                }
                35 => vec![vec![[0.0, -0.65], [0.0, 0.38]]],
                36 | 37 => vec![
                    vec![[-0.1, -0.65], [-0.1, 0.4]],
                    vec![[-0.1, -0.25], [0.22, 0.07]],
                ],
                _ => vec![vec![[-0.35, 0.35], [0.25, -0.25]]],
            };
            let mirror = matches!(class, 34 | 37 | 39);
            for p in paths {
                paint_all(
                    &mut c,
                    arrow(&transform(&p, 1.0, [0.0, 0.0], mirror), 0.17, 0.22),
                    WHITE,
                );
            }
            c
        }
        40 => {
            let mut c = blue_sign();
            for k in 0..3 {
                let a0 = PI / 2.0 + k as f32 * 2.0 * PI / 3.0;
                let path = arc([0.0, 0.0], 0.5, a0 + 0.5, a0 + 1.6, 6);
                paint_all(&mut c, arrow(&path, 0.13, 0.17), WHITE);
            }
            c
        }
        _ => {
            // 41 and 42: end of no overtaking (for lorries).
            let mut c = end_sign();
            if class == 41 {
                paint_all(&mut c, car([-0.3, -0.05], 0.55), GREY);
            } else {
                paint_all(&mut c, truck([-0.28, -0.05], 0.5), GREY);
            }
            paint_all(&mut c, car([0.3, -0.05], 0.55), GREY);
            end_bars(&mut c, 5);
            c
        }
    }
}
