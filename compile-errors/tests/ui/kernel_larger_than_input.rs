use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(32, (3, 3), input_shape = (32, 32, 3)),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3)),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3)),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3)),
        Flatten(),
        Dense(10),
    }
}

fn main() {}
