//! Time of each 3x3 convolution of the seed network, forward and backward
//! (kernel and input gradients), over one chunk of 16 images on one
//! thread: where the Winograd transforms' share of the step shows.
//!
//! `cargo bench -p cnn-runtime --bench conv`

use cnn_runtime::kernels::activation::Activation;
use cnn_runtime::kernels::conv::{conv2d_backward, conv2d_forward, Conv};
use cnn_runtime::kernels::window::Window;
use std::time::Instant;

fn main() {
    let n = 16;
    println!("best of 5 runs of 40, {n} images, one thread");
    for (name, h, c, f, same) in
        [("conv2", 32, 32, 32, false), ("conv3", 15, 32, 64, true), ("conv4", 15, 64, 64, false)]
    {
        let conv = Conv { window: Window::conv3x3(h, h, c, same), filters: f };
        let (cl, dl) = (conv.cols_len(), conv.dcols_len());
        let mut cols = vec![0.0; cl];
        let mut dcols = vec![0.0; dl];
        let x: Vec<f32> = (0..n * conv.window.in_len()).map(|i| (i % 13) as f32 * 0.1).collect();
        let kernel: Vec<f32> = (0..conv.kernel_len()).map(|i| (i % 7) as f32 * 0.01).collect();
        let mut y = vec![0.0; n * conv.out_len()];
        let dz = y.clone();
        let mut dx = x.clone();
        let mut dk = vec![0.0; conv.grad_len()];
        let mut prepared = vec![0.0; conv.prepared_len()];
        conv.prepare(&kernel, &mut prepared);
        let reps = 40;
        let mut best = (f64::MAX, f64::MAX);
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..reps {
                conv2d_forward(&conv, &kernel, &prepared, None, Activation::Linear, &x, &mut y, n, &mut cols);
            }
            let fwd = t.elapsed().as_secs_f64() / reps as f64;
            let t = Instant::now();
            for _ in 0..reps {
                conv2d_backward(
                    &conv,
                    &kernel,
                    &prepared,
                    &x,
                    &dz,
                    Some(&mut dx),
                    false,
                    Some(&mut dk),
                    None,
                    n,
                    &mut cols,
                    &mut dcols,
                );
            }
            let bwd = t.elapsed().as_secs_f64() / reps as f64;
            best = (best.0.min(fwd), best.1.min(bwd));
        }
        println!("{name} {h}x{h}x{c} -> {f}: forward {:>5.0} us, backward {:>5.0} us", best.0 * 1e6, best.1 * 1e6);
    }
}
