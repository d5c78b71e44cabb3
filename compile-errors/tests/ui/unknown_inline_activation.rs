use cnn::prelude::*;

cnn! {
    struct Net {
        Flatten(input_shape = (4, 4, 1)),
        Dense(10, activation = "softmaxx"),
    }
}

fn main() {}
