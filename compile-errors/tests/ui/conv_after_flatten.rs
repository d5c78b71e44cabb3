use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(32, (3, 3), input_shape = (32, 32, 3)),
        Flatten(),
        Conv2D(64, (3, 3)),
    }
}

fn main() {}
