//! The one home of what both halves of `cnn` know about a layer: the
//! macro works out shapes with these types and functions at compile time
//! and emits them as constants, and the runtime's kernels take the same
//! types. Nothing here depends on anything.

mod activation;
mod init;
mod window;

pub use activation::Activation;
pub use init::Initializer;
pub use window::{checked_len, conv2d_params, dense_params, window_axis, Axis, Padding, Pool, Window, LIMIT};
