use cnn::prelude::*;

cnn! {
    struct Net {}
}

fn main() {}
