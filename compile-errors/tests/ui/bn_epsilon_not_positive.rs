use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(8, 3, input_shape = (32, 32, 3)),
        BatchNormalization(epsilon = 0),
        Flatten(),
    }
}

fn main() {}
