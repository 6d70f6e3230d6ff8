use mapfix_solver::refine::*;
use mapfix_solver::synthetic::*;
use mapfix_solver::*;
use rand::SeedableRng;
use std::time::Instant;
fn main() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let spec = ProblemSpec {
        landmarks: 30,
        outlier_ratio: 0.3,
        noise_px: 1.0,
    };
    let problems: Vec<_> = (0..2000)
        .map(|_| dashcam_problem(&mut rng, &spec))
        .collect();
    let mut ws = AbsoluteWorkspace::default();
    let t = Instant::now();
    let mut iters = 0;
    let mut fixes = vec![];
    for p in &problems {
        let f = AbsolutePose
            .solve_in(&p.observations(), &SolveOptions::default(), &mut ws)
            .unwrap();
        iters += f.iterations;
        fixes.push((f, ws.inliers().to_vec()));
    }
    println!(
        "full {:.1}us/solve, mean LM iterations {:.1}",
        t.elapsed().as_secs_f64() * 1e6 / 2000.0,
        iters as f64 / 2000.0
    );
    let t = Instant::now();
    for p in &problems {
        let b: [Vec3; 3] = [p.bearings[0], p.bearings[1], p.bearings[2]];
        let x = [p.points[0], p.points[1], p.points[2]];
        std::hint::black_box(mapfix_solver::p3p::p3p(&b, &x));
    }
    println!("p3p {:.0}ns", t.elapsed().as_secs_f64() * 1e9 / 2000.0);
    let t = Instant::now();
    let mut it = 0;
    for (p, (f, mask)) in problems.iter().zip(&fixes) {
        let r = refine(
            &p.observations(),
            Some(mask),
            &p.truth,
            Freedom::Full,
            &RefineOptions {
                loss: Loss::Huber(0.003),
                max_iterations: 25,
            },
        );
        it += r.iterations;
    }
    println!(
        "LM from truth {:.1}us, iterations {:.1}",
        t.elapsed().as_secs_f64() * 1e6 / 2000.0,
        it as f64 / 2000.0
    );
}
