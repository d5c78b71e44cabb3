//! Runs the code that `cnn!` generates for one network over a batch: splits
//! the batch into fixed chunks of [`CHUNK`] images, runs each chunk's
//! forward and backward on its own workspace in parallel with rayon, and
//! sums the chunks' gradients in chunk order; Dense kernels' gradients are
//! taken over all the chunks' rows at once instead (`Train::deferred_grads`),
//! adding the chunks in the same order. The chunks do not depend on the
//! number of threads, so neither do the results, to the bit.

use crate::error::{Error, Result};
use crate::info::TensorInfo;
use crate::kernels::dropout::DropoutKey;
use crate::kernels::loss::count_correct;
use crate::optim::Optimizer;
use crate::rng::{hash2, Rng};
use rayon::prelude::*;
use std::sync::Mutex;

/// Images per chunk: the unit of parallel work and of gradient reduction.
pub const CHUNK: usize = 16;

/// What the macro generates for a network: its sizes, its weight tensors
/// and its forward pass over one chunk, specialized to its layers.
pub trait Spec: Sized + Send + Sync + 'static {
    /// The struct's name, for messages.
    const NAME: &'static str;
    const INPUT_SHAPE: [usize; 3];
    /// Values per input image and per output.
    const INPUT_LEN: usize;
    const OUTPUT_LEN: usize;
    const TOTAL_PARAMS: usize;
    const TENSORS: &'static [TensorInfo];
    /// Every buffer one chunk needs, allocated once.
    type Workspace: Send + Sync;

    fn workspace(images: usize) -> Self::Workspace;
    /// Forward over `n <= capacity` images `x`; `dropout` is the step's key
    /// and the index of the chunk's first image in the batch (training),
    /// or `None` (inference: dropout is the identity).
    fn forward(params: &[f32], ws: &mut Self::Workspace, x: &[f32], n: usize, dropout: Option<(DropoutKey, usize)>);
    /// The network's output for the `n` images of the last forward.
    fn output(ws: &Self::Workspace, n: usize) -> &[f32];
    /// Every layer's output for the `n` images of the last forward.
    fn layer_outputs(ws: &Self::Workspace, n: usize) -> Vec<Vec<f32>>;

    /// The network's flat parameters and its training state.
    fn params(&self) -> &[f32];
    fn engine(&self) -> &Engine<Self::Workspace>;
    fn parts_mut(&mut self) -> (&mut [f32], &mut Engine<Self::Workspace>);
}

/// A network that ends in softmax, trained with categorical cross-entropy.
pub trait Train: Spec {
    /// Backward after `forward` on the same chunk: writes the gradient of
    /// `scale * sum(loss)` over every value of `grads` (each layer
    /// overwrites its own weights' slice) and returns the chunk's summed loss.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        params: &[f32],
        ws: &mut Self::Workspace,
        x: &[f32],
        labels: &[u8],
        n: usize,
        scale: f32,
        dropout: bool,
        grads: &mut [f32],
    ) -> f64;

    /// Ranges of `grads` that `backward` leaves alone, because
    /// `deferred_grads` computes them over the whole batch at once.
    const DEFERRED: &'static [(usize, usize)] = &[];

    /// The gradients of the [`Self::DEFERRED`] ranges (overwritten), from
    /// what every chunk's forward and backward left in its workspace.
    /// Dense kernels take this path: summing a chunk's share of a large
    /// kernel's gradient into the batch's would cost two more passes over
    /// it through memory than the one product over all the chunks' rows.
    fn deferred_grads(params: &[f32], chunks: &Chunks<'_, Self::Workspace>, grads: &mut [f32]) {
        let _ = (params, chunks, grads);
    }
}

/// The workspaces of a batch's chunks after their forward and backward,
/// for [`Train::deferred_grads`].
pub struct Chunks<'a, W> {
    chunks: &'a [Chunk<W>],
    images: usize,
}

impl<'a, W> Chunks<'a, W> {
    /// Number of chunks.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }
    /// Chunk `c`'s workspace and its number of images.
    pub fn get(&self, c: usize) -> (&'a W, usize) {
        (&self.chunks[c].ws, CHUNK.min(self.images - c * CHUNK))
    }
}

struct Chunk<W> {
    ws: W,
    grads: Vec<f32>,
    loss: f64,
    correct: usize,
}

/// The training state that lives beside a network's weights: workspaces
/// and gradients (allocated for the largest batch seen, then reused), the
/// step count and the dropout seed.
pub struct Engine<W> {
    chunks: Vec<Chunk<W>>,
    grads: Vec<f32>,
    /// Workspaces for inference, which runs on `&self`: taken by a rayon
    /// task and put back when it ends, so `predict` and `evaluate` stop
    /// allocating and zeroing megabytes per call.
    spare: Mutex<Vec<W>>,
    /// Training steps taken; with the seed, it keys the dropout masks.
    pub step: u64,
    pub seed: u64,
    /// Dropout in training; off reproduces Keras's references, which take
    /// gradients with dropout as the identity.
    pub dropout: bool,
    /// Images of the last batch whose top class was their label.
    pub last_correct: usize,
}

impl<W> Engine<W> {
    pub fn new(seed: u64) -> Self {
        Engine {
            chunks: Vec::new(),
            grads: Vec::new(),
            spare: Mutex::new(Vec::new()),
            step: 0,
            seed: hash2(seed, 0x64726f70),
            dropout: true,
            last_correct: 0,
        }
    }

    /// The gradient of the last `gradients` or `train_step` call.
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }
}

/// A copy keeps the step count, seed and dropout setting; workspaces are
/// scratch and are allocated anew when the copy first trains.
impl<W> Clone for Engine<W> {
    fn clone(&self) -> Self {
        Engine {
            chunks: Vec::new(),
            grads: Vec::new(),
            spare: Mutex::new(Vec::new()),
            step: self.step,
            seed: self.seed,
            dropout: self.dropout,
            last_correct: 0,
        }
    }
}

impl<W> std::fmt::Debug for Engine<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Engine").field("step", &self.step).field("dropout", &self.dropout).finish()
    }
}

/// Keras's `glorot_uniform` kernels and zero biases, from `seed`: each
/// tensor draws from its own stream, so the same seed gives the same weights.
pub fn init_params(tensors: &[TensorInfo], total: usize, seed: u64) -> Vec<f32> {
    let mut params = vec![0.0; total];
    for (i, t) in tensors.iter().enumerate() {
        if let Some((fan_in, fan_out)) = t.fans {
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
            let mut rng = Rng::new(hash2(seed, i as u64));
            params[t.range()].iter_mut().for_each(|p| *p = (2.0 * rng.unit() - 1.0) * limit);
        }
    }
    params
}

fn check_images<M: Spec>(images: &[f32]) -> Result<usize> {
    if !images.len().is_multiple_of(M::INPUT_LEN) {
        return Err(Error::Input(format!(
            "{}: a batch of {:?} images needs a multiple of {} values (NHWC), got {}",
            M::NAME,
            M::INPUT_SHAPE,
            M::INPUT_LEN,
            images.len()
        )));
    }
    Ok(images.len() / M::INPUT_LEN)
}

fn check_batch<M: Spec>(images: &[f32], labels: &[u8]) -> Result<usize> {
    let n = check_images::<M>(images)?;
    if n != labels.len() || n == 0 {
        return Err(Error::Input(format!(
            "{}: {} images but {} labels; a training batch needs one label per image and at least one image",
            M::NAME,
            n,
            labels.len()
        )));
    }
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= M::OUTPUT_LEN) {
        return Err(Error::Input(format!(
            "{}: label {} (image {}) is out of range for {} classes",
            M::NAME,
            l,
            i,
            M::OUTPUT_LEN
        )));
    }
    Ok(n)
}

/// A workspace borrowed from an engine's spares, returned when dropped.
struct Spare<'a, M: Spec> {
    ws: Option<M::Workspace>,
    home: &'a Mutex<Vec<M::Workspace>>,
}

impl<'a, M: Spec> Spare<'a, M> {
    fn take(home: &'a Mutex<Vec<M::Workspace>>) -> Self {
        // A panic elsewhere cannot leave the list of spares half-updated.
        let ws = home.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_else(|| M::workspace(CHUNK));
        Spare { ws: Some(ws), home }
    }
}

impl<M: Spec> Drop for Spare<'_, M> {
    fn drop(&mut self) {
        if let Some(ws) = self.ws.take() {
            self.home.lock().unwrap_or_else(|e| e.into_inner()).push(ws);
        }
    }
}

/// Inference on any number of images, in parallel chunks, on the engine's
/// spare workspaces.
pub fn predict<M: Spec>(params: &[f32], engine: &Engine<M::Workspace>, images: &[f32]) -> Result<Vec<f32>> {
    let n = check_images::<M>(images)?;
    let mut out = vec![0.0; n * M::OUTPUT_LEN];
    out.par_chunks_mut(CHUNK * M::OUTPUT_LEN).zip(images.par_chunks(CHUNK * M::INPUT_LEN)).for_each_init(
        || Spare::<M>::take(&engine.spare),
        |spare, (out, x)| {
            let ws = spare.ws.as_mut().expect("held until dropped");
            let m = x.len() / M::INPUT_LEN;
            M::forward(params, ws, x, m, None);
            out.copy_from_slice(M::output(ws, m));
        },
    );
    Ok(out)
}

/// Every layer's output for `images`, in inference mode, in layer order.
pub fn layer_outputs<M: Spec>(params: &[f32], images: &[f32]) -> Result<Vec<Vec<f32>>> {
    let n = check_images::<M>(images)?;
    let mut ws = M::workspace(n);
    M::forward(params, &mut ws, images, n, None);
    Ok(M::layer_outputs(&ws, n))
}

/// Forward and backward over the batch; leaves the batch's mean-loss
/// gradient in `engine.grads()` and returns the mean loss.
pub fn gradients<M: Train>(
    params: &[f32],
    engine: &mut Engine<M::Workspace>,
    images: &[f32],
    labels: &[u8],
) -> Result<f32> {
    let n = check_batch::<M>(images, labels)?;
    let chunks = n.div_ceil(CHUNK);
    while engine.chunks.len() < chunks {
        engine.chunks.push(Chunk { ws: M::workspace(CHUNK), grads: vec![0.0; M::TOTAL_PARAMS], loss: 0.0, correct: 0 });
    }
    let scale = 1.0 / n as f32;
    let key = engine.dropout.then_some(DropoutKey { seed: engine.seed, step: engine.step });
    engine.chunks[..chunks].par_iter_mut().enumerate().for_each(|(c, chunk)| {
        let start = c * CHUNK;
        let m = CHUNK.min(n - start);
        let x = &images[start * M::INPUT_LEN..(start + m) * M::INPUT_LEN];
        M::forward(params, &mut chunk.ws, x, m, key.map(|k| (k, start)));
        chunk.correct = count_correct(M::output(&chunk.ws, m), &labels[start..start + m], M::OUTPUT_LEN);
        chunk.loss =
            M::backward(params, &mut chunk.ws, x, &labels[start..start + m], m, scale, key.is_some(), &mut chunk.grads);
    });
    // Sum the chunks' gradients in chunk order, in parallel over slices,
    // except where the whole batch's are computed at once.
    const SPLIT: usize = 1 << 14;
    engine.grads.resize(M::TOTAL_PARAMS, 0.0);
    let done = &engine.chunks[..chunks];
    engine.grads.par_chunks_mut(SPLIT).enumerate().for_each(|(j, g)| {
        let at = j * SPLIT;
        for (from, to) in outside(at, at + g.len(), M::DEFERRED) {
            let g = &mut g[from - at..to - at];
            match done {
                [only] => g.copy_from_slice(&only.grads[from..to]),
                [first, second, rest @ ..] => {
                    let (a, b) = (&first.grads[from..to], &second.grads[from..to]);
                    g.iter_mut().zip(a.iter().zip(b)).for_each(|(g, (a, b))| *g = a + b);
                    for chunk in rest {
                        g.iter_mut().zip(&chunk.grads[from..to]).for_each(|(g, c)| *g += c);
                    }
                }
                [] => unreachable!("a batch has at least one chunk"),
            }
        }
    });
    M::deferred_grads(params, &Chunks { chunks: done, images: n }, &mut engine.grads);
    engine.last_correct = done.iter().map(|c| c.correct).sum();
    Ok((done.iter().map(|c| c.loss).sum::<f64>() / n as f64) as f32)
}

/// The parts of `from..to` outside every range of `skip` (sorted, disjoint).
fn outside(from: usize, to: usize, skip: &[(usize, usize)]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let (mut start, mut ranges) = (from, skip.iter().copied());
    std::iter::from_fn(move || loop {
        if start >= to {
            return None;
        }
        match ranges.next() {
            // Wholly before `start`: passed already.
            Some((_, b)) if b <= start => {}
            // Begins before `to`: the part up to it, then past it.
            Some((a, b)) if a < to => {
                let part = (start, a.max(start));
                start = b.min(to);
                if part.0 < part.1 {
                    return Some(part);
                }
            }
            // None left inside: the rest.
            _ => {
                let part = (start, to);
                start = to;
                return Some(part);
            }
        }
    })
}

/// One training step: gradients of the batch's mean loss, then one
/// optimizer update. Returns the mean loss before the update.
pub fn train_step<M: Train>(
    params: &mut [f32],
    engine: &mut Engine<M::Workspace>,
    images: &[f32],
    labels: &[u8],
    opt: &mut (impl Optimizer + ?Sized),
) -> Result<f32> {
    let loss = gradients::<M>(params, engine, images, labels)?;
    opt.update(params, &engine.grads);
    engine.step += 1;
    Ok(loss)
}

#[cfg(test)]
mod tests {
    use super::outside;

    #[test]
    fn outside_skips_exactly_the_deferred_ranges() {
        let parts = |from, to, skip: &[(usize, usize)]| outside(from, to, skip).collect::<Vec<_>>();
        assert_eq!(parts(0, 10, &[]), [(0, 10)]);
        assert_eq!(parts(0, 10, &[(2, 4), (6, 7)]), [(0, 2), (4, 6), (7, 10)]);
        assert_eq!(parts(3, 10, &[(0, 5)]), [(5, 10)]);
        assert_eq!(parts(3, 10, &[(0, 12)]), []);
        assert_eq!(parts(3, 10, &[(0, 2), (8, 20)]), [(3, 8)]);
        assert_eq!(parts(3, 10, &[(10, 20)]), [(3, 10)]);
    }
}
