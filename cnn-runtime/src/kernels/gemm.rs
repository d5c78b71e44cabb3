//! The one place that multiplies matrices, behind a safe function that
//! checks every index it could touch. Three paths, chosen once per process
//! ([`path`]): the runtime's own kernels, which never allocate, for
//! AVX-512 (`avx512`) or AVX2 with FMA (`avx2`), wherever `B` is row-major or `A`
//! is while `B` is transposed; and `matrixmultiply::sgemm`, the portable
//! path, for every other CPU and the one layout the own kernels leave.
//!
//! `CNN_SGEMM=avx512`, `avx2` or `matrixmultiply` forces a path, so that
//! one machine can measure and test each (CI runs the Keras references on
//! all three); unset or empty, the widest the CPU has runs.
//!
//! Apart from the path, a process can ask for [`Precision::MixedBfloat16`]
//! ([`set_precision`]): every product then rounds its operands to
//! bfloat16 and runs on AMX's tile units (`amx.rs`) or AVX512_BF16's
//! `vdpbf16ps` (`dpbf16.rs`), summing in float32 (`bf16.rs`).

pub use super::bf16::Bf16Kernel;
use super::{avx2, avx512, bf16};
use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The precision of the products, as Keras names its dtype policies.
/// Weights, optimizer state, BatchNormalization's statistics, the loss and
/// every sum stay float32 under both: only the operands of each product
/// are rounded (to nearest, ties to even), as Keras's `mixed_bfloat16`
/// computes a layer from float32 variables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Every product in float32: the default, and what matches Keras's
    /// references.
    #[default]
    Float32,
    /// Every product's operands in bfloat16, its sums in float32, on AMX
    /// (Intel Xeon from Sapphire Rapids on, Linux 5.16 or later) or on
    /// AVX512_BF16 (AMD from Zen 4 on, Intel Cooper Lake). About
    /// 8 significant bits per operand (2-3 decimal digits): for training, not for
    /// matching float32 references.
    MixedBfloat16,
}

impl Precision {
    /// Keras's name of the policy.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::MixedBfloat16 => "mixed_bfloat16",
        }
    }

    /// The precision Keras calls `name`.
    pub fn from_name(name: &str) -> Result<Precision> {
        [Precision::Float32, Precision::MixedBfloat16]
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| Error::Input(format!("precision `{name}`: unknown; known: float32, mixed_bfloat16")))
    }

    /// Whether this CPU and system can run it.
    pub fn supported(self) -> bool {
        match self {
            Precision::Float32 => true,
            Precision::MixedBfloat16 => bf16::kernel().is_some(),
        }
    }
}

static MIXED_BFLOAT16: AtomicBool = AtomicBool::new(false);

/// Sets the precision of every product in this process from now on, as
/// Keras's `keras.mixed_precision.set_global_policy` does; an error, and
/// nothing changed, where the CPU or system cannot run it.
pub fn set_precision(precision: Precision) -> Result<()> {
    if !precision.supported() {
        return Err(Error::Input(format!(
            "precision `{}` needs AVX512_BF16 (AMD Zen 4 or later, Intel Cooper Lake) or AMX-BF16 (Intel Xeon, \
             Sapphire Rapids or later, on Linux 5.16 or later); this CPU or system has neither (float32 runs \
             everywhere)",
            precision.name()
        )));
    }
    MIXED_BFLOAT16.store(precision == Precision::MixedBfloat16, Ordering::Relaxed);
    Ok(())
}

/// The precision [`set_precision`] last set (float32 until then).
pub fn precision() -> Precision {
    if MIXED_BFLOAT16.load(Ordering::Relaxed) {
        Precision::MixedBfloat16
    } else {
        Precision::Float32
    }
}

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

    /// The path a value of `CNN_SGEMM` asks for (`None`, or empty as a
    /// shell's `CNN_SGEMM= cmd` leaves it: the widest this CPU has), or
    /// why it cannot run here.
    pub fn from_setting(setting: Option<&str>) -> Result<Path, String> {
        let all = [Path::Avx512, Path::Avx2, Path::MatrixMultiply];
        let forced = forced(
            ("CNN_SGEMM", "path", "this CPU lacks the instructions it needs"),
            &all,
            Path::name,
            Path::supported,
            setting,
        )?;
        Ok(forced.or_else(|| all.into_iter().find(|p| p.supported())).unwrap_or(Path::MatrixMultiply))
    }
}

/// The member of `all` that a setting of the environment variable `var`
/// names (`CNN_SGEMM`, `CNN_BF16`), or `None` where it is unset or empty
/// (as a shell's `VAR= cmd` leaves it), or why it cannot run here: an
/// unknown name, or one that is not `supported` (`refused` says why),
/// each error naming the `noun`s this CPU has.
pub(super) fn forced<T: Copy>(
    (var, noun, refused): (&str, &str, &str),
    all: &[T],
    name: fn(T) -> &'static str,
    supported: fn(T) -> bool,
    setting: Option<&str>,
) -> Result<Option<T>, String> {
    let Some(setting) = setting.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let here: Vec<_> = all.iter().filter(|&&t| supported(t)).map(|&t| name(t)).collect();
    let here = if here.is_empty() { "none".to_string() } else { here.join(", ") };
    match all.iter().copied().find(|&t| name(t) == setting) {
        Some(t) if supported(t) => Ok(Some(t)),
        Some(t) => Err(format!("{var}={}: {refused}; {noun}s here: {here}", name(t))),
        None => Err(format!("{var}={setting}: unknown {noun}; {noun}s here: {here}")),
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
    /// [`path`] says: for the tests on a CPU that
    /// also has AVX-512. Panics on a CPU without AVX2 and FMA.
    Avx2,
    /// `matrixmultiply` always, to compare against.
    MatrixMultiply,
    /// bfloat16 operands on the given kernel, whatever [`precision`] and
    /// `CNN_BF16` say: for the tests. Panics where the kernel is unsupported.
    Bf16(Bf16Kernel),
}

/// `C = alpha * A * B + beta * C` with `A: m x k`, `B: k x n`, and `C`
/// row-major `m x n` with leading dimension `ldc`. With `beta == 0`, `C` is
/// only written, never read. In the process's [`precision`].
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
    if !check_c(m, n, c, ldc) {
        return;
    }
    let bf16 = match kernel {
        Kernel::Bf16(b) => {
            assert!(b.supported(), "sgemm: Kernel::Bf16({b:?}) where this CPU or system cannot run it");
            Some(b)
        }
        Kernel::Fastest if precision() == Precision::MixedBfloat16 => bf16::kernel(),
        _ => None,
    };
    #[cfg(target_arch = "x86_64")]
    if let Some(bf16) = bf16.filter(|_| k > 0) {
        // SAFETY: every element of A, B and C lies inside its slice
        // (checked above) and C, borrowed mutably, aliases neither; the
        // kernel is supported (`bf16::kernel` only gives a supported one,
        // and the assert above checks a chosen one).
        unsafe {
            bf16::sgemm(
                bf16,
                (m, k, n),
                alpha,
                (a.data.as_ptr(), rsa, csa),
                (b.data.as_ptr(), rsb, csb),
                beta,
                (c.as_mut_ptr(), ldc),
            )
        };
        return;
    }
    let own = match kernel {
        Kernel::Fastest | Kernel::Bf16(_) => path(),
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
                let (a, b) = ((a.data.as_ptr(), rsa, csa), BSource::Rows(b.data.as_ptr(), b.ld));
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

/// Checks that `C` (`m x n`, row-major at `ldc`) lies inside `c`, and
/// says whether the product has anything to write.
fn check_c(m: usize, n: usize, c: &[f32], ldc: usize) -> bool {
    assert!(ldc >= n, "sgemm: C leading dimension {ldc} < {n}");
    if m == 0 || n == 0 {
        return false;
    }
    assert!((m - 1) * ldc + n <= c.len(), "sgemm: C ({m}x{n}) reaches past its {} values", c.len());
    true
}

/// Values at the head of a packed operand ([`pack_b`]): its layout (as
/// bits), `k` and `n`, and for float32 panels their width and depth; 16
/// of them, so that the values stay as aligned as the buffer is.
const HEADER: usize = 16;
/// Layouts of a packed operand, as the bits of its first value.
const ROW_MAJOR: u32 = 1;
const BF16_TILES: u32 = 2;
const F32_PANELS: u32 = 3;

/// Where the float32 kernels ([`avx512`], [`avx2`]) read `B`.
#[derive(Clone, Copy)]
pub(super) enum BSource {
    /// Row-major at a leading dimension: each kernel copies a panel at a
    /// time onto its stack where enough rows of `A` read it.
    Rows(*const f32, usize),
    /// Already in panels of the kernel's width, as [`pack_b`] wrote them
    /// ([`panel_at`]).
    Panels(*const f32),
}

/// Where the `kc x nr` panel of columns `j..j + nr` and depths
/// `p0..p0 + kc` starts in `B` written as panels of `nr` columns: blocks
/// of `kc_max` rows in order, each block its panels in order, each panel
/// `kc` rows of `nr` values (zeros past `n`), `kc` being `kc_max` but in
/// the last block. The one home of that layout, for [`pack_b`] and the
/// kernels that read it.
pub(super) const fn panel_at(p0: usize, j: usize, kc: usize, n: usize, nr: usize) -> usize {
    p0 * n.div_ceil(nr) * nr + j * kc
}

/// Values of `B` (`k x n`) in panels of `nr` columns.
const fn panels_len(k: usize, n: usize, nr: usize) -> usize {
    k * n.div_ceil(nr) * nr
}

/// The panel width and depth of the float32 kernel that `path` runs, if
/// it reads panels.
fn panel_shape(path: Path) -> Option<(usize, usize)> {
    match path {
        Path::Avx512 => Some((avx512::NR, avx512::KC)),
        Path::Avx2 => Some((avx2::NR, avx2::KC)),
        Path::MatrixMultiply => None,
    }
}

/// Values of `f32` that [`pack_b`] writes for a `k x n` operand, in
/// either precision.
pub const fn packed_b_len(k: usize, n: usize) -> usize {
    let tiles = bf16::packed_b_len(k, n).div_ceil(2);
    // The widest float32 panels (AVX-512's); AVX2's are narrower.
    let panels = panels_len(k, n, avx512::NR);
    let most = if k * n > tiles { k * n } else { tiles };
    HEADER + if panels > most { panels } else { most }
}

/// `B` (`k x n`) written once, for many products ([`sgemm_packed`]) that
/// reuse it, in the layout of the [`precision`] set now, so that no
/// product packs it again (Winograd's transformed kernel, read by every
/// block of tiles): for float32, in the panels that the [`path`]'s own
/// kernel reads (`panel_at`; row-major for `matrixmultiply`, which packs
/// its own); for bfloat16, rounded into the tiles of the bfloat16
/// kernels (`bf16.rs`; both kernels read the same). `out`
/// records which, so that a later change of precision cannot misread it.
///
/// Unpacked, every float32 product copied each panel of `B` (rows 1 KiB
/// apart for 256 filters, out of cache by the time the next block of
/// tiles read them) onto the stack first. On the 2-core Xeon, the airbench
/// layout (`cargo bench --bench airbench`) with the panels written once
/// ran at 1.03-1.04x the rate with them copied per product, on average
/// over 30 pairs run at once (one thread each, swapped between the cores;
/// single pairs 0.81-1.41x on that noisy host): a small gain, and one
/// copy of U fewer per block of tiles.
pub fn pack_b(k: usize, n: usize, b: MatRef, out: &mut [f32]) {
    pack_b_for(path(), k, n, b, out);
}

/// [`pack_b`] for the float32 kernel of `path` (a supported one).
fn pack_b_for(path: Path, k: usize, n: usize, b: MatRef, out: &mut [f32]) {
    let (rsb, csb) = b.strides(k, n, "B");
    assert!(out.len() >= packed_b_len(k, n), "pack_b: {} values for a {k}x{n} operand", out.len());
    let (head, data) = out.split_at_mut(HEADER);
    head[1] = f32::from_bits(k as u32);
    head[2] = f32::from_bits(n as u32);
    #[cfg(target_arch = "x86_64")]
    if precision() == Precision::MixedBfloat16 && k > 0 && n > 0 {
        head[0] = f32::from_bits(BF16_TILES);
        // SAFETY: every element of B lies inside its slice (checked above);
        // `data` holds packed_b_len(k, n) - HEADER values, at least the
        // bf16::packed_b_len(k, n) halves that pack_b writes; a bfloat16
        // kernel is supported (`set_precision` only allows bfloat16 then),
        // so the CPU has AVX-512 F, BW and BF16, which the packing needs.
        unsafe { bf16::pack_b(data.as_mut_ptr().cast(), (k, n), (b.data.as_ptr(), rsb, csb)) };
        return;
    }
    if let Some((nr, kc_max)) = panel_shape(path).filter(|_| k > 0 && n > 0) {
        head[0] = f32::from_bits(F32_PANELS);
        head[3] = f32::from_bits(nr as u32);
        head[4] = f32::from_bits(kc_max as u32);
        for p0 in (0..k).step_by(kc_max) {
            let kc = kc_max.min(k - p0);
            for j in (0..n).step_by(nr) {
                let panel = &mut data[panel_at(p0, j, kc, n, nr)..][..kc * nr];
                for (p, row) in panel.chunks_exact_mut(nr).enumerate() {
                    for (q, x) in row.iter_mut().enumerate() {
                        let at = (p0 + p) as isize * rsb + (j + q) as isize * csb;
                        *x = if j + q < n { b.data[at as usize] } else { 0.0 };
                    }
                }
            }
        }
        return;
    }
    head[0] = f32::from_bits(ROW_MAJOR);
    for (p, row) in data.chunks_exact_mut(n.max(1)).take(k).enumerate() {
        for (j, x) in row.iter_mut().enumerate() {
            *x = b.data[(p as isize * rsb + j as isize * csb) as usize];
        }
    }
}

/// [`sgemm`] with `B` as [`pack_b`] left it, in the precision it was packed in.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_packed(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: &[f32],
    beta: f32,
    c: &mut [f32],
    ldc: usize,
) {
    assert!(b.len() >= packed_b_len(k, n), "sgemm_packed: B of {} values for {k}x{n}", b.len());
    let (layout, pk, pn) = (b[0].to_bits(), b[1].to_bits() as usize, b[2].to_bits() as usize);
    assert!((pk, pn) == (k, n), "sgemm_packed: B was packed as {pk}x{pn}, used as {k}x{n}");
    let data = &b[HEADER..];
    match layout {
        ROW_MAJOR => sgemm(m, k, n, alpha, a, MatRef::n(&data[..k * n], n), beta, c, ldc),
        #[cfg(target_arch = "x86_64")]
        F32_PANELS => {
            let (nr, kc_max) = (b[3].to_bits() as usize, b[4].to_bits() as usize);
            let (rsa, csa) = a.strides(m, k, "A");
            if !check_c(m, n, c, ldc) {
                return;
            }
            let wide = nr == avx512::NR;
            // `pack_b` writes panels only for a path the CPU supports, in
            // its kernel's width and depth.
            let own = if wide { Path::Avx512 } else { Path::Avx2 };
            assert!(
                own.supported() && panel_shape(own) == Some((nr, kc_max)),
                "sgemm_packed: panels {nr} wide and {kc_max} deep fit no kernel of this CPU"
            );
            assert!(data.len() >= panels_len(k, n, nr), "sgemm_packed: panels cut short");
            let kernel = if wide { avx512::sgemm } else { avx2::sgemm };
            let (a, b) = ((a.data.as_ptr(), rsa, csa), BSource::Panels(data.as_ptr()));
            // SAFETY: every element of A and C lies inside its slice
            // (checked above; m > 0, and k and n > 0, since `pack_b` leaves
            // empty operands row-major) and C, borrowed mutably, aliases
            // neither; B holds the k x n panels of this kernel's width
            // (the header and the length, checked above); the CPU has the
            // kernel's instructions (asserted above).
            unsafe { kernel((m, k, n), alpha, a, b, beta, (c.as_mut_ptr(), ldc)) };
        }
        #[cfg(target_arch = "x86_64")]
        BF16_TILES => {
            let (rsa, csa) = a.strides(m, k, "A");
            if !check_c(m, n, c, ldc) {
                return;
            }
            // `pack_b` writes tiles only where a bfloat16 kernel is supported.
            let kernel = bf16::kernel().expect("sgemm_packed: bfloat16 tiles on a CPU without a bfloat16 kernel");
            // SAFETY: every element of A and C lies inside its slice
            // (checked above; m > 0, and k and n > 0, since `pack_b`
            // leaves empty operands row-major) and C, borrowed mutably,
            // aliases neither; the tiles were written by bf16::pack_b for
            // this k x n (the header, checked above); the kernel is
            // supported (`bf16::kernel` gives only such).
            unsafe {
                bf16::sgemm_packed(
                    kernel,
                    (m, k, n),
                    alpha,
                    (a.data.as_ptr(), rsa, csa),
                    data.as_ptr().cast(),
                    beta,
                    (c.as_mut_ptr(), ldc),
                )
            };
        }
        _ => panic!("sgemm_packed: B was not packed by pack_b"),
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
        // Empty is unset: the widest path this CPU has.
        assert_eq!(Path::from_setting(Some("")), Path::from_setting(None));
        assert!(Path::from_setting(None).unwrap().supported());
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

    #[test]
    fn cnn_bf16_names_each_kernel_and_refuses_others() {
        let unknown = Bf16Kernel::from_setting(Some("avx10")).unwrap_err();
        assert!(unknown.contains("CNN_BF16=avx10: unknown kernel; kernels here:"), "{unknown}");
        // Empty is unset: AMX first, where the system allows it.
        let best = Bf16Kernel::from_setting(None).unwrap();
        assert_eq!(Bf16Kernel::from_setting(Some("")).unwrap(), best);
        assert_eq!(best, Bf16Kernel::ALL.into_iter().find(|k| k.supported()));
        for k in Bf16Kernel::ALL {
            let got = Bf16Kernel::from_setting(Some(k.name()));
            if k.supported() {
                assert_eq!(got, Ok(Some(k)));
            } else {
                assert!(got.unwrap_err().contains("cannot run it"));
            }
        }
        assert_eq!(Precision::MixedBfloat16.supported(), best.is_some());
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

    /// The bfloat16 kernel against the naive product of the operands
    /// rounded to bfloat16, summed in float32 as the kernel sums (only the
    /// order differs, so the tolerance is float32's, far below the 2^-9
    /// of a rounding that truncated): every edge of its 2 x 2 blocks of
    /// 16 x 16 tiles and of its 32-deep tiles, odd depths, `A` and `B`
    /// both ways, C overwritten (its NaNs never read) or accumulated into.
    #[test]
    fn bfloat16_products_match_the_product_of_rounded_operands() {
        for kernel in Bf16Kernel::ALL {
            if kernel.supported() {
                bfloat16_products_match_on(kernel);
            } else {
                eprintln!("skipped: this CPU or system cannot run the {} kernel", kernel.name());
            }
        }
    }

    fn bfloat16_products_match_on(kernel: Bf16Kernel) {
        for (m, k, n) in [(1, 1, 1), (13, 5, 17), (33, 31, 47), (16, 32, 16), (128, 256, 64), (40, 97, 3), (70, 64, 33)]
        {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
            let at: Vec<f32> = (0..k * m).map(|idx| a[(idx % m) * k + idx / m]).collect();
            let bt: Vec<f32> = (0..n * k).map(|idx| b[(idx % k) * n + idx / k]).collect();
            let r = bf16::round_to_bf16;
            let want = naive(m, k, n, |i, p| r(a[i * k + p]), |p, j| r(b[p * n + j]));
            let scale: Vec<f32> = (0..m * n)
                .map(|ij| (0..k).map(|p| (a[ij / n * k + p] * b[p * n + ij % n]).abs()).sum::<f32>())
                .collect();
            for (ta, tb, beta) in [(false, false, 0.0), (true, false, 1.0), (false, true, 0.0), (true, true, 1.0)] {
                let ma = if ta { MatRef::t(&at, m) } else { MatRef::n(&a, k) };
                let mb = if tb { MatRef::t(&bt, k) } else { MatRef::n(&b, n) };
                let ldc = n + 1;
                let start = if beta == 0.0 { f32::NAN } else { 0.5 };
                let mut c: Vec<f32> = vec![start; m * ldc];
                sgemm_with(Kernel::Bf16(kernel), m, k, n, 2.0, ma, mb, beta, &mut c, ldc);
                for i in 0..m {
                    for j in 0..n {
                        let expect = 2.0 * want[i * n + j] + if beta == 0.0 { 0.0 } else { 0.5 };
                        let got = c[i * ldc + j];
                        assert!(
                            (got - expect).abs() <= 1e-5 * (1.0 + 2.0 * scale[i * n + j]),
                            "{kernel:?} {m}x{k}x{n} ta={ta} tb={tb} beta={beta}: C[{i}][{j}] = {got}, want {expect}"
                        );
                    }
                    let spare = c[i * ldc + n];
                    assert!(spare.is_nan() || spare == 0.5, "C's spare column was written");
                }
            }
        }
    }

    /// `B` written once ([`pack_b`]) gives every path the bits of the same
    /// product with `B` as it lies: the kernels read the same values in the
    /// same order, from panels instead of rows. Shapes across a `KC` block
    /// (depth 300), with narrow last panels, short products (whose `B` the
    /// kernels read in place) and tall ones (whose `B` they copy per panel),
    /// `A` both ways, C overwritten or accumulated into.
    #[test]
    fn packed_operands_give_the_bits_of_the_unpacked_product() {
        let paths = [Path::Avx512, Path::Avx2, Path::MatrixMultiply];
        for path in paths.into_iter().filter(|p| p.supported()) {
            let kernel = match path {
                Path::Avx512 => Kernel::Fastest,
                Path::Avx2 => Kernel::Avx2,
                Path::MatrixMultiply => Kernel::MatrixMultiply,
            };
            if path == Path::Avx512 && super::path() != Path::Avx512 {
                continue; // CNN_SGEMM chose another path; Kernel::Fastest is that one.
            }
            for (m, k, n) in [(1, 1, 1), (13, 5, 17), (50, 300, 45), (7, 64, 70), (97, 31, 16), (130, 256, 256)] {
                let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
                let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
                let at: Vec<f32> = (0..k * m).map(|idx| a[(idx % m) * k + idx / m]).collect();
                let mut packed = vec![f32::NAN; packed_b_len(k, n)];
                pack_b_for(path, k, n, MatRef::n(&b, n), &mut packed);
                for (ta, beta) in [(false, 0.0), (true, 0.0), (false, 1.0)] {
                    let ma = if ta { MatRef::t(&at, m) } else { MatRef::n(&a, k) };
                    let start = if beta == 0.0 { f32::NAN } else { 0.5 };
                    let (mut want, mut got) = (vec![start; m * n], vec![start; m * n]);
                    sgemm_with(kernel, m, k, n, 2.0, ma, MatRef::n(&b, n), beta, &mut want, n);
                    sgemm_packed(m, k, n, 2.0, ma, &packed, beta, &mut got, n);
                    let bits = |c: &[f32]| c.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{path:?} {m}x{k}x{n} ta={ta} beta={beta}");
                }
            }
        }
    }

    /// Rounding to bfloat16 keeps 8 significant bits, to nearest, ties to even.
    #[test]
    fn bfloat16_rounds_to_nearest_even() {
        let r = bf16::round_to_bf16;
        assert_eq!(r(1.0), 1.0);
        assert_eq!(r(1.0 + 2f32.powi(-8)), 1.0, "a tie goes to the even neighbour");
        assert_eq!(r(1.0 + 3.0 * 2f32.powi(-8)), 1.0 + 2f32.powi(-6), "a tie goes to the even neighbour");
        assert_eq!(r(1.0 + 2f32.powi(-8) + 2f32.powi(-20)), 1.0 + 2f32.powi(-7));
        assert_eq!(r(1.0 + 2f32.powi(-9)), 1.0);
        assert_eq!(r(-3.0e-3), -r(3.0e-3));
        assert!(r(f32::NAN).is_nan());
    }

    #[test]
    fn precision_takes_keras_names_and_refuses_others() {
        assert_eq!(Precision::from_name("float32").unwrap(), Precision::Float32);
        assert_eq!(Precision::from_name("mixed_bfloat16").unwrap(), Precision::MixedBfloat16);
        let err = Precision::from_name("mixed_float16").unwrap_err().to_string();
        assert!(err.contains("precision `mixed_float16`: unknown; known: float32, mixed_bfloat16"), "{err}");
        assert!(set_precision(Precision::Float32).is_ok());
        if !Precision::MixedBfloat16.supported() {
            let err = set_precision(Precision::MixedBfloat16).unwrap_err().to_string();
            assert!(err.contains("needs AVX512_BF16"), "{err}");
            assert_eq!(precision(), Precision::Float32, "a refused precision changes nothing");
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
