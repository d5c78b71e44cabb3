use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(16, 3, padding = "same", input_shape = (8, 8, 3)),
        Repeat(2) {
            Add {
                [
                    Concatenate {
                        [Conv2D(8, 1)],
                        [MaxPooling2D(pool_size = 3, strides = 1, padding = "same"), Conv2D(8, 9)],
                    },
                ],
                [],
            },
        },
        GlobalAveragePooling2D(),
        Dense(10, activation = "softmax"),
    }
}

fn main() {}
