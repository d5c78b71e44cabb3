//! Throughput of the airbench94 layout (`../shared/anchors/nets/airbench.json`):
//! training steps at batch 512 with SGD (Nesterov momentum 0.9), random
//! data, after two warm-up steps; the same work as
//! `keras_graph_speed.py nets/airbench.json --batch 512 --images 3072`;
//! then inference on the same images (test-time augmentation's work).
//!
//! `cargo bench --bench airbench` prints one line:
//! `RESULT net=airbench train_images_per_s=X infer_images_per_s=Y threads=T batch=512 params=P precision=Q`.
//! `CNN_BENCH_IMAGES` sets how many images are timed (default 3072);
//! `CNN_BENCH_PRECISION=mixed_bfloat16` runs the products in bfloat16
//! (beside `keras_graph_speed.py ... --policy mixed_bfloat16`).

use cnn::prelude::*;

mod common;

cnn! {
    /// airbench94's network (Keller Jordan, 2024) as the anchors declare it.
    struct Airbench {
        Conv2D(24, 2, input_shape = (32, 32, 3)),
        Activation("gelu"),
        Conv2D(64, 3, padding = "same", use_bias = false),
        MaxPooling2D(2),
        BatchNormalization(momentum = 0.6, epsilon = 1e-12, scale = false),
        Activation("gelu"),
        Conv2D(64, 3, padding = "same", use_bias = false),
        BatchNormalization(momentum = 0.6, epsilon = 1e-12, scale = false),
        Activation("gelu"),
        Conv2D(256, 3, padding = "same", use_bias = false),
        MaxPooling2D(2),
        BatchNormalization(momentum = 0.6, epsilon = 1e-12, scale = false),
        Activation("gelu"),
        Conv2D(256, 3, padding = "same", use_bias = false),
        BatchNormalization(momentum = 0.6, epsilon = 1e-12, scale = false),
        Activation("gelu"),
        Conv2D(256, 3, padding = "same", use_bias = false),
        MaxPooling2D(2),
        BatchNormalization(momentum = 0.6, epsilon = 1e-12, scale = false),
        Activation("gelu"),
        Conv2D(256, 3, padding = "same", use_bias = false),
        BatchNormalization(momentum = 0.6, epsilon = 1e-12, scale = false),
        Activation("gelu"),
        MaxPooling2D(3),
        Flatten(),
        Dense(10, use_bias = false, activation = "softmax"),
    }
}

fn main() {
    common::train_rate::<Airbench>("airbench", 512, 3072);
}
