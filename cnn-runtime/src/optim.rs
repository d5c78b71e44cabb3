//! Optimizers with Keras's semantics, updating the network's flat
//! parameter vector from the batch's flat gradient. Updates are
//! element-wise, so one flat update equals Keras's per-variable ones.

use crate::error::{Error, Result};
use rayon::prelude::*;

/// Updates parameters from gradients; keeps its own state (moments,
/// iteration count), which checkpoints save and restore.
pub trait Optimizer: Send {
    /// One step: `params -= f(grads)`.
    fn update(&mut self, params: &mut [f32], grads: &[f32]);
    /// Steps taken so far.
    fn iterations(&self) -> u64;
    /// The base learning rate (before RMSprop's own `decay`).
    fn learning_rate(&self) -> f32;
    /// Sets the base learning rate, as a Keras schedule or callback does.
    fn set_learning_rate(&mut self, lr: f32);
    /// After each step, with the whole network: `network` holds every
    /// parameter in `Spec::TENSORS` order, the `trainable` values that
    /// `update` saw first, then the non-trainable ones (BatchNormalization's
    /// moving statistics, frozen layers). [`Lookahead`] averages here,
    /// because airbench's average covers the moving statistics too; the
    /// others do nothing. `Model::train_step` calls it after `update`.
    fn after_step(&mut self, _network: &mut [f32], _trainable: usize) {}
    /// At the end of each epoch of `fit`, with the whole network as in
    /// `after_step`: [`Lookahead::sync_each_epoch`] puts its slow weights
    /// back, as airbench does; the others do nothing.
    fn end_epoch(&mut self, _network: &mut [f32], _trainable: usize) {}
    /// After the last step of `fit` (Keras's `finalize_variable_values`),
    /// with the whole network as in `after_step`: [`Ema`] and [`Lookahead`]
    /// leave their average in the parameters; the others do nothing.
    fn finalize(&mut self, _network: &mut [f32], _trainable: usize) {}
    /// The learning-rate multiplier of each trainable value in the next
    /// [`Self::update`], where not all 1 ([`Sgd::lr_multipliers`]). A
    /// tensor whose values all have 0 does not move, so `train_step` does
    /// not compute its gradient (nor, before the first layer that learns,
    /// any gradient at all), as PyTorch's autograd skips a tensor with
    /// `requires_grad = False`: airbench's whitening layer after its bias
    /// stops learning. The others return `None`.
    fn next_multipliers(&self) -> Option<&[f32]> {
        None
    }
    /// Named state vectors (each as long as the parameters, or empty before the first step).
    fn state(&self) -> Vec<(&'static str, &[f32])>;
    /// Restores what `state` returned, after `iterations` steps.
    fn set_state(&mut self, iterations: u64, state: Vec<(String, Vec<f32>)>) -> Result<()>;
}

/// Slices of the parameters updated in parallel; element-wise updates give
/// the same bits whatever the split.
const SPLIT: usize = 1 << 14;

fn take_state(names: &[&str], state: Vec<(String, Vec<f32>)>) -> Result<Vec<Vec<f32>>> {
    names
        .iter()
        .map(|name| {
            state
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| Error::Input(format!("optimizer state `{name}` is missing")))
        })
        .collect()
}

/// Removes the state vector `name` that a wrapper ([`Ema`], [`Lookahead`])
/// keeps beside its inner optimizer's, leaving the rest for the inner one.
fn take_wrapper_state(name: &str, state: &mut Vec<(String, Vec<f32>)>) -> Result<Vec<f32>> {
    let at = state
        .iter()
        .position(|(n, _)| n == name)
        .ok_or_else(|| Error::Input(format!("optimizer state `{name}` is missing")))?;
    Ok(state.remove(at).1)
}

/// Keras 2's RMSprop, as the seed uses it (`rmsprop(lr=0.0001, decay=1e-6)`):
/// `a = rho a + (1 - rho) g^2`, `p -= lr_t g / (sqrt(a) + eps)`,
/// `lr_t = lr / (1 + decay * iterations)`.
#[derive(Clone, Debug)]
pub struct RmsProp {
    pub lr: f32,
    pub rho: f32,
    pub epsilon: f32,
    pub decay: f32,
    iterations: u64,
    accumulators: Vec<f32>,
}

impl RmsProp {
    /// rho 0.9, epsilon 1e-7, no decay.
    pub fn new(lr: f32) -> Self {
        RmsProp { lr, rho: 0.9, epsilon: 1e-7, decay: 0.0, iterations: 0, accumulators: Vec::new() }
    }
    pub fn decay(mut self, decay: f32) -> Self {
        self.decay = decay;
        self
    }
    pub fn rho(mut self, rho: f32) -> Self {
        self.rho = rho;
        self
    }
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }
    /// The learning rate of the next step.
    pub fn current_lr(&self) -> f32 {
        self.lr / (1.0 + self.decay * self.iterations as f32)
    }
}

impl Optimizer for RmsProp {
    fn update(&mut self, params: &mut [f32], grads: &[f32]) {
        assert_eq!(params.len(), grads.len(), "RmsProp: parameters and gradients differ in length");
        self.accumulators.resize(params.len(), 0.0);
        let (lr, rho, eps) = (self.current_lr(), self.rho, self.epsilon);
        params
            .par_chunks_mut(SPLIT)
            .zip(grads.par_chunks(SPLIT))
            .zip(self.accumulators.par_chunks_mut(SPLIT))
            .for_each(|((p, g), a)| {
                for ((p, g), a) in p.iter_mut().zip(g).zip(a) {
                    *a = rho * *a + (1.0 - rho) * g * g;
                    *p -= lr * g / (a.sqrt() + eps);
                }
            });
        self.iterations += 1;
    }
    fn iterations(&self) -> u64 {
        self.iterations
    }
    fn learning_rate(&self) -> f32 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn state(&self) -> Vec<(&'static str, &[f32])> {
        vec![("rmsprop.accumulators", &self.accumulators)]
    }
    fn set_state(&mut self, iterations: u64, state: Vec<(String, Vec<f32>)>) -> Result<()> {
        let [acc] = <[Vec<f32>; 1]>::try_from(take_state(&["rmsprop.accumulators"], state)?).expect("one name");
        self.accumulators = acc;
        self.iterations = iterations;
        Ok(())
    }
}

/// How [`Sgd`] applies its rate and its weight decay. The two agree at a
/// constant rate without decay; under a schedule, Keras's velocity keeps
/// the rates of the steps it was made of, while PyTorch's takes the
/// current rate for all of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SgdForm {
    /// Keras's: `v = m v - lr g`, `p += v` (Nesterov: `p += m v - lr g`),
    /// and the weight decay decoupled, `p -= lr wd p` before each step.
    #[default]
    Keras,
    /// `torch.optim.SGD`'s (dampening 0): the weight decay as L2 in the
    /// gradient, `g += wd p`, then `b = m b + g`, `p -= lr b` (Nesterov:
    /// `p -= lr (g + m b)`), so the decay goes through the momentum. With
    /// rate multipliers, a value's L2 term is `wd / k`: its decay keeps
    /// the base rate, as PyTorch's parameter groups give airbench's
    /// biases `weight_decay = wd / lr_biases`.
    PyTorch,
}

impl SgdForm {
    /// The name of the momentum buffer in a checkpoint: each form its own,
    /// so that resuming under the other form is an error, not a silent mix.
    /// Keras's keeps the name that checkpoints had before PyTorch's form.
    fn state_name(self) -> &'static str {
        match self {
            SgdForm::Keras => "sgd.velocity",
            SgdForm::PyTorch => "sgd.momentum_buffer",
        }
    }
}

/// Keras's SGD: `v = momentum v - lr g`; `p += v` (or, Nesterov,
/// `p += momentum v - lr g`). Defaults: lr 0.01, no momentum, no weight
/// decay.
///
/// `weight_decay(wd)` is Keras 3's form, decoupled from the gradient:
/// before each step `p -= lr wd p`, with the step's base rate (after any
/// schedule) and not through the momentum. `form(SgdForm::PyTorch)` is
/// `torch.optim.SGD` instead (see [`SgdForm`]), for recipes written for
/// it. `lr_multipliers` scales the
/// rate of each trainable value (a parameter group's rate, as airbench
/// gives BatchNormalization's biases 64x the rate of the kernels); the
/// weight decay stays at the base rate, as in airbench, so a larger rate
/// for a group does not decay it faster. A multiplier of 0 freezes its
/// value: no step, no decay, its velocity kept (PyTorch's
/// `requires_grad = False`); where a whole tensor has 0, `train_step` does
/// not compute its gradient ([`Optimizer::next_multipliers`]).
/// `lr_multipliers_from(step, v)` changes them from a given step on, as
/// airbench stops training its whitening bias after three epochs.
#[derive(Clone, Debug)]
pub struct Sgd {
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: bool,
    pub weight_decay: f32,
    pub form: SgdForm,
    /// From each step on (steps taken so far, in increasing order), one
    /// multiplier per trainable value; none for 1 everywhere.
    multipliers: Vec<(u64, Vec<f32>)>,
    iterations: u64,
    velocity: Vec<f32>,
}

impl Default for Sgd {
    fn default() -> Self {
        Sgd::new(0.01)
    }
}

impl Sgd {
    pub fn new(lr: f32) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            form: SgdForm::Keras,
            multipliers: Vec::new(),
            iterations: 0,
            velocity: Vec::new(),
        }
    }
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// Keras 3's `weight_decay`: `p -= lr wd p` before each step (in
    /// [`SgdForm::PyTorch`], L2 in the gradient).
    pub fn weight_decay(mut self, weight_decay: f32) -> Self {
        self.weight_decay = weight_decay;
        self
    }
    pub fn form(mut self, form: SgdForm) -> Self {
        self.form = form;
        self
    }
    /// A learning-rate multiplier for every trainable value, as
    /// [`crate::Model::tensor_multipliers`] builds them from a rule per
    /// tensor. The first update checks the length.
    pub fn lr_multipliers(self, multipliers: Vec<f32>) -> Self {
        self.lr_multipliers_from(0, multipliers)
    }
    /// The multipliers from the update after `step` steps on, until a later
    /// call's step.
    pub fn lr_multipliers_from(mut self, step: u64, multipliers: Vec<f32>) -> Self {
        self.multipliers.retain(|(from, _)| *from != step);
        let at = self.multipliers.partition_point(|(from, _)| *from < step);
        self.multipliers.insert(at, (step, multipliers));
        self
    }
}

/// The multipliers in force after `step` steps: the last set from a step
/// at or before it.
fn multipliers_at(multipliers: &[(u64, Vec<f32>)], step: u64) -> Option<&[f32]> {
    multipliers.iter().rev().find(|(from, _)| *from <= step).map(|(_, k)| &k[..])
}

impl Optimizer for Sgd {
    fn update(&mut self, params: &mut [f32], grads: &[f32]) {
        assert_eq!(params.len(), grads.len(), "Sgd: parameters and gradients differ in length");
        let multipliers = multipliers_at(&self.multipliers, self.iterations);
        assert!(
            multipliers.is_none_or(|k| k.len() == params.len()),
            "Sgd: {} learning-rate multipliers for {} trainable values",
            multipliers.map_or(0, |k| k.len()),
            params.len()
        );
        self.velocity.resize(params.len(), 0.0);
        let (lr, m, nesterov, wd) = (self.lr, self.momentum, self.nesterov, self.weight_decay);
        let keep = 1.0 - lr * wd;
        let pytorch = self.form == SgdForm::PyTorch;
        // `k` is the value's multiplier, `lr` the step's rate times it.
        let step = |p: &mut f32, g: f32, v: &mut f32, lr: f32, k: f32| {
            if pytorch {
                let g = g + wd / k * *p;
                *v = m * *v + g;
                *p -= lr * if nesterov { g + m * *v } else { *v };
            } else {
                *p *= keep;
                *v = m * *v - lr * g;
                *p += if nesterov { m * *v - lr * g } else { *v };
            }
        };
        let chunks = params.par_chunks_mut(SPLIT).zip(grads.par_chunks(SPLIT)).zip(self.velocity.par_chunks_mut(SPLIT));
        match multipliers {
            None => chunks
                .for_each(|((p, g), v)| p.iter_mut().zip(g).zip(v).for_each(|((p, &g), v)| step(p, g, v, lr, 1.0))),
            Some(k) => chunks.zip(k.par_chunks(SPLIT)).for_each(|(((p, g), v), k)| {
                p.iter_mut()
                    .zip(g)
                    .zip(v)
                    .zip(k)
                    .filter(|(_, &k)| k != 0.0)
                    .for_each(|(((p, &g), v), &k)| step(p, g, v, lr * k, k))
            }),
        }
        self.iterations += 1;
    }
    fn iterations(&self) -> u64 {
        self.iterations
    }
    fn learning_rate(&self) -> f32 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn next_multipliers(&self) -> Option<&[f32]> {
        multipliers_at(&self.multipliers, self.iterations)
    }
    fn state(&self) -> Vec<(&'static str, &[f32])> {
        vec![(self.form.state_name(), &self.velocity)]
    }
    fn set_state(&mut self, iterations: u64, state: Vec<(String, Vec<f32>)>) -> Result<()> {
        // The two forms' buffers hold different things (Keras's the rates
        // times the gradients, PyTorch's the gradients), so a checkpoint of
        // one cannot continue under the other.
        let other = match self.form {
            SgdForm::Keras => SgdForm::PyTorch,
            SgdForm::PyTorch => SgdForm::Keras,
        };
        let mine = self.form.state_name();
        if state.iter().any(|(n, _)| n == other.state_name()) && !state.iter().any(|(n, _)| n == mine) {
            return Err(Error::Input(format!(
                "optimizer state `{}` is SGD in {other:?}'s form, and this optimizer is in {:?}'s \
                 (`Sgd::form`): the two momentum buffers hold different things",
                other.state_name(),
                self.form
            )));
        }
        let [v] = <[Vec<f32>; 1]>::try_from(take_state(&[mine], state)?).expect("one name");
        self.velocity = v;
        self.iterations = iterations;
        Ok(())
    }
}

/// Keras's Adam: lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7;
/// `lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)`, `p -= lr_t m / (sqrt(v) + eps)`.
#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    iterations: u64,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Default for Adam {
    fn default() -> Self {
        Adam::new(0.001)
    }
}

impl Adam {
    pub fn new(lr: f32) -> Self {
        Adam { lr, beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7, iterations: 0, m: Vec::new(), v: Vec::new() }
    }
    pub fn betas(mut self, beta_1: f32, beta_2: f32) -> Self {
        self.beta_1 = beta_1;
        self.beta_2 = beta_2;
        self
    }
    pub fn epsilon(mut self, epsilon: f32) -> Self {
        self.epsilon = epsilon;
        self
    }
}

impl Optimizer for Adam {
    fn update(&mut self, params: &mut [f32], grads: &[f32]) {
        assert_eq!(params.len(), grads.len(), "Adam: parameters and gradients differ in length");
        self.m.resize(params.len(), 0.0);
        self.v.resize(params.len(), 0.0);
        let t = (self.iterations + 1) as i32;
        let (b1, b2, eps) = (self.beta_1, self.beta_2, self.epsilon);
        let lr = self.lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        params
            .par_chunks_mut(SPLIT)
            .zip(grads.par_chunks(SPLIT))
            .zip(self.m.par_chunks_mut(SPLIT).zip(self.v.par_chunks_mut(SPLIT)))
            .for_each(|((p, g), (m, v))| {
                for (((p, g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                    *m += (g - *m) * (1.0 - b1);
                    *v += (g * g - *v) * (1.0 - b2);
                    *p -= lr * *m / (v.sqrt() + eps);
                }
            });
        self.iterations += 1;
    }
    fn iterations(&self) -> u64 {
        self.iterations
    }
    fn learning_rate(&self) -> f32 {
        self.lr
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn state(&self) -> Vec<(&'static str, &[f32])> {
        vec![("adam.m", &self.m), ("adam.v", &self.v)]
    }
    fn set_state(&mut self, iterations: u64, state: Vec<(String, Vec<f32>)>) -> Result<()> {
        let [m, v] = <[Vec<f32>; 2]>::try_from(take_state(&["adam.m", "adam.v"], state)?).expect("two names");
        self.m = m;
        self.v = v;
        self.iterations = iterations;
        Ok(())
    }
}

/// Keras 3's `use_ema = True` on any optimizer: after each step,
/// `average = m average + (1 - m) params` with `m = ema_momentum` (0 on the
/// first step, so the average starts at the first step's weights); every
/// `ema_overwrite_frequency` steps, if set, the parameters take the
/// average's values; and at the end of `fit` ([`Optimizer::finalize`]) they
/// take them for good. The average is part of the optimizer's state, so
/// checkpoints carry it.
#[derive(Clone, Debug)]
pub struct Ema<O> {
    pub inner: O,
    pub momentum: f32,
    pub overwrite_frequency: Option<u64>,
    average: Vec<f32>,
}

impl<O: Optimizer> Ema<O> {
    /// Keras's default `ema_momentum = 0.99`, no overwriting.
    pub fn new(inner: O) -> Self {
        Ema { inner, momentum: 0.99, overwrite_frequency: None, average: Vec::new() }
    }
    pub fn momentum(mut self, momentum: f32) -> Self {
        self.momentum = momentum;
        self
    }
    pub fn overwrite_frequency(mut self, steps: u64) -> Self {
        self.overwrite_frequency = Some(steps).filter(|&s| s > 0);
        self
    }
    /// The average so far (empty before the first step).
    pub fn average(&self) -> &[f32] {
        &self.average
    }
}

impl<O: Optimizer> Optimizer for Ema<O> {
    fn update(&mut self, params: &mut [f32], grads: &[f32]) {
        let step = self.inner.iterations();
        self.inner.update(params, grads);
        self.average.resize(params.len(), 0.0);
        let m = if step == 0 { 0.0 } else { self.momentum };
        let overwrite = self.overwrite_frequency.is_some_and(|f| (step + 1).is_multiple_of(f));
        params.par_chunks_mut(SPLIT).zip(self.average.par_chunks_mut(SPLIT)).for_each(|(p, a)| {
            for (p, a) in p.iter_mut().zip(a) {
                *a = m * *a + (1.0 - m) * *p;
                if overwrite {
                    *p = *a;
                }
            }
        });
    }
    fn iterations(&self) -> u64 {
        self.inner.iterations()
    }
    fn learning_rate(&self) -> f32 {
        self.inner.learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.inner.set_learning_rate(lr);
    }
    fn after_step(&mut self, network: &mut [f32], trainable: usize) {
        self.inner.after_step(network, trainable);
    }
    fn end_epoch(&mut self, network: &mut [f32], trainable: usize) {
        self.inner.end_epoch(network, trainable);
    }
    fn next_multipliers(&self) -> Option<&[f32]> {
        self.inner.next_multipliers()
    }
    fn finalize(&mut self, network: &mut [f32], trainable: usize) {
        self.inner.finalize(network, trainable);
        if self.average.len() == trainable {
            network[..trainable].copy_from_slice(&self.average);
        }
    }
    fn state(&self) -> Vec<(&'static str, &[f32])> {
        let mut state = self.inner.state();
        state.push(("ema.average", &self.average));
        state
    }
    fn set_state(&mut self, iterations: u64, mut state: Vec<(String, Vec<f32>)>) -> Result<()> {
        self.average = take_wrapper_state("ema.average", &mut state)?;
        self.inner.set_state(iterations, state)
    }
}

/// airbench's lookahead on any optimizer: from step `start` on, every
/// `every` steps, the slow weights move towards the parameters,
/// `slow += (1 - rho) (params - slow)` with `rho = decay(step)`, and the
/// parameters take the slow weights' values (the first time, the slow
/// weights start as a copy). [`Optimizer::finalize`] leaves the slow
/// weights in the parameters. airbench's decay rises over training,
/// `0.95^5 (step / total)^3`, to move fast early and average strongly at
/// the end. Its state (the slow weights) is checkpointed.
///
/// The average runs in [`Optimizer::after_step`], which sees the whole
/// network, so that [`Self::whole_network`] can take in the moving
/// statistics; `update` alone is the inner optimizer's step.
#[derive(Clone)]
pub struct Lookahead<O> {
    pub inner: O,
    pub every: u64,
    pub start: u64,
    /// Average the non-trainable values too (see [`Self::whole_network`]).
    pub whole_network: bool,
    /// Put the slow weights back at each epoch's end (see [`Self::sync_each_epoch`]).
    pub sync_each_epoch: bool,
    decay: std::sync::Arc<dyn Fn(u64) -> f32 + Send + Sync>,
    slow: Vec<f32>,
}

impl<O: std::fmt::Debug> std::fmt::Debug for Lookahead<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookahead")
            .field("inner", &self.inner)
            .field("every", &self.every)
            .field("start", &self.start)
            .field("whole_network", &self.whole_network)
            .field("sync_each_epoch", &self.sync_each_epoch)
            .finish()
    }
}

impl<O: Optimizer> Lookahead<O> {
    /// Every `every` steps from step `start` (counting steps taken, so the
    /// first update is step 1), with `decay(step)` the weight kept by the
    /// slow weights; the trainable values only, no sync at epochs' ends.
    pub fn new(inner: O, every: u64, start: u64, decay: impl Fn(u64) -> f32 + Send + Sync + 'static) -> Self {
        Lookahead {
            inner,
            every: every.max(1),
            start,
            whole_network: false,
            sync_each_epoch: false,
            decay: std::sync::Arc::new(decay),
            slow: Vec::new(),
        }
    }
    /// airbench94's: every 5 steps from `start`, `rho = 0.95^5 (step /
    /// total)^3`, over the whole network, synced at each epoch's end.
    pub fn airbench(inner: O, start: u64, total: u64) -> Self {
        let base = 0.95f64.powi(5);
        Lookahead::new(inner, 5, start, move |step| (base * (step as f64 / total.max(1) as f64).powi(3)) as f32)
            .whole_network(true)
            .sync_each_epoch(true)
    }
    /// Average every value of the network, the non-trainable ones too:
    /// BatchNormalization's moving statistics then come from many batches
    /// instead of the last few, as airbench averages its whole
    /// `state_dict` (PyTorch's `AveragedModel(use_buffers=True)`). Frozen
    /// values stay bitwise as they are: `slow += (1 - rho) (p - slow)`
    /// leaves `slow` when `p` equals it.
    pub fn whole_network(mut self, yes: bool) -> Self {
        self.whole_network = yes;
        self
    }
    /// At the end of each epoch, the parameters take the slow weights'
    /// values, dropping the steps since the last average, as airbench's
    /// loop does after every epoch.
    pub fn sync_each_epoch(mut self, yes: bool) -> Self {
        self.sync_each_epoch = yes;
        self
    }
    /// The slow weights (empty before the first lookahead step).
    pub fn slow(&self) -> &[f32] {
        &self.slow
    }
    /// The values this average covers.
    fn covered(&self, trainable: usize, total: usize) -> usize {
        if self.whole_network {
            total
        } else {
            trainable
        }
    }
    /// The parameters take the slow weights' values, where there are any.
    fn put_back(&self, network: &mut [f32], trainable: usize) {
        let n = self.covered(trainable, network.len());
        if self.slow.len() == n {
            network[..n].copy_from_slice(&self.slow);
        }
    }
}

impl<O: Optimizer> Optimizer for Lookahead<O> {
    fn update(&mut self, params: &mut [f32], grads: &[f32]) {
        self.inner.update(params, grads);
    }
    fn after_step(&mut self, network: &mut [f32], trainable: usize) {
        self.inner.after_step(network, trainable);
        let step = self.inner.iterations();
        if step < self.start || !step.is_multiple_of(self.every) {
            return;
        }
        let n = self.covered(trainable, network.len());
        let covered = &mut network[..n];
        if self.slow.len() != covered.len() {
            self.slow = covered.to_vec();
            return;
        }
        let rho = (self.decay)(step);
        covered.par_chunks_mut(SPLIT).zip(self.slow.par_chunks_mut(SPLIT)).for_each(|(p, s)| {
            for (p, s) in p.iter_mut().zip(s) {
                *s += (1.0 - rho) * (*p - *s);
                *p = *s;
            }
        });
    }
    fn end_epoch(&mut self, network: &mut [f32], trainable: usize) {
        self.inner.end_epoch(network, trainable);
        if self.sync_each_epoch {
            self.put_back(network, trainable);
        }
    }
    fn iterations(&self) -> u64 {
        self.inner.iterations()
    }
    fn learning_rate(&self) -> f32 {
        self.inner.learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.inner.set_learning_rate(lr);
    }
    fn next_multipliers(&self) -> Option<&[f32]> {
        self.inner.next_multipliers()
    }
    fn finalize(&mut self, network: &mut [f32], trainable: usize) {
        self.inner.finalize(network, trainable);
        self.put_back(network, trainable);
    }
    fn state(&self) -> Vec<(&'static str, &[f32])> {
        let mut state = self.inner.state();
        state.push(("lookahead.slow", &self.slow));
        state
    }
    fn set_state(&mut self, iterations: u64, mut state: Vec<(String, Vec<f32>)>) -> Result<()> {
        self.slow = take_wrapper_state("lookahead.slow", &mut state)?;
        self.inner.set_state(iterations, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keras 3's EMA after k steps of SGD (lr 0.1) on a constant gradient
    /// of 1, written out: the weights go 1 - 0.1 t, the average starts at
    /// the first step's weights and then follows a = 0.9 a + 0.1 w.
    #[test]
    fn ema_after_k_steps_matches_keras_recurrence() {
        let mut opt = Ema::new(Sgd::new(0.1)).momentum(0.9);
        let mut params = [1.0f32];
        let mut want_avg = 0.0f64;
        for step in 0..5u64 {
            opt.update(&mut params, &[1.0]);
            let w = 1.0 - 0.1 * (step + 1) as f64;
            want_avg = if step == 0 { w } else { 0.9 * want_avg + 0.1 * w };
            assert!((params[0] as f64 - w).abs() < 1e-6);
            assert!((opt.average()[0] as f64 - want_avg).abs() < 1e-6, "step {step}");
        }
        opt.finalize(&mut params, 1);
        assert!((params[0] as f64 - want_avg).abs() < 1e-6);
        // Overwriting every 2 steps: after steps 2 and 4 the weights are the average.
        let mut opt = Ema::new(Sgd::new(0.1)).momentum(0.5).overwrite_frequency(2);
        let mut params = [1.0f32];
        opt.update(&mut params, &[1.0]);
        assert_eq!(params[0], 0.9);
        opt.update(&mut params, &[1.0]);
        assert!((params[0] - (0.5 * 0.9 + 0.5 * 0.8)).abs() < 1e-6, "{}", params[0]);
    }

    /// Keras 3's SGD with `weight_decay`, written out for two values over
    /// three steps: decay with the base rate first, then Nesterov momentum
    /// with each value's own rate.
    #[test]
    fn sgd_weight_decay_and_multipliers_follow_keras_form() {
        let (lr, m, wd) = (0.1f64, 0.9f64, 0.01f64);
        let mult = [1.0f64, 64.0];
        let grads = [[0.5f32, -0.25], [0.1, 0.2], [-0.3, 0.4]];
        let mut opt = Sgd::new(lr as f32)
            .momentum(m as f32)
            .nesterov(true)
            .weight_decay(wd as f32)
            .lr_multipliers(vec![1.0, 64.0]);
        let mut params = [1.0f32, -2.0];
        let (mut p, mut v) = ([1.0f64, -2.0], [0.0f64; 2]);
        for g in grads {
            opt.update(&mut params, &g);
            for i in 0..2 {
                p[i] -= lr * wd * p[i];
                let lr_i = lr * mult[i];
                v[i] = m * v[i] - lr_i * g[i] as f64;
                p[i] += m * v[i] - lr_i * g[i] as f64;
            }
        }
        for i in 0..2 {
            assert!((params[i] as f64 - p[i]).abs() < 1e-5, "value {i}: {} vs {}", params[i], p[i]);
        }
        // Without multipliers, plain momentum and no decay: v = m v - lr g; p += v.
        let mut opt = Sgd::new(0.5).momentum(0.5);
        let mut q = [1.0f32];
        opt.update(&mut q, &[1.0]);
        opt.update(&mut q, &[1.0]);
        assert_eq!(q[0], 1.0 - 0.5 - (0.25 + 0.5));
    }

    /// `torch.optim.SGD`'s recurrence written out, Nesterov with weight
    /// decay, over a rate that changes every step, for a value at
    /// multiplier 1 and one at 64 (whose L2 term is wd / 64).
    #[test]
    fn sgd_pytorch_form_follows_torch_recurrence() {
        let (m, wd) = (0.85f64, 0.01f64);
        let mult = [1.0f64, 64.0];
        let mut opt = Sgd::new(0.1)
            .momentum(m as f32)
            .nesterov(true)
            .weight_decay(wd as f32)
            .form(SgdForm::PyTorch)
            .lr_multipliers(vec![1.0, 64.0]);
        let mut params = [1.0f32, -2.0];
        let (mut p, mut b) = ([1.0f64, -2.0], [0.0f64; 2]);
        for (t, (lr, g)) in [(0.1f64, [0.5f32, -0.25]), (0.2, [0.1, 0.2]), (0.05, [-0.3, 0.4])].into_iter().enumerate()
        {
            opt.set_learning_rate(lr as f32);
            opt.update(&mut params, &g);
            for i in 0..2 {
                let gi = g[i] as f64 + wd / mult[i] * p[i];
                b[i] = if t == 0 { gi } else { m * b[i] + gi };
                p[i] -= lr * mult[i] * (gi + m * b[i]);
            }
        }
        for i in 0..2 {
            assert!((params[i] as f64 - p[i]).abs() < 1e-5, "value {i}: {} vs {}", params[i], p[i]);
        }
        // At a constant rate without decay, the two forms take the same steps.
        let (mut keras, mut torch) = (
            Sgd::new(0.3).momentum(0.9).nesterov(true),
            Sgd::new(0.3).momentum(0.9).nesterov(true).form(SgdForm::PyTorch),
        );
        let (mut a, mut c) = ([1.0f32], [1.0f32]);
        for g in [0.5f32, -1.0, 2.0] {
            keras.update(&mut a, &[g]);
            torch.update(&mut c, &[g]);
            assert!((a[0] - c[0]).abs() < 1e-6, "{} vs {}", a[0], c[0]);
        }
    }

    /// A checkpoint's momentum buffer continues only under its own form:
    /// the other form's optimizer refuses it, naming both.
    #[test]
    fn sgd_state_resumes_only_in_its_own_form() {
        for (saved, resumed) in [(SgdForm::Keras, SgdForm::PyTorch), (SgdForm::PyTorch, SgdForm::Keras)] {
            let mut opt = Sgd::new(0.1).momentum(0.9).form(saved);
            let mut params = [1.0f32, 2.0];
            opt.update(&mut params, &[0.5, -0.5]);
            let state: Vec<(String, Vec<f32>)> =
                opt.state().into_iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect();
            let mut same = Sgd::new(0.1).momentum(0.9).form(saved);
            same.set_state(1, state.clone()).expect("the same form resumes");
            assert_eq!(same.velocity, opt.velocity);
            let err = Sgd::new(0.1).momentum(0.9).form(resumed).set_state(1, state).unwrap_err().to_string();
            assert!(err.contains(saved.state_name()) && err.contains(&format!("{resumed:?}")), "{err}");
        }
    }

    /// A multiplier of 0 freezes its value, decay included, and
    /// `lr_multipliers_from` switches the multipliers at a step: value 1
    /// learns 64x for two steps, then stays; value 2 never moves.
    #[test]
    fn sgd_multiplier_zero_freezes_from_its_step() {
        let mut opt = Sgd::new(0.1)
            .momentum(0.5)
            .weight_decay(0.1)
            .lr_multipliers(vec![1.0, 64.0, 0.0])
            .lr_multipliers_from(2, vec![1.0, 0.0, 0.0]);
        let mut params = [1.0f32, 1.0, 0.3];
        let mut after_two = [0.0f32; 3];
        for step in 1..=4 {
            opt.update(&mut params, &[0.5, 0.5, 0.5]);
            if step == 2 {
                after_two = params;
            }
        }
        assert_ne!(after_two[1], 1.0);
        assert_eq!(params[1].to_bits(), after_two[1].to_bits());
        assert_eq!(params[2].to_bits(), 0.3f32.to_bits());
        assert_ne!(params[0], after_two[0]);
    }

    /// airbench's lookahead written out: SGD (lr 1) on a gradient of 1
    /// moves the trainable weight by -1 a step, and the non-trainable
    /// value after it (a moving statistic) is set to 10 x step by hand;
    /// from step 2, every 2 steps, the slow weights keep `rho` of
    /// themselves and the parameters jump to them. Only the whole-network
    /// average touches the statistic; only the synced one puts the slow
    /// weights back at an epoch's end (after step 5).
    #[test]
    fn lookahead_follows_airbench_recurrence() {
        for (whole, sync) in [(false, false), (true, false), (true, true)] {
            let decay = |step: u64| 0.5 + step as f32 / 100.0;
            let mut opt = Lookahead::new(Sgd::new(1.0), 2, 2, decay).whole_network(whole).sync_each_epoch(sync);
            let mut network = [0.0f32, 0.0];
            let (mut p, mut slow) = ([0.0f64, 0.0], None::<[f64; 2]>);
            let covered = if whole { 2 } else { 1 };
            for step in 1..=7u64 {
                opt.update(&mut network[..1], &[1.0]);
                network[1] = 10.0 * step as f32;
                opt.after_step(&mut network, 1);
                p[0] -= 1.0;
                p[1] = 10.0 * step as f64;
                if step >= 2 && step % 2 == 0 {
                    match slow {
                        None => slow = Some(p),
                        Some(mut s) => {
                            let rho = 0.5 + step as f64 / 100.0;
                            for i in 0..covered {
                                s[i] = rho * s[i] + (1.0 - rho) * p[i];
                                p[i] = s[i];
                            }
                            slow = Some(s);
                        }
                    }
                }
                if step == 5 {
                    opt.end_epoch(&mut network, 1);
                    if sync {
                        p = slow.unwrap();
                    }
                }
                for i in 0..2 {
                    assert!(
                        (network[i] as f64 - p[i]).abs() < 1e-5,
                        "{whole} {sync} step {step} value {i}: {network:?} vs {p:?}"
                    );
                }
            }
            // Step 7 moved the weight past the slow one; finalize takes the slow one.
            let s = slow.unwrap();
            assert_ne!(s[0], p[0]);
            opt.finalize(&mut network, 1);
            assert!((network[0] as f64 - s[0]).abs() < 1e-5);
            let statistic = if whole { s[1] } else { 70.0 };
            assert!((network[1] as f64 - statistic).abs() < 1e-5, "{whole}: {} vs {statistic}", network[1]);
        }
        // A frozen value (never moved by a step) stays bitwise the same.
        let mut opt = Lookahead::new(Sgd::new(1.0), 1, 1, |_| 0.77).whole_network(true);
        let mut network = [0.0f32, 0.1];
        for _ in 0..5 {
            opt.update(&mut network[..1], &[1.0]);
            opt.after_step(&mut network, 1);
        }
        assert_eq!(network[1].to_bits(), 0.1f32.to_bits());
    }

    /// Keras 3's Adam written out (`keras/src/optimizers/adam.py`) for
    /// three steps of a changing gradient: `alpha = lr sqrt(1 - b2^t) /
    /// (1 - b1^t)`, `m += (g - m)(1 - b1)`, `v += (g² - v)(1 - b2)`,
    /// `p -= alpha m / (sqrt(v) + eps)`.
    #[test]
    fn adam_follows_keras_formula() {
        let (lr, b1, b2, eps) = (1e-3f64, 0.9f64, 0.999f64, 1e-7f64);
        let mut opt = Adam::new(lr as f32);
        let mut params = [0.5f32];
        let (mut p, mut m, mut v) = (0.5f64, 0.0f64, 0.0f64);
        for (t, g) in [0.3f64, -0.1, 2.0].into_iter().enumerate() {
            opt.update(&mut params, &[g as f32]);
            let t = t as i32 + 1;
            let alpha = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
            m += (g - m) * (1.0 - b1);
            v += (g * g - v) * (1.0 - b2);
            p -= alpha * m / (v.sqrt() + eps);
            assert!((params[0] as f64 - p).abs() < 1e-7, "step {t}: {} vs {p}", params[0]);
        }
    }
}
