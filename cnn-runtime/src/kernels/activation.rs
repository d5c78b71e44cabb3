//! Element-wise activations and softmax, forward and backward, as Keras 3
//! defines them. Most derivatives come from the output `y` alone, so no
//! pre-activation needs keeping (relu' = `[y > 0]`, sigmoid' = `y(1 - y)`,
//! elu' = y + 1 below zero, ...); GELU and swish need the input `x`
//! ([`Activation::needs_input`]), which the engine then keeps. Each pass
//! runs compiled for AVX2 where the CPU has it (`simd::vectorized`): only
//! IEEE operations, never fused, so every path gives the same bits.

pub use cnn_core::Activation;

use super::simd::{long_rows, vectorized};

/// Keras's `selu` constants (Klambauer et al., 2017).
const SELU_ALPHA: f32 = 1.673_263_2;
const SELU_SCALE: f32 = 1.050_701;
/// Keras 3's `leaky_relu` default `negative_slope`.
const LEAKY_SLOPE: f32 = 0.2;
/// 1 / sqrt(2) and 1 / sqrt(2 pi), for the exact GELU.
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// `c[0] x^(N-1) + c[1] x^(N-2) + ... + c[N-1]` by Horner's rule, highest
/// degree first: the one home of the polynomials below. The same products
/// and sums in the same order as written out by hand, so the same bits; a
/// fixed-length array, so that it unrolls and its callers' loops vectorize.
#[inline(always)]
fn polynomial<const N: usize>(x: f32, c: [f32; N]) -> f32 {
    c[1..].iter().fold(c[0], |p, &c| p * x + c)
}

/// relu as a select, not `max(0.0)` (which turns NaN into 0: a diverging
/// network must show it) and not a conditional store (which does not
/// vectorize).
#[inline(always)]
fn relu(v: f32) -> f32 {
    if v < 0.0 {
        0.0
    } else {
        v
    }
}

/// `1 / (1 + e^-v)` from `e^-|v|`, which [`exp_nonpositive`] gives free
/// of calls: `1 / (1 + e)` for `v >= 0`, `e / (1 + e)` below, a select
/// rather than a branch, so that sigmoid, swish and swish's derivative
/// vectorize (libm's `expf` was a call per value). Within 3 ulp of the
/// exact value (see the test).
#[inline(always)]
fn sigmoid(v: f32) -> f32 {
    let e = exp_nonpositive(-v.abs());
    let s = 1.0 / (1.0 + e);
    if v >= 0.0 {
        s
    } else {
        e * s
    }
}

/// `ln(1 + e^x)` without overflow: `max(x, 0) + ln(1 + e^-|x|)`, both
/// parts free of calls (libm's `expf` and `log1pf` were a call each per
/// value). Within 3 ulp of the exact value (see the test).
#[inline(always)]
fn softplus(v: f32) -> f32 {
    // A select, not `max`, as in relu: NaN stays NaN through the sum.
    let positive = if v > 0.0 { v } else { 0.0 };
    positive + ln_1p_unit(exp_nonpositive(-v.abs()))
}

/// `ln(1 + e)` for `e` in [0, 1], free of calls: `2 atanh(u)` with
/// `u = e / (2 + e)` in [0, 1/3], whose odd series to `u^15` leaves out
/// less than 5e-9 of the result.
#[inline(always)]
fn ln_1p_unit(e: f32) -> f32 {
    let u = e / (2.0 + e);
    let u2 = u * u;
    let p = polynomial(u2, [1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0]);
    2.0 * (u2 * p * u + u)
}

/// erf as Eigen computes it for float32, which TensorFlow's CPU kernels
/// use: a rational approximation on [-4, 4] (erf is ±1 to float32
/// precision beyond), free of branches, so that a loop of it vectorizes.
/// libm's `erff`, which branches per value, took 12% of an airbench step.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = polynomial(
        x2,
        [
            -2.726_142_3e-10,
            2.770_681_4e-8,
            -2.101_024e-6,
            -5.692_506_4e-5,
            -7.349_906_3e-4,
            -2.954_6e-3,
            -1.609_603_3e-2,
        ],
    );
    let q = polynomial(x2, [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2]);
    x * p / q
}

/// `e^x` for `x <= 0` (below -87.3, where e^x leaves float32's normal
/// range, e^-87.3: off by less than 1.3e-38), free of branches and calls
/// so that a loop of it vectorizes: Cephes's `expf`, `x = n ln 2 + r` with `|r| <= ln 2 / 2`, a degree-5
/// polynomial for `e^r`, and `2^n` built from its exponent bits. Within
/// 2 ulp of libm's `expf` (see the test); libm's own, a call per value,
/// made GELU's derivative take 10 ns a value, a twentieth of an airbench
/// step. Only IEEE operations, unfused, as everywhere in this module.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    // A select, not `max`, which would turn NaN into -87.3: a network
    // gone to NaN must show it.
    let x = if x < -87.3 { -87.3 } else { x };
    // n = x / ln 2 rounded to the nearest integer, by adding and taking
    // away 1.5 * 2^23 (exact for |n| < 2^22): `floor` is a call to libm's
    // `floorf` wherever the code is not compiled for SSE4.1, and that call
    // kept this loop from vectorizing.
    const ROUND: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // ln 2 in two parts, the first exact in 9 bits, so that `n * LN2_HI`
    // is exact for |n| < 2^15.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = polynomial(r, [1.987_569_2e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5]);
    let e_r = p * (r * r) + r + 1.0;
    // n is an integer in [-126, 0], and `shifted`'s low mantissa bits
    // hold it (its unit in the last place is 1): 2^n's exponent field is
    // n + 127, and the shift drops the bits above it. No float-to-integer
    // cast, whose saturating form kept the loop scalar.
    e_r * f32::from_bits(shifted.to_bits().wrapping_add(127) << 23)
}

/// `e^x - 1` for `x <= 0`, free of calls. Near zero (`x > -ln 2`), where
/// `e^x - 1` would cancel, Taylor's series to `x^9` (the rest is below
/// 2e-8 of the result); below, [`exp_nonpositive`] less one, a result of
/// at least 1/2 in size, so that exp's 2 ulp stay about one. Within 1.5 ulp
/// of the exact value (see the test). A select, not a branch: both sides
/// are computed, and the loops that call it vectorize.
#[inline(always)]
fn exp_m1_nonpositive(x: f32) -> f32 {
    // 1/10!, 1/9!, ..., 1/2!.
    let q = polynomial(
        x,
        [
            1.0 / 3_628_800.0,
            1.0 / 362_880.0,
            1.0 / 40_320.0,
            1.0 / 5_040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
        ],
    );
    let near = (x * x) * q + x;
    let far = exp_nonpositive(x) - 1.0;
    if x > -std::f32::consts::LN_2 {
        near
    } else {
        far
    }
}

#[inline(always)]
fn gelu(v: f32) -> f32 {
    0.5 * v * (1.0 + erf(v * FRAC_1_SQRT_2))
}

/// `f(x)` for every element-wise activation (softmax is per row).
#[inline(always)]
fn apply(act: Activation, v: f32) -> f32 {
    match act {
        Activation::Linear | Activation::Softmax => v,
        Activation::Relu => relu(v),
        Activation::Sigmoid => sigmoid(v),
        // libm's, a call per value: a vectorized `-m / (2 + m)` with
        // `m = e^-2|v| - 1` (within 3 ulp; db256e6) moved
        // `nested.safetensors`'s output after three RMSprop steps just past
        // its bound on the AVX2 path, where gradients of rounding noise take
        // whole RMSprop steps. None of the benchmarked networks uses tanh.
        Activation::Tanh => v.tanh(),
        Activation::Elu => {
            if v > 0.0 {
                v
            } else {
                exp_m1_nonpositive(v)
            }
        }
        Activation::Selu => {
            if v > 0.0 {
                SELU_SCALE * v
            } else {
                SELU_SCALE * SELU_ALPHA * exp_m1_nonpositive(v)
            }
        }
        Activation::Gelu => gelu(v),
        Activation::Swish => v * sigmoid(v),
        Activation::Softplus => softplus(v),
        Activation::LeakyRelu => {
            if v < 0.0 {
                LEAKY_SLOPE * v
            } else {
                v
            }
        }
        Activation::HardSigmoid => (v / 6.0 + 0.5).clamp(0.0, 1.0),
    }
}

/// `f'(x)`, from the output `y` and, for GELU and swish, the input `x`.
#[inline(always)]
fn derivative(act: Activation, x: f32, y: f32) -> f32 {
    match act {
        Activation::Linear | Activation::Softmax => 1.0,
        Activation::Relu => {
            if y > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Sigmoid => y * (1.0 - y),
        Activation::Tanh => 1.0 - y * y,
        Activation::Elu => {
            if y > 0.0 {
                1.0
            } else {
                y + 1.0
            }
        }
        Activation::Selu => {
            if y > 0.0 {
                SELU_SCALE
            } else {
                y + SELU_SCALE * SELU_ALPHA
            }
        }
        Activation::Gelu => 0.5 * (1.0 + erf(x * FRAC_1_SQRT_2)) + x * FRAC_1_SQRT_2PI * exp_nonpositive(-0.5 * x * x),
        Activation::Swish => {
            let s = sigmoid(x);
            s * (1.0 + x * (1.0 - s))
        }
        // sigmoid(x) = 1 - e^-y, and y = softplus(x) >= 0.
        Activation::Softplus => -exp_m1_nonpositive(-y),
        Activation::LeakyRelu => {
            if y > 0.0 {
                1.0
            } else {
                LEAKY_SLOPE
            }
        }
        Activation::HardSigmoid => {
            if y > 0.0 && y < 1.0 {
                1.0 / 6.0
            } else {
                0.0
            }
        }
    }
}

/// Softmax over each row of `last` values, in place (the largest value
/// taken out first, so that `exp` cannot overflow).
pub(crate) fn softmax_rows(y: &mut [f32], last: usize) {
    for row in y.chunks_exact_mut(last) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        let inv = 1.0 / sum;
        row.iter_mut().for_each(|v| *v *= inv);
    }
}

/// `$run!(A)` with `A` the activation `$act` as a constant, so that each
/// activation's loop is its own, vectorizable where its arithmetic allows;
/// the `$special` arms, tried first, take the activations a caller treats
/// otherwise. The one list of variants for the three dispatches below.
macro_rules! by_activation {
    ($act:expr, $run:ident, { $($special:pat => $body:expr),* $(,)? }) => {{
        #[allow(unreachable_patterns)]
        let done = match $act {
            $($special => $body,)*
            Activation::Linear => $run!(Activation::Linear),
            Activation::Softmax => $run!(Activation::Softmax),
            Activation::Relu => $run!(Activation::Relu),
            Activation::Sigmoid => $run!(Activation::Sigmoid),
            Activation::Tanh => $run!(Activation::Tanh),
            Activation::Elu => $run!(Activation::Elu),
            Activation::Selu => $run!(Activation::Selu),
            Activation::Gelu => $run!(Activation::Gelu),
            Activation::Swish => $run!(Activation::Swish),
            Activation::Softplus => $run!(Activation::Softplus),
            Activation::LeakyRelu => $run!(Activation::LeakyRelu),
            Activation::HardSigmoid => $run!(Activation::HardSigmoid),
        };
        done
    }};
}

/// `y = f(y + bias)` element-wise (softmax's rows are the caller's).
#[inline(always)]
fn each(act: Activation, y: &mut [f32], bias: Option<&[f32]>, last: usize) {
    macro_rules! run {
        ($a:expr) => {
            match bias {
                Some(b) => y
                    .chunks_exact_mut(last)
                    .for_each(|row| row.iter_mut().zip(b).for_each(|(v, b)| *v = apply($a, *v + b))),
                None => y.iter_mut().for_each(|v| *v = apply($a, *v)),
            }
        };
    }
    // Softmax's `apply` is the identity: its rows are normalized after.
    by_activation!(act, run, {})
}

/// `y = f(y + bias)` in place, one pass: `y` is rows of `last` values
/// (for softmax, the axis it normalizes), `bias` one value per column.
pub fn bias_activate(act: Activation, y: &mut [f32], bias: Option<&[f32]>, last: usize) {
    if let Some(b) = bias {
        assert_eq!(b.len(), last, "bias_activate: one bias per column");
    }
    vectorized(
        #[inline(always)]
        || each(act, y, bias, last),
    );
    if act == Activation::Softmax {
        softmax_rows(y, last);
    }
}

/// `y = f(x)`, one pass; `last` is the length of the last axis (for softmax).
pub fn activation_forward(act: Activation, x: &[f32], y: &mut [f32], last: usize) {
    assert_eq!(x.len(), y.len(), "activation_forward: input and output differ in length");
    macro_rules! run {
        ($a:expr) => {
            y.iter_mut().zip(x).for_each(|(y, x)| *y = apply($a, *x))
        };
    }
    vectorized(
        #[inline(always)]
        || {
            by_activation!(act, run, {
                Activation::Linear => y.copy_from_slice(x),
                Activation::Softmax => {
                    y.copy_from_slice(x);
                    softmax_rows(y, last);
                },
            })
        },
    )
}

/// `g = f'(x) * g` in place, from the input `x` (read only where
/// [`Activation::needs_input`]) and the output `y = f(x)`.
pub fn activation_backward(act: Activation, x: &[f32], y: &[f32], g: &mut [f32], last: usize) {
    assert_eq!(y.len(), g.len(), "activation_backward: output and gradient differ in length");
    macro_rules! run {
        ($a:expr) => {
            g.iter_mut().zip(y).for_each(|(g, y)| *g *= derivative($a, 0.0, *y))
        };
    }
    // An index loop over slices cut to one length, not a zip of three:
    // that zip's `fold` was a function of its own, compiled for the
    // baseline's 4 lanes outside `vectorized`'s AVX2, and GELU's
    // derivative took 3.3 ns a value.
    macro_rules! with_input {
        ($a:expr) => {{
            assert_eq!(x.len(), g.len(), "activation_backward: {act:?} needs its input");
            let (x, y) = (&x[..g.len()], &y[..g.len()]);
            for i in 0..g.len() {
                g[i] *= derivative($a, x[i], y[i]);
            }
        }};
    }
    vectorized(
        #[inline(always)]
        || {
            by_activation!(act, run, {
                Activation::Linear => {},
                Activation::Softmax => {
                    for (g, y) in g.chunks_exact_mut(last).zip(y.chunks_exact(last)) {
                        let dot: f32 = g.iter().zip(y).map(|(g, y)| g * y).sum();
                        g.iter_mut().zip(y).for_each(|(g, y)| *g = y * (*g - dot));
                    }
                },
                // Each with its activation a constant, so that the loop
                // vectorizes rather than matching per value.
                Activation::Gelu => with_input!(Activation::Gelu),
                Activation::Swish => with_input!(Activation::Swish),
                Activation::Relu => g.iter_mut().zip(y).for_each(|(g, y)| *g = if *y > 0.0 { *g } else { 0.0 }),
            })
        },
    )
}

/// `f(z, v)` for each `z = x * a + b` and the value `v` of `out` in its
/// place: `a` and `b` one value per column of rows of `a.len()` values,
/// short rows regrouped ([`long_rows`]) and every slice cut to one length,
/// so that the loop carries no bounds checks and vectorizes.
#[inline(always)]
fn each_affine(x: &[f32], out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, &mut f32)) {
    long_rows(
        x.len(),
        [a, b],
        #[inline(always)]
        |r, [a, b]| {
            let columns = a.len();
            let b = &b[..columns];
            for (or, xr) in out[r.clone()].chunks_exact_mut(columns).zip(x[r].chunks_exact(columns)) {
                let (or, xr) = (&mut or[..columns], &xr[..columns]);
                for j in 0..columns {
                    f(xr[j] * a[j] + b[j], &mut or[j]);
                }
            }
        },
    )
}

/// `y = f(x * a + b)`, one pass: BatchNormalization's affine map
/// (`a`, `b` one value per column of rows of `a.len()` values, as
/// [`batchnorm::affine`](super::batchnorm::affine) computes it) and the
/// activation after it, folded (see
/// [`folded_activations`](crate::graph::folded_activations)). The same
/// products and sums as the two passes, so the same bits. Not softmax.
pub fn affine_activate(act: Activation, x: &[f32], y: &mut [f32], a: &[f32], b: &[f32]) {
    assert_eq!(x.len(), y.len(), "affine_activate: input and output differ in length");
    assert_eq!(a.len(), b.len(), "affine_activate: one a and one b per column");
    assert_ne!(act, Activation::Softmax, "affine_activate: softmax normalizes rows");
    macro_rules! run {
        ($a:expr) => {
            each_affine(
                x,
                y,
                a,
                b,
                #[inline(always)]
                |z, y| *y = apply($a, z),
            )
        };
    }
    vectorized(
        #[inline(always)]
        || by_activation!(act, run, {}),
    )
}

/// `g = f'(z) * g` in place with `z = x * a + b`: the backward pass of
/// [`affine_activate`]'s activation, from the affine map's input, as
/// [`activation_backward`] takes it from `z` and `y = f(z)`, with the
/// same bits (relu, too, passes `g` or writes +0).
pub fn affine_activation_backward(act: Activation, x: &[f32], g: &mut [f32], a: &[f32], b: &[f32]) {
    assert_eq!(x.len(), g.len(), "affine_activation_backward: input and gradient differ in length");
    assert_eq!(a.len(), b.len(), "affine_activation_backward: one a and one b per column");
    assert_ne!(act, Activation::Softmax, "affine_activation_backward: softmax normalizes rows");
    macro_rules! run {
        ($a:expr) => {
            each_affine(
                x,
                g,
                a,
                b,
                #[inline(always)]
                |z, g| *g *= derivative($a, z, apply($a, z)),
            )
        };
    }
    vectorized(
        #[inline(always)]
        || {
            by_activation!(act, run, {
                Activation::Linear => {},
                Activation::Relu => each_affine(
                    x,
                    g,
                    a,
                    b,
                    #[inline(always)]
                    |z, g| *g = if relu(z) > 0.0 { *g } else { 0.0 },
                ),
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element-wise derivative against a central difference of its
    /// own forward, on both sides of zero.
    #[test]
    fn derivatives_match_the_forward() {
        for act in Activation::ALL.into_iter().filter(|a| *a != Activation::Softmax) {
            for x in [-3.1f32, -1.2, -0.4, 0.3, 0.9, 2.6] {
                let h = 1e-3;
                let numeric = (apply(act, x + h) - apply(act, x - h)) / (2.0 * h);
                let analytic = derivative(act, x, apply(act, x));
                assert!((numeric - analytic).abs() < 2e-3, "{act:?} at {x}: {analytic} vs {numeric}");
            }
        }
    }

    /// The vectorizable erf against libm's, over the range that matters.
    #[test]
    fn erf_is_float32_accurate() {
        let mut worst = 0.0f32;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            worst = worst.max((erf(x) - libm::erff(x)).abs());
        }
        assert!(worst < 5e-7, "erf differs from libm's by {worst}");
    }

    /// The vectorizable exp against libm's over its whole domain, in
    /// units in the last place, and within 1.3e-38 where e^x is not a normal
    /// float.
    #[test]
    fn exp_nonpositive_is_float32_accurate() {
        let mut worst = 0.0f64;
        for i in 0..=873_000 {
            let x = -(i as f32) / 10_000.0;
            let (got, want) = (exp_nonpositive(x), libm::expf(x));
            let ulp = (want.to_bits() + 1).min(f32::MAX.to_bits());
            let ulp = (f32::from_bits(ulp) - want) as f64;
            worst = worst.max(((got - want) as f64 / ulp).abs());
        }
        assert!(worst <= 2.0, "exp differs from libm's by {worst} ulp");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(-100.0) < 1.3e-38);
        assert!(exp_nonpositive(f32::NAN).is_nan());
    }

    /// Sigmoid against the exact value (in f64) where it is a normal
    /// float32, in units in the last place.
    #[test]
    fn sigmoid_is_float32_accurate() {
        let exact = |x: f64| 1.0 / (1.0 + (-x).exp());
        let (worst, at) = worst_ulps(sigmoid, exact, (-870_000..=870_000).map(|i| i as f32 / 10_000.0));
        assert!(worst <= 3.0, "sigmoid differs from the exact value by {worst} ulp at {at}");
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(100.0), 1.0);
        assert!(sigmoid(-100.0) < 1.3e-38);
        assert!(sigmoid(f32::NAN).is_nan());
    }

    /// `got` against the exact `want`, in units in the last place of
    /// `want` as a float32.
    fn ulps(got: f32, want: f64) -> f64 {
        let w = (want as f32).abs();
        let ulp = (f32::from_bits(w.to_bits() + 1) - w) as f64;
        ((got as f64 - want) / ulp).abs()
    }

    /// The largest error of `f` against the exact `exact` over `xs`.
    fn worst_ulps(f: fn(f32) -> f32, exact: fn(f64) -> f64, xs: impl Iterator<Item = f32>) -> (f64, f32) {
        xs.map(|x| (ulps(f(x), exact(x as f64)), x)).fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a })
    }

    /// exp(x) - 1 against the exact value, on a coarse grid of the whole
    /// domain and a fine one near zero, where a plain `exp(x) - 1` cancels.
    #[test]
    fn exp_m1_nonpositive_is_float32_accurate() {
        let coarse = (0..=873_000).map(|i| -(i as f32) / 10_000.0);
        let fine = (1..=100_000).map(|i| -(i as f32) * 1e-8);
        let (worst, at) = worst_ulps(exp_m1_nonpositive, f64::exp_m1, coarse.chain(fine));
        assert!(worst <= 1.5, "exp_m1 differs from the exact value by {worst} ulp at {at}");
        assert_eq!(exp_m1_nonpositive(0.0), 0.0);
        assert_eq!(exp_m1_nonpositive(-1e-30), -1e-30);
        assert_eq!(exp_m1_nonpositive(-100.0), -1.0);
        assert!(exp_m1_nonpositive(f32::NAN).is_nan());
    }

    /// softplus against the exact value.
    #[test]
    fn softplus_is_float32_accurate() {
        let exact_softplus = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
        let (worst, at) = worst_ulps(softplus, exact_softplus, (-870_000..=870_000).map(|i| i as f32 / 10_000.0));
        assert!(worst <= 3.0, "softplus differs from the exact value by {worst} ulp at {at}");
        assert!(softplus(f32::NAN).is_nan());
    }

    #[test]
    fn values_as_keras_defines_them() {
        assert!((apply(Activation::Gelu, 1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((apply(Activation::Selu, -1.0) - (-1.111_330_7)).abs() < 1e-6);
        assert_eq!(apply(Activation::LeakyRelu, -2.0), -0.4);
        assert_eq!(apply(Activation::HardSigmoid, 3.0), 1.0);
        assert_eq!(apply(Activation::HardSigmoid, 0.0), 0.5);
        assert!((apply(Activation::Softplus, 100.0) - 100.0).abs() < 1e-5);
        assert!((apply(Activation::Swish, 1.0) - 0.731_058_6).abs() < 1e-6);
    }
}
