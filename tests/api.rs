//! The generated API as users rely on it: seeding, determinism across
//! thread counts, typed forward and chaining, checkpoints and their
//! errors, bad batches, and the optimizers' update rules.

mod common;

use cnn::prelude::*;
use cnn::rng::Rng;

cnn! {
    pub struct Small {
        Conv2D(8, (3, 3), padding = "same", activation = "relu", input_shape = (12, 10, 3)),
        MaxPooling2D(),
        Dropout(0.25),
        Conv2D(6, (3, 3), activation = "relu"),
        Flatten(),
        Dense(16, activation = "relu"),
        Dropout(0.5),
        Dense(4, activation = "softmax"),
    }
}

cnn! {
    /// A feature extractor whose output fits `Head`'s input.
    struct Features {
        Conv2D(4, (3, 3), input_shape = (10, 10, 1)),
        MaxPooling2D(),
    }
}

cnn! {
    struct Head {
        Flatten(input_shape = (4, 4, 4)),
        Dense(3, activation = "softmax"),
    }
}

fn batch(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let images = (0..n * Small::INPUT_LEN).map(|_| rng.unit()).collect();
    let labels = (0..n).map(|_| rng.below(4) as u8).collect();
    (images, labels)
}

fn train(threads: usize) -> Vec<f32> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    pool.install(|| {
        let mut net = Small::new(42);
        let mut opt = RmsProp::new(1e-3).decay(1e-4);
        for step in 0..4 {
            // 40 images: three chunks, the last one partial.
            let (images, labels) = batch(40, step);
            net.train_step(&images, &labels, &mut opt);
        }
        net.params().to_vec()
    })
}

#[test]
fn training_is_bitwise_the_same_on_one_and_two_threads() {
    let one = train(1);
    let two = train(2);
    assert_eq!(
        one.iter().map(|p| p.to_bits()).collect::<Vec<_>>(),
        two.iter().map(|p| p.to_bits()).collect::<Vec<_>>()
    );
    assert_ne!(one, Small::new(42).params(), "training changed nothing");
}

/// Chunks run apart and a Dense kernel's gradient is taken over all their
/// rows at once: a batch's gradient must still be its images' mean
/// gradient, for a batch of three chunks, the last one partial.
#[test]
fn a_batch_gradient_is_the_mean_of_its_parts() {
    let mut net = Small::new(5);
    net.set_dropout(false);
    let (images, labels) = batch(40, 9);
    let mut sum = vec![0.0f64; Small::TOTAL_PARAMS];
    for (from, to) in [(0, 16), (16, 32), (32, 40)] {
        let (_, part) =
            net.gradients(&images[from * Small::INPUT_LEN..to * Small::INPUT_LEN], &labels[from..to]).unwrap();
        let weight = (to - from) as f64 / 40.0;
        sum.iter_mut().zip(part).for_each(|(s, &g)| *s += weight * g as f64);
    }
    let (_, whole) = net.gradients(&images, &labels).unwrap();
    for t in Small::TENSORS {
        assert!(whole[t.range()].iter().any(|&g| g != 0.0), "{} has no gradient", t.name);
        for i in t.range() {
            let (got, want) = (whole[i] as f64, sum[i]);
            assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{}[{}]: {got} vs {want}", t.name, i - t.offset);
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_weights() {
    assert_eq!(Small::new(1).params(), Small::new(1).params());
    assert_ne!(Small::new(1).params(), Small::new(2).params());
    // Keras's defaults: glorot_uniform kernels within their limit, zero biases.
    let net = Small::new(1);
    let limit = (6.0f32 / (3.0 * 3.0 * 3.0 + 3.0 * 3.0 * 8.0)).sqrt();
    let kernel = net.tensor("conv2d_1.kernel").unwrap();
    assert!(kernel.iter().all(|w| w.abs() <= limit));
    assert!(kernel.iter().any(|w| w.abs() > limit * 0.9));
    assert!(net.tensor("conv2d_1.bias").unwrap().iter().all(|b| *b == 0.0));
}

#[test]
fn dropout_is_off_in_inference_and_on_in_training() {
    let mut net = Small::new(5);
    let (images, labels) = batch(8, 9);
    assert_eq!(net.predict(&images), net.predict(&images));
    let (with, _) = net.gradients(&images, &labels).unwrap();
    net.set_dropout(false);
    let (without, _) = net.gradients(&images, &labels).unwrap();
    assert_ne!(with, without);
}

#[test]
fn typed_forward_equals_predict_and_networks_chain() {
    let net = Small::new(3);
    let (images, _) = batch(5, 1);
    let x = small::Input::from_vec(images.clone()).unwrap();
    let y: small::Output = net.forward(&x);
    assert_eq!(y.len(), 5);
    assert_eq!(y.as_slice(), &net.predict(&images)[..]);
    for row in y.as_slice().chunks(4) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    let features = Features::new(1);
    let head = Head::new(2);
    let x = features::Input::zeros(2);
    let expected = head.forward(&features.forward(&x));
    let chained = Features::new(1).then(Head::new(2));
    assert_eq!(chained.forward(&x), expected);
}

#[test]
fn predict_takes_any_batch_size_and_refuses_partial_images() {
    let net = Small::new(3);
    assert!(net.predict(&[]).is_empty());
    let (images, _) = batch(37, 2);
    let all = net.predict(&images);
    assert_eq!(all.len(), 37 * 4);
    // Chunking does not change an image's output.
    assert_eq!(&all[36 * 4..], &net.predict(&images[36 * Small::INPUT_LEN..])[..]);
    let err = net.try_predict(&images[1..]).unwrap_err().to_string();
    assert!(err.contains("multiple of 360"), "{err}");
    assert!(small::Input::from_vec(vec![0.0; 7]).is_err());
}

#[test]
fn bad_training_batches_are_errors() {
    let mut net = Small::new(3);
    let mut opt = Sgd::new(0.1);
    let (images, mut labels) = batch(4, 2);
    let err = net.try_train_step(&images, &labels[..3], &mut opt).unwrap_err().to_string();
    assert!(err.contains("4 images but 3 labels"), "{err}");
    labels[2] = 4;
    let err = net.try_train_step(&images, &labels, &mut opt).unwrap_err().to_string();
    assert!(err.contains("label 4 (image 2) is out of range for 4 classes"), "{err}");
    assert_eq!(opt.iterations(), 0, "a refused batch must not update anything");
}

#[test]
#[should_panic(expected = "out of range")]
fn train_step_panics_with_a_clear_message() {
    let mut net = Small::new(3);
    let (images, _) = batch(2, 2);
    net.train_step(&images, &[0, 9], &mut Sgd::new(0.1));
}

#[test]
fn save_and_load_round_trip() {
    let dir = common::tempdir("api-roundtrip");
    let dir = dir.path();
    let path = dir.join("small.safetensors");
    let mut net = Small::new(11);
    let (images, labels) = batch(4, 1);
    net.train_step(&images, &labels, &mut Adam::default());
    net.save(&path).unwrap();
    let loaded = Small::load(&path).unwrap();
    assert_eq!(loaded.params(), net.params());
    assert_eq!(loaded.predict(&images), net.predict(&images));
}

#[test]
fn loading_another_networks_file_names_the_tensor_and_shapes() {
    let err = Small::load(common::data("kwargs.safetensors")).unwrap_err().to_string();
    assert!(err.contains("conv2d_1.kernel") && err.contains("[3, 3, 3, 8]") && err.contains("[3, 5, 3, 6]"), "{err}");
    let dir = common::tempdir("api-other");
    let dir = dir.path();
    let path = dir.join("head.safetensors");
    Head::new(0).save(&path).unwrap();
    let err = Small::load(&path).unwrap_err().to_string();
    assert!(err.contains("tensor `conv2d_1.kernel` (shape [3, 3, 3, 8]) is missing"), "{err}");
    assert!(err.contains("head.safetensors"), "{err}");
}

#[test]
fn truncated_and_wrong_dtype_files_are_errors() {
    let dir = common::tempdir("api-corrupt");
    let dir = dir.path();
    let path = dir.join("head.safetensors");
    Head::new(0).save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let err = Head::load(&path).unwrap_err().to_string();
    assert!(err.contains("head.safetensors") && err.contains("truncated"), "{err}");

    // The same header with dense_1.kernel declared as F16.
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
    let kernel_at = header.find("\"dense_1.kernel\"").unwrap();
    let dtype_at = kernel_at + header[kernel_at..].find("\"F32\"").unwrap();
    let bad_header = format!("{}\"I32\"{}", &header[..dtype_at], &header[dtype_at + 5..]);
    let mut bad = (bad_header.len() as u64).to_le_bytes().to_vec();
    bad.extend_from_slice(bad_header.as_bytes());
    bad.extend_from_slice(&bytes[8 + header_len..]);
    std::fs::write(&path, bad).unwrap();
    let err = Head::load(&path).unwrap_err().to_string();
    assert!(err.contains("dense_1.kernel") && err.contains("I32") && err.contains("F32"), "{err}");

    let err = Head::load(dir.join("absent.safetensors")).unwrap_err().to_string();
    assert!(err.contains("absent.safetensors"), "{err}");
}

#[test]
fn optimizers_follow_keras_update_rules() {
    let grads = [0.5f32, -2.0, 0.0];
    // SGD with momentum 0.9, two steps: v1 = -lr g, v2 = 0.9 v1 - lr g.
    let mut p = [1.0f32, 1.0, 1.0];
    let mut sgd = Sgd::new(0.1).momentum(0.9);
    sgd.update(&mut p, &grads);
    sgd.update(&mut p, &grads);
    let want = |g: f32| 1.0 - 0.1 * g - (0.9 * 0.1 * g + 0.1 * g);
    assert!(p.iter().zip(&grads).all(|(p, g)| (p - want(*g)).abs() < 1e-6), "{p:?}");
    // Nesterov: p += momentum v - lr g.
    let mut p = [1.0f32; 3];
    let mut nesterov = Sgd::new(0.1).momentum(0.9).nesterov(true);
    nesterov.update(&mut p, &grads);
    assert!(p.iter().zip(&grads).all(|(p, g)| (p - (1.0 - 0.9 * 0.1 * g - 0.1 * g)).abs() < 1e-6), "{p:?}");
    // Adam's first step moves each weight by lr * sign(g) (up to epsilon).
    let mut p = [1.0f32; 3];
    let mut adam = Adam::default();
    adam.update(&mut p, &grads);
    assert!((p[0] - 0.999).abs() < 1e-6 && (p[1] - 1.001).abs() < 1e-6 && p[2] == 1.0, "{p:?}");
    // RMSprop with decay: lr_t = lr / (1 + decay * iterations).
    let mut rms = RmsProp::new(0.1).decay(0.5);
    let mut p = [0.0f32; 3];
    rms.update(&mut p, &grads);
    assert!((rms.current_lr() - 0.1 / 1.5).abs() < 1e-7);
    assert!((p[0] + 0.1 * 0.5 / ((0.1f32 * 0.25).sqrt() + 1e-7)).abs() < 1e-6, "{p:?}");
}

cnn! {
    /// A frozen first conv, BatchNormalization on images and on features.
    struct Frozen {
        Conv2D(4, 3, padding = "same", trainable = false, input_shape = (6, 6, 3)),
        BatchNormalization(),
        Activation("relu"),
        Flatten(),
        Dense(5),
        BatchNormalization(momentum = 0.5, center = false),
        Dense(3, activation = "softmax"),
    }
}

const _: () = assert!(Frozen::NON_TRAINABLE_PARAMS == 4 * 27 + 4 + 2 * 4 + 2 * 5);
const _: () = assert!(Frozen::TRAINABLE_PARAMS == 2 * 4 + 144 * 5 + 5 + 5 + 5 * 3 + 3);
const _: () = assert!(Frozen::TOTAL_PARAMS == Frozen::TRAINABLE_PARAMS + Frozen::NON_TRAINABLE_PARAMS);

fn frozen_batch(n: usize) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(n as u64);
    ((0..n * Frozen::INPUT_LEN).map(|_| rng.unit()).collect(), (0..n).map(|_| rng.below(3) as u8).collect())
}

#[test]
fn frozen_layers_keep_their_weights_and_count_as_non_trainable() {
    assert!(Frozen::summary().contains("Non-trainable params: 130"), "{}", Frozen::summary());
    let mut net = Frozen::new(4);
    let frozen = net.tensor("conv2d_1.kernel").unwrap().to_vec();
    let dense = net.tensor("dense_1.kernel").unwrap().to_vec();
    let (images, labels) = frozen_batch(8);
    let mut opt = Adam::default();
    for _ in 0..3 {
        net.train_step(&images, &labels, &mut opt);
    }
    assert_eq!(net.tensor("conv2d_1.kernel").unwrap(), &frozen[..]);
    assert_ne!(net.tensor("dense_1.kernel").unwrap(), &dense[..]);
    // The optimizer's state covers the trainable tensors only.
    assert!(opt.state().iter().all(|(_, v)| v.len() == Frozen::TRAINABLE_PARAMS));
    assert_eq!(net.gradients(&images, &labels).unwrap().1.len(), Frozen::TRAINABLE_PARAMS);
}

#[test]
fn batch_normalization_trains_on_batch_statistics_and_infers_on_moving_ones() {
    let mut net = Frozen::new(2);
    let (images, labels) = frozen_batch(6);
    let moving = |net: &Frozen| net.tensor("batch_normalization_1.moving_mean").unwrap().to_vec();
    // Neither inference nor gradients move the statistics; a step does, by
    // (1 - momentum) of the batch's mean.
    let before = moving(&net);
    let inferred = net.predict(&images);
    net.gradients(&images, &labels).unwrap();
    assert_eq!(moving(&net), before);
    let training = net.layer_outputs(&images, Mode::Training).unwrap();
    let inference = net.layer_outputs(&images, Mode::Inference).unwrap();
    assert_eq!(inference.last().unwrap(), &inferred);
    // Training normalizes each channel over the batch: mean 0.
    for ch in 0..4 {
        let mean: f32 = training[1].iter().skip(ch).step_by(4).sum::<f32>() / (6.0 * 36.0);
        assert!(mean.abs() < 1e-4, "channel {ch}: mean {mean}");
    }
    assert_ne!(training[1], inference[1]);
    net.set_dropout(false);
    assert_eq!(
        net.layer_outputs(&images, Mode::Training).unwrap(),
        training,
        "the dropout switch changed BatchNormalization"
    );
    net.train_step(&images, &labels, &mut Sgd::new(0.0));
    let conv = &training[0];
    for (ch, &m) in moving(&net).iter().enumerate() {
        let batch_mean: f32 = conv.iter().skip(ch).step_by(4).sum::<f32>() / (6.0 * 36.0);
        assert!((m - 0.01 * batch_mean).abs() < 1e-6, "channel {ch}: moving mean {m}, batch mean {batch_mean}");
    }
    assert_ne!(net.predict(&images), inferred);
}

#[test]
fn checkpoints_carry_batch_normalization_and_refuse_files_without_it() {
    let dir = common::tempdir("api-bn");
    let dir = dir.path();
    let path = dir.join("frozen.safetensors");
    let mut net = Frozen::new(6);
    let (images, labels) = frozen_batch(5);
    net.train_step(&images, &labels, &mut RmsProp::new(1e-3));
    net.save(&path).unwrap();
    let file = cnn::__rt::TensorFile::open(&path).unwrap();
    for name in ["gamma", "beta", "moving_mean", "moving_variance"] {
        assert!(file.names().contains(&format!("batch_normalization_1.{name}")), "{name}");
    }
    let loaded = Frozen::load(&path).unwrap();
    assert_eq!(loaded.params(), net.params());
    assert_eq!(loaded.predict(&images), net.predict(&images));
    // A file from before BatchNormalization was added: the same layers without it.
    cnn! {
        struct Older {
            Conv2D(4, 3, padding = "same", trainable = false, input_shape = (6, 6, 3)),
            Activation("relu"),
            Flatten(),
            Dense(5),
            Dense(3, activation = "softmax"),
        }
    }
    let older = dir.join("older.safetensors");
    Older::new(0).save(&older).unwrap();
    let err = Frozen::load(&older).unwrap_err().to_string();
    assert!(err.contains("tensor `batch_normalization_1.gamma` (shape [4]) is missing"), "{err}");
}

#[test]
fn batch_statistics_are_bitwise_the_same_on_one_and_three_threads() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut net = Frozen::new(9);
            let mut opt = RmsProp::new(1e-3);
            for step in 0..3 {
                // 37 images: units of 4, the last one short.
                let (images, labels) = frozen_batch(37 + step);
                net.train_step(&images, &labels, &mut opt);
            }
            net.params().iter().map(|p| p.to_bits()).collect::<Vec<_>>()
        })
    };
    assert_eq!(run(1), run(3));
}

cnn! {
    /// BatchNormalization with an activation after it that it applies in
    /// its own pass: GELU (whose derivative reads its input), ELU (its
    /// output) and relu (a select).
    struct Folded {
        Conv2D(4, 3, padding = "same", input_shape = (6, 6, 3)),
        BatchNormalization(),
        Activation("gelu"),
        Conv2D(5, 3),
        BatchNormalization(center = false),
        Activation("elu"),
        Flatten(),
        Dense(6),
        BatchNormalization(scale = false),
        Activation("relu"),
        Dense(3, activation = "softmax"),
    }
}

cnn! {
    /// `Folded` with a `Rescaling` that changes no value between each
    /// BatchNormalization and its activation: each runs in a pass of its own.
    struct Apart {
        Conv2D(4, 3, padding = "same", input_shape = (6, 6, 3)),
        BatchNormalization(),
        Rescaling(1.0),
        Activation("gelu"),
        Conv2D(5, 3),
        BatchNormalization(center = false),
        Rescaling(1.0),
        Activation("elu"),
        Flatten(),
        Dense(6),
        BatchNormalization(scale = false),
        Rescaling(1.0),
        Activation("relu"),
        Dense(3, activation = "softmax"),
    }
}

#[test]
fn an_activation_folded_into_batch_normalization_gives_the_same_bits() {
    let dir = common::tempdir("api-folded");
    let path = dir.path().join("folded.safetensors");
    let mut folded = Folded::new(3);
    folded.save(&path).unwrap();
    let mut apart = Apart::load(&path).unwrap();
    let same = |x: &[f32], y: &[f32]| x.len() == y.len() && x.iter().zip(y).all(|(x, y)| x.to_bits() == y.to_bits());
    let (mut a, mut b) = (RmsProp::new(1e-2), RmsProp::new(1e-2));
    let mut rng = Rng::new(5);
    for n in [7, 1, 20] {
        let images: Vec<f32> = (0..n * Folded::INPUT_LEN).map(|_| rng.unit() * 2.0 - 1.0).collect();
        let labels: Vec<u8> = (0..n).map(|_| rng.below(3) as u8).collect();
        // Every layer's output, the folded BatchNormalizations' included.
        for mode in [Mode::Training, Mode::Inference] {
            let (f, s) = (folded.layer_outputs(&images, mode).unwrap(), apart.layer_outputs(&images, mode).unwrap());
            for (k, j) in [(0, 0), (1, 1), (2, 3), (4, 5), (5, 7), (8, 10), (9, 12), (10, 13)] {
                assert!(same(&f[k], &s[j]), "{mode:?}: layer {k} of Folded, {j} of Apart, batch of {n}");
            }
        }
        let (lf, ls) = (folded.train_step(&images, &labels, &mut a), apart.train_step(&images, &labels, &mut b));
        assert_eq!(lf.to_bits(), ls.to_bits(), "loss, batch of {n}");
        assert!(same(folded.params(), apart.params()), "weights after a step on a batch of {n}");
    }
    let x = [0.5; 2 * Folded::INPUT_LEN];
    assert!(same(&folded.predict(&x), &apart.predict(&x)), "predictions after training");
}

#[test]
fn set_tensor_checks_name_and_length_and_changes_nothing_on_error() {
    let mut net = Frozen::new(4);
    let n = net.tensor("conv2d_1.kernel").unwrap().len();
    let whitening: Vec<f32> = (0..n).map(|i| i as f32 * 0.01).collect();
    net.set_tensor("conv2d_1.kernel", &whitening).unwrap();
    assert_eq!(net.tensor("conv2d_1.kernel").unwrap(), &whitening[..]);
    // A frozen layer set this way keeps the values through training.
    let (images, labels) = frozen_batch(8);
    net.train_step(&images, &labels, &mut Adam::default());
    assert_eq!(net.tensor("conv2d_1.kernel").unwrap(), &whitening[..]);
    let before = net.params().to_vec();
    let err = net.set_tensor("conv2d_1.kernel", &whitening[1..]).unwrap_err().to_string();
    assert!(err.contains("`conv2d_1.kernel` has shape [3, 3, 3, 4] (108 values), but 107"), "{err}");
    let err = net.set_tensor("conv2d_9.kernel", &whitening).unwrap_err().to_string();
    assert!(err.contains("no tensor `conv2d_9.kernel`") && err.contains("dense_1.kernel"), "{err}");
    assert_eq!(net.params(), &before[..]);
}
