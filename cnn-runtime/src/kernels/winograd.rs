//! Winograd's minimal filtering F(m x m, 3x3) (Lavin & Gray, 2015) for 3x3,
//! stride-1 convolutions, with tiles of m = 2 or m = 4 outputs a side.
//!
//! Each m x m block of outputs (a tile) reads an (m + 2) x (m + 2) block of
//! the input. Per tile, `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`: the elementwise
//! product, summed over input channels, becomes `P = (m + 2)²` sgemms of
//! `tiles x channels` by `channels x filters`. Per output and channel pair
//! that is 4 multiplies for F(2x2) and 2.25 for F(4x4), where im2col needs
//! 9. The backward pass is the exact adjoint of that linear map, sharing the
//! transformed output gradient `dM = A dY Aᵀ`: `dU = Vᵀ dM` gives the
//! kernel gradient `Gᵀ dU G`, and `dV = dM Uᵀ` gives the input gradient
//! `B dV Bᵀ`, added back over overlapping tiles.
//!
//! F(4x4)'s transforms hold larger constants (its points are 0, ±1, ±2 and
//! infinity), so its rounding error is larger: about 1e-6 of the sums'
//! magnitude against 1e-7 (test `agrees_with_im2col`). [`super::conv`]
//! gives it only to wide layers, where it pays; there, beside Keras
//! (`tests/data/wide.safetensors`, 96-channel layers), the largest
//! difference in the training-mode layer outputs is 1.7e-5 against
//! F(2x2)'s 5.1e-6, and in the gradients 1.1e-6 against 4.0e-7: inside
//! the references' tolerance, and far below bfloat16's, which airbench
//! trains in. ResNet-20's narrow layers would not stay inside it at a
//! batch of one (1.9e-5 in `conv2d_20` against 1.2e-5 allowed), one more
//! reason they keep F(2x2).
//!
//! Layouts: `P` planes, one per element of the transform: `U` of
//! `channels x filters`, `V` and `dV` of `tiles x channels`, `M` and `dM`
//! of `tiles x filters`, each plane contiguous for its sgemm (a strided
//! plane made sgemm's packing measurably slower). The transforms work on
//! whole channel vectors (NHWC keeps them contiguous), in blocks of 8 lanes.

use super::gemm::{pack_b, packed_b_len, sgemm, sgemm_packed, MatRef};
use super::simd::vectorized;
use super::window::Window;
use std::marker::PhantomData;
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

/// [`MIN_BLOCK`] for F(4x4), whose 36 planes of `U` (9 MiB for 256
/// channels and filters) every block reads again, and whose `dU` every
/// block of the backward pass adds to: 128 tiles is a whole unit of 32
/// images on a 7x7 layer. Measured on the airbench layout beside 32
/// tiles, one thread each at once on the 2-core Xeon (6 pairs, swapped
/// between the cores): no clear difference (ratios 0.80-1.21); beside
/// F(2x2) alone, 128 gained more (1.16x mean over 12 pairs against 1.07x
/// over 6).
const MIN_BLOCK_F4: usize = 128;

/// Channels per block in the transforms: one AVX2 register.
const LANES: usize = 8;

/// A 3x3, stride-1 convolution cut into m x m output tiles.
#[derive(Clone, Copy, Debug)]
pub struct Winograd {
    window: Window,
    filters: usize,
    /// Outputs a side per tile: 2 or 4.
    m: usize,
    tiles_h: usize,
    tiles_w: usize,
}

/// Runs the method `$f` of `$wg` with the family of its tile size.
macro_rules! per_family {
    ($wg:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $wg.m {
            2 => $wg.$f::<F2, 16, 4>($($arg),*),
            _ => $wg.$f::<F4, 36, 16>($($arg),*),
        }
    };
}

impl Winograd {
    /// The tiling of `window` in tiles of `m` x `m` outputs, or `None`
    /// unless the window is 3x3 with stride 1 and `m` is 2 or 4.
    pub const fn new(window: Window, filters: usize, m: usize) -> Option<Self> {
        if window.k_h != 3 || window.k_w != 3 || window.s_h != 1 || window.s_w != 1 || (m != 2 && m != 4) {
            return None;
        }
        Some(Winograd { window, filters, m, tiles_h: window.out_h.div_ceil(m), tiles_w: window.out_w.div_ceil(m) })
    }

    /// Outputs a side per tile.
    pub const fn tile_size(&self) -> usize {
        self.m
    }

    const fn tiles(&self) -> usize {
        self.tiles_h * self.tiles_w
    }

    /// Input cells a side per tile.
    const fn side(&self) -> usize {
        self.m + 2
    }

    /// Planes of the transformed domain: one sgemm each.
    const fn planes(&self) -> usize {
        self.side() * self.side()
    }

    /// Tiles transformed together, the rows of each of the sgemms.
    /// The blocks run on across images, so that a product is never cut
    /// short at an image's edge, and are bounded so that one block's `V`
    /// and `M` stay within `BLOCK_BYTES`: in cache between the transform
    /// that writes them and the product or transform that reads them. But
    /// never fewer than `MIN_BLOCK` tiles (`MIN_BLOCK_F4` for F(4x4)):
    /// each product reads its whole plane of `U` (or writes its plane of
    /// `dU`), which for 256 channels and filters is 256 KiB, and a few
    /// tiles cannot pay for that.
    pub const fn block(&self) -> usize {
        let per_tile = self.planes() * (self.window.channels + self.filters) * 4;
        let b = BLOCK_BYTES / per_tile;
        let least = if self.m == 2 { MIN_BLOCK } else { MIN_BLOCK_F4 };
        if b < least {
            least
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

    /// Values [`Self::prepare`] writes: U, once per pass for the whole
    /// batch rather than once per unit of images, then each plane of U and
    /// of Uᵀ packed for the products ([`pack_b`]).
    pub const fn prepared_len(&self) -> usize {
        self.grad_len() + self.planes() * (self.packed_u_len() + self.packed_ut_len())
    }

    /// Values of one plane of U, packed.
    const fn packed_u_len(&self) -> usize {
        packed_b_len(self.window.channels, self.filters)
    }

    /// Values of one plane of Uᵀ, packed.
    const fn packed_ut_len(&self) -> usize {
        packed_b_len(self.filters, self.window.channels)
    }

    /// The packed planes of U and of Uᵀ in a prepared kernel.
    fn packed<'a>(&self, prepared: &'a [f32]) -> (&'a [f32], &'a [f32]) {
        let p = self.planes();
        let packed = &prepared[self.grad_len()..self.prepared_len()];
        packed.split_at(p * self.packed_u_len())
    }

    /// Values of the kernel gradient in the transformed domain (dU), which
    /// each unit of images writes and [`Self::finish_kernel_grad`] maps back.
    pub const fn grad_len(&self) -> usize {
        self.planes() * self.window.channels * self.filters
    }

    /// Scratch `forward` and `backward` take as `cols`: V, M (or dM) and
    /// a vector of zeros.
    pub const fn cols_len(&self) -> usize {
        let (c, f, t) = (self.window.channels, self.filters, self.block());
        self.planes() * (plane(t, c) + plane(t, f)) + self.width()
    }

    /// Scratch `backward` takes as `dcols`: dV.
    pub const fn dcols_len(&self) -> usize {
        self.planes() * plane(self.block(), self.window.channels)
    }

    /// Splits `cols` into V, M and a vector of zeros.
    fn split<'a>(&self, cols: &'a mut [f32]) -> (&'a mut [f32], &'a mut [f32], &'a [f32]) {
        let (c, f, t, wd, p) = (self.window.channels, self.filters, self.block(), self.width(), self.planes());
        assert!(cols.len() >= self.cols_len(), "winograd: scratch too short");
        let (v, rest) = cols.split_at_mut(p * plane(t, c));
        let (m, rest) = rest.split_at_mut(p * plane(t, f));
        let zeros = &mut rest[..wd];
        zeros.fill(0.0);
        (v, m, zeros)
    }

    /// `U = G g Gᵀ` into `prepared`, then each plane of U and of its
    /// transpose Uᵀ (which `dV = dM Uᵀ` reads row by row, as sgemm's
    /// fastest path wants B) packed beside it.
    pub fn prepare(&self, kernel: &[f32], prepared: &mut [f32]) {
        let (c, f) = (self.window.channels, self.filters);
        assert!(prepared.len() >= self.prepared_len(), "winograd prepare: buffer too short");
        let cf = c * f;
        assert!(kernel.len() == 9 * cf, "winograd: kernel does not fit");
        let (u, rest) = prepared.split_at_mut(self.grad_len());
        let (packed_u, packed_ut) = rest.split_at_mut(self.planes() * self.packed_u_len());
        per_family!(self, transform_kernel(kernel, u));
        let planes = u.chunks_exact(cf).zip(packed_u.chunks_exact_mut(self.packed_u_len()));
        for ((up, out), out_t) in planes.zip(packed_ut.chunks_exact_mut(self.packed_ut_len())) {
            pack_b(c, f, MatRef::n(up, f), out);
            pack_b(f, c, MatRef::t(up, f), out_t);
        }
    }

    /// `dkernel = Gᵀ dU G` (overwritten), the adjoint of the kernel's
    /// transform: linear, so one call on the batch's summed dU is every
    /// unit's.
    pub fn finish_kernel_grad(&self, du: &[f32], dkernel: &mut [f32]) {
        let cf = self.window.channels * self.filters;
        assert!(dkernel.len() == 9 * cf && du.len() >= self.grad_len(), "winograd: kernel gradient does not fit");
        per_family!(self, kernel_grad_in(du, dkernel));
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
        per_family!(self, forward_in(prepared, x, y, n, cols));
    }

    fn forward_in<F: Family<P, Q>, const P: usize, const Q: usize>(
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
        let (u, _) = self.packed(prepared);
        let (v, m, zeros) = self.split(cols);
        for (first, rows) in self.blocks(n) {
            vectorized(
                #[inline(always)]
                || self.transform_block_input::<F, P, Q>(x, first, rows, v, zeros),
            );
            for xi in 0..P {
                let up = &u[xi * self.packed_u_len()..][..self.packed_u_len()];
                let (vp, mp) = (&v[xi * plane(rows, c)..][..rows * c], &mut m[xi * plane(rows, f)..][..rows * f]);
                sgemm_packed(rows, c, f, 1.0, MatRef::n(vp, c), up, 0.0, mp, f);
            }
            vectorized(
                #[inline(always)]
                || {
                    for (image, tiles, row) in self.segments(first, rows) {
                        self.transform_output::<F, P, Q>(m, rows, row, tiles, &mut y[image * out_len..][..out_len]);
                    }
                },
            );
        }
    }

    /// The kernel gradient in the transformed domain, `du` (overwritten;
    /// [`Self::finish_kernel_grad`] maps the batch's sum back), and the
    /// input gradient (overwritten, or with `add_dx` added to), each if
    /// asked for, of `n` images, from `dz`, the gradient at the
    /// convolution's output. Without `du`, neither the input's transform
    /// nor the kernel gradient's products run.
    #[allow(clippy::too_many_arguments)]
    pub fn backward(
        &self,
        prepared: &[f32],
        x: &[f32],
        dz: &[f32],
        dx: Option<&mut [f32]>,
        add_dx: bool,
        du: Option<&mut [f32]>,
        n: usize,
        cols: &mut [f32],
        dcols: &mut [f32],
    ) {
        per_family!(self, backward_in(prepared, x, dz, dx, add_dx, du, n, cols, dcols));
    }

    #[allow(clippy::too_many_arguments)]
    fn backward_in<F: Family<P, Q>, const P: usize, const Q: usize>(
        &self,
        prepared: &[f32],
        x: &[f32],
        dz: &[f32],
        mut dx: Option<&mut [f32]>,
        add_dx: bool,
        du: Option<&mut [f32]>,
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
        assert!(
            du.as_ref().is_none_or(|du| du.len() >= self.grad_len()),
            "winograd backward: kernel gradient too short"
        );
        let (_, ut) = self.packed(prepared);
        let (v, dm, zeros) = self.split(cols);
        let mut du = du.map(|du| &mut du[..P * c * f]);
        let dv = &mut dcols[..self.dcols_len()];
        for (first, rows) in self.blocks(n) {
            vectorized(
                #[inline(always)]
                || {
                    if du.is_some() {
                        self.transform_block_input::<F, P, Q>(x, first, rows, v, zeros);
                    }
                    let mut planes = planes_mut::<P>(dm, plane(rows, f));
                    for (image, tiles, row) in self.segments(first, rows) {
                        let dzi = &dz[image * out_len..][..out_len];
                        self.transform_output_grad::<F, P, Q>(dzi, tiles, &mut planes, row, zeros);
                    }
                },
            );
            if let Some(du) = du.as_deref_mut() {
                let beta = if first == 0 { 0.0 } else { 1.0 };
                for xi in 0..P {
                    let (vp, dmp) = (&v[xi * plane(rows, c)..][..rows * c], &dm[xi * plane(rows, f)..][..rows * f]);
                    sgemm(
                        c,
                        rows,
                        f,
                        1.0,
                        MatRef::t(vp, c),
                        MatRef::n(dmp, f),
                        beta,
                        &mut du[xi * c * f..][..c * f],
                        f,
                    );
                }
            }
            if let Some(dx) = dx.as_deref_mut() {
                for xi in 0..P {
                    let (dmp, utp) = (
                        &dm[xi * plane(rows, f)..][..rows * f],
                        &ut[xi * self.packed_ut_len()..][..self.packed_ut_len()],
                    );
                    let dvp = &mut dv[xi * plane(rows, c)..][..rows * c];
                    sgemm_packed(rows, f, c, 1.0, MatRef::n(dmp, f), utp, 0.0, dvp, c);
                }
                vectorized(
                    #[inline(always)]
                    || {
                        for (image, tiles, row) in self.segments(first, rows) {
                            let dxi = &mut dx[image * in_len..][..in_len];
                            if tiles.start == 0 && !add_dx {
                                dxi.fill(0.0);
                            }
                            self.scatter_input_grad::<F, P, Q>(dv, rows, row, tiles, dxi);
                        }
                    },
                );
            }
        }
        if let Some(du) = du.filter(|_| n == 0) {
            du.fill(0.0);
        }
    }

    /// `U = G g Gᵀ` for every (channel, filter) pair.
    fn transform_kernel<F: Family<P, Q>, const P: usize, const Q: usize>(&self, kernel: &[f32], u: &mut [f32]) {
        self.per_pair::<F::Kernel, 9, P>(kernel, u);
    }

    /// `dkernel = Gᵀ dU G` for every (channel, filter) pair.
    fn kernel_grad_in<F: Family<P, Q>, const P: usize, const Q: usize>(&self, du: &[f32], dkernel: &mut [f32]) {
        self.per_pair::<F::KernelGrad, P, 9>(du, dkernel);
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
    fn transform_block_input<F: Family<P, Q>, const P: usize, const Q: usize>(
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
            self.transform_input::<F, P, Q>(&x[image * in_len..][..in_len], tiles, &mut planes, row, zeros);
        }
    }

    /// `V = Bᵀ d B` for `tiles` of image `x`, into the rows of `planes`
    /// from `row`.
    #[inline(always)]
    fn transform_input<F: Family<P, Q>, const P: usize, const Q: usize>(
        &self,
        x: &[f32],
        tiles: Range<usize>,
        planes: &mut [&mut [f32]; P],
        row: usize,
        zeros: &[f32],
    ) {
        let w = &self.window;
        for (r, (top, left)) in self.tile_origins(tiles).enumerate() {
            let d = tile_cells::<P>(x, zeros, w, top, left);
            run::<F::Input, P, P, false>(w.channels, d, at_tile(planes, row + r, w.channels));
        }
    }

    /// `y = Aᵀ M A` for `tiles` of image `y` from the rows of `m` (of
    /// `rows`) from `row`, keeping the outputs that lie inside the image
    /// (a tile at an edge may have rows or columns to spare).
    #[inline(always)]
    fn transform_output<F: Family<P, Q>, const P: usize, const Q: usize>(
        &self,
        m: &[f32],
        rows: usize,
        row: usize,
        tiles: Range<usize>,
        y: &mut [f32],
    ) {
        let (w, f) = (&self.window, self.filters);
        let out = Window { channels: f, in_h: w.out_h, in_w: w.out_w, ..*w };
        for (r, (oy, ox)) in self.tile_outputs(tiles).enumerate() {
            let cells = cells_mut::<Q>(y, &out, oy, ox);
            run::<F::Output, P, Q, false>(f, planes_at::<P>(m, rows, row + r, f), cells);
        }
    }

    /// `dM = A dY Aᵀ` for `tiles` of image gradient `dz`, into the rows of
    /// `planes` from `row` (the adjoint of `transform_output`; outputs past
    /// the edge have no gradient).
    #[inline(always)]
    fn transform_output_grad<F: Family<P, Q>, const P: usize, const Q: usize>(
        &self,
        dz: &[f32],
        tiles: Range<usize>,
        planes: &mut [&mut [f32]; P],
        row: usize,
        zeros: &[f32],
    ) {
        let (w, f) = (&self.window, self.filters);
        let out = Window { channels: f, in_h: w.out_h, in_w: w.out_w, ..*w };
        for (r, (oy, ox)) in self.tile_outputs(tiles).enumerate() {
            let g = tile_cells::<Q>(dz, zeros, &out, oy, ox);
            run::<F::OutputGrad, Q, P, false>(f, g, at_tile(planes, row + r, f));
        }
    }

    /// `dx += B dV Bᵀ` for `tiles` of image gradient `dx`, from the rows of
    /// `dv` (of `rows`) from `row` (the adjoint of `transform_input`; cells
    /// in the padding are dropped).
    #[inline(always)]
    fn scatter_input_grad<F: Family<P, Q>, const P: usize, const Q: usize>(
        &self,
        dv: &[f32],
        rows: usize,
        row: usize,
        tiles: Range<usize>,
        dx: &mut [f32],
    ) {
        let w = &self.window;
        for (r, (top, left)) in self.tile_origins(tiles).enumerate() {
            let cells = cells_mut::<P>(dx, w, top, left);
            run::<F::InputGrad, P, P, true>(w.channels, planes_at::<P>(dv, rows, row + r, w.channels), cells);
        }
    }

    /// The input cell under the top-left corner of each tile's window.
    #[inline(always)]
    fn tile_origins(&self, tiles: Range<usize>) -> impl Iterator<Item = (isize, isize)> {
        let (pad_top, pad_left) = (self.window.pad_top as isize, self.window.pad_left as isize);
        self.tile_outputs(tiles).map(move |(oy, ox)| (oy - pad_top, ox - pad_left))
    }

    /// The output cell at the top-left corner of each tile, row by row:
    /// one division for the first, then steps. A tile of 16 channels is
    /// little work, so a division per tile (and per cell, below) showed:
    /// 6% of such a layer's forward pass in a profile (`perf record`).
    #[inline(always)]
    fn tile_outputs(&self, tiles: Range<usize>) -> impl Iterator<Item = (isize, isize)> {
        let (tiles_w, m) = (self.tiles_w, self.m);
        let (mut ty, mut tx) = (tiles.start / tiles_w, tiles.start % tiles_w);
        tiles.map(move |_| {
            let at = ((ty * m) as isize, (tx * m) as isize);
            tx += 1;
            if tx == tiles_w {
                (ty, tx) = (ty + 1, 0);
            }
            at
        })
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

/// The channel vectors of the `side x side = L` cells of an `in_h x in_w`
/// image from (top, left), row-major, zeros where a cell falls outside.
/// The side is a constant, so that a cell's row and column cost no
/// division, and a tile inside the image (most of them) takes its cells
/// without checking each against the edges.
#[inline(always)]
fn tile_cells<'a, const L: usize>(
    img: &'a [f32],
    zeros: &'a [f32],
    w: &Window,
    top: isize,
    left: isize,
) -> [&'a [f32]; L] {
    let side = const { L.isqrt() };
    let c = w.channels;
    let mut out: [&[f32]; L] = [&[]; L];
    if top >= 0 && left >= 0 && top as usize + side <= w.in_h && left as usize + side <= w.in_w {
        let corner = &img[(top as usize * w.in_w + left as usize) * c..];
        for (k, o) in out.iter_mut().enumerate() {
            *o = &corner[((k / side) * w.in_w + k % side) * c..][..c];
        }
    } else {
        for (k, o) in out.iter_mut().enumerate() {
            *o = cell(img, zeros, w, top + (k / side) as isize, left + (k % side) as isize);
        }
    }
    out
}

/// The `side x side = L` cells of an `in_h x in_w` image from (top, left),
/// row-major, each `None` where it falls outside the image.
#[inline(always)]
fn cells_mut<'a, const L: usize>(
    img: &'a mut [f32],
    w: &Window,
    top: isize,
    left: isize,
) -> [Option<&'a mut [f32]>; L] {
    let side = const { L.isqrt() };
    let mut out: [Option<&mut [f32]>; L] = [const { None }; L];
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

/// Row `row`'s vector of `len` values in each of the planes.
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
    std::array::from_fn(|_| planes.next().expect("a plane"))
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
/// channels are 8 KiB) would fall on the same cache sets, and the streams
/// that a transform reads or writes at once would evict each other.
const fn plane(rows: usize, len: usize) -> usize {
    rows * len + 16
}

/// One tile's transform, from `I` vectors of channels to `O`, per lane:
/// it reads input `k` with `load(k)` and hands output `k` to `store`, so
/// that nothing is copied on the way (a tile of F(4x4) is 36 vectors).
trait Tile<const I: usize, const O: usize> {
    fn apply<const W: usize>(load: impl Fn(usize) -> Lane<W>, store: impl FnMut(usize, Lane<W>));
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
        let load = |k: usize| {
            let mut x = [0.0; W];
            x.copy_from_slice(&ins[k][at..at + W]);
            x
        };
        let store = |k: usize, y: Lane<W>| {
            if let Some(out) = &mut outs[k] {
                let out = &mut out[at..at + W];
                if ADD {
                    out.iter_mut().zip(y).for_each(|(o, y)| *o += y);
                } else {
                    out.copy_from_slice(&y);
                }
            }
        };
        T::apply(load, store);
    }
    // Each input cut to `len` in a loop: `ins.map` called `try_map` out of
    // line once per tile (3% of a 16-channel layer's forward pass). With
    // the divisions gone, ResNet-20's step at batch 32 ran 1.03-1.04x as
    // fast (medians of 300 steps alternating in one process).
    let mut cut: [&[f32]; I] = [&[]; I];
    for (c, x) in cut.iter_mut().zip(ins) {
        *c = &x[..len];
    }
    let ins = cut;
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

/// The six transforms of one F(m x m, 3x3), over tiles of `P = (m + 2)²`
/// planes and `Q = m²` outputs.
trait Family<const P: usize, const Q: usize> {
    /// `G g Gᵀ`.
    type Kernel: Tile<9, P>;
    /// `Gᵀ dU G`.
    type KernelGrad: Tile<P, 9>;
    /// `Bᵀ d B`.
    type Input: Tile<P, P>;
    /// `B dV Bᵀ`.
    type InputGrad: Tile<P, P>;
    /// `Aᵀ M A`.
    type Output: Tile<P, Q>;
    /// `A dY Aᵀ`.
    type OutputGrad: Tile<Q, P>;
}

/// F(2x2, 3x3).
struct F2;
impl Family<16, 4> for F2 {
    type Kernel = Both<GTimes<G2>, 3, 4>;
    type KernelGrad = Both<GtTimes<G2>, 4, 3>;
    type Input = Both<Bt2, 4, 4>;
    type InputGrad = Both<B2, 4, 4>;
    type Output = Both<At2, 4, 2>;
    type OutputGrad = Both<A2, 2, 4>;
}

/// F(4x4, 3x3).
struct F4;
impl Family<36, 16> for F4 {
    type Kernel = Both<GTimes<G4>, 3, 6>;
    type KernelGrad = Both<GtTimes<G4>, 6, 3>;
    type Input = Both<Bt4, 6, 6>;
    type InputGrad = Both<B4, 6, 6>;
    type Output = Both<At4, 6, 4>;
    type OutputGrad = Both<A4, 4, 6>;
}

/// A transform along one axis, `I` values to `O`.
trait Line<const I: usize, const O: usize> {
    fn apply<const W: usize>(x: [Lane<W>; I]) -> [Lane<W>; O];
}

/// `L x Lᵀ` of an `I x I` tile (row-major, `II = I²` values) into
/// `O x O` (`OO = O²`): `L` down each column, then along each row.
struct Both<L, const I: usize, const O: usize>(PhantomData<L>);
impl<L: Line<I, O>, const I: usize, const O: usize, const II: usize, const OO: usize> Tile<II, OO> for Both<L, I, O> {
    #[inline(always)]
    fn apply<const W: usize>(load: impl Fn(usize) -> Lane<W>, mut store: impl FnMut(usize, Lane<W>)) {
        const { assert!(II == I * I && OO == O * O, "a tile is square") };
        // Arrays read through `iter`, not moved through `into_iter`: a
        // moved array is copied whole (for F(4x4)'s 36 vectors, a
        // 1,152-byte `memcpy` per tile and 8 channels).
        let mut t = [[[0.0; W]; I]; O];
        for b in 0..I {
            let mut column = [[0.0; W]; I];
            for (a, x) in column.iter_mut().enumerate() {
                *x = load(a * I + b);
            }
            let lines = L::apply(column);
            for (row, v) in t.iter_mut().zip(lines.iter()) {
                row[b] = *v;
            }
        }
        for (o, row) in t.iter().enumerate() {
            let lines = L::apply(*row);
            for (j, y) in lines.iter().enumerate() {
                store(o * O + j, *y);
            }
        }
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
/// `x * s` lane by lane.
#[inline(always)]
fn scale<const W: usize>(a: Lane<W>, s: f32) -> Lane<W> {
    let mut a = a;
    a.iter_mut().for_each(|a| *a *= s);
    a
}

/// `matrix x`, summed left to right.
#[inline(always)]
fn times<const I: usize, const O: usize, const W: usize>(matrix: &[[f32; I]; O], x: [Lane<W>; I]) -> [Lane<W>; O] {
    std::array::from_fn(|o| (1..I).fold(scale(x[0], matrix[o][0]), |sum, i| add(sum, scale(x[i], matrix[o][i]))))
}

/// `matrixᵀ x`, summed left to right.
#[inline(always)]
fn times_t<const I: usize, const O: usize, const W: usize>(matrix: &[[f32; O]; I], x: [Lane<W>; I]) -> [Lane<W>; O] {
    std::array::from_fn(|o| (1..I).fold(scale(x[0], matrix[0][o]), |sum, i| add(sum, scale(x[i], matrix[i][o]))))
}

/// A family's kernel transform `G` (`P x 3`), which [`GTimes`] applies and
/// [`GtTimes`] applies as its adjoint.
trait KernelMatrix<const P: usize> {
    const G: [[f32; 3]; P];
}

/// F(2x2)'s `G`.
struct G2;
impl KernelMatrix<4> for G2 {
    const G: [[f32; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
}

/// F(4x4)'s `G`, for the points 0, 1, -1, 2, -2 and infinity.
struct G4;
impl KernelMatrix<6> for G4 {
    const G: [[f32; 3]; 6] = [
        [1.0 / 4.0, 0.0, 0.0],
        [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
        [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
        [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
        [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
        [0.0, 0.0, 1.0],
    ];
}

/// `G g` of the family whose `G` is `K`'s.
struct GTimes<K>(PhantomData<K>);
impl<K: KernelMatrix<P>, const P: usize> Line<3, P> for GTimes<K> {
    #[inline(always)]
    fn apply<const W: usize>(g: [Lane<W>; 3]) -> [Lane<W>; P] {
        times(&K::G, g)
    }
}
/// `Gᵀ d`, the adjoint of [`GTimes`].
struct GtTimes<K>(PhantomData<K>);
impl<K: KernelMatrix<P>, const P: usize> Line<P, 3> for GtTimes<K> {
    #[inline(always)]
    fn apply<const W: usize>(d: [Lane<W>; P]) -> [Lane<W>; 3] {
        times_t(&K::G, d)
    }
}

/// `Bᵀ d` of F(2x2).
struct Bt2;
impl Line<4, 4> for Bt2 {
    #[inline(always)]
    fn apply<const W: usize>([d0, d1, d2, d3]: [Lane<W>; 4]) -> [Lane<W>; 4] {
        [sub(d0, d2), add(d1, d2), sub(d2, d1), sub(d1, d3)]
    }
}
/// `B v`, the adjoint of [`Bt2`].
struct B2;
impl Line<4, 4> for B2 {
    #[inline(always)]
    fn apply<const W: usize>([v0, v1, v2, v3]: [Lane<W>; 4]) -> [Lane<W>; 4] {
        [v0, add(sub(v1, v2), v3), add(sub(v1, v0), v2), neg(v3)]
    }
}
/// `Aᵀ m` of F(2x2).
struct At2;
impl Line<4, 2> for At2 {
    #[inline(always)]
    fn apply<const W: usize>([m0, m1, m2, m3]: [Lane<W>; 4]) -> [Lane<W>; 2] {
        [add(add(m0, m1), m2), sub(sub(m1, m2), m3)]
    }
}
/// `A g`, the adjoint of [`At2`].
struct A2;
impl Line<2, 4> for A2 {
    #[inline(always)]
    fn apply<const W: usize>([g0, g1]: [Lane<W>; 2]) -> [Lane<W>; 4] {
        [g0, add(g0, g1), sub(g0, g1), neg(g1)]
    }
}

/// `Bᵀ d` of F(4x4):
/// `[4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]`.
struct Bt4;
impl Line<6, 6> for Bt4 {
    #[inline(always)]
    fn apply<const W: usize>([d0, d1, d2, d3, d4, d5]: [Lane<W>; 6]) -> [Lane<W>; 6] {
        let (s12, d12) = (add(d1, d2), sub(d1, d2));
        let (s34, d42) = (add(d4, d3), sub(d4, d2));
        let d31 = scale(sub(d3, d1), 2.0);
        [
            add(sub(scale(d0, 4.0), scale(d2, 5.0)), d4),
            sub(s34, scale(s12, 4.0)),
            add(sub(d4, d3), scale(d12, 4.0)),
            add(d42, d31),
            sub(d42, d31),
            add(sub(scale(d1, 4.0), scale(d3, 5.0)), d5),
        ]
    }
}
/// `B v`, the adjoint of [`Bt4`].
struct B4;
impl Line<6, 6> for B4 {
    #[inline(always)]
    fn apply<const W: usize>([v0, v1, v2, v3, v4, v5]: [Lane<W>; 6]) -> [Lane<W>; 6] {
        let (s12, d21) = (add(v1, v2), sub(v2, v1));
        let (s34, d34) = (add(v3, v4), scale(sub(v3, v4), 2.0));
        [
            scale(v0, 4.0),
            add(sub(scale(d21, 4.0), d34), scale(v5, 4.0)),
            sub(neg(scale(v0, 5.0)), add(scale(s12, 4.0), s34)),
            sub(add(neg(d21), d34), scale(v5, 5.0)),
            add(add(v0, s12), s34),
            v5,
        ]
    }
}
/// `Aᵀ m` of F(4x4): `[1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]`.
struct At4;
impl Line<6, 4> for At4 {
    #[inline(always)]
    fn apply<const W: usize>([m0, m1, m2, m3, m4, m5]: [Lane<W>; 6]) -> [Lane<W>; 4] {
        let (s12, d12, s34, d34) = (add(m1, m2), sub(m1, m2), add(m3, m4), sub(m3, m4));
        [
            add(add(m0, s12), s34),
            add(d12, scale(d34, 2.0)),
            add(s12, scale(s34, 4.0)),
            add(add(d12, scale(d34, 8.0)), m5),
        ]
    }
}
/// `A g`, the adjoint of [`At4`].
struct A4;
impl Line<4, 6> for A4 {
    #[inline(always)]
    fn apply<const W: usize>([g0, g1, g2, g3]: [Lane<W>; 4]) -> [Lane<W>; 6] {
        let (s02, s13) = (add(g0, g2), add(g1, g3));
        let (q02, q13) = (add(g0, scale(g2, 4.0)), add(scale(g1, 2.0), scale(g3, 8.0)));
        [g0, add(s02, s13), sub(s02, s13), add(q02, q13), sub(q02, q13), g3]
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

    /// Every value within `tol` of the root mean square of `want`: the
    /// error of a sum grows with its terms, not with its result, and a
    /// result near zero has large terms too.
    fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len());
        let rms = (want.iter().map(|w| w * w).sum::<f32>() / want.len() as f32).sqrt();
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= tol * rms, "{what}[{i}]: {g} vs {w} (rms {rms})");
        }
    }

    /// Forward, kernel gradient and input gradient agree with im2col's on
    /// even and odd sizes, "valid" and "same", several images at once.
    #[test]
    fn agrees_with_im2col() {
        let mut rng = Rng::new(7);
        for &(h, w, c, f, same, m) in &[
            (8, 8, 3, 4, false, 2),
            (7, 9, 5, 2, true, 2),
            (6, 5, 16, 8, false, 2),
            (5, 5, 4, 3, true, 2),
            (3, 3, 2, 2, false, 2),
            (6, 7, 20, 11, true, 2),
            (32, 32, 32, 32, true, 2),
            (30, 30, 32, 32, false, 2),
            (8, 8, 3, 4, false, 4),
            (7, 9, 5, 2, true, 4),
            (6, 5, 16, 8, false, 4),
            (5, 5, 4, 3, true, 4),
            (3, 3, 2, 2, false, 4),
            (6, 7, 20, 11, true, 4),
            (32, 32, 32, 32, true, 4),
            (30, 30, 32, 32, false, 4),
        ] {
            let (win, n) = (Window::conv3x3(h, w, c, same), 3);
            let wg = Winograd::new(win, f, m).unwrap();
            // The 30x30 cases' blocks of tiles run across images, and
            // their last block is short (F(4x4)'s 32x32 case's too).
            let straddles = !wg.tiles().is_multiple_of(wg.block()) && !(n * wg.tiles()).is_multiple_of(wg.block());
            let straddles = straddles && n * wg.tiles() > wg.block();
            assert!(straddles || h != 30, "blocks of {h}x{w}x{c} -> {f} do not straddle images");
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
            wg.backward(&prepared, &x, &dz, Some(&mut dx), false, Some(&mut du), n, &mut cols, &mut dcols);
            wg.finish_kernel_grad(&du, &mut dkernel);
            // Added to what another layer left in dx (a shortcut's gradient).
            let mut dx_added = vec![0.5; x.len()];
            wg.backward(&prepared, &x, &dz, Some(&mut dx_added), true, Some(&mut du), n, &mut cols, &mut dcols);
            dx_added.iter_mut().for_each(|v| *v -= 0.5);
            // A frozen kernel: no kernel gradient, and the same input gradient.
            let mut dx_frozen = vec![f32::NAN; x.len()];
            wg.backward(&prepared, &x, &dz, Some(&mut dx_frozen), false, None, n, &mut cols, &mut dcols);
            assert_eq!(dx_frozen, dx, "dx without du, F({m}x{m}) of {h}x{w}x{c} -> {f}");

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
            let case = format!("F({m}x{m}) of {h}x{w}x{c} -> {f}, same {same}");
            // Measured worst: 3.8e-6 of the rms for F(2x2), 2.1e-5 for F(4x4).
            let tol = if m == 2 { 1e-5 } else { 5e-5 };
            assert_close(&format!("y of {case}"), &y, &want_y, tol);
            assert_close(&format!("dkernel of {case}"), &dkernel, &want_dk, tol);
            assert_close(&format!("dx of {case}"), &dx, &want_dx, tol);
            assert_close(&format!("dx added to 0.5 of {case}"), &dx_added, &want_dx, tol);
        }
    }

    #[test]
    fn only_3x3_stride_1() {
        let w = Window::conv3x3(8, 8, 4, true);
        assert!(Winograd::new(w, 4, 2).is_some() && Winograd::new(w, 4, 4).is_some());
        assert!(Winograd::new(w, 4, 3).is_none());
        assert!(Winograd::new(Window { s_h: 2, ..w }, 4, 2).is_none());
        assert!(Winograd::new(Window { k_w: 5, ..w }, 4, 4).is_none());
    }
}
