//! Conv2D: im2col + one sgemm per image, NHWC in and out.
//!
//! Forward, per image: `cols [P, K] = im2col(x)`, `y [P, F] = cols * W [K, F] + b`,
//! where P = output positions, K = kh*kw*in (Keras's kernel order), F = filters.
//! Backward: `dW += cols^T * dz`, `db += sum_P dz`, `dx = col2im(dz * W^T)`.

use super::activation::{bias_activate, Activation};
use super::gemm::{sgemm, MatRef};
use super::window::{col2im, patches, Window};

/// A Conv2D layer's fixed shape, as the macro emits it.
#[derive(Clone, Copy, Debug)]
pub struct Conv {
    pub window: Window,
    pub filters: usize,
}

impl Conv {
    pub const fn out_len(&self) -> usize {
        self.window.positions() * self.filters
    }
    /// Scratch values one image's im2col needs.
    pub const fn cols_len(&self) -> usize {
        self.window.positions() * self.window.patch_len()
    }
    pub const fn kernel_len(&self) -> usize {
        self.window.patch_len() * self.filters
    }
}

/// `y = act(conv(x) + b)` for `n` images.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward(
    conv: &Conv,
    kernel: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
    x: &[f32],
    y: &mut [f32],
    n: usize,
    cols: &mut [f32],
) {
    let (w, f) = (&conv.window, conv.filters);
    let (p, k, in_len, out_len) = (w.positions(), w.patch_len(), w.in_len(), conv.out_len());
    assert!(kernel.len() == k * f && bias.is_none_or(|b| b.len() == f), "conv2d_forward: weights do not fit");
    assert!(x.len() >= n * in_len && y.len() >= n * out_len, "conv2d_forward: batch buffers too short");
    for i in 0..n {
        let xi = &x[i * in_len..][..in_len];
        let yi = &mut y[i * out_len..][..out_len];
        let patches = patches(w, xi, cols);
        sgemm(p, k, f, 1.0, MatRef::n(patches, k), MatRef::n(kernel, f), 0.0, yi, f);
    }
    bias_activate(act, &mut y[..n * out_len], bias, f);
}

/// Gradients of a Conv2D for `n` images, from `dz`, the gradient at the
/// pre-activation output. `dkernel`, `dbias` and `dx` (if asked for) are
/// overwritten: no caller needs to zero them first.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(
    conv: &Conv,
    kernel: &[f32],
    x: &[f32],
    dz: &[f32],
    mut dx: Option<&mut [f32]>,
    dkernel: &mut [f32],
    mut dbias: Option<&mut [f32]>,
    n: usize,
    cols: &mut [f32],
    dcols: &mut [f32],
) {
    let (w, f) = (&conv.window, conv.filters);
    let (p, k, in_len, out_len) = (w.positions(), w.patch_len(), w.in_len(), conv.out_len());
    assert!(kernel.len() == k * f && dkernel.len() == k * f, "conv2d_backward: weights do not fit");
    assert!(x.len() >= n * in_len && dz.len() >= n * out_len, "conv2d_backward: batch buffers too short");
    for i in 0..n {
        let xi = &x[i * in_len..][..in_len];
        let dzi = &dz[i * out_len..][..out_len];
        let patches = patches(w, xi, cols);
        let beta = if i == 0 { 0.0 } else { 1.0 };
        sgemm(k, p, f, 1.0, MatRef::t(patches, k), MatRef::n(dzi, f), beta, dkernel, f);
        if let Some(db) = dbias.as_deref_mut() {
            if i == 0 {
                db.fill(0.0);
            }
            for row in dzi.chunks_exact(f) {
                db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
            }
        }
        if let Some(dx) = dx.as_deref_mut() {
            let dxi = &mut dx[i * in_len..][..in_len];
            if w.is_pointwise() {
                sgemm(p, f, k, 1.0, MatRef::n(dzi, f), MatRef::t(kernel, f), 0.0, dxi, k);
            } else {
                sgemm(p, f, k, 1.0, MatRef::n(dzi, f), MatRef::t(kernel, f), 0.0, dcols, k);
                dxi.fill(0.0);
                col2im(w, dcols, dxi);
            }
        }
    }
}
