//! Keras's size and parameter arithmetic for sliding windows (a conv
//! kernel or a pool), in one place.

/// How a sliding window treats the border.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Padding {
    /// No padding: the window stays inside the input.
    Valid,
    /// Zero (or ignored) cells around the input so that `out = ceil(in / stride)`.
    Same,
}

impl Padding {
    pub const fn keras_name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
        }
    }
}

/// Max or average pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    Max,
    Average,
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
pub const fn window_axis(input: usize, window: usize, stride: usize, padding: Padding) -> Option<Axis> {
    if input == 0 || window == 0 || stride == 0 {
        return None;
    }
    match padding {
        Padding::Valid => {
            if input >= window {
                Some(Axis { output: (input - window) / stride + 1, pad_before: 0 })
            } else {
                None
            }
        }
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

/// A sliding window over an `in_h x in_w x channels` image, with the
/// padding before the first row and column already computed (Keras puts
/// the odd cell of "same" padding after the last row and column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub s_h: usize,
    pub s_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub out_h: usize,
    pub out_w: usize,
}

impl Window {
    /// Keras's window of `size` cells moved by `strides` over an
    /// `in_h x in_w x channels` image, or `None` where none fits.
    pub const fn keras(
        (in_h, in_w, channels): (usize, usize, usize),
        size: (usize, usize),
        strides: (usize, usize),
        padding: Padding,
    ) -> Option<Window> {
        let (Some(rows), Some(cols)) =
            (window_axis(in_h, size.0, strides.0, padding), window_axis(in_w, size.1, strides.1, padding))
        else {
            return None;
        };
        Some(Window {
            in_h,
            in_w,
            channels,
            k_h: size.0,
            k_w: size.1,
            s_h: strides.0,
            s_w: strides.1,
            pad_top: rows.pad_before,
            pad_left: cols.pad_before,
            out_h: rows.output,
            out_w: cols.output,
        })
    }

    /// A 3x3, stride-1 window over `h x w x channels`, padded as Keras pads
    /// "same" or "valid": the shape Winograd takes, for its tests and benchmarks.
    pub const fn conv3x3(h: usize, w: usize, channels: usize, same: bool) -> Window {
        let padding = if same { Padding::Same } else { Padding::Valid };
        match Window::keras((h, w, channels), (3, 3), (1, 1), padding) {
            Some(w) => w,
            None => panic!("a 3x3 valid window needs at least 3x3"),
        }
    }

    /// Values in one input image.
    pub const fn in_len(&self) -> usize {
        self.in_h * self.in_w * self.channels
    }
    /// Window positions (output pixels) per image.
    pub const fn positions(&self) -> usize {
        self.out_h * self.out_w
    }
    /// Values in one patch: `k_h * k_w * channels`, in Keras's kernel order.
    pub const fn patch_len(&self) -> usize {
        self.k_h * self.k_w * self.channels
    }

    /// The input rows (or columns) that output row `o` covers, clipped to
    /// the image: padding cells are skipped, never read.
    #[inline]
    pub fn rows(&self, o: usize) -> (usize, usize) {
        clip(o * self.s_h, self.pad_top, self.k_h, self.in_h)
    }
    #[inline]
    pub fn cols(&self, o: usize) -> (usize, usize) {
        clip(o * self.s_w, self.pad_left, self.k_w, self.in_w)
    }

    /// A 1x1 kernel, stride 1, no padding: the image is its own im2col.
    pub fn is_pointwise(&self) -> bool {
        self.k_h == 1 && self.k_w == 1 && self.s_h == 1 && self.s_w == 1 && self.pad_top == 0 && self.pad_left == 0
    }
}

/// `[start, end)` of the input cells under a window that starts at padded
/// position `at` (so at input position `at - pad`) and is `k` cells long.
#[inline]
fn clip(at: usize, pad: usize, k: usize, len: usize) -> (usize, usize) {
    let start = at.saturating_sub(pad);
    let end = (at + k).saturating_sub(pad).min(len);
    (start, end.max(start))
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
        assert_eq!(Window::keras((2, 8, 1), (3, 3), (1, 1), Padding::Valid), None);
    }

    #[test]
    fn seed_params() {
        assert_eq!(conv2d_params((3, 3), 3, 32, true), Some(896));
        assert_eq!(dense_params(2304, 512, true), Some(1_180_160));
        assert_eq!(conv2d_params((3, 3), 6, 8, false), Some(432));
        assert_eq!(dense_params(1 << 16, 1 << 16, false), None);
    }
}
