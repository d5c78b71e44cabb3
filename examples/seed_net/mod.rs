//! The seed network, the Keras CIFAR-10 example, as the seed article writes
//! it; shared by the examples and the benchmark.
cnn::cnn! {
    /// The Keras CIFAR-10 example.
    pub struct Cifar10Net {
        Conv2D(32, (3, 3), padding = "same", input_shape = (32, 32, 3)),
        Activation("relu"),
        Conv2D(32, (3, 3)),
        Activation("relu"),
        MaxPooling2D(pool_size = (2, 2)),
        Dropout(0.25),
        Conv2D(64, (3, 3), padding = "same"),
        Activation("relu"),
        Conv2D(64, (3, 3)),
        Activation("relu"),
        MaxPooling2D(pool_size = (2, 2)),
        Dropout(0.25),
        Flatten(),
        Dense(512),
        Activation("relu"),
        Dropout(0.5),
        Dense(10),
        Activation("softmax"),
    }
}
