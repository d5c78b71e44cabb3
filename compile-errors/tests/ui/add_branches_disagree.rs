use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(16, 3, padding = "same", input_shape = (32, 32, 3)),
        Add {
            [Conv2D(32, 3, strides = 2, padding = "same"), BatchNormalization()],
            [],
        },
        GlobalAveragePooling2D(),
        Dense(10, activation = "softmax"),
    }
}

fn main() {}
