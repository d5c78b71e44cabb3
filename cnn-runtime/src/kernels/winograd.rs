//! Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, 2015) for 3x3,
//! stride-1 convolutions, the three that dominate the seed network's step.
//!
//! Each 2x2 block of outputs (a tile) reads a 4x4 block of the input. Per
//! tile, `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`: the elementwise product, summed
//! over input channels, becomes 16 sgemms of `tiles x channels` by
//! `channels x filters`, with 16 multiplies per tile and channel pair where
//! im2col needs 36. The backward pass is the exact adjoint of that linear
//! map, sharing the transformed output gradient `dM = A dY Aᵀ`:
//! `dU = Vᵀ dM` gives the kernel gradient `Gᵀ dU G`, and `dV = dM Uᵀ` gives
//! the input gradient `B dV Bᵀ`, added back over overlapping tiles.
//!
//! Layouts: 16 planes, one per element of the 4x4 transform: `U` of
//! `channels x filters`, `V` and `dV` of `tiles x channels`, `M` and `dM`
//! of `tiles x filters`, each plane contiguous for its sgemm (a strided
//! plane made sgemm's packing measurably slower). The transforms work on
//! whole channel vectors (NHWC keeps them contiguous), in blocks of 8 lanes.

use super::gemm::{sgemm, MatRef};
use super::simd::vectorized;
use super::window::Window;
use std::ops::Range;

/// The most bytes of `V` and `M` one block of tiles may take (see
/// [`Winograd::block`]).
const BLOCK_BYTES: usize = 1 << 18;

/// The fewest tiles a block holds (see [`Winograd::block`]). Measured on
/// the airbench layout at batch 512 (`cargo bench --bench airbench`, two
/// rounds): 438-493 images/s with the byte bound alone (8 tiles for its
/// 256-channel layers), 519-550 with at least 24, 564-565 with 48,
/// 567-593 with 96, 578-584 with 160; ResNet-20 (whose blocks are 32-128
/// tiles anyway) 985-1024 with the bound alone, 1016-1031 with 96,
/// 922-931 with 160.
const MIN_BLOCK: usize = 96;

/// `G`, the kernel transform (4x3).
const G: [[f32; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];

/// Channels per block in the transforms: one AVX2 register.
const LANES: usize = 8;

/// A 3x3, stride-1 convolution cut into 2x2 output tiles.
#[derive(Clone, Copy, Debug)]
pub struct Winograd {
    window: Window,
    filters: usize,
    tiles_h: usize,
    tiles_w: usize,
}

impl Winograd {
    /// The tiling of `window`, or `None` unless it is 3x3 with stride 1.
    pub const fn new(window: Window, filters: usize) -> Option<Self> {
        if window.k_h != 3 || window.k_w != 3 || window.s_h != 1 || window.s_w != 1 {
            return None;
        }
        Some(Winograd { window, filters, tiles_h: window.out_h.div_ceil(2), tiles_w: window.out_w.div_ceil(2) })
    }

    const fn tiles(&self) -> usize {
        self.tiles_h * self.tiles_w
    }

    /// Tiles transformed together, the rows of each of the 16 sgemms.
    /// The blocks run on across images, so that a product is never cut
    /// short at an image's edge, and are bounded so that one block's `V`
    /// and `M` stay within `BLOCK_BYTES`: in cache between the transform
    /// that writes them and the product or transform that reads them. But
    /// never fewer than `MIN_BLOCK` tiles: each product reads its whole
    /// plane of `U` (or writes its plane of `dU`), which for 256 channels
    /// and filters is 256 KiB, and a few tiles cannot pay for that.
    pub const fn block(&self) -> usize {
        let per_tile = 16 * (self.window.channels + self.filters) * 4;
        let b = BLOCK_BYTES / per_tile;
        if b < MIN_BLOCK {
            MIN_BLOCK
        } else {
            b
        }
    }

    /// The widest channel vector a transform handles.
    const fn width(&self) -> usize {
        if self.window.channels > self.filters {
            self.window.channels
        } else {
            self.filters
        }
    }

    /// Values [`Self::prepare`] writes: U and Uᵀ, once per pass for the
    /// whole batch rather than once per unit of images.
    pub const fn prepared_len(&self) -> usize {
        32 * self.window.channels * self.filters
    }

    /// Values of the kernel gradient in the transformed domain (dU), which
    /// each unit of images writes and [`Self::finish_kernel_grad`] maps back.
    pub const fn grad_len(&self) -> usize {
        16 * self.window.channels * self.filters
    }

    /// Scratch `forward` and `backward` take as `cols`: V, M (or dM) and
    /// a vector of zeros.
    pub const fn cols_len(&self) -> usize {
        let (c, f, t) = (self.window.channels, self.filters, self.block());
        16 * (plane(t, c) + plane(t, f)) + self.width()
    }

    /// Scratch `backward` takes as `dcols`: dV.
    pub const fn dcols_len(&self) -> usize {
        16 * plane(self.block(), self.window.channels)
    }

    /// Splits `cols` into V, M and a vector of zeros.
    fn split<'a>(&self, cols: &'a mut [f32]) -> (&'a mut [f32], &'a mut [f32], &'a [f32]) {
        let (c, f, t, wd) = (self.window.channels, self.filters, self.block(), self.width());
        assert!(cols.len() >= self.cols_len(), "winograd: scratch too short");
        let (v, rest) = cols.split_at_mut(16 * plane(t, c));
        let (m, rest) = rest.split_at_mut(16 * plane(t, f));
        let zeros = &mut rest[..wd];
        zeros.fill(0.0);
        (v, m, zeros)
    }

    /// `U = G g Gᵀ` and its per-plane transpose Uᵀ (which `dV = dM Uᵀ`
    /// reads row by row, as sgemm's fastest path wants B) into `prepared`.
    pub fn prepare(&self, kernel: &[f32], prepared: &mut [f32]) {
        let (c, f) = (self.window.channels, self.filters);
        assert!(prepared.len() >= self.prepared_len(), "winograd prepare: buffer too short");
        let (u, ut) = prepared.split_at_mut(16 * c * f);
        self.transform_kernel(kernel, u);
        for (up, utp) in u.chunks_exact(c * f).zip(ut.chunks_exact_mut(c * f)) {
            transpose(up, c, f, utp);
        }
    }

    /// `(first tile, tiles)` of each block of the `n * tiles` tiles of `n`
    /// images, numbered image by image.
    fn blocks(&self, n: usize) -> impl Iterator<Item = (usize, usize)> {
        let (block, total) = (self.block(), n * self.tiles());
        (0..total).step_by(block).map(move |first| (first, block.min(total - first)))
    }

    /// `y = conv(x)` (no bias) for `n` images, with the kernel as
    /// [`Self::prepare`] left it; `y` is overwritten.
    pub fn forward(&self, prepared: &[f32], x: &[f32], y: &mut [f32], n: usize, cols: &mut [f32]) {
        let w = &self.window;
        let (c, f) = (w.channels, self.filters);
        let (in_len, out_len) = (w.in_len(), w.positions() * f);
        assert!(x.len() >= n * in_len && y.len() >= n * out_len, "winograd forward: batch buffers too short");
        assert!(prepared.len() >= self.prepared_len(), "winograd forward: kernel not prepared");
        let u = &prepared[..16 * c * f];
        let (v, m, zeros) = self.split(cols);
        for (first, rows) in self.blocks(n) {
            vectorized(
                #[inline(always)]
                || self.transform_block_input(x, first, rows, v, zeros),
            );
            for xi in 0..16 {
                let up = &u[xi * c * f..][..c * f];
                let (vp, mp) = (&v[xi * plane(rows, c)..][..rows * c], &mut m[xi * plane(rows, f)..][..rows * f]);
                sgemm(rows, c, f, 1.0, MatRef::n(vp, c), MatRef::n(up, f), 0.0, mp, f);
            }
            vectorized(
                #[inline(always)]
                || {
                    for (image, tiles, row) in self.segments(first, rows) {
                        self.transform_output(m, rows, row, tiles, &mut y[image * out_len..][..out_len]);
                    }
                },
            );
        }
    }

    /// The kernel gradient in the transformed domain, `du` (overwritten;
    /// [`Self::finish_kernel_grad`] maps the batch's sum back) and, if asked
    /// for, the input gradient (overwritten) of `n` images, from `dz`, the
    /// gradient at the convolution's output.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        prepared: &[f32],
        x: &[f32],
        dz: &[f32],
        mut dx: Option<&mut [f32]>,
        add_dx: bool,
        du: &mut [f32],
        n: usize,
        cols: &mut [f32],
        dcols: &mut [f32],
    ) {
        let w = &self.window;
        let (c, f) = (w.channels, self.filters);
        let (in_len, out_len) = (w.in_len(), w.positions() * f);
        assert!(x.len() >= n * in_len && dz.len() >= n * out_len, "winograd backward: batch buffers too short");
        assert!(dcols.len() >= self.dcols_len(), "winograd backward: scratch too short");
        assert!(prepared.len() >= self.prepared_len(), "winograd backward: kernel not prepared");
        assert!(du.len() >= self.grad_len(), "winograd backward: kernel gradient too short");
        let ut = &prepared[16 * c * f..][..16 * c * f];
        let (v, dm, zeros) = self.split(cols);
        let du = &mut du[..16 * c * f];
        let dv = &mut dcols[..self.dcols_len()];
        for (first, rows) in self.blocks(n) {
            vectorized(
                #[inline(always)]
                || {
                    self.transform_block_input(x, first, rows, v, zeros);
                    let mut planes = planes_mut(dm, plane(rows, f));
                    for (image, tiles, row) in self.segments(first, rows) {
                        self.transform_output_grad(&dz[image * out_len..][..out_len], tiles, &mut planes, row, zeros);
                    }
                },
            );
            let beta = if first == 0 { 0.0 } else { 1.0 };
            for xi in 0..16 {
                let (vp, dmp) = (&v[xi * plane(rows, c)..][..rows * c], &dm[xi * plane(rows, f)..][..rows * f]);
                sgemm(c, rows, f, 1.0, MatRef::t(vp, c), MatRef::n(dmp, f), beta, &mut du[xi * c * f..][..c * f], f);
            }
            if let Some(dx) = dx.as_deref_mut() {
                for xi in 0..16 {
                    let (dmp, utp) = (&dm[xi * plane(rows, f)..][..rows * f], &ut[xi * c * f..][..c * f]);
                    let dvp = &mut dv[xi * plane(rows, c)..][..rows * c];
                    sgemm(rows, f, c, 1.0, MatRef::n(dmp, f), MatRef::n(utp, c), 0.0, dvp, c);
                }
                vectorized(
                    #[inline(always)]
                    || {
                        for (image, tiles, row) in self.segments(first, rows) {
                            let dxi = &mut dx[image * in_len..][..in_len];
                            if tiles.start == 0 && !add_dx {
                                dxi.fill(0.0);
                            }
                            self.scatter_input_grad(dv, rows, row, tiles, dxi);
                        }
                    },
                );
            }
        }
        if n == 0 {
            du.fill(0.0);
        }
    }

    /// `U = G g Gᵀ` for every (channel, filter) pair; `kernel` is Keras's
    /// `[3][3][channels][filters]`.
    fn transform_kernel(&self, kernel: &[f32], u: &mut [f32]) {
        let cf = self.window.channels * self.filters;
        assert!(kernel.len() == 9 * cf && u.len() >= 16 * cf, "winograd: kernel does not fit");
        self.per_pair::<KernelTransform, 9, 16>(kernel, u);
    }

    /// `dkernel = Gᵀ dU G` (overwritten), the adjoint of `transform_kernel`:
    /// linear, so one call on the batch's summed dU is every unit's.
    pub fn finish_kernel_grad(&self, du: &[f32], dkernel: &mut [f32]) {
        let cf = self.window.channels * self.filters;
        assert!(dkernel.len() == 9 * cf && du.len() >= 16 * cf, "winograd: kernel gradient does not fit");
        self.per_pair::<KernelGrad, 16, 9>(du, dkernel);
    }

    /// `T` applied to every (channel, filter) pair, from `I` planes of
    /// `channels x filters` in `src` to `O` planes in `dst`.
    fn per_pair<T: Tile<I, O>, const I: usize, const O: usize>(&self, src: &[f32], dst: &mut [f32]) {
        let cf = self.window.channels * self.filters;
        let ins: [&[f32]; I] = std::array::from_fn(|k| &src[k * cf..][..cf]);
        let mut planes = dst.chunks_exact_mut(cf);
        let outs: [Option<&mut [f32]>; O] = std::array::from_fn(|_| planes.next());
        vectorized(
            #[inline(always)]
            || run::<T, I, O, false>(cf, ins, outs),
        );
    }

    /// `(image, its tiles, row of the first)` of each image that the
    /// `rows` tiles of the block from tile `first` reach into.
    fn segments(&self, first: usize, rows: usize) -> impl Iterator<Item = (usize, Range<usize>, usize)> {
        let t = self.tiles();
        let end = first + rows;
        (first / t..end.div_ceil(t)).map(move |image| {
            let (from, to) = (first.max(image * t), end.min((image + 1) * t));
            (image, from - image * t..to - image * t, from - first)
        })
    }

    /// `V` of the `rows` tiles of the block from tile `first` of the images
    /// `x`, shared by the forward and backward passes.
    #[inline(always)]
    fn transform_block_input(&self, x: &[f32], first: usize, rows: usize, v: &mut [f32], zeros: &[f32]) {
        let in_len = self.window.in_len();
        let mut planes = planes_mut(v, plane(rows, self.window.channels));
        for (image, tiles, row) in self.segments(first, rows) {
            self.transform_input(&x[image * in_len..][..in_len], tiles, &mut planes, row, zeros);
        }
    }

    /// `V = Bᵀ d B` for `tiles` of image `x`, into the rows of `planes`
    /// from `row`.
    #[inline(always)]
    fn transform_input(
        &self,
        x: &[f32],
        tiles: Range<usize>,
        planes: &mut [&mut [f32]; 16],
        row: usize,
        zeros: &[f32],
    ) {
        let w = &self.window;
        let c = w.channels;
        for (r, tile) in tiles.enumerate() {
            let (top, left) = self.tile_origin(tile);
            let mut d: [&[f32]; 16] = [&[]; 16];
            for (k, d) in d.iter_mut().enumerate() {
                *d = cell(x, zeros, w, top + (k / 4) as isize, left + (k % 4) as isize);
            }
            run::<InputTransform, 16, 16, false>(c, d, at_tile(planes, row + r, c));
        }
    }

    /// `y = Aᵀ M A` for `tiles` of image `y` from the rows of `m` (of
    /// `rows`) from `row`, keeping the outputs that lie inside the image
    /// (a tile at an odd edge has one row or column to spare).
    #[inline(always)]
    fn transform_output(&self, m: &[f32], rows: usize, row: usize, tiles: Range<usize>, y: &mut [f32]) {
        let (w, f) = (&self.window, self.filters);
        let out = Window { channels: f, in_h: w.out_h, in_w: w.out_w, ..*w };
        for (r, tile) in tiles.enumerate() {
            let (oy, ox) = (tile / self.tiles_w * 2, tile % self.tiles_w * 2);
            let [[p0, p1], [p2, p3]] = cells_mut::<2, 2>(y, &out, oy as isize, ox as isize);
            run::<OutputTransform, 16, 4, false>(f, planes_at(m, rows, row + r, f), [p0, p1, p2, p3]);
        }
    }

    /// `dM = A dY Aᵀ` for `tiles` of image gradient `dz`, into the rows of
    /// `planes` from `row` (the adjoint of `transform_output`; outputs past
    /// the edge have no gradient).
    #[inline(always)]
    fn transform_output_grad(
        &self,
        dz: &[f32],
        tiles: Range<usize>,
        planes: &mut [&mut [f32]; 16],
        row: usize,
        zeros: &[f32],
    ) {
        let (w, f) = (&self.window, self.filters);
        let out = Window { channels: f, in_h: w.out_h, in_w: w.out_w, ..*w };
        for (r, tile) in tiles.enumerate() {
            let (oy, ox) = ((tile / self.tiles_w * 2) as isize, (tile % self.tiles_w * 2) as isize);
            let mut g: [&[f32]; 4] = [&[]; 4];
            for (k, g) in g.iter_mut().enumerate() {
                *g = cell(dz, zeros, &out, oy + (k / 2) as isize, ox + (k % 2) as isize);
            }
            run::<OutputGrad, 4, 16, false>(f, g, at_tile(planes, row + r, f));
        }
    }

    /// `dx += B dV Bᵀ` for `tiles` of image gradient `dx`, from the rows of
    /// `dv` (of `rows`) from `row` (the adjoint of `transform_input`; cells
    /// in the padding are dropped).
    #[inline(always)]
    fn scatter_input_grad(&self, dv: &[f32], rows: usize, row: usize, tiles: Range<usize>, dx: &mut [f32]) {
        let w = &self.window;
        for (r, tile) in tiles.enumerate() {
            let (top, left) = self.tile_origin(tile);
            let mut cells = cells_mut::<4, 4>(dx, w, top, left).into_iter().flatten();
            let mut outs: [Option<&mut [f32]>; 16] = [const { None }; 16];
            for (o, cell) in outs.iter_mut().zip(&mut cells) {
                *o = cell;
            }
            run::<InputGrad, 16, 16, true>(w.channels, planes_at(dv, rows, row + r, w.channels), outs);
        }
    }

    /// The input cell under the top-left corner of `tile`'s 4x4 window.
    fn tile_origin(&self, tile: usize) -> (isize, isize) {
        let (ty, tx) = (tile / self.tiles_w, tile % self.tiles_w);
        ((2 * ty) as isize - self.window.pad_top as isize, (2 * tx) as isize - self.window.pad_left as isize)
    }
}

/// `out [cols x rows] = m [rows x cols]ᵀ`, both row-major.
pub(super) fn transpose(m: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    assert!(m.len() >= rows * cols && out.len() >= rows * cols, "transpose: matrix does not fit");
    for (i, row) in m[..rows * cols].chunks_exact(cols).enumerate() {
        for (j, &x) in row.iter().enumerate() {
            out[j * rows + i] = x;
        }
    }
}

/// The channel vector of cell (y, x) of an `in_h x in_w` image, or zeros
/// outside it.
#[inline(always)]
fn cell<'a>(img: &'a [f32], zeros: &'a [f32], w: &Window, y: isize, x: isize) -> &'a [f32] {
    let c = w.channels;
    if y < 0 || x < 0 || y as usize >= w.in_h || x as usize >= w.in_w {
        &zeros[..c]
    } else {
        &img[(y as usize * w.in_w + x as usize) * c..][..c]
    }
}

/// The `R x S` cells of an `in_h x in_w` image from (top, left), each
/// `None` where it falls outside the image.
#[inline(always)]
fn cells_mut<'a, const R: usize, const S: usize>(
    img: &'a mut [f32],
    w: &Window,
    top: isize,
    left: isize,
) -> [[Option<&'a mut [f32]>; S]; R] {
    let mut out: [[Option<&mut [f32]>; S]; R] = [const { [const { None }; S] }; R];
    let rows = img[..w.in_h * w.in_w * w.channels].chunks_exact_mut(w.in_w * w.channels);
    for (iy, row) in rows.enumerate().skip(top.max(0) as usize).take(R) {
        let a = (iy as isize - top) as usize;
        for (ix, px) in row.chunks_exact_mut(w.channels).enumerate().skip(left.max(0) as usize).take(S) {
            let b = (ix as isize - left) as usize;
            if a < R && b < S {
                out[a][b] = Some(px);
            }
        }
    }
    out
}

/// Row `row`'s vector of `len` values in each of the 16 planes.
#[inline(always)]
fn at_tile<'a>(planes: &'a mut [&mut [f32]; 16], row: usize, len: usize) -> [Option<&'a mut [f32]>; 16] {
    let mut out: [Option<&mut [f32]>; 16] = [const { None }; 16];
    for (o, p) in out.iter_mut().zip(planes.iter_mut()) {
        *o = Some(&mut p[row * len..][..len]);
    }
    out
}

/// The 16 planes of `len` values at the start of `buf`.
#[inline(always)]
fn planes_mut(buf: &mut [f32], len: usize) -> [&mut [f32]; 16] {
    let mut planes = buf.chunks_exact_mut(len);
    std::array::from_fn(|_| planes.next().expect("16 planes"))
}

/// Row `row`'s vector of `len` values in each of the 16 planes of
/// `rows x len` in `buf`.
#[inline(always)]
fn planes_at(buf: &[f32], rows: usize, row: usize, len: usize) -> [&[f32]; 16] {
    let mut out: [&[f32]; 16] = [&[]; 16];
    for (k, o) in out.iter_mut().enumerate() {
        *o = &buf[k * plane(rows, len) + row * len..][..len];
    }
    out
}

/// Values from one plane of `rows x len` to the next. One cache line
/// more than the plane itself: planes a power of two apart (64 tiles of 32
/// channels are 8 KiB) would fall on the same cache sets, and the 16
/// streams that a transform reads or writes at once would evict each other.
const fn plane(rows: usize, len: usize) -> usize {
    rows * len + 16
}

/// One tile's transform, from `I` vectors of channels to `O`, per lane.
trait Tile<const I: usize, const O: usize> {
    fn apply<const W: usize>(x: [[f32; W]; I]) -> [[f32; W]; O];
}

/// `outs = T(ins)` (or `outs += T(ins)` with `ADD`) over vectors of `len`
/// channels, `LANES` at a time, the rest one by one; a `None` output is
/// skipped.
#[inline(always)]
fn run<T: Tile<I, O>, const I: usize, const O: usize, const ADD: bool>(
    len: usize,
    ins: [&[f32]; I],
    mut outs: [Option<&mut [f32]>; O],
) {
    #[inline(always)]
    fn step<T: Tile<I, O>, const I: usize, const O: usize, const ADD: bool, const W: usize>(
        at: usize,
        ins: &[&[f32]; I],
        outs: &mut [Option<&mut [f32]>; O],
    ) {
        let mut x = [[0.0; W]; I];
        for (x, input) in x.iter_mut().zip(ins) {
            x.copy_from_slice(&input[at..at + W]);
        }
        for (out, y) in outs.iter_mut().zip(T::apply(x)) {
            if let Some(out) = out {
                let out = &mut out[at..at + W];
                if ADD {
                    out.iter_mut().zip(y).for_each(|(o, y)| *o += y);
                } else {
                    out.copy_from_slice(&y);
                }
            }
        }
    }
    let mut at = 0;
    while at + LANES <= len {
        step::<T, I, O, ADD, LANES>(at, &ins, &mut outs);
        at += LANES;
    }
    while at < len {
        step::<T, I, O, ADD, 1>(at, &ins, &mut outs);
        at += 1;
    }
}

type Lane<const W: usize> = [f32; W];

#[inline(always)]
fn add<const W: usize>(a: Lane<W>, b: Lane<W>) -> Lane<W> {
    let mut a = a;
    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
    a
}
#[inline(always)]
fn sub<const W: usize>(a: Lane<W>, b: Lane<W>) -> Lane<W> {
    let mut a = a;
    a.iter_mut().zip(b).for_each(|(a, b)| *a -= b);
    a
}
#[inline(always)]
fn neg<const W: usize>(a: Lane<W>) -> Lane<W> {
    let mut a = a;
    a.iter_mut().for_each(|a| *a = -*a);
    a
}

/// `Bᵀ d` along one axis.
#[inline(always)]
fn bt4<const W: usize>([d0, d1, d2, d3]: [Lane<W>; 4]) -> [Lane<W>; 4] {
    [sub(d0, d2), add(d1, d2), sub(d2, d1), sub(d1, d3)]
}
/// `B v`, the adjoint of `bt4`.
#[inline(always)]
fn b4<const W: usize>([v0, v1, v2, v3]: [Lane<W>; 4]) -> [Lane<W>; 4] {
    [v0, add(sub(v1, v2), v3), add(sub(v1, v0), v2), neg(v3)]
}
/// `Aᵀ m` along one axis.
#[inline(always)]
fn at4<const W: usize>([m0, m1, m2, m3]: [Lane<W>; 4]) -> [Lane<W>; 2] {
    [add(add(m0, m1), m2), sub(sub(m1, m2), m3)]
}
/// `A g`, the adjoint of `at4`.
#[inline(always)]
fn a2<const W: usize>([g0, g1]: [Lane<W>; 2]) -> [Lane<W>; 4] {
    [g0, add(g0, g1), sub(g0, g1), neg(g1)]
}

/// `x * s` lane by lane.
#[inline(always)]
fn scale<const W: usize>(a: Lane<W>, s: f32) -> Lane<W> {
    let mut a = a;
    a.iter_mut().for_each(|a| *a *= s);
    a
}

/// `G g Gᵀ`: the 3x3 taps of one (channel, filter) pair in, 4x4 out.
struct KernelTransform;
impl Tile<9, 16> for KernelTransform {
    #[inline(always)]
    fn apply<const W: usize>(g: [Lane<W>; 9]) -> [Lane<W>; 16] {
        let mut gt = [[[0.0; W]; 3]; 4];
        for (gt, row) in gt.iter_mut().zip(&G) {
            for (b, gt) in gt.iter_mut().enumerate() {
                *gt = add(add(scale(g[b], row[0]), scale(g[3 + b], row[1])), scale(g[6 + b], row[2]));
            }
        }
        let mut u = [[0.0; W]; 16];
        for (i, gt) in gt.iter().enumerate() {
            for (j, row) in G.iter().enumerate() {
                u[i * 4 + j] = add(add(scale(gt[0], row[0]), scale(gt[1], row[1])), scale(gt[2], row[2]));
            }
        }
        u
    }
}

/// `Gᵀ dU G`: 4x4 in, 3x3 out (the adjoint of `KernelTransform`).
struct KernelGrad;
impl Tile<16, 9> for KernelGrad {
    #[inline(always)]
    fn apply<const W: usize>(d: [Lane<W>; 16]) -> [Lane<W>; 9] {
        let mut gd = [[[0.0; W]; 4]; 3];
        for (a, row) in gd.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                let (x, y) = (scale(d[j], G[0][a]), scale(d[4 + j], G[1][a]));
                *v = add(add(add(x, y), scale(d[8 + j], G[2][a])), scale(d[12 + j], G[3][a]));
            }
        }
        let mut dk = [[0.0; W]; 9];
        for (a, row) in gd.iter().enumerate() {
            for b in 0..3 {
                let (x, y) = (scale(row[0], G[0][b]), scale(row[1], G[1][b]));
                dk[a * 3 + b] = add(add(add(x, y), scale(row[2], G[2][b])), scale(row[3], G[3][b]));
            }
        }
        dk
    }
}

/// `Bᵀ d B`: 4x4 in, 4x4 out, row-major.
struct InputTransform;
impl Tile<16, 16> for InputTransform {
    #[inline(always)]
    fn apply<const W: usize>(d: [Lane<W>; 16]) -> [Lane<W>; 16] {
        let mut t = [[0.0; W]; 16];
        for b in 0..4 {
            for (i, v) in bt4([d[b], d[4 + b], d[8 + b], d[12 + b]]).into_iter().enumerate() {
                t[i * 4 + b] = v;
            }
        }
        let mut v = [[0.0; W]; 16];
        for i in 0..4 {
            let row = bt4([t[i * 4], t[i * 4 + 1], t[i * 4 + 2], t[i * 4 + 3]]);
            v[i * 4..i * 4 + 4].copy_from_slice(&row);
        }
        v
    }
}

/// `Aᵀ m A`: 4x4 in, 2x2 out.
struct OutputTransform;
impl Tile<16, 4> for OutputTransform {
    #[inline(always)]
    fn apply<const W: usize>(m: [Lane<W>; 16]) -> [Lane<W>; 4] {
        let mut t = [[0.0; W]; 8];
        for j in 0..4 {
            let [r0, r1] = at4([m[j], m[4 + j], m[8 + j], m[12 + j]]);
            (t[j], t[4 + j]) = (r0, r1);
        }
        let [y0, y1] = at4([t[0], t[1], t[2], t[3]]);
        let [y2, y3] = at4([t[4], t[5], t[6], t[7]]);
        [y0, y1, y2, y3]
    }
}

/// `A g Aᵀ`: 2x2 in, 4x4 out.
struct OutputGrad;
impl Tile<4, 16> for OutputGrad {
    #[inline(always)]
    fn apply<const W: usize>(g: [Lane<W>; 4]) -> [Lane<W>; 16] {
        let (c0, c1) = (a2([g[0], g[2]]), a2([g[1], g[3]]));
        let mut dm = [[0.0; W]; 16];
        for i in 0..4 {
            dm[i * 4..i * 4 + 4].copy_from_slice(&a2([c0[i], c1[i]]));
        }
        dm
    }
}

/// `B v Bᵀ`: 4x4 in, 4x4 out.
struct InputGrad;
impl Tile<16, 16> for InputGrad {
    #[inline(always)]
    fn apply<const W: usize>(v: [Lane<W>; 16]) -> [Lane<W>; 16] {
        let mut t = [[[0.0; W]; 4]; 4];
        for (i, row) in t.iter_mut().enumerate() {
            *row = b4([v[i * 4], v[i * 4 + 1], v[i * 4 + 2], v[i * 4 + 3]]);
        }
        let mut dx = [[0.0; W]; 16];
        for b in 0..4 {
            for (a, col) in b4([t[0][b], t[1][b], t[2][b], t[3][b]]).into_iter().enumerate() {
                dx[a * 4 + b] = col;
            }
        }
        dx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::window::{col2im, im2col};
    use crate::rng::Rng;

    fn random(len: usize, rng: &mut Rng) -> Vec<f32> {
        (0..len).map(|_| rng.unit() * 2.0 - 1.0).collect()
    }

    fn assert_close(what: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
        }
    }

    /// Forward, kernel gradient and input gradient agree with im2col's on
    /// even and odd sizes, "valid" and "same", several images at once.
    #[test]
    fn agrees_with_im2col() {
        let mut rng = Rng::new(7);
        for &(h, w, c, f, same) in &[
            (8, 8, 3, 4, false),
            (7, 9, 5, 2, true),
            (6, 5, 16, 8, false),
            (5, 5, 4, 3, true),
            (3, 3, 2, 2, false),
            (6, 7, 20, 11, true),
            (32, 32, 32, 32, true),
            (30, 30, 32, 32, false),
        ] {
            let (win, n) = (Window::conv3x3(h, w, c, same), 3);
            let wg = Winograd::new(win, f).unwrap();
            // The last case's blocks of tiles run across images, and its
            // last block is short.
            let straddles = !wg.tiles().is_multiple_of(wg.block()) && !(n * wg.tiles()).is_multiple_of(wg.block());
            assert_eq!(straddles && n * wg.tiles() > wg.block(), h == 30, "blocks of {h}x{w}x{c} -> {f}");
            let (p, k) = (win.positions(), win.patch_len());
            let kernel = random(k * f, &mut rng);
            let x = random(n * win.in_len(), &mut rng);
            let dz = random(n * p * f, &mut rng);
            let (mut cols, mut dcols) = (vec![f32::NAN; wg.cols_len()], vec![f32::NAN; wg.dcols_len()]);

            let mut prepared = vec![f32::NAN; wg.prepared_len()];
            wg.prepare(&kernel, &mut prepared);
            let mut y = vec![f32::NAN; n * p * f];
            wg.forward(&prepared, &x, &mut y, n, &mut cols);
            let (mut dx, mut du, mut dkernel) =
                (vec![f32::NAN; x.len()], vec![f32::NAN; wg.grad_len()], vec![f32::NAN; kernel.len()]);
            wg.backward(&prepared, &x, &dz, Some(&mut dx), false, &mut du, n, &mut cols, &mut dcols);
            wg.finish_kernel_grad(&du, &mut dkernel);
            // Added to what another layer left in dx (a shortcut's gradient).
            let mut dx_added = vec![0.5; x.len()];
            wg.backward(&prepared, &x, &dz, Some(&mut dx_added), true, &mut du, n, &mut cols, &mut dcols);
            dx_added.iter_mut().for_each(|v| *v -= 0.5);

            let (mut want_y, mut want_dx, mut want_dk) = (vec![0.0; y.len()], vec![0.0; x.len()], vec![0.0; k * f]);
            let mut patches = vec![0.0; p * k];
            for i in 0..n {
                let xi = &x[i * win.in_len()..][..win.in_len()];
                let dzi = &dz[i * p * f..][..p * f];
                im2col(&win, xi, &mut patches);
                for q in 0..p {
                    for o in 0..f {
                        want_y[(i * p + q) * f + o] = (0..k).map(|e| patches[q * k + e] * kernel[e * f + o]).sum();
                    }
                }
                for e in 0..k {
                    for o in 0..f {
                        want_dk[e * f + o] += (0..p).map(|q| patches[q * k + e] * dzi[q * f + o]).sum::<f32>();
                    }
                }
                let dcols: Vec<f32> =
                    (0..p * k).map(|qe| (0..f).map(|o| dzi[qe / k * f + o] * kernel[qe % k * f + o]).sum()).collect();
                col2im(&win, &dcols, &mut want_dx[i * win.in_len()..][..win.in_len()]);
            }
            let case = format!("{h}x{w}x{c} -> {f}, same {same}");
            assert_close(&format!("y of {case}"), &y, &want_y);
            assert_close(&format!("dkernel of {case}"), &dkernel, &want_dk);
            assert_close(&format!("dx of {case}"), &dx, &want_dx);
            assert_close(&format!("dx added to 0.5 of {case}"), &dx_added, &want_dx);
        }
    }

    #[test]
    fn only_3x3_stride_1() {
        let w = Window::conv3x3(8, 8, 4, true);
        assert!(Winograd::new(w, 4).is_some());
        assert!(Winograd::new(Window { s_h: 2, ..w }, 4).is_none());
        assert!(Winograd::new(Window { k_w: 5, ..w }, 4).is_none());
    }
}
