//! Batches whose image shape is part of their type, so that feeding a
//! network the wrong shape, or chaining two networks that do not fit, is a
//! compile error.

use crate::error::{Error, Result};
use std::marker::PhantomData;

/// A per-image shape known at compile time.
pub trait Shape: 'static {
    /// Without the batch dimension.
    const DIMS: &'static [usize];
    /// Values per image.
    const LEN: usize;
}

/// `(height, width, channels)`, channels last.
#[derive(Clone, Copy, Debug)]
pub struct Shape3<const H: usize, const W: usize, const C: usize>;

/// A flat vector of `N` values.
#[derive(Clone, Copy, Debug)]
pub struct Shape1<const N: usize>;

impl<const H: usize, const W: usize, const C: usize> Shape for Shape3<H, W, C> {
    const DIMS: &'static [usize] = &[H, W, C];
    const LEN: usize = H * W * C;
}

impl<const N: usize> Shape for Shape1<N> {
    const DIMS: &'static [usize] = &[N];
    const LEN: usize = N;
}

/// `n` images (or vectors) of shape `S`, batch first, NHWC.
pub struct Batch<S: Shape> {
    data: Vec<f32>,
    shape: PhantomData<S>,
}

impl<S: Shape> Batch<S> {
    /// `n` images of zeros.
    pub fn zeros(n: usize) -> Self {
        Batch { data: vec![0.0; n * S::LEN], shape: PhantomData }
    }

    /// `n` images from `n * S::LEN` values, NHWC.
    pub fn from_vec(data: Vec<f32>) -> Result<Self> {
        if !data.len().is_multiple_of(S::LEN) {
            return Err(Error::Input(format!(
                "a batch of shape {:?} needs a multiple of {} values, got {}",
                S::DIMS,
                S::LEN,
                data.len()
            )));
        }
        Ok(Batch { data, shape: PhantomData })
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.data.len() / S::LEN
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// Image `i`'s values.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.data[i * S::LEN..(i + 1) * S::LEN]
    }
}

// By hand: derives would ask `S` itself for Clone, Debug and PartialEq.
impl<S: Shape> Clone for Batch<S> {
    fn clone(&self) -> Self {
        Batch { data: self.data.clone(), shape: PhantomData }
    }
}

impl<S: Shape> PartialEq for Batch<S> {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}

impl<S: Shape> std::fmt::Debug for Batch<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Batch").field("shape", &S::DIMS).field("len", &self.len()).finish()
    }
}

impl<S: Shape> TryFrom<Vec<f32>> for Batch<S> {
    type Error = Error;
    fn try_from(data: Vec<f32>) -> Result<Self> {
        Batch::from_vec(data)
    }
}

/// A network with typed input and output batches. Every struct that
/// `cnn!` declares implements it.
pub trait Network {
    /// A batch of input images, e.g. `Batch<Shape3<32, 32, 3>>`.
    type Input;
    /// A batch of outputs, e.g. `Batch<Shape1<10>>`.
    type Output;

    /// Inference: dropout off.
    fn forward(&self, x: &Self::Input) -> Self::Output;

    /// Feeds this network's output to `next`; compiles only when `next`
    /// takes exactly this network's output shape.
    fn then<B>(self, next: B) -> Chain<Self, B>
    where
        Self: Sized,
        B: Network<Input = Self::Output>,
    {
        Chain { first: self, second: next }
    }
}

/// Two networks run one after the other (see [`Network::then`]).
pub struct Chain<A, B> {
    pub first: A,
    pub second: B,
}

impl<A: Network, B: Network<Input = A::Output>> Network for Chain<A, B> {
    type Input = A::Input;
    type Output = B::Output;
    fn forward(&self, x: &A::Input) -> B::Output {
        self.second.forward(&self.first.forward(x))
    }
}
