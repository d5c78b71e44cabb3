use cnn::prelude::*;

cnn! {
    struct Net {
        Flatten(input_shape = (4, 4, 1)),
        Dense(0),
    }
}

fn main() {}
