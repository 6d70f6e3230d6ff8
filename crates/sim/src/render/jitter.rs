//! The world is not exactly the map: the scene draws landmarks where the map puts them plus
//! a seeded error of σ = 5 cm per axis, the way a surveyed HD map differs from the street it
//! describes. Signs move in 3-D; poles, lane lines and stop lines move in plan only, so that
//! paint stays on the road and poles on the ground. Along a line the error drifts smoothly
//! (an AR(1) walk with a 10 m correlation length) rather than kinking at every vertex.

use mapfix_core::Vec3;
use mapfix_map::Map;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Standard deviation (m) of the map-to-world error on each axis.
pub const LANDMARK_SIGMA: f64 = 0.05;
/// Distance (m) over which the error along a line decorrelates to 1/e.
const CORRELATION_LENGTH: f64 = 10.0;
/// Keeps the jitter's random stream apart from the scene's other draws from the same seed.
const JITTER_SALT: u64 = 0x6A17_7E25_0000_0005;

/// The world as drawn: `map` with every landmark displaced by its seeded error.
pub(crate) fn drawn_world(map: &Map, seed: u64) -> Map {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ JITTER_SALT);
    let normal = Normal::new(0.0, LANDMARK_SIGMA).expect("positive sigma");
    let mut draw = || normal.sample(&mut rng);
    let mut drawn = map.clone();
    for sign in &mut drawn.signs {
        sign.position += Vec3::new(draw(), draw(), draw());
    }
    for pole in &mut drawn.poles {
        pole.base += Vec3::new(draw(), draw(), 0.0);
    }
    let lines = drawn
        .lane_lines
        .iter_mut()
        .map(|l| &mut l.line)
        .chain(&mut drawn.stop_lines);
    for line in lines {
        let mut error = Vec3::new(draw(), draw(), 0.0);
        for k in 0..line.points.len() {
            if k > 0 {
                let step = (line.points[k] - line.points[k - 1]).norm();
                let keep = (-step / CORRELATION_LENGTH).exp();
                let fresh = (1.0 - keep * keep).sqrt();
                error = error * keep + Vec3::new(draw(), draw(), 0.0) * fresh;
            }
            line.points[k] += error;
        }
    }
    drawn
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::tests::signed_crossroads;

    #[test]
    fn landmarks_move_by_about_five_centimetres_and_paint_stays_on_the_road() {
        let map = signed_crossroads();
        let a = drawn_world(&map, 3);
        assert_eq!(a, drawn_world(&map, 3), "seeded");
        assert_ne!(a, drawn_world(&map, 4));
        let mut squares = Vec::new();
        for (line, drawn) in map.lane_lines.iter().zip(&a.lane_lines) {
            for (p, q) in line.line.points.iter().zip(&drawn.line.points) {
                assert_eq!(p.z, q.z);
                squares.extend([(q.x - p.x).powi(2), (q.y - p.y).powi(2)]);
            }
        }
        for (s, t) in map.signs.iter().zip(&a.signs) {
            let d = t.position - s.position;
            squares.extend([d.x * d.x, d.y * d.y, d.z * d.z]);
        }
        let rms = (squares.iter().sum::<f64>() / squares.len() as f64).sqrt();
        assert!(
            (0.02..0.09).contains(&rms),
            "rms error per axis {rms} m over {} values",
            squares.len()
        );
    }
}
