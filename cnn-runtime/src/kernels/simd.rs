//! Wider vectors where the CPU has them. The crate is built for baseline
//! x86-64 (SSE2), so a loop that the compiler vectorizes runs 4 lanes wide;
//! `vectorized` runs it compiled for AVX2 (8 lanes) when the CPU says it
//! has AVX2, and as built otherwise. Only additions, subtractions and
//! multiplications by exact constants run this way: Rust never fuses a
//! multiply and an add on its own, so the results are bitwise the same on
//! every path.

/// `f()`, compiled with AVX2 enabled when this CPU supports it.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU supports AVX2 (checked just above), the only
        // requirement of calling a function compiled for it.
        return unsafe { avx2(f) };
    }
    f()
}

/// The longest row [`long_rows`] builds.
const LONG_ROW: usize = 128;

/// `f(values, per_column)` over `len` values in rows of `columns` (each
/// of `per_column` one value a column), where short rows are taken
/// several at a time, `per_column` repeated to match: LLVM's AVX2 loops
/// take 32 values a turn, so that a loop over a row of 16 channels
/// (ResNet-20's first stage) ran its scalar remainder only. The rows left
/// over come last, with `per_column` as it is. Nothing changes the order
/// in which values are computed, so the bits are those of plain rows.
#[inline(always)]
pub fn long_rows<const K: usize>(
    len: usize,
    per_column: [&[f32]; K],
    mut f: impl FnMut(std::ops::Range<usize>, [&[f32]; K]),
) {
    let columns = per_column.first().map_or(1, |v| v.len()).max(1);
    let repeats = LONG_ROW / columns;
    if repeats < 2 {
        return f(0..len, per_column);
    }
    let row = repeats * columns;
    let mut long = [[0.0; LONG_ROW]; K];
    for (long, v) in long.iter_mut().zip(per_column) {
        long[..row].chunks_exact_mut(columns).for_each(|l| l.copy_from_slice(v));
    }
    let whole = len / row * row;
    f(0..whole, std::array::from_fn(|k| &long[k][..row]));
    f(whole..len, per_column);
}

/// `f()`, compiled with AVX-512 (F and DQ) enabled when this CPU supports
/// them: for integer hashing, whose 64-bit multiplies only vectorize with
/// AVX-512DQ. Integer arithmetic is exact, so every path agrees.
#[inline(always)]
pub fn vectorized_u64<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq") {
        #[target_feature(enable = "avx512f,avx512dq")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU supports AVX-512F and DQ (checked just above).
        return unsafe { avx512(f) };
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value is visited once, with its own column's values, for rows
    /// shorter and longer than the regrouped ones and a partial group last.
    #[test]
    fn long_rows_give_each_value_its_columns() {
        for columns in [1, 3, 16, 100, 130] {
            let a: Vec<f32> = (0..columns).map(|c| c as f32).collect();
            let b: Vec<f32> = (0..columns).map(|c| -(c as f32)).collect();
            let len = columns * 301;
            let mut seen = vec![f32::NAN; len];
            long_rows(len, [&a, &b], |r, [a, b]| {
                assert_eq!(r.len() % a.len(), 0, "{columns} columns: a range of part rows");
                for (v, i) in seen[r.clone()].iter_mut().zip(0..) {
                    assert!(v.is_nan(), "{columns} columns: a value visited twice");
                    *v = a[i % a.len()] - b[i % b.len()];
                }
            });
            let want: Vec<f32> = (0..len).map(|i| 2.0 * (i % columns) as f32).collect();
            assert_eq!(seen, want, "{columns} columns");
        }
    }
}
