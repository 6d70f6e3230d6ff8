//! A road's reference line: its plan-view geometries (line, arc, spiral, poly3,
//! paramPoly3) and the cubic profiles along it (elevation, lane offset, lane width).

use std::sync::OnceLock;

/// A point of the reference line in the file's inertial frame: x, y (m) and the heading
/// (rad, counter-clockwise from the x axis).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pose2 {
    pub x: f64,
    pub y: f64,
    pub hdg: f64,
}

impl Pose2 {
    /// The point `t` metres to the left of this one (OpenDRIVE's lateral coordinate).
    pub fn offset(&self, t: f64) -> (f64, f64) {
        (self.x - t * self.hdg.sin(), self.y + t * self.hdg.cos())
    }
}

/// The shape of one plan-view geometry record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    Line,
    Arc {
        curvature: f64,
    },
    /// A clothoid: curvature changes linearly from `curv_start` to `curv_end`.
    Spiral {
        curv_start: f64,
        curv_end: f64,
    },
    /// v(u) = a + b·u + c·u² + d·u³ in the geometry's local frame (u along the start
    /// heading), parametrised by arc length.
    Poly3 {
        coefficients: [f64; 4],
    },
    /// u(p), v(p) cubics; p runs over [0, length] (`arcLength`) or [0, 1] (`normalized`).
    ParamPoly3 {
        u: [f64; 4],
        v: [f64; 4],
        normalized: bool,
    },
}

/// One `<geometry>` of a `<planView>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Geometry {
    pub s: f64,
    pub start: Pose2,
    pub length: f64,
    pub shape: Shape,
}

impl Geometry {
    /// The pose `ds` metres along this geometry from its start.
    pub fn pose_at(&self, ds: f64) -> Pose2 {
        let Pose2 { x, y, hdg } = self.start;
        match &self.shape {
            Shape::Line => Pose2 {
                x: x + ds * hdg.cos(),
                y: y + ds * hdg.sin(),
                hdg,
            },
            Shape::Arc { curvature } => {
                // Chord form: stable for any curvature, zero included.
                let half_turn = 0.5 * curvature * ds;
                let chord = ds * sinc(half_turn);
                let chord_heading = hdg + half_turn;
                Pose2 {
                    x: x + chord * chord_heading.cos(),
                    y: y + chord * chord_heading.sin(),
                    hdg: hdg + 2.0 * half_turn,
                }
            }
            Shape::Spiral {
                curv_start,
                curv_end,
            } => {
                let rate = if self.length > 0.0 {
                    (curv_end - curv_start) / self.length
                } else {
                    0.0
                };
                let (dx, dy) = clothoid_displacement(hdg, *curv_start, rate, ds);
                Pose2 {
                    x: x + dx,
                    y: y + dy,
                    hdg: hdg + curv_start * ds + 0.5 * rate * ds * ds,
                }
            }
            Shape::Poly3 { coefficients } => {
                let u = poly3_parameter_at(coefficients, ds);
                let v = cubic(coefficients, u);
                let local_heading = cubic_slope(coefficients, u).atan();
                local_to_inertial(&self.start, u, v, local_heading)
            }
            Shape::ParamPoly3 { u, v, normalized } => {
                let p = if *normalized && self.length > 0.0 {
                    ds / self.length
                } else {
                    ds
                };
                let local_heading = cubic_slope(v, p).atan2(cubic_slope(u, p));
                local_to_inertial(&self.start, cubic(u, p), cubic(v, p), local_heading)
            }
        }
    }
}

fn local_to_inertial(start: &Pose2, u: f64, v: f64, local_heading: f64) -> Pose2 {
    let (sin, cos) = start.hdg.sin_cos();
    Pose2 {
        x: start.x + u * cos - v * sin,
        y: start.y + u * sin + v * cos,
        hdg: start.hdg + local_heading,
    }
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-4 {
        1.0 - x * x / 6.0
    } else {
        x.sin() / x
    }
}

/// a + b·p + c·p² + d·p³.
pub(crate) fn cubic(k: &[f64; 4], p: f64) -> f64 {
    k[0] + p * (k[1] + p * (k[2] + p * k[3]))
}

fn cubic_slope(k: &[f64; 4], p: f64) -> f64 {
    k[1] + p * (2.0 * k[2] + p * 3.0 * k[3])
}

/// The road's reference line: its geometries in order of s.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReferenceLine {
    pub geometries: Vec<Geometry>,
}

impl ReferenceLine {
    /// The pose at `s`: on the last geometry starting at or before `s` (the first one for
    /// an `s` before the road's start).
    pub fn pose_at(&self, s: f64) -> Pose2 {
        let index = self
            .geometries
            .partition_point(|g| g.s <= s)
            .saturating_sub(1);
        let geometry = &self.geometries[index];
        geometry.pose_at(s - geometry.s)
    }

    /// Stations from `s_start` to `s_end` no further apart than `step`, with every
    /// geometry start and every `extra` break in between included exactly.
    pub fn stations(&self, s_start: f64, s_end: f64, step: f64, extra: &[f64]) -> Vec<f64> {
        let mut breaks: Vec<f64> = std::iter::once(s_start)
            .chain(self.geometries.iter().map(|g| g.s))
            .chain(extra.iter().copied())
            .filter(|s| *s >= s_start && *s < s_end)
            .collect();
        breaks.sort_by(f64::total_cmp);
        breaks.dedup_by(|b, a| *b - *a < 1e-6);
        breaks.push(s_end);
        let mut stations =
            Vec::with_capacity(((s_end - s_start) / step) as usize + breaks.len() + 1);
        for pair in breaks.windows(2) {
            let pieces = ((pair[1] - pair[0]) / step).ceil().max(1.0) as usize;
            stations.extend(
                (0..pieces).map(|i| pair[0] + (pair[1] - pair[0]) * i as f64 / pieces as f64),
            );
        }
        stations.push(s_end);
        stations
    }
}

/// Piecewise cubic records along s (`<elevation>`, `<laneOffset>`, `<width>`): each
/// holds from its start to the next one's.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CubicProfile {
    /// (start s, [a, b, c, d]) sorted by start.
    pub records: Vec<(f64, [f64; 4])>,
}

impl CubicProfile {
    /// The value at `s`; zero where there are no records.
    pub fn at(&self, s: f64) -> f64 {
        let index = self
            .records
            .partition_point(|(start, _)| *start <= s)
            .saturating_sub(1);
        self.records
            .get(index)
            .map_or(0.0, |(start, k)| cubic(k, s - start))
    }

    pub fn is_zero(&self) -> bool {
        self.records
            .iter()
            .all(|(_, k)| k.iter().all(|c| *c == 0.0))
    }
}

// Gauss–Legendre quadrature. With n = 12 nodes on a piece of length h the error is
//   h^(2n+1)·(n!)⁴ / ((2n+1)·((2n)!)³) · |f^(2n)| ≈ 8.9e-39 · h^25 · |f^(24)|.
// For f = cos or sin of a heading θ(s) with curvature |κ| ≤ K and curvature rate |κ'| = R,
// |f^(m)| ≤ (K + √(m·R))^m, so pieces with h·(K + √(24·R)) ≤ 2 keep the error per piece
// below 8.9e-39 · 2^24 · h ≈ 1.5e-31·h — far below double rounding: the integration is
// exact to machine precision.
const GAUSS_NODES: usize = 12;

/// Nodes and weights on [−1, 1], found once by Newton's method on the Legendre polynomial.
fn gauss_legendre() -> &'static [(f64, f64); GAUSS_NODES] {
    static RULE: OnceLock<[(f64, f64); GAUSS_NODES]> = OnceLock::new();
    RULE.get_or_init(|| {
        let n = GAUSS_NODES;
        let mut rule = [(0.0, 0.0); GAUSS_NODES];
        for (i, node) in rule.iter_mut().enumerate() {
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
            let mut derivative = 1.0;
            for _ in 0..100 {
                // Legendre recurrence up to P_n(x), then P_n'(x).
                let (mut p0, mut p1) = (1.0, x);
                for k in 2..=n {
                    let k = k as f64;
                    (p0, p1) = (p1, ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k);
                }
                derivative = n as f64 * (x * p1 - p0) / (x * x - 1.0);
                let step = p1 / derivative;
                x -= step;
                if step.abs() < 1e-16 {
                    break;
                }
            }
            *node = (x, 2.0 / ((1.0 - x * x) * derivative * derivative));
        }
        rule
    })
}

/// ∫ f over [a, b] split into `pieces` equal parts, for a two-component integrand.
fn integrate(a: f64, b: f64, pieces: usize, f: impl Fn(f64) -> (f64, f64)) -> (f64, f64) {
    let h = (b - a) / pieces as f64;
    let mut sum = (0.0, 0.0);
    for piece in 0..pieces {
        let mid = a + h * (piece as f64 + 0.5);
        for &(x, w) in gauss_legendre() {
            let (fx, fy) = f(mid + 0.5 * h * x);
            sum.0 += w * fx;
            sum.1 += w * fy;
        }
    }
    (0.5 * h * sum.0, 0.5 * h * sum.1)
}

/// Displacement after `length` metres along a clothoid starting at heading `hdg` with
/// curvature `curvature` changing at `rate` per metre: ∫ (cos θ, sin θ) ds with
/// θ(s) = hdg + curvature·s + rate·s²/2, integrated to machine precision (see above).
pub(crate) fn clothoid_displacement(
    hdg: f64,
    curvature: f64,
    rate: f64,
    length: f64,
) -> (f64, f64) {
    let max_curvature = curvature.abs().max((curvature + rate * length).abs());
    let pieces = (length.abs() * (max_curvature + (24.0 * rate.abs()).sqrt()) / 2.0)
        .ceil()
        .max(1.0) as usize;
    integrate(0.0, length, pieces, |s| {
        let theta = hdg + s * (curvature + 0.5 * rate * s);
        (theta.cos(), theta.sin())
    })
}

/// The local u at arc length `ds` along v(u): Newton's method on the arc-length integral.
fn poly3_parameter_at(k: &[f64; 4], ds: f64) -> f64 {
    let speed = |u: f64| cubic_slope(k, u).hypot(1.0);
    let arc_length = |u: f64| {
        // Pieces short against the curve's bending keep the quadrature exact as above.
        let bend = 2.0 * k[2].abs() + 6.0 * k[3].abs() * u.abs();
        let pieces = (u.abs() * (bend + 0.2) / 2.0).ceil().max(1.0) as usize;
        integrate(0.0, u, pieces, |w| (speed(w), 0.0)).0
    };
    let mut u = ds;
    for _ in 0..50 {
        let step = (arc_length(u) - ds) / speed(u);
        u -= step;
        if step.abs() < 1e-12 {
            break;
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;

    /// Fresnel integrals C(x) = ∫₀ˣ cos(πt²/2) dt, S(x) = ∫₀ˣ sin(πt²/2) dt by their power
    /// series (accurate to ~1e-15 for |x| ≤ 2).
    fn fresnel(x: f64) -> (f64, f64) {
        let (mut c, mut s) = (0.0, 0.0);
        let z = PI / 2.0 * x * x;
        let mut term = x; // (−1)^n z^(2n) x / (2n)!  and then ·z/(2n+1) for S
        for n in 0..40 {
            let n2 = 2 * n;
            c += term / (2 * n2 + 1) as f64;
            let s_term = term * z / (n2 + 1) as f64;
            s += s_term / (2 * n2 + 3) as f64;
            term *= -z * z / (((n2 + 1) * (n2 + 2)) as f64);
        }
        (c, s)
    }

    /// A geometry starting at the origin heading east.
    fn at_origin(length: f64, shape: Shape) -> Geometry {
        let start = Pose2 {
            x: 0.0,
            y: 0.0,
            hdg: 0.0,
        };
        Geometry {
            s: 0.0,
            start,
            length,
            shape,
        }
    }

    #[test]
    fn fresnel_series_matches_tabulated_values() {
        // C(1), S(1) from Abramowitz & Stegun table 7.7.
        let (c, s) = fresnel(1.0);
        assert!((c - 0.779_893_400_376_823).abs() < 1e-14, "{c}");
        assert!((s - 0.438_259_147_390_355).abs() < 1e-14, "{s}");
    }

    #[test]
    fn clothoid_end_point_matches_fresnel_closed_form() {
        // κ(s) = s/A²: x = A√π·C(L/(A√π)), y = A√π·S(L/(A√π)).
        for (a, length) in [(10.0, 15.0), (30.0, 50.0), (5.0, 9.0)] {
            let geometry = at_origin(
                length,
                Shape::Spiral {
                    curv_start: 0.0,
                    curv_end: length / (a * a),
                },
            );
            let end = geometry.pose_at(length);
            let scale = a * PI.sqrt();
            let (c, s) = fresnel(length / scale);
            assert!(
                (end.x - scale * c).abs() < 1e-9,
                "x {} vs {}",
                end.x,
                scale * c
            );
            assert!(
                (end.y - scale * s).abs() < 1e-9,
                "y {} vs {}",
                end.y,
                scale * s
            );
            assert!((end.hdg - length * length / (2.0 * a * a)).abs() < 1e-12);
        }
    }

    #[test]
    fn spiral_with_start_curvature_continues_the_closed_form() {
        // The stretch s ∈ [L1, L2] of the clothoid κ = s/A², started at its pose at L1.
        let (a, l1, l2) = (20.0, 10.0, 35.0);
        let scale = a * PI.sqrt();
        let (c1, s1) = fresnel(l1 / scale);
        let (c2, s2) = fresnel(l2 / scale);
        let geometry = Geometry {
            s: 0.0,
            start: Pose2 {
                x: scale * c1,
                y: scale * s1,
                hdg: l1 * l1 / (2.0 * a * a),
            },
            length: l2 - l1,
            shape: Shape::Spiral {
                curv_start: l1 / (a * a),
                curv_end: l2 / (a * a),
            },
        };
        let end = geometry.pose_at(l2 - l1);
        assert!(
            (end.x - scale * c2).abs() < 1e-9 && (end.y - scale * s2).abs() < 1e-9,
            "{end:?}"
        );
    }

    /// Composite Simpson with many intervals: slow but simple, an independent reference.
    fn simpson_clothoid(hdg: f64, curvature: f64, rate: f64, length: f64) -> (f64, f64) {
        let n = 20_000;
        let h = length / n as f64;
        let (mut x, mut y) = (0.0, 0.0);
        for i in 0..=n {
            let weight = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            let s = i as f64 * h;
            let theta = hdg + curvature * s + 0.5 * rate * s * s;
            x += weight * theta.cos();
            y += weight * theta.sin();
        }
        (x * h / 3.0, y * h / 3.0)
    }

    proptest::proptest! {
        #[test]
        fn spirals_match_a_fine_reference_integration(
            hdg in -3.2f64..3.2,
            curv_start in -0.2f64..0.2,
            curv_end in -0.2f64..0.2,
            length in 0.5f64..150.0,
        ) {
            let geometry = Geometry {
                s: 0.0,
                start: Pose2 { x: 0.0, y: 0.0, hdg },
                length,
                shape: Shape::Spiral { curv_start, curv_end },
            };
            let end = geometry.pose_at(length);
            let (x, y) = simpson_clothoid(hdg, curv_start, (curv_end - curv_start) / length, length);
            proptest::prop_assert!((end.x - x).abs() < 1e-7 && (end.y - y).abs() < 1e-7, "{end:?} vs {x} {y}");
        }

        #[test]
        fn constant_curvature_spiral_is_the_arc(
            curvature in -0.3f64..0.3, length in 0.5f64..100.0, hdg in -3.2f64..3.2,
        ) {
            let start = Pose2 { x: 5.0, y: -3.0, hdg };
            let spiral = Geometry {
                s: 0.0,
                start,
                length,
                shape: Shape::Spiral { curv_start: curvature, curv_end: curvature },
            };
            let arc = Geometry { shape: Shape::Arc { curvature }, ..spiral.clone() };
            let (a, b) = (spiral.pose_at(length), arc.pose_at(length));
            proptest::prop_assert!((a.x - b.x).abs() < 1e-9 && (a.y - b.y).abs() < 1e-9);
            proptest::prop_assert!((a.hdg - b.hdg).abs() < 1e-12);
        }
    }

    #[test]
    fn arc_end_point_is_on_its_circle() {
        // A quarter circle of radius 50 turning left from heading east, starting at (10, 20).
        let radius = 50.0;
        let geometry = Geometry {
            s: 0.0,
            start: Pose2 {
                x: 10.0,
                y: 20.0,
                hdg: 0.0,
            },
            length: PI / 2.0 * radius,
            shape: Shape::Arc {
                curvature: 1.0 / radius,
            },
        };
        let end = geometry.pose_at(geometry.length);
        assert!(
            (end.x - 60.0).abs() < 1e-9 && (end.y - 70.0).abs() < 1e-9,
            "{end:?}"
        );
        assert!((end.hdg - PI / 2.0).abs() < 1e-12);
        // A zero-curvature arc is a line.
        let straight = Geometry {
            shape: Shape::Arc { curvature: 0.0 },
            ..geometry.clone()
        };
        let end = straight.pose_at(5.0);
        assert!((end.x - 15.0).abs() < 1e-12 && (end.y - 20.0).abs() < 1e-12);
    }

    #[test]
    fn param_poly3_straight_and_normalized_agree() {
        // u = p·L, v = 0 normalised is the same line as u = p over [0, L].
        let start = Pose2 {
            x: 1.0,
            y: 2.0,
            hdg: PI / 4.0,
        };
        let normalized = Geometry {
            s: 0.0,
            start,
            length: 10.0,
            shape: Shape::ParamPoly3 {
                u: [0.0, 10.0, 0.0, 0.0],
                v: [0.0; 4],
                normalized: true,
            },
        };
        let by_length = Geometry {
            shape: Shape::ParamPoly3 {
                u: [0.0, 1.0, 0.0, 0.0],
                v: [0.0; 4],
                normalized: false,
            },
            ..normalized.clone()
        };
        let (a, b) = (normalized.pose_at(10.0), by_length.pose_at(10.0));
        assert!((a.x - b.x).abs() < 1e-12 && (a.y - b.y).abs() < 1e-12);
        assert!((a.x - (1.0 + 10.0 / 2f64.sqrt())).abs() < 1e-12);
    }

    #[test]
    fn poly3_follows_its_arc_length() {
        // v = 0.01·u²: the arc length from 0 to u is known in closed form.
        let k = [0.0, 0.0, 0.01, 0.0];
        let geometry = at_origin(30.0, Shape::Poly3 { coefficients: k });
        let u: f64 = 25.0;
        let w = 0.02 * u; // v'(u)
        let arc = (w * w.hypot(1.0) + w.asinh()) / (2.0 * 0.02);
        let pose = geometry.pose_at(arc);
        assert!(
            (pose.x - u).abs() < 1e-9 && (pose.y - 0.01 * u * u).abs() < 1e-9,
            "{pose:?}"
        );
        assert!((pose.hdg - w.atan()).abs() < 1e-12);
    }

    #[test]
    fn stations_keep_breaks_and_step() {
        let line = ReferenceLine {
            geometries: vec![
                Geometry {
                    s: 0.0,
                    start: Pose2 {
                        x: 0.0,
                        y: 0.0,
                        hdg: 0.0,
                    },
                    length: 2.5,
                    shape: Shape::Line,
                },
                Geometry {
                    s: 2.5,
                    start: Pose2 {
                        x: 2.5,
                        y: 0.0,
                        hdg: 0.0,
                    },
                    length: 3.0,
                    shape: Shape::Line,
                },
            ],
        };
        let stations = line.stations(0.0, 5.5, 1.0, &[4.0]);
        assert!(stations.contains(&2.5) && stations.contains(&4.0) && stations.contains(&5.5));
        assert!(stations
            .windows(2)
            .all(|w| w[1] > w[0] && w[1] - w[0] <= 1.0 + 1e-12));
        assert_eq!(line.pose_at(4.0).x, 4.0);
    }
}
