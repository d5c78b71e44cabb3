//! Throughput of ResNet-20 v1 (`examples/resnet20`, the network of
//! `../shared/anchors/nets/resnet20.json`): training steps at batch 32 with
//! SGD (Nesterov momentum 0.9), random data, after two warm-up steps; as
//! `keras_graph_speed.py nets/resnet20.json --batch 32 --images 3200`.
//!
//! `cargo bench --bench resnet20` prints one line:
//! `RESULT net=resnet20 train_images_per_s=X infer_images_per_s=Y threads=T batch=32 params=P precision=Q`.
//! `CNN_BENCH_IMAGES` sets how many images are timed (default 3200);
//! `CNN_BENCH_PRECISION=mixed_bfloat16` runs the products in bfloat16.

mod common;

#[path = "../examples/resnet20/mod.rs"]
mod resnet20;
use resnet20::ResNet20;

fn main() {
    common::train_rate::<ResNet20>("resnet20", 32, 3200);
}
