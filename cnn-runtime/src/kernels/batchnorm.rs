//! BatchNormalization over the last axis (Keras's `axis = -1`), NHWC.
//!
//! Training normalizes with the whole batch's mean and biased variance,
//! `y = gamma (x - mean) / sqrt(var + eps) + beta`; its backward pass needs
//! two sums over the whole batch, `sum dy` and `sum dy * x̂`:
//! `dx = gamma / sqrt(var + eps) * (dy - (sum dy + x̂ sum dy x̂) / N)`.
//! Both sums and the statistics are taken per unit of images, in f64, and
//! added in unit order by the engine, so the result does not depend on the
//! number of threads. Inference uses the moving statistics.

/// Adds each channel's `sum x` and `sum x²` over `x` (rows of `channels`)
/// to `sums[..channels]` and `sums[channels..2 * channels]`.
pub fn moment_sums(x: &[f32], channels: usize, sums: &mut [f64]) {
    let (s, q) = sums[..2 * channels].split_at_mut(channels);
    for row in x.chunks_exact(channels) {
        for ((s, q), &v) in s.iter_mut().zip(q.iter_mut()).zip(row) {
            let v = v as f64;
            *s += v;
            *q += v * v;
        }
    }
}

/// `y = x * a + b` per channel: `a = gamma / sqrt(var + eps)`,
/// `b = beta - mean * a`, as TensorFlow's `batch_normalization` computes it.
pub fn affine(x: &[f32], y: &mut [f32], a: &[f32], b: &[f32]) {
    let channels = a.len();
    for (yr, xr) in y.chunks_exact_mut(channels).zip(x.chunks_exact(channels)) {
        for (((y, &x), &a), &b) in yr.iter_mut().zip(xr).zip(a).zip(b) {
            *y = x * a + b;
        }
    }
}

/// Adds each channel's `sum dy` and `sum dy * x̂` over one unit to
/// `sums[..channels]` and `sums[channels..]`, with `x̂ = (x - mean) * inv_std`.
pub fn grad_sums(x: &[f32], dy: &[f32], mean: &[f32], inv_std: &[f32], sums: &mut [f64]) {
    let channels = mean.len();
    let (s, q) = sums[..2 * channels].split_at_mut(channels);
    for (xr, gr) in x.chunks_exact(channels).zip(dy.chunks_exact(channels)) {
        for c in 0..channels {
            let g = gr[c] as f64;
            s[c] += g;
            q[c] += g * ((xr[c] - mean[c]) * inv_std[c]) as f64;
        }
    }
}

/// The input gradient, in place over `g`, from the batch's sums divided
/// by `N` (`mean_dy`, `mean_dy_xhat`) and `gamma * inv_std` (`scale`).
pub fn input_grad(
    x: &[f32],
    g: &mut [f32],
    mean: &[f32],
    inv_std: &[f32],
    scale: &[f32],
    mean_dy: &[f32],
    mean_dy_xhat: &[f32],
) {
    let channels = mean.len();
    for (xr, gr) in x.chunks_exact(channels).zip(g.chunks_exact_mut(channels)) {
        for c in 0..channels {
            let xhat = (xr[c] - mean[c]) * inv_std[c];
            gr[c] = scale[c] * (gr[c] - mean_dy[c] - xhat * mean_dy_xhat[c]);
        }
    }
}
