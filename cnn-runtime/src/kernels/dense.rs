//! Dense: `y [n, units] = x [n, in] * W [in, units] + b`, one sgemm a batch.

use super::activation::{activate, Activation};
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
    let beta = match bias {
        Some(b) => {
            y.chunks_exact_mut(units).for_each(|row| row.copy_from_slice(b));
            1.0
        }
        None => 0.0,
    };
    sgemm(n, inputs, units, 1.0, MatRef::n(&x[..n * inputs], inputs), MatRef::n(kernel, units), beta, y, units);
    activate(act, y, units);
}

/// Gradients of a Dense from `dz` at its pre-activation output: `dW += x^T dz`,
/// `db += sum dz`, `dx = dz W^T` (overwritten, if asked for).
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
    sgemm(inputs, n, units, 1.0, MatRef::t(x, inputs), MatRef::n(dz, units), 1.0, dkernel, units);
    if let Some(db) = dbias {
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
