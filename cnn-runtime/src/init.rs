//! Keras's initializers (`keras.initializers.VarianceScaling` and the
//! constants), drawn from a seed: each tensor from its own stream, so the
//! same seed gives the same weights.
//!
//! With `n` = fan-in, or the mean of fan-in and fan-out for Glorot:
//! uniform on `±sqrt(3 scale / n)`; normal with standard deviation
//! `sqrt(scale / n) / 0.8796...`, truncated at two standard deviations
//! (that constant is the standard deviation of a unit normal truncated
//! there, so the draws have variance `scale / n`, as Keras's do). Glorot
//! and LeCun take `scale = 1`, He `scale = 2`.

use crate::info::{Init, Initializer, TensorInfo};
use crate::rng::{hash2, Rng};

/// The standard deviation of a unit normal truncated to [-2, 2].
const TRUNCATED_STDDEV: f64 = 0.879_625_661_034_239_8;

/// A unit normal draw (Box-Muller on two 53-bit uniforms).
fn normal(rng: &mut Rng) -> f64 {
    let u = |rng: &mut Rng| ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let (a, b) = (u(rng), u(rng));
    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
}

/// A unit normal draw within two standard deviations.
fn truncated_normal(rng: &mut Rng) -> f64 {
    loop {
        let v = normal(rng);
        if v.abs() <= 2.0 {
            return v;
        }
    }
}

/// The distribution of `initializer` for a kernel with these fans:
/// `(uniform?, limit or standard deviation)`.
pub fn distribution(initializer: Initializer, fan_in: usize, fan_out: usize) -> Option<(bool, f64)> {
    let (fan_in, avg) = (fan_in.max(1) as f64, ((fan_in + fan_out) as f64 / 2.0).max(1.0));
    let (uniform, scale, n) = match initializer {
        Initializer::GlorotUniform => (true, 1.0, avg),
        Initializer::GlorotNormal => (false, 1.0, avg),
        Initializer::HeNormal => (false, 2.0, fan_in),
        Initializer::HeUniform => (true, 2.0, fan_in),
        Initializer::LecunNormal => (false, 1.0, fan_in),
        Initializer::LecunUniform => (true, 1.0, fan_in),
        Initializer::Zeros | Initializer::Ones => return None,
    };
    Some(if uniform { (true, (3.0 * scale / n).sqrt()) } else { (false, (scale / n).sqrt() / TRUNCATED_STDDEV) })
}

/// Fills `values` as `init` prescribes, from the stream `seed`.
pub fn fill(init: Init, values: &mut [f32], seed: u64) {
    let mut rng = Rng::new(seed);
    match init {
        Init::Zeros => values.fill(0.0),
        Init::Ones => values.fill(1.0),
        Init::Kernel { initializer, fan_in, fan_out } => match distribution(initializer, fan_in, fan_out) {
            None => values.fill(if initializer == Initializer::Ones { 1.0 } else { 0.0 }),
            Some((true, limit)) => {
                values.iter_mut().for_each(|v| *v = ((2.0 * rng.unit() - 1.0) as f64 * limit) as f32)
            }
            Some((false, stddev)) => values.iter_mut().for_each(|v| *v = (truncated_normal(&mut rng) * stddev) as f32),
        },
    }
}

/// Every tensor of a network, initialized from `seed`.
pub fn init_params(tensors: &[TensorInfo], total: usize, seed: u64) -> Vec<f32> {
    let mut params = vec![0.0; total];
    for (i, t) in tensors.iter().enumerate() {
        fill(t.init, &mut params[t.range()], hash2(seed, i as u64));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each initializer's sample mean, variance and range against Keras's
    /// distribution: variance `scale / n`, bounded by the uniform's limit
    /// or by two of the truncated normal's standard deviations.
    #[test]
    fn sample_statistics_match_keras() {
        let (fan_in, fan_out) = (3 * 3 * 16, 3 * 3 * 32);
        for initializer in Initializer::ALL {
            let mut v = vec![0.0f32; 200_000];
            fill(Init::Kernel { initializer, fan_in, fan_out }, &mut v, 7);
            let Some((uniform, param)) = distribution(initializer, fan_in, fan_out) else {
                let want = if initializer == Initializer::Ones { 1.0 } else { 0.0 };
                assert!(v.iter().all(|&x| x == want), "{initializer:?}");
                continue;
            };
            let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
            let n = match initializer {
                Initializer::GlorotUniform | Initializer::GlorotNormal => (fan_in + fan_out) as f64 / 2.0,
                _ => fan_in as f64,
            };
            let scale = if matches!(initializer, Initializer::HeNormal | Initializer::HeUniform) { 2.0 } else { 1.0 };
            let bound = if uniform { param } else { 2.0 * param };
            assert!(mean.abs() < 0.01 * bound, "{initializer:?}: mean {mean}");
            assert!((var / (scale / n) - 1.0).abs() < 0.02, "{initializer:?}: variance {var} vs {}", scale / n);
            let max = v.iter().fold(0.0f64, |m, &x| m.max((x as f64).abs()));
            assert!(max <= bound * (1.0 + 1e-6) && max > 0.95 * bound, "{initializer:?}: max {max} vs bound {bound}");
        }
    }
}
