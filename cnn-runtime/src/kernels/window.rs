//! The geometry of a conv or pool window over one NHWC image, as the macro
//! worked it out with Keras's padding rules; and im2col / col2im over it.

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
    /// A 3x3, stride-1 window over `h x w x channels`, padded as Keras pads
    /// "same" (one cell all round) or "valid" (none): the shape Winograd
    /// takes, for its tests and benchmarks.
    pub const fn conv3x3(h: usize, w: usize, channels: usize, same: bool) -> Window {
        let (pad, out_h, out_w) = if same { (1, h, w) } else { (0, h - 2, w - 2) };
        Window { in_h: h, in_w: w, channels, k_h: 3, k_w: 3, s_h: 1, s_w: 1, pad_top: pad, pad_left: pad, out_h, out_w }
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

/// `dst = src` for the short rows of im2col (9 values for a 3x3 RGB
/// kernel): a loop the compiler keeps inline, where `copy_from_slice`
/// would call `memmove` thousands of times per image.
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    if dst.len() >= 64 {
        dst.copy_from_slice(src);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

/// Copies every patch of image `x` into a row of `cols`
/// (`positions x patch_len`, zeros where the window hangs over the border).
pub fn im2col(w: &Window, x: &[f32], cols: &mut [f32]) {
    let (c, pl, row_len) = (w.channels, w.patch_len(), w.k_w * w.channels);
    assert!(x.len() >= w.in_len() && cols.len() >= w.positions() * pl, "im2col: buffers too short");
    for oy in 0..w.out_h {
        let top = (oy * w.s_h) as isize - w.pad_top as isize;
        for ox in 0..w.out_w {
            let left = (ox * w.s_w) as isize - w.pad_left as isize;
            let patch = &mut cols[(oy * w.out_w + ox) * pl..][..pl];
            let inside_x = left >= 0 && left as usize + w.k_w <= w.in_w;
            for ky in 0..w.k_h {
                let iy = top + ky as isize;
                let dst = &mut patch[ky * row_len..][..row_len];
                if iy < 0 || iy as usize >= w.in_h {
                    dst.fill(0.0);
                } else if inside_x {
                    copy_short(dst, &x[(iy as usize * w.in_w + left as usize) * c..][..row_len]);
                } else {
                    for kx in 0..w.k_w {
                        let ix = left + kx as isize;
                        let d = &mut dst[kx * c..][..c];
                        if ix < 0 || ix as usize >= w.in_w {
                            d.fill(0.0);
                        } else {
                            copy_short(d, &x[(iy as usize * w.in_w + ix as usize) * c..][..c]);
                        }
                    }
                }
            }
        }
    }
}

/// The patch matrix of image `x` (`positions x patch_len`): `x` itself for
/// a pointwise window, else its im2col in `cols`.
pub fn patches<'a>(w: &Window, x: &'a [f32], cols: &'a mut [f32]) -> &'a [f32] {
    if w.is_pointwise() {
        x
    } else {
        im2col(w, x, cols);
        &cols[..w.positions() * w.patch_len()]
    }
}

/// The adjoint of `im2col`: adds every patch row of `cols` back onto the
/// image cells it came from (`dx` is added to, not overwritten).
pub fn col2im(w: &Window, cols: &[f32], dx: &mut [f32]) {
    let (c, pl) = (w.channels, w.patch_len());
    assert!(dx.len() >= w.in_len() && cols.len() >= w.positions() * pl, "col2im: buffers too short");
    for oy in 0..w.out_h {
        let top = (oy * w.s_h) as isize - w.pad_top as isize;
        for ox in 0..w.out_w {
            let left = (ox * w.s_w) as isize - w.pad_left as isize;
            let patch = &cols[(oy * w.out_w + ox) * pl..][..pl];
            for ky in 0..w.k_h {
                let iy = top + ky as isize;
                if iy < 0 || iy as usize >= w.in_h {
                    continue;
                }
                for kx in 0..w.k_w {
                    let ix = left + kx as isize;
                    if ix < 0 || ix as usize >= w.in_w {
                        continue;
                    }
                    let src = &patch[(ky * w.k_w + kx) * c..][..c];
                    let d = &mut dx[(iy as usize * w.in_w + ix as usize) * c..][..c];
                    for (d, s) in d.iter_mut().zip(src) {
                        *d += s;
                    }
                }
            }
        }
    }
}
