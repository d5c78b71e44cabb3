//! The steady-state training step allocates nothing of its own: workspaces,
//! gradients and optimizer state are allocated at the first step of a batch
//! size and reused. A counting global allocator sees every allocation, on
//! every thread.
//!
//! One exception is outside this crate: `matrixmultiply::sgemm` allocates
//! its packing buffer inside every call (0.3 has no way to pass one in).
//! Those buffers, and only those, are aligned to 32 bytes or more, which is
//! how the test tells them apart and counts them separately. On a CPU with
//! AVX-512 or AVX2 the runtime's own kernels take every product and never
//! allocate (the AVX2 kernel packs `B` on the stack), so there are none.

use cnn::__rt::gemm::{own_kernels, sgemm, MatRef};
use cnn::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

/// Allocations of ordinary alignment: the runtime's, rayon's, anyone's but sgemm's.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
/// 32- or 64-byte aligned allocations: sgemm's packing buffers.
static PACKING: AtomicUsize = AtomicUsize::new(0);

fn count(layout: Layout) {
    if layout.align() >= 32 { &PACKING } else { &ALLOCATIONS }.fetch_add(1, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(layout);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

cnn! {
    struct Net {
        Conv2D(8, (3, 3), padding = "same", input_shape = (16, 16, 3)),
        Activation("relu"),
        MaxPooling2D(),
        Dropout(0.25),
        Conv2D(8, (3, 3), activation = "relu"),
        Flatten(),
        Dense(32, activation = "relu"),
        Dropout(0.5),
        Dense(10),
        Activation("softmax"),
    }
}

cnn! {
    struct Branched {
        Conv2D(8, 3, padding = "same", input_shape = (8, 8, 3)),
        BatchNormalization(),
        Activation("relu"),
        Repeat(2) {
            Add {
                [Conv2D(8, 3, padding = "same"), BatchNormalization()],
                [],
            },
            Activation("relu"),
        },
        Concatenate { [Conv2D(4, 1)], [MaxPooling2D(3, strides = 1, padding = "same")], [] },
        GlobalAveragePooling2D(),
        Dense(10, activation = "softmax"),
    }
}

#[test]
fn training_steps_after_the_first_do_not_allocate() {
    let images: Vec<f32> = (0..40 * Net::INPUT_LEN).map(|i| (i % 255) as f32 / 255.0).collect();
    let labels: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
    let mut net = Net::new(0);
    for opt in [&mut RmsProp::new(1e-3) as &mut dyn Optimizer, &mut Adam::default(), &mut Sgd::new(0.01).momentum(0.9)]
    {
        // Warm-up: the first steps allocate workspaces, gradients, state,
        // and let rayon start its threads.
        for _ in 0..2 {
            net.try_train_step(&images, &labels, &mut DynOpt(opt)).unwrap();
        }
        let (before, packing) = (ALLOCATIONS.load(Ordering::SeqCst), PACKING.load(Ordering::SeqCst));
        for _ in 0..5 {
            net.try_train_step(&images, &labels, &mut DynOpt(opt)).unwrap();
        }
        let during = ALLOCATIONS.load(Ordering::SeqCst) - before;
        assert_eq!(during, 0, "{during} allocations in 5 steady-state steps");
        let packed = PACKING.load(Ordering::SeqCst) - packing;
        if own_kernels() {
            // Every product of this network takes the runtime's own kernels.
            assert_eq!(packed, 0, "{packed} packing buffers on the {:?} path", cnn::__rt::gemm::path());
        } else {
            assert!(packed > 0);
        }
    }
    // A residual network: gradients meeting at shortcuts, and a
    // Concatenate, in the buffers of the first step.
    let images: Vec<f32> = (0..40 * Branched::INPUT_LEN).map(|i| (i % 251) as f32 / 251.0).collect();
    let mut net = Branched::new(0);
    let mut opt = RmsProp::new(1e-3);
    for _ in 0..2 {
        net.train_step(&images, &labels, &mut opt);
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..5 {
        net.train_step(&images, &labels, &mut opt);
    }
    let during = ALLOCATIONS.load(Ordering::SeqCst) - before;
    assert_eq!(during, 0, "{during} allocations in 5 steady-state steps of a branched network");
    // The counter does see matrixmultiply's buffers (it takes a product
    // with both operands transposed on every CPU), so it would see ours.
    let packing = PACKING.load(Ordering::SeqCst);
    let (a, b, mut c) = ([1.0f32; 64], [1.0f32; 64], [0.0f32; 64]);
    sgemm(8, 8, 8, 1.0, MatRef::t(&a, 8), MatRef::t(&b, 8), 0.0, &mut c, 8);
    assert!(PACKING.load(Ordering::SeqCst) > packing);
    assert_eq!(c, [8.0; 64]);
}

/// `train_step` takes a sized optimizer; this forwards to a `dyn` one.
struct DynOpt<'a>(&'a mut dyn Optimizer);

impl Optimizer for DynOpt<'_> {
    fn update(&mut self, params: &mut [f32], grads: &[f32]) {
        self.0.update(params, grads)
    }
    fn iterations(&self) -> u64 {
        self.0.iterations()
    }
    fn learning_rate(&self) -> f32 {
        self.0.learning_rate()
    }
    fn set_learning_rate(&mut self, lr: f32) {
        self.0.set_learning_rate(lr)
    }
    fn after_step(&mut self, network: &mut [f32], trainable: usize) {
        self.0.after_step(network, trainable)
    }
    fn end_epoch(&mut self, network: &mut [f32], trainable: usize) {
        self.0.end_epoch(network, trainable)
    }
    fn finalize(&mut self, network: &mut [f32], trainable: usize) {
        self.0.finalize(network, trainable)
    }
    fn state(&self) -> Vec<(&'static str, &[f32])> {
        self.0.state()
    }
    fn set_state(&mut self, iterations: u64, state: Vec<(String, Vec<f32>)>) -> cnn::Result<()> {
        self.0.set_state(iterations, state)
    }
}
