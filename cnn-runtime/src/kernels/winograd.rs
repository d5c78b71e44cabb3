//! Winograd's minimal filtering F(2x2, 3x3) and F(4x4, 3x3) (Lavin & Gray,
//! 2015) for 3x3, stride-1 convolutions, which dominate the step of every
//! network here.
//!
//! Each m x m block of outputs (a tile, m = 2 or 4) reads an (m+2)² block
//! of the input. Per tile, `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`: the
//! elementwise product, summed over input channels, becomes (m+2)² sgemms
//! of `tiles x channels` by `channels x filters`, with 16 multiplies per
//! 4 outputs (F(2x2)) or 36 per 16 (F(4x4)) where im2col needs 9 per
//! output. The backward pass is the exact adjoint of that linear map,
//! sharing the transformed output gradient `dM = A dY Aᵀ`: `dU = Vᵀ dM`
//! gives the kernel gradient `Gᵀ dU G`, and `dV = dM Uᵀ` gives the input
//! gradient `B dV Bᵀ`, added back over overlapping tiles. [`super::conv`]
//! decides which tile a layer takes.
//!
//! Layouts: one plane per element of the transformed tile: `U` of
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

/// Channels per block in the transforms: one AVX2 register.
const LANES: usize = 8;

/// The output tile: F(2x2, 3x3) reads 4x4 cells per 2x2 outputs (16
/// products where direct convolution takes 36); F(4x4, 3x3) reads 6x6
/// per 4x4 (36 where direct takes 144), 1.78x fewer again, at the price of
/// larger transform coefficients (up to 8 and 1/6) and so of rounding
/// errors a few times F(2x2)'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileSize {
    F2,
    F4,
}

impl TileSize {
    /// Outputs along each side of a tile.
    const fn m(self) -> usize {
        match self {
            TileSize::F2 => 2,
            TileSize::F4 => 4,
        }
    }
    /// Planes: cells of the transformed tile, `(m + 2)²`.
    const fn planes(self) -> usize {
        (self.m() + 2) * (self.m() + 2)
    }
}

/// A 3x3, stride-1 convolution cut into square output tiles.
#[derive(Clone, Copy, Debug)]
pub struct Winograd {
    window: Window,
    filters: usize,
    size: TileSize,
    tiles_h: usize,
    tiles_w: usize,
}

/// Runs `$self.$f::<tiling, P, Q>(args)` for `$self`'s tile size: the one
/// place the tile size turns into the transforms' types.
macro_rules! by_size {
    ($self:ident . $f:ident ( $($arg:expr),* )) => {
        match $self.size {
            TileSize::F2 => $self.$f::<F2, 16, 4>($($arg),*),
            TileSize::F4 => $self.$f::<F4, 36, 16>($($arg),*),
        }
    };
}

impl Winograd {
    /// The tiling of `window`, or `None` unless it is 3x3 with stride 1.
    pub const fn new(window: Window, filters: usize, size: TileSize) -> Option<Self> {
        if window.k_h != 3 || window.k_w != 3 || window.s_h != 1 || window.s_w != 1 {
            return None;
        }
        let m = size.m();
        Some(Winograd { window, filters, size, tiles_h: window.out_h.div_ceil(m), tiles_w: window.out_w.div_ceil(m) })
    }

    pub const fn size(&self) -> TileSize {
        self.size
    }

    const fn tiles(&self) -> usize {
        self.tiles_h * self.tiles_w
    }

    /// Tiles transformed together, the rows of each plane's sgemm.
    /// The blocks run on across images, so that a product is never cut
    /// short at an image's edge, and are bounded so that one block's `V`
    /// and `M` stay within [`BLOCK_BYTES`]: in cache between the transform
    /// that writes them and the product or transform that reads them.
    pub const fn block(&self) -> usize {
        let per_tile = self.size.planes() * (self.window.channels + self.filters) * 4;
        let b = BLOCK_BYTES / per_tile;
        if b < 1 {
            1
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
        2 * self.grad_len()
    }

    /// Values of the kernel gradient in the transformed domain (dU), which
    /// each unit of images writes and [`Self::finish_kernel_grad`] maps back.
    pub const fn grad_len(&self) -> usize {
        self.size.planes() * self.window.channels * self.filters
    }

    /// Scratch `forward` and `backward` take as `cols`: V, M (or dM) and
    /// a vector of zeros.
    pub const fn cols_len(&self) -> usize {
        let (c, f, t) = (self.window.channels, self.filters, self.block());
        self.size.planes() * (plane(t, c) + plane(t, f)) + self.width()
    }

    /// Scratch `backward` takes as `dcols`: dV.
    pub const fn dcols_len(&self) -> usize {
        self.size.planes() * plane(self.block(), self.window.channels)
    }

    /// Splits `cols` into V, M and a vector of zeros.
    fn split<'a>(&self, cols: &'a mut [f32]) -> (&'a mut [f32], &'a mut [f32], &'a [f32]) {
        let (c, f, t, wd, p) = (self.window.channels, self.filters, self.block(), self.width(), self.size.planes());
        assert!(cols.len() >= self.cols_len(), "winograd: scratch too short");
        let (v, rest) = cols.split_at_mut(p * plane(t, c));
        let (m, rest) = rest.split_at_mut(p * plane(t, f));
        let zeros = &mut rest[..wd];
        zeros.fill(0.0);
        (v, m, zeros)
    }

    /// `U = G g Gᵀ` and its per-plane transpose Uᵀ (which `dV = dM Uᵀ`
    /// reads row by row, as sgemm's fastest path wants B) into `prepared`.
    pub fn prepare(&self, kernel: &[f32], prepared: &mut [f32]) {
        let (c, f) = (self.window.channels, self.filters);
        assert!(prepared.len() >= self.prepared_len(), "winograd prepare: buffer too short");
        let (u, ut) = prepared.split_at_mut(self.grad_len());
        by_size!(self.transform_kernel(kernel, u));
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
        by_size!(self.forward_tiled(prepared, x, y, n, cols))
    }

    fn forward_tiled<V: Tiling<P, Q>, const P: usize, const Q: usize>(
        &self,
        prepared: &[f32],
        x: &[f32],
        y: &mut [f32],
        n: usize,
        cols: &mut [f32],
    ) {
        let w = &self.window;
        let (c, f) = (w.channels, self.filters);
        let (in_len, out_len) = (w.in_len(), w.positions() * f);
        assert!(x.len() >= n * in_len && y.len() >= n * out_len, "winograd forward: batch buffers too short");
        assert!(prepared.len() >= self.prepared_len(), "winograd forward: kernel not prepared");
        let u = &prepared[..P * c * f];
        let (v, m, zeros) = self.split(cols);
        for (first, rows) in self.blocks(n) {
            vectorized(
                #[inline(always)]
                || self.transform_block_input::<V, P, Q>(x, first, rows, v, zeros),
            );
            for xi in 0..P {
                let up = &u[xi * c * f..][..c * f];
                let (vp, mp) = (&v[xi * plane(rows, c)..][..rows * c], &mut m[xi * plane(rows, f)..][..rows * f]);
                sgemm(rows, c, f, 1.0, MatRef::n(vp, c), MatRef::n(up, f), 0.0, mp, f);
            }
            vectorized(
                #[inline(always)]
                || {
                    for (image, tiles, row) in self.segments(first, rows) {
                        self.transform_output::<V, P, Q>(m, rows, row, tiles, &mut y[image * out_len..][..out_len]);
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
        dx: Option<&mut [f32]>,
        add_dx: bool,
        du: &mut [f32],
        n: usize,
        cols: &mut [f32],
        dcols: &mut [f32],
    ) {
        by_size!(self.backward_tiled(prepared, x, dz, dx, add_dx, du, n, cols, dcols))
    }

    #[allow(clippy::too_many_arguments)]
    fn backward_tiled<V: Tiling<P, Q>, const P: usize, const Q: usize>(
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
        let ut = &prepared[P * c * f..][..P * c * f];
        let (v, dm, zeros) = self.split(cols);
        let du = &mut du[..P * c * f];
        let dv = &mut dcols[..self.dcols_len()];
        for (first, rows) in self.blocks(n) {
            vectorized(
                #[inline(always)]
                || {
                    self.transform_block_input::<V, P, Q>(x, first, rows, v, zeros);
                    let mut planes = planes_mut::<P>(dm, plane(rows, f));
                    for (image, tiles, row) in self.segments(first, rows) {
                        let dzi = &dz[image * out_len..][..out_len];
                        self.transform_output_grad::<V, P, Q>(dzi, tiles, &mut planes, row, zeros);
                    }
                },
            );
            let beta = if first == 0 { 0.0 } else { 1.0 };
            for xi in 0..P {
                let (vp, dmp) = (&v[xi * plane(rows, c)..][..rows * c], &dm[xi * plane(rows, f)..][..rows * f]);
                sgemm(c, rows, f, 1.0, MatRef::t(vp, c), MatRef::n(dmp, f), beta, &mut du[xi * c * f..][..c * f], f);
            }
            if let Some(dx) = dx.as_deref_mut() {
                for xi in 0..P {
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
                            self.scatter_input_grad::<V, P, Q>(dv, rows, row, tiles, dxi);
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
    fn transform_kernel<V: Tiling<P, Q>, const P: usize, const Q: usize>(&self, kernel: &[f32], u: &mut [f32]) {
        let cf = self.window.channels * self.filters;
        assert!(kernel.len() == 9 * cf && u.len() >= P * cf, "winograd: kernel does not fit");
        self.per_pair::<V::Kernel, 9, P>(kernel, u);
    }

    /// `dkernel = Gᵀ dU G` (overwritten), the adjoint of `transform_kernel`:
    /// linear, so one call on the batch's summed dU is every unit's.
    pub fn finish_kernel_grad(&self, du: &[f32], dkernel: &mut [f32]) {
        by_size!(self.finish_kernel_grad_tiled(du, dkernel))
    }

    fn finish_kernel_grad_tiled<V: Tiling<P, Q>, const P: usize, const Q: usize>(
        &self,
        du: &[f32],
        dkernel: &mut [f32],
    ) {
        let cf = self.window.channels * self.filters;
        assert!(dkernel.len() == 9 * cf && du.len() >= P * cf, "winograd: kernel gradient does not fit");
        self.per_pair::<V::KernelGrad, P, 9>(du, dkernel);
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
    fn transform_block_input<V: Tiling<P, Q>, const P: usize, const Q: usize>(
        &self,
        x: &[f32],
        first: usize,
        rows: usize,
        v: &mut [f32],
        zeros: &[f32],
    ) {
        let in_len = self.window.in_len();
        let mut planes = planes_mut::<P>(v, plane(rows, self.window.channels));
        for (image, tiles, row) in self.segments(first, rows) {
            self.transform_input::<V, P, Q>(&x[image * in_len..][..in_len], tiles, &mut planes, row, zeros);
        }
    }

    /// `V = Bᵀ d B` for `tiles` of image `x`, into the rows of `planes`
    /// from `row`.
    #[inline(always)]
    fn transform_input<V: Tiling<P, Q>, const P: usize, const Q: usize>(
        &self,
        x: &[f32],
        tiles: Range<usize>,
        planes: &mut [&mut [f32]; P],
        row: usize,
        zeros: &[f32],
    ) {
        let w = &self.window;
        let (c, side) = (w.channels, V::M + 2);
        for (r, tile) in tiles.enumerate() {
            let (top, left) = self.tile_origin(tile);
            let mut d: [&[f32]; P] = [&[]; P];
            for (k, d) in d.iter_mut().enumerate() {
                *d = cell(x, zeros, w, top + (k / side) as isize, left + (k % side) as isize);
            }
            run::<V::Input, P, P, false>(c, d, at_tile(planes, row + r, c));
        }
    }

    /// `y = Aᵀ M A` for `tiles` of image `y` from the rows of `m` (of
    /// `rows`) from `row`, keeping the outputs that lie inside the image
    /// (a tile at the edge may have rows or columns to spare).
    #[inline(always)]
    fn transform_output<V: Tiling<P, Q>, const P: usize, const Q: usize>(
        &self,
        m: &[f32],
        rows: usize,
        row: usize,
        tiles: Range<usize>,
        y: &mut [f32],
    ) {
        let (w, f) = (&self.window, self.filters);
        let out = Window { channels: f, in_h: w.out_h, in_w: w.out_w, ..*w };
        for (r, tile) in tiles.enumerate() {
            let (oy, ox) = (tile / self.tiles_w * V::M, tile % self.tiles_w * V::M);
            let cells = cells_mut::<Q>(y, &out, oy as isize, ox as isize, V::M);
            run::<V::Output, P, Q, false>(f, planes_at::<P>(m, rows, row + r, f), cells);
        }
    }

    /// `dM = A dY Aᵀ` for `tiles` of image gradient `dz`, into the rows of
    /// `planes` from `row` (the adjoint of `transform_output`; outputs past
    /// the edge have no gradient).
    #[inline(always)]
    fn transform_output_grad<V: Tiling<P, Q>, const P: usize, const Q: usize>(
        &self,
        dz: &[f32],
        tiles: Range<usize>,
        planes: &mut [&mut [f32]; P],
        row: usize,
        zeros: &[f32],
    ) {
        let (w, f) = (&self.window, self.filters);
        let out = Window { channels: f, in_h: w.out_h, in_w: w.out_w, ..*w };
        for (r, tile) in tiles.enumerate() {
            let (oy, ox) = ((tile / self.tiles_w * V::M) as isize, (tile % self.tiles_w * V::M) as isize);
            let mut g: [&[f32]; Q] = [&[]; Q];
            for (k, g) in g.iter_mut().enumerate() {
                *g = cell(dz, zeros, &out, oy + (k / V::M) as isize, ox + (k % V::M) as isize);
            }
            run::<V::OutputGrad, Q, P, false>(f, g, at_tile(planes, row + r, f));
        }
    }

    /// `dx += B dV Bᵀ` for `tiles` of image gradient `dx`, from the rows of
    /// `dv` (of `rows`) from `row` (the adjoint of `transform_input`; cells
    /// in the padding are dropped).
    #[inline(always)]
    fn scatter_input_grad<V: Tiling<P, Q>, const P: usize, const Q: usize>(
        &self,
        dv: &[f32],
        rows: usize,
        row: usize,
        tiles: Range<usize>,
        dx: &mut [f32],
    ) {
        let w = &self.window;
        for (r, tile) in tiles.enumerate() {
            let (top, left) = self.tile_origin(tile);
            let cells = cells_mut::<P>(dx, w, top, left, V::M + 2);
            run::<V::InputGrad, P, P, true>(w.channels, planes_at::<P>(dv, rows, row + r, w.channels), cells);
        }
    }

    /// The input cell under the top-left corner of `tile`'s window.
    fn tile_origin(&self, tile: usize) -> (isize, isize) {
        let (ty, tx, m) = (tile / self.tiles_w, tile % self.tiles_w, self.size.m());
        ((m * ty) as isize - self.window.pad_top as isize, (m * tx) as isize - self.window.pad_left as isize)
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

/// The `side x side` cells (`N` of them, row-major) of an `in_h x in_w`
/// image from (top, left), each `None` where it falls outside the image.
#[inline(always)]
fn cells_mut<'a, const N: usize>(
    img: &'a mut [f32],
    w: &Window,
    top: isize,
    left: isize,
    side: usize,
) -> [Option<&'a mut [f32]>; N] {
    let mut out: [Option<&mut [f32]>; N] = [const { None }; N];
    let rows = img[..w.in_h * w.in_w * w.channels].chunks_exact_mut(w.in_w * w.channels);
    for (iy, row) in rows.enumerate().skip(top.max(0) as usize).take(side) {
        let a = (iy as isize - top) as usize;
        for (ix, px) in row.chunks_exact_mut(w.channels).enumerate().skip(left.max(0) as usize).take(side) {
            let b = (ix as isize - left) as usize;
            if a < side && b < side {
                out[a * side + b] = Some(px);
            }
        }
    }
    out
}

/// Row `row`'s vector of `len` values in each of the `P` planes.
#[inline(always)]
fn at_tile<'a, const P: usize>(planes: &'a mut [&mut [f32]; P], row: usize, len: usize) -> [Option<&'a mut [f32]>; P] {
    let mut out: [Option<&mut [f32]>; P] = [const { None }; P];
    for (o, p) in out.iter_mut().zip(planes.iter_mut()) {
        *o = Some(&mut p[row * len..][..len]);
    }
    out
}

/// The `P` planes of `len` values at the start of `buf`.
#[inline(always)]
fn planes_mut<const P: usize>(buf: &mut [f32], len: usize) -> [&mut [f32]; P] {
    let mut planes = buf.chunks_exact_mut(len);
    std::array::from_fn(|_| planes.next().expect("a plane for each cell of the tile"))
}

/// Row `row`'s vector of `len` values in each of the `P` planes of
/// `rows x len` in `buf`.
#[inline(always)]
fn planes_at<const P: usize>(buf: &[f32], rows: usize, row: usize, len: usize) -> [&[f32]; P] {
    let mut out: [&[f32]; P] = [&[]; P];
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
        for (gt, row) in gt.iter_mut().zip(&G2) {
            for (b, gt) in gt.iter_mut().enumerate() {
                *gt = add(add(scale(g[b], row[0]), scale(g[3 + b], row[1])), scale(g[6 + b], row[2]));
            }
        }
        let mut u = [[0.0; W]; 16];
        for (i, gt) in gt.iter().enumerate() {
            for (j, row) in G2.iter().enumerate() {
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
                let (x, y) = (scale(d[j], G2[0][a]), scale(d[4 + j], G2[1][a]));
                *v = add(add(add(x, y), scale(d[8 + j], G2[2][a])), scale(d[12 + j], G2[3][a]));
            }
        }
        let mut dk = [[0.0; W]; 9];
        for (a, row) in gd.iter().enumerate() {
            for b in 0..3 {
                let (x, y) = (scale(row[0], G2[0][b]), scale(row[1], G2[1][b]));
                dk[a * 3 + b] = add(add(add(x, y), scale(row[2], G2[2][b])), scale(row[3], G2[3][b]));
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

/// One of the tilings: its transforms, from `P = (M + 2)²` cells of a tile
/// to `Q = M²` outputs.
trait Tiling<const P: usize, const Q: usize> {
    /// Outputs along each side of a tile.
    const M: usize;
    type Kernel: Tile<9, P>;
    type KernelGrad: Tile<P, 9>;
    type Input: Tile<P, P>;
    type InputGrad: Tile<P, P>;
    type Output: Tile<P, Q>;
    type OutputGrad: Tile<Q, P>;
}

/// F(2x2, 3x3): transforms that only add, subtract, negate and halve.
struct F2;
impl Tiling<16, 4> for F2 {
    const M: usize = 2;
    type Kernel = KernelTransform;
    type KernelGrad = KernelGrad;
    type Input = InputTransform;
    type InputGrad = InputGrad;
    type Output = OutputTransform;
    type OutputGrad = OutputGrad;
}

/// F(4x4, 3x3), on the points 0, ±1, ±2 (Lavin & Gray's matrices).
struct F4;
impl Tiling<36, 16> for F4 {
    const M: usize = 4;
    type Kernel = Separable<G4>;
    type KernelGrad = Separable<G4t>;
    type Input = Separable<B4t>;
    type InputGrad = Separable<B4>;
    type Output = Separable<A4t>;
    type OutputGrad = Separable<A4>;
}

/// `G` of F(2x2, 3x3), the kernel transform (4x3).
const G2: [[f32; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];

/// A transform along one axis of a tile, from `S` cells to `R`.
trait Axis<const S: usize, const R: usize> {
    fn apply<const W: usize>(x: [Lane<W>; S]) -> [Lane<W>; R];
}

/// An [`Axis`] transform applied down the columns, then along the rows,
/// of a square tile: `X ↦ T X Tᵀ`, row-major in and out.
struct Separable<T>(std::marker::PhantomData<T>);

macro_rules! separable {
    ($($t:ty: $s:literal x $s2:literal -> $r:literal x $r2:literal;)*) => {$(
        impl Tile<$s2, $r2> for Separable<$t> {
            #[inline(always)]
            fn apply<const W: usize>(x: [Lane<W>; $s2]) -> [Lane<W>; $r2] {
                let mut t = [[[0.0; W]; $s]; $r];
                for b in 0..$s {
                    let col = <$t as Axis<$s, $r>>::apply(std::array::from_fn(|a| x[a * $s + b]));
                    for (a, v) in col.into_iter().enumerate() {
                        t[a][b] = v;
                    }
                }
                let mut y = [[0.0; W]; $r2];
                for (a, row) in t.into_iter().enumerate() {
                    y[a * $r..a * $r + $r].copy_from_slice(&<$t as Axis<$s, $r>>::apply(row));
                }
                y
            }
        }
    )*};
}

separable! {
    G4: 3 x 9 -> 6 x 36;
    G4t: 6 x 36 -> 3 x 9;
    B4t: 6 x 36 -> 6 x 36;
    B4: 6 x 36 -> 6 x 36;
    A4t: 6 x 36 -> 4 x 16;
    A4: 4 x 16 -> 6 x 36;
}

/// `s x + t y + ...`, lane by lane, in the order given.
#[inline(always)]
fn axpy<const W: usize, const N: usize>(terms: [(f32, Lane<W>); N]) -> Lane<W> {
    let mut out = scale(terms[0].1, terms[0].0);
    for (s, x) in &terms[1..] {
        out.iter_mut().zip(x).for_each(|(o, x)| *o += s * x);
    }
    out
}

/// `G`, 6x3: `[1/4, 0, 0]`, `[-1/6, -1/6, -1/6]`, `[-1/6, 1/6, -1/6]`,
/// `[1/24, 1/12, 1/6]`, `[1/24, -1/12, 1/6]`, `[0, 0, 1]`.
struct G4;
impl Axis<3, 6> for G4 {
    #[inline(always)]
    fn apply<const W: usize>([g0, g1, g2]: [Lane<W>; 3]) -> [Lane<W>; 6] {
        let (s, t) = (1.0 / 6.0, 1.0 / 24.0);
        let even = axpy([(-s, g0), (-s, g2)]);
        let (even2, odd2) = (axpy([(t, g0), (s, g2)]), scale(g1, 1.0 / 12.0));
        [scale(g0, 0.25), sub(even, scale(g1, s)), add(even, scale(g1, s)), add(even2, odd2), sub(even2, odd2), g2]
    }
}
/// `Gᵀ`, the adjoint of [`G4`].
struct G4t;
impl Axis<6, 3> for G4t {
    #[inline(always)]
    fn apply<const W: usize>([d0, d1, d2, d3, d4, d5]: [Lane<W>; 6]) -> [Lane<W>; 3] {
        let (s, t) = (1.0 / 6.0, 1.0 / 24.0);
        let (sum12, sum34) = (add(d1, d2), add(d3, d4));
        [
            axpy([(0.25, d0), (-s, sum12), (t, sum34)]),
            axpy([(s, sub(d2, d1)), (1.0 / 12.0, sub(d3, d4))]),
            add(axpy([(-s, sum12), (s, sum34)]), d5),
        ]
    }
}
/// `Bᵀ`, 6x6: `[4, 0, -5, 0, 1, 0]`, `[0, -4, -4, 1, 1, 0]`,
/// `[0, 4, -4, -1, 1, 0]`, `[0, -2, -1, 2, 1, 0]`, `[0, 2, -1, -2, 1, 0]`,
/// `[0, 4, 0, -5, 0, 1]`.
struct B4t;
impl Axis<6, 6> for B4t {
    #[inline(always)]
    fn apply<const W: usize>([d0, d1, d2, d3, d4, d5]: [Lane<W>; 6]) -> [Lane<W>; 6] {
        let (a, b) = (axpy([(-4.0, d2), (1.0, d4)]), axpy([(-4.0, d1), (1.0, d3)]));
        let (c, e) = (sub(d4, d2), scale(sub(d3, d1), 2.0));
        [
            axpy([(4.0, d0), (-5.0, d2), (1.0, d4)]),
            add(a, b),
            sub(a, b),
            add(c, e),
            sub(c, e),
            axpy([(4.0, d1), (-5.0, d3), (1.0, d5)]),
        ]
    }
}
/// `B`, the adjoint of [`B4t`].
struct B4;
impl Axis<6, 6> for B4 {
    #[inline(always)]
    fn apply<const W: usize>([v0, v1, v2, v3, v4, v5]: [Lane<W>; 6]) -> [Lane<W>; 6] {
        [
            scale(v0, 4.0),
            axpy([(-4.0, v1), (4.0, v2), (-2.0, v3), (2.0, v4), (4.0, v5)]),
            axpy([(-5.0, v0), (-4.0, v1), (-4.0, v2), (-1.0, v3), (-1.0, v4)]),
            axpy([(1.0, v1), (-1.0, v2), (2.0, v3), (-2.0, v4), (-5.0, v5)]),
            axpy([(1.0, v0), (1.0, v1), (1.0, v2), (1.0, v3), (1.0, v4)]),
            v5,
        ]
    }
}
/// `Aᵀ`, 4x6: `[1, 1, 1, 1, 1, 0]`, `[0, 1, -1, 2, -2, 0]`,
/// `[0, 1, 1, 4, 4, 0]`, `[0, 1, -1, 8, -8, 1]`.
struct A4t;
impl Axis<6, 4> for A4t {
    #[inline(always)]
    fn apply<const W: usize>([m0, m1, m2, m3, m4, m5]: [Lane<W>; 6]) -> [Lane<W>; 4] {
        let (s12, d12, s34, d34) = (add(m1, m2), sub(m1, m2), add(m3, m4), sub(m3, m4));
        [
            add(add(m0, s12), s34),
            axpy([(1.0, d12), (2.0, d34)]),
            axpy([(1.0, s12), (4.0, s34)]),
            add(axpy([(1.0, d12), (8.0, d34)]), m5),
        ]
    }
}
/// `A`, the adjoint of [`A4t`].
struct A4;
impl Axis<4, 6> for A4 {
    #[inline(always)]
    fn apply<const W: usize>([g0, g1, g2, g3]: [Lane<W>; 4]) -> [Lane<W>; 6] {
        let (even, odd) = (add(g0, g2), add(g1, g3));
        let (even2, odd2) = (axpy([(1.0, g0), (4.0, g2)]), axpy([(2.0, g1), (8.0, g3)]));
        [g0, add(even, odd), sub(even, odd), add(even2, odd2), sub(even2, odd2), g3]
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

    /// Within 1e-4 relative of im2col's; F(4x4)'s larger coefficients
    /// round a sum of many tiles (a kernel gradient over 3,000 outputs)
    /// to a few 1e-6 of the tensor's largest value (F(2x2): under 1e-6),
    /// which small values are also held to.
    fn assert_close(what: &str, got: &[f32], want: &[f32], size: TileSize) {
        assert_eq!(got.len(), want.len());
        let largest = want.iter().fold(0f32, |m, w| m.max(w.abs()));
        let floor = if size == TileSize::F4 { 1e-5 * largest } else { 0.0 };
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()) + floor, "{what}[{i}]: {g} vs {w}");
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
            for size in [TileSize::F2, TileSize::F4] {
                let (win, n) = (Window::conv3x3(h, w, c, same), 3);
                let wg = Winograd::new(win, f, size).unwrap();
                // The last case's blocks of tiles run across images, and its
                // last block is short.
                let straddles = !wg.tiles().is_multiple_of(wg.block()) && !(n * wg.tiles()).is_multiple_of(wg.block());
                if size == TileSize::F2 {
                    assert_eq!(straddles && n * wg.tiles() > wg.block(), h == 30, "blocks of {h}x{w}x{c} -> {f}");
                }
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
                    let dcols: Vec<f32> = (0..p * k)
                        .map(|qe| (0..f).map(|o| dzi[qe / k * f + o] * kernel[qe % k * f + o]).sum())
                        .collect();
                    col2im(&win, &dcols, &mut want_dx[i * win.in_len()..][..win.in_len()]);
                }
                let case = format!("{h}x{w}x{c} -> {f}, same {same}, {size:?}");
                assert_close(&format!("y of {case}"), &y, &want_y, size);
                assert_close(&format!("dkernel of {case}"), &dkernel, &want_dk, size);
                assert_close(&format!("dx of {case}"), &dx, &want_dx, size);
                assert_close(&format!("dx added to 0.5 of {case}"), &dx_added, &want_dx, size);
            }
        }
    }

    #[test]
    fn only_3x3_stride_1() {
        let w = Window::conv3x3(8, 8, 4, true);
        assert!(Winograd::new(w, 4, TileSize::F4).is_some());
        assert!(Winograd::new(Window { s_h: 2, ..w }, 4, TileSize::F2).is_none());
        assert!(Winograd::new(Window { k_w: 5, ..w }, 4, TileSize::F4).is_none());
    }
}
