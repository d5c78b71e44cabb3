//! # cnn
//!
//! Convolutional networks declared as a Keras-like layer list in one macro
//! call, checked by the compiler, and trained fast on the CPU.
//!
//! ```
//! use cnn::prelude::*;
//!
//! cnn! {
//!     /// The Keras CIFAR-10 example.
//!     pub struct Cifar10Net {
//!         Conv2D(32, (3, 3), padding = "same", input_shape = (32, 32, 3)),
//!         Activation("relu"),
//!         Conv2D(32, (3, 3)),
//!         Activation("relu"),
//!         MaxPooling2D(pool_size = (2, 2)),
//!         Dropout(0.25),
//!         Conv2D(64, (3, 3), padding = "same"),
//!         Activation("relu"),
//!         Conv2D(64, (3, 3)),
//!         Activation("relu"),
//!         MaxPooling2D(pool_size = (2, 2)),
//!         Dropout(0.25),
//!         Flatten(),
//!         Dense(512),
//!         Activation("relu"),
//!         Dropout(0.5),
//!         Dense(10),
//!         Activation("softmax"),
//!     }
//! }
//!
//! const _: () = assert!(Cifar10Net::TOTAL_PARAMS == 1_250_858);
//! assert_eq!(Cifar10Net::LAYERS[2].params, 9248);
//! ```
//!
//! ## The layers
//!
//! | layer | arguments (Keras defaults) |
//! | --- | --- |
//! | `Conv2D` | `filters`, `kernel_size`, `strides = 1`, `padding = "valid"`, `activation = None`, `use_bias = true`; by keyword `kernel_initializer = "glorot_uniform"`, `kernel_regularizer = l2(x)`, `trainable = true` |
//! | `Dense` | `units`, `activation = None`, `use_bias = true`; by keyword `kernel_initializer`, `kernel_regularizer`, `trainable` as for `Conv2D` |
//! | `MaxPooling2D`, `AveragePooling2D` | `pool_size = (2, 2)`, `strides = pool_size`, `padding = "valid"` |
//! | `GlobalMaxPooling2D`, `GlobalAveragePooling2D` | none |
//! | `BatchNormalization` | `axis = -1` (only -1), `momentum = 0.99`, `epsilon = 0.001`, `center = true`, `scale = true` |
//! | `Rescaling` | `scale`, `offset = 0.0` |
//! | `Activation` | `"relu"`, `"sigmoid"`, `"tanh"`, `"softmax"`, `"linear"`, `"elu"`, `"selu"`, `"gelu"` (exact), `"swish"` (`"silu"`), `"softplus"`, `"leaky_relu"` (slope 0.2), `"hard_sigmoid"`, as Keras 3 defines them |
//! | `Dropout` | `rate` in [0, 1) |
//! | `Flatten` | none |
//!
//! Initializers: `"glorot_uniform"`, `"glorot_normal"`, `"he_normal"`,
//! `"he_uniform"`, `"lecun_normal"`, `"lecun_uniform"`, `"zeros"`, `"ones"`
//! (the normal ones truncated at two standard deviations, as Keras's).
//! Every layer also takes `name = "..."`; the first takes
//! `input_shape = (height, width, channels)`. Sizes are an integer or a pair.
//!
//! BatchNormalization normalizes with the statistics of the whole batch in
//! training (`train_step`, `fit`, `gradients`, [`Mode::Training`]) and
//! updates `moving = moving * momentum + batch * (1 - momentum)` in each
//! training step; inference (`predict`, `evaluate`, `forward`,
//! [`Mode::Inference`]) uses the moving statistics. A frozen layer
//! (`trainable = false`) keeps its weights; its parameters, and the moving
//! statistics, count as non-trainable. `l2(x)` adds `x * sum(kernel²)` to
//! the loss that `train_step` returns.
//!
//! ## Branches
//!
//! `Add { [..], [..], ... }` sums branches that each start from the
//! block's input (`[]` is the identity), `Concatenate { [..], ... }` joins
//! them on channels (they must agree in height and width), and
//! `Repeat(n) { .. }` writes its layers `n` times, each copy with its own
//! names. Blocks nest; names follow Keras's per-class counters in source
//! order, a block's branches first, then its `add_N` or `concatenate_N`,
//! which `LAYERS` lists as layers of kind `"Add"` and `"Concatenate"`. A
//! network with branches prints Keras 2's functional summary.
//!
//! ```
//! use cnn::prelude::*;
//!
//! cnn! {
//!     pub struct Res {
//!         Conv2D(16, 3, padding = "same", input_shape = (32, 32, 3)),
//!         Repeat(2) {
//!             Add {
//!                 [Conv2D(16, 3, padding = "same"), BatchNormalization(), Activation("relu")],
//!                 [],
//!             },
//!         },
//!         Add {
//!             [Conv2D(32, 3, strides = 2, padding = "same"), BatchNormalization()],
//!             [Conv2D(32, 1, strides = 2, padding = "same")],
//!         },
//!         Concatenate { [Conv2D(8, 1)], [MaxPooling2D(pool_size = 3, strides = 1, padding = "same")], [] },
//!         GlobalAveragePooling2D(),
//!         Dense(10, activation = "softmax"),
//!     }
//! }
//!
//! assert_eq!(Res::LAYERS[4].name, "add_1");
//! let concat = Res::LAYERS.iter().find(|l| l.kind == "Concatenate").unwrap();
//! assert_eq!(concat.output_shape, &[16, 16, 8 + 32 + 32]);
//! assert!(Res::summary().contains("Connected to"));
//! ```
//!
//! ## Training
//!
//! - Optimizers with Keras's semantics: [`RmsProp`], [`Adam`], [`Sgd`]
//!   (momentum, Nesterov, and Keras 3's decoupled `weight_decay`:
//!   `p -= lr wd p` before each step); per-tensor learning-rate
//!   multipliers ([`Sgd::lr_multipliers`], built with
//!   [`Model::tensor_multipliers`]); Keras 3's weight average ([`Ema`])
//!   and airbench's [`Lookahead`] around any of them.
//! - Learning-rate schedules ([`schedule`]): per step, per epoch, on a
//!   plateau, or several at once ([`LearningRate::Callbacks`]).
//! - Label smoothing, as Keras's `CategoricalCrossentropy(label_smoothing
//!   = s)`: [`Model::set_label_smoothing`].
//! - Data ([`Dataset`]): per-channel standardization
//!   ([`Dataset::standardized`]) or the mean image subtracted
//!   ([`Dataset::minus_mean`]); augmentation on the fly, seeded
//!   ([`Augment`]: Keras's shifts and flips, or airbench's reflected crops
//!   and alternating flips); test-time augmentation ([`Tta`]).
//! - Weights set from code with [`Model::set_tensor`], such as airbench's
//!   frozen first layer from [`whitening::whitening_kernel`].
//! - Keras's `mixed_bfloat16` policy, for the whole process as Keras's
//!   global policy is: [`set_precision`]`(`[`Precision::MixedBfloat16`]`)`
//!   rounds every product's operands to bfloat16 and runs the products on
//!   AMX's tile units (Intel Xeon from Sapphire Rapids on) or with
//!   AVX512_BF16's `vdpbf16ps` (AMD from Zen 4 on), with weights, sums,
//!   BatchNormalization's statistics and the loss in float32; an error
//!   elsewhere. Float32 is the default, and what matches Keras's
//!   references.
//!
//! `examples/cifar10_fast.rs` (airbench94's recipe) and
//! `examples/cifar10_resnet.rs` (Keras's `cifar10_resnet.py`) use them all.
//!
//! ## What `cnn!` generates
//!
//! For `struct Net`: the struct, a newtype over [`Model`]`<Net>` (which
//! provides `predict`, `train_step`, `fit`, `evaluate`, `gradients`,
//! `layer_outputs`, `save`, `params`, `tensor`, ...; `train_step`, `fit`,
//! `evaluate` and `gradients` where the network ends in softmax); the
//! constants `INPUT_SHAPE`, `OUTPUT_SHAPE`, `TOTAL_PARAMS`,
//! `TRAINABLE_PARAMS`, `NON_TRAINABLE_PARAMS`, `LAYERS`, `TENSORS` and
//! `SUMMARY`; `Net::new(seed)`, `Net::load(path)` and `Net::summary()`; a
//! module `net` with a batch type per layer output (`net::Conv2d1`, ...,
//! `net::Input`, `net::Output`); an implementation of [`Network`]; and the
//! network's [`Spec`]: its layers as the runtime's nodes and tensors.

pub use cnn_macros::cnn;
pub use cnn_runtime::*;

/// What a program that declares and trains networks needs.
pub mod prelude {
    pub use crate::cnn;
    pub use cnn_runtime::{
        Adam, Augment, Batch, CosineDecay, Dataset, Ema, FitOptions, History, LearningRate, Lookahead, Mode, Network,
        Optimizer, PiecewiseConstantDecay, PiecewiseLinear, ReduceLROnPlateau, RmsProp, Sgd, SgdForm, Shape1, Shape3,
        Tta, Verbosity,
    };
}
