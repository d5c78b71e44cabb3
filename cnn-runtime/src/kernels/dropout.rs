//! Inverted dropout: in training each value is kept with probability
//! `1 - rate` and scaled by `1 / (1 - rate)`; in inference it is the identity.
//!
//! The mask comes from a counter-based hash of (seed, step, layer, value
//! index), not from a stateful generator, so it is the same whatever the
//! chunking of the batch or the number of threads.

use super::simd::vectorized_u64;
use crate::rng::hash2;

/// Which masks a training step draws: one per (seed, step), and per layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropoutKey {
    pub seed: u64,
    pub step: u64,
}

impl DropoutKey {
    /// The key of the dropout layer at position `layer` in the network.
    pub fn layer(self, layer: usize) -> u64 {
        hash2(hash2(self.seed, self.step), layer as u64)
    }
}

/// `y = x * mask`, with `mask` written for the backward pass. `first` is
/// the index of the first value of `x` within the whole batch.
pub fn dropout_forward(rate: f32, key: u64, first: usize, x: &[f32], y: &mut [f32], mask: &mut [f32]) {
    assert!(y.len() == x.len() && mask.len() == x.len(), "dropout_forward: buffers differ in length");
    let scale = 1.0 / (1.0 - rate);
    vectorized_u64(
        #[inline(always)]
        || {
            for (i, ((y, m), x)) in y.iter_mut().zip(mask.iter_mut()).zip(x).enumerate() {
                let u = crate::rng::unit_f32(hash2(key, (first + i) as u64));
                *m = if u >= rate { scale } else { 0.0 };
                *y = x * *m;
            }
        },
    )
}

/// `g = g * mask` in place.
pub fn dropout_backward(mask: &[f32], g: &mut [f32]) {
    g.iter_mut().zip(mask).for_each(|(g, m)| *g *= m);
}
