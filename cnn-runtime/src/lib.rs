//! The runtime behind `cnn!`: kernels (im2col + `matrixmultiply` sgemm,
//! parallel over the batch with `rayon`), optimizers, checkpoints, data
//! sets and the training loop. Users reach it through the `cnn` crate.

pub mod batch;
pub mod checkpoint;
pub mod data;
pub mod engine;
pub mod error;
pub mod history;
pub mod info;
pub mod kernels;
pub mod optim;
pub mod rng;
pub mod train;

pub use batch::{Batch, Chain, Network, Shape, Shape1, Shape3};
pub use data::{Augment, Dataset};
pub use error::{Error, Result};
pub use history::{EpochStats, History};
pub use info::{LayerInfo, TensorInfo};
pub use optim::{Adam, Optimizer, RmsProp, Sgd};
pub use train::{evaluate, fit, Evaluation, FitOptions, Verbosity};

/// What the code that `cnn!` generates calls; not a stable API.
#[doc(hidden)]
pub mod __rt {
    pub use crate::checkpoint::{named_params, write, TensorFile};
    pub use crate::engine::{
        gradients, init_params, layer_outputs, predict, train_step, Chunks, Engine, Spec, Train, CHUNK,
    };
    pub use crate::kernels::activation::{activate, activation_backward, activation_forward, Activation};
    pub use crate::kernels::conv::{conv2d_backward, conv2d_forward, scratch_len as conv_scratch_len, Conv};
    pub use crate::kernels::dense::{dense_backward, dense_forward, dense_kernel_grad};
    pub use crate::kernels::dropout::{dropout_backward, dropout_forward, DropoutKey};
    pub use crate::kernels::gemm;
    pub use crate::kernels::loss::softmax_cross_entropy;
    pub use crate::kernels::pool::{pool_backward, pool_forward, Pool};
    pub use crate::kernels::window::Window;

    /// A layer's gradient slice split into kernel and bias (empty if none).
    pub fn split_param(grads: &mut [f32], kernel_len: usize) -> (&mut [f32], &mut [f32]) {
        grads.split_at_mut(kernel_len)
    }
}
