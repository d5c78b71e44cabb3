//! The layer kernels that the macro's generated code calls, forward and
//! backward side by side. Each works on `n` images of one chunk, NHWC.

pub mod activation;
mod amx;
mod avx2;
mod avx512;
pub mod batchnorm;
mod bf16;
pub mod conv;
pub mod dense;
mod dpbf16;
pub mod dropout;
pub mod gemm;
pub mod loss;
pub mod pool;
pub mod simd;
pub mod window;
pub mod winograd;
