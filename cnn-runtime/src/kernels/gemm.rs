//! The one place that multiplies matrices, behind a safe function that
//! checks every index it could touch. Three paths, chosen once per process
//! ([`path`]): the runtime's own kernels, which never allocate, for
//! AVX-512 (`avx512`) or AVX2 with FMA (`avx2`), wherever `B` is row-major or `A`
//! is while `B` is transposed; and `matrixmultiply::sgemm`, the portable
//! path, for every other CPU and the one layout the own kernels leave.
//!
//! `CNN_SGEMM=avx512`, `avx2` or `matrixmultiply` forces a path, so that
//! one machine can measure and test each (CI runs the Keras references on
//! all three); unset, the widest the CPU has runs.

use super::{avx2, avx512};
use std::sync::OnceLock;

/// Which kernels multiply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// The runtime's 16-lane kernels (AVX-512F).
    Avx512,
    /// The runtime's 8-lane kernels (AVX2 and FMA).
    Avx2,
    /// `matrixmultiply` for every product.
    MatrixMultiply,
}

impl Path {
    /// The name `CNN_SGEMM` takes.
    pub fn name(self) -> &'static str {
        match self {
            Path::Avx512 => "avx512",
            Path::Avx2 => "avx2",
            Path::MatrixMultiply => "matrixmultiply",
        }
    }

    /// Whether this CPU can run the path.
    pub fn supported(self) -> bool {
        match self {
            Path::Avx512 => avx512::supported(),
            Path::Avx2 => avx2::supported(),
            Path::MatrixMultiply => true,
        }
    }

    /// The path a value of `CNN_SGEMM` asks for (`None`: the widest this
    /// CPU has), or why it cannot run here.
    pub fn from_setting(setting: Option<&str>) -> Result<Path, String> {
        let all = [Path::Avx512, Path::Avx2, Path::MatrixMultiply];
        let Some(setting) = setting else {
            return Ok(all.into_iter().find(|p| p.supported()).unwrap_or(Path::MatrixMultiply));
        };
        let here: Vec<_> = all.iter().filter(|p| p.supported()).map(|p| p.name()).collect();
        match all.into_iter().find(|p| p.name() == setting) {
            Some(p) if p.supported() => Ok(p),
            Some(p) => Err(format!(
                "CNN_SGEMM={}: this CPU lacks the instructions it needs; paths here: {}",
                p.name(),
                here.join(", ")
            )),
            None => Err(format!("CNN_SGEMM={setting}: unknown path; paths here: {}", here.join(", "))),
        }
    }
}

/// The path every product takes in this process: `CNN_SGEMM` read once.
///
/// # Panics
///
/// If `CNN_SGEMM` names an unknown path or one this CPU cannot run: a
/// benchmark or test that forces a path must not silently measure another.
pub fn path() -> Path {
    static PATH: OnceLock<Path> = OnceLock::new();
    *PATH.get_or_init(|| {
        let setting = std::env::var("CNN_SGEMM").ok();
        Path::from_setting(setting.as_deref()).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// How a matrix operand is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Row-major as given: element `(i, j)` at `i * ld + j`.
    N,
    /// The transpose of a row-major matrix: element `(i, j)` at `j * ld + i`.
    T,
}

/// A read-only operand: its storage, leading dimension and orientation.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub ld: usize,
    pub op: Op,
}

impl<'a> MatRef<'a> {
    pub fn n(data: &'a [f32], ld: usize) -> Self {
        MatRef { data, ld, op: Op::N }
    }
    pub fn t(data: &'a [f32], ld: usize) -> Self {
        MatRef { data, ld, op: Op::T }
    }

    /// (row stride, column stride) of the logical `rows x cols` matrix,
    /// after checking that its last element lies inside `data`.
    fn strides(&self, rows: usize, cols: usize, what: &str) -> (isize, isize) {
        let (rs, cs) = match self.op {
            Op::N => (self.ld, 1),
            Op::T => (1, self.ld),
        };
        let minor = if self.op == Op::N { cols } else { rows };
        assert!(self.ld >= minor, "sgemm: {what} leading dimension {} < {minor}", self.ld);
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * rs + (cols - 1) * cs;
            assert!(
                last < self.data.len(),
                "sgemm: {what} ({rows}x{cols}) reaches past its {} values",
                self.data.len()
            );
        }
        (rs as isize, cs as isize)
    }
}

/// Whether [`Kernel::Fastest`] runs the runtime's own kernels (which
/// never allocate) for every layout but two transposed operands.
pub fn own_kernels() -> bool {
    path() != Path::MatrixMultiply
}

/// Which kernel multiplies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// The kernels of [`path`] where the layout allows, `matrixmultiply`
    /// otherwise: what every layer uses.
    Fastest,
    /// The runtime's AVX2 kernels where the layout allows, whatever
    /// [`path`] says: for the tests and `benches/sgemm.rs` on a CPU that
    /// also has AVX-512. Panics on a CPU without AVX2 and FMA.
    Avx2,
    /// `matrixmultiply` always, to compare against (`benches/sgemm.rs`).
    MatrixMultiply,
}

/// `C = alpha * A * B + beta * C` with `A: m x k`, `B: k x n`, and `C`
/// row-major `m x n` with leading dimension `ldc`. With `beta == 0`, `C` is
/// only written, never read.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(m: usize, k: usize, n: usize, alpha: f32, a: MatRef, b: MatRef, beta: f32, c: &mut [f32], ldc: usize) {
    sgemm_with(Kernel::Fastest, m, k, n, alpha, a, b, beta, c, ldc);
}

/// [`sgemm`] with the kernel chosen.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_with(
    kernel: Kernel,
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    let (rsa, csa) = a.strides(m, k, "A");
    let (rsb, csb) = b.strides(k, n, "B");
    assert!(ldc >= n, "sgemm: C leading dimension {ldc} < {n}");
    if m == 0 || n == 0 {
        return;
    }
    assert!((m - 1) * ldc + n <= c.len(), "sgemm: C ({m}x{n}) reaches past its {} values", c.len());
    let own = match kernel {
        Kernel::Fastest => path(),
        Kernel::Avx2 => {
            assert!(Path::Avx2.supported(), "sgemm: Kernel::Avx2 on a CPU without AVX2 and FMA");
            Path::Avx2
        }
        Kernel::MatrixMultiply => Path::MatrixMultiply,
    };
    #[cfg(target_arch = "x86_64")]
    if k > 0 && own != Path::MatrixMultiply {
        let wide = own == Path::Avx512;
        match (a.op, b.op) {
            (_, Op::N) => {
                let kernel = if wide { avx512::sgemm } else { avx2::sgemm };
                let (a, b) = ((a.data.as_ptr(), rsa, csa), (b.data.as_ptr(), b.ld));
                // SAFETY: every element of A, B and C lies inside its slice
                // (checked above) and C, borrowed mutably, aliases neither;
                // k > 0, and the CPU has the path's instructions (`path`
                // and the assert above only give a supported one).
                unsafe { kernel((m, k, n), alpha, a, b, beta, (c.as_mut_ptr(), ldc)) };
                return;
            }
            (Op::N, Op::T) => {
                let kernel = if wide { avx512::sgemm_nt } else { avx2::sgemm_nt };
                let (a, b) = ((a.data.as_ptr(), a.ld), (b.data.as_ptr(), b.ld));
                // SAFETY: as above: A's rows (a.ld apart) and B's rows (the
                // rows of its transpose, b.ld apart) were checked the same.
                unsafe { kernel((m, k, n), alpha, a, b, beta, (c.as_mut_ptr(), ldc)) };
                return;
            }
            (Op::T, Op::T) => {}
        }
    }
    // SAFETY: every element of A (m x k), B (k x n) and C (m x n) at the
    // strides passed lies inside its slice (checked above); C is borrowed
    // mutably, so it cannot alias A or B, and ldc >= n keeps its elements
    // distinct.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            rsa,
            csa,
            b.data.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            ldc as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kernel this CPU can run.
    fn kernels() -> Vec<Kernel> {
        let mut all = vec![Kernel::Fastest, Kernel::MatrixMultiply];
        if Path::Avx2.supported() {
            all.push(Kernel::Avx2);
        }
        all
    }

    #[test]
    fn cnn_sgemm_names_each_path_and_refuses_others() {
        assert_eq!(Path::from_setting(Some("matrixmultiply")), Ok(Path::MatrixMultiply));
        let unknown = Path::from_setting(Some("avx1024")).unwrap_err();
        assert!(unknown.contains("CNN_SGEMM=avx1024: unknown path; paths here:"), "{unknown}");
        assert!(unknown.contains("matrixmultiply"), "{unknown}");
        for p in [Path::Avx512, Path::Avx2] {
            let got = Path::from_setting(Some(p.name()));
            if p.supported() {
                assert_eq!(got, Ok(p));
            } else {
                assert!(got.unwrap_err().contains("lacks the instructions"));
            }
        }
        let best = Path::from_setting(None).unwrap();
        assert!(best.supported());
        if Path::Avx512.supported() {
            assert_eq!(best, Path::Avx512);
        }
    }

    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a(i, p) * b(p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn transposed_operands_match_naive_product() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut c = vec![f32::NAN; m * n];
        // A^T stored as k x m, B as k x n.
        let at: Vec<f32> = (0..k * m).map(|idx| a[(idx % m) * k + idx / m]).collect();
        sgemm(m, k, n, 1.0, MatRef::t(&at, m), MatRef::n(&b, n), 0.0, &mut c, n);
        let want = naive(m, k, n, |i, p| a[i * k + p], |p, j| b[p * n + j]);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
    }

    /// Every register-tile height (1 to 12 rows and past), column edges
    /// inside either 16-lane half, depths across a `KC` pass, products tall
    /// enough for the own kernels to pack `B` (24 rows for AVX2's, 48 for
    /// AVX-512's) with narrow last panels, `A` both ways,
    /// `B` both ways (each layout the AVX-512 kernels take, and one they
    /// leave to matrixmultiply), with C overwritten (its NaNs never read)
    /// or accumulated into; on the fastest path and on matrixmultiply's.
    #[test]
    fn every_edge_of_the_register_tiles_matches_naive_product() {
        for (m, k, n) in [
            (1, 1, 1),
            (13, 5, 17),
            (25, 300, 33),
            (12, 64, 32),
            (7, 513, 70),
            (30, 2, 15),
            (50, 270, 45),
            (97, 31, 16),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
            let at: Vec<f32> = (0..k * m).map(|idx| a[(idx % m) * k + idx / m]).collect();
            let bt: Vec<f32> = (0..n * k).map(|idx| b[(idx % k) * n + idx / k]).collect();
            let want = naive(m, k, n, |i, p| a[i * k + p], |p, j| b[p * n + j]);
            for (ta, tb, beta) in [
                (false, false, 0.0),
                (true, false, 0.0),
                (false, true, 0.0),
                (true, true, 0.0),
                (true, false, 1.0),
                (false, true, 1.0),
            ] {
                for kernel in kernels() {
                    let ma = if ta { MatRef::t(&at, m) } else { MatRef::n(&a, k) };
                    let mb = if tb { MatRef::t(&bt, k) } else { MatRef::n(&b, n) };
                    // One spare column in C, which must stay untouched.
                    let ldc = n + 1;
                    let start = if beta == 0.0 { f32::NAN } else { 0.5 };
                    let mut c: Vec<f32> = vec![start; m * ldc];
                    sgemm_with(kernel, m, k, n, 2.0, ma, mb, beta, &mut c, ldc);
                    for i in 0..m {
                        for j in 0..n {
                            let expect = 2.0 * want[i * n + j] + if beta == 0.0 { 0.0 } else { 0.5 };
                            let got = c[i * ldc + j];
                            let case = format!("{m}x{k}x{n} ta={ta} tb={tb} beta={beta} {kernel:?}");
                            assert!(
                                (got - expect).abs() <= 1e-4 * (1.0 + expect.abs()),
                                "{case}: C[{i}][{j}] = {got}, want {expect}"
                            );
                        }
                        let spare = c[i * ldc + n];
                        assert!(spare.is_nan() || spare == 0.5, "C's spare column was written");
                    }
                }
            }
        }
    }

    /// Every path (each AVX-512 kernel's layout and matrixmultiply's)
    /// checks C before writing to it.
    #[test]
    fn refuses_a_c_too_short_on_every_path() {
        let (a, b) = ([1.0f32; 12], [1.0f32; 12]);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for kernel in kernels() {
                let ma = if ta { MatRef::t(&a, 3) } else { MatRef::n(&a, 4) };
                let mb = if tb { MatRef::t(&b, 4) } else { MatRef::n(&b, 3) };
                let err = std::panic::catch_unwind(|| {
                    let mut c = [0.0f32; 8];
                    sgemm_with(kernel, 3, 4, 3, 1.0, ma, mb, 0.0, &mut c, 3);
                })
                .expect_err("C of 8 values for a 3x3 product");
                let msg = err.downcast_ref::<String>().map(String::as_str).unwrap_or("");
                assert!(msg.contains("reaches past"), "ta={ta} tb={tb} {kernel:?}: {msg}");
            }
        }
    }

    #[test]
    #[should_panic(expected = "reaches past")]
    fn refuses_an_operand_too_short() {
        let a = vec![0.0; 5];
        let mut c = vec![0.0; 4];
        sgemm(2, 3, 2, 1.0, MatRef::n(&a, 3), MatRef::n(&[0.0; 6], 2), 0.0, &mut c, 2);
    }
}
