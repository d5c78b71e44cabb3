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
//! | `Conv2D` | `filters`, `kernel_size`, `strides = 1`, `padding = "valid"`, `activation = None`, `use_bias = true` |
//! | `Dense` | `units`, `activation = None`, `use_bias = true` |
//! | `MaxPooling2D`, `AveragePooling2D` | `pool_size = (2, 2)`, `strides = pool_size`, `padding = "valid"` |
//! | `Activation` | `"relu"`, `"sigmoid"`, `"tanh"`, `"softmax"` or `"linear"` |
//! | `Dropout` | `rate` in [0, 1) |
//! | `Flatten` | none |
//!
//! Every layer also takes `name = "..."`; the first takes
//! `input_shape = (height, width, channels)`. Sizes are an integer or a pair.
//!
//! ## What `cnn!` generates
//!
//! For `struct Net`: the constants `INPUT_SHAPE`, `OUTPUT_SHAPE`,
//! `TOTAL_PARAMS`, `TRAINABLE_PARAMS`, `NON_TRAINABLE_PARAMS`, `LAYERS`,
//! `TENSORS` and `SUMMARY`; a module `net` with a batch type per layer
//! output (`net::Conv2d1`, ..., `net::Input`, `net::Output`); an
//! implementation of [`Network`]; `Net::new(seed)`, `predict`,
//! `layer_outputs`, `save`, `load`, and, for a network ending in softmax,
//! `train_step` and `gradients`.

pub use cnn_macros::cnn;
pub use cnn_runtime::*;

/// What a program that declares and trains networks needs.
pub mod prelude {
    pub use crate::cnn;
    pub use cnn_runtime::{
        Adam, Augment, Batch, Dataset, FitOptions, History, Mode, Network, Optimizer, RmsProp, Sgd, Shape1, Shape3,
        Verbosity,
    };
}
