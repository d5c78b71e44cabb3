use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(32, (3, 3)),
        Flatten(),
        Dense(10),
    }
}

fn main() {}
