//! ResNet-20 v1 exactly as Keras's `cifar10_resnet.py` builds it (`n = 3`,
//! `version = 1`): its `resnet_layer` is Conv2D (he_normal, `l2(1e-4)`),
//! BatchNormalization and ReLU; each later stack's first block halves the
//! size with a strided convolution and a 1x1 strided projection shortcut
//! (no BatchNormalization on it); then AveragePooling2D(8), Flatten and a
//! softmax Dense. Shared by the tests and the benchmark.
cnn::cnn! {
    /// ResNet-20 v1 for CIFAR-10 (274,442 parameters, 1,376 of them the
    /// BatchNormalization layers' moving statistics).
    pub struct ResNet20 {
        Conv2D(16, 3, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4),
               input_shape = (32, 32, 3)),
        BatchNormalization(),
        Activation("relu"),
        // 16 filters at 32x32, identity shortcuts.
        Repeat(3) {
            Add {
                [
                    Conv2D(16, 3, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4)),
                    BatchNormalization(),
                    Activation("relu"),
                    Conv2D(16, 3, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4)),
                    BatchNormalization(),
                ],
                [],
            },
            Activation("relu"),
        },
        // 32 filters at 16x16: the first block halves the size.
        Add {
            [
                Conv2D(32, 3, strides = 2, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4)),
                BatchNormalization(),
                Activation("relu"),
                Conv2D(32, 3, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4)),
                BatchNormalization(),
            ],
            [Conv2D(32, 1, strides = 2, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4))],
        },
        Activation("relu"),
        Repeat(2) {
            Add {
                [
                    Conv2D(32, 3, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4)),
                    BatchNormalization(),
                    Activation("relu"),
                    Conv2D(32, 3, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4)),
                    BatchNormalization(),
                ],
                [],
            },
            Activation("relu"),
        },
        // 64 filters at 8x8: the first block halves the size.
        Add {
            [
                Conv2D(64, 3, strides = 2, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4)),
                BatchNormalization(),
                Activation("relu"),
                Conv2D(64, 3, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4)),
                BatchNormalization(),
            ],
            [Conv2D(64, 1, strides = 2, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4))],
        },
        Activation("relu"),
        Repeat(2) {
            Add {
                [
                    Conv2D(64, 3, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4)),
                    BatchNormalization(),
                    Activation("relu"),
                    Conv2D(64, 3, padding = "same", kernel_initializer = "he_normal", kernel_regularizer = l2(1e-4)),
                    BatchNormalization(),
                ],
                [],
            },
            Activation("relu"),
        },
        AveragePooling2D(pool_size = 8),
        Flatten(),
        Dense(10, activation = "softmax", kernel_initializer = "he_normal"),
    }
}
