use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(8, 3, input_shape = (32, 32, 3)),
        MaxPooling2D(pool_size = (0, 2)),
        Flatten(),
    }
}

fn main() {}
