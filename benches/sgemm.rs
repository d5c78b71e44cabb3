//! GFLOP/s of the runtime's sgemm (its AVX-512 kernels where the CPU has
//! them, `matrixmultiply` otherwise) for every product one training step
//! of the seed network makes, as the runtime calls it: im2col per image for
//! `conv2d_1`, one of the 16 Winograd planes per block of tiles (64, 42 and
//! 32 tiles) for the 3x3 convs over 32 or 64 channels, a chunk of 16 images
//! for `dense_1`'s forward and input gradient, and a block of 64 rows of
//! its kernel gradient per chunk; and for a large square product, the
//! kernel's own ceiling.
//!
//! `cargo bench --bench sgemm`: one thread, then both cores at once (one
//! product per core, as the runtime's chunks run), for the runtime's sgemm
//! as the layers call it and for `matrixmultiply` alone.

use cnn::__rt::gemm::{sgemm_with, Kernel, MatRef};
use std::time::{Duration, Instant};

/// (what, m, k, n, A transposed, B transposed)
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("conv2d_1 forward     ", 1024, 27, 32, false, false),
    ("conv2d_1 dW          ", 27, 1024, 32, true, false),
    ("conv2d_2 wino fwd    ", 64, 32, 32, false, false),
    ("conv2d_2 wino dW     ", 32, 64, 32, true, false),
    ("conv2d_2 wino dX     ", 64, 32, 32, false, false),
    ("conv2d_3 wino fwd    ", 42, 32, 64, false, false),
    ("conv2d_3 wino dW     ", 32, 42, 64, true, false),
    ("conv2d_3 wino dX     ", 42, 64, 32, false, false),
    ("conv2d_4 wino fwd    ", 32, 64, 64, false, false),
    ("conv2d_4 wino dW     ", 64, 32, 64, true, false),
    ("conv2d_4 wino dX     ", 32, 64, 64, false, false),
    ("dense_1 forward (16) ", 16, 2304, 512, false, false),
    ("dense_1 dW (64 rows) ", 64, 16, 512, true, false),
    ("dense_1 dX (16)      ", 16, 512, 2304, false, true),
    ("square 1024          ", 1024, 1024, 1024, false, false),
];

fn gflops(kernel: Kernel, (m, k, n): (usize, usize, usize), ta: bool, tb: bool, budget: Duration) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let a = if ta { MatRef::t(&a, m) } else { MatRef::n(&a, k) };
    let b = if tb { MatRef::t(&b, k) } else { MatRef::n(&b, n) };
    let start = Instant::now();
    let mut reps = 0usize;
    while reps < 3 || start.elapsed() < budget {
        sgemm_with(kernel, m, k, n, 1.0, a, b, 0.0, &mut c, n);
        reps += 1;
    }
    2.0 * (m * k * n * reps) as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let budget = Duration::from_millis(400);
    println!("{:<22} {:>5} {:>5} {:>5}  {:>21}  {:>21}", "", "", "", "", "runtime's sgemm", "matrixmultiply");
    println!(
        "{:<22} {:>5} {:>5} {:>5}  {:>9}  {:>9}  {:>9}  {:>9}",
        "product", "m", "k", "n", "1 thread", "2 threads", "1 thread", "2 threads"
    );
    for &(what, m, k, n, ta, tb) in SHAPES {
        let rates = [Kernel::Fastest, Kernel::MatrixMultiply].map(|kernel| {
            let one = gflops(kernel, (m, k, n), ta, tb, budget);
            let two: f64 = std::thread::scope(|s| {
                let handles: Vec<_> =
                    (0..2).map(|_| s.spawn(move || gflops(kernel, (m, k, n), ta, tb, budget))).collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            (one, two)
        });
        let [(a, b), (c, d)] = rates;
        println!("{what:<22} {m:>5} {k:>5} {n:>5}  {a:>6.1} GF  {b:>6.1} GF  {c:>6.1} GF  {d:>6.1} GF");
    }
}
