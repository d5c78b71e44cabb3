//! sgemm for CPUs with AVX2 and FMA but not AVX-512: the same two kernels
//! as [`super::avx512`], with 8-lane registers, and `B` packed on the stack
//! where many rows read it.
//!
//! Most laptops and many servers stop at AVX2. There `matrixmultiply`
//! packs both operands on every call, which for the step's thin products
//! (Winograd planes of 8 to 64 tiles, a dense layer's 32 rows) costs as
//! much as the multiplication. Here, as in `avx512`, nothing is packed: a
//! register tile of `MR` rows by `NR` columns of `C` reads each element of
//! `A` with one broadcast, wherever it lies, and each row of `B` with two
//! 8-lane loads, masked at the right edge; each tile is summed over `k` in
//! order, one fused multiply-add per term. A transposed `B` takes
//! [`sgemm_nt`], dot products of contiguous rows.
//!
//! Where `B` is read by many row tiles (a Winograd plane of 96 tiles),
//! [`sgemm`] first copies each `KC x NR` panel of it into a contiguous
//! block on the stack. Unpacked, the rows of a panel lie `ldb` apart (1 KiB
//! for 256 channels), so all of a panel's rows fall on a few sets of the
//! first-level cache, and the 16 KiB panel cannot stay there while the
//! row tiles pass over it. On one Zen 3 core, the airbench layout's
//! Winograd products (blocks of 96 tiles, 24 to 256 channels; best of 8
//! rounds, alternating) ran at 50-63 GFLOP/s unpacked and 71-85 from
//! contiguous panels, of the 87 that its multiply-adds allow;
//! `tools/sgemm-bench` times these shapes.
//!
//! Thin products (a dense layer's few rows) stay unpacked: there a panel
//! would be read once or twice for every copy made of it. An operand that
//! many products read (Winograd's transformed kernel) is written in these
//! panels once ([`super::gemm::pack_b`]) and read where it lies, whatever
//! the product's height ([`BSource::Panels`]).
//!
//! Only [`super::gemm::sgemm_with`] calls this, after checking every index.
//!
//! ## Masked loads past a row's end
//!
//! The right edge of `B` and `C` (and the tail of a dot product's rows) is
//! read with `_mm256_maskload_ps` and written with `_mm256_maskstore_ps`,
//! whose 8 lanes may reach past the last element of the slice. That is
//! sound: a lane whose mask bit is clear is neither read nor written and
//! cannot fault, wherever its address lies (Intel SDM vol. 2, VMASKMOV:
//! "faults occur only due to mask-bit required memory accesses"), and a
//! masked-out load lane is zero. Every mask here is [`lane_mask`] of the
//! number of elements that the caller's bounds check placed in the slice.

#[cfg(target_arch = "x86_64")]
use super::gemm::{panel_at, BSource};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows of `C` per register tile: 6 x 2 accumulators, 2 for a row of `B`
/// and 1 for the broadcast fill 15 of the 16 vector registers.
const MR: usize = 6;
/// Columns of `C` per register tile: two 8-lane registers.
pub(super) const NR: usize = 16;
/// Depth of `B` one pass runs over: `KC x NR` of `B` (16 KiB) stays in the
/// first-level cache while every row tile of `C` uses it.
pub(super) const KC: usize = 256;

/// Whether [`sgemm`] packs `B` for a product of `m` rows: at least four
/// row tiles read each packed panel.
const fn packs(m: usize) -> bool {
    m >= 4 * MR
}

/// Whether this CPU has AVX2 and FMA, which the kernels here need.
#[inline]
pub fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `C = alpha A B + beta C` for `A: m x k` at strides `(rsa, csa)`, `B:
/// k x n` row-major at a leading dimension or in panels of `NR` columns
/// ([`BSource`]), and `C: m x n` row-major with leading dimension `ldc`;
/// with `beta == 0`, `C` is only written.
///
/// # Safety
///
/// The CPU has AVX2 and FMA ([`supported`]); `k > 0`; every element of
/// `A`, `B` and `C` at those strides, or in those panels, lies inside its
/// allocation; `C` aliases neither `A` nor `B`, and `ldc >= n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn sgemm(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    (a, rsa, csa): (*const f32, isize, isize),
    b: BSource,
    beta: f32,
    (c, ldc): (*mut f32, usize),
) {
    // Where `packs(m)` and `B` is not in panels yet, each panel of `B` is
    // copied into this block on the stack before its row tiles read it
    // (see the module's note); `A` is read where it lies either way: a
    // packed copy of it measured slower on the Winograd shapes (115-120
    // against 122-125 images/s a core in the convolutions alone).
    // Uninitialized: `pack_b` writes every value a tile then reads.
    let packed = packs(m);
    let mut panel = std::mem::MaybeUninit::<[f32; KC * NR]>::uninit();
    let bp = panel.as_mut_ptr().cast::<f32>();
    // SAFETY (for every `Tile::run` below): each tile's rows, columns and
    // depth lie inside the caller's m x n x k, so each element it reads
    // or writes is one that the caller's contract places in bounds, and
    // its lane masks cover exactly the columns inside `n`; a packed panel
    // holds kc x NR values (zeros past `width`), so its unmasked loads stay
    // inside it.
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        // Later passes add to what the first left in C.
        let beta = if p0 == 0 { beta } else { 1.0 };
        for j in (0..n).step_by(NR) {
            let width = NR.min(n - j);
            let masks = [lane_mask(width), lane_mask(width.saturating_sub(8))];
            // `packed`: the panel holds NR values a row, zeros past `width`.
            let (bj, ldbj, packed) = match b {
                BSource::Panels(b) => (b.wrapping_add(panel_at(p0, j, kc, n, NR)), NR, true),
                BSource::Rows(b, ldb) if packed => {
                    // SAFETY: depths p0..p0 + kc and columns j..j + width lie
                    // inside k x n (the caller's contract); the panel holds KC x NR.
                    unsafe { pack_b(kc, width, b.wrapping_add(p0 * ldb + j), ldb, bp) };
                    (bp.cast_const(), NR, true)
                }
                BSource::Rows(b, ldb) => (b.wrapping_add(p0 * ldb + j), ldb, false),
            };
            let mut i = 0;
            while i < m {
                let rows = MR.min(m - i);
                let ai = a.wrapping_offset(i as isize * rsa + p0 as isize * csa);
                let t = Tile { kc, a: ai, rsa, csa, b: bj, ldb: ldbj, c: c.wrapping_add(i * ldc + j), ldc, masks };
                // SAFETY: see above; the CPU has AVX2 and FMA (this function's contract).
                unsafe {
                    match (rows, width, packed) {
                        (6, NR, _) => t.run::<6, 2, true, true>(alpha, beta),
                        (6, _, true) => t.run::<6, 2, true, false>(alpha, beta),
                        (6, ..=8, false) => t.run::<6, 1, false, false>(alpha, beta),
                        (6, _, false) => t.run::<6, 2, false, false>(alpha, beta),
                        (5, _, true) => t.run::<5, 2, true, false>(alpha, beta),
                        (4, _, true) => t.run::<4, 2, true, false>(alpha, beta),
                        (3, _, true) => t.run::<3, 2, true, false>(alpha, beta),
                        (2, _, true) => t.run::<2, 2, true, false>(alpha, beta),
                        (_, _, true) => t.run::<1, 2, true, false>(alpha, beta),
                        (5, _, false) => t.run::<5, 2, false, false>(alpha, beta),
                        (4, _, false) => t.run::<4, 2, false, false>(alpha, beta),
                        (3, _, false) => t.run::<3, 2, false, false>(alpha, beta),
                        (2, _, false) => t.run::<2, 2, false, false>(alpha, beta),
                        _ => t.run::<1, 2, false, false>(alpha, beta),
                    }
                }
                i += rows;
            }
        }
    }
}

/// Copies `kc` rows of `width` (at most `NR`) columns of `B` (`ldb`
/// apart) into a `kc x NR` panel, zeros past `width`.
///
/// # Safety
///
/// Those `kc x width` elements of `B` lie inside its allocation, and
/// `out` holds `kc * NR` values.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn pack_b(kc: usize, width: usize, b: *const f32, ldb: usize, out: *mut f32) {
    let masks = [lane_mask(width), lane_mask(width.saturating_sub(8))];
    for p in 0..kc {
        let (src, dst) = (b.wrapping_add(p * ldb), out.wrapping_add(p * NR));
        // SAFETY: masked loads read only the `width` columns inside row p
        // of B (see the module's note on masked loads) and give zeros
        // past them; the stores write row p of the panel.
        unsafe {
            for (h, &mask) in masks.iter().enumerate() {
                let v = if width == NR {
                    _mm256_loadu_ps(src.add(8 * h))
                } else {
                    _mm256_maskload_ps(src.wrapping_add(8 * h), mask)
                };
                _mm256_storeu_ps(dst.add(8 * h), v);
            }
        }
    }
}

/// Rows of `A` and of `B` per register tile of [`sgemm_nt`]: 3 x 4
/// accumulators, 3 for `A`'s vectors and 1 for `B`'s.
const NT_ROWS: usize = 3;
const NT_COLS: usize = 4;

/// `C = alpha A Bᵀ + beta C` for `A: m x k` row-major (leading dimension
/// `lda`), `B: n x k` row-major (`ldb`), and `C` as in [`sgemm`]. Each
/// element of `C` sums 8 lanes of products along `k`, then adds the lanes.
///
/// # Safety
///
/// As for [`sgemm`], with `A` and `B` given by their rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn sgemm_nt(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    (a, lda): (*const f32, usize),
    (b, ldb): (*const f32, usize),
    beta: f32,
    (c, ldc): (*mut f32, usize),
) {
    let mut j = 0;
    while j < n {
        let cols = NT_COLS.min(n - j);
        let mut i = 0;
        while i < m {
            let rows = NT_ROWS.min(m - i);
            // SAFETY: rows i..i + rows of A and C and j..j + cols of B and C
            // lie inside m x n, so the offsets stay in their allocations
            // (the caller's contract), and so does every element each tile
            // touches; the CPU has AVX2 and FMA.
            unsafe {
                let t = DotTile { k, a: a.add(i * lda), lda, b: b.add(j * ldb), ldb, c: c.add(i * ldc + j), ldc };
                match (rows, cols) {
                    (3, 4) => t.run::<3, 4>(alpha, beta),
                    (r, 4) => t.run_rows::<4>(r, alpha, beta),
                    (r, s) => t.run_rows_cols(r, s, alpha, beta),
                }
            }
            i += rows;
        }
        j += cols;
    }
}

/// One register tile of [`sgemm_nt`]: `R` rows of `A` against `S` rows of `B`.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct DotTile {
    k: usize,
    a: *const f32,
    lda: usize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
}

#[cfg(target_arch = "x86_64")]
impl DotTile {
    /// `C[r][s] = alpha A[r] · B[s] + beta C[r][s]` for `R x S` elements.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2 and FMA; rows `0..R` of `A` and `0..S` of `B` hold
    /// `k` elements each inside their allocations, and the `R x S` elements
    /// of `C` lie inside its allocation, apart from `A` and `B`.
    #[inline(always)]
    unsafe fn run<const R: usize, const S: usize>(&self, alpha: f32, beta: f32) {
        // SAFETY: the plain loads read lanes p..p + 8 <= k of rows that
        // hold k elements; the tail's loads are masked to the k - p inside
        // (see the module's note on masked loads); the stores write the
        // R x S elements of C.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); S]; R];
            let mut p = 0;
            // Whole vectors with plain loads, then the tail masked.
            while p + 8 <= self.k {
                let x: [__m256; R] = std::array::from_fn(|r| _mm256_loadu_ps(self.a.add(r * self.lda + p)));
                for s in 0..S {
                    let y = _mm256_loadu_ps(self.b.add(s * self.ldb + p));
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        acc[s] = _mm256_fmadd_ps(x, y, acc[s]);
                    }
                }
                p += 8;
            }
            if p < self.k {
                let mask = lane_mask(self.k - p);
                let x: [__m256; R] = std::array::from_fn(|r| _mm256_maskload_ps(self.a.add(r * self.lda + p), mask));
                for s in 0..S {
                    let y = _mm256_maskload_ps(self.b.add(s * self.ldb + p), mask);
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        acc[s] = _mm256_fmadd_ps(x, y, acc[s]);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for (s, &sum) in acc.iter().enumerate() {
                    let at = self.c.add(r * self.ldc + s);
                    let v = alpha * reduce_add(sum);
                    *at = if beta == 0.0 { v } else { beta.mul_add(*at, v) };
                }
            }
        }
    }

    /// Fewer than `NT_ROWS` rows of `A`, one at a time.
    ///
    /// # Safety
    ///
    /// As for [`DotTile::run`] with `rows x S` elements.
    #[inline(always)]
    unsafe fn run_rows<const S: usize>(&self, rows: usize, alpha: f32, beta: f32) {
        for r in 0..rows {
            // SAFETY: row r < rows of A and C is inside them (the contract).
            unsafe {
                DotTile { a: self.a.add(r * self.lda), c: self.c.add(r * self.ldc), ..*self }.run::<1, S>(alpha, beta)
            };
        }
    }

    /// The last, narrower tiles: one element of `C` at a time.
    ///
    /// # Safety
    ///
    /// As for [`DotTile::run`] with `rows x cols` elements.
    #[inline(always)]
    unsafe fn run_rows_cols(&self, rows: usize, cols: usize, alpha: f32, beta: f32) {
        for r in 0..rows {
            for s in 0..cols {
                // SAFETY: element (r, s) with r < rows, s < cols is inside (the contract).
                unsafe {
                    let one = DotTile {
                        a: self.a.add(r * self.lda),
                        b: self.b.add(s * self.ldb),
                        c: self.c.add(r * self.ldc + s),
                        ..*self
                    };
                    one.run::<1, 1>(alpha, beta);
                }
            }
        }
    }
}

/// The sum of the 8 lanes, in a fixed order: halves, then pairs, then the
/// last two.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn reduce_add(v: __m256) -> f32 {
    // SAFETY: register-only arithmetic; the callers run with AVX2 enabled.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }
}

/// A lane mask for `_mm256_maskload_ps`: the first `lanes` (at most 8) of
/// the 8 lanes have their top bit set.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn lane_mask(lanes: usize) -> __m256i {
    let lanes = lanes.min(8) as i32;
    // SAFETY: register-only; the callers run with AVX2 enabled.
    unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
}

/// One register tile: `kc` steps of `A`'s rows against `B`'s columns,
/// into up to `MR x NR` of `C`.
#[cfg(target_arch = "x86_64")]
struct Tile {
    kc: usize,
    a: *const f32,
    rsa: isize,
    csa: isize,
    b: *const f32,
    ldb: usize,
    c: *mut f32,
    ldc: usize,
    /// Which lanes of the two column registers lie inside `C`.
    masks: [__m256i; 2],
}

#[cfg(target_arch = "x86_64")]
impl Tile {
    /// `C = alpha A B + beta C` over `R` rows and the columns of `V`
    /// (1 or 2) registers. With `FULL_B`, every row of `B` holds `NR`
    /// columns (all of them, or a zero-padded packed panel) and is loaded
    /// without masks; with `FULL_C`, so are `C`'s rows. Sixteen registers
    /// hold 12 accumulators, 2 rows of `B` and a broadcast, but not 2
    /// masks besides: a full-height tile with masked loads of `B` spills
    /// unless it is one register wide.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2 and FMA; the `R` rows of `A` at `(rsa, csa)` hold
    /// `kc` elements inside its allocation; the `kc` rows of `B` (`ldb`
    /// apart) and the `R` rows of `C` (`ldc` apart) hold, inside their
    /// allocations, every column whose lane `masks` sets (with `FULL_B`,
    /// `B`'s rows hold all `NR`; with `FULL_C`, so do `C`'s); `C` aliases
    /// neither `A` nor `B`.
    #[inline(always)]
    unsafe fn run<const R: usize, const V: usize, const FULL_B: bool, const FULL_C: bool>(
        &self,
        alpha: f32,
        beta: f32,
    ) {
        // SAFETY: every broadcast reads an element of A inside its rows;
        // every load and store of B and C is masked to the columns inside
        // (see the module's note on masked loads), or with `FULL_B` and
        // `FULL_C` covers exactly the NR columns inside; with V == 1 the
        // second register's columns, which `masks` leaves out, are never
        // touched.
        unsafe {
            let masks = self.masks;
            let mut acc = [[_mm256_setzero_ps(); V]; R];
            for p in 0..self.kc {
                let bp = self.b.wrapping_add(p * self.ldb);
                let row: [__m256; V] = std::array::from_fn(|h| {
                    let at = bp.wrapping_add(8 * h);
                    if FULL_B {
                        _mm256_loadu_ps(at)
                    } else {
                        _mm256_maskload_ps(at, masks[h])
                    }
                });
                let ap = self.a.wrapping_offset(p as isize * self.csa);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_set1_ps(*ap.offset(r as isize * self.rsa));
                    for (acc, &y) in acc.iter_mut().zip(&row) {
                        *acc = _mm256_fmadd_ps(x, y, *acc);
                    }
                }
            }
            let (alpha, beta_v) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
            for (r, acc) in acc.iter().enumerate() {
                let row = self.c.add(r * self.ldc);
                for (h, (&sum, &mask)) in acc.iter().zip(&masks).enumerate() {
                    let at = row.wrapping_add(8 * h);
                    let mut v = _mm256_mul_ps(alpha, sum);
                    if FULL_C {
                        if beta != 0.0 {
                            v = _mm256_fmadd_ps(beta_v, _mm256_loadu_ps(at), v);
                        }
                        _mm256_storeu_ps(at, v);
                    } else {
                        if beta != 0.0 {
                            v = _mm256_fmadd_ps(beta_v, _mm256_maskload_ps(at, mask), v);
                        }
                        _mm256_maskstore_ps(at, mask, v);
                    }
                }
            }
        }
    }
}
