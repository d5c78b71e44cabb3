use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(8, (3, 3), input_shape = (8, 8, 1)),
        MaxPooling2D(pool_size = (2, 2)),
        MaxPooling2D(pool_size = (2, 2)),
        MaxPooling2D(pool_size = (2, 2)),
        Flatten(),
    }
}

fn main() {}
