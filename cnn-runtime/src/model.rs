//! The network type behind every struct that `cnn!` declares: it owns the
//! parameters and the engine's state, and provides everything a network
//! does (`new`, `predict`, `save`, `load`, `train_step`, `fit`,
//! `evaluate`). The macro emits only the network's [`Spec`] and its types.

use crate::batch::{Batch, Network};
use crate::checkpoint::{self, TensorFile};
use crate::data::Dataset;
use crate::engine::{self, Classifier, Mode, Spec, Workspace};
use crate::error::{Error, Result};
use crate::history::History;
use crate::info::TensorInfo;
use crate::init::init_params;
use crate::kernels::dropout::DropoutKey;
use crate::optim::Optimizer;
use crate::rng::hash2;
use crate::train::{self, Evaluation, FitOptions};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Mutex;

/// Images per inference pass in `predict`: bounds the memory that the
/// whole-batch stages take, whatever the number of images asked for.
pub const PREDICT_BATCH: usize = 64;

/// Training state beside the weights: workspaces and the gradient
/// (allocated for the largest batch seen, then reused), the step count
/// and the dropout seed.
pub struct Engine {
    train: Option<Workspace>,
    /// Workspaces for inference, which runs on `&self`.
    spare: Mutex<Vec<Workspace>>,
    grads: Vec<f32>,
    /// Offsets of the trainable tensors that the step under way leaves
    /// where they are (see [`Optimizer::next_multipliers`]).
    skipped: Vec<usize>,
    /// Training steps taken; with the seed, it keys the dropout masks.
    pub step: u64,
    pub seed: u64,
    /// Dropout in training; off reproduces Keras's references, which take
    /// gradients with dropout as the identity. BatchNormalization's mode
    /// is not this switch: it follows [`Mode`].
    pub dropout: bool,
    /// Images of the last batch whose top class was their label.
    pub last_correct: usize,
    /// The loss's `label_smoothing` (Keras's `CategoricalCrossentropy`).
    label_smoothing: f32,
}

impl Engine {
    pub fn new(seed: u64) -> Self {
        Engine {
            train: None,
            spare: Mutex::new(Vec::new()),
            grads: Vec::new(),
            skipped: Vec::new(),
            step: 0,
            seed: hash2(seed, 0x64726f70),
            dropout: true,
            last_correct: 0,
            label_smoothing: 0.0,
        }
    }

    /// The gradient of the last `gradients` or `train_step` call, over the
    /// trainable parameters.
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    fn key(&self) -> Option<DropoutKey> {
        self.dropout.then_some(DropoutKey { seed: self.seed, step: self.step })
    }
}

/// A copy keeps the step count, seed and dropout setting; workspaces are
/// scratch and are allocated anew when the copy first runs.
impl Clone for Engine {
    fn clone(&self) -> Self {
        Engine { step: self.step, seed: self.seed, dropout: self.dropout, ..Engine::new(0) }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Engine").field("step", &self.step).field("dropout", &self.dropout).finish()
    }
}

/// A network declared by `cnn!`: its weights, flat, in [`Spec::TENSORS`]
/// order, and its engine.
pub struct Model<S: Spec> {
    params: Vec<f32>,
    engine: Engine,
    spec: PhantomData<fn() -> S>,
}

impl<S: Spec> Clone for Model<S> {
    fn clone(&self) -> Self {
        Model { params: self.params.clone(), engine: self.engine.clone(), spec: PhantomData }
    }
}

impl<S: Spec> std::fmt::Debug for Model<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(S::NAME).field("params", &self.params.len()).field("engine", &self.engine).finish()
    }
}

/// Runs a whole pass on one of rayon's threads. Called from outside the
/// pool, each of the pass's dozens of parallel stages would otherwise
/// enter it on its own, blocking the caller and waking a worker every
/// time (and rayon's injector allocates a block per 63 such entries).
fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

fn check_images<S: Spec>(images: &[f32]) -> Result<usize> {
    if !images.len().is_multiple_of(S::INPUT_LEN) {
        return Err(Error::Input(format!(
            "{}: a batch of {:?} images needs a multiple of {} values (NHWC), got {}",
            S::NAME,
            S::INPUT_SHAPE,
            S::INPUT_LEN,
            images.len()
        )));
    }
    Ok(images.len() / S::INPUT_LEN)
}

fn check_batch<S: Spec>(images: &[f32], labels: &[u8]) -> Result<usize> {
    let n = check_images::<S>(images)?;
    if n != labels.len() || n == 0 {
        return Err(Error::Input(format!(
            "{}: {} images but {} labels; a training batch needs one label per image and at least one image",
            S::NAME,
            n,
            labels.len()
        )));
    }
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= S::OUTPUT_LEN) {
        return Err(Error::Input(format!(
            "{}: label {} (image {}) is out of range for {} classes",
            S::NAME,
            l,
            i,
            S::OUTPUT_LEN
        )));
    }
    Ok(n)
}

impl<S: Spec> Model<S> {
    /// Keras's initializers as the layer list names them (by default
    /// `glorot_uniform` kernels and zero biases; BatchNormalization's
    /// `gamma` and moving variance ones). The same seed gives the same weights.
    pub fn new(seed: u64) -> Self {
        Model::from_params(init_params(S::TENSORS, S::TOTAL_PARAMS, seed), Engine::new(seed))
    }

    fn from_params(params: Vec<f32>, engine: Engine) -> Self {
        Model { params, engine, spec: PhantomData }
    }

    /// Reads weights written by [`Self::save`], by Keras or by PyTorch
    /// under the same names and layouts. A missing tensor, a wrong shape
    /// or dtype, or a truncated file is an error naming the file and tensor.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let file = TensorFile::open(path)?;
        Ok(Model::from_params(file.params(S::TENSORS, S::TOTAL_PARAMS)?, Engine::new(0)))
    }

    /// Writes every tensor as safetensors in Keras's names and layouts
    /// (`{layer}.kernel`, `.bias`, `.gamma`, `.beta`, `.moving_mean`,
    /// `.moving_variance`).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let metadata = HashMap::from([("network".to_string(), S::NAME.to_string())]);
        checkpoint::write(path.as_ref(), &checkpoint::named_params(S::TENSORS, &self.params), metadata)
    }

    /// All parameters, flat, in [`Spec::TENSORS`] order; the trainable
    /// ones first.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// One tensor by name (`conv2d_1.kernel`), in Keras's layout.
    pub fn tensor(&self, name: &str) -> Option<&[f32]> {
        S::TENSORS.iter().find(|t| t.name == name).map(|t| &self.params[t.range()])
    }

    /// Sets one tensor from code, in Keras's layout (`[kh, kw, in, out]`
    /// for a Conv2D kernel): airbench initializes its frozen whitening
    /// layer this way. An unknown name, or values of another length, is an
    /// error naming the tensor and its shape, and changes nothing.
    pub fn set_tensor(&mut self, name: &str, values: &[f32]) -> Result<()> {
        let Some(t) = S::TENSORS.iter().find(|t| t.name == name) else {
            let names: Vec<&str> = S::TENSORS.iter().map(|t| t.name).collect();
            return Err(Error::Input(format!(
                "{} has no tensor `{name}`; its tensors are {}",
                S::NAME,
                names.join(", ")
            )));
        };
        if values.len() != t.len {
            return Err(Error::Input(format!(
                "tensor `{name}` has shape {:?} ({} values), but {} values were given",
                t.shape,
                t.len,
                values.len()
            )));
        }
        self.params[t.range()].copy_from_slice(values);
        Ok(())
    }

    /// One value per trainable parameter, `rule(tensor)` for each value of
    /// each trainable tensor, in the order of the gradient: per-tensor
    /// learning-rate multipliers for [`crate::Sgd::lr_multipliers`]
    /// (airbench: 64 for every `.beta`, 1 elsewhere).
    pub fn tensor_multipliers(&self, rule: impl Fn(&TensorInfo) -> f32) -> Vec<f32> {
        let mut out = vec![1.0; S::TRAINABLE_PARAMS];
        for t in S::TENSORS.iter().filter(|t| t.trainable) {
            out[t.range()].fill(rule(t));
        }
        out
    }

    /// Training state beside the weights: step count, dropout seed.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Dropout while training (on by default). Off, a training step
    /// computes what Keras's reference gradients do. It does not change
    /// BatchNormalization, which uses batch statistics in every training pass.
    pub fn set_dropout(&mut self, enabled: bool) {
        self.engine.dropout = enabled;
    }

    /// The loss's label smoothing, as Keras's
    /// `CategoricalCrossentropy(label_smoothing = s)`: training and
    /// evaluation compare the output with `onehot (1 - s) + s / classes`.
    /// 0 (the default) is plain categorical cross-entropy.
    ///
    /// # Panics
    /// If `s` is not in [0, 1].
    pub fn set_label_smoothing(&mut self, s: f32) {
        assert!((0.0..=1.0).contains(&s), "label_smoothing must be in [0, 1], got {s}");
        self.engine.label_smoothing = s;
    }

    /// The loss's label smoothing (see [`Self::set_label_smoothing`]).
    pub fn label_smoothing(&self) -> f32 {
        self.engine.label_smoothing
    }

    /// Inference on `images.len() / INPUT_LEN` NHWC images (dropout off,
    /// BatchNormalization's moving statistics): `n * OUTPUT_LEN` values.
    ///
    /// # Panics
    /// If `images.len()` is not a multiple of the input image's length.
    pub fn predict(&self, images: &[f32]) -> Vec<f32> {
        self.try_predict(images).unwrap_or_else(|e| panic!("{}", e))
    }

    /// [`Self::predict`], with bad input as an error.
    pub fn try_predict(&self, images: &[f32]) -> Result<Vec<f32>> {
        let n = check_images::<S>(images)?;
        let mut out = vec![0.0; n * S::OUTPUT_LEN];
        if n == 0 {
            return Ok(out);
        }
        // A panic elsewhere cannot leave the list of spares half-updated.
        let spare = self.engine.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut ws = spare.unwrap_or_else(|| Workspace::new(S::NODES, PREDICT_BATCH, false));
        on_pool(|| {
            engine::prepare(S::NODES, &self.params, &mut ws);
            for (x, y) in images.chunks(PREDICT_BATCH * S::INPUT_LEN).zip(out.chunks_mut(PREDICT_BATCH * S::OUTPUT_LEN))
            {
                let m = x.len() / S::INPUT_LEN;
                engine::forward(S::NODES, &self.params, &mut ws, x, m, Mode::Inference, None);
                y.copy_from_slice(ws.result(S::NODES, x, m));
            }
        });
        self.engine.spare.lock().unwrap_or_else(|e| e.into_inner()).push(ws);
        Ok(out)
    }

    /// Every layer's output for `images`, in layer order, in `mode`
    /// (training: BatchNormalization on the batch's statistics, which it
    /// does not fold into the moving ones; dropout as the engine's switch
    /// says).
    pub fn layer_outputs(&self, images: &[f32], mode: Mode) -> Result<Vec<Vec<f32>>> {
        let n = check_images::<S>(images)?;
        let mut ws = Workspace::new(S::NODES, n, mode == Mode::Training);
        let key = if mode == Mode::Training { self.engine.key() } else { None };
        on_pool(|| {
            engine::prepare(S::NODES, &self.params, &mut ws);
            engine::forward(S::NODES, &self.params, &mut ws, images, n, mode, key)
        });
        Ok(ws.outputs(S::NODES, images, n))
    }

    /// The training workspace, grown to `n` images if needed.
    fn training_workspace(&mut self, n: usize) -> Workspace {
        match self.engine.train.take() {
            Some(ws) if ws.capacity() >= n => ws,
            _ => Workspace::new(S::NODES, n, true),
        }
    }
}

impl<S: Classifier> Model<S> {
    /// Forward in training mode and backward on one batch; leaves the
    /// gradient in the engine and returns the mean loss (cross-entropy
    /// plus the `l2` penalties) and the workspace, which holds the
    /// batch's statistics. A trainable tensor whose every value has a
    /// learning-rate multiplier of 0 in `multipliers` (the next update's)
    /// gets no gradient computed, and zeros in its place.
    fn forward_backward(
        &mut self,
        images: &[f32],
        labels: &[u8],
        multipliers: Option<&[f32]>,
    ) -> Result<(f32, Workspace)> {
        let n = check_batch::<S>(images, labels)?;
        let mut ws = self.training_workspace(n);
        let key = self.engine.key();
        engine::prepare(S::NODES, &self.params, &mut ws);
        engine::forward(S::NODES, &self.params, &mut ws, images, n, Mode::Training, key);
        self.engine.grads.resize(S::TRAINABLE_PARAMS, 0.0);
        // A length that does not fit is the optimizer's update to refuse.
        let still = |t: &&TensorInfo| {
            multipliers.is_some_and(|k| k.len() == S::TRAINABLE_PARAMS && k[t.range()].iter().all(|&k| k == 0.0))
        };
        self.engine.skipped.clear();
        self.engine.skipped.extend(S::TENSORS.iter().filter(|t| t.trainable).filter(still).map(|t| t.offset));
        let (loss, correct) = engine::backward(
            S::NODES,
            &self.params,
            &mut ws,
            images,
            labels,
            n,
            &mut self.engine.grads,
            &self.engine.skipped,
            key.is_some(),
            self.engine.label_smoothing,
        );
        let penalty = engine::penalties(S::TENSORS, &self.params, &mut self.engine.grads);
        for t in S::TENSORS.iter().filter(|t| self.engine.skipped.contains(&t.offset)) {
            self.engine.grads[t.range()].fill(0.0);
        }
        self.engine.last_correct = correct;
        Ok(((loss / n as f64 + penalty) as f32, ws))
    }

    /// The mean loss and its gradient for every trainable parameter (in
    /// [`Spec::TENSORS`] order), in training mode, without updating
    /// anything: not the weights, not the moving statistics.
    pub fn gradients(&mut self, images: &[f32], labels: &[u8]) -> Result<(f32, &[f32])> {
        let (loss, ws) = on_pool(|| self.forward_backward(images, labels, None))?;
        self.engine.train = Some(ws);
        Ok((loss, &self.engine.grads))
    }

    /// One training step on a batch (NHWC images, class indices): forward
    /// in training mode (BatchNormalization's moving statistics take the
    /// batch's in), backward, one optimizer update of the trainable
    /// tensors. Returns the batch's mean loss before the update, `l2`
    /// penalties included, as Keras reports it.
    ///
    /// # Panics
    /// If `images` is not `labels.len()` images of the input shape, or a
    /// label is not below the number of classes.
    pub fn train_step(&mut self, images: &[f32], labels: &[u8], opt: &mut (impl Optimizer + ?Sized)) -> f32 {
        self.try_train_step(images, labels, opt).unwrap_or_else(|e| panic!("{}", e))
    }

    /// [`Self::train_step`], with bad input as an error.
    pub fn try_train_step(
        &mut self,
        images: &[f32],
        labels: &[u8],
        opt: &mut (impl Optimizer + ?Sized),
    ) -> Result<f32> {
        on_pool(|| {
            let (loss, ws) = self.forward_backward(images, labels, opt.next_multipliers())?;
            engine::update_moving_statistics(S::NODES, &mut self.params, &ws);
            self.engine.train = Some(ws);
            opt.update(&mut self.params[..S::TRAINABLE_PARAMS], &self.engine.grads);
            opt.after_step(&mut self.params, S::TRAINABLE_PARAMS);
            self.engine.step += 1;
            Ok(loss)
        })
    }

    /// Keras's `model.fit`: epochs of shuffled batches of `train`,
    /// evaluated on `validation` after each; see [`FitOptions`].
    pub fn fit(
        &mut self,
        opt: &mut impl Optimizer,
        train: &Dataset,
        validation: Option<&Dataset>,
        options: &FitOptions,
    ) -> Result<History> {
        train::fit(self, opt, train, validation, options)
    }

    /// Keras's `model.evaluate`: mean loss and accuracy on `data`, in inference mode.
    pub fn evaluate(&self, data: &Dataset, batch_size: usize) -> Result<Evaluation> {
        train::evaluate(self, data, batch_size)
    }

    /// [`Self::evaluate`] with test-time augmentation (see [`train::Tta`]).
    pub fn evaluate_tta(&self, data: &Dataset, batch_size: usize, tta: train::Tta) -> Result<Evaluation> {
        train::evaluate_tta(self, data, batch_size, tta)
    }
}

impl<S: Spec> Network for Model<S> {
    type Input = Batch<S::InputShape>;
    type Output = Batch<S::OutputShape>;

    fn forward(&self, x: &Self::Input) -> Self::Output {
        Batch::from_vec(self.predict(x.as_slice())).expect("the output holds whole outputs")
    }
}
