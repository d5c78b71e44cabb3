//! Throughput of the seed network: full training steps (forward, backward,
//! RMSprop update) and inference, batch 32, random data, after warm-up.
//!
//! `cargo bench --bench train_step` prints one line:
//! `RESULT train_images_per_s=X infer_images_per_s=Y threads=T batch=32`.
//! `CNN_BENCH_SECONDS` sets how long each half runs (default 10).

use cnn::prelude::*;
use cnn::rng::Rng;
use std::time::{Duration, Instant};

#[path = "../examples/seed_net/mod.rs"]
mod seed_net;
use seed_net::Cifar10Net;

const BATCH: usize = 32;

/// Runs `step` until `budget` has passed; returns steps per second.
fn rate(budget: Duration, mut step: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut steps = 0;
    while steps < 3 || start.elapsed() < budget {
        step();
        steps += 1;
    }
    steps as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let seconds: f64 = std::env::var("CNN_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10.0);
    let budget = Duration::from_secs_f64(seconds);
    let mut rng = Rng::new(1);
    let images: Vec<f32> = (0..BATCH * Cifar10Net::INPUT_LEN).map(|_| rng.unit()).collect();
    let labels: Vec<u8> = (0..BATCH).map(|_| rng.below(10) as u8).collect();
    let mut net = Cifar10Net::new(0);
    let mut opt = RmsProp::new(1e-4).decay(1e-6);

    for _ in 0..5 {
        net.train_step(&images, &labels, &mut opt);
    }
    let train = rate(budget, || {
        std::hint::black_box(net.train_step(&images, &labels, &mut opt));
    });
    let _ = net.predict(&images);
    let infer = rate(budget, || {
        std::hint::black_box(net.predict(&images));
    });
    println!(
        "RESULT train_images_per_s={:.0} infer_images_per_s={:.0} threads={} batch={BATCH}",
        train * BATCH as f64,
        infer * BATCH as f64,
        rayon::current_num_threads()
    );
}
