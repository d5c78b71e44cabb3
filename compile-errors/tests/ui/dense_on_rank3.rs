use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(32, (3, 3), input_shape = (32, 32, 3)),
        Activation("relu"),
        Dense(10),
    }
}

fn main() {}
