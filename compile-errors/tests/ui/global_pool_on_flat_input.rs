use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(8, 3, input_shape = (32, 32, 3)),
        Flatten(),
        GlobalAveragePooling2D(),
        Dense(10, activation = "softmax"),
    }
}

fn main() {}
