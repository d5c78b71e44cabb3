//! `fit` and `evaluate` on small data the test makes: learning, history
//! files, checkpoints that a resume continues from bitwise, and a
//! diverging loss that stops training without losing the last checkpoint.

mod common;

use cnn::data::Dataset;
use cnn::history::EpochStats;
use cnn::prelude::*;
use cnn::rng::Rng;
use cnn::train::{keras_line, CHECKPOINT};
use std::path::Path;

cnn! {
    struct Tiny {
        Conv2D(6, (3, 3), padding = "same", activation = "relu", input_shape = (8, 8, 3)),
        MaxPooling2D(),
        Dropout(0.25),
        Flatten(),
        Dense(16, activation = "relu"),
        Dropout(0.5),
        Dense(3, activation = "softmax"),
    }
}

/// Three classes a small network can tell apart: which colour channel is bright.
fn data(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..n {
        let label = rng.below(3);
        for _ in 0..64 {
            for c in 0..3 {
                let base = if c == label { 150 } else { 40 };
                images.push((base + rng.below(100)) as u8);
            }
        }
        labels.push(label as u8);
    }
    Dataset::new(images, labels, [8, 8, 3]).unwrap()
}

fn options(epochs: usize, out: &Path) -> FitOptions {
    FitOptions {
        epochs,
        batch_size: 20,
        seed: 9,
        augment: Some(Augment::default()),
        verbosity: Verbosity::Never,
        out_dir: Some(out.to_path_buf()),
        ..FitOptions::default()
    }
}

#[test]
fn fit_learns_and_writes_history() {
    let (train, test) = (data(300, 1), data(100, 2));
    let mut net = Tiny::new(0);
    let before = net.evaluate(&test, 64).unwrap();
    let out = common::tempdir("train-learns");
    let out = out.path();
    let history = net.fit(&mut RmsProp::new(3e-3), &train, Some(&test), &options(6, out)).unwrap();
    let after = net.evaluate(&test, 64).unwrap();
    assert_eq!(history.epochs.len(), 6);
    assert!(after.accuracy > 0.9 && after.accuracy > before.accuracy + 0.3, "{before:?} -> {after:?}");
    assert!(history.epochs[5].loss < history.epochs[0].loss);
    assert_eq!(history.epochs[5].val_accuracy, Some(after.accuracy));
    let csv = std::fs::read_to_string(out.join("history.csv")).unwrap();
    assert_eq!(csv.lines().count(), 7);
    assert!(std::fs::read_to_string(out.join("history.svg")).unwrap().contains("<svg"));
}

#[test]
fn a_resumed_run_is_bitwise_the_run_that_was_not_interrupted() {
    let (train, test) = (data(90, 3), data(30, 4));
    // 90 images in batches of 20: the last batch of each epoch is partial.
    let whole = common::tempdir("train-whole");
    let whole = whole.path();
    let mut a = Tiny::new(5);
    let history_a = a.fit(&mut RmsProp::new(1e-3).decay(1e-3), &train, Some(&test), &options(4, whole)).unwrap();

    // The same run, killed after epoch 2 (a fresh process: new net, new optimizer), then resumed.
    let split = common::tempdir("train-split");
    let split = split.path();
    let mut b = Tiny::new(5);
    b.fit(&mut RmsProp::new(1e-3).decay(1e-3), &train, Some(&test), &options(2, split)).unwrap();
    // A kill during the next checkpoint's write leaves only a temporary file.
    std::fs::write(split.join(format!(".{CHECKPOINT}.tmp")), b"half a checkpoi").unwrap();
    let mut resumed = Tiny::new(5);
    let mut opt = RmsProp::new(1e-3).decay(1e-3);
    let history_b =
        resumed.fit(&mut opt, &train, Some(&test), &FitOptions { resume: true, ..options(4, split) }).unwrap();

    let bits = |net: &Tiny| net.params().iter().map(|p| p.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&resumed), bits(&a));
    assert_eq!(opt.iterations(), 4 * 5);
    assert_eq!(history_b.epochs.len(), 4);
    for (x, y) in history_a.epochs.iter().zip(&history_b.epochs) {
        assert_eq!((x.loss, x.accuracy, x.val_loss), (y.loss, y.accuracy, y.val_loss));
    }
    // Without resume, the same folder starts over.
    let mut fresh = Tiny::new(5);
    let h = fresh.fit(&mut RmsProp::new(1e-3), &train, None, &options(1, split)).unwrap();
    assert_eq!(h.epochs.len(), 1);
}

#[test]
fn a_checkpoint_of_another_optimizer_is_refused() {
    let train = data(40, 5);
    let out = common::tempdir("train-other-opt");
    let out = out.path();
    Tiny::new(1).fit(&mut Adam::default(), &train, None, &options(1, out)).unwrap();
    let err = Tiny::new(1)
        .fit(&mut RmsProp::new(1e-3), &train, None, &FitOptions { resume: true, ..options(2, out) })
        .unwrap_err()
        .to_string();
    assert!(err.contains(CHECKPOINT) && err.contains("rmsprop.accumulators"), "{err}");
}

#[test]
fn a_diverging_loss_stops_training_and_keeps_the_last_checkpoint() {
    let train = data(60, 6);
    let out = common::tempdir("train-nan");
    let out = out.path();
    let mut net = Tiny::new(2);
    net.fit(&mut RmsProp::new(1e-3), &train, None, &options(1, out)).unwrap();
    let saved = net.params().to_vec();
    *net.params_mut().last_mut().unwrap() = f32::NAN;
    let err = net.fit(&mut RmsProp::new(1e-3), &train, None, &options(3, out)).unwrap_err().to_string();
    assert!(err.contains("NaN") && err.contains("epoch 1, batch 1") && err.contains(CHECKPOINT), "{err}");
    let kept = Tiny::load(out.join(CHECKPOINT)).unwrap();
    assert_eq!(kept.params(), &saved[..]);
}

#[test]
fn data_of_another_shape_is_refused() {
    let wrong = Dataset::new(vec![0; 2 * 16 * 16 * 3], vec![0, 1], [16, 16, 3]).unwrap();
    let err = Tiny::new(0).fit(&mut Sgd::default(), &wrong, None, &FitOptions::default()).unwrap_err().to_string();
    assert!(err.contains("[16, 16, 3]") && err.contains("[8, 8, 3]"), "{err}");
    let labels = Dataset::new(vec![0; 8 * 8 * 3], vec![7], [8, 8, 3]).unwrap();
    let err = Tiny::new(0).evaluate(&labels, 32).unwrap_err().to_string();
    assert!(err.contains("label 7"), "{err}");
}

#[test]
fn the_epoch_line_is_drawn_as_keras_draws_it() {
    let stats = EpochStats {
        epoch: 1,
        loss: 1.52,
        accuracy: 0.45,
        val_loss: Some(1.3),
        val_accuracy: Some(0.5312),
        seconds: 41.2,
        train_seconds: 40.6,
    };
    assert_eq!(
        keras_line(1563, 40.6, &stats),
        "1563/1563 [==============================] - 41s 26ms/step - loss: 1.5200 - accuracy: 0.4500 \
         - val_loss: 1.3000 - val_accuracy: 0.5312"
    );
}

#[test]
fn fit_sets_the_learning_rate_per_step_per_epoch_and_on_plateau() {
    use cnn::schedule::{LearningRate, PiecewiseConstantDecay, ReduceLROnPlateau};
    use std::sync::{Arc, Mutex};
    let (train, test) = (data(100, 3), data(40, 4));
    let quiet = |learning_rate| FitOptions {
        epochs: 3,
        batch_size: 20,
        verbosity: Verbosity::Never,
        learning_rate,
        ..FitOptions::default()
    };
    // 5 steps an epoch: the schedule's rate for step 14 is the last one set.
    let mut opt = Sgd::new(1.0);
    let schedule = PiecewiseConstantDecay::new(&[4, 9], &[1e-2, 5e-3, 1e-3]);
    Tiny::new(0).fit(&mut opt, &train, None, &quiet(LearningRate::PerStep(Arc::new(schedule)))).unwrap();
    assert_eq!((opt.iterations(), opt.learning_rate()), (15, 1e-3));
    // Keras's LearningRateScheduler: called with epochs 0, 1, 2.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let per_epoch = LearningRate::PerEpoch(Arc::new(move |epoch, lr| {
        log.lock().unwrap().push((epoch, lr));
        lr * 0.5
    }));
    let mut opt = RmsProp::new(8e-3);
    Tiny::new(0).fit(&mut opt, &train, None, &quiet(per_epoch)).unwrap();
    assert_eq!(*seen.lock().unwrap(), [(0, 8e-3f32 as f64), (1, 4e-3f32 as f64), (2, 2e-3f32 as f64)]);
    assert_eq!(opt.learning_rate(), 1e-3);
    // On a plateau of the validation loss (here every epoch after the
    // first, as no improvement beats a min_delta of 1e9), patience 1
    // halves the rate after epochs 2 and 3.
    let plateau = LearningRate::OnPlateau(ReduceLROnPlateau::default().patience(1).factor(0.5).min_delta(1e9));
    let err = Tiny::new(0).fit(&mut Sgd::new(1e-3), &train, None, &quiet(plateau.clone())).unwrap_err();
    assert!(err.to_string().contains("validation"), "{err}");
    let mut opt = Sgd::new(1e-3);
    Tiny::new(0).fit(&mut opt, &train, Some(&test), &quiet(plateau)).unwrap();
    assert_eq!(opt.learning_rate(), 2.5e-4);
}

/// A resumed run's rate is the rate it had: a Keras `LearningRateScheduler`
/// that reads the current rate continues from the rate it left, and
/// `ReduceLROnPlateau` keeps its reductions, its best loss, its wait and its
/// cooldown across the kill.
#[test]
fn a_resumed_run_keeps_its_learning_rate_and_plateau_progress() {
    use cnn::schedule::{LearningRate, ReduceLROnPlateau};
    use std::sync::Arc;
    let (train, test) = (data(60, 11), data(20, 12));
    // The validation loss never improves by 1e9, so the plateau counts
    // from its second epoch on: patience 2 and cooldown 2 reduce the rate
    // after epochs 3 and 6 (as Keras's callback does on these losses). Cut
    // after epoch 2 (waiting) or 3 (cooling down).
    let plateau = ReduceLROnPlateau::default().patience(2).cooldown(2).factor(0.5).min_delta(1e9);
    let rate = LearningRate::Callbacks(vec![
        LearningRate::PerEpoch(Arc::new(|_, lr| lr * 0.9)),
        LearningRate::OnPlateau(plateau),
    ]);
    let options = |epochs, out: &Path| FitOptions { learning_rate: rate.clone(), ..options(epochs, out) };
    let whole = common::tempdir("train-rate-whole");
    let mut a = Tiny::new(4);
    let mut opt_a = Sgd::new(1e-2).momentum(0.9);
    a.fit(&mut opt_a, &train, Some(&test), &options(7, whole.path())).unwrap();
    // Keras's arithmetic: each rule's product in float64, stored in float32.
    let mut expected = 1e-2f32;
    for epoch in 1..=7 {
        expected = (expected as f64 * 0.9) as f32;
        if epoch == 3 || epoch == 6 {
            expected = (expected as f64 * 0.5) as f32;
        }
    }
    assert_eq!(opt_a.learning_rate(), expected);
    let bits = |net: &Tiny| net.params().iter().map(|p| p.to_bits()).collect::<Vec<_>>();
    for cut in [2, 3] {
        let split = common::tempdir(&format!("train-rate-split-{cut}"));
        Tiny::new(4).fit(&mut Sgd::new(1e-2).momentum(0.9), &train, Some(&test), &options(cut, split.path())).unwrap();
        let mut b = Tiny::new(4);
        let mut opt_b = Sgd::new(1e-2).momentum(0.9);
        b.fit(&mut opt_b, &train, Some(&test), &FitOptions { resume: true, ..options(7, split.path()) }).unwrap();
        assert_eq!(opt_b.learning_rate().to_bits(), opt_a.learning_rate().to_bits(), "cut after epoch {cut}");
        assert!(bits(&b) == bits(&a), "cut after epoch {cut}: the weights differ");
    }
    // A checkpoint whose plateau progress is not one is refused, naming
    // the field, and the network keeps its weights.
    let bad = common::tempdir("train-rate-bad");
    Tiny::new(4).fit(&mut Sgd::new(1e-2).momentum(0.9), &train, Some(&test), &options(1, bad.path())).unwrap();
    let path = bad.path().join(CHECKPOINT);
    let file = cnn::checkpoint::TensorFile::open(&path).unwrap();
    let mut meta = file.metadata();
    meta.insert("plateaus".into(), "0.5 1".into());
    let tensors: Vec<_> = file.names().into_iter().map(|n| (file.f32(&n, None).unwrap(), n)).collect();
    let named: Vec<_> = tensors.iter().map(|((shape, v), n)| (n.clone(), shape.clone(), v.as_slice())).collect();
    cnn::checkpoint::write(&path, &named, meta).unwrap();
    let mut c = Tiny::new(4);
    let before = bits(&c);
    let err = c
        .fit(
            &mut Sgd::new(1e-2).momentum(0.9),
            &train,
            Some(&test),
            &FitOptions { resume: true, ..options(2, bad.path()) },
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains(CHECKPOINT) && err.contains("plateaus") && err.contains("0.5 1"), "{err}");
    assert!(bits(&c) == before);
}

#[test]
fn weight_averaging_ends_fit_with_the_average_and_resumes_bitwise() {
    let (train, test) = (data(90, 5), data(30, 6));
    let ema = || Ema::new(Sgd::new(1e-2).momentum(0.9)).momentum(0.9);
    let whole = common::tempdir("train-ema-whole");
    let whole = whole.path();
    let mut a = Tiny::new(7);
    let mut opt_a = ema();
    a.fit(&mut opt_a, &train, Some(&test), &options(3, whole)).unwrap();
    // fit leaves the average in the weights, as Keras's finalize_variable_values.
    let trainable = &a.params()[..Tiny::TRAINABLE_PARAMS];
    assert_eq!(trainable, opt_a.average());
    // Killed after epoch 1, resumed from the checkpoint, which carries the average.
    let split = common::tempdir("train-ema-split");
    let split = split.path();
    Tiny::new(7).fit(&mut ema(), &train, Some(&test), &options(1, split)).unwrap();
    let mut b = Tiny::new(7);
    b.fit(&mut ema(), &train, Some(&test), &FitOptions { resume: true, ..options(3, split) }).unwrap();
    let bits = |net: &Tiny| net.params().iter().map(|p| p.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
}

/// airbench's TTA: the softmax of the weighted mean of the views' logits.
/// `Tiny`'s logits are not visible, but its log-probabilities are the
/// logits less one constant per image, which the softmax takes out.
#[test]
fn test_time_augmentation_is_the_mean_of_its_views() {
    use cnn::data::{mirrored, translated};
    let (train, test) = (data(100, 7), data(30, 8));
    let mut net = Tiny::new(3);
    net.fit(&mut RmsProp::new(3e-3), &train, None, &options(2, common::tempdir("train-tta").path())).unwrap();
    let indices: Vec<usize> = (0..test.len()).collect();
    let (mut x, mut y) = (vec![0.0; test.len() * Tiny::INPUT_LEN], vec![0u8; test.len()]);
    test.fill_batch(&indices, &mut x, &mut y, None);
    let shape = Tiny::INPUT_SHAPE;
    let log_probs = |x: &[f32]| -> Vec<f64> { net.predict(x).iter().map(|&p| (p as f64).ln()).collect() };
    let pair = |x: &[f32]| -> Vec<f64> {
        let (a, b) = (log_probs(x), log_probs(&mirrored(x, shape)));
        a.iter().zip(&b).map(|(a, b)| 0.5 * a + 0.5 * b).collect()
    };
    let (plain, up, down) = (pair(&x), pair(&translated(&x, shape, -1)), pair(&translated(&x, shape, 1)));
    let level2: Vec<f64> =
        plain.iter().zip(up.iter().zip(&down)).map(|(p, (u, d))| 0.5 * p + 0.25 * u + 0.25 * d).collect();
    let softmax = |logits: &[f64]| -> Vec<f64> {
        logits
            .chunks(3)
            .flat_map(|row| {
                let sum: f64 = row.iter().map(|l| l.exp()).sum();
                row.iter().map(move |l| l.exp() / sum)
            })
            .collect()
    };
    let expect = |probs: &[f64]| {
        let loss: f64 =
            y.iter().enumerate().map(|(i, &l)| -probs[i * 3 + l as usize].clamp(1e-7, 1.0 - 1e-7).ln()).sum();
        loss / y.len() as f64
    };
    let plain_probs: Vec<f64> = net.predict(&x).iter().map(|&p| p as f64).collect();
    for (tta, probs) in
        [(Tta::None, plain_probs), (Tta::Mirror, softmax(&plain)), (Tta::MirrorTranslate, softmax(&level2))]
    {
        let got = net.evaluate_tta(&test, 64, tta).unwrap();
        assert!((got.loss - expect(&probs)).abs() < 1e-5, "{tta:?}: {} vs {}", got.loss, expect(&probs));
    }
    // The mean of the logits is not the mean of the probabilities.
    let arithmetic: Vec<f64> = {
        let (a, b) = (net.predict(&x), net.predict(&mirrored(&x, shape)));
        a.iter().zip(&b).map(|(a, b)| 0.5 * *a as f64 + 0.5 * *b as f64).collect()
    };
    assert!((expect(&arithmetic) - net.evaluate_tta(&test, 64, Tta::Mirror).unwrap().loss).abs() > 1e-5);
    // The views differ: a translation by one pixel reads a reflected edge.
    let ramp: Vec<f32> = (0..3).map(|i| i as f32).collect();
    assert_eq!(translated(&ramp, [1, 3, 1], 1), [1.0, 2.0, 1.0]);
    assert_eq!(translated(&ramp, [1, 3, 1], -1), [1.0, 0.0, 1.0]);
    assert_eq!(mirrored(&ramp, [1, 3, 1]), [2.0, 1.0, 0.0]);
}

/// `drop_last`: 110 images in batches of 20 make 5 steps an epoch, not 6,
/// and the train accuracy counts only the images trained on; too few
/// images for one batch is an error.
#[test]
fn drop_last_leaves_out_the_partial_batch() {
    let train = data(110, 5);
    let quiet = |drop_last| FitOptions {
        epochs: 2,
        batch_size: 20,
        verbosity: Verbosity::Never,
        drop_last,
        ..FitOptions::default()
    };
    let mut opt = Sgd::new(1e-3);
    Tiny::new(0).fit(&mut opt, &train, None, &quiet(true)).unwrap();
    assert_eq!(opt.iterations(), 10);
    let mut opt = Sgd::new(1e-3);
    Tiny::new(0).fit(&mut opt, &train, None, &quiet(false)).unwrap();
    assert_eq!(opt.iterations(), 12);
    let err = Tiny::new(0).fit(&mut Sgd::new(1e-3), &data(19, 6), None, &quiet(true)).unwrap_err();
    assert!(err.to_string().contains("drop_last"), "{err}");
}

/// A per-epoch rule and a plateau together, as Keras's ResNet example
/// pairs `LearningRateScheduler` and `ReduceLROnPlateau`: the plateau
/// halves the rate at an epoch's end, and the next epoch's rule sees the
/// halved rate and sets its own.
#[test]
fn callbacks_act_each_at_its_moment() {
    use cnn::schedule::{LearningRate, ReduceLROnPlateau};
    use std::sync::{Arc, Mutex};
    let (train, test) = (data(100, 3), data(40, 4));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let per_epoch = LearningRate::PerEpoch(Arc::new(move |epoch, lr| {
        log.lock().unwrap().push((epoch, lr));
        1e-2
    }));
    let plateau = LearningRate::OnPlateau(ReduceLROnPlateau::default().patience(1).factor(0.5).min_delta(1e9));
    let options = FitOptions {
        epochs: 3,
        batch_size: 20,
        verbosity: Verbosity::Never,
        learning_rate: LearningRate::Callbacks(vec![per_epoch, plateau]),
        ..FitOptions::default()
    };
    let mut opt = Sgd::new(1e-3);
    Tiny::new(0).fit(&mut opt, &train, Some(&test), &options).unwrap();
    // The rule sees each rate as float32 stored it.
    assert_eq!(*seen.lock().unwrap(), [(0, 1e-3f32 as f64), (1, 1e-2f32 as f64), (2, 5e-3f32 as f64)]);
    assert_eq!(opt.learning_rate(), 5e-3);
}
