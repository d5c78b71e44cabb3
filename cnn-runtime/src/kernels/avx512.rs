//! sgemm for CPUs with AVX-512: `C = alpha A B + beta C` with `B`
//! row-major, packing only `B`, and only where many rows read it.
//!
//! Most of the step's products are thin: Winograd's planes multiply blocks
//! of 32 to 64 tiles by 32 or 64 channels, and `dense_1` multiplies 16
//! rows by a 2304x512 kernel. `matrixmultiply` packs both operands on every call,
//! which for these shapes costs half as much as the multiplication itself.
//! Here `A` is never packed: a register tile of `MR` rows by `NR` columns
//! of `C` reads each element of `A` with one broadcast, wherever it lies
//! (any row and column stride, so `Aᵀ` costs nothing either), and each row
//! of `B` with two 16-lane loads, masked at the right edge. Each tile is
//! summed over `k` in order, one fused multiply-add per term.
//!
//! Where at least four row tiles read `B` (a Winograd plane of 96 tiles),
//! [`sgemm`] first copies each `KC x NR` panel of it into a contiguous
//! block on the stack, as the AVX2 kernel does and for the same reason:
//! unpacked, a panel's rows lie `ldb` apart (1 KiB for 256 channels), on
//! a few sets of the first-level cache, and the 32 KiB panel cannot stay
//! there while the row tiles pass over it. On a 2-core Intel Xeon with
//! AVX-512 (2026-12-02, four rounds alternating the two builds), packing
//! took the airbench layout (`cargo bench --bench airbench`) from 164,
//! 211, 180 and 168 images/s to 182, 236, 199 and 186; panels of 128
//! rows instead of 256 measured slower (230, 222, 171 against 245, 231,
//! 217).
//!
//! An operand that many products read (Winograd's transformed kernel)
//! is written in those panels once ([`super::gemm::pack_b`]) and read
//! where it lies ([`BSource::Panels`]).
//!
//! A transposed `B` (`dx = dz Wᵀ` of a dense layer, `W` being
//! `inputs x units`) takes [`sgemm_nt`] instead: each element of `C` is a
//! dot product of a row of `A` and a row of `B`, both contiguous.
//!
//! Only [`super::gemm::sgemm_with`] calls this, after checking every index.
//!
//! ## Masked loads past a row's end
//!
//! The right edge of `B` (and of `C`, and the tail of a dot product's
//! rows) is read with `_mm512_maskz_loadu_ps` and written with
//! `_mm512_mask_storeu_ps`, whose 16 lanes may reach past the last
//! element of the slice. That is sound: a lane whose mask bit is clear is
//! neither read nor written, and cannot fault even where its address lies
//! outside the allocation (Intel SDM vol. 1, 15.4.1: AVX-512 masking
//! suppresses memory faults on masked-out elements), and its result lane
//! is zero. Every mask here is [`lane_mask`] of the number of elements
//! that the caller's bounds check placed inside the slice.

#[cfg(target_arch = "x86_64")]
use super::gemm::{panel_at, BSource};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows of `C` per register tile: 12 x 2 accumulators, 2 for a row of
/// `B` and 1 for the broadcast fill 27 of the 32 vector registers.
const MR: usize = 12;
/// Columns of `C` per register tile: two 16-lane registers.
pub(super) const NR: usize = 32;
/// Depth of `B` one pass runs over: `KC x NR` of `B` (32 KiB) stays in
/// cache while every row tile of `C` uses it.
pub(super) const KC: usize = 256;

/// Whether [`sgemm`] packs `B` for a product of `m` rows: at least four
/// row tiles read each packed panel.
const fn packs(m: usize) -> bool {
    m >= 4 * MR
}

/// Whether this CPU has AVX-512F, which the kernels here need.
#[inline]
pub fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
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
/// The CPU has AVX-512F ([`supported`]); `k > 0`; every element of `A`,
/// `B` and `C` at those strides, or in those panels, lies inside its
/// allocation; `C` aliases neither `A` nor `B`, and `ldc >= n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
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
    // (see the module's note).
    // Uninitialized: `pack_b` writes every value a tile then reads.
    let packed = packs(m);
    let mut panel = std::mem::MaybeUninit::<[f32; KC * NR]>::uninit();
    let bp = panel.as_mut_ptr().cast::<f32>();
    // SAFETY (for every `Tile::run` below): each tile's rows, columns and
    // depth lie inside the caller's m x n x k, so each element it reads
    // or writes is one that the caller's contract places in bounds, and
    // its lane masks cover exactly the columns inside `n`; a packed panel
    // holds kc x NR values, of which the masks read the first `width` of
    // each row.
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        // Later passes add to what the first left in C.
        let beta = if p0 == 0 { beta } else { 1.0 };
        for j in (0..n).step_by(NR) {
            let width = NR.min(n - j);
            let masks = [lane_mask(width), lane_mask(width.saturating_sub(16))];
            let (bj, ldbj) = match b {
                BSource::Panels(b) => (b.wrapping_add(panel_at(p0, j, kc, n, NR)), NR),
                BSource::Rows(b, ldb) if packed => {
                    // SAFETY: depths p0..p0 + kc and columns j..j + width lie
                    // inside k x n (the caller's contract); the panel holds KC x NR.
                    unsafe { pack_b(kc, masks, b.wrapping_add(p0 * ldb + j), ldb, bp) };
                    (bp.cast_const(), NR)
                }
                BSource::Rows(b, ldb) => (b.wrapping_add(p0 * ldb + j), ldb),
            };
            let mut i = 0;
            while i < m {
                let rows = MR.min(m - i);
                let ai = a.wrapping_offset(i as isize * rsa + p0 as isize * csa);
                let t = Tile { kc, a: ai, rsa, csa, b: bj, ldb: ldbj, c: c.wrapping_add(i * ldc + j), ldc, masks };
                // SAFETY: see above; the CPU has AVX-512F (this function's contract).
                unsafe {
                    if width <= 16 {
                        t.rows::<1>(rows, alpha, beta);
                    } else {
                        t.rows::<2>(rows, alpha, beta);
                    }
                }
                i += rows;
            }
        }
    }
}

/// Copies `kc` rows of `B` (`ldb` apart), the columns that `masks` sets,
/// into a `kc x NR` panel; a row's lanes past them are left unwritten,
/// and the tiles never read them (their loads use the same masks).
///
/// # Safety
///
/// The CPU has AVX-512F; the `kc` rows of `B` hold, inside its
/// allocation, every column whose lane `masks` sets; `out` holds
/// `kc * NR` values.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn pack_b(kc: usize, masks: [u16; 2], b: *const f32, ldb: usize, out: *mut f32) {
    for p in 0..kc {
        let (src, dst) = (b.wrapping_add(p * ldb), out.wrapping_add(p * NR));
        // SAFETY: the masked loads read only the columns inside row p of
        // B (see the module's note on masked loads), and the masked
        // stores write inside row p of the panel.
        unsafe {
            for (h, &mask) in masks.iter().enumerate() {
                if mask != 0 {
                    let v = _mm512_maskz_loadu_ps(mask, src.wrapping_add(16 * h));
                    _mm512_mask_storeu_ps(dst.add(16 * h), mask, v);
                }
            }
        }
    }
}

/// Rows of `A` and of `B` per register tile of [`sgemm_nt`]: 4 x 6
/// accumulators, 4 for `A`'s vectors and 1 for `B`'s.
const NT_ROWS: usize = 4;
const NT_COLS: usize = 6;

/// `C = alpha A Bᵀ + beta C` for `A: m x k` row-major (leading dimension
/// `lda`), `B: n x k` row-major (`ldb`), and `C` as in [`sgemm`]. Each
/// element of `C` sums 16 lanes of products along `k`, then adds the
/// lanes: a different order from [`sgemm`]'s, as exact.
///
/// # Safety
///
/// As for [`sgemm`], with `A` and `B` given by their rows.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
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
            // touches; the CPU has AVX-512F.
            unsafe {
                let t = DotTile { k, a: a.add(i * lda), lda, b: b.add(j * ldb), ldb, c: c.add(i * ldc + j), ldc };
                match (rows, cols) {
                    (4, 6) => t.run::<4, 6>(alpha, beta),
                    (r, 6) => t.run_rows::<6>(r, alpha, beta),
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
    /// The CPU has AVX-512F; rows `0..R` of `A` and `0..S` of `B` hold `k`
    /// elements each inside their allocations, and the `R x S` elements of
    /// `C` lie inside its allocation, apart from `A` and `B`.
    #[inline(always)]
    unsafe fn run<const R: usize, const S: usize>(&self, alpha: f32, beta: f32) {
        // SAFETY: the plain loads read lanes p..p + 16 <= k of rows that
        // hold k elements; the tail's loads are masked to the k - p inside
        // (see the module's note on masked loads); the stores write the
        // R x S elements of C.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); S]; R];
            let mut p = 0;
            // Whole vectors with plain loads, then the tail masked.
            while p + 16 <= self.k {
                let x: [__m512; R] = std::array::from_fn(|r| _mm512_loadu_ps(self.a.add(r * self.lda + p)));
                for s in 0..S {
                    let y = _mm512_loadu_ps(self.b.add(s * self.ldb + p));
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        acc[s] = _mm512_fmadd_ps(x, y, acc[s]);
                    }
                }
                p += 16;
            }
            if p < self.k {
                let mask = lane_mask(self.k - p);
                let x: [__m512; R] = std::array::from_fn(|r| _mm512_maskz_loadu_ps(mask, self.a.add(r * self.lda + p)));
                for s in 0..S {
                    let y = _mm512_maskz_loadu_ps(mask, self.b.add(s * self.ldb + p));
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        acc[s] = _mm512_fmadd_ps(x, y, acc[s]);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for (s, &sum) in acc.iter().enumerate() {
                    let at = self.c.add(r * self.ldc + s);
                    let v = alpha * _mm512_reduce_add_ps(sum);
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

/// The first `lanes` (at most 16) of a 16-lane register.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn lane_mask(lanes: usize) -> u16 {
    if lanes >= 16 {
        u16::MAX
    } else {
        (1u16 << lanes) - 1
    }
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
    masks: [u16; 2],
}

#[cfg(target_arch = "x86_64")]
impl Tile {
    /// [`Tile::run`] for `rows` (1 to `MR`) rows.
    ///
    /// # Safety
    ///
    /// As for [`Tile::run`] with `R = rows`.
    #[inline(always)]
    unsafe fn rows<const V: usize>(&self, rows: usize, alpha: f32, beta: f32) {
        // SAFETY: the caller's contract, for each height.
        unsafe {
            match rows {
                12 => self.run::<12, V>(alpha, beta),
                11 => self.run::<11, V>(alpha, beta),
                10 => self.run::<10, V>(alpha, beta),
                9 => self.run::<9, V>(alpha, beta),
                8 => self.run::<8, V>(alpha, beta),
                7 => self.run::<7, V>(alpha, beta),
                6 => self.run::<6, V>(alpha, beta),
                5 => self.run::<5, V>(alpha, beta),
                4 => self.run::<4, V>(alpha, beta),
                3 => self.run::<3, V>(alpha, beta),
                2 => self.run::<2, V>(alpha, beta),
                _ => self.run::<1, V>(alpha, beta),
            }
        }
    }

    /// `C = alpha A B + beta C` over `R` rows and the columns of `V` (1 or
    /// 2) registers: a product at most 16 wide (a Winograd plane over 16
    /// channels) runs one register wide, instead of spending half of each
    /// multiply-add on masked-out lanes.
    ///
    /// # Safety
    ///
    /// The CPU has AVX-512F; the `R` rows of `A` at `(rsa, csa)` hold `kc`
    /// elements inside its allocation; the `kc` rows of `B` (`ldb` apart)
    /// and the `R` rows of `C` (`ldc` apart) hold, inside their
    /// allocations, every column whose lane `masks` sets; `C` aliases
    /// neither `A` nor `B`.
    #[inline(always)]
    unsafe fn run<const R: usize, const V: usize>(&self, alpha: f32, beta: f32) {
        // SAFETY: every broadcast reads an element of A inside its rows;
        // every load and store of B and C is masked to the columns inside
        // (see the module's note on masked loads); with V == 1 the second
        // register's columns, which lie outside `C`, are never touched.
        unsafe {
            let masks = self.masks;
            let mut acc = [[_mm512_setzero_ps(); V]; R];
            for p in 0..self.kc {
                let bp = self.b.wrapping_add(p * self.ldb);
                let row: [__m512; V] =
                    std::array::from_fn(|h| _mm512_maskz_loadu_ps(masks[h], bp.wrapping_add(16 * h)));
                let ap = self.a.wrapping_offset(p as isize * self.csa);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*ap.offset(r as isize * self.rsa));
                    for (acc, &y) in acc.iter_mut().zip(&row) {
                        *acc = _mm512_fmadd_ps(x, y, *acc);
                    }
                }
            }
            let (alpha, beta_v) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
            for (r, acc) in acc.iter().enumerate() {
                let row = self.c.add(r * self.ldc);
                for (h, (&sum, &mask)) in acc.iter().zip(&masks).enumerate() {
                    let at = row.wrapping_add(16 * h);
                    let mut v = _mm512_mul_ps(alpha, sum);
                    if beta != 0.0 {
                        v = _mm512_fmadd_ps(beta_v, _mm512_maskz_loadu_ps(mask, at), v);
                    }
                    _mm512_mask_storeu_ps(at, mask, v);
                }
            }
        }
    }
}
