use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(8, 3, input_shape = (32, 32, 3)),
        Activation("mish"),
        Flatten(),
    }
}

fn main() {}
