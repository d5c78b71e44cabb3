//! The runtime behind `cnn!`: the generic network type [`Model`], the
//! engine that runs a network's nodes over whole batches (kernels on
//! Winograd and im2col, sgemm on the runtime's own kernels or
//! `matrixmultiply`, parallel inside each layer with `rayon`), optimizers,
//! checkpoints, data sets and the training loop. Users reach it through
//! the `cnn` crate.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod batch;
pub mod checkpoint;
pub mod data;
pub mod engine;
pub mod error;
pub mod graph;
pub mod history;
pub mod info;
pub mod init;
pub mod kernels;
pub mod model;
pub mod optim;
pub mod rng;
pub mod schedule;
pub mod train;
pub mod whitening;

pub use batch::{Batch, Chain, Network, Shape, Shape1, Shape3};
pub use data::{Augment, Dataset, Pass};
pub use engine::{Classifier, Mode, Spec};
pub use error::{Error, Result};
pub use history::{EpochStats, History};
pub use info::{Init, Initializer, LayerInfo, TensorInfo};
pub use kernels::gemm::{precision, set_precision, Precision};
pub use model::{Engine, Model};
pub use optim::{Adam, Ema, Lookahead, Optimizer, RmsProp, Sgd, SgdForm};
pub use schedule::{CosineDecay, LearningRate, PiecewiseConstantDecay, PiecewiseLinear, ReduceLROnPlateau, Schedule};
pub use train::{evaluate, evaluate_tta, fit, Evaluation, FitOptions, Tta, Verbosity};

/// What the code that `cnn!` generates calls; not a stable API.
#[doc(hidden)]
pub mod __rt {
    pub use crate::checkpoint::TensorFile;
    pub use crate::engine::work_by_thread;
    pub use crate::graph::{Node, Op, Param};
    pub use crate::kernels::activation::Activation;
    pub use crate::kernels::conv::Conv;
    pub use crate::kernels::gemm;
    pub use crate::kernels::pool::Pool;
    pub use crate::kernels::window::Window;
}
