//! The AVX512_BF16 kernel of the bfloat16 products ([`super::bf16`]), for
//! CPUs that have `vdpbf16ps` but no AMX: AMD from Zen 4 on, Intel Cooper
//! Lake. One `vdpbf16ps` multiplies 16 pairs of bfloat16 by 16 pairs and
//! adds each pair's two products to a float32 lane: 32 multiply-adds
//! where a float32 `vfmadd` does 16.
//!
//! Why: on the AMD EPYC Zen 4 that the project's bars are set on, Keras's
//! `mixed_bfloat16` policy (oneDNN's AVX512_BF16 kernels there) trains the
//! airbench layout 1.33-1.39x faster than its float32. On the Intel Xeon
//! with AMX it is no lever: a loop of independent `vdpbf16ps` ran a third
//! as many instructions a second as the same loop of `vfmadd`, two thirds
//! of float32's rate; there [`super::amx`] runs instead.
//!
//! It reads the same packed tiles as AMX's `tdpbf16ps`: a line of a tile
//! of `B` holds depths `2q` and `2q + 1` of 16 columns as 16 pairs, one
//! register; a line of a tile of `A` holds 32 depths of one row, whose
//! pair `q` is broadcast to every lane. A register tile is 8 rows by the
//! block's 32 columns: 16 accumulators, 2 lines of `B` and a broadcast
//! fill 19 of the 32 registers, and the 16 independent sums cover
//! `vdpbf16ps`'s latency.

#[cfg(target_arch = "x86_64")]
use super::bf16::{Accumulators, TK, TM};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows of `C` per register tile.
#[cfg(target_arch = "x86_64")]
const ROWS: usize = 8;

/// Whether this CPU can run [`block`] and the packing before it:
/// AVX-512 F, BW and BF16.
pub fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        has!("avx512f") && has!("avx512bw") && has!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `acc` = the 32 x 32 block of `A B` whose two row tiles of `A` start at
/// `a[0]` and `a[1]` and whose two column tiles of `B` start at `b[0]` and
/// `b[1]`, each `depth_tiles` tiles of 16 lines of 32 bfloat16, one after
/// the other along the depth ([`super::bf16`]'s layout), as
/// [`super::amx::block`] computes it. Only its first `rows` rows are
/// computed; the rest of `acc` is left as it was.
///
/// # Safety
///
/// The CPU has AVX-512F and BF16 ([`supported`]); each of the four
/// pointers leads `depth_tiles` whole tiles inside its allocation.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
pub unsafe fn block(a: [*const u16; 2], b: [*const u16; 2], depth_tiles: usize, rows: usize, acc: &mut Accumulators) {
    let tile = TM * TK;
    for first in (0..rows.min(2 * TM)).step_by(ROWS) {
        // Rows first..first + 8 lie in one row tile of A, lines first % 16 on.
        let at = a[first / TM].wrapping_add((first % TM) * TK);
        let mut sums = [[_mm512_setzero_ps(); 2]; ROWS];
        for p in 0..depth_tiles {
            let (ap, b0, b1) = (at.wrapping_add(p * tile), b[0].wrapping_add(p * tile), b[1].wrapping_add(p * tile));
            for q in 0..TM {
                // SAFETY: line q of tile p of each column tile of B, and
                // pair q of lines 0..8 of tile p from `at` (line 8 + 7 at
                // most, inside the 16-line tile), all inside the packed
                // operands (the contract); unaligned loads.
                unsafe {
                    let lines = [_mm512_loadu_si512(b0.add(q * TK).cast()), _mm512_loadu_si512(b1.add(q * TK).cast())];
                    let lines = lines.map(|l| std::mem::transmute::<__m512i, __m512bh>(l));
                    for (r, sum) in sums.iter_mut().enumerate() {
                        let pair = ap.add(r * TK + 2 * q).cast::<i32>().read_unaligned();
                        let pair = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(pair));
                        sum[0] = _mm512_dpbf16_ps(sum[0], pair, lines[0]);
                        sum[1] = _mm512_dpbf16_ps(sum[1], pair, lines[1]);
                    }
                }
            }
        }
        // Row first + r of the block is row (first + r) % 16 of the
        // accumulator tiles 2 (first / 16) and 2 (first / 16) + 1.
        for (r, sum) in sums.iter().enumerate() {
            let (t, line) = (2 * (first / TM), (first % TM + r) * TM);
            // SAFETY: 16 values at line `line` of tiles t and t + 1, inside
            // the 1,024 of `acc`.
            unsafe {
                _mm512_storeu_ps(acc.0.as_mut_ptr().add(t * TM * TM + line), sum[0]);
                _mm512_storeu_ps(acc.0.as_mut_ptr().add((t + 1) * TM * TM + line), sum[1]);
            }
        }
    }
}
