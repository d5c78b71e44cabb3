//! Dense over the whole batch: `y [n, units] = x [n, in] W [in, units] + b`.
//! Each product runs once over every row of the batch, split into blocks
//! of columns (forward and `dx`) or rows of `dW`, so that the kernel is
//! read from memory once per step however many threads share the work:
//! the seed's `dense_1` kernel is 4.7 MB. The blocks are fixed by the
//! shapes, never by the thread count, so neither are the results.

use super::gemm::{sgemm, MatRef};
use rayon::prelude::*;

/// Columns of `y` (or `dx`) per parallel task.
pub const COL_BLOCK: usize = 64;

/// Values of `dW` per parallel task of [`kernel_grad`]: a block that
/// stays in cache while the batch's rows are added to it.
const GRAD_BLOCK: usize = 1 << 15;

/// Scratch values [`product`] and [`input_grad`] need for `n` rows.
pub const fn scratch_len(inputs: usize, units: usize, n: usize) -> usize {
    let widest = if inputs > units { inputs } else { units };
    if widest > COL_BLOCK {
        n * widest
    } else {
        0
    }
}

/// `out [n, cols]` (overwritten, or with `add` added to) by column blocks:
/// `block(first, width, c, beta)` computes columns `first..first + width`
/// of every row into `c`, row-major with `width` columns, as
/// `c = product + beta c`. Blocks go to `tmp` and are then copied (or
/// added) into place, as safe slices cannot hand threads interleaved
/// columns of `out`.
fn by_columns(
    n: usize,
    cols: usize,
    out: &mut [f32],
    tmp: &mut [f32],
    add: bool,
    block: impl Fn(usize, usize, &mut [f32], f32) + Sync,
) {
    let out = &mut out[..n * cols];
    if cols <= COL_BLOCK || n == 0 {
        block(0, cols, out, if add { 1.0 } else { 0.0 });
        return;
    }
    let tmp = &mut tmp[..n * cols];
    tmp.par_chunks_mut(n * COL_BLOCK).enumerate().for_each(|(b, t)| block(b * COL_BLOCK, t.len() / n, t, 0.0));
    let tmp = &*tmp;
    out.par_chunks_mut(cols).enumerate().for_each(|(r, row)| {
        for (b, dst) in row.chunks_mut(COL_BLOCK).enumerate() {
            let width = dst.len();
            let src = &tmp[n * b * COL_BLOCK + r * width..][..width];
            if add {
                dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
            } else {
                dst.copy_from_slice(src);
            }
        }
    });
}

/// `y = x W` for `n` rows (no bias: the engine adds it with the activation).
#[allow(clippy::too_many_arguments)]
pub fn product(inputs: usize, units: usize, kernel: &[f32], x: &[f32], y: &mut [f32], n: usize, tmp: &mut [f32]) {
    assert!(kernel.len() == inputs * units, "dense product: weights do not fit");
    let x = &x[..n * inputs];
    by_columns(n, units, y, tmp, false, |first, width, c, beta| {
        sgemm(n, inputs, width, 1.0, MatRef::n(x, inputs), MatRef::n(&kernel[first..], units), beta, c, width);
    });
}

/// `dx = dz Wᵀ` for `n` rows (overwritten, or with `add` added to).
#[allow(clippy::too_many_arguments)]
pub fn input_grad(
    inputs: usize,
    units: usize,
    kernel: &[f32],
    dz: &[f32],
    dx: &mut [f32],
    add: bool,
    n: usize,
    tmp: &mut [f32],
) {
    assert!(kernel.len() == inputs * units, "dense input_grad: weights do not fit");
    let dz = &dz[..n * units];
    by_columns(n, inputs, dx, tmp, add, |first, width, c, beta| {
        let wt = MatRef::t(&kernel[first * units..], units);
        sgemm(n, units, width, 1.0, MatRef::n(dz, units), wt, beta, c, width);
    });
}

/// `dW = xᵀ dz` over the `n` rows of the batch (overwritten), in blocks of
/// `dW`'s rows in parallel.
pub fn kernel_grad(inputs: usize, units: usize, x: &[f32], dz: &[f32], n: usize, dkernel: &mut [f32]) {
    assert!(dkernel.len() == inputs * units, "dense kernel_grad: kernel gradient does not fit");
    if dkernel.is_empty() {
        return;
    }
    let (x, dz) = (&x[..n * inputs], &dz[..n * units]);
    let rows = (GRAD_BLOCK / units).max(1);
    dkernel.par_chunks_mut(rows * units).enumerate().for_each(|(b, block)| {
        let first = b * rows;
        if n == 0 {
            block.fill(0.0);
            return;
        }
        let m = block.len() / units;
        sgemm(m, n, units, 1.0, MatRef::t(&x[first..], inputs), MatRef::n(dz, units), 0.0, block, units);
    });
}

/// `db = sum over rows of dz` (overwritten).
pub fn bias_grad(dz: &[f32], db: &mut [f32]) {
    db.fill(0.0);
    for row in dz.chunks_exact(db.len()) {
        db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
    }
}
