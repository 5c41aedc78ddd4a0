//! Native CPU kernels for the paper's MLP, the default compute engine.
//!
//! burn's Flex backend stays the reference ([`crate::model::Engine::Burn`]); these kernels
//! compute the same functions with the work MNIST allows us to skip:
//!
//! - about 80% of MNIST pixels are exactly 0 (more after input dropout), so the first layer's
//!   forward product and weight gradient run over the non-zero pixels only ([`sparse`]);
//! - bias, ReLU and dropout are fused into one pass, and so are the L1/L2 penalty, its
//!   gradient and the RMSProp update ([`train`], [`elementwise`]); dropout draws come from a
//!   counter-based stream that fills a whole mask in SIMD;
//! - an FGSM sweep's images lie on one ray `x + eps·sign(g)` per image, so one dense product
//!   serves every eps and each eps adds a sparse product over its clipped pixels ([`rays`]);
//!   PGD's iterates move in fewer pixels at every step, so the first layer is updated over the
//!   pixels that moved ([`path`]);
//! - dense products go to the `gemm` crate, the same one burn uses ([`dense`]);
//! - the hidden layer is padded to a multiple of 16 units and every buffer starts on a cache
//!   line, so no 64-float block straddles two lines ([`layout`], [`aligned`]);
//! - hot loops are compiled for AVX-512 and AVX2+FMA and chosen at run time ([`simd`]).
//!
//! Every output element is accumulated in a fixed order, so results do not depend on the
//! batch an image is in or on the thread count. Tests compare the kernels with plain
//! definitions and the whole engine (logits, input gradients, training steps) with the burn
//! path.

pub mod aligned;
pub mod anchored;
pub mod backward;
pub mod conv;
pub mod dense;
pub mod elementwise;
pub mod images;
pub mod layout;
pub mod mlp;
pub mod path;
pub mod queries;
pub mod rays;
pub use crate::nn::simd;
pub mod sparse;
pub mod sparse_grad;
pub mod train;
