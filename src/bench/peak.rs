//! The machine's measured fp32 GEMM peak, with the `gemm` crate burn's Flex backend uses.

use std::time::Instant;

/// Best GFLOP/s of a square `size`³ f32 GEMM over `reps` runs on `threads` threads.
pub fn gemm_peak_gflops(size: usize, reps: usize, threads: usize) -> f64 {
    let a: Vec<f32> = (0..size * size).map(|i| ((i % 13) as f32 - 6.0) * 0.01).collect();
    let b: Vec<f32> = (0..size * size).map(|i| ((i % 7) as f32 - 3.0) * 0.01).collect();
    let mut c = vec![0.0f32; size * size];
    let par = if threads <= 1 { gemm::Parallelism::None } else { gemm::Parallelism::Rayon(threads) };
    let s = size as isize;
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        // SAFETY: all three buffers hold size*size f32 values laid out row-major with the
        // strides given (column stride 1, row stride size); c is exclusively borrowed.
        unsafe {
            gemm::gemm(
                size,
                size,
                size,
                c.as_mut_ptr(),
                1,
                s,
                false,
                a.as_ptr(),
                1,
                s,
                b.as_ptr(),
                1,
                s,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                par,
            );
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&c);
    2.0 * (size * size * size) as f64 / best / 1e9
}
