//! Dense: `y [n, units] = x [n, in] * W [in, units] + b`, one sgemm a batch.

use super::activation::{bias_activate, Activation};
use super::gemm::{sgemm, MatRef};

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

/// Gradients of a Dense from `dz` at its pre-activation output: `dW = x^T dz`,
/// `db = sum dz`, `dx = dz W^T` (all overwritten).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    inputs: usize,
    units: usize,
    kernel: &[f32],
    x: &[f32],
    dz: &[f32],
    dx: Option<&mut [f32]>,
    dkernel: &mut [f32],
    dbias: Option<&mut [f32]>,
    n: usize,
) {
    let (x, dz) = (&x[..n * inputs], &dz[..n * units]);
    sgemm(inputs, n, units, 1.0, MatRef::t(x, inputs), MatRef::n(dz, units), 0.0, dkernel, units);
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
