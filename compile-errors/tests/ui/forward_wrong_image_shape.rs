use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(8, (3, 3), input_shape = (32, 32, 3)),
        Flatten(),
        Dense(10, activation = "softmax"),
    }
}

fn main() {
    let net = Net::new(0);
    // MNIST-shaped images into a CIFAR-shaped network.
    let images = Batch::<Shape3<28, 28, 1>>::zeros(4);
    let _ = net.forward(&images);
}
