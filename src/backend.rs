//! The one place that chooses where tensors live.
//!
//! Everything in redblue creates tensors on [`device()`]. Today that is burn's Flex CPU
//! backend; switching to CUDA later means changing this function (and a cargo feature),
//! nothing else.

use burn::tensor::{Device, Tensor, TensorData};

/// The compute device used by every model, attack and training loop.
pub fn device() -> Device {
    Device::flex()
}

/// Builds a `[rows, cols]` float tensor from host data on [`device()`].
pub fn tensor2(data: Vec<f32>, rows: usize, cols: usize) -> Tensor<2> {
    Tensor::<2>::from_data(TensorData::new(data, [rows, cols]), &device())
}

/// Copies a float tensor back to the host as a flat row-major vector.
pub fn to_host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    // Flex tensors are always readable on the host and redblue only creates f32 tensors,
    // so a failure here is a programming error, not a user error.
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_else(|e| panic!("internal error: reading an f32 tensor back failed: {e:?}"))
}

/// Sets flush-to-zero and denormals-are-zero for the calling thread (x86_64; no-op elsewhere).
///
/// The paper's RMSProp (smoothing term outside the square root) shrinks weights that only the
/// L2 penalty touches by a factor ~(1 - 2*lr*l2/eps) per step, down to ~1e-38; products with
/// them are then denormal floats, which x86 CPUs process ~100x slower. ML frameworks flush
/// them (TensorFlow by default, PyTorch via `set_flush_denormal`). Every public entry point
/// that computes calls this, so results do not depend on which thread runs them.
pub fn flush_denormals() {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
    #[allow(deprecated)]
    // SAFETY: only changes the rounding of subnormal results in this thread's MXCSR register.
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}
