//! MaxPooling2D and AveragePooling2D. Cells of "same" padding are never
//! read: a max ignores them and an average divides by the cells inside the
//! image only, as Keras does.

use super::window::Window;

/// Channels routed at once in max pooling's backward pass.
const LANES: usize = 8;

pub use cnn_core::Pool;

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

/// `dx` (overwritten, or added to with `add`) from `dy`: a max sends each
/// gradient to the first cell that holds the maximum, an average spreads
/// it over its cells.
///
/// A max pool whose windows neither overlap nor leave gaps (strides equal
/// to the pool size, Keras's default) writes each cell under a window
/// once, its gradient or zero, and zeroes only the cells no window covers
/// (the last row or column of an odd "valid" input). Filling the batch's
/// gradient with zeros and adding to it took 1.3-1.5x as long (one thread,
/// 256 images of 31x31x64: 30.2 against 21.2 ms; 15x15x256: 32.5 against
/// 22.4).
#[allow(clippy::too_many_arguments)]
pub fn pool_backward(kind: Pool, w: &Window, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32], add: bool, n: usize) {
    let (c, in_len, out_len) = (w.channels, w.in_len(), w.positions() * w.channels);
    assert!(dx.len() >= n * in_len && dy.len() >= n * out_len, "pool_backward: batch buffers too short");
    // A tiled max pool overwrites each cell once; otherwise the gradient is
    // added to, onto zeros unless `add`.
    let overwrite = !add && kind == Pool::Max && w.s_h == w.k_h && w.s_w == w.k_w && w.out_h > 0 && w.out_w > 0;
    if !add && !overwrite {
        dx[..n * in_len].fill(0.0);
    }
    for i in 0..n {
        let xi = &x[i * in_len..][..in_len];
        let dxi = &mut dx[i * in_len..][..in_len];
        if overwrite {
            zero_uncovered(w, dxi);
        }
        for oy in 0..w.out_h {
            let (y0, y1) = w.rows(oy);
            for ox in 0..w.out_w {
                let (x0, x1) = w.cols(ox);
                let at = i * out_len + (oy * w.out_w + ox) * c;
                let (yo, go) = (&y[at..][..c], &dy[at..][..c]);
                let cells = (y0, y1, x0, x1);
                match kind {
                    Pool::Max if overwrite => route_all_channels::<false>(w, xi, dxi, cells, yo, go),
                    Pool::Max => route_all_channels::<true>(w, xi, dxi, cells, yo, go),
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

/// Zeroes the cells of image gradient `dxi` that no window of a tiled
/// pool covers: the rows before the first window and after the last, and
/// in the rows between, the columns likewise.
fn zero_uncovered(w: &Window, dxi: &mut [f32]) {
    let (r0, r1) = (w.rows(0).0, w.rows(w.out_h - 1).1);
    let (c0, c1) = (w.cols(0).0, w.cols(w.out_w - 1).1);
    let row = w.in_w * w.channels;
    dxi[..r0 * row].fill(0.0);
    dxi[r1 * row..].fill(0.0);
    for cells in dxi[r0 * row..r1 * row].chunks_exact_mut(row) {
        cells[..c0 * w.channels].fill(0.0);
        cells[c1 * w.channels..].fill(0.0);
    }
}

/// [`route_to_max`] for every channel of one window: `LANES` at a time,
/// then one by one.
#[inline(always)]
fn route_all_channels<const ADD: bool>(
    w: &Window,
    xi: &[f32],
    dxi: &mut [f32],
    cells: (usize, usize, usize, usize),
    yo: &[f32],
    go: &[f32],
) {
    let c = w.channels;
    let mut ch = 0;
    while ch + LANES <= c {
        route_to_max::<LANES, ADD>(w, xi, dxi, cells, ch, yo, go);
        ch += LANES;
    }
    while ch < c {
        route_to_max::<1, ADD>(w, xi, dxi, cells, ch, yo, go);
        ch += 1;
    }
}

/// Max pooling's backward for channels `ch..ch + W` of one window (rows
/// `y0..y1`, columns `x0..x1`): gives each channel's gradient to the first
/// cell, in row-major order, that holds the window's maximum, and zero to
/// the others; added to the cells with `ADD`, else written over them. Free
/// of branches over the channels: which cell holds a maximum is as good as
/// random, and a search that stops there mispredicted a branch per channel.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn route_to_max<const W: usize, const ADD: bool>(
    w: &Window,
    xi: &[f32],
    dxi: &mut [f32],
    (y0, y1, x0, x1): (usize, usize, usize, usize),
    ch: usize,
    yo: &[f32],
    go: &[f32],
) {
    let (y, mut g) = (&yo[ch..ch + W], [0.0; W]);
    g.copy_from_slice(&go[ch..ch + W]);
    for iy in y0..y1 {
        for ix in x0..x1 {
            let at = (iy * w.in_w + ix) * w.channels + ch;
            let (x, d) = (&xi[at..at + W], &mut dxi[at..at + W]);
            for l in 0..W {
                // The first cell that matches takes the gradient; later ones get zero.
                let hit = x[l] == y[l];
                let routed = if hit { g[l] } else { 0.0 };
                d[l] = if ADD { d[l] + routed } else { routed };
                g[l] = if hit { 0.0 } else { g[l] };
            }
        }
    }
}

/// GlobalMaxPooling2D or GlobalAveragePooling2D of `n` images of
/// `positions x channels`: `y [n, channels]`.
pub fn global_pool_forward(kind: Pool, positions: usize, channels: usize, x: &[f32], y: &mut [f32], n: usize) {
    assert!(x.len() >= n * positions * channels && y.len() >= n * channels, "global_pool_forward: buffers too short");
    for (xi, yi) in x.chunks_exact(positions * channels).zip(y.chunks_exact_mut(channels)).take(n) {
        yi.fill(if kind == Pool::Max { f32::NEG_INFINITY } else { 0.0 });
        for cell in xi.chunks_exact(channels) {
            match kind {
                Pool::Max => yi.iter_mut().zip(cell).for_each(|(o, v)| *o = o.max(*v)),
                Pool::Average => yi.iter_mut().zip(cell).for_each(|(o, v)| *o += v),
            }
        }
        if kind == Pool::Average {
            let inv = 1.0 / positions as f32;
            yi.iter_mut().for_each(|o| *o *= inv);
        }
    }
}

/// `dx` (overwritten) from `dy [n, channels]`: the max's gradient goes to
/// the first position holding it, the average's is spread evenly.
#[allow(clippy::too_many_arguments)]
pub fn global_pool_backward(
    kind: Pool,
    positions: usize,
    channels: usize,
    x: &[f32],
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    add: bool,
    n: usize,
) {
    let len = positions * channels;
    assert!(dx.len() >= n * len && dy.len() >= n * channels, "global_pool_backward: buffers too short");
    for i in 0..n {
        let (dxi, go) = (&mut dx[i * len..][..len], &dy[i * channels..][..channels]);
        match kind {
            Pool::Average => {
                let inv = 1.0 / positions as f32;
                for cell in dxi.chunks_exact_mut(channels) {
                    cell.iter_mut().zip(go).for_each(|(d, g)| *d = g * inv + if add { *d } else { 0.0 });
                }
            }
            Pool::Max => {
                let (xi, yo) = (&x[i * len..][..len], &y[i * channels..][..channels]);
                for c in 0..channels {
                    let mut routed = false;
                    for p in 0..positions {
                        let at = p * channels + c;
                        let hit = !routed && xi[at] == yo[c];
                        dxi[at] = if hit { go[c] } else { 0.0 } + if add { dxi[at] } else { 0.0 };
                        routed |= hit;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnn_core::Padding;

    /// Overwriting (`add == false`) gives the values of adding to zeros, and
    /// adding adds, for tiled pools with cells no window covers ("valid"
    /// on odd sides), "same" padding and overlapping windows: no cell of
    /// the NaN-filled gradient is left unwritten.
    #[test]
    fn overwriting_equals_adding_to_zeros() {
        let cases = [
            ((5, 5), (2, 2), (2, 2), Padding::Valid),
            ((5, 7), (2, 2), (2, 2), Padding::Same),
            ((7, 8), (3, 3), (3, 3), Padding::Valid),
            ((4, 4), (2, 2), (1, 1), Padding::Valid),
            ((6, 6), (3, 3), (2, 2), Padding::Same),
        ];
        for (kind, ((h, wd), size, strides, padding)) in
            [Pool::Max, Pool::Average].into_iter().flat_map(|k| cases.into_iter().map(move |c| (k, c)))
        {
            let c = 11;
            let w = Window::keras((h, wd, c), size, strides, padding).unwrap();
            let n = 2;
            let (in_len, out_len) = (w.in_len(), w.positions() * c);
            // Small integers: ties within windows, and exact sums.
            let x: Vec<f32> = (0..n * in_len).map(|i| ((i * 7919) % 13) as f32).collect();
            let mut y = vec![0.0; n * out_len];
            pool_forward(kind, &w, &x, &mut y, n);
            let dy: Vec<f32> = (0..n * out_len).map(|i| (i % 17) as f32 - 8.0).collect();
            let mut added = vec![0.0; n * in_len];
            pool_backward(kind, &w, &x, &y, &dy, &mut added, true, n);
            let mut written = vec![f32::NAN; n * in_len];
            pool_backward(kind, &w, &x, &y, &dy, &mut written, false, n);
            let case = format!("{kind:?} {h}x{wd} size {size:?} strides {strides:?} {padding:?}");
            assert_eq!(written, added, "{case}");
            let mut twice = added.clone();
            pool_backward(kind, &w, &x, &y, &dy, &mut twice, true, n);
            // Exact for a max; an average's overlapping windows sum
            // thirds and ninths in another order.
            for (i, (t, a)) in twice.iter().zip(&added).enumerate() {
                assert!((t - 2.0 * a).abs() <= 1e-6 * a.abs().max(1.0), "{case}: adding, cell {i}: {t} != 2 x {a}");
            }
        }
    }

    /// A 2x2 max pool over a 4x2 image of 9 channels (one block of 8 lanes
    /// and one left over): each window's gradient goes to the first cell
    /// holding its maximum, also on ties.
    #[test]
    fn max_gradient_goes_to_the_first_maximum() {
        let c = 9;
        let w = Window {
            in_h: 4,
            in_w: 2,
            channels: c,
            k_h: 2,
            k_w: 2,
            s_h: 2,
            s_w: 2,
            pad_top: 0,
            pad_left: 0,
            out_h: 2,
            out_w: 1,
        };
        // Window 0: channel ch has its maximum at cell ch % 4 (row-major);
        // window 1: all four cells tie.
        let mut x = vec![0.0; 8 * c];
        for ch in 0..c {
            x[(ch % 4) * c + ch] = 1.0;
            for cell in 4..8 {
                x[cell * c + ch] = 2.0;
            }
        }
        let mut y = vec![0.0; 2 * c];
        pool_forward(Pool::Max, &w, &x, &mut y, 1);
        let dy: Vec<f32> = (0..2 * c).map(|i| i as f32 + 1.0).collect();
        let mut dx = vec![f32::NAN; 8 * c];
        pool_backward(Pool::Max, &w, &x, &y, &dy, &mut dx, false, 1);
        for cell in 0..8 {
            for ch in 0..c {
                let want = match cell {
                    0..4 if cell == ch % 4 => dy[ch],
                    4 => dy[c + ch],
                    _ => 0.0,
                };
                assert_eq!(dx[cell * c + ch], want, "cell {cell}, channel {ch}");
            }
        }
    }
}
