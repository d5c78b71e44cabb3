//! A refused layer list still declares its struct, so that code using the
//! network reports only the layer list's own error.
use cnn::prelude::*;

cnn! {
    struct Net {
        Conv2D(8, 3, input_shape = (32, 32, 3)),
        BatchNormalization(momentum = 2),
        Flatten(),
        Dense(10, activation = "softmax"),
    }
}

fn main() {
    let mut net = Net::new(0);
    let _ = net.predict(&[]);
    let _ = net.try_train_step(&[], &[], &mut RmsProp::new(1e-3));
    let _ = Net::TOTAL_PARAMS + Net::LAYERS.len();
    println!("{}", Net::summary());
}
