//! A training step of batch 32 runs its work on every thread of an
//! 8-thread pool: the engine splits each stage inside the layer (units of
//! four images here), not only across chunks of the batch.

use cnn::prelude::*;
use cnn::rng::Rng;

#[path = "../examples/seed_net/mod.rs"]
mod seed_net;
use seed_net::Cifar10Net;

#[test]
fn a_step_of_batch_32_uses_all_8_threads() {
    // Units of four images: 8 units per convolution at batch 32.
    assert_eq!(cnn::engine::unit_images(32), 4);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(8).build().unwrap();
    let mut rng = Rng::new(3);
    let images: Vec<f32> = (0..32 * Cifar10Net::INPUT_LEN).map(|_| rng.unit()).collect();
    let labels: Vec<u8> = (0..32).map(|i| (i % 10) as u8).collect();
    pool.install(|| {
        let mut net = Cifar10Net::new(0);
        let mut opt = RmsProp::new(1e-4);
        net.train_step(&images, &labels, &mut opt);
        let before = cnn::__rt::work_by_thread();
        // Ten steps, so that a machine with fewer cores than threads, where
        // the system may not run every thread in each short stage, still
        // gives each one its turn.
        for _ in 0..10 {
            net.train_step(&images, &labels, &mut opt);
        }
        let after = cnn::__rt::work_by_thread();
        let work: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        println!("units of work per thread in ten steps: {work:?}");
        assert_eq!(work.len(), 8);
        assert!(work.iter().all(|&w| w > 0), "threads without work in ten steps of batch 32: {work:?}");
    });
}
