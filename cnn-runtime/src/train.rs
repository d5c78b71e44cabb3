//! Keras's `fit` and `evaluate` for any network that `cnn!` declares with a
//! softmax output: epochs of shuffled batches, optional augmentation,
//! validation after each epoch, a Keras-style progress line, a `History`,
//! and a checkpoint after each epoch that `resume` continues from exactly.
//!
//! Everything random is keyed by (seed, epoch) or by the step count, never
//! by a stream that runs across epochs, and the checkpoint carries what
//! the learning-rate rules carry from one epoch to the next (the rate
//! itself, each `ReduceLROnPlateau`'s best loss, wait and cooldown), so a
//! run killed and resumed from its last checkpoint gives bitwise the
//! weights of one that was not.

use crate::checkpoint::{self, TensorFile};
use crate::data::{mirrored, translated, Augment, Dataset, Pass};
use crate::engine::{Classifier, Spec};
use crate::error::{Error, Result};
use crate::history::{EpochStats, History};
use crate::kernels::activation::softmax_rows;
use crate::kernels::loss::{count_correct, cross_entropy};
use crate::model::Model;
use crate::optim::Optimizer;
use crate::rng::{hash2, Rng};
use crate::schedule::{LearningRate, ReduceLROnPlateau};
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// When `fit` prints its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// Keras's line per epoch wherever stdout goes (a pipe or a log file
    /// sees each epoch as it ends), and a live bar too on a terminal.
    Auto,
    Never,
}

/// `model.fit(...)`'s arguments, with Keras's defaults where Keras has them.
#[derive(Clone, Debug)]
pub struct FitOptions {
    pub epochs: usize,
    pub batch_size: usize,
    /// Shuffle the training set each epoch.
    pub shuffle: bool,
    /// Keys the shuffles and the augmentation.
    pub seed: u64,
    pub augment: Option<Augment>,
    pub verbosity: Verbosity,
    /// Where `checkpoint.safetensors`, `history.csv` and `history.svg` are
    /// written after each epoch.
    pub out_dir: Option<PathBuf>,
    /// Continue from `out_dir`'s checkpoint, if there is one.
    pub resume: bool,
    /// A schedule, or a callback's rule, for the learning rate.
    pub learning_rate: LearningRate,
    /// Leave out the last batch of each epoch when it is not full (tf.data's
    /// `drop_remainder`, PyTorch's `drop_last`; airbench's training loader),
    /// so that every step's BatchNormalization sees a whole batch. The
    /// images left out change with each epoch's shuffle.
    pub drop_last: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            shuffle: true,
            seed: 0,
            augment: None,
            verbosity: Verbosity::Auto,
            out_dir: None,
            resume: false,
            learning_rate: LearningRate::Optimizer,
            drop_last: false,
        }
    }
}

/// Mean loss and accuracy over a data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
}

/// Test-time augmentation in [`evaluate_tta`]: which views of each image
/// are averaged, as airbench averages them: the weighted mean of their
/// logits, through the softmax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tta {
    /// The image alone: Keras's `evaluate`.
    None,
    /// The mean of the image and its mirror (airbench's `tta_level = 1`).
    Mirror,
    /// Half the mirrored pair, and a quarter each the mirrored pairs of
    /// the image translated by one pixel up-left and down-right with
    /// reflection (airbench's `tta_level = 2`).
    MirrorTranslate,
}

pub const CHECKPOINT: &str = "checkpoint.safetensors";

fn check_shape<M: Spec>(data: &Dataset, what: &str) -> Result<()> {
    if data.shape() != M::INPUT_SHAPE {
        return Err(Error::Input(format!(
            "{}: the {what} images are {:?}, but the network takes {:?}",
            M::NAME,
            data.shape(),
            M::INPUT_SHAPE
        )));
    }
    if let Some(l) = data.labels().iter().find(|&&l| l as usize >= M::OUTPUT_LEN) {
        return Err(Error::Input(format!(
            "{}: the {what} set has label {l}, but the network has {} classes",
            M::NAME,
            M::OUTPUT_LEN
        )));
    }
    Ok(())
}

/// Loss and accuracy on `data`, in inference mode (dropout off).
pub fn evaluate<M: Classifier>(net: &Model<M>, data: &Dataset, batch_size: usize) -> Result<Evaluation> {
    evaluate_tta(net, data, batch_size, Tta::None)
}

/// `net`'s outputs for the images in `x` (NHWC in `shape`), averaged over
/// the views `tta` names as airbench averages them: the weighted mean of
/// their logits, through the softmax. A softmax output's logarithm is the
/// logits less one constant per image, so the mean of the views'
/// log-probabilities gives the same softmax without the logits.
fn predict_views<M: Classifier>(net: &Model<M>, x: &[f32], shape: [usize; 3], tta: Tta) -> Result<Vec<f32>> {
    let views: Vec<(f32, Cow<[f32]>)> = match tta {
        Tta::None => return net.try_predict(x),
        Tta::Mirror => vec![(0.5, Cow::Borrowed(x)), (0.5, mirrored(x, shape).into())],
        Tta::MirrorTranslate => {
            let (up, down) = (translated(x, shape, -1), translated(x, shape, 1));
            let (up_mirror, down_mirror) = (mirrored(&up, shape), mirrored(&down, shape));
            vec![
                (0.25, Cow::Borrowed(x)),
                (0.25, mirrored(x, shape).into()),
                (0.125, up.into()),
                (0.125, up_mirror.into()),
                (0.125, down.into()),
                (0.125, down_mirror.into()),
            ]
        }
    };
    let mut logits = vec![0.0f32; x.len() / M::INPUT_LEN * M::OUTPUT_LEN];
    for (weight, view) in &views {
        for (l, p) in logits.iter_mut().zip(net.try_predict(view)?) {
            *l += weight * p.max(f32::MIN_POSITIVE).ln();
        }
    }
    softmax_rows(&mut logits, M::OUTPUT_LEN);
    Ok(logits)
}

/// [`evaluate`] with test-time augmentation: the loss and accuracy of the
/// mean output over the views `tta` names.
pub fn evaluate_tta<M: Classifier>(net: &Model<M>, data: &Dataset, batch_size: usize, tta: Tta) -> Result<Evaluation> {
    check_shape::<M>(data, "evaluation")?;
    let batch_size = batch_size.max(1);
    let mut images = vec![0.0; batch_size * M::INPUT_LEN];
    let mut labels = vec![0u8; batch_size];
    let (mut loss, mut correct) = (0.0, 0);
    let all: Vec<usize> = (0..data.len()).collect();
    for indices in all.chunks(batch_size) {
        let (x, y) = (&mut images[..indices.len() * M::INPUT_LEN], &mut labels[..indices.len()]);
        data.fill_batch(indices, x, y, None);
        let probs = predict_views(net, x, M::INPUT_SHAPE, tta)?;
        loss += cross_entropy(&probs, y, M::OUTPUT_LEN, net.label_smoothing());
        correct += count_correct(&probs, y, M::OUTPUT_LEN);
    }
    let n = data.len().max(1) as f64;
    Ok(Evaluation { loss: loss / n, accuracy: correct as f64 / n })
}

/// Trains `net` on `train` as Keras's `model.fit` does, evaluating on
/// `validation` after every epoch. Returns the history of every epoch
/// (including those before a resume).
pub fn fit<M: Classifier, O: Optimizer>(
    net: &mut Model<M>,
    opt: &mut O,
    train: &Dataset,
    validation: Option<&Dataset>,
    options: &FitOptions,
) -> Result<History> {
    check_shape::<M>(train, "training")?;
    if let Some(v) = validation {
        check_shape::<M>(v, "validation")?;
    }
    if options.batch_size == 0 || train.is_empty() {
        return Err(Error::Input("fit needs a batch size of at least 1 and at least one training image".into()));
    }
    if options.drop_last && train.len() < options.batch_size {
        return Err(Error::Input(format!(
            "fit with drop_last needs a whole batch: {} training images for a batch size of {}",
            train.len(),
            options.batch_size
        )));
    }
    if let Some(dir) = &options.out_dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let checkpoint_path = options.out_dir.as_ref().map(|d| d.join(CHECKPOINT));
    let rules = options.learning_rate.rules();
    let mut plateaus: Vec<ReduceLROnPlateau> = rules
        .iter()
        .filter_map(|r| match r {
            LearningRate::OnPlateau(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    if !plateaus.is_empty() && validation.is_none() {
        return Err(Error::Input(
            "ReduceLROnPlateau watches the validation loss, but fit has no validation data".into(),
        ));
    }
    let mut history = History::default();
    if options.resume {
        match &checkpoint_path {
            Some(path) if path.exists() => history = restore(net, opt, &mut plateaus, path)?,
            Some(path) => say(options, &format!("no checkpoint at {}; starting from epoch 1", path.display())),
            None => return Err(Error::Input("resume needs an output folder to find the checkpoint in".into())),
        }
    }

    let steps = match options.drop_last {
        true => train.len() / options.batch_size,
        false => train.len().div_ceil(options.batch_size),
    };
    let mut images = vec![0.0; options.batch_size * M::INPUT_LEN];
    let mut labels = vec![0u8; options.batch_size];
    let terminal = std::io::stdout().is_terminal();
    let epoch_lines = options.verbosity == Verbosity::Auto;
    for epoch in history.epochs.len() + 1..=options.epochs {
        let start = Instant::now();
        if epoch_lines {
            println!("Epoch {epoch}/{}", options.epochs);
        }
        for rule in &rules {
            if let LearningRate::PerEpoch(f) = rule {
                opt.set_learning_rate(f(epoch - 1, opt.learning_rate() as f64) as f32);
            }
        }
        let bar = progress_bar(options, terminal, steps);
        let mut order: Vec<usize> = (0..train.len()).collect();
        if options.shuffle {
            Rng::new(hash2(options.seed, epoch as u64)).shuffle(&mut order);
        }
        let mut augment_rng = Rng::new(hash2(options.seed ^ 0x6175_6720, epoch as u64));
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (step, indices) in order.chunks(options.batch_size).take(steps).enumerate() {
            let (x, y) = (&mut images[..indices.len() * M::INPUT_LEN], &mut labels[..indices.len()]);
            let pass =
                options.augment.map(|augment| Pass { augment, rng: &mut augment_rng, epoch, seed: options.seed });
            train.fill_batch(indices, x, y, pass);
            for rule in &rules {
                if let LearningRate::PerStep(s) = rule {
                    opt.set_learning_rate(s.lr(opt.iterations()));
                }
            }
            let loss = net.try_train_step(x, y, opt)?;
            if !loss.is_finite() {
                let kept = match &checkpoint_path {
                    Some(p) if p.exists() => format!("the last good checkpoint is {}", p.display()),
                    _ => "no checkpoint was written yet".to_string(),
                };
                return Err(Error::Diverged(format!(
                    "the loss became {loss} at epoch {epoch}, batch {}; {kept}",
                    step + 1
                )));
            }
            loss_sum += loss as f64 * indices.len() as f64;
            correct += net.engine().last_correct;
            seen += indices.len();
            if let Some(bar) = &bar {
                bar.set_position(step as u64 + 1);
                bar.set_message(format!(
                    "loss: {:.4} - accuracy: {:.4}",
                    loss_sum / seen as f64,
                    correct as f64 / seen as f64
                ));
            }
        }
        opt.end_epoch(net.params_mut(), M::TRAINABLE_PARAMS);
        let train_seconds = start.elapsed().as_secs_f64();
        let val = validation.map(|v| evaluate(net, v, 256)).transpose()?;
        let stats = EpochStats {
            epoch,
            loss: loss_sum / seen as f64,
            accuracy: correct as f64 / seen as f64,
            val_loss: val.map(|v| v.loss),
            val_accuracy: val.map(|v| v.accuracy),
            seconds: start.elapsed().as_secs_f64(),
            train_seconds,
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if epoch_lines {
            println!("{}", keras_line(steps, train_seconds, &stats));
        }
        if let Some(val) = val {
            for p in &mut plateaus {
                opt.set_learning_rate(p.on_epoch_end(val.loss, opt.learning_rate()));
            }
        }
        history.epochs.push(stats);
        if let Some(dir) = &options.out_dir {
            save_checkpoint(net, opt, &plateaus, &history, &dir.join(CHECKPOINT))?;
            history.write_csv(&dir.join("history.csv"))?;
            history.plot(&dir.join("history.svg"))?;
        }
    }
    opt.finalize(net.params_mut(), M::TRAINABLE_PARAMS);
    Ok(history)
}

fn say(options: &FitOptions, message: &str) {
    if options.verbosity != Verbosity::Never {
        eprintln!("{message}");
    }
}

fn progress_bar(options: &FitOptions, terminal: bool, steps: usize) -> Option<indicatif::ProgressBar> {
    if !terminal || options.verbosity == Verbosity::Never {
        return None;
    }
    let bar = indicatif::ProgressBar::new(steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{pos}/{len} [{bar:30}] - ETA: {eta} - {msg}")
            .expect("a valid template")
            .progress_chars("=>."),
    );
    Some(bar)
}

/// `1563/1563 [==============================] - 41s 26ms/step - loss: 1.5200 - accuracy: 0.4500 - ...`
pub fn keras_line(steps: usize, seconds: f64, stats: &EpochStats) -> String {
    let mut line = format!(
        "{steps}/{steps} [{}] - {:.0}s {:.0}ms/step - loss: {:.4} - accuracy: {:.4}",
        "=".repeat(30),
        seconds,
        seconds * 1000.0 / steps.max(1) as f64,
        stats.loss,
        stats.accuracy
    );
    if let (Some(l), Some(a)) = (stats.val_loss, stats.val_accuracy) {
        line += &format!(" - val_loss: {l:.4} - val_accuracy: {a:.4}");
    }
    line
}

/// Weights, optimizer state and learning rate, each plateau rule's
/// progress, step count, dropout seed and history, in one file written
/// atomically: a kill at any moment leaves the last complete one.
pub fn save_checkpoint<M: Spec>(
    net: &Model<M>,
    opt: &impl Optimizer,
    plateaus: &[ReduceLROnPlateau],
    history: &History,
    path: &Path,
) -> Result<()> {
    let mut tensors = checkpoint::named_params(M::TENSORS, net.params());
    for (name, values) in opt.state() {
        tensors.push((format!("optimizer.{name}"), vec![values.len()], values));
    }
    let engine = net.engine();
    let metadata = HashMap::from([
        ("network".to_string(), M::NAME.to_string()),
        ("epoch".to_string(), history.epochs.len().to_string()),
        ("step".to_string(), engine.step.to_string()),
        ("dropout_seed".to_string(), engine.seed.to_string()),
        ("optimizer.iterations".to_string(), opt.iterations().to_string()),
        // The rate as the epoch left it (a rate schedule may read it), in
        // Rust's shortest round-trip form.
        ("optimizer.learning_rate".to_string(), opt.learning_rate().to_string()),
        ("plateaus".to_string(), plateaus.iter().map(ReduceLROnPlateau::progress).collect::<Vec<_>>().join(";")),
        ("optimizer.state".to_string(), opt.state().iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",")),
        ("history".to_string(), history.to_csv()),
    ]);
    checkpoint::write(path, &tensors, metadata)
}

/// Loads what `save_checkpoint` wrote into `net`, `opt` and `plateaus`;
/// returns the history. A checkpoint written before the learning rate and
/// the plateaus' progress were kept leaves `opt`'s rate and `plateaus` as
/// they are; plateaus pair with the saved progress by position, and one
/// the checkpoint has no progress for starts afresh.
pub fn restore<M: Spec>(
    net: &mut Model<M>,
    opt: &mut impl Optimizer,
    plateaus: &mut [ReduceLROnPlateau],
    path: &Path,
) -> Result<History> {
    let file = TensorFile::open(path)?;
    let meta = file.metadata();
    let field = |key: &str| {
        meta.get(key).ok_or_else(|| Error::format(path, format!("the checkpoint has no `{key}` in its metadata")))
    };
    if field("network")? != M::NAME {
        return Err(Error::format(path, format!("a checkpoint of {}, not of {}", field("network")?, M::NAME)));
    }
    let number = |key: &str| {
        field(key)?
            .parse::<u64>()
            .map_err(|_| Error::format(path, format!("`{key}` in the checkpoint is not a number")))
    };
    let params = file.params(M::TENSORS, M::TOTAL_PARAMS)?;
    let history = History::from_csv(field("history")?).map_err(|e| Error::format(path, format!("history: {e}")))?;
    let iterations = number("optimizer.iterations")?;
    let mut state = Vec::new();
    if iterations > 0 {
        for name in field("optimizer.state")?.split(',').filter(|n| !n.is_empty()) {
            // One value per trainable parameter, or per parameter for a
            // whole-network average (`Lookahead::whole_network`).
            let tensor = format!("optimizer.{name}");
            let (shape, values) = file.f32(&tensor, None)?;
            if shape != [M::TRAINABLE_PARAMS] && shape != [M::TOTAL_PARAMS] {
                return Err(Error::format(
                    path,
                    format!(
                        "`{tensor}` has shape {shape:?}; {} holds {} trainable and {} values in all",
                        M::NAME,
                        M::TRAINABLE_PARAMS,
                        M::TOTAL_PARAMS
                    ),
                ));
            }
            state.push((name.to_string(), values));
        }
    }
    let (step, seed) = (number("step")?, number("dropout_seed")?);
    let lr = match meta.get("optimizer.learning_rate") {
        Some(text) => Some(text.parse::<f32>().map_err(|_| {
            Error::format(path, format!("`optimizer.learning_rate` in the checkpoint is not a number: {text:?}"))
        })?),
        None => None,
    };
    let progress: Vec<&str> =
        meta.get("plateaus").map_or(Vec::new(), |p| p.split(';').filter(|p| !p.is_empty()).collect());
    let mut resumed = plateaus.to_vec();
    for (i, (plateau, text)) in resumed.iter_mut().zip(&progress).enumerate() {
        plateau.resume_progress(text).ok_or_else(|| {
            Error::format(
                path,
                format!("`plateaus` in the checkpoint: entry {i} ({text:?}) is not a plateau's progress"),
            )
        })?;
    }
    // Every field read, the optimizer takes its state first: it may still
    // refuse it (another optimizer's), and then the network and the
    // plateaus are as they were.
    if iterations > 0 {
        opt.set_state(iterations, state).map_err(|e| Error::format(path, e.to_string()))?;
    }
    if let Some(lr) = lr {
        opt.set_learning_rate(lr);
    }
    plateaus.clone_from_slice(&resumed);
    net.params_mut().copy_from_slice(&params);
    let engine = net.engine_mut();
    engine.step = step;
    engine.seed = seed;
    Ok(history)
}
