//! im2col and col2im over a conv window of one NHWC image. The window's
//! geometry, as Keras pads it, is `cnn_core::Window`'s.

pub use cnn_core::Window;

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
