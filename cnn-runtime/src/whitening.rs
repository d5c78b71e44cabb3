//! airbench's whitening layer: a frozen first convolution whose filters
//! are the eigenvectors of the covariance of the training images' patches,
//! each scaled by `1 / sqrt(eigenvalue + eps)`, and their negatives. Its
//! outputs are the patches in the eigenvectors' basis, each direction of
//! unit variance (the first half) and its mirror (the second half), so that
//! a GELU after it keeps both signs.
//!
//! The covariance is airbench's: not centred (`Xᵀ X / n` over every patch
//! of every image given), in f64; the eigenvectors come from Jacobi
//! rotations, exact enough for the 12x12 matrix of 2x2 RGB patches and
//! simple enough to check.

use crate::data::Dataset;
use crate::error::{Error, Result};

/// The whitening kernel for `kh x kw` patches of `images` (read as the data
/// set normalizes them), in Keras's layout `[kh, kw, c, 2 kh kw c]`: output
/// channel `j < kh kw c` is the eigenvector of the `j`-th largest
/// eigenvalue over `sqrt(eigenvalue + eps)`, channel `j + kh kw c` its
/// negative. airbench takes 5,000 training images, 2x2 patches and
/// `eps = 5e-4`.
pub fn whitening_kernel(images: &Dataset, [kh, kw]: [usize; 2], eps: f64) -> Result<Vec<f32>> {
    let [h, w, c] = images.shape();
    if images.is_empty() || kh == 0 || kw == 0 || kh > h || kw > w {
        return Err(Error::Input(format!(
            "whitening needs at least one image of at least {kh}x{kw} pixels, got {} of {h}x{w}",
            images.len()
        )));
    }
    let d = kh * kw * c;
    let covariance = patch_covariance(images, [kh, kw], d);
    let (values, vectors) = symmetric_eigen(covariance, d);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut kernel = vec![0.0f32; d * 2 * d];
    for (j, &k) in order.iter().enumerate() {
        let scale = 1.0 / (values[k].max(0.0) + eps).sqrt();
        for row in 0..d {
            let v = (vectors[row * d + k] * scale) as f32;
            kernel[row * 2 * d + j] = v;
            kernel[row * 2 * d + j + d] = -v;
        }
    }
    Ok(kernel)
}

/// `Xᵀ X / n` over every `kh x kw` patch of every image, a patch flattened
/// in the kernel's `(dy, dx, channel)` order.
fn patch_covariance(images: &Dataset, [kh, kw]: [usize; 2], d: usize) -> Vec<f64> {
    let [h, w, c] = images.shape();
    let len = images.image_len();
    let mut pixels = vec![0.0f32; len];
    let mut label = [0u8];
    let mut patch = vec![0.0f64; d];
    let mut sum = vec![0.0f64; d * d];
    let mut n = 0usize;
    for i in 0..images.len() {
        images.fill_batch(&[i], &mut pixels, &mut label, None);
        for y in 0..=h - kh {
            for x in 0..=w - kw {
                for dy in 0..kh {
                    for dx in 0..kw {
                        let from = ((y + dy) * w + x + dx) * c;
                        let to = (dy * kw + dx) * c;
                        patch[to..to + c].iter_mut().zip(&pixels[from..from + c]).for_each(|(p, &v)| *p = v as f64);
                    }
                }
                for (a, &pa) in patch.iter().enumerate() {
                    for (b, &pb) in patch.iter().enumerate().skip(a) {
                        sum[a * d + b] += pa * pb;
                    }
                }
                n += 1;
            }
        }
    }
    for a in 0..d {
        for b in a..d {
            sum[a * d + b] /= n as f64;
            sum[b * d + a] = sum[a * d + b];
        }
    }
    sum
}

/// The eigenvalues and eigenvectors (column `k` of the row-major `d x d`
/// result for value `k`) of a symmetric matrix, by cyclic Jacobi rotations
/// until the off-diagonal is negligible.
fn symmetric_eigen(mut a: Vec<f64>, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; d * d];
    (0..d).for_each(|i| v[i * d + i] = 1.0);
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|p| (0..d).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * d + q].powi(2))
            .sum();
        if off.sqrt() <= 1e-15 * scale {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Golub and Van Loan, 8.4).
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (cos, sin) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = cos * akp - sin * akq;
                    a[k * d + q] = sin * akp + cos * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = cos * apk - sin * aqk;
                    a[q * d + k] = sin * apk + cos * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = cos * vkp - sin * vkq;
                    v[k * d + q] = sin * vkp + cos * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn jacobi_finds_the_eigenpairs_of_a_known_matrix() {
        // [[2, 1], [1, 2]]: eigenvalues 3 and 1, eigenvectors (1, 1) and (1, -1) over sqrt(2).
        let (values, vectors) = symmetric_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        let big = if values[0] > values[1] { 0 } else { 1 };
        assert!((values[big] - 3.0).abs() < 1e-12 && (values[1 - big] - 1.0).abs() < 1e-12, "{values:?}");
        assert!((vectors[big].abs() - 0.5f64.sqrt()).abs() < 1e-12);
        assert!((vectors[big] - vectors[2 + big]).abs() < 1e-12, "(1, 1) for 3");
    }

    /// The layer's first half of outputs, on the patches it was fitted to,
    /// has the identity as its (uncentred) covariance, up to `eps`; the
    /// second half is the first negated.
    #[test]
    fn whitened_patches_have_unit_covariance() {
        let mut rng = Rng::new(7);
        // Correlated channels, so that whitening has work to do.
        let images: Vec<u8> = (0..20 * 6 * 6)
            .flat_map(|_| {
                let base = rng.below(200) as u8;
                [base, base / 2 + rng.below(50) as u8, rng.below(256) as u8]
            })
            .collect();
        let data = Dataset::new(images, vec![0; 20], [6, 6, 3]).unwrap();
        let kernel = whitening_kernel(&data, [2, 2], 1e-9).unwrap();
        let (d, out) = (12, 24);
        assert_eq!(kernel.len(), d * out);
        let covariance = patch_covariance(&data, [2, 2], d);
        for j in 0..out {
            for k in 0..out {
                // cov(out_j, out_k) = k_jᵀ C k_k.
                let mut s = 0.0;
                for a in 0..d {
                    for b in 0..d {
                        s += kernel[a * out + j] as f64 * covariance[a * d + b] * kernel[b * out + k] as f64;
                    }
                }
                let sign = if (j < d) == (k < d) { 1.0 } else { -1.0 };
                let want = if j % d == k % d { sign } else { 0.0 };
                assert!((s - want).abs() < 1e-4, "cov({j}, {k}) = {s}");
            }
        }
        // With a larger eps the variances λ / (λ + eps) fall with j: the
        // largest eigenvalue comes first.
        let kernel = whitening_kernel(&data, [2, 2], 0.05).unwrap();
        let variance = |j: usize| -> f64 {
            (0..d)
                .flat_map(|a| (0..d).map(move |b| (a, b)))
                .map(|(a, b)| kernel[a * out + j] as f64 * covariance[a * d + b] * kernel[b * out + j] as f64)
                .sum()
        };
        assert!((1..d).all(|j| variance(j) <= variance(j - 1) + 1e-9), "variances fall with j");
        assert!(variance(d - 1) < variance(0) - 0.01, "the smallest direction is shrunk most");
        assert!(whitening_kernel(&data, [7, 7], 1e-9).is_err());
    }
}
