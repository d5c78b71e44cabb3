//! GFLOP/s of `matrixmultiply::sgemm` (through the runtime's checked
//! wrapper) for every product one training step of the seed network
//! makes, per image or per chunk of 16 images, as the runtime calls it;
//! and for a large square product, the kernel's own ceiling.
//!
//! `cargo bench --bench sgemm`: one thread, then both cores at once (one
//! product per core, as the runtime's chunks run).

use cnn::__rt::gemm::{sgemm, MatRef};
use std::time::{Duration, Instant};

/// (what, m, k, n, A transposed, B transposed)
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("conv2d_1 forward     ", 1024, 27, 32, false, false),
    ("conv2d_2 forward     ", 900, 288, 32, false, false),
    ("conv2d_3 forward     ", 225, 288, 64, false, false),
    ("conv2d_4 forward     ", 169, 576, 64, false, false),
    ("dense_1 forward (16) ", 16, 2304, 512, false, false),
    ("conv2d_1 dW          ", 27, 1024, 32, true, false),
    ("conv2d_2 dW          ", 288, 900, 32, true, false),
    ("conv2d_2 dX (cols)   ", 900, 32, 288, false, true),
    ("conv2d_3 dW          ", 288, 225, 64, true, false),
    ("conv2d_3 dX (cols)   ", 225, 64, 288, false, true),
    ("conv2d_4 dW          ", 576, 169, 64, true, false),
    ("conv2d_4 dX (cols)   ", 169, 64, 576, false, true),
    ("dense_1 dW (16)      ", 2304, 16, 512, true, false),
    ("dense_1 dX (16)      ", 16, 512, 2304, false, true),
    ("conv2d_2 fwd, 16 imgs", 14400, 288, 32, false, false),
    ("conv2d_3 fwd, 16 imgs", 3600, 288, 64, false, false),
    ("conv2d_4 fwd, 16 imgs", 2704, 576, 64, false, false),
    ("conv2d_2 dW, 16 imgs ", 288, 14400, 32, true, false),
    ("conv2d_4 dW, 16 imgs ", 576, 2704, 64, true, false),
    ("conv2d_2 dX, 16 imgs ", 14400, 32, 288, false, true),
    ("conv2d_4 dX, 16 imgs ", 2704, 64, 576, false, true),
    ("square 1024          ", 1024, 1024, 1024, false, false),
];

fn gflops(m: usize, k: usize, n: usize, ta: bool, tb: bool, budget: Duration) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let a = if ta { MatRef::t(&a, m) } else { MatRef::n(&a, k) };
    let b = if tb { MatRef::t(&b, k) } else { MatRef::n(&b, n) };
    let start = Instant::now();
    let mut reps = 0usize;
    while reps < 3 || start.elapsed() < budget {
        sgemm(m, k, n, 1.0, a, b, 0.0, &mut c, n);
        reps += 1;
    }
    2.0 * (m * k * n * reps) as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let budget = Duration::from_millis(400);
    println!("{:<22} {:>5} {:>5} {:>5}  {:>9}  {:>12}", "product", "m", "k", "n", "1 thread", "2 threads");
    for &(what, m, k, n, ta, tb) in SHAPES {
        let one = gflops(m, k, n, ta, tb, budget);
        let two: f64 = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2).map(|_| s.spawn(move || gflops(m, k, n, ta, tb, budget))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        println!("{what:<22} {m:>5} {k:>5} {n:>5}  {one:>7.1} GF  {two:>8.1} GF");
    }
}
