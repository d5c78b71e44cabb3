//! Conv2D, NHWC in and out: Winograd for 3x3 stride-1 kernels over enough
//! channels (see `winograd`; F(4x4, 3x3) on wide layers, F(2x2, 3x3) on
//! the rest), im2col + one sgemm per image for the others.
//!
//! im2col forward, per image: `cols [P, K] = im2col(x)`, `y [P, F] = cols * W [K, F] + b`,
//! where P = output positions, K = kh*kw*in (Keras's kernel order), F = filters.
//! Backward: `dW += cols^T * dz`, `db += sum_P dz`, `dx = col2im(dz * W^T)`.

use super::activation::{bias_activate, Activation};
use super::gemm::{sgemm, MatRef};
use super::window::{col2im, patches, Window};
use super::winograd::{transpose, Winograd};

/// Below this many input channels, Winograd's 16 sgemms are too shallow
/// (k = channels) to beat im2col's single deeper one: measured on the
/// seed's first layer (3 channels) with `cargo bench --bench train_step`.
const WINOGRAD_MIN_CHANNELS: usize = 8;

/// Winograd F(4x4, 3x3) where `channels * filters / (channels + filters)`
/// is at least this, F(2x2, 3x3) elsewhere. F(4x4) needs 2.25 multiplies
/// per output and channel pair where F(2x2) needs 4, but its transforms
/// cost more per channel and round less exactly (see `winograd`); the
/// products grow with `channels * filters`, the transforms with
/// `channels + filters`. 48 takes in 64 -> 256 and 256 -> 256, the
/// airbench layout's widest (each about a quarter faster with F(4x4),
/// one unit on one core), and leaves out 64 -> 64 and everything
/// narrower: ResNet-20's layers, whose step was 2-3% slower with F(4x4)
/// (medians of 4 rounds; 12% in two rounds with 32 units) and which left
/// the Keras reference's tolerance, and airbench's 24 -> 64 (17% faster
/// alone, left out by this simple bound).
const F4_MIN_WIDTH: usize = 48;

/// A Conv2D layer's fixed shape, as the macro emits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    pub window: Window,
    pub filters: usize,
}

impl Conv {
    pub const fn out_len(&self) -> usize {
        self.window.positions() * self.filters
    }
    /// The Winograd tiling this conv runs with, if any: the one place
    /// that decides between the two algorithms.
    pub const fn winograd(&self) -> Option<Winograd> {
        if self.window.channels < WINOGRAD_MIN_CHANNELS {
            return None;
        }
        let (c, f) = (self.window.channels, self.filters);
        let wide = c * f >= F4_MIN_WIDTH * (c + f);
        let m = if wide { 4 } else { 2 };
        Winograd::new(self.window, self.filters, m)
    }
    /// Scratch values the forward pass needs (`cols`).
    pub const fn cols_len(&self) -> usize {
        match self.winograd() {
            Some(w) => w.cols_len(),
            None => self.window.positions() * self.window.patch_len(),
        }
    }
    /// Scratch values the backward pass needs besides `cols` (`dcols`).
    pub const fn dcols_len(&self) -> usize {
        match self.winograd() {
            Some(w) => w.dcols_len(),
            None => self.window.positions() * self.window.patch_len(),
        }
    }
    pub const fn kernel_len(&self) -> usize {
        self.window.patch_len() * self.filters
    }
    /// Values of the kernel as a pass reads it, prepared once for the
    /// whole batch ([`Conv::prepare`]): Winograd's transformed kernel, or
    /// for im2col the transposed kernel that the input gradient reads.
    pub const fn prepared_len(&self) -> usize {
        match self.winograd() {
            Some(w) => w.prepared_len(),
            None => self.kernel_len(),
        }
    }
    /// Values of the kernel gradient as one unit of images writes it
    /// ([`conv2d_backward`]), before [`Conv::finish_kernel_grad`].
    pub const fn grad_len(&self) -> usize {
        match self.winograd() {
            Some(w) => w.grad_len(),
            None => self.kernel_len(),
        }
    }
    pub fn prepare(&self, kernel: &[f32], prepared: &mut [f32]) {
        match self.winograd() {
            Some(wg) => wg.prepare(kernel, prepared),
            // Kᵀ, `filters x patch`, so that the input gradient `dz Kᵀ`
            // multiplies row-major operands (broadcasts into register
            // tiles) instead of short dot products over the filters.
            None => {
                assert!(kernel.len() == self.kernel_len(), "conv prepare: kernel does not fit");
                transpose(kernel, self.window.patch_len(), self.filters, prepared);
            }
        }
    }
    /// The kernel gradient (overwritten) from the sum over the batch of
    /// what [`conv2d_backward`] wrote per unit.
    pub fn finish_kernel_grad(&self, partial: &[f32], dkernel: &mut [f32]) {
        match self.winograd() {
            Some(wg) => wg.finish_kernel_grad(partial, dkernel),
            None => dkernel.copy_from_slice(&partial[..self.kernel_len()]),
        }
    }
}

/// The largest `cols` and `dcols` any of `convs` needs: the macro sizes a
/// network's scratch with it, at compile time.
pub const fn scratch_len(convs: &[Conv]) -> (usize, usize) {
    let (mut cols, mut dcols, mut i) = (0, 0, 0);
    while i < convs.len() {
        let (c, d) = (convs[i].cols_len(), convs[i].dcols_len());
        cols = if c > cols { c } else { cols };
        dcols = if d > dcols { d } else { dcols };
        i += 1;
    }
    (cols, dcols)
}

/// `y = act(conv(x) + b)` for `n` images; `prepared` is what
/// [`Conv::prepare`] made of `kernel`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward(
    conv: &Conv,
    kernel: &[f32],
    prepared: &[f32],
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
    match conv.winograd() {
        Some(wg) => wg.forward(prepared, x, y, n, cols),
        None => {
            for i in 0..n {
                let xi = &x[i * in_len..][..in_len];
                let yi = &mut y[i * out_len..][..out_len];
                let patches = patches(w, xi, cols);
                sgemm(p, k, f, 1.0, MatRef::n(patches, k), MatRef::n(kernel, f), 0.0, yi, f);
            }
        }
    }
    bias_activate(act, &mut y[..n * out_len], bias, f);
}

/// Gradients of a Conv2D for `n` images, from `dz`, the gradient at the
/// pre-activation output. `partial` (the kernel gradient in the form of
/// [`Conv::grad_len`]) and `dbias`, where asked for, are overwritten; `dx`
/// (if asked for) is overwritten, or with `add_dx` added to (where another
/// layer reading the same input has left its gradient there): no caller
/// zeroes them. A kernel that does not learn (frozen, or still this step)
/// asks for no `partial`, and its products are not run.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(
    conv: &Conv,
    kernel: &[f32],
    prepared: &[f32],
    x: &[f32],
    dz: &[f32],
    mut dx: Option<&mut [f32]>,
    add_dx: bool,
    partial: Option<&mut [f32]>,
    dbias: Option<&mut [f32]>,
    n: usize,
    cols: &mut [f32],
    dcols: &mut [f32],
) {
    let (w, f) = (&conv.window, conv.filters);
    let (p, k, in_len, out_len) = (w.positions(), w.patch_len(), w.in_len(), conv.out_len());
    assert!(kernel.len() == k * f, "conv2d_backward: weights do not fit");
    assert!(partial.as_ref().is_none_or(|d| d.len() >= conv.grad_len()), "conv2d_backward: kernel gradient too short");
    assert!(x.len() >= n * in_len && dz.len() >= n * out_len, "conv2d_backward: batch buffers too short");
    if let Some(db) = dbias {
        assert!(db.len() == f, "conv2d_backward: bias gradient does not fit");
        db.fill(0.0);
        for row in dz[..n * out_len].chunks_exact(f) {
            db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
        }
    }
    // Only the bias learns and no input gradient is wanted (a first layer
    // whose kernel is frozen): nothing else to compute.
    if partial.is_none() && dx.is_none() {
        return;
    }
    if let Some(wg) = conv.winograd() {
        wg.backward(prepared, x, dz, dx, add_dx, partial, n, cols, dcols);
        return;
    }
    let mut dkernel = partial.map(|d| &mut d[..k * f]);
    if let Some(d) = dkernel.as_deref_mut() {
        d.fill(0.0);
    }
    for i in 0..n {
        let dzi = &dz[i * out_len..][..out_len];
        if let Some(dkernel) = dkernel.as_deref_mut() {
            let patches = patches(w, &x[i * in_len..][..in_len], cols);
            sgemm(k, p, f, 1.0, MatRef::t(patches, k), MatRef::n(dzi, f), 1.0, dkernel, f);
        }
        if let Some(dx) = dx.as_deref_mut() {
            let dxi = &mut dx[i * in_len..][..in_len];
            let kt = MatRef::n(&prepared[..k * f], k);
            if w.is_pointwise() {
                let beta = if add_dx { 1.0 } else { 0.0 };
                sgemm(p, f, k, 1.0, MatRef::n(dzi, f), kt, beta, dxi, k);
            } else {
                sgemm(p, f, k, 1.0, MatRef::n(dzi, f), kt, 0.0, dcols, k);
                if !add_dx {
                    dxi.fill(0.0);
                }
                col2im(w, dcols, dxi);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which algorithm a 3x3 "same" conv over `channels` runs with `filters`:
    /// im2col (0) or Winograd with tiles of 2 or 4 outputs a side.
    fn tile(channels: usize, filters: usize) -> usize {
        let conv = Conv { window: Window::conv3x3(8, 8, channels, true), filters };
        conv.winograd().map_or(0, |w| w.tile_size())
    }

    #[test]
    fn wide_layers_take_the_larger_tiles() {
        // The seed's first layer: too few channels for Winograd.
        assert_eq!(tile(3, 32), 0);
        // Narrow layers (ResNet-20's, airbench's first two) keep F(2x2).
        assert_eq!(tile(16, 16), 2);
        assert_eq!(tile(24, 64), 2);
        assert_eq!(tile(64, 64), 2);
        assert_eq!(tile(64, 128), 2);
        // From channels * filters / (channels + filters) = 48: F(4x4).
        assert_eq!(tile(96, 96), 4);
        assert_eq!(tile(64, 192), 4);
        assert_eq!(tile(64, 256), 4);
        assert_eq!(tile(256, 256), 4);
        // A strided 3x3 conv is im2col's, however wide.
        let strided = Window::keras((8, 8, 256), (3, 3), (2, 2), cnn_core::Padding::Same).unwrap();
        assert!(Conv { window: strided, filters: 256 }.winograd().is_none());
    }

    /// A kernel that does not learn gets no kernel gradient, and the
    /// input and bias gradients stay the same to the bit: on im2col
    /// (strided, and pointwise) and on both Winograd tilings.
    #[test]
    fn a_frozen_kernel_changes_no_other_gradient() {
        let strided = Window::keras((7, 7, 5), (3, 3), (2, 2), cnn_core::Padding::Same).unwrap();
        let pointwise = Window::keras((6, 6, 4), (1, 1), (1, 1), cnn_core::Padding::Valid).unwrap();
        for (window, filters) in
            [(strided, 3), (pointwise, 6), (Window::conv3x3(6, 5, 16, true), 8), (Window::conv3x3(6, 6, 64, true), 256)]
        {
            let conv = Conv { window, filters };
            let n = 2;
            let value = |i: usize| ((i * 7919 % 23) as f32 - 11.0) / 16.0;
            let kernel: Vec<f32> = (0..conv.kernel_len()).map(value).collect();
            let x: Vec<f32> = (0..n * window.in_len()).map(|i| value(i + 5)).collect();
            let dz: Vec<f32> = (0..n * conv.out_len()).map(|i| value(i + 9)).collect();
            let mut prepared = vec![0.0; conv.prepared_len()];
            conv.prepare(&kernel, &mut prepared);
            let (mut cols, mut dcols) = (vec![0.0; conv.cols_len()], vec![0.0; conv.dcols_len()]);
            let mut grads = |partial: Option<&mut [f32]>| {
                let (mut dx, mut db) = (vec![f32::NAN; x.len()], vec![f32::NAN; filters]);
                let (dx_out, db_out) = (Some(&mut dx[..]), Some(&mut db[..]));
                conv2d_backward(
                    &conv, &kernel, &prepared, &x, &dz, dx_out, false, partial, db_out, n, &mut cols, &mut dcols,
                );
                (dx, db)
            };
            let mut partial = vec![f32::NAN; conv.grad_len()];
            let learning = grads(Some(&mut partial));
            assert!(partial.iter().all(|v| v.is_finite()), "{window:?}: kernel gradient written");
            assert_eq!(grads(None), learning, "{window:?} -> {filters}: input and bias gradients");
            // Neither the kernel's nor the input's gradient: the bias's alone, the same.
            let mut db = vec![f32::NAN; filters];
            conv2d_backward(
                &conv,
                &kernel,
                &prepared,
                &x,
                &dz,
                None,
                false,
                None,
                Some(&mut db),
                n,
                &mut cols,
                &mut dcols,
            );
            assert_eq!(db, learning.1, "{window:?} -> {filters}: bias gradient alone");
        }
    }
}
