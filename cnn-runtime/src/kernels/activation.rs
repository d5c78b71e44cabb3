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

#[inline(always)]
fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

fn softmax_rows(y: &mut [f32], last: usize) {
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

/// `y = f(y + bias)` in place, one pass: `y` is rows of `last` values
/// (for softmax, the axis it normalizes), `bias` one value per column.
pub fn bias_activate(act: Activation, y: &mut [f32], bias: Option<&[f32]>, last: usize) {
    if let Some(b) = bias {
        assert_eq!(b.len(), last, "bias_activate: one bias per column");
    }
    let map = |y: &mut [f32], f: fn(f32) -> f32| match bias {
        Some(b) => y.chunks_exact_mut(last).for_each(|row| row.iter_mut().zip(b).for_each(|(v, b)| *v = f(*v + b))),
        None => y.iter_mut().for_each(|v| *v = f(*v)),
    };
    match act {
        Activation::Linear => map(y, |v| v),
        Activation::Relu => map(y, relu),
        Activation::Sigmoid => map(y, sigmoid),
        Activation::Tanh => map(y, f32::tanh),
        Activation::Softmax => {
            map(y, |v| v);
            softmax_rows(y, last);
        }
    }
}

/// `y = f(y)` in place; `last` is the length of the last axis (for softmax).
pub fn activate(act: Activation, y: &mut [f32], last: usize) {
    bias_activate(act, y, None, last);
}

/// `y = f(x)`, one pass.
pub fn activation_forward(act: Activation, x: &[f32], y: &mut [f32], last: usize) {
    assert_eq!(x.len(), y.len(), "activation_forward: input and output differ in length");
    let map = |f: fn(f32) -> f32, y: &mut [f32]| y.iter_mut().zip(x).for_each(|(y, x)| *y = f(*x));
    match act {
        Activation::Linear => y.copy_from_slice(x),
        Activation::Relu => map(relu, y),
        Activation::Sigmoid => map(sigmoid, y),
        Activation::Tanh => map(f32::tanh, y),
        Activation::Softmax => {
            y.copy_from_slice(x);
            softmax_rows(y, last);
        }
    }
}

/// `g = f'(x) * g` in place, from the output `y = f(x)`.
pub fn activation_backward(act: Activation, y: &[f32], g: &mut [f32], last: usize) {
    assert_eq!(y.len(), g.len(), "activation_backward: output and gradient differ in length");
    match act {
        Activation::Linear => {}
        Activation::Relu => g.iter_mut().zip(y).for_each(|(g, y)| *g = if *y > 0.0 { *g } else { 0.0 }),
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
