use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(32, (3, 3), input_shape = (32, 32, 3)),
        Conv2D(32, (3, 3), input_shape = (30, 30, 32)),
        Flatten(),
    }
}

fn main() {}
