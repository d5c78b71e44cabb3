//! Throughput of ResNet-20 v1 (`examples/resnet20`, the network of
//! `../shared/anchors/nets/resnet20.json`): training steps at batch 32 with
//! SGD (Nesterov momentum 0.9), random data, after two warm-up steps; as
//! `keras_graph_speed.py nets/resnet20.json --batch 32 --images 3200`.
//!
//! `cargo bench --bench resnet20` prints one line:
//! `RESULT net=resnet20 train_images_per_s=X threads=T batch=32`.
//! `CNN_BENCH_IMAGES` sets how many images are timed (default 3200).

use cnn::prelude::*;
use cnn::rng::Rng;
use std::time::Instant;

#[path = "../examples/resnet20/mod.rs"]
mod resnet20;
use resnet20::ResNet20;

const BATCH: usize = 32;

fn main() {
    let images: usize = std::env::var("CNN_BENCH_IMAGES").ok().and_then(|s| s.parse().ok()).unwrap_or(3200);
    let mut rng = Rng::new(1);
    let x: Vec<f32> = (0..BATCH * ResNet20::INPUT_LEN).map(|_| rng.unit()).collect();
    let labels: Vec<u8> = (0..BATCH).map(|_| rng.below(10) as u8).collect();
    let mut net = ResNet20::new(0);
    let mut opt = Sgd::new(1e-3).momentum(0.9).nesterov(true);
    for _ in 0..2 {
        net.train_step(&x, &labels, &mut opt);
    }
    let steps = (images / BATCH).max(1);
    let start = Instant::now();
    for _ in 0..steps {
        net.train_step(&x, &labels, &mut opt);
    }
    let rate = (steps * BATCH) as f64 / start.elapsed().as_secs_f64();
    println!("RESULT net=resnet20 train_images_per_s={rate:.1} threads={} batch={BATCH}", rayon::current_num_threads());
}
