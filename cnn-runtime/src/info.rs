//! What the macro knows about a network at compile time, as `const` data.

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

/// One weight tensor and its place in the network's flat parameter vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// `{layer}.kernel` or `{layer}.bias`.
    pub name: &'static str,
    /// Keras's layout: `[kh, kw, in, out]`, `[in, out]` or `[out]`.
    pub shape: &'static [usize],
    pub offset: usize,
    pub len: usize,
    /// Glorot-uniform `(fan_in, fan_out)` for a kernel; `None` for a bias.
    pub fans: Option<(usize, usize)>,
}

impl TensorInfo {
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len
    }
}
