//! GFLOP/s of one product on one thread, for the shapes the airbench
//! layout's Winograd convolutions multiply (blocks of 96 tiles; 24, 64
//! and 256 channels) and a thin dense-layer product, on each kernel this
//! CPU can run: the fastest path, the runtime's AVX2 kernels, and
//! `matrixmultiply`. Best of 8 rounds, the kernels alternating within
//! each round, as this machine's speed drifts between seconds.
//!
//! `cargo bench -p cnn-runtime --bench sgemm`

use cnn_runtime::kernels::gemm::{sgemm_with, Kernel, MatRef, Path};
use std::time::Instant;

fn main() {
    let mut kernels = vec![Kernel::Fastest, Kernel::MatrixMultiply];
    if Path::Avx2.supported() {
        kernels.insert(1, Kernel::Avx2);
    }
    // (what, m, k, n, A transposed): `M = V U` is m = tiles, k = channels,
    // n = filters; `dU = Vᵀ dM` has A transposed; `dV = dM Uᵀ`.
    let shapes = [
        ("M = V U, 24 -> 64", 96, 24, 64, false),
        ("M = V U, 64 -> 64", 96, 64, 64, false),
        ("M = V U, 64 -> 256", 96, 64, 256, false),
        ("M = V U, 256 -> 256", 96, 256, 256, false),
        ("dU = Vᵀ dM, 256 -> 256", 256, 96, 256, true),
        ("dV = dM Uᵀ, 256 -> 64", 96, 256, 64, false),
        ("dense, 16 rows, 2304 -> 512", 16, 2304, 512, false),
    ];
    println!("GFLOP/s, one thread, best of 8 rounds; kernels: {kernels:?}");
    for (what, m, k, n, transposed) in shapes {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.1).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.1).collect();
        let mut c = vec![0.0f32; m * n];
        let flops = 2.0 * (m * k * n) as f64;
        let reps = (2e8 / flops).ceil() as usize;
        let mut best = vec![f64::MAX; kernels.len()];
        for _ in 0..8 {
            for (best, &kernel) in best.iter_mut().zip(&kernels) {
                let start = Instant::now();
                for _ in 0..reps {
                    let am = if transposed { MatRef::t(&a, m) } else { MatRef::n(&a, k) };
                    sgemm_with(kernel, m, k, n, 1.0, am, MatRef::n(&b, n), 0.0, &mut c, n);
                }
                *best = best.min(start.elapsed().as_secs_f64() / reps as f64);
            }
        }
        let rates: Vec<String> = best.iter().map(|t| format!("{:.0}", flops / t / 1e9)).collect();
        println!("{what:30} {m}x{k}x{n}: {}", rates.join(" / "));
    }
}
