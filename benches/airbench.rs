//! Throughput of the airbench94 layout (`../shared/anchors/nets/airbench.json`):
//! training steps at batch 512 with SGD (Nesterov momentum 0.9), random
//! data, after two warm-up steps; the same work as
//! `keras_graph_speed.py nets/airbench.json --batch 512 --images 3072`.
//!
//! `cargo bench --bench airbench` prints one line:
//! `RESULT net=airbench train_images_per_s=X threads=T batch=512`.
//! `CNN_BENCH_IMAGES` sets how many images are timed (default 3072).

use cnn::prelude::*;
use cnn::rng::Rng;
use std::time::Instant;

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

const BATCH: usize = 512;

fn main() {
    let images: usize = std::env::var("CNN_BENCH_IMAGES").ok().and_then(|s| s.parse().ok()).unwrap_or(3072);
    let mut rng = Rng::new(1);
    let x: Vec<f32> = (0..BATCH * Airbench::INPUT_LEN).map(|_| rng.unit()).collect();
    let labels: Vec<u8> = (0..BATCH).map(|_| rng.below(10) as u8).collect();
    let mut net = Airbench::new(0);
    let mut opt = Sgd::new(1e-3).momentum(0.9).nesterov(true);
    for _ in 0..2 {
        net.train_step(&x, &labels, &mut opt);
    }
    let steps = (images / BATCH).max(1);
    let start = Instant::now();
    for _ in 0..steps {
        std::hint::black_box(net.train_step(&x, &labels, &mut opt));
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "RESULT net=airbench train_images_per_s={:.0} threads={} batch={BATCH} params={}",
        (steps * BATCH) as f64 / seconds,
        rayon::current_num_threads(),
        Airbench::TOTAL_PARAMS
    );
}
