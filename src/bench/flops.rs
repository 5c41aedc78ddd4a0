//! GEMM FLOP counts of the paper MLP's passes (multiply-adds count 2), for GFLOP/s figures.

/// Forward pass of one image: x·W1 and h·W2.
pub fn forward(input: usize, hidden: usize, classes: usize) -> f64 {
    2.0 * (input * hidden + hidden * classes) as f64
}

/// One training step per image: forward, then dW2, dh, dW1 (no input gradient).
pub fn train_step(input: usize, hidden: usize, classes: usize) -> f64 {
    forward(input, hidden, classes) + 2.0 * (2 * hidden * classes + input * hidden) as f64
}

/// One input gradient per image: forward, then dh and dx (no weight gradients).
pub fn input_gradient(input: usize, hidden: usize, classes: usize) -> f64 {
    forward(input, hidden, classes) + 2.0 * (hidden * classes + hidden * input) as f64
}
