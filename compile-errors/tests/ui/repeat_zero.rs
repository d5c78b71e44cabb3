use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(16, 3, padding = "same", input_shape = (32, 32, 3)),
        Repeat(0) {
            Conv2D(16, 3, padding = "same"),
        },
        GlobalAveragePooling2D(),
        Dense(10, activation = "softmax"),
    }
}

fn main() {}
