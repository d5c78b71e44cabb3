//! GFLOP/s of each sgemm this crate could use, on the products one
//! training step makes as the engine calls them: the seed network at batch
//! 32 (units of 4 images; im2col per image for `conv2d_1`, one of the 16
//! Winograd planes per block of tiles for the 3x3 convs, `dense_1` over the
//! whole batch in blocks of 64 columns and of 64 kernel rows) and the
//! airbench94 layout at batch 512 (units of 32 images; Winograd blocks of
//! at least 96 tiles for F(2x2), of 128 for the wide layers' F(4x4));
//! and a large square
//! product, each kernel's ceiling.
//!
//! Four kernels: the runtime's own AVX-512 kernel (no packing) and AVX2
//! kernel (panels of `B` packed on the stack where 24 or more rows read them),
//! the `gemm` crate (which on stable Rust runs its AVX2 + FMA kernels: its
//! AVX-512 ones need its `nightly` feature), and `matrixmultiply`.
//!
//! `cargo run --release --manifest-path tools/sgemm-bench/Cargo.toml`: one
//! thread, then both cores at once (one product per core, as the engine's
//! units run).
//!
//! `-- --planes 16` gives each round of products 16 sets of operands and
//! takes them in turn, as a Winograd block's 16 planes come one after the
//! other: each product then starts with its operands out of the core's
//! caches, as in a training step. With one set (the default) they stay in
//! cache, and the figures are each kernel's best case.

use cnn_runtime::kernels::gemm::{sgemm_with, Kernel, MatRef, Op};
use std::time::{Duration, Instant};

/// (what, m, k, n, A transposed, B transposed)
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("seed conv2d_1 fwd", 1024, 27, 32, false, false),
    ("seed conv2d_1 dW", 27, 1024, 32, true, false),
    ("seed conv2d_2 fwd", 64, 32, 32, false, false),
    ("seed conv2d_2 dW", 32, 64, 32, true, false),
    ("seed conv2d_3 fwd", 42, 32, 64, false, false),
    ("seed conv2d_3 dX", 42, 64, 32, false, false),
    ("seed conv2d_4 fwd", 32, 64, 64, false, false),
    ("seed conv2d_4 dW", 64, 32, 64, true, false),
    ("seed dense_1 fwd", 32, 2304, 64, false, false),
    ("seed dense_1 dW", 64, 32, 512, true, false),
    ("seed dense_1 dX", 32, 512, 64, false, true),
    ("air whiten fwd", 961, 12, 24, false, false),
    ("air 24>64 fwd", 96, 24, 64, false, false),
    ("air 24>64 dW", 24, 96, 64, true, false),
    ("air 64>64 fwd", 96, 64, 64, false, false),
    ("air 64>256 fwd", 128, 64, 256, false, false),
    ("air 64>256 dW", 64, 128, 256, true, false),
    ("air 64>256 dX", 128, 256, 64, false, false),
    ("air 256>256 fwd", 128, 256, 256, false, false),
    ("air 256>256 dW", 256, 128, 256, true, false),
    ("square 1024", 1024, 1024, 1024, false, false),
];

/// The kernels compared, by column.
#[derive(Clone, Copy)]
enum Which {
    Runtime(Kernel),
    GemmCrate,
}

const COLUMNS: [(&str, Which); 4] = [
    ("own avx512", Which::Runtime(Kernel::Fastest)),
    ("own avx2", Which::Runtime(Kernel::Avx2)),
    ("gemm crate", Which::GemmCrate),
    ("matrixmul.", Which::Runtime(Kernel::MatrixMultiply)),
];

/// `C = A B` with the `gemm` crate, on one thread. Its convention is
/// `dst = alpha dst + beta lhs rhs`, with `read_dst` false for `C = A B`.
fn gemm_crate(m: usize, k: usize, n: usize, a: MatRef, b: MatRef, c: &mut [f32]) {
    let (lhs_rs, lhs_cs) = if a.op == Op::N { (a.ld, 1) } else { (1, a.ld) };
    let (rhs_rs, rhs_cs) = if b.op == Op::N { (b.ld, 1) } else { (1, b.ld) };
    assert!(a.data.len() >= m * k && b.data.len() >= k * n && c.len() >= m * n);
    // SAFETY: A (m x k), B (k x n) and C (m x n, row-major) lie inside
    // their slices at these strides (asserted above), and C aliases neither.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.data.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            b.data.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn gflops(
    kernel: Which,
    (m, k, n): (usize, usize, usize),
    (ta, tb): (bool, bool),
    planes: usize,
    budget: Duration,
) -> f64 {
    let a: Vec<f32> = (0..planes * m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..planes * k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; planes * m * n];
    let start = Instant::now();
    let mut reps = 0usize;
    while reps < 3 || start.elapsed() < budget {
        let p = reps % planes;
        let (a, b, c) = (&a[p * m * k..][..m * k], &b[p * k * n..][..k * n], &mut c[p * m * n..][..m * n]);
        let a = if ta { MatRef::t(a, m) } else { MatRef::n(a, k) };
        let b = if tb { MatRef::t(b, k) } else { MatRef::n(b, n) };
        match kernel {
            Which::Runtime(kernel) => sgemm_with(kernel, m, k, n, 1.0, a, b, 0.0, c, n),
            Which::GemmCrate => gemm_crate(m, k, n, a, b, c),
        }
        reps += 1;
    }
    2.0 * (m * k * n * reps) as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let budget = Duration::from_millis(250);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let planes = match args.as_slice() {
        [] => 1,
        [flag, n] if flag == "--planes" => n.parse().ok().filter(|&n| n > 0).unwrap_or_else(|| usage()),
        _ => usage(),
    };
    print!("{:<18} {:>5} {:>5} {:>5}", "GFLOP/s: 1 / 2 thr", "m", "k", "n");
    for (name, _) in COLUMNS {
        print!("  {name:>13}");
    }
    println!();
    for &(what, m, k, n, ta, tb) in SHAPES {
        print!("{what:<18} {m:>5} {k:>5} {n:>5}");
        for (_, kernel) in COLUMNS {
            let one = gflops(kernel, (m, k, n), (ta, tb), planes, budget);
            let two: f64 = std::thread::scope(|s| {
                let handles: Vec<_> =
                    (0..2).map(|_| s.spawn(move || gflops(kernel, (m, k, n), (ta, tb), planes, budget))).collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            print!("  {one:>5.1} / {two:>5.1}");
        }
        println!();
    }
}

fn usage() -> ! {
    eprintln!("usage: sgemm-bench [--planes N]   (N sets of operands taken in turn; default 1)");
    std::process::exit(2)
}
