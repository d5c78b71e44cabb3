//! Element-wise activations and softmax, forward and backward. Every
//! backward works from the layer's output `y`, so no pre-activation needs
//! keeping: relu' = [y > 0], sigmoid' = y(1 - y), tanh' = 1 - y^2.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    /// Over the last axis, of length `last`.
    Softmax,
}

/// `y = f(y)` in place; `last` is the length of the last axis (for softmax).
pub fn activate(act: Activation, y: &mut [f32], last: usize) {
    match act {
        Activation::Linear => {}
        // Not `max(0.0)`, which turns NaN into 0: a diverging network must show it.
        Activation::Relu => y.iter_mut().for_each(|v| {
            if *v < 0.0 {
                *v = 0.0
            }
        }),
        Activation::Sigmoid => y.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        Activation::Tanh => y.iter_mut().for_each(|v| *v = v.tanh()),
        Activation::Softmax => {
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
    }
}

/// `y = f(x)`.
pub fn activation_forward(act: Activation, x: &[f32], y: &mut [f32], last: usize) {
    y.copy_from_slice(x);
    activate(act, y, last);
}

/// `g = f'(x) * g` in place, from the output `y = f(x)`.
pub fn activation_backward(act: Activation, y: &[f32], g: &mut [f32], last: usize) {
    assert_eq!(y.len(), g.len(), "activation_backward: output and gradient differ in length");
    match act {
        Activation::Linear => {}
        Activation::Relu => g.iter_mut().zip(y).for_each(|(g, y)| {
            if *y <= 0.0 {
                *g = 0.0
            }
        }),
        Activation::Sigmoid => g.iter_mut().zip(y).for_each(|(g, y)| *g *= y * (1.0 - y)),
        Activation::Tanh => g.iter_mut().zip(y).for_each(|(g, y)| *g *= 1.0 - y * y),
        Activation::Softmax => {
            for (g, y) in g.chunks_exact_mut(last).zip(y.chunks_exact(last)) {
                let dot: f32 = g.iter().zip(y).map(|(g, y)| g * y).sum();
                g.iter_mut().zip(y).for_each(|(g, y)| *g = y * (*g - dot));
            }
        }
    }
}
