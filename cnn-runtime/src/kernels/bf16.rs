//! sgemm with bfloat16 operands, for the `mixed_bfloat16` precision
//! ([`super::gemm::Precision`]): `C = alpha A B + beta C` where `A` and `B`
//! are rounded to bfloat16 (to nearest, ties to even) and every sum is
//! accumulated and returned in float32, as Keras's `mixed_bfloat16`
//! policy computes a layer.
//!
//! Two kernels multiply, on the same packed operands ([`Bf16Kernel`]):
//! AMX's tile units where the CPU has them ([`super::amx`]; Intel Xeon
//! from Sapphire Rapids on), else AVX512_BF16's `vdpbf16ps`
//! ([`super::dpbf16`]; AMD from Zen 4 on). `CNN_BF16=amx` or `avx512bf16`
//! forces one, so that a CPU with both can test and measure each.
//!
//! Both operands are copied, rounded, into tiles in a thread's scratch
//! (grown once, then reused: the step does not allocate): `A` as 16 x 32
//! tiles of rows, `B` in the pair-interleaved layout that `tdpbf16ps` and
//! `vdpbf16ps` read (row `q` of a tile holds depths `2q` and `2q + 1` of
//! each of 16 columns, side by side), both zero-padded to whole tiles.
//! Each 32 x 32 block of `C` is then four 16 x 16 accumulator tiles
//! summed over the depth; the accumulators go through a float32 scratch
//! into `C`, masked at its edges.
//!
//! Only [`super::gemm::sgemm_with`] calls this, after checking every index.
//! Masked loads and stores past a row's end are sound for the reason
//! `avx512.rs` gives: a lane whose mask bit is clear is neither read nor
//! written and cannot fault.

use super::avx512::lane_mask;
use super::gemm::forced;
use super::{amx, dpbf16};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;
use std::cell::RefCell;
use std::sync::OnceLock;

/// Rows of a tile, and columns of a `C` tile.
pub(super) const TM: usize = 16;
/// Depth of a tile: 32 bfloat16 values, a 64-byte row.
pub(super) const TK: usize = 32;
/// Bytes in a row of any tile here.
pub(super) const STRIDE: usize = 64;

/// One 64-byte row of a tile: 32 bfloat16 values, as `tileloadd` reads it.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([u16; TK]);

/// Which instructions multiply the bfloat16 tiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AMX's tile units (`tdpbf16ps`).
    Amx,
    /// AVX-512's `vdpbf16ps`.
    Avx512Bf16,
}

impl Bf16Kernel {
    /// Every kernel, the one preferred first.
    pub const ALL: [Bf16Kernel; 2] = [Bf16Kernel::Amx, Bf16Kernel::Avx512Bf16];

    /// The name `CNN_BF16` takes.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Kernel::Amx => "amx",
            Bf16Kernel::Avx512Bf16 => "avx512bf16",
        }
    }

    /// Whether this CPU (and, for AMX, this system) can run it.
    pub fn supported(self) -> bool {
        match self {
            Bf16Kernel::Amx => amx::supported(),
            Bf16Kernel::Avx512Bf16 => dpbf16::supported(),
        }
    }

    /// The kernel a value of `CNN_BF16` asks for (`None` or empty: the
    /// first this CPU has, or `None` where it has neither), or why it
    /// cannot run here.
    pub fn from_setting(setting: Option<&str>) -> Result<Option<Bf16Kernel>, String> {
        let forced = forced(
            ("CNN_BF16", "kernel", "this CPU or system cannot run it"),
            &Self::ALL,
            Self::name,
            Self::supported,
            setting,
        )?;
        Ok(forced.or_else(|| Self::ALL.into_iter().find(|k| k.supported())))
    }
}

/// The kernel every bfloat16 product takes in this process (`CNN_BF16`
/// read once), or `None` where the CPU has neither.
///
/// # Panics
///
/// If `CNN_BF16` names an unknown kernel or one this CPU cannot run: a
/// benchmark or test that forces a kernel must not silently measure another.
pub fn kernel() -> Option<Bf16Kernel> {
    static KERNEL: OnceLock<Option<Bf16Kernel>> = OnceLock::new();
    *KERNEL.get_or_init(|| {
        let setting = std::env::var("CNN_BF16").ok();
        Bf16Kernel::from_setting(setting.as_deref()).unwrap_or_else(|e| panic!("{e}"))
    })
}

thread_local! {
    /// This thread's packed `A`, grown to the largest product it ran.
    static PACKED_A: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
    /// This thread's packed `B` where the caller did not pack it.
    static PACKED_B: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

/// Values of `u16` that [`pack_b`] writes for a `k x n` operand: whole
/// 2 x 2 blocks of tiles.
pub const fn packed_b_len(k: usize, n: usize) -> usize {
    n.div_ceil(2 * TM) * 2 * TM * k.div_ceil(TK) * TK
}

/// `C = alpha A B + beta C` with `A` and `B` rounded to bfloat16, for `A:
/// m x k` at strides `(rsa, csa)`, `B: k x n` at strides `(rsb, csb)`,
/// and `C: m x n` row-major with leading dimension `ldc`; with `beta ==
/// 0`, `C` is only written.
///
/// # Safety
///
/// `kernel` is supported ([`Bf16Kernel::supported`]); `k > 0`; every
/// element of `A`, `B` and `C` at those strides lies inside its
/// allocation; `C` aliases neither `A` nor `B`, and `ldc >= n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    kernel: Bf16Kernel,
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    (a, rsa, csa): (*const f32, isize, isize),
    (b, rsb, csb): (*const f32, isize, isize),
    beta: f32,
    (c, ldc): (*mut f32, usize),
) {
    let len = packed_b_len(k, n) / TK;
    PACKED_B.with_borrow_mut(|pb| {
        grow(pb, len);
        // SAFETY: B's elements are inside (the caller's contract); the
        // scratch holds `len` lines, what `pack_b` writes for k x n.
        unsafe { pack_b(pb.as_mut_ptr().cast(), (k, n), (b, rsb, csb)) };
    });
    // SAFETY: as the caller's contract, with B packed for k x n; this
    // thread's scratch for B is not touched again until the product ends.
    PACKED_B.with_borrow(|pb| unsafe {
        sgemm_packed(kernel, (m, k, n), alpha, (a, rsa, csa), pb.as_ptr().cast(), beta, (c, ldc))
    });
}

/// [`sgemm`] with `B` already packed by [`pack_b`] at `pb`.
///
/// # Safety
///
/// As [`sgemm`]; `pb` holds [`packed_b_len`]`(k, n)` values that
/// [`pack_b`] wrote for this `k x n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_packed(
    kernel: Bf16Kernel,
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    (a, rsa, csa): (*const f32, isize, isize),
    pb: *const u16,
    beta: f32,
    (c, ldc): (*mut f32, usize),
) {
    // Whole 2 x 2 blocks of tiles: the padding is zeros.
    let row_tiles = m.div_ceil(2 * TM) * 2;
    let col_tiles = n.div_ceil(2 * TM) * 2;
    let depth_tiles = k.div_ceil(TK);
    let tile = TM * TK;
    PACKED_A.with_borrow_mut(|pa| {
        grow(pa, row_tiles * depth_tiles * TM);
        // SAFETY: A's elements are inside (the caller's contract); the
        // scratch holds row_tiles x depth_tiles tiles of 16 lines.
        unsafe { pack_a(pa.as_mut_ptr().cast(), row_tiles * TM, (m, k), (a, rsa, csa)) };
        let pa: *const u16 = pa.as_ptr().cast();
        let mut acc = Accumulators([0.0; 4 * TM * TM]);
        if kernel == Bf16Kernel::Amx {
            // SAFETY: AMX is supported (the caller's contract).
            unsafe { amx::configure() };
        }
        for it in (0..row_tiles).step_by(2) {
            let a = [pa.wrapping_add(it * depth_tiles * tile), pa.wrapping_add((it + 1) * depth_tiles * tile)];
            for jt in (0..col_tiles).step_by(2) {
                let b = [pb.wrapping_add(jt * depth_tiles * tile), pb.wrapping_add((jt + 1) * depth_tiles * tile)];
                // SAFETY: row tiles it, it + 1 < row_tiles of the packed A
                // and column tiles jt, jt + 1 < col_tiles of B (the
                // caller's contract), depth_tiles whole tiles each; the
                // kernel is supported and, for AMX, configured above.
                unsafe {
                    match kernel {
                        Bf16Kernel::Amx => amx::block(a, b, depth_tiles, &mut acc),
                        Bf16Kernel::Avx512Bf16 => dpbf16::block(a, b, depth_tiles, m - it * TM, &mut acc),
                    }
                }
                for (t, tile) in acc.0.chunks_exact(TM * TM).enumerate() {
                    let (i0, j0) = ((it + t / 2) * TM, (jt + t % 2) * TM);
                    if i0 < m && j0 < n {
                        // SAFETY: rows i0.. and columns j0.. of C inside m x n
                        // (the caller's contract), masked to them; the
                        // kernel computed these rows of the block.
                        unsafe {
                            store_c(tile, (m - i0).min(TM), (n - j0).min(TM), alpha, beta, c.add(i0 * ldc + j0), ldc)
                        };
                    }
                }
            }
        }
        if kernel == Bf16Kernel::Amx {
            // SAFETY: AMX is supported (the caller's contract).
            unsafe { amx::release() };
        }
    });
}

/// Four 16 x 16 float32 accumulator tiles, as `tilestored` writes them:
/// tile `t` holds row tile `t / 2` and column tile `t % 2` of a 32 x 32
/// block of `C`, each row-major.
#[repr(C, align(64))]
pub(super) struct Accumulators(pub(super) [f32; 4 * TM * TM]);

/// 16 lines of 16 pairs of bfloat16 (each pair one `i32`), transposed by
/// [`pack_a`] into a tile of a transposed `A`.
#[repr(C, align(64))]
struct PairBlock([i32; TM * TM]);

fn grow(v: &mut Vec<Line>, len: usize) {
    if v.len() < len {
        v.resize(len, Line([0; TK]));
    }
}

/// `C[r][..cols] = alpha tile[r] + beta C[r]` for the first `rows` rows.
///
/// # Safety
///
/// AVX-512F; `rows x cols` of `C` from `c` at `ldc` lie inside its
/// allocation; `cols <= 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn store_c(tile: &[f32], rows: usize, cols: usize, alpha: f32, beta: f32, c: *mut f32, ldc: usize) {
    let mask = lane_mask(cols);
    let (va, vb) = (_mm512_set1_ps(alpha), _mm512_set1_ps(beta));
    for (r, row) in tile.chunks_exact(TM).take(rows).enumerate() {
        // SAFETY: row r of the block, its first `cols` lanes (the contract).
        unsafe {
            let cr = c.add(r * ldc);
            let mut v = _mm512_mul_ps(va, _mm512_loadu_ps(row.as_ptr()));
            if beta != 0.0 {
                v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, cr), v);
            }
            _mm512_mask_storeu_ps(cr, mask, v);
        }
    }
}

/// Sixteen values of a strided vector (`len` of them; zeros after),
/// loaded contiguously where the stride is 1.
///
/// # Safety
///
/// AVX-512F; elements `0..len` at `stride` from `p` lie inside its
/// allocation; `len <= 16`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn load16(p: *const f32, stride: isize, len: usize) -> __m512 {
    if len == 0 {
        return _mm512_setzero_ps();
    }
    if stride == 1 {
        // SAFETY: the first `len` lanes are inside (the contract).
        return unsafe { _mm512_maskz_loadu_ps(lane_mask(len), p) };
    }
    let mut v = [0.0f32; 16];
    for (q, x) in v.iter_mut().take(len).enumerate() {
        // SAFETY: element q < len (the contract).
        *x = unsafe { *p.offset(q as isize * stride) };
    }
    // SAFETY: a local array of 16 values.
    unsafe { _mm512_loadu_ps(v.as_ptr()) }
}

/// Two rows of 16 values (`len` of each; zeros after, and a row past the
/// depth is all zeros), rounded to bfloat16 and interleaved: lane `2j`
/// takes `first[j]`, lane `2j + 1` takes `second[j]`. That is a line of
/// `tdpbf16ps`'s second operand, and, read as 16 pairs, a column of 16
/// pairs of depths of its first.
///
/// # Safety
///
/// AVX-512F, BW and BF16; as [`load16`] for each row that is present.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn pair_line(first: Option<*const f32>, second: Option<*const f32>, stride: isize, len: usize) -> __m512i {
    let interleave = _mm512_set_epi16(
        31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
        16, 0,
    );
    // SAFETY: the rows present, `len` values each (the contract).
    let (lo, hi) = unsafe {
        (
            first.map_or(_mm512_setzero_ps(), |p| load16(p, stride, len)),
            second.map_or(_mm512_setzero_ps(), |p| load16(p, stride, len)),
        )
    };
    // SAFETY: a 512-bit reinterpretation.
    let pair = unsafe { std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo)) };
    _mm512_permutexvar_epi16(interleave, pair)
}

/// Copies `A` (`m x k`) into tiles of 16 rows by 32 depths, rounded to
/// bfloat16: tile `(i, p)` at `((i * depth_tiles + p) * 16) * 32`, row by
/// row, `rows` rows in all (zeros from `m` on).
///
/// Where `A` is a transpose (`rsa == 1`: 16 rows of one depth lie side by
/// side), each pair of depths goes in as [`pair_line`] of 16 rows, and the
/// 16 x 16 pairs are transposed through a small block with gathers; else
/// each tile row is read along its depth.
///
/// # Safety
///
/// AVX-512F, BW and BF16; every element of `A` at the strides lies inside
/// its allocation; `dst` holds `rows * k.div_ceil(32) * 32` values;
/// `rows` is a multiple of 16, at least `m`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pack_a(dst: *mut u16, rows: usize, (m, k): (usize, usize), (a, rsa, csa): (*const f32, isize, isize)) {
    let depth_tiles = k.div_ceil(TK);
    let at = |i: usize, p: usize| a.wrapping_offset(i as isize * rsa + p as isize * csa);
    for it in 0..rows / TM {
        for p in 0..depth_tiles {
            let tile = dst.wrapping_add((it * depth_tiles + p) * TM * TK);
            let (i0, p0) = (it * TM, p * TK);
            if rsa == 1 && csa != 1 {
                let len = m.saturating_sub(i0).min(TM);
                let mut pairs = PairBlock([0; TM * TM]);
                let block: *mut i32 = pairs.0.as_mut_ptr();
                for q in 0..TM {
                    let d = p0 + 2 * q;
                    let present = |d: usize| (d < k).then(|| at(i0, d));
                    // SAFETY: rows i0..i0 + len < m of depths d, d + 1 < k
                    // (the contract); the block holds 16 lines of 16 pairs.
                    unsafe {
                        _mm512_storeu_si512(block.add(q * TM).cast(), pair_line(present(d), present(d + 1), 1, len))
                    };
                }
                let columns = _mm512_set_epi32(240, 224, 208, 192, 176, 160, 144, 128, 112, 96, 80, 64, 48, 32, 16, 0);
                for r in 0..TM {
                    // SAFETY: indices r + 16q < 256 of the block's pairs; a
                    // 64-byte row of the tile (the contract).
                    unsafe {
                        let v = _mm512_i32gather_epi32::<4>(
                            _mm512_add_epi32(columns, _mm512_set1_epi32(r as i32)),
                            block.cast_const().cast(),
                        );
                        _mm512_storeu_si512(tile.add(r * TK).cast(), v);
                    }
                }
            } else {
                for r in 0..TM {
                    let i = i0 + r;
                    let depth = if i < m { (k - p0).min(TK) } else { 0 };
                    // SAFETY: depths p0.. of row i < m, `depth` of them (the
                    // contract); a 64-byte row of the tile.
                    unsafe {
                        let (lo, hi) = (
                            load16(at(i, p0), csa, depth.min(16)),
                            load16(at(i, p0 + 16), csa, depth.saturating_sub(16)),
                        );
                        let v = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo));
                        _mm512_storeu_si512(tile.add(r * TK).cast(), v);
                    }
                }
            }
        }
    }
}

/// Copies `B` (`k x n`) into tiles of 32 depths by 16 columns, rounded to
/// bfloat16, in the pair-interleaved layout of `tdpbf16ps`'s second
/// source: tile `(j, p)` at `((j * depth_tiles + p) * 16) * 32`, its line
/// `q` holding depths `2q` and `2q + 1` of each column side by side; whole
/// pairs of column tiles ([`packed_b_len`] values), zeros past `k x n`.
///
/// # Safety
///
/// AVX-512F, BW and BF16; every element of `B` at the strides lies inside
/// its allocation; `dst` holds [`packed_b_len`]`(k, n)` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub unsafe fn pack_b(dst: *mut u16, (k, n): (usize, usize), (b, rsb, csb): (*const f32, isize, isize)) {
    let depth_tiles = k.div_ceil(TK);
    let cols = n.div_ceil(2 * TM) * 2 * TM;
    let at = |d: usize, j: usize| b.wrapping_offset(d as isize * rsb + j as isize * csb);
    for j in (0..cols).step_by(TM) {
        let width = n.saturating_sub(j).min(TM);
        for p in 0..depth_tiles {
            for q in 0..TM {
                let d = p * TK + 2 * q;
                let present = |d: usize| (d < k).then(|| at(d, j));
                // SAFETY: rows d, d + 1 where < k, columns j..j + width
                // inside n (the contract); a 64-byte line of `dst`.
                unsafe {
                    let v = pair_line(present(d), present(d + 1), csb, width);
                    _mm512_storeu_si512(dst.add(((j / TM) * depth_tiles + p) * TM * TK + q * TK).cast(), v);
                }
            }
        }
    }
}

/// `x` rounded to bfloat16 (to nearest, ties to even) and back: what
/// [`sgemm`] multiplies in place of `x`. For tests.
#[cfg(test)]
pub fn round_to_bf16(x: f32) -> f32 {
    let bits = x.to_bits();
    if x.is_nan() {
        return x;
    }
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) & 0xffff_0000;
    f32::from_bits(rounded)
}
