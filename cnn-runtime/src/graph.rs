//! A network as the runtime runs it: a list of nodes in execution order,
//! each an operation on the outputs of earlier nodes (or on the input):
//! one for a layer, several for `Add` and `Concatenate`.
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
    /// Keras's `Add`: the sum of the inputs, in input order.
    Add,
    /// Keras's `Concatenate` on channels: each input's `channels[k]`
    /// values per position, in input order.
    Concatenate {
        positions: usize,
        channels: &'static [usize],
    },
}

/// One layer of the network as it runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    /// The nodes whose outputs this one reads (`None`: the network's
    /// input), one but for `Add` and `Concatenate`; each is earlier.
    pub inputs: &'static [Option<usize>],
    /// Values per image in (of each input; of all together for
    /// `Concatenate`) and out.
    pub in_len: usize,
    pub out_len: usize,
}

impl Node {
    /// The node whose output this one reads (the first, for a merge).
    pub const fn input(&self) -> Option<usize> {
        self.inputs[0]
    }

    /// Whether the backward pass can leave the gradient at this node's
    /// input in the buffer of the gradient at its output, as its own
    /// backward works value by value in place.
    pub const fn elementwise(&self) -> bool {
        matches!(self.op, Op::Activation { .. } | Op::Dropout { .. } | Op::BatchNorm { .. } | Op::Rescaling { .. })
    }

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
            Op::Flatten => at = nodes[i].input(),
            _ => return Some(i),
        }
    }
    None
}

/// How many inputs of later nodes read each node's output buffer (a
/// Flatten's readers count for the node it reads through to).
pub fn readers(nodes: &[Node]) -> Vec<usize> {
    let mut count = vec![0; nodes.len()];
    for node in nodes.iter().filter(|nd| nd.op != Op::Flatten) {
        for &input in node.inputs {
            if let Some(j) = source(nodes, input) {
                count[j] += 1;
            }
        }
    }
    count
}

/// Which node's gradient buffer holds the gradient at each node's output
/// in the backward pass. Where a node works value by value in place
/// (an activation, BatchNormalization) and is the only reader of its
/// input, the gradient at its input stays in its own buffer, as in a
/// chain; an `Add` hands its buffer on to one input read by nothing else.
/// Every other input's gradient gets a buffer of its own, which each of
/// its readers adds to.
pub fn gradient_buffers(nodes: &[Node]) -> Vec<usize> {
    let readers = readers(nodes);
    let mut buffer: Vec<usize> = (0..nodes.len()).collect();
    for (i, node) in nodes.iter().enumerate().rev() {
        let alone = |input: &Option<usize>| source(nodes, *input).filter(|&j| readers[j] == 1);
        let handed = match node.op {
            Op::Add => node.inputs.iter().find_map(alone),
            _ if node.elementwise() => alone(&node.inputs[0]),
            _ => None,
        };
        if let Some(j) = handed {
            buffer[j] = buffer[i];
        }
    }
    buffer
}

/// The activation each node applies in its own pass, for the `Activation`
/// layer right after it: a BatchNormalization whose only reader is that
/// layer (softmax aside, which normalizes rows). The BatchNormalization's
/// own output is then never stored: forward, the values are read once and
/// written once instead of twice each, and backward, the activation's
/// derivative is taken inside BatchNormalization's first pass instead of
/// a pass of its own.
pub fn folded_activations(nodes: &[Node]) -> Vec<Option<Activation>> {
    let readers = readers(nodes);
    (0..nodes.len())
        .map(|i| match (nodes[i].op, nodes.get(i + 1)) {
            (Op::BatchNorm { .. }, Some(next)) if readers[i] == 1 && next.input() == Some(i) => match next.op {
                Op::Activation { activation, .. } if activation != Activation::Softmax => Some(activation),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BN: Op = Op::BatchNorm {
        channels: 2,
        momentum: 0.99,
        epsilon: 1e-3,
        gamma: None,
        beta: None,
        moving_mean: 0,
        moving_variance: 2,
    };

    const fn node(op: Op, inputs: &'static [Option<usize>]) -> Node {
        Node { op, inputs, in_len: 8, out_len: 8 }
    }

    const fn act(activation: Activation) -> Op {
        Op::Activation { activation, last: 2 }
    }

    /// A BatchNormalization folds the activation right after it only where
    /// that activation is its one reader, and never softmax.
    #[test]
    fn batch_normalization_folds_only_an_activation_that_alone_reads_it() {
        let folds = folded_activations(&[
            node(BN, &[None]),
            node(act(Activation::Gelu), &[Some(0)]),
            // Read twice: by the activation and by the Add.
            node(BN, &[Some(1)]),
            node(act(Activation::Relu), &[Some(2)]),
            node(Op::Add, &[Some(2), Some(3)]),
            // Its reader is an Add, not an activation.
            node(BN, &[Some(4)]),
            node(Op::Add, &[Some(5), Some(4)]),
            // Softmax normalizes rows.
            node(BN, &[Some(6)]),
            node(act(Activation::Softmax), &[Some(7)]),
        ]);
        assert_eq!(folds, [Some(Activation::Gelu), None, None, None, None, None, None, None, None]);
    }
}
