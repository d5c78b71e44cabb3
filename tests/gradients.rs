//! Finite-difference checks of the generated backward pass, for every
//! layer kind and argument, on small random shapes.

use cnn::prelude::*;
use cnn::rng::Rng;

cnn! {
    /// Conv with stride and "same" padding, max pool with stride 1 and
    /// "same", conv without bias, average pool with "same" (partial
    /// windows), dense with relu, dropout, softmax as its own layer.
    struct WindowNet {
        Conv2D(3, (3, 2), strides = (2, 1), padding = "same", activation = "tanh", input_shape = (7, 6, 2)),
        MaxPooling2D((2, 2), strides = 1, padding = "same"),
        Conv2D(4, 2, use_bias = false, activation = "sigmoid"),
        AveragePooling2D((2, 3), padding = "same"),
        Flatten(),
        Dense(5, activation = "relu"),
        Dropout(0.3),
        Dense(3),
        Activation("softmax"),
    }
}

cnn! {
    /// Every activation as a layer, a softmax in the middle, a 1x1 conv,
    /// a valid average pool and an inline softmax at the end.
    struct ActivationNet {
        Conv2D(4, 1, input_shape = (4, 4, 3)),
        Activation("relu"),
        AveragePooling2D(),
        Conv2D(5, (2, 2), padding = "same", activation = "linear"),
        Activation("sigmoid"),
        Flatten(),
        Dense(6),
        Activation("tanh"),
        Dense(6),
        Activation("softmax"),
        Dense(4, activation = "softmax"),
    }
}

cnn! {
    /// 3x3 stride-1 convs over 8 channels run as Winograd F(2x2, 3x3):
    /// "same" over an odd height and "valid" to an odd width, so tiles
    /// hang over both edges, behind an im2col conv over 2 channels.
    struct WinogradNet {
        Conv2D(8, 3, padding = "same", input_shape = (5, 6, 2)),
        Conv2D(8, (3, 3), padding = "same", activation = "tanh"),
        Conv2D(4, 3, activation = "relu"),
        Flatten(),
        Dense(3, activation = "softmax"),
    }
}

cnn! {
    /// BatchNormalization with each flag, on images and on flat features,
    /// in training mode; both global pools; Rescaling; l2 penalties; a
    /// frozen conv whose input gradient still flows; inline gelu, swish,
    /// elu and selu.
    struct BatchNormNet {
        Conv2D(4, 3, padding = "same", kernel_regularizer = l2(0.05), input_shape = (5, 4, 2)),
        BatchNormalization(),
        Activation("gelu"),
        Conv2D(5, 2, use_bias = false, activation = "swish", trainable = false),
        BatchNormalization(momentum = 0.5, epsilon = 0.01, scale = false),
        Conv2D(6, 1, activation = "elu", kernel_initializer = "he_normal"),
        BatchNormalization(center = false),
        GlobalAveragePooling2D(),
        Dense(5, activation = "selu", kernel_regularizer = l2(0.01)),
        BatchNormalization(center = false, scale = false),
        Rescaling(0.5, offset = 0.1),
        Activation("softplus"),
        Dense(3, activation = "softmax"),
    }
}

cnn! {
    /// The other new activations, inline and as layers, after a global max pool.
    struct ModernActivationNet {
        Conv2D(3, 1, activation = "leaky_relu", input_shape = (3, 3, 2)),
        GlobalMaxPooling2D(),
        Dense(6, activation = "hard_sigmoid", kernel_initializer = "lecun_normal"),
        Activation("leaky_relu"),
        Activation("elu"),
        Activation("selu"),
        Activation("swish"),
        Activation("gelu"),
        Activation("softplus"),
        Dense(6, activation = "gelu", kernel_initializer = "glorot_normal"),
        Activation("hard_sigmoid"),
        Dense(3, activation = "softmax"),
    }
}

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.unit() * 2.0 - 1.0).collect()
}

/// Compares every analytic gradient with a central difference in f64-ish
/// arithmetic (f32 forward, step 1e-2), relative to the gradient's scale.
macro_rules! check {
    ($net:ty, $dropout:expr) => {
        check!($net, $dropout, 0.0)
    };
    ($net:ty, $dropout:expr, $smoothing:expr) => {{
        let mut rng = Rng::new(7);
        let mut net = <$net>::new(3);
        net.set_dropout($dropout);
        net.set_label_smoothing($smoothing);
        // Spread the weights so that units are neither dead nor saturated.
        for p in net.params_mut() {
            *p += (rng.unit() - 0.5) * 0.2;
        }
        let n = 3;
        let images = random(n * <$net>::INPUT_LEN, &mut rng);
        let labels: Vec<u8> = (0..n).map(|i| (i % <$net>::OUTPUT_LEN) as u8).collect();
        let grads = net.gradients(&images, &labels).unwrap().1.to_vec();
        let scale = grads.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        assert!(scale > 1e-3, "gradients vanish: {scale}");
        let h = 1e-3f32;
        let mut worst = 0.0f32;
        for i in 0..grads.len() {
            let keep = net.params()[i];
            net.params_mut()[i] = keep + h;
            let up = net.gradients(&images, &labels).unwrap().0;
            net.params_mut()[i] = keep - h;
            let down = net.gradients(&images, &labels).unwrap().0;
            net.params_mut()[i] = keep;
            let numeric = (up - down) / (2.0 * h);
            let err = (numeric - grads[i]).abs();
            worst = worst.max(err / scale);
            assert!(
                err <= 2e-3 * scale + 2e-2 * grads[i].abs(),
                "parameter {i}: analytic {} vs numeric {numeric}",
                grads[i]
            );
        }
        println!("{}: worst relative error {worst:.2e} over {} parameters", stringify!($net), grads.len());
    }};
}

cnn! {
    /// Branches in training mode: an identity shortcut (the block's input
    /// read by a conv and by the Add), a projection shortcut without bias,
    /// an Add of the input to itself, a Concatenate of three branches with
    /// pooling and an identity, blocks nested in blocks, BatchNormalization
    /// inside branches and a Dense after a merge.
    struct BranchNet {
        Conv2D(3, 3, padding = "same", activation = "tanh", input_shape = (6, 6, 2)),
        Repeat(2) {
            Add {
                [Conv2D(3, 3, padding = "same"), BatchNormalization(), Activation("tanh")],
                [],
            },
        },
        Add {
            [Conv2D(4, 3, strides = 2, padding = "same", activation = "tanh")],
            [Conv2D(4, 1, strides = 2, use_bias = false)],
        },
        Add { [], [] },
        Concatenate {
            [Conv2D(2, 1, activation = "sigmoid")],
            [MaxPooling2D(3, strides = 1, padding = "same"), Add { [Conv2D(4, 1)], [] }],
            [],
        },
        Flatten(),
        Dense(3, activation = "softmax"),
    }
}

#[test]
fn branches_match_finite_differences() {
    check!(BranchNet, false);
}

#[test]
fn label_smoothing_is_part_of_the_gradient() {
    check!(WinogradNet, false, 0.2);
}

#[test]
fn window_layers_match_finite_differences() {
    check!(WindowNet, false);
}

#[test]
fn dropout_masks_are_part_of_the_gradient() {
    // The step's mask is fixed (the step count does not move while only
    // gradients are taken), so finite differences see the same mask.
    check!(WindowNet, true);
}

#[test]
fn winograd_convolutions_match_finite_differences() {
    check!(WinogradNet, false);
}

#[test]
fn activation_layers_match_finite_differences() {
    check!(ActivationNet, false);
}

#[test]
fn batch_normalization_and_modern_layers_match_finite_differences() {
    check!(BatchNormNet, false);
}

#[test]
fn modern_activations_match_finite_differences() {
    check!(ModernActivationNet, false);
}
