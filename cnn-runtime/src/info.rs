//! What the macro knows about a network at compile time, as `const` data.

pub use cnn_core::Initializer;

/// One layer, as `model.summary()` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// `conv2d_1`, or the layer's `name = "..."`.
    pub name: &'static str,
    /// The Keras class: `Conv2D`, `MaxPooling2D`, ...
    pub kind: &'static str,
    /// Without the batch dimension: `&[32, 32, 32]` or `&[10]`.
    pub output_shape: &'static [usize],
    pub params: usize,
}

/// How a tensor starts: a kernel initializer with the kernel's fans, or
/// a constant (biases and `beta` are zeros; `gamma` and moving variances ones).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Kernel { initializer: Initializer, fan_in: usize, fan_out: usize },
    Zeros,
    Ones,
}

/// One weight tensor and its place in the network's flat parameter vector.
/// Trainable tensors come first, so that `params[..TRAINABLE_PARAMS]` is
/// what the optimizer updates and the gradient covers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorInfo {
    /// `{layer}.kernel`, `.bias`, `.gamma`, `.beta`, `.moving_mean` or
    /// `.moving_variance`, as Keras names them.
    pub name: &'static str,
    /// Keras's layout: `[kh, kw, in, out]`, `[in, out]` or `[out]`.
    pub shape: &'static [usize],
    pub offset: usize,
    pub len: usize,
    pub init: Init,
    /// Whether the optimizer updates it (Keras's `trainable`).
    pub trainable: bool,
    /// `kernel_regularizer = l2(x)`: `x * sum(w²)` joins the loss; 0 if none.
    pub l2: f32,
}

impl TensorInfo {
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}
