use cnn::prelude::*;

cnn! {
    struct Features {
        Conv2D(16, (3, 3), input_shape = (32, 32, 3)),
        MaxPooling2D(),
    }
}

cnn! {
    /// Expects 16x16x16 inputs, but Features outputs 15x15x16.
    struct Head {
        Flatten(input_shape = (16, 16, 16)),
        Dense(10, activation = "softmax"),
    }
}

fn main() {
    let _ = Features::new(0).then(Head::new(1));
}
