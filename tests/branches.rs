//! Networks with branches as users declare them: ResNet-20 v1 (Keras's
//! `cifar10_resnet.py`) and an Inception-style block, their constants,
//! summaries and training, bitwise the same on any number of threads.

use cnn::prelude::*;
use cnn::rng::Rng;

#[path = "../examples/resnet20/mod.rs"]
mod resnet20;
use resnet20::ResNet20;

cnn! {
    /// An Inception-style block: 1x1, 3x3 and 5x5 paths and a pooled one,
    /// joined on channels.
    struct Inception {
        Conv2D(16, 3, padding = "same", activation = "relu", input_shape = (16, 16, 3)),
        Concatenate {
            [Conv2D(8, 1, activation = "relu")],
            [Conv2D(8, 1, activation = "relu"), Conv2D(12, 3, padding = "same", activation = "relu")],
            [Conv2D(4, 1, activation = "relu"), Conv2D(6, 5, padding = "same", activation = "relu")],
            [MaxPooling2D(3, strides = 1, padding = "same"), Conv2D(6, 1, activation = "relu")],
        },
        MaxPooling2D(4),
        Flatten(),
        Dense(10, activation = "softmax"),
    }
}

#[test]
fn resnet20_has_keras_constants() {
    assert_eq!(ResNet20::TOTAL_PARAMS, 274_442);
    assert_eq!(ResNet20::NON_TRAINABLE_PARAMS, 1_376);
    assert_eq!(ResNet20::TRAINABLE_PARAMS, 274_442 - 1_376);
    assert_eq!(ResNet20::OUTPUT_SHAPE, &[10]);
    let kinds = |kind: &str| ResNet20::LAYERS.iter().filter(|l| l.kind == kind).count();
    // 19 3x3 convolutions and 2 projections, 19 BatchNormalizations, 9 Adds.
    assert_eq!((kinds("Conv2D"), kinds("BatchNormalization"), kinds("Add")), (21, 19, 9));
    let add_9 = ResNet20::LAYERS.iter().find(|l| l.name == "add_9").unwrap();
    assert_eq!(add_9.output_shape, &[8, 8, 64]);
    // Each later stack's shortcut comes after its block's two convolutions.
    let names: Vec<&str> = ResNet20::LAYERS.iter().map(|l| l.name).collect();
    let at = |name| names.iter().position(|n| *n == name).unwrap();
    assert!(at("conv2d_9") < at("conv2d_10") && at("conv2d_10") < at("add_4"));
    let projection = ResNet20::LAYERS[at("conv2d_10")];
    assert_eq!((projection.output_shape, projection.params), (&[16, 16, 32][..], 16 * 32 + 32));
}

#[test]
fn a_branched_network_prints_keras_functional_summary() {
    let summary = Inception::summary();
    let lines: Vec<&str> = summary.lines().collect();
    assert!(lines.iter().take(lines.len() - 4).all(|l| l.chars().count() == 98), "{summary}");
    assert!(lines[1].starts_with("Layer (type)                    Output Shape         Param #     Connected to"));
    assert!(lines[3].starts_with("input_1 (InputLayer)            (None, 16, 16, 3)    0"), "{}", lines[3]);
    assert!(summary.contains("conv2d_1 (Conv2D)               (None, 16, 16, 16)   448         input_1[0][0]"));
    let concat = lines.iter().position(|l| l.starts_with("concatenate_1 (Concatenate)")).unwrap();
    assert!(lines[concat].ends_with("conv2d_2[0][0]                   "), "{}", lines[concat]);
    for (k, input) in ["conv2d_4[0][0]", "conv2d_6[0][0]", "conv2d_7[0][0]"].iter().enumerate() {
        assert_eq!(lines[concat + 1 + k].trim(), *input);
    }
    assert!(summary.contains("Total params: "));
    // ResNet-20's identity shortcut: add_1 reads the block's last
    // BatchNormalization and, on its second line, the stem's activation.
    // (A chain keeps the sequential table: `shapes.rs` checks the seed's
    // byte for byte.)
    let resnet = ResNet20::summary();
    let add = resnet.lines().position(|l| l.starts_with("add_1 (Add)")).unwrap();
    let lines: Vec<&str> = resnet.lines().collect();
    assert!(lines[add].trim_end().ends_with("batch_normalization_3[0][0]"), "{}", lines[add]);
    assert_eq!(lines[add + 1].trim(), "activation_1[0][0]");
}

fn batch(n: usize, seed: u64, len: usize) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    ((0..n * len).map(|_| rng.unit()).collect(), (0..n).map(|_| rng.below(10) as u8).collect())
}

#[test]
fn resnet20_learns_a_batch_and_is_bitwise_the_same_on_one_and_three_threads() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut net = ResNet20::new(1);
            let mut opt = Adam::new(1e-3);
            let (images, labels) = batch(13, 5, ResNet20::INPUT_LEN);
            let losses: Vec<f32> = (0..6).map(|_| net.train_step(&images, &labels, &mut opt)).collect();
            (losses, net.params().iter().map(|p| p.to_bits()).collect::<Vec<_>>())
        })
    };
    let (losses, one) = run(1);
    assert!(losses[5] < losses[0] * 0.8, "the loss of one batch should fall: {losses:?}");
    assert!(one == run(3).1, "three threads trained other weights than one");
}

#[test]
fn inception_block_trains() {
    let mut net = Inception::new(2);
    let mut opt = Adam::new(3e-3);
    let (images, labels) = batch(16, 6, Inception::INPUT_LEN);
    let first = net.train_step(&images, &labels, &mut opt);
    let last = (0..60).map(|_| net.train_step(&images, &labels, &mut opt)).last().unwrap();
    assert!(last < first * 0.5, "the loss of one batch should fall: {first} -> {last}");
}
