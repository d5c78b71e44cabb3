use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(8, 3, input_shape = (32, 32, 3)),
        Conv2D(8, 3, kernel_initializer = "he_glorot"),
        Flatten(),
    }
}

fn main() {}
