//! The generated forward and backward code against Keras's own numbers
//! (`../shared/reference/README.md`): every layer's output, the output,
//! the loss, every gradient, and the weights after three RMSprop steps.

mod common;

use cnn::__rt::TensorFile;
use cnn::prelude::*;
use common::{assert_close, tensor};

cnn! {
    /// The network of `kwargs.safetensors`: strides, "same" padding with
    /// stride 2, a pool stride unlike its size, no bias, inline activations.
    struct KwargsNet {
        Conv2D(6, (3, 5), strides = (2, 2), padding = "same", activation = "relu", input_shape = (16, 14, 3)),
        MaxPooling2D((2, 2), strides = (1, 1)),
        Conv2D(8, 3, use_bias = false),
        Activation("tanh"),
        AveragePooling2D((2, 2), padding = "same"),
        Flatten(),
        Dense(16, activation = "sigmoid"),
        Dense(7, activation = "softmax"),
    }
}

/// The seed network, as the examples declare it.
#[path = "../examples/seed_net/mod.rs"]
mod seed_net;
use seed_net::Cifar10Net;

cnn! {
    /// The seed without its Dropout layers; the other names stay as Keras gave them.
    struct SeedNoDropout {
        Conv2D(32, (3, 3), padding = "same", input_shape = (32, 32, 3)),
        Activation("relu"),
        Conv2D(32, (3, 3)),
        Activation("relu"),
        MaxPooling2D(pool_size = (2, 2)),
        Conv2D(64, (3, 3), padding = "same"),
        Activation("relu"),
        Conv2D(64, (3, 3)),
        Activation("relu"),
        MaxPooling2D(pool_size = (2, 2)),
        Flatten(),
        Dense(512),
        Activation("relu"),
        Dense(10),
        Activation("softmax"),
    }
}

/// Runs every check of one reference file through the generated API and
/// prints the largest difference seen for each kind of number.
macro_rules! check_reference {
    ($net:ty, $path:expr, $tol:expr) => {{
        let path = $path;
        let file = TensorFile::open(&path).unwrap();
        let meta = file.metadata();
        let lr: f32 = meta["lr"].parse().unwrap();
        let decay: f32 = meta["decay"].parse().unwrap();
        let (atol, rtol): (f32, f32) = $tol;
        let mut net = <$net>::load(&path).unwrap();
        net.set_dropout(false);
        let images = tensor(&file, "input");
        let labels = file.u8("labels").unwrap();

        let mut worst_layer = 0.0f32;
        let outputs = net.layer_outputs(&images, Mode::Inference).unwrap();
        for (layer, got) in <$net>::LAYERS.iter().zip(&outputs) {
            let want = tensor(&file, &format!("activation.{}", layer.name));
            worst_layer = worst_layer.max(assert_close(layer.name, got, &want, atol, rtol));
        }
        let output = net.predict(&images);
        let worst_output = assert_close("output", &output, &tensor(&file, "output"), atol, rtol);

        let (loss, grads) = net.gradients(&images, &labels).unwrap();
        let want_loss = tensor(&file, "loss")[0];
        assert!((loss - want_loss).abs() <= atol + rtol * want_loss.abs(), "loss {loss} vs Keras {want_loss}");
        let grads = grads.to_vec();
        let mut worst_grad = 0.0f32;
        for t in <$net>::TENSORS {
            let want = tensor(&file, &format!("grad.{}", t.name));
            worst_grad =
                worst_grad.max(assert_close(&format!("grad.{}", t.name), &grads[t.range()], &want, atol, rtol * 10.0));
        }

        let mut opt = RmsProp::new(lr).decay(decay);
        let want_losses = tensor(&file, "rmsprop.losses");
        let mut worst_step_loss = 0.0f32;
        for want in &want_losses {
            let got = net.train_step(&images, &labels, &mut opt);
            assert!((got - want).abs() <= atol + rtol * want.abs(), "rmsprop loss {got} vs Keras {want}");
            worst_step_loss = worst_step_loss.max((got - want).abs());
        }
        // A gradient near RMSprop's epsilon (1e-7) makes `g / (sqrt(a) + eps)`
        // amplify float32 rounding (or a ReLU input that rounds to the other
        // side of zero), so a few single weights may move by up to one
        // first step (about 3.2 lr) unlike Keras's: 24 of dense_1's 1.2M in
        // the seed file. A wrong rule, or one that skips or repeats weights,
        // moves many of a tensor's weights, so each tensor must have fewer
        // than 1% of its weights more than 0.01 lr from Keras's.
        let mut worst_weight = 0.0f32;
        for t in <$net>::TENSORS {
            let want = tensor(&file, &format!("rmsprop.step3.{}", t.name));
            let got = net.tensor(t.name).unwrap();
            worst_weight = worst_weight.max(assert_close(t.name, got, &want, 3.2 * lr, 0.0));
            let off = got.iter().zip(&want).filter(|(g, w)| (*g - *w).abs() > 0.01 * lr).count();
            assert!(off * 100 < t.len, "{off} of {}'s {} weights differ from Keras's by over 0.01 lr", t.name, t.len);
        }
        println!(
            "{}: max |diff| layers {worst_layer:.2e}, output {worst_output:.2e}, loss {:.2e}, grads {worst_grad:.2e}, \
             rmsprop losses {worst_step_loss:.2e}, weights after 3 steps {worst_weight:.2e}",
            path.display(),
            (loss - want_loss).abs()
        );
    }};
}

#[test]
fn kwargs_network_matches_keras() {
    check_reference!(KwargsNet, common::data("kwargs.safetensors"), (1e-6, 1e-4));
}

#[test]
fn kwargs_summary_matches_keras() {
    assert_eq!(KwargsNet::summary(), include_str!("data/kwargs_summary.txt"));
}

#[test]
fn seed_without_dropout_matches_keras() {
    if let Some(path) = common::shared("reference/seed_no_dropout.safetensors") {
        check_reference!(SeedNoDropout, path, (1e-5, 1e-3));
    }
}

#[test]
fn seed_with_dropout_layers_matches_keras() {
    if let Some(path) = common::shared("reference/seed.safetensors") {
        check_reference!(Cifar10Net, path, (1e-5, 1e-3));
    }
}

cnn! {
    /// `bn.safetensors` (`../shared/anchors/nets/bn.json`): BatchNormalization
    /// with and without `center` and `scale`, on images and on flat
    /// features, with other momentum and epsilon; GlobalMaxPooling2D;
    /// `he_normal`; `l2`; `Rescaling`; gelu, selu, softplus, elu, swish,
    /// leaky_relu and hard_sigmoid.
    struct BnNet {
        Conv2D(5, (3, 3), padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(0.01),
               input_shape = (9, 8, 3)),
        BatchNormalization(),
        Activation("relu"),
        Conv2D(7, (2, 2), strides = (2, 2), use_bias = false),
        BatchNormalization(momentum = 0.9, epsilon = 0.0001, scale = false),
        Activation("gelu"),
        Conv2D(6, (1, 1), activation = "selu"),
        BatchNormalization(center = false),
        Activation("softplus"),
        GlobalMaxPooling2D(),
        Dense(8, activation = "elu", kernel_regularizer = l2(0.002)),
        BatchNormalization(momentum = 0.5),
        Activation("swish"),
        Dense(6, activation = "leaky_relu"),
        Rescaling(scale = 0.5, offset = 0.25),
        Activation("hard_sigmoid"),
        Dense(4, activation = "softmax"),
    }
}

/// The checks of a reference from `make_reference_graph.py`: inference
/// output; every layer's output in training mode; the loss with its `l2`
/// penalties and every trainable tensor's gradient; three RMSprop steps,
/// their losses, every tensor after them (moving statistics included) and
/// the inference output after them. Prints the largest difference of each.
macro_rules! check_graph_reference {
    ($net:ty, $path:expr, $tol:expr) => {{
        let path = $path;
        let file = TensorFile::open(&path).unwrap();
        let meta = file.metadata();
        let lr: f32 = meta["lr"].parse().unwrap();
        let decay: f32 = meta["decay"].parse().unwrap();
        assert_eq!(meta["trainable_params"], <$net>::TRAINABLE_PARAMS.to_string());
        assert_eq!(meta["non_trainable_params"], <$net>::NON_TRAINABLE_PARAMS.to_string());
        let (atol, rtol): (f32, f32) = $tol;
        let mut net = <$net>::load(&path).unwrap();
        net.set_dropout(false);
        let images = tensor(&file, "input");
        let labels = file.u8("labels").unwrap();

        let worst_output = assert_close("output", &net.predict(&images), &tensor(&file, "output"), atol, rtol);
        let mut worst_layer = 0.0f32;
        let outputs = net.layer_outputs(&images, Mode::Training).unwrap();
        for (layer, got) in <$net>::LAYERS.iter().zip(&outputs) {
            let want = tensor(&file, &format!("activation.{}", layer.name));
            worst_layer = worst_layer.max(assert_close(layer.name, got, &want, atol, rtol));
        }

        let (loss, grads) = net.gradients(&images, &labels).unwrap();
        let want_loss = tensor(&file, "loss")[0];
        assert!((loss - want_loss).abs() <= atol + rtol * want_loss.abs(), "loss {loss} vs Keras {want_loss}");
        let grads = grads.to_vec();
        let mut worst_grad = 0.0f32;
        for t in <$net>::TENSORS.iter().filter(|t| t.trainable) {
            let want = tensor(&file, &format!("grad.{}", t.name));
            let what = format!("grad.{}", t.name);
            worst_grad = worst_grad.max(assert_close(&what, &grads[t.range()], &want, atol, rtol * 10.0));
        }

        let mut opt = RmsProp::new(lr).decay(decay);
        let mut worst_step_loss = 0.0f32;
        for want in &tensor(&file, "rmsprop.losses") {
            let got = net.train_step(&images, &labels, &mut opt);
            assert!((got - want).abs() <= atol + rtol * want.abs(), "rmsprop loss {got} vs Keras {want}");
            worst_step_loss = worst_step_loss.max((got - want).abs());
        }
        // Where the exact gradient is zero (a bias that BatchNormalization
        // cancels, or one that only reaches it through an activation in its
        // linear range), float32 computes rounding noise (1e-9 to 4e-7 in
        // these networks, below 1e-6 in all; real gradients are 1e-4 and
        // up), and RMSprop scales noise to steps of about lr, in Keras as
        // here, in directions of its own: three steps of noise move a
        // weight by at most (1/sqrt(0.1) + 1/sqrt(0.19) + 1/sqrt(0.271)) lr
        // = 7.4 lr, so such weights are held to twice that. Every other
        // weight is held to 3.2 lr (one step) everywhere and to 0.01 lr in
        // 99% of its values.
        let mut worst_weight = 0.0f32;
        let mut noise = 0;
        for t in <$net>::TENSORS {
            let want = tensor(&file, &format!("rmsprop.step3.{}", t.name));
            let got = net.tensor(t.name).unwrap();
            // Moving statistics follow the weights, noise included: they
            // are held to the one-step bound, not to a rule about 0.01 lr.
            let first = if t.trainable { tensor(&file, &format!("grad.{}", t.name)) } else { vec![1.0; t.len] };
            let mut off = 0;
            for (i, ((g, w), first)) in got.iter().zip(&want).zip(&first).enumerate() {
                let d = (g - w).abs();
                let is_noise = first.abs() < 1e-6;
                noise += is_noise as usize;
                let bound = if is_noise { 14.8 * lr } else { 3.2 * lr + 1e-4 * w.abs() };
                assert!(d <= bound, "{}[{i}]: got {g}, Keras {w} after 3 steps (difference {d})", t.name);
                worst_weight = worst_weight.max(d);
                off += (t.trainable && !is_noise && d > 0.01 * lr + 1e-4 * w.abs()) as usize;
            }
            assert!(off * 100 < t.len.max(100), "{off} of {}'s {} values differ from Keras's by over 0.01 lr", t.name, t.len);
        }
        let after = tensor(&file, "output.after3");
        let worst_after = assert_close("output.after3", &net.predict(&images), &after, atol * 10.0, rtol * 10.0);
        println!(
            "{}: max |diff| output {worst_output:.2e}, training-mode layers {worst_layer:.2e}, loss {:.2e}, \
             grads {worst_grad:.2e}, rmsprop losses {worst_step_loss:.2e}, weights after 3 steps {worst_weight:.2e}, \
             output after 3 steps {worst_after:.2e}; {noise} weights with a gradient of rounding noise held to 14.8 lr only",
            path.display(),
            (loss - want_loss).abs()
        );
    }};
}

#[test]
fn batch_normalization_network_matches_keras() {
    check_graph_reference!(BnNet, common::data("bn.safetensors"), (1e-5, 1e-3));
}

/// `LAYERS` as `make_reference_graph.py` writes Keras's own rows
/// (`[name, class, output shape, params]`, Python's `json.dumps`).
fn keras_rows<S: cnn::Spec>() -> String {
    let rows: Vec<String> = S::LAYERS
        .iter()
        .map(|l| {
            let shape = l.output_shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
            format!("[\"{}\", \"{}\", [{shape}], {}]", l.name, l.kind, l.params)
        })
        .collect();
    format!("[{}]", rows.join(", "))
}

#[test]
fn batch_normalization_network_layers_match_keras_rows() {
    assert_eq!(keras_rows::<BnNet>(), include_str!("data/bn.rows.json").trim());
}

cnn! {
    /// `frozen_b1.safetensors` (`tests/data/nets/frozen_b1.json`): a batch
    /// of one image; a frozen Conv2D and a frozen Dense; BatchNormalization
    /// without center and scale; GlobalAveragePooling2D; lecun_uniform,
    /// glorot_normal and he_uniform.
    struct FrozenB1 {
        Conv2D(4, 3, padding = "same", trainable = false, input_shape = (6, 5, 2)),
        BatchNormalization(),
        Activation("relu"),
        Conv2D(3, 2, activation = "tanh", kernel_initializer = "lecun_uniform"),
        BatchNormalization(center = false, scale = false, momentum = 0.8),
        // Without it the pool would average the normalized values of one
        // image to zero, and every gradient before it with them.
        Activation("tanh"),
        GlobalAveragePooling2D(),
        Dense(5, activation = "sigmoid", kernel_initializer = "glorot_normal", trainable = false),
        Dense(3, activation = "softmax", kernel_initializer = "he_uniform"),
    }
}

cnn! {
    /// `activations.safetensors` (`tests/data/nets/activations.json`):
    /// every activation, inline and as a layer, among them the seed's.
    struct ActivationsNet {
        Conv2D(4, 2, activation = "gelu", input_shape = (4, 4, 3)),
        Conv2D(4, 2, activation = "elu", kernel_initializer = "lecun_normal"),
        BatchNormalization(epsilon = 0.01),
        Activation("selu"),
        GlobalMaxPooling2D(),
        Dense(6, activation = "swish"),
        Activation("leaky_relu"),
        Dense(6, activation = "hard_sigmoid"),
        Activation("softplus"),
        Dense(6, activation = "linear"),
        Activation("sigmoid"),
        Dense(5, activation = "tanh"),
        Activation("relu"),
        Dense(4),
        Activation("softmax"),
    }
}

cnn! {
    /// `wide.safetensors` (`tests/data/nets/wide.json`): 96-channel 3x3
    /// convolutions, wide enough for Winograd F(4x4, 3x3) (`conv2d_2` on
    /// 7x7, whose tiles reach past the edge, and `conv2d_3` on 3x3, one
    /// tile an image), after an F(2x2) one over 8 channels.
    struct WideNet {
        Conv2D(96, 3, padding = "same", input_shape = (7, 7, 8)),
        BatchNormalization(),
        Activation("relu"),
        Conv2D(96, 3, padding = "same", use_bias = false),
        BatchNormalization(),
        Activation("gelu"),
        MaxPooling2D(2),
        Conv2D(96, 3, padding = "same"),
        BatchNormalization(),
        Activation("relu"),
        GlobalAveragePooling2D(),
        Dense(10, activation = "softmax"),
    }
}

#[test]
fn wide_convolutions_match_keras() {
    assert_eq!(keras_rows::<WideNet>(), include_str!("data/wide.rows.json").trim());
    check_graph_reference!(WideNet, common::data("wide.safetensors"), (1e-5, 1e-3));
}

#[test]
fn frozen_layers_at_batch_size_one_match_keras() {
    assert_eq!(keras_rows::<FrozenB1>(), include_str!("data/frozen_b1.rows.json").trim());
    check_graph_reference!(FrozenB1, common::data("frozen_b1.safetensors"), (1e-5, 1e-3));
}

#[test]
fn every_activation_matches_keras() {
    assert_eq!(keras_rows::<ActivationsNet>(), include_str!("data/activations.rows.json").trim());
    check_graph_reference!(ActivationsNet, common::data("activations.safetensors"), (1e-5, 1e-3));
}

cnn! {
    /// `resnet_tiny.safetensors` (`../shared/anchors/nets/resnet_tiny.json`):
    /// `Add` with identity and projection shortcuts (one without a bias),
    /// `Repeat`, `Concatenate` with an identity branch, GlobalAveragePooling2D.
    struct ResnetTiny {
        Conv2D(6, 3, padding = "same", input_shape = (8, 8, 3)),
        BatchNormalization(),
        Activation("relu"),
        Repeat(2) {
            Add {
                [
                    Conv2D(6, 3, padding = "same"),
                    BatchNormalization(),
                    Activation("relu"),
                    Conv2D(6, 3, padding = "same"),
                    BatchNormalization(),
                ],
                [],
            },
            Activation("relu"),
        },
        Add {
            [Conv2D(10, 3, strides = 2, padding = "same"), BatchNormalization()],
            [Conv2D(10, 1, strides = 2, padding = "same", use_bias = false)],
        },
        Activation("relu"),
        Concatenate {
            [Conv2D(3, 1)],
            [MaxPooling2D(pool_size = 3, strides = 1, padding = "same")],
            [],
        },
        GlobalAveragePooling2D(),
        Dense(5, activation = "softmax"),
    }
}

#[test]
fn residual_network_matches_keras() {
    assert_eq!(keras_rows::<ResnetTiny>(), include_str!("data/resnet_tiny.rows.json").trim());
    check_graph_reference!(ResnetTiny, common::data("resnet_tiny.safetensors"), (1e-5, 1e-3));
}

cnn! {
    /// `nested.safetensors` (`tests/data/nets/nested.json`): an Add of
    /// three branches (a Concatenate holding an Add, the identity, a
    /// pool), blocks inside a Repeat, a projection without bias, and a
    /// strided Concatenate of three branches before Flatten and Dense.
    struct Nested {
        Conv2D(4, 3, padding = "same", activation = "tanh", input_shape = (6, 6, 3)),
        Add {
            [Concatenate {
                [Conv2D(2, 1)],
                [
                    Add { [Conv2D(2, 3, padding = "same", use_bias = false)], [Conv2D(2, 1, activation = "relu")] },
                    BatchNormalization(),
                ],
            }],
            [],
            [AveragePooling2D(pool_size = 3, strides = 1, padding = "same")],
        },
        Activation("relu"),
        Repeat(2) {
            Add { [Conv2D(4, 3, padding = "same"), BatchNormalization()], [] },
        },
        Concatenate {
            [Conv2D(3, 1, strides = 2)],
            [MaxPooling2D(pool_size = 2)],
            [Conv2D(1, 3, strides = 2, padding = "same")],
        },
        Flatten(),
        Dense(4, activation = "softmax"),
    }
}

#[test]
fn nested_blocks_match_keras() {
    assert_eq!(keras_rows::<Nested>(), include_str!("data/nested.rows.json").trim());
    check_graph_reference!(Nested, common::data("nested.safetensors"), (1e-5, 1e-3));
}

#[path = "../examples/resnet20/mod.rs"]
mod resnet20;

#[test]
fn resnet20_matches_keras_at_batch_one() {
    assert_eq!(keras_rows::<resnet20::ResNet20>(), include_str!("data/resnet20_b1.rows.json").trim());
    check_graph_reference!(resnet20::ResNet20, common::data("resnet20_b1.safetensors"), (1e-5, 1e-3));
}
