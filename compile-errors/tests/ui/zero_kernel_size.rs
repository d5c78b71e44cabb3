use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(8, (3, 0), input_shape = (32, 32, 3)),
        Flatten(),
    }
}

fn main() {}
