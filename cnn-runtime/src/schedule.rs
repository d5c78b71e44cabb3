//! Learning-rate schedules with Keras's names and semantics, for `fit`
//! ([`crate::FitOptions::learning_rate`]) or a hand-written loop
//! ([`crate::Optimizer::set_learning_rate`]).
//!
//! - Per step, as Keras's `LearningRateSchedule`s (a function of the
//!   optimizer's step count, 0 for the first step): [`PiecewiseConstantDecay`],
//!   [`CosineDecay`], [`PiecewiseLinear`] (airbench's warm-up and decay,
//!   one-cycle), or any closure `Fn(u64) -> f32`.
//! - Per epoch, as Keras's `LearningRateScheduler(schedule)` callback: a
//!   closure of the epoch (0-based) and the current rate.
//! - On a plateau of the validation loss, as Keras's [`ReduceLROnPlateau`].

use std::sync::Arc;

/// A learning rate for each step: Keras's `LearningRateSchedule`.
pub trait Schedule: Send + Sync {
    /// The rate of the step after `step` steps.
    fn lr(&self, step: u64) -> f32;
}

impl<F: Fn(u64) -> f32 + Send + Sync> Schedule for F {
    fn lr(&self, step: u64) -> f32 {
        self(step)
    }
}

/// Keras's `PiecewiseConstantDecay(boundaries, values)`: `values[0]` up to
/// and including step `boundaries[0]`, `values[i]` after `boundaries[i - 1]`
/// up to `boundaries[i]`, the last value after the last boundary.
#[derive(Clone, Debug, PartialEq)]
pub struct PiecewiseConstantDecay {
    boundaries: Vec<u64>,
    values: Vec<f32>,
}

impl PiecewiseConstantDecay {
    /// # Panics
    /// Unless there is one more value than boundaries and the boundaries
    /// increase, as Keras requires.
    pub fn new(boundaries: &[u64], values: &[f32]) -> Self {
        assert!(
            values.len() == boundaries.len() + 1,
            "PiecewiseConstantDecay: {} boundaries need {} values, got {}",
            boundaries.len(),
            boundaries.len() + 1,
            values.len()
        );
        assert!(boundaries.windows(2).all(|w| w[0] < w[1]), "PiecewiseConstantDecay: boundaries must increase");
        PiecewiseConstantDecay { boundaries: boundaries.to_vec(), values: values.to_vec() }
    }
}

impl Schedule for PiecewiseConstantDecay {
    fn lr(&self, step: u64) -> f32 {
        let i = self.boundaries.iter().take_while(|&&b| step > b).count();
        self.values[i]
    }
}

/// Keras 3's `CosineDecay(initial_learning_rate, decay_steps, alpha = 0,
/// warmup_target = None, warmup_steps = 0)`: with a warm-up, the rate goes
/// linearly from `initial` to `warmup_target` over `warmup_steps`, then
/// decays from there; the decay is `base * ((1 - alpha) * c + alpha)` with
/// `c = (1 + cos(pi * min(t, decay_steps) / decay_steps)) / 2`.
#[derive(Clone, Debug, PartialEq)]
pub struct CosineDecay {
    pub initial: f32,
    pub decay_steps: u64,
    pub alpha: f32,
    pub warmup_target: Option<f32>,
    pub warmup_steps: u64,
}

impl CosineDecay {
    pub fn new(initial: f32, decay_steps: u64) -> Self {
        CosineDecay { initial, decay_steps, alpha: 0.0, warmup_target: None, warmup_steps: 0 }
    }
    pub fn alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }
    pub fn warmup(mut self, target: f32, steps: u64) -> Self {
        self.warmup_target = Some(target);
        self.warmup_steps = steps;
        self
    }
}

impl Schedule for CosineDecay {
    fn lr(&self, step: u64) -> f32 {
        let base = match self.warmup_target {
            Some(target) if step < self.warmup_steps => {
                let done = step as f64 / self.warmup_steps as f64;
                return (self.initial as f64 + (target as f64 - self.initial as f64) * done) as f32;
            }
            Some(target) => target,
            None => self.initial,
        };
        let t = (step - self.warmup_steps.min(step)).min(self.decay_steps) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * t / self.decay_steps.max(1) as f64).cos());
        (base as f64 * ((1.0 - self.alpha as f64) * cosine + self.alpha as f64)) as f32
    }
}

/// A rate interpolated linearly between `(step, rate)` knots, constant
/// before the first and after the last: airbench's warm-up and decay
/// (`np.interp`), or a one-cycle schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct PiecewiseLinear {
    knots: Vec<(u64, f32)>,
}

impl PiecewiseLinear {
    /// # Panics
    /// Without knots, or if their steps do not increase.
    pub fn new(knots: &[(u64, f32)]) -> Self {
        assert!(!knots.is_empty(), "PiecewiseLinear needs at least one (step, rate) knot");
        assert!(knots.windows(2).all(|w| w[0].0 < w[1].0), "PiecewiseLinear: the knots' steps must increase");
        PiecewiseLinear { knots: knots.to_vec() }
    }
}

impl Schedule for PiecewiseLinear {
    fn lr(&self, step: u64) -> f32 {
        let after = self.knots.iter().position(|&(s, _)| s > step);
        match after {
            Some(0) => self.knots[0].1,
            None => self.knots[self.knots.len() - 1].1,
            Some(i) => {
                let ((s0, r0), (s1, r1)) = (self.knots[i - 1], self.knots[i]);
                let t = (step - s0) as f64 / (s1 - s0) as f64;
                (r0 as f64 + (r1 as f64 - r0 as f64) * t) as f32
            }
        }
    }
}

/// Keras's `ReduceLROnPlateau` on the validation loss: after `patience`
/// epochs without an improvement of more than `min_delta`, the rate is
/// multiplied by `factor` (not below `min_lr`), and the next `cooldown`
/// epochs reset the wait.
///
/// Keras's arithmetic, to the bit (checked against Keras 3.15's callback in
/// the tests): the first epoch always improves; an improvement is
/// `loss + min_delta < best` compared in float32 (`keras.ops.less` on
/// Python floats), so a gain below float32's resolution is none; the new
/// rate is `max(lr * factor, min_lr)` in float64, then stored in the
/// float32 rate; and an epoch whose cooldown runs out counts towards the
/// wait at once, so `cooldown = 1` waits no longer than `cooldown = 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceLROnPlateau {
    pub factor: f64,
    pub patience: usize,
    pub min_delta: f64,
    pub cooldown: usize,
    pub min_lr: f64,
    /// The best loss so far; none before the first epoch.
    best: Option<f64>,
    wait: usize,
    cooldown_left: usize,
}

impl Default for ReduceLROnPlateau {
    /// Keras's defaults: factor 0.1, patience 10, min_delta 1e-4, no
    /// cooldown, min_lr 0.
    fn default() -> Self {
        ReduceLROnPlateau {
            factor: 0.1,
            patience: 10,
            min_delta: 1e-4,
            cooldown: 0,
            min_lr: 0.0,
            best: None,
            wait: 0,
            cooldown_left: 0,
        }
    }
}

impl ReduceLROnPlateau {
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }
    pub fn patience(mut self, patience: usize) -> Self {
        self.patience = patience;
        self
    }
    pub fn cooldown(mut self, cooldown: usize) -> Self {
        self.cooldown = cooldown;
        self
    }
    pub fn min_lr(mut self, min_lr: f64) -> Self {
        self.min_lr = min_lr;
        self
    }
    pub fn min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// What the rule has counted so far (the best loss, `none` before the
    /// first epoch; the epochs waited; the cooldown left), as text for a
    /// checkpoint's metadata, so that a resumed run goes on counting where
    /// it stopped.
    pub(crate) fn progress(&self) -> String {
        // Rust's shortest round-trip form: the best loss comes back exact.
        let best = self.best.map_or("none".to_string(), |b| b.to_string());
        format!("{best} {} {}", self.wait, self.cooldown_left)
    }

    /// Takes back what [`Self::progress`] wrote; `None`, changing nothing,
    /// if `text` is not that.
    pub(crate) fn resume_progress(&mut self, text: &str) -> Option<()> {
        let mut parts = text.split(' ');
        let best = match parts.next()? {
            "none" => None,
            best => Some(best.parse().ok()?),
        };
        let wait = parts.next()?.parse().ok()?;
        let cooldown_left = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        (self.best, self.wait, self.cooldown_left) = (best, wait, cooldown_left);
        Some(())
    }

    /// The rate after an epoch that ended with `loss` at rate `lr`, in the
    /// order of Keras's `on_epoch_end`.
    pub fn on_epoch_end(&mut self, loss: f64, lr: f32) -> f32 {
        if self.cooldown_left > 0 {
            self.cooldown_left -= 1;
            self.wait = 0;
        }
        let improved = self.best.is_none_or(|best| ((loss + self.min_delta) as f32) < best as f32);
        if improved {
            self.best = Some(loss);
            self.wait = 0;
        } else if self.cooldown_left == 0 {
            self.wait += 1;
            if self.wait >= self.patience && lr > self.min_lr as f32 {
                self.cooldown_left = self.cooldown;
                self.wait = 0;
                return (lr as f64 * self.factor).max(self.min_lr) as f32;
            }
        }
        lr
    }
}

/// How `fit` sets the learning rate.
#[derive(Clone, Default)]
pub enum LearningRate {
    /// The optimizer's own, untouched.
    #[default]
    Optimizer,
    /// Before each step, from the optimizer's step count.
    PerStep(Arc<dyn Schedule>),
    /// At each epoch's start, `f(epoch from 0, current rate)`: Keras's
    /// `LearningRateScheduler`. As there, the rate comes in and goes out as
    /// a float64 (Python's float), and the optimizer stores it in float32:
    /// `|_, lr| lr * 0.9` gives Keras's `lambda epoch, lr: lr * 0.9` to
    /// the bit.
    PerEpoch(Arc<dyn Fn(usize, f64) -> f64 + Send + Sync>),
    /// After each epoch, from the validation loss (`fit` needs validation
    /// data for it).
    OnPlateau(ReduceLROnPlateau),
    /// Several of the above, as several Keras callbacks: each acts at its
    /// own moment (per step, at an epoch's start, at its end), in list
    /// order where two act at the same moment. As in Keras, a per-epoch
    /// rule sets the rate at every epoch's start, so it undoes a plateau's
    /// reduction of the epoch before (Keras's `cifar10_resnet.py` pairs
    /// `LearningRateScheduler` with `ReduceLROnPlateau` this way).
    Callbacks(Vec<LearningRate>),
}

impl LearningRate {
    /// Every rule, with [`LearningRate::Callbacks`] opened up, in order.
    pub fn rules(&self) -> Vec<&LearningRate> {
        match self {
            LearningRate::Callbacks(list) => list.iter().flat_map(|r| r.rules()).collect(),
            rule => vec![rule],
        }
    }
}

impl std::fmt::Debug for LearningRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LearningRate::Optimizer => write!(f, "Optimizer"),
            LearningRate::PerStep(_) => write!(f, "PerStep(..)"),
            LearningRate::PerEpoch(_) => write!(f, "PerEpoch(..)"),
            LearningRate::OnPlateau(p) => write!(f, "OnPlateau({p:?})"),
            LearningRate::Callbacks(list) => f.debug_tuple("Callbacks").field(list).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f64) -> bool {
        (a as f64 - b).abs() <= 1e-6 * (1.0 + b.abs())
    }

    #[test]
    fn piecewise_constant_decay_switches_after_each_boundary() {
        // Keras's docstring: 1.0 up to step 100000, 0.5 up to 110000, then 0.1.
        let s = PiecewiseConstantDecay::new(&[100_000, 110_000], &[1.0, 0.5, 0.1]);
        let at: Vec<f32> = [0, 100_000, 100_001, 110_000, 110_001, 10_000_000].iter().map(|&t| s.lr(t)).collect();
        assert_eq!(at, [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]);
    }

    #[test]
    fn cosine_decay_follows_keras_formula() {
        let s = CosineDecay::new(0.1, 1000).alpha(0.1);
        let keras = |t: f64| 0.1 * (0.9 * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1000.0) / 1000.0).cos()) + 0.1);
        for t in [0u64, 1, 250, 500, 999, 1000, 5000] {
            assert!(close(s.lr(t), keras(t as f64)), "step {t}: {} vs {}", s.lr(t), keras(t as f64));
        }
        assert!(close(s.lr(500), 0.1 * (0.9 * 0.5 + 0.1)));
        // Warm-up from 0 to 1 over 100 steps, then the decay from 1.
        let w = CosineDecay::new(0.0, 1000).warmup(1.0, 100);
        assert!(close(w.lr(0), 0.0) && close(w.lr(50), 0.5) && close(w.lr(100), 1.0));
        assert!(close(w.lr(600), 0.5) && close(w.lr(1100), 0.0));
    }

    #[test]
    fn piecewise_linear_interpolates_between_knots() {
        // airbench-like: up from 0.2 to 1 over 100 steps, down to 0 at 1000.
        let s = PiecewiseLinear::new(&[(0, 0.2), (100, 1.0), (1000, 0.0)]);
        assert!(close(s.lr(0), 0.2) && close(s.lr(50), 0.6) && close(s.lr(100), 1.0));
        assert!(close(s.lr(550), 0.5) && close(s.lr(1000), 0.0) && close(s.lr(2000), 0.0));
        let closure = |step: u64| if step < 10 { 1.0 } else { 0.5 };
        assert_eq!((closure.lr(9), closure.lr(10)), (1.0, 0.5));
    }

    #[test]
    fn reduce_on_plateau_waits_for_patience_then_cools_down() {
        // Each sequence is what Keras 3.15's callback gives for the same
        // losses and arguments (SGD's float32 rate read after each epoch):
        // `tools/keras_plateau.py` prints them.
        let rates = |mut p: ReduceLROnPlateau, mut lr: f32, losses: &[f64]| -> Vec<f32> {
            losses
                .iter()
                .map(|&loss| {
                    lr = p.on_epoch_end(loss, lr);
                    lr
                })
                .collect()
        };
        let p = ReduceLROnPlateau::default().factor(0.5).patience(2).cooldown(1).min_lr(0.1);
        let losses = [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9];
        // Improvements at epochs 1, 2 and 9; two epochs without one halve
        // the rate (epochs 4, 6, 8 and 11: the epoch after a halving ends
        // its one-epoch cooldown and counts), and the rate stops at min_lr.
        let expected = [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.125, 0.1, 0.1, 0.1, 0.1, 0.1];
        assert_eq!(rates(p, 1.0, &losses), expected);
        // A cooldown of 2 holds one epoch.
        let p = ReduceLROnPlateau::default().factor(0.5).patience(2).cooldown(2);
        assert_eq!(rates(p, 1.0, &[1.0; 9]), [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]);
        // A gain below float32's resolution is no improvement.
        let p = ReduceLROnPlateau::default().factor(0.5).patience(1).min_delta(0.0);
        assert_eq!(rates(p, 1.0, &[1.0, 1.0 - 1e-9, 1.0 - 2e-9]), [1.0, 0.5, 0.25]);
        // A first loss of NaN is the best, and nothing beats it.
        let p = ReduceLROnPlateau::default().factor(0.5).patience(5);
        assert_eq!(rates(p, 1.0, &[f64::NAN, 1.0, 0.5, 0.25, 0.1, 0.0]), [1.0, 1.0, 1.0, 1.0, 1.0, 0.5]);
        // The example's factor, sqrt(0.1) in float64, from 1e-3.
        let p = ReduceLROnPlateau::default().factor(0.1f64.sqrt()).patience(1).min_lr(0.5e-6);
        // Keras's rates as it prints them, each a float32's exact value.
        let keras = [0.0010000000474974513, 0.0003162277862429619, 0.00010000000474974513];
        assert_eq!(rates(p, 1e-3, &[1.0, 2.0, 3.0]), keras.map(|r: f64| r as f32));
    }

    /// A checkpoint's text for the plateau's progress gives back the same
    /// rule at every point of a run, a fresh one (no best loss yet)
    /// included, and text that is not one changes nothing.
    #[test]
    fn a_plateau_s_progress_comes_back_from_its_text() {
        let mut p = ReduceLROnPlateau::default().factor(0.5).patience(2).cooldown(1);
        let mut lr = 1.0;
        for loss in [0.5, 0.1 + 0.2, 0.31, 0.4, 0.5, 0.2, f64::NAN] {
            let mut back = ReduceLROnPlateau::default().factor(0.5).patience(2).cooldown(1);
            assert_eq!(back.resume_progress(&p.progress()), Some(()));
            // Compared by their text, which holds all that the rule counts.
            assert_eq!(back.progress(), p.progress());
            lr = p.on_epoch_end(loss, lr);
        }
        let before = p.progress();
        for bad in ["", "0.3 1", "0.3 1 0 0", "x 1 0", "0.3 -1 0", "0.3 1 y", "None 1 0"] {
            assert_eq!(p.resume_progress(bad), None, "{bad:?}");
            assert_eq!(p.progress(), before);
        }
    }
}
