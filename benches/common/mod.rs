//! The timing loop of the graph benchmarks (`airbench`, `resnet20`), the
//! same work as `keras_graph_speed.py`: training steps with SGD (Nesterov
//! momentum 0.9) on random data, after two warm-up steps; then inference
//! (`predict`) on the same images.

use cnn::rng::Rng;
use cnn::{Classifier, Model, Sgd};
use std::time::Instant;

/// Times training steps of `batch` images until `CNN_BENCH_IMAGES` (default
/// `images`) have passed, and prints
/// `RESULT net=NAME train_images_per_s=X infer_images_per_s=Y threads=T batch=B params=P precision=Q`.
/// `CNN_BENCH_PRECISION=mixed_bfloat16` runs every product in bfloat16
/// ([`cnn::set_precision`]), to compare with Keras's policy of that name.
pub fn train_rate<S: Classifier>(name: &str, batch: usize, images: usize) {
    let images: usize = std::env::var("CNN_BENCH_IMAGES").ok().and_then(|s| s.parse().ok()).unwrap_or(images);
    if let Ok(name) = std::env::var("CNN_BENCH_PRECISION") {
        let precision = cnn::Precision::from_name(&name).and_then(|p| cnn::set_precision(p).map(|()| p));
        precision.unwrap_or_else(|e| panic!("CNN_BENCH_PRECISION: {e}"));
    }
    let mut rng = Rng::new(1);
    let x: Vec<f32> = (0..batch * S::INPUT_LEN).map(|_| rng.unit()).collect();
    let labels: Vec<u8> = (0..batch).map(|_| rng.below(S::OUTPUT_LEN) as u8).collect();
    let mut net = Model::<S>::new(0);
    let mut opt = Sgd::new(1e-3).momentum(0.9).nesterov(true);
    for _ in 0..2 {
        net.train_step(&x, &labels, &mut opt);
    }
    let steps = (images / batch).max(1);
    let start = Instant::now();
    for _ in 0..steps {
        std::hint::black_box(net.train_step(&x, &labels, &mut opt));
    }
    let seconds = start.elapsed().as_secs_f64();
    // Inference on the same images as many times, as `predict` runs it
    // (test-time augmentation is six of these over the test set).
    std::hint::black_box(net.predict(&x));
    let start = Instant::now();
    for _ in 0..steps {
        std::hint::black_box(net.predict(&x));
    }
    let infer_seconds = start.elapsed().as_secs_f64();
    println!(
        "RESULT net={name} train_images_per_s={:.0} infer_images_per_s={:.0} threads={} batch={batch} params={} precision={}",
        (steps * batch) as f64 / seconds,
        (steps * batch) as f64 / infer_seconds,
        rayon::current_num_threads(),
        S::TOTAL_PARAMS,
        cnn::precision().name()
    );
}
