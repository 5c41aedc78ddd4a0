//! The native engine's parameter layout: the hidden layer padded to a multiple of 16 units.
//!
//! The paper's 625 hidden units become 640 columns of `w1` and `b1` and 640 rows of `w2`; the
//! 15 extra units have zero weights and zero bias, so their pre-activation is exactly 0, ReLU
//! keeps it 0, and every gradient that reaches them is exactly 0: they never change and never
//! contribute. What they buy is alignment: with 64-byte aligned buffers (see
//! [`super::aligned`]) every row of `w1`, of the hidden activations and of their gradients starts
//! on a cache line, and the kernels need no tail code. Dropout draws stay per real unit (see
//! [`crate::model::mlp::Dropout::draw_rows`]), so masks match the unpadded reference.

use super::aligned::AlignedVec;
use super::mlp::Weights;

/// Floats per AVX-512 register (and per cache line).
pub const LANES: usize = 16;

/// `hidden` rounded up to a multiple of [`LANES`].
pub fn padded(hidden: usize) -> usize {
    hidden.div_ceil(LANES) * LANES
}

/// The MLP's parameters in padded, aligned layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// `[w1 [input, stride], b1 [stride], w2 [stride, classes], b2 [classes]]`, row-major.
    pub tensors: [AlignedVec; 4],
    /// Pixels per image.
    pub input: usize,
    /// Real hidden units.
    pub hidden: usize,
    /// Padded hidden width (row stride of `w1`).
    pub stride: usize,
    /// Classes.
    pub classes: usize,
}

impl Params {
    /// Pads parameters given in burn layout (`[input, hidden]`, `[hidden]`, `[hidden, classes]`,
    /// `[classes]`; lengths checked by the caller).
    pub fn from_host(host: &[Vec<f32>; 4], input: usize, hidden: usize, classes: usize) -> Self {
        let stride = padded(hidden);
        let mut w1 = AlignedVec::zeros(input * stride);
        for (dst, src) in w1.chunks_exact_mut(stride).zip(host[0].chunks_exact(hidden.max(1))) {
            dst[..hidden].copy_from_slice(src);
        }
        let mut b1 = AlignedVec::zeros(stride);
        b1[..hidden].copy_from_slice(&host[1][..hidden]);
        let mut w2 = AlignedVec::zeros(stride * classes);
        w2[..hidden * classes].copy_from_slice(&host[2][..hidden * classes]);
        let b2 = AlignedVec::from_slice(&host[3][..classes]);
        Params { tensors: [w1, b1, w2, b2], input, hidden, stride, classes }
    }

    /// The parameters in burn layout, without the padding.
    pub fn to_host(&self) -> [Vec<f32>; 4] {
        let [w1, b1, w2, b2] = &self.tensors;
        let h = self.hidden;
        let w1: Vec<f32> = w1.chunks_exact(self.stride.max(1)).flat_map(|row| &row[..h]).copied().collect();
        [w1, b1[..h].to_vec(), w2[..h * self.classes].to_vec(), b2.to_vec()]
    }

    /// A borrowed view for the kernels.
    pub fn weights(&self) -> Weights<'_> {
        let [w1, b1, w2, b2] = &self.tensors;
        Weights { w1, b1, w2, b2, input: self.input, hidden: self.stride, units: self.hidden, classes: self.classes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_round_trips_and_is_zero() {
        assert_eq!((padded(625), padded(640), padded(1), padded(0)), (640, 640, 16, 0));
        let (i, h, c) = (3, 5, 2);
        let host = [
            (0..i * h).map(|v| v as f32 + 1.0).collect::<Vec<_>>(),
            (0..h).map(|v| -(v as f32) - 1.0).collect(),
            (0..h * c).map(|v| v as f32 * 0.5 + 1.0).collect(),
            vec![7.0, 8.0],
        ];
        let p = Params::from_host(&host, i, h, c);
        assert_eq!(p.stride, 16);
        assert_eq!(p.to_host(), host);
        let w = p.weights();
        assert_eq!((w.hidden, w.units), (16, 5));
        assert_eq!(&w.w1[16..21], &host[0][5..10]);
        assert!(w.w1.chunks(16).all(|row| row[5..].iter().all(|&v| v == 0.0)));
        assert!(w.b1[5..].iter().all(|&v| v == 0.0) && w.w2[10..].iter().all(|&v| v == 0.0));
        assert!(p.tensors.iter().all(|t| t.as_ptr() as usize % 64 == 0));
    }
}
