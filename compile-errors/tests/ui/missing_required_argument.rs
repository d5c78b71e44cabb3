use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(32, input_shape = (32, 32, 3)),
        Flatten(),
    }
}

fn main() {}
