//! Keras's size and parameter arithmetic, in one place. Every other module
//! (validation, summary, code generation) asks these functions.

/// How a sliding window (a kernel or a pool) treats the border.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Padding {
    /// No padding: the window stays inside the input.
    Valid,
    /// Zero (or ignored) cells around the input so that `out = ceil(in / stride)`.
    Same,
}

impl Padding {
    pub fn keras_name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
        }
    }
}

/// One axis of a sliding window: the output length and the padding before
/// the first input cell (the rest of the padding goes after the last one).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Axis {
    pub output: usize,
    pub pad_before: usize,
}

/// Keras's output length for a window of `window` cells moved by `stride`
/// over `input` cells, or `None` when no window fits ("valid" on an input
/// shorter than the window).
///
/// "valid": `floor((in - k) / s) + 1`. "same": `ceil(in / s)`, with
/// `total = max((out - 1) * s + k - in, 0)` padding, `total / 2` before:
/// an odd total puts the extra cell after, at the bottom or right.
pub fn window_axis(input: usize, window: usize, stride: usize, padding: Padding) -> Option<Axis> {
    if input == 0 || window == 0 || stride == 0 {
        return None;
    }
    match padding {
        Padding::Valid => (input >= window).then(|| Axis { output: (input - window) / stride + 1, pad_before: 0 }),
        Padding::Same => {
            let output = input.div_ceil(stride);
            let total = ((output - 1) * stride + window).saturating_sub(input);
            Some(Axis { output, pad_before: total / 2 })
        }
    }
}

/// The most values one image's layer output, one layer's weights or one
/// image's im2col patches may hold (2^31, 8 GiB of f32). Every size the
/// macro computes goes through [`checked_len`] or the functions below, so
/// a huge argument is a compile error, never an overflow.
pub const LIMIT: usize = 1 << 31;

/// The product of `dims`, if it is at most [`LIMIT`].
pub fn checked_len(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).filter(|&n| n <= LIMIT)
}

/// Weights of a `Conv2D`: `kh * kw * in * filters`, plus one bias a filter.
pub fn conv2d_params(kernel: (usize, usize), in_channels: usize, filters: usize, use_bias: bool) -> Option<usize> {
    let kernel = checked_len(&[kernel.0, kernel.1, in_channels, filters])?;
    checked_len(&[kernel + if use_bias { filters } else { 0 }])
}

/// Weights of a `Dense`: `in * units`, plus one bias a unit.
pub fn dense_params(inputs: usize, units: usize, use_bias: bool) -> Option<usize> {
    let kernel = checked_len(&[inputs, units])?;
    checked_len(&[kernel + if use_bias { units } else { 0 }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_shapes() {
        // conv2d_2: 32 -> 30; max_pooling2d_2: 13 -> 6 (floor).
        assert_eq!(window_axis(32, 3, 1, Padding::Valid).unwrap().output, 30);
        assert_eq!(window_axis(13, 2, 2, Padding::Valid).unwrap().output, 6);
        assert_eq!(window_axis(32, 3, 1, Padding::Same), Some(Axis { output: 32, pad_before: 1 }));
    }

    #[test]
    fn same_with_stride_pads_extra_cell_after() {
        // 16 rows, kernel 3, stride 2: out 8, total (7*2+3-16)=1, before 0.
        assert_eq!(window_axis(16, 3, 2, Padding::Same), Some(Axis { output: 8, pad_before: 0 }));
        // 14 columns, kernel 5, stride 2: out 7, total 3, before 1.
        assert_eq!(window_axis(14, 5, 2, Padding::Same), Some(Axis { output: 7, pad_before: 1 }));
    }

    #[test]
    fn valid_window_larger_than_input_fits_nowhere() {
        assert_eq!(window_axis(2, 3, 1, Padding::Valid), None);
    }

    #[test]
    fn seed_params() {
        assert_eq!(conv2d_params((3, 3), 3, 32, true), Some(896));
        assert_eq!(dense_params(2304, 512, true), Some(1_180_160));
        assert_eq!(conv2d_params((3, 3), 6, 8, false), Some(432));
        assert_eq!(dense_params(1 << 16, 1 << 16, false), None);
    }
}
