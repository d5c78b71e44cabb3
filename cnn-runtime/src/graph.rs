//! A network as the runtime runs it: a list of nodes in execution order,
//! each an operation on the output of an earlier node (or on the input).
//! `cnn!` emits it as a `const` after checking every shape, so nothing
//! here is validated again at run time beyond the kernels' bounds checks.

use crate::kernels::activation::Activation;
use crate::kernels::conv::Conv;
use crate::kernels::pool::Pool;
use crate::kernels::window::Window;

/// A weight tensor of a node: where it starts in the flat parameter
/// vector (and, when trainable, in the gradient).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    pub offset: usize,
    pub trainable: bool,
}

/// What a node computes; shapes are per image, without the batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Conv2D {
        conv: Conv,
        activation: Activation,
        kernel: Param,
        bias: Option<Param>,
    },
    Dense {
        inputs: usize,
        units: usize,
        activation: Activation,
        kernel: Param,
        bias: Option<Param>,
    },
    Pool {
        kind: Pool,
        window: Window,
    },
    /// GlobalMaxPooling2D and GlobalAveragePooling2D.
    GlobalPool {
        kind: Pool,
        positions: usize,
        channels: usize,
    },
    Activation {
        activation: Activation,
        last: usize,
    },
    Dropout {
        rate: f32,
    },
    /// Only renames the shape: NHWC flattens in (h, w, c) order, so the
    /// node's output is its input's buffer.
    Flatten,
    BatchNorm {
        channels: usize,
        momentum: f32,
        epsilon: f32,
        gamma: Option<Param>,
        beta: Option<Param>,
        moving_mean: usize,
        moving_variance: usize,
    },
    Rescaling {
        scale: f32,
        offset: f32,
    },
}

/// One layer of the network as it runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    /// The node whose output this one reads; `None` for the network's input.
    pub input: Option<usize>,
    /// Values per image in and out.
    pub in_len: usize,
    pub out_len: usize,
}

impl Node {
    /// The activation applied inside the layer (Conv2D's and Dense's
    /// `activation =`), if any.
    pub const fn inline_activation(&self) -> Option<Activation> {
        match self.op {
            Op::Conv2D { activation, .. } | Op::Dense { activation, .. } => Some(activation),
            _ => None,
        }
    }

    /// Whether the node keeps its pre-activation for the backward pass.
    pub const fn keeps_preactivation(&self) -> bool {
        match self.inline_activation() {
            Some(a) => a.needs_input(),
            None => false,
        }
    }
}

/// The node whose buffer holds node `at`'s output: Flatten reads through
/// to its input; `None` is the network's input.
pub fn source(nodes: &[Node], mut at: Option<usize>) -> Option<usize> {
    while let Some(i) = at {
        match nodes[i].op {
            Op::Flatten => at = nodes[i].input,
            _ => return Some(i),
        }
    }
    None
}
