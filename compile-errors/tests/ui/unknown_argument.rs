use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(32, (3, 3), input_shape = (32, 32, 3), dilation_rate = 2),
        Flatten(),
    }
}

fn main() {}
