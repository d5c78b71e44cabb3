//! Dense: `y [n, units] = x [n, in] * W [in, units] + b`, one sgemm a batch.

use super::activation::{bias_activate, Activation};
use super::gemm::{sgemm, MatRef};
use rayon::prelude::*;

/// `y = act(x W + b)` for `n` rows.
#[allow(clippy::too_many_arguments)]
pub fn dense_forward(
    inputs: usize,
    units: usize,
    kernel: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    x: &[f32],
    y: &mut [f32],
    n: usize,
) {
    assert!(
        kernel.len() == inputs * units && bias.is_none_or(|b| b.len() == units),
        "dense_forward: weights do not fit"
    );
    let y = &mut y[..n * units];
    sgemm(n, inputs, units, 1.0, MatRef::n(&x[..n * inputs], inputs), MatRef::n(kernel, units), 0.0, y, units);
    bias_activate(act, y, bias, units);
}

/// Gradients of a Dense from `dz` at its pre-activation output: `dW = x^T dz`
/// (if asked for: see [`dense_kernel_grad`]), `db = sum dz`, `dx = dz W^T`
/// (all overwritten).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    inputs: usize,
    units: usize,
    kernel: &[f32],
    x: &[f32],
    dz: &[f32],
    dx: Option<&mut [f32]>,
    dkernel: Option<&mut [f32]>,
    dbias: Option<&mut [f32]>,
    n: usize,
) {
    let (x, dz) = (&x[..n * inputs], &dz[..n * units]);
    if let Some(dkernel) = dkernel {
        sgemm(inputs, n, units, 1.0, MatRef::t(x, inputs), MatRef::n(dz, units), 0.0, dkernel, units);
    }
    if let Some(db) = dbias {
        db.fill(0.0);
        for row in dz.chunks_exact(units) {
            db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
        }
    }
    if let Some(dx) = dx {
        sgemm(
            n,
            units,
            inputs,
            1.0,
            MatRef::n(dz, units),
            MatRef::t(kernel, units),
            0.0,
            &mut dx[..n * inputs],
            inputs,
        );
    }
}

/// Values of `dW` per parallel task of [`dense_kernel_grad`]: a block that
/// stays in cache while every chunk adds its product to it.
const GRAD_BLOCK: usize = 1 << 15;

/// `dW = sum over chunks c of x_cᵀ dz_c` (overwritten), the kernel gradient
/// of a Dense over a whole batch, from each chunk's input `x_c` and
/// gradient `dz_c` at the pre-activation output: `part(c)` gives
/// `(x_c, dz_c, rows of chunk c)`. Blocks of `dW`'s rows run in parallel;
/// within a block the chunks add up in order, so the result does not
/// depend on the number of threads, and it is the sum that adding the
/// chunks' own gradients gives.
pub fn dense_kernel_grad<'a>(
    inputs: usize,
    units: usize,
    chunks: usize,
    part: impl Fn(usize) -> (&'a [f32], &'a [f32], usize) + Sync,
    dkernel: &mut [f32],
) {
    assert!(dkernel.len() == inputs * units, "dense_kernel_grad: kernel gradient does not fit");
    if dkernel.is_empty() {
        return;
    }
    let rows = (GRAD_BLOCK / units).max(1);
    dkernel.par_chunks_mut(rows * units).enumerate().for_each(|(b, block)| {
        let (first, rows) = (b * rows, block.len() / units);
        let mut beta = 0.0;
        for (x, dz, n) in (0..chunks).map(&part).filter(|&(_, _, n)| n > 0) {
            let (x, dz) = (MatRef::t(&x[first..n * inputs], inputs), MatRef::n(&dz[..n * units], units));
            sgemm(rows, n, units, 1.0, x, dz, beta, block, units);
            beta = 1.0;
        }
        if beta == 0.0 {
            block.fill(0.0);
        }
    });
}
