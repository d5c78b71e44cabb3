//! MaxPooling2D and AveragePooling2D. Cells of "same" padding are never
//! read: a max ignores them and an average divides by the cells inside the
//! image only, as Keras does.

use super::window::Window;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool {
    Max,
    Average,
}

pub fn pool_forward(kind: Pool, w: &Window, x: &[f32], y: &mut [f32], n: usize) {
    let (c, in_len, out_len) = (w.channels, w.in_len(), w.positions() * w.channels);
    assert!(x.len() >= n * in_len && y.len() >= n * out_len, "pool_forward: batch buffers too short");
    for i in 0..n {
        let xi = &x[i * in_len..][..in_len];
        let yi = &mut y[i * out_len..][..out_len];
        for oy in 0..w.out_h {
            let (y0, y1) = w.rows(oy);
            for ox in 0..w.out_w {
                let (x0, x1) = w.cols(ox);
                let out = &mut yi[(oy * w.out_w + ox) * c..][..c];
                out.fill(if kind == Pool::Max { f32::NEG_INFINITY } else { 0.0 });
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let cell = &xi[(iy * w.in_w + ix) * c..][..c];
                        match kind {
                            Pool::Max => out.iter_mut().zip(cell).for_each(|(o, v)| *o = o.max(*v)),
                            Pool::Average => out.iter_mut().zip(cell).for_each(|(o, v)| *o += v),
                        }
                    }
                }
                if kind == Pool::Average {
                    let inv = 1.0 / ((y1 - y0) * (x1 - x0)) as f32;
                    out.iter_mut().for_each(|o| *o *= inv);
                }
            }
        }
    }
}

/// `dx` (overwritten) from `dy`: a max sends each gradient to the first
/// cell that holds the maximum, an average spreads it over its cells.
pub fn pool_backward(kind: Pool, w: &Window, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], n: usize) {
    let (c, in_len, out_len) = (w.channels, w.in_len(), w.positions() * w.channels);
    assert!(dx.len() >= n * in_len && dy.len() >= n * out_len, "pool_backward: batch buffers too short");
    dx[..n * in_len].fill(0.0);
    for i in 0..n {
        let xi = &x[i * in_len..][..in_len];
        let dxi = &mut dx[i * in_len..][..in_len];
        for oy in 0..w.out_h {
            let (y0, y1) = w.rows(oy);
            for ox in 0..w.out_w {
                let (x0, x1) = w.cols(ox);
                let at = i * out_len + (oy * w.out_w + ox) * c;
                let (yo, go) = (&y[at..][..c], &dy[at..][..c]);
                match kind {
                    Pool::Max => {
                        for ch in 0..c {
                            'find: for iy in y0..y1 {
                                for ix in x0..x1 {
                                    let cell = (iy * w.in_w + ix) * c + ch;
                                    if xi[cell] == yo[ch] {
                                        dxi[cell] += go[ch];
                                        break 'find;
                                    }
                                }
                            }
                        }
                    }
                    Pool::Average => {
                        let inv = 1.0 / ((y1 - y0) * (x1 - x0)) as f32;
                        for iy in y0..y1 {
                            for ix in x0..x1 {
                                let cell = &mut dxi[(iy * w.in_w + ix) * c..][..c];
                                cell.iter_mut().zip(go).for_each(|(d, g)| *d += g * inv);
                            }
                        }
                    }
                }
            }
        }
    }
}
