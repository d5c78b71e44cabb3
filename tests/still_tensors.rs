//! A tensor that the optimizer leaves where it is (every value with a
//! learning-rate multiplier of 0, as airbench's whitening layer once its
//! bias stops learning) gets no gradient computed, and the backward pass
//! stops where no earlier layer learns, as PyTorch's autograd does for
//! tensors with `requires_grad = False`. The step is the same as with
//! every gradient computed. Its own test binary, because it counts the
//! engine's units of work, which are per process.

use cnn::prelude::*;
use cnn::rng::Rng;
use cnn::TensorInfo;

cnn! {
    /// A convolution before the one that learns, so that freezing it
    /// spares its own backward pass, the activation's and the second
    /// convolution's input gradient.
    struct StillNet {
        Conv2D(6, 2, input_shape = (9, 9, 3), name = "first"),
        Activation("gelu"),
        Conv2D(8, 3, padding = "same", use_bias = false),
        BatchNormalization(),
        Activation("relu"),
        Flatten(),
        Dense(10, activation = "softmax"),
    }
}

fn batch(n: usize) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(11);
    let images = (0..n * StillNet::INPUT_LEN).map(|_| rng.unit()).collect();
    let labels = (0..n).map(|i| (i % 10) as u8).collect();
    (images, labels)
}

/// Units of work run so far, over every thread of the current pool.
fn work() -> u64 {
    cnn::__rt::work_by_thread().iter().sum()
}

#[test]
fn still_tensors_get_no_gradient_and_the_step_is_unchanged() {
    let (images, labels) = batch(16);
    let lr = 0.1;
    // One thread, so that every unit of work is counted on thread 0.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| {
        let mut net = StillNet::new(5);
        let start = net.params().to_vec();
        // Every gradient, from the same weights and batch.
        let (_, full) = net.gradients(&images, &labels).unwrap();
        let full = full.to_vec();
        let still = |t: &TensorInfo| if t.name.starts_with("first.") { 0.0 } else { 1.0 };
        let multipliers = net.tensor_multipliers(still);

        let before = work();
        let mut every = Sgd::new(lr).lr_multipliers(vec![1.0; StillNet::TRAINABLE_PARAMS]);
        let mut probe = StillNet::new(5);
        probe.train_step(&images, &labels, &mut every);
        let with_first = work() - before;

        let before = work();
        let mut opt = Sgd::new(lr).lr_multipliers(multipliers);
        let loss = net.train_step(&images, &labels, &mut opt);
        let without_first = work() - before;
        println!("units of work in a step: {with_first} with the first layer learning, {without_first} without");
        assert!(loss.is_finite());
        // The first convolution's backward (a unit of work per four
        // images) no longer runs.
        assert!(
            without_first < with_first,
            "a step whose first layer stays still ran {without_first} units of work, one that trains it {with_first}"
        );

        // Plain SGD: each learning value moves by -lr g with the full
        // gradient, to the bit; the still ones do not move.
        let after = net.params();
        for t in StillNet::TENSORS.iter().filter(|t| t.trainable) {
            for i in t.range() {
                let want = if still(t) == 0.0 { start[i] } else { start[i] + -lr * full[i] };
                assert_eq!(after[i].to_bits(), want.to_bits(), "{} value {} after one step", t.name, i - t.offset);
            }
        }
    });
}
