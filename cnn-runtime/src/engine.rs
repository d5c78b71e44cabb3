//! Runs a network's nodes over a whole batch, one stage per node.
//!
//! Every node sees the whole batch, so a layer can reduce over it in the
//! middle of the pass (BatchNormalization's statistics forward, its two
//! sums backward) and a product can run over every row at once (Dense).
//! Inside a stage the work is split so that every core has some at the
//! batch sizes people train with: images in units of
//! [`unit_images`]`(n)` for convolutions and pooling, spans of values for
//! element-wise layers, column blocks for Dense. The split depends on the
//! batch size alone, and every sum over units runs in unit order, so the
//! results are bitwise the same for any number of threads.
//!
//! A BatchNormalization whose only reader is the activation after it
//! applies that activation in its own pass and stores no output of its
//! own ([`folded_activations`]): forward, one read and one write of the
//! values instead of two of each; backward, the activation's derivative
//! inside BatchNormalization's first pass. The bits are the same as two
//! passes'.
//!
//! Buffers are allocated for the largest batch seen and then reused: the
//! steady-state step allocates nothing.

use crate::batch::Shape;
use crate::graph::{folded_activations, gradient_buffers, source, Node, Op, Param};
use crate::info::{LayerInfo, TensorInfo};
use crate::kernels::activation::{
    activation_backward, activation_forward, affine_activate, affine_activation_backward, bias_activate, Activation,
};
use crate::kernels::batchnorm;
use crate::kernels::conv::{conv2d_backward, conv2d_forward, scratch_len as conv_scratch_len};
use crate::kernels::dense;
use crate::kernels::dropout::{dropout_backward, dropout_forward, DropoutKey};
use crate::kernels::loss::{count_correct, cross_entropy, softmax_cross_entropy};
use crate::kernels::pool::{global_pool_backward, global_pool_forward, pool_backward, pool_forward};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// The most units a stage splits the batch into: enough for 16 cores;
/// more would only add partial gradients to sum, and a wide layer's is
/// large (Winograd F(4x4)'s transformed kernel gradient is 9 MiB for 256
/// channels and filters, written and summed once per unit).
pub const MAX_UNITS: usize = 16;
/// The fewest images per unit.
const MIN_UNIT: usize = 4;
/// Values per task in element-wise stages.
const SPAN: usize = 1 << 14;
/// Vectors of `channels` values a BatchNormalization keeps (see `Workspace::stats`).
const STATS: usize = 8;

/// Units of work that each of rayon's threads ran, by thread index: a
/// relaxed add per unit, so that a test can see every core take part.
static WORK: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

fn note_work() {
    if let Some(i) = rayon::current_thread_index().filter(|&i| i < WORK.len()) {
        WORK[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// How many units of work (a convolution, pooling or batch-statistics
/// share of some images) each thread of the current rayon pool has run
/// since the process started, by thread index.
pub fn work_by_thread() -> Vec<u64> {
    WORK[..rayon::current_num_threads().min(WORK.len())].iter().map(|w| w.load(Ordering::Relaxed)).collect()
}

/// Images per unit of work for a batch of `n`.
pub const fn unit_images(n: usize) -> usize {
    let u = n.div_ceil(MAX_UNITS);
    if u < MIN_UNIT {
        MIN_UNIT
    } else {
        u
    }
}

/// Units of work for a batch of `n` (at least one, at most [`MAX_UNITS`]).
const fn unit_count(n: usize) -> usize {
    let count = n.div_ceil(unit_images(n));
    if count < 1 {
        1
    } else {
        count
    }
}

/// Values per task of an element-wise stage over rows of `row` values:
/// about [`SPAN`], in whole rows.
fn span_len(row: usize) -> usize {
    let row = row.max(1);
    (SPAN / row).max(1) * row
}

/// Whether a pass trains or infers. Training uses the batch's statistics
/// in BatchNormalization and, where the engine's dropout is on, drops
/// values; inference uses the moving statistics and never drops. A type of
/// its own, so that switching dropout off for a test cannot switch
/// BatchNormalization's mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Inference,
    Training,
}

/// What `cnn!` emits for a network: its sizes, nodes and tensors.
pub trait Spec: Sized + Send + Sync + 'static {
    /// The struct's name, for messages.
    const NAME: &'static str;
    const INPUT_SHAPE: [usize; 3];
    /// Values per input image and per output.
    const INPUT_LEN: usize;
    const OUTPUT_LEN: usize;
    const TOTAL_PARAMS: usize;
    /// The trainable tensors lie in `params[..TRAINABLE_PARAMS]`.
    const TRAINABLE_PARAMS: usize;
    const NODES: &'static [Node];
    const TENSORS: &'static [TensorInfo];
    const LAYERS: &'static [LayerInfo];
    /// One input image's and one output's shape, for typed batches.
    type InputShape: Shape;
    type OutputShape: Shape;
}

/// A network whose output is a softmax over classes: it trains with
/// categorical cross-entropy and has an accuracy. `cnn!` implements it
/// where that holds.
pub trait Classifier: Spec {}

/// One unit's own scratch: conv buffers and partial sums.
struct Unit {
    cols: Vec<f32>,
    dcols: Vec<f32>,
    /// A conv's kernel and bias gradient over this unit's images.
    grad: Vec<f32>,
    /// BatchNormalization's sums over this unit's images.
    sums: Vec<f64>,
}

/// Every buffer a pass over up to `capacity` images needs.
pub(crate) struct Workspace {
    capacity: usize,
    training: bool,
    /// Each node's output, `capacity * out_len` (empty for Flatten and
    /// for a BatchNormalization that folds the activation after it).
    outs: Vec<Vec<f32>>,
    /// The activation each node applies in its own pass
    /// ([`folded_activations`]).
    folds: Vec<Option<Activation>>,
    /// Pre-activations of nodes whose inline activation needs its input.
    pre: Vec<Vec<f32>>,
    masks: Vec<Vec<f32>>,
    /// BatchNormalization, per channel: mean, 1/sqrt(var + eps), var, the
    /// affine map's `a` and `b`; in backward, `gamma / sqrt(var + eps)` and
    /// the means of `dy` and `dy * x̂`.
    stats: Vec<Vec<f32>>,
    /// In training, the gradient at each node's output, in the buffer that
    /// [`gradient_buffers`] gives it (empty where another node's holds it).
    grads: Vec<Vec<f32>>,
    grad_buffer: Vec<usize>,
    /// Whether a node's output gradient has been written in this backward
    /// pass: its next reader adds to it instead of overwriting.
    written: Vec<bool>,
    units: Vec<Unit>,
    /// Each conv's kernel as its passes read it
    /// ([`Conv::prepare`](crate::kernels::conv::Conv::prepare)), written
    /// by [`prepare`] once per set of weights.
    prepared: Vec<Vec<f32>>,
    /// In backward, the units' kernel gradients added up.
    grad_sum: Vec<f32>,
    /// The units' BatchNormalization sums, added up.
    totals: Vec<f64>,
    tmp: Vec<f32>,
}

impl Workspace {
    pub(crate) fn new(nodes: &[Node], capacity: usize, training: bool) -> Workspace {
        let n = capacity;
        let convs: Vec<_> =
            nodes.iter().filter_map(|nd| if let Op::Conv2D { conv, .. } = nd.op { Some(conv) } else { None }).collect();
        let (cols, dcols) = conv_scratch_len(&convs);
        let grad = convs.iter().map(|c| c.grad_len() + c.filters).max().unwrap_or(0);
        let channels = nodes
            .iter()
            .map(|nd| if let Op::BatchNorm { channels, .. } = nd.op { channels } else { 0 })
            .max()
            .unwrap_or(0);
        let tmp = nodes
            .iter()
            .map(
                |nd| if let Op::Dense { inputs, units, .. } = nd.op { dense::scratch_len(inputs, units, n) } else { 0 },
            )
            .max()
            .unwrap_or(0);
        // One buffer a node, of `f(node)` values (empty where it is 0).
        let each = |f: &dyn Fn(&Node) -> usize| nodes.iter().map(|nd| vec![0.0; f(nd)]).collect::<Vec<_>>();
        let per = |f: &dyn Fn(&Node) -> usize| each(&|nd| n * f(nd));
        let grad_buffer = gradient_buffers(nodes);
        let owns = |i: usize| training && grad_buffer[i] == i && nodes[i].op != Op::Flatten;
        let units = unit_count(n);
        let folds = folded_activations(nodes);
        let stored = |i: usize| nodes[i].op != Op::Flatten && folds[i].is_none();
        Workspace {
            capacity,
            training,
            outs: (0..nodes.len()).map(|i| vec![0.0; if stored(i) { n * nodes[i].out_len } else { 0 }]).collect(),
            folds,
            pre: per(&|nd| if nd.keeps_preactivation() { nd.out_len } else { 0 }),
            masks: per(&|nd| if training && matches!(nd.op, Op::Dropout { .. }) { nd.out_len } else { 0 }),
            stats: each(&|nd| if let Op::BatchNorm { channels, .. } = nd.op { STATS * channels } else { 0 }),
            grads: (0..nodes.len()).map(|i| vec![0.0; if owns(i) { n * nodes[i].out_len } else { 0 }]).collect(),
            grad_buffer,
            written: vec![false; nodes.len()],
            units: (0..units)
                .map(|_| Unit {
                    cols: vec![0.0; cols],
                    dcols: if training { vec![0.0; dcols] } else { Vec::new() },
                    grad: if training { vec![0.0; grad] } else { Vec::new() },
                    sums: vec![0.0; 2 * channels],
                })
                .collect(),
            prepared: each(&|nd| if let Op::Conv2D { conv, .. } = nd.op { conv.prepared_len() } else { 0 }),
            grad_sum: if training { vec![0.0; grad] } else { Vec::new() },
            totals: vec![0.0; 2 * channels],
            tmp: vec![0.0; tmp],
        }
    }

    fn output<'a>(&'a self, nodes: &[Node], at: Option<usize>, x: &'a [f32], n: usize) -> &'a [f32] {
        buffer(&self.outs, nodes, at, x, n)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Every node's output after a pass over `n` images; a
    /// BatchNormalization that folded its activation computes its own
    /// again, from its input and the affine map of the pass.
    pub(crate) fn outputs(&self, nodes: &[Node], x: &[f32], n: usize) -> Vec<Vec<f32>> {
        (0..nodes.len())
            .map(|i| match (nodes[i].op, self.folds[i]) {
                (Op::BatchNorm { channels: c, .. }, Some(_)) => {
                    let input = self.output(nodes, nodes[i].input(), x, n);
                    let (a, b) = affine_map(&self.stats[i], c);
                    let mut y = vec![0.0; input.len()];
                    batchnorm::affine(input, &mut y, a, b);
                    y
                }
                _ => self.output(nodes, Some(i), x, n).to_vec(),
            })
            .collect()
    }

    /// The network's output after a pass over `n` images.
    pub(crate) fn result<'a>(&'a self, nodes: &[Node], x: &'a [f32], n: usize) -> &'a [f32] {
        self.output(nodes, Some(nodes.len() - 1), x, n)
    }
}

/// A BatchNormalization's affine map of its last forward pass,
/// `y = x * a + b`, from its `stats` ([`Workspace`]'s; forward writes it).
fn affine_map(stats: &[f32], channels: usize) -> (&[f32], &[f32]) {
    let c = channels;
    (&stats[3 * c..4 * c], &stats[4 * c..5 * c])
}

/// Node `at`'s output for `n` images, in `outs` (`x` for the network's input).
fn buffer<'a>(outs: &'a [Vec<f32>], nodes: &[Node], at: Option<usize>, x: &'a [f32], n: usize) -> &'a [f32] {
    match (source(nodes, at), at) {
        (Some(j), Some(i)) => &outs[j][..n * nodes[i].out_len],
        (Some(j), None) => &outs[j][..n * nodes[j].out_len],
        (None, Some(i)) => &x[..n * nodes[i].out_len],
        (None, None) => x,
    }
}

/// `f(x_part, y_part)` over spans of whole rows of `row` values, in parallel.
fn spans(x: &[f32], y: &mut [f32], row: usize, f: impl Fn(&[f32], &mut [f32]) + Sync) {
    let span = span_len(row);
    y.par_chunks_mut(span).zip(x.par_chunks(span)).for_each(|(y, x)| f(x, y));
}

/// `f(part, index of its first value)` over spans of `g`, in parallel.
fn spans_mut(g: &mut [f32], row: usize, f: impl Fn(&mut [f32], usize) + Sync) {
    let span = span_len(row);
    g.par_chunks_mut(span).enumerate().for_each(|(i, g)| f(g, i * span));
}

/// `dst = sum over the first `count` units of their `grad[from..]`, in unit order.
fn sum_units(units: &[Unit], count: usize, from: usize, dst: &mut [f32]) {
    dst.par_chunks_mut(SPAN).enumerate().for_each(|(j, d)| {
        let at = from + j * SPAN;
        d.copy_from_slice(&units[0].grad[at..][..d.len()]);
        for u in &units[1..count] {
            d.iter_mut().zip(&u.grad[at..]).for_each(|(d, g)| *d += g);
        }
    });
}

/// Per-channel sums over the batch: `part(first image, images, sums)` adds
/// a unit's share into that unit's `sums`; `total` (2 * channels) is
/// overwritten with the units' sum, in unit order.
fn batch_sums(
    units: &mut [Unit],
    n: usize,
    channels: usize,
    total: &mut [f64],
    part: impl Fn(usize, usize, &mut [f64]) + Sync,
) {
    let (m, count) = (unit_images(n), unit_count(n));
    units[..count].par_iter_mut().enumerate().for_each(|(u, unit)| {
        note_work();
        let sums = &mut unit.sums[..2 * channels];
        sums.fill(0.0);
        part(u * m, m.min(n - u * m), sums);
    });
    add_units(&units[..count], total);
}

/// [`batch_sums`] whose `part(first image, its values, sums)` may also
/// rewrite the unit's share of `values` (`image_len` an image) in place.
fn batch_sums_in_place(
    units: &mut [Unit],
    n: usize,
    channels: usize,
    total: &mut [f64],
    values: &mut [f32],
    image_len: usize,
    part: impl Fn(usize, &mut [f32], &mut [f64]) + Sync,
) {
    let (m, count) = (unit_images(n), unit_count(n));
    units[..count].par_iter_mut().zip(values[..n * image_len].par_chunks_mut(m * image_len)).enumerate().for_each(
        |(u, (unit, values))| {
            note_work();
            let sums = &mut unit.sums[..2 * channels];
            sums.fill(0.0);
            part(u * m, values, sums);
        },
    );
    add_units(&units[..count], total);
}

/// `total` = the units' sums, added in unit order.
fn add_units(units: &[Unit], total: &mut [f64]) {
    total.fill(0.0);
    for unit in units {
        total.iter_mut().zip(&unit.sums).for_each(|(t, s)| *t += s);
    }
}

/// Each conv's kernel as its passes read it
/// ([`Conv::prepare`](crate::kernels::conv::Conv::prepare): Winograd's U
/// and Uᵀ, or im2col's Kᵀ) into `ws`, the layers side by
/// side. [`forward`] and [`backward`] read what this wrote, so it runs
/// once per set of weights before them: once per training step, and once
/// per `predict` call rather than once per chunk of it (serial and per
/// chunk, it took a tenth of the airbench layout's inference).
pub(crate) fn prepare(nodes: &[Node], p: &[f32], ws: &mut Workspace) {
    ws.prepared.par_iter_mut().zip(nodes).for_each(|(prepared, node)| {
        if let Op::Conv2D { conv, kernel, .. } = node.op {
            conv.prepare(&p[kernel.offset..][..conv.kernel_len()], prepared);
        }
    });
}

/// The forward pass over `n` images `x` in `mode`, after [`prepare`]
/// with the same weights `p`; `key` draws the dropout masks in training
/// (`None`: dropout is the identity).
pub(crate) fn forward(
    nodes: &[Node],
    p: &[f32],
    ws: &mut Workspace,
    x: &[f32],
    n: usize,
    mode: Mode,
    key: Option<DropoutKey>,
) {
    assert!(n <= ws.capacity, "forward: {n} images in a workspace for {}", ws.capacity);
    assert!(ws.training || key.is_none(), "forward: dropout masks need a training workspace");
    let m = unit_images(n);
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 && ws.folds[i - 1].is_some() {
            // The BatchNormalization before wrote this activation's output.
            continue;
        }
        let (in_len, out_len) = (node.in_len, node.out_len);
        let (done, rest) = ws.outs.split_at_mut(i);
        let read = |at: Option<usize>, len: usize| -> &[f32] {
            match source(nodes, at) {
                Some(j) => &done[j][..n * len],
                None => &x[..n * len],
            }
        };
        let input = read(node.input(), in_len);
        let (out, later) = rest.split_first_mut().expect("forward: a buffer per node");
        match node.op {
            Op::Conv2D { conv, activation, kernel, bias } => {
                let kernel = &p[kernel.offset..][..conv.kernel_len()];
                let bias = bias.map(|b| &p[b.offset..][..conv.filters]);
                let keep = node.keeps_preactivation();
                let z = if keep { &mut ws.pre[i][..n * out_len] } else { &mut out[..n * out_len] };
                let act = if keep { Activation::Linear } else { activation };
                let prepared = &ws.prepared[i][..];
                z.par_chunks_mut(m * out_len).zip(input.par_chunks(m * in_len)).zip(ws.units.par_iter_mut()).for_each(
                    |((z, x), unit)| {
                        note_work();
                        conv2d_forward(&conv, kernel, prepared, bias, act, x, z, z.len() / out_len, &mut unit.cols)
                    },
                );
                if keep {
                    spans(&ws.pre[i][..n * out_len], &mut out[..n * out_len], conv.filters, |x, y| {
                        activation_forward(activation, x, y, conv.filters)
                    });
                }
            }
            Op::Dense { inputs, units, activation, kernel, bias } => {
                let kernel = &p[kernel.offset..][..inputs * units];
                let bias = bias.map(|b| &p[b.offset..][..units]);
                let keep = node.keeps_preactivation();
                let z = if keep { &mut ws.pre[i][..n * out_len] } else { &mut out[..n * out_len] };
                dense::product(inputs, units, kernel, input, z, n, &mut ws.tmp);
                bias_activate(if keep { Activation::Linear } else { activation }, z, bias, units);
                if keep {
                    activation_forward(activation, &ws.pre[i][..n * out_len], &mut out[..n * out_len], units);
                }
            }
            Op::Pool { kind, window } => {
                out[..n * out_len].par_chunks_mut(m * out_len).zip(input.par_chunks(m * in_len)).for_each(|(y, x)| {
                    note_work();
                    pool_forward(kind, &window, x, y, y.len() / out_len)
                });
            }
            Op::GlobalPool { kind, positions, channels } => {
                out[..n * out_len]
                    .par_chunks_mut(m * out_len)
                    .zip(input.par_chunks(m * in_len))
                    .for_each(|(y, x)| global_pool_forward(kind, positions, channels, x, y, y.len() / out_len));
            }
            Op::Activation { activation, last } => {
                spans(input, &mut out[..n * out_len], last, |x, y| activation_forward(activation, x, y, last));
            }
            Op::Dropout { rate } => match (mode, key) {
                (Mode::Training, Some(key)) => {
                    let layer = key.layer(i);
                    let mask = &mut ws.masks[i][..n * out_len];
                    let span = SPAN;
                    out[..n * out_len].par_chunks_mut(span).zip(mask.par_chunks_mut(span)).enumerate().for_each(
                        |(s, (y, mask))| dropout_forward(rate, layer, s * span, &input[s * span..][..y.len()], y, mask),
                    );
                }
                _ => spans(input, &mut out[..n * out_len], 1, |x, y| y.copy_from_slice(x)),
            },
            Op::Flatten => {}
            Op::BatchNorm { channels: c, epsilon, gamma, beta, moving_mean, moving_variance, .. } => {
                let stats = &mut ws.stats[i];
                let (mean, rest) = stats.split_at_mut(c);
                let (inv_std, rest) = rest.split_at_mut(c);
                let (var, rest) = rest.split_at_mut(c);
                let (a, rest) = rest.split_at_mut(c);
                let b = &mut rest[..c];
                match mode {
                    Mode::Training => {
                        let totals = &mut ws.totals[..2 * c];
                        batch_sums(&mut ws.units, n, c, totals, |first, k, sums| {
                            batchnorm::moment_sums(&input[first * in_len..][..k * in_len], c, sums)
                        });
                        let count = (n * in_len / c) as f64;
                        for ch in 0..c {
                            let mu = totals[ch] / count;
                            mean[ch] = mu as f32;
                            var[ch] = (totals[c + ch] / count - mu * mu).max(0.0) as f32;
                        }
                    }
                    Mode::Inference => {
                        mean.copy_from_slice(&p[moving_mean..][..c]);
                        var.copy_from_slice(&p[moving_variance..][..c]);
                    }
                }
                for ch in 0..c {
                    inv_std[ch] = 1.0 / (var[ch] + epsilon).sqrt();
                    a[ch] = gamma.map_or(1.0, |g| p[g.offset + ch]) * inv_std[ch];
                    b[ch] = beta.map_or(0.0, |bt| p[bt.offset + ch]) - mean[ch] * a[ch];
                }
                let (a, b) = (&*a, &*b);
                match ws.folds[i] {
                    Some(act) => spans(input, &mut later[0][..n * out_len], c, |x, y| affine_activate(act, x, y, a, b)),
                    None => spans(input, &mut out[..n * out_len], c, |x, y| batchnorm::affine(x, y, a, b)),
                }
            }
            Op::Rescaling { scale, offset } => {
                spans(input, &mut out[..n * out_len], 1, |x, y| {
                    y.iter_mut().zip(x).for_each(|(y, x)| *y = x * scale + offset)
                });
            }
            Op::Add => {
                // The first two inputs in one pass, then each other one
                // added in input order, as Keras's Add sums them.
                let out = &mut out[..n * out_len];
                let second = read(node.inputs[1], out_len);
                let span = span_len(1);
                out.par_chunks_mut(span)
                    .zip(input.par_chunks(span).zip(second.par_chunks(span)))
                    .for_each(|(y, (a, b))| y.iter_mut().zip(a.iter().zip(b)).for_each(|(y, (a, b))| *y = a + b));
                for &other in &node.inputs[2..] {
                    let other = read(other, out_len);
                    spans(other, out, 1, |x, y| y.iter_mut().zip(x).for_each(|(y, x)| *y += x));
                }
            }
            Op::Concatenate { positions, channels } => {
                let width = out_len / positions;
                let mut first = 0;
                for (&at, &c) in node.inputs.iter().zip(channels) {
                    let part = read(at, positions * c);
                    out[..n * out_len].par_chunks_mut(span_len(width)).enumerate().for_each(|(s, y)| {
                        let rows = span_len(width) / width;
                        for (r, cell) in y.chunks_exact_mut(width).enumerate() {
                            let row = s * rows + r;
                            cell[first..first + c].copy_from_slice(&part[row * c..][..c]);
                        }
                    });
                    first += c;
                }
            }
        }
    }
}

/// `dst = g`, or with `add`, `dst += g`, in parallel spans.
fn deliver(g: &[f32], dst: &mut [f32], add: bool) {
    if add {
        spans(g, dst, 1, |g, d| d.iter_mut().zip(g).for_each(|(d, g)| *d += g));
    } else {
        spans(g, dst, 1, |g, d| d.copy_from_slice(g));
    }
}

/// Marks the gradient at node `j`'s output as written and returns its
/// buffer and whether the writer adds to what an earlier one left there.
fn claim(written: &mut [bool], grad_buffer: &[usize], j: usize) -> (usize, bool) {
    let add = written[j];
    written[j] = true;
    (grad_buffer[j], add)
}

/// Two different buffers of `all`, both mutable.
fn two(all: &mut [Vec<f32>], a: usize, b: usize) -> (&mut Vec<f32>, &mut Vec<f32>) {
    assert!(a != b, "two: one buffer twice");
    if a < b {
        let (lo, hi) = all.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = all.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

/// `g *= f'(x)` for an activation, in parallel spans; `x` is read only
/// where the derivative needs it.
fn activation_grad(act: Activation, x: &[f32], y: &[f32], g: &mut [f32], last: usize) {
    if act == Activation::Linear {
        return;
    }
    let x = if act.needs_input() { x } else { y };
    let span = span_len(last);
    g.par_chunks_mut(span)
        .zip(y.par_chunks(span).zip(x.par_chunks(span)))
        .for_each(|(g, (y, x))| activation_backward(act, x, y, g, last));
}

/// `t`, if it learns this step: trainable, and not at an offset in
/// `skipped` (see [`backward`]).
fn learning(t: Option<Param>, skipped: &[usize]) -> Option<Param> {
    t.filter(|t| t.trainable && !skipped.contains(&t.offset))
}

/// The backward pass after a training [`forward`] of the same `n` images:
/// overwrites `grads` (the trainable parameters' slice) with the gradient
/// of the batch's mean cross-entropy, and returns the summed cross-entropy
/// and the number of images classified right. `dropout` says whether the
/// forward pass dropped values; `smoothing` is the loss's label smoothing.
/// The trainable tensors at the offsets in `skipped` do not learn this
/// step (their optimizer leaves them where they are): their gradient is
/// not computed, and where no node before a point learns, nothing before
/// it runs. Their part of `grads` is left as it was.
///
/// Nodes run in reverse order, each from the gradient at its output to the
/// gradients at its inputs. Where an output feeds several layers (every
/// shortcut), the first of its readers to run writes its gradient and the
/// others add to it, inside their own kernels (a product with `beta = 1`,
/// a scatter without zeroing first): no separate summing pass.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(
    nodes: &[Node],
    p: &[f32],
    ws: &mut Workspace,
    x: &[f32],
    labels: &[u8],
    n: usize,
    grads: &mut [f32],
    skipped: &[usize],
    dropout: bool,
    smoothing: f32,
) -> (f64, usize) {
    let last = nodes.len() - 1;
    let classes = nodes[last].out_len;
    let (m, count) = (unit_images(n), unit_count(n));
    let probs = buffer(&ws.outs, nodes, Some(last), x, n);
    let correct = count_correct(probs, labels, classes);
    // The fused gradient is at the softmax's input: skip an Activation
    // layer's own backward, or an inline softmax's derivative.
    let (top, start, fused) = match nodes[last].op {
        Op::Activation { activation: Activation::Softmax, .. } => (source(nodes, nodes[last].input()), last - 1, false),
        _ => (Some(last), last, true),
    };
    let learns = |t: Option<Param>| learning(t, skipped);
    let first = nodes.iter().position(|nd| match nd.op {
        Op::Conv2D { kernel, bias, .. } | Op::Dense { kernel, bias, .. } => {
            learns(Some(kernel)).is_some() || learns(bias).is_some()
        }
        Op::BatchNorm { gamma, beta, .. } => learns(gamma).is_some() || learns(beta).is_some(),
        _ => false,
    });
    let Some(top) = top else {
        // A softmax straight on the input: nothing to learn, no gradient.
        return (cross_entropy(probs, labels, classes, smoothing), correct);
    };
    let top_grad = &mut ws.grads[ws.grad_buffer[top]][..n * classes];
    let loss = softmax_cross_entropy(probs, labels, classes, smoothing, 1.0 / n as f32, top_grad);
    let Some(first) = first else {
        return (loss, correct);
    };
    ws.written.fill(false);
    ws.written[top] = true;
    // The gradient at the output of `at`, if a trainable node can use it.
    let wanted = |at: Option<usize>| source(nodes, at).filter(|&j| j >= first);
    for i in (first..=start).rev() {
        let node = &nodes[i];
        if node.op == Op::Flatten || !ws.written[i] {
            continue;
        }
        if i > 0 && ws.folds[i - 1].is_some() {
            // The BatchNormalization before takes the gradient through
            // this activation, in the same buffer (it is its only reader).
            if let Some(j) = wanted(node.input()) {
                debug_assert_eq!(ws.grad_buffer[j], ws.grad_buffer[i]);
                ws.written[j] = true;
            }
            continue;
        }
        let (in_len, out_len) = (node.in_len, node.out_len);
        let input = buffer(&ws.outs, nodes, node.input(), x, n);
        // A BatchNormalization that folded its activation stored no
        // output, and its backward pass reads none.
        let y = if ws.folds[i].is_some() { &[][..] } else { buffer(&ws.outs, nodes, Some(i), x, n) };
        let derivative = !(fused && i == last);
        let own = ws.grad_buffer[i];
        // Where the gradient at an input goes: `Some((buffer, add))`, the
        // buffer being this node's own where it works in place.
        let mut target_of = |at: Option<usize>| wanted(at).map(|j| claim(&mut ws.written, &ws.grad_buffer, j));
        match node.op {
            Op::Add => {
                for &at in node.inputs {
                    if let Some((to, add)) = target_of(at).filter(|&(to, _)| to != own) {
                        let (g, dst) = two(&mut ws.grads, own, to);
                        deliver(&g[..n * out_len], &mut dst[..n * out_len], add);
                    }
                }
                continue;
            }
            Op::Concatenate { positions, channels } => {
                let width = out_len / positions;
                let mut offset = 0;
                for (&at, &c) in node.inputs.iter().zip(channels) {
                    if let Some((to, add)) = target_of(at) {
                        let (g, dst) = two(&mut ws.grads, own, to);
                        let g = &g[..n * out_len];
                        let rows = span_len(c) / c;
                        dst[..n * positions * c].par_chunks_mut(rows * c).enumerate().for_each(|(s, d)| {
                            for (r, cell) in d.chunks_exact_mut(c).enumerate() {
                                let from = &g[(s * rows + r) * width + offset..][..c];
                                if add {
                                    cell.iter_mut().zip(from).for_each(|(d, g)| *d += g);
                                } else {
                                    cell.copy_from_slice(from);
                                }
                            }
                        });
                    }
                    offset += c;
                }
                continue;
            }
            _ => {}
        }
        let target = target_of(node.input());
        if node.elementwise() {
            let gc = &mut ws.grads[own][..n * out_len];
            backward_elementwise(
                node,
                p,
                &mut ws.stats[i],
                &mut ws.units,
                &mut ws.totals,
                &ws.masks[i],
                ws.folds[i],
                input,
                y,
                gc,
                n,
                grads,
                skipped,
                dropout,
                target.is_some(),
            );
            if let Some((to, add)) = target.filter(|&(to, _)| to != own) {
                let (g, dst) = two(&mut ws.grads, own, to);
                deliver(&g[..n * out_len], &mut dst[..n * in_len], add);
            }
            continue;
        }
        // The rest write a gradient of another shape into another buffer.
        let (gc, dx, add) = match target {
            Some((to, add)) => {
                let (g, dst) = two(&mut ws.grads, own, to);
                (&mut g[..n * out_len], Some(&mut dst[..n * in_len]), add)
            }
            None => (&mut ws.grads[own][..n * out_len], None, false),
        };
        match node.op {
            Op::Conv2D { conv, activation, kernel, bias } => {
                if derivative {
                    activation_grad(activation, &ws.pre[i], y, gc, conv.filters);
                }
                let (klen, glen, f) = (conv.kernel_len(), conv.grad_len(), conv.filters);
                let kw = &p[kernel.offset..][..klen];
                let prepared = &ws.prepared[i][..];
                let gc = &*gc;
                let (learns_kernel, learns_bias) = (learns(Some(kernel)).is_some(), learns(bias).is_some());
                let run = |unit: &mut Unit, dz: &[f32], x: &[f32], dx: Option<&mut [f32]>| {
                    note_work();
                    let (dk, db) = unit.grad.split_at_mut(glen);
                    let (dk, db) = (Some(dk).filter(|_| learns_kernel), Some(&mut db[..f]).filter(|_| learns_bias));
                    let (cols, dcols) = (&mut unit.cols, &mut unit.dcols);
                    conv2d_backward(&conv, kw, prepared, x, dz, dx, add, dk, db, dz.len() / out_len, cols, dcols);
                };
                let work =
                    ws.units[..count].par_iter_mut().zip(gc.par_chunks(m * out_len)).zip(input.par_chunks(m * in_len));
                match dx {
                    Some(dx) => work
                        .zip(dx.par_chunks_mut(m * in_len))
                        .for_each(|(((unit, dz), x), dx)| run(unit, dz, x, Some(dx))),
                    None => work.for_each(|((unit, dz), x)| run(unit, dz, x, None)),
                }
                if learns_kernel {
                    sum_units(&ws.units, count, 0, &mut ws.grad_sum[..glen]);
                    conv.finish_kernel_grad(&ws.grad_sum[..glen], &mut grads[kernel.offset..][..klen]);
                }
                if let Some(b) = learns(bias) {
                    sum_units(&ws.units, count, glen, &mut grads[b.offset..][..f]);
                }
            }
            Op::Dense { inputs, units, activation, kernel, bias } => {
                if derivative {
                    activation_grad(activation, &ws.pre[i], y, gc, units);
                }
                let kw = &p[kernel.offset..][..inputs * units];
                if learns(Some(kernel)).is_some() {
                    dense::kernel_grad(inputs, units, input, gc, n, &mut grads[kernel.offset..][..inputs * units]);
                }
                if let Some(b) = learns(bias) {
                    dense::bias_grad(gc, &mut grads[b.offset..][..units]);
                }
                if let Some(dx) = dx {
                    dense::input_grad(inputs, units, kw, gc, dx, add, n, &mut ws.tmp);
                }
            }
            Op::Pool { kind, window } => {
                if let Some(dx) = dx {
                    dx.par_chunks_mut(m * in_len)
                        .zip(gc.par_chunks(m * out_len))
                        .zip(input.par_chunks(m * in_len).zip(y.par_chunks(m * out_len)))
                        .for_each(|((dx, dy), (x, y))| {
                            note_work();
                            pool_backward(kind, &window, x, y, dy, dx, add, dy.len() / out_len)
                        });
                }
            }
            Op::GlobalPool { kind, positions, channels } => {
                if let Some(dx) = dx {
                    dx.par_chunks_mut(m * in_len)
                        .zip(gc.par_chunks(m * out_len))
                        .zip(input.par_chunks(m * in_len).zip(y.par_chunks(m * out_len)))
                        .for_each(|((dx, dy), (x, y))| {
                            global_pool_backward(kind, positions, channels, x, y, dy, dx, add, dy.len() / out_len)
                        });
                }
            }
            _ => unreachable!("element-wise nodes, merges and Flatten are handled above"),
        }
    }
    (loss, correct)
}

/// The backward pass of a node that works value by value, in place on `gc`
/// (the gradient at its output, which becomes the gradient at its input);
/// `moves` says whether that input gradient is wanted. BatchNormalization
/// also writes its `gamma` and `beta` gradients into `grads`; with `fold`,
/// `gc` is the gradient at the output of the activation it applied
/// ([`folded_activations`]), which it takes through the activation first.
#[allow(clippy::too_many_arguments)]
fn backward_elementwise(
    node: &Node,
    p: &[f32],
    stats: &mut [f32],
    units: &mut [Unit],
    totals: &mut [f64],
    mask: &[f32],
    fold: Option<Activation>,
    input: &[f32],
    y: &[f32],
    gc: &mut [f32],
    n: usize,
    grads: &mut [f32],
    skipped: &[usize],
    dropout: bool,
    moves: bool,
) {
    let (in_len, out_len) = (node.in_len, node.out_len);
    match node.op {
        Op::Activation { activation, last } => activation_grad(activation, input, y, gc, last),
        Op::Dropout { .. } => {
            if dropout {
                let mask = &mask[..n * out_len];
                spans_mut(gc, 1, |g, at| dropout_backward(&mask[at..][..g.len()], g));
            }
        }
        Op::BatchNorm { channels: c, gamma, beta, .. } => {
            let (fixed, rest) = stats.split_at_mut(5 * c);
            let (mean, inv_std) = (&fixed[..c], &fixed[c..2 * c]);
            let totals = &mut totals[..2 * c];
            match fold {
                Some(act) => {
                    let (a, b) = affine_map(fixed, c);
                    batch_sums_in_place(units, n, c, totals, gc, out_len, |first, g, sums| {
                        let x = &input[first * in_len..][..g.len()];
                        // Block by block, so that the sums read the
                        // gradient through the activation from cache.
                        let block = span_len(c);
                        for (x, g) in x.chunks(block).zip(g.chunks_mut(block)) {
                            affine_activation_backward(act, x, g, a, b);
                            batchnorm::grad_sums(x, g, mean, inv_std, sums);
                        }
                    });
                }
                None => {
                    let gcr = &*gc;
                    batch_sums(units, n, c, totals, |first, k, sums| {
                        let (x, dy) = (&input[first * in_len..][..k * in_len], &gcr[first * out_len..][..k * out_len]);
                        batchnorm::grad_sums(x, dy, mean, inv_std, sums)
                    });
                }
            }
            if let Some(g) = learning(gamma, skipped) {
                grads[g.offset..][..c].iter_mut().zip(&totals[c..]).for_each(|(d, t)| *d = *t as f32);
            }
            if let Some(b) = learning(beta, skipped) {
                grads[b.offset..][..c].iter_mut().zip(&totals[..c]).for_each(|(d, t)| *d = *t as f32);
            }
            if moves {
                let count = (n * in_len / c) as f64;
                let (scale, rest) = rest.split_at_mut(c);
                let (mean_dy, mean_dy_xhat) = rest.split_at_mut(c);
                for ch in 0..c {
                    scale[ch] = gamma.map_or(1.0, |g| p[g.offset + ch]) * inv_std[ch];
                    mean_dy[ch] = (totals[ch] / count) as f32;
                    mean_dy_xhat[ch] = (totals[c + ch] / count) as f32;
                }
                let (scale, mean_dy, mean_dy_xhat) = (&*scale, &*mean_dy, &*mean_dy_xhat);
                let span = span_len(c);
                gc.par_chunks_mut(span)
                    .zip(input.par_chunks(span))
                    .for_each(|(g, x)| batchnorm::input_grad(x, g, mean, inv_std, scale, mean_dy, mean_dy_xhat));
            }
        }
        Op::Rescaling { scale, .. } => spans_mut(gc, 1, |g, _| g.iter_mut().for_each(|g| *g *= scale)),
        _ => unreachable!("only element-wise nodes"),
    }
}

/// Keras's moving statistics after a training forward:
/// `moving = moving * momentum + batch * (1 - momentum)`.
pub(crate) fn update_moving_statistics(nodes: &[Node], p: &mut [f32], ws: &Workspace) {
    for (node, stats) in nodes.iter().zip(&ws.stats) {
        if let Op::BatchNorm { channels: c, momentum, moving_mean, moving_variance, .. } = node.op {
            for ch in 0..c {
                let (mean, var) = (stats[ch], stats[2 * c + ch]);
                p[moving_mean + ch] = p[moving_mean + ch] * momentum + mean * (1.0 - momentum);
                p[moving_variance + ch] = p[moving_variance + ch] * momentum + var * (1.0 - momentum);
            }
        }
    }
}

/// The `l2` penalties, `sum x * sum(w²)`, for the loss; their gradient
/// `2 x w` is added to `grads` for trainable tensors.
pub(crate) fn penalties(tensors: &[TensorInfo], p: &[f32], grads: &mut [f32]) -> f64 {
    let mut loss = 0.0f64;
    for t in tensors.iter().filter(|t| t.l2 > 0.0) {
        let w = &p[t.range()];
        loss += t.l2 as f64 * w.iter().map(|&v| v as f64 * v as f64).sum::<f64>();
        if t.trainable {
            grads[t.range()].iter_mut().zip(w).for_each(|(g, w)| *g += 2.0 * t.l2 * w);
        }
    }
    loss
}
