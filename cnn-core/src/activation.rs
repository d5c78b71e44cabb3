//! The activations of `Activation(...)` and of `activation = ...`, with
//! Keras 3's names. Their arithmetic is the runtime's
//! (`kernels::activation`); this is what both halves agree on.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    /// Over the last axis.
    Softmax,
    /// `x` for `x > 0`, else `exp(x) - 1`.
    Elu,
    /// `scale * elu(x, alpha)` with Keras's fixed `alpha` and `scale`.
    Selu,
    /// The exact GELU, `x * Φ(x) = 0.5 x (1 + erf(x / √2))`.
    Gelu,
    /// `x * sigmoid(x)`, also named `"silu"`.
    Swish,
    /// `ln(1 + exp(x))`.
    Softplus,
    /// `x` for `x > 0`, else `0.2 x` (Keras 3's default slope).
    LeakyRelu,
    /// Keras 3's `relu6(x + 3) / 6`: `clip(x / 6 + 1/2, 0, 1)`.
    HardSigmoid,
}

impl Activation {
    pub const ALL: [Activation; 12] = [
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softmax,
        Activation::Linear,
        Activation::Elu,
        Activation::Selu,
        Activation::Gelu,
        Activation::Swish,
        Activation::Softplus,
        Activation::LeakyRelu,
        Activation::HardSigmoid,
    ];

    pub const fn keras_name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Softmax => "softmax",
            Activation::Elu => "elu",
            Activation::Selu => "selu",
            Activation::Gelu => "gelu",
            Activation::Swish => "swish",
            Activation::Softplus => "softplus",
            Activation::LeakyRelu => "leaky_relu",
            Activation::HardSigmoid => "hard_sigmoid",
        }
    }

    /// The activation Keras calls `name`, aliases included (`"silu"`).
    pub fn from_keras(name: &str) -> Option<Activation> {
        match name {
            "silu" => Some(Activation::Swish),
            _ => Activation::ALL.iter().copied().find(|a| a.keras_name() == name),
        }
    }

    /// Whether the derivative needs the input `x`: the others take it from
    /// the output `y` alone, so that no pre-activation needs keeping.
    pub const fn needs_input(self) -> bool {
        matches!(self, Activation::Gelu | Activation::Swish)
    }
}
