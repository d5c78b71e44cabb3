use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(16, 3, padding = "same", input_shape = (32, 32, 3)),
        Concatenate {
            [Conv2D(8, 1)],
            [Conv2D(8, 3)],
            [],
        },
        GlobalAveragePooling2D(),
        Dense(10, activation = "softmax"),
    }
}

fn main() {}
