use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(FILTERS, (3, 3), input_shape = (32, 32, 3)),
        Flatten(),
    }
}

fn main() {}
