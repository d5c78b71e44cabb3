//! The seed network's shapes and parameter counts, read from the constants
//! that `cnn!` generates, checked against the seed article (and partly at
//! compile time).

#[path = "../examples/seed_net/mod.rs"]
mod seed_net;
use seed_net::{cifar10_net, Cifar10Net};

const _: () = assert!(Cifar10Net::TOTAL_PARAMS == 1_250_858);
const _: () = assert!(Cifar10Net::TRAINABLE_PARAMS == 1_250_858);
const _: () = assert!(Cifar10Net::NON_TRAINABLE_PARAMS == 0);
const _: () = assert!(Cifar10Net::LAYERS.len() == 18);
const _: () = assert!(Cifar10Net::LAYERS[0].params == 896);
const _: () = assert!(Cifar10Net::LAYERS[2].params == 9248);
const _: () = assert!(Cifar10Net::LAYERS[13].params == 1_180_160);
const _: () = assert!(Cifar10Net::INPUT_SHAPE[2] == 3);
const _: () = assert!(Cifar10Net::OUTPUT_SHAPE[0] == 10);

#[test]
fn every_layer_matches_the_seed() {
    let expected: &[(&str, &str, &[usize], usize)] = &[
        ("conv2d_1", "Conv2D", &[32, 32, 32], 896),
        ("activation_1", "Activation", &[32, 32, 32], 0),
        ("conv2d_2", "Conv2D", &[30, 30, 32], 9248),
        ("activation_2", "Activation", &[30, 30, 32], 0),
        ("max_pooling2d_1", "MaxPooling2D", &[15, 15, 32], 0),
        ("dropout_1", "Dropout", &[15, 15, 32], 0),
        ("conv2d_3", "Conv2D", &[15, 15, 64], 18496),
        ("activation_3", "Activation", &[15, 15, 64], 0),
        ("conv2d_4", "Conv2D", &[13, 13, 64], 36928),
        ("activation_4", "Activation", &[13, 13, 64], 0),
        ("max_pooling2d_2", "MaxPooling2D", &[6, 6, 64], 0),
        ("dropout_2", "Dropout", &[6, 6, 64], 0),
        ("flatten_1", "Flatten", &[2304], 0),
        ("dense_1", "Dense", &[512], 1_180_160),
        ("activation_5", "Activation", &[512], 0),
        ("dropout_3", "Dropout", &[512], 0),
        ("dense_2", "Dense", &[10], 5130),
        ("activation_6", "Activation", &[10], 0),
    ];
    assert_eq!(Cifar10Net::LAYERS.len(), expected.len());
    for (layer, (name, kind, shape, params)) in Cifar10Net::LAYERS.iter().zip(expected) {
        assert_eq!((layer.name, layer.kind, layer.output_shape, layer.params), (*name, *kind, *shape, *params));
    }
    assert_eq!(Cifar10Net::INPUT_SHAPE, [32, 32, 3]);
    assert_eq!(Cifar10Net::OUTPUT_SHAPE, &[10]);
    assert_eq!(Cifar10Net::LAYERS.iter().map(|l| l.params).sum::<usize>(), Cifar10Net::TOTAL_PARAMS);
}

#[test]
fn summary_is_keras_byte_for_byte() {
    assert_eq!(Cifar10Net::summary(), include_str!("data/seed_summary.txt"));
}

#[test]
fn weight_tensors_use_keras_names_and_layouts() {
    let names: Vec<_> = Cifar10Net::TENSORS.iter().map(|t| (t.name, t.shape)).collect();
    assert_eq!(names[0], ("conv2d_1.kernel", &[3usize, 3, 3, 32][..]));
    assert_eq!(names[1], ("conv2d_1.bias", &[32usize][..]));
    assert_eq!(names[8], ("dense_1.kernel", &[2304usize, 512][..]));
    assert_eq!(Cifar10Net::TENSORS.iter().map(|t| t.len).sum::<usize>(), Cifar10Net::TOTAL_PARAMS);
}

#[test]
fn layer_output_types_carry_the_shapes() {
    let x = cifar10_net::Input::zeros(2);
    assert_eq!(x.len(), 2);
    assert_eq!(x.as_slice().len(), 2 * 32 * 32 * 3);
    let pooled = cifar10_net::MaxPooling2d1::zeros(1);
    assert_eq!(pooled.as_slice().len(), 15 * 15 * 32);
    let flat = cifar10_net::Flatten1::zeros(3);
    assert_eq!(flat.as_slice().len(), 3 * 2304);
}

cnn::cnn! {
    /// The README's modern network.
    pub struct Modern {
        Rescaling(1.0 / 255, input_shape = (32, 32, 3)),
        Conv2D(32, 3, padding = "same", use_bias = false, kernel_initializer = "he_normal",
               kernel_regularizer = l2(1e-4)),
        BatchNormalization(),
        Activation("gelu"),
        MaxPooling2D(),
        Conv2D(64, 3, padding = "same", use_bias = false, kernel_initializer = "he_normal"),
        BatchNormalization(),
        Activation("gelu"),
        GlobalAveragePooling2D(),
        Dense(10, activation = "softmax"),
    }
}

const _: () = assert!(Modern::TOTAL_PARAMS == 864 + 128 + 18_432 + 256 + 650);
const _: () = assert!(Modern::NON_TRAINABLE_PARAMS == 64 + 128);

#[test]
fn modern_layers_have_keras_shapes_and_counts() {
    let rows: Vec<(&str, &[usize], usize)> =
        Modern::LAYERS.iter().map(|l| (l.name, l.output_shape, l.params)).collect();
    assert_eq!(
        rows,
        [
            ("rescaling_1", &[32, 32, 3][..], 0),
            ("conv2d_1", &[32, 32, 32][..], 864),
            ("batch_normalization_1", &[32, 32, 32][..], 128),
            ("activation_1", &[32, 32, 32][..], 0),
            ("max_pooling2d_1", &[16, 16, 32][..], 0),
            ("conv2d_2", &[16, 16, 64][..], 18_432),
            ("batch_normalization_2", &[16, 16, 64][..], 256),
            ("activation_2", &[16, 16, 64][..], 0),
            ("global_average_pooling2d_1", &[64][..], 0),
            ("dense_1", &[10][..], 650),
        ]
    );
    let summary = Modern::summary();
    assert!(
        summary.contains("Total params: 20,330\nTrainable params: 20,138\nNon-trainable params: 192\n"),
        "{summary}"
    );
    let scale = Modern::TENSORS.iter().find(|t| t.name == "conv2d_1.kernel").unwrap();
    assert_eq!(scale.l2, 1e-4);
}
