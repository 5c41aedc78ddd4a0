//! A growable `f32` buffer whose first value sits on a 64-byte (cache line, AVX-512 register)
//! boundary.
//!
//! With the hidden layer padded to a multiple of 16 units (see [`super::layout`]), every row of
//! a `[rows, hidden]` matrix in such a buffer starts on a cache line, so the 64-float blocks the
//! sparse kernels load and store never straddle two lines. (Measured on the benchmark machine:
//! the first layer's sparse forward kernel ran at 40 ns per non-zero with 625-wide rows, 27 ns
//! with aligned 640-wide rows, and 48 ns with misaligned 640-wide rows.)

use std::ops::{Deref, DerefMut};

/// Floats per 64 bytes.
const ALIGN: usize = 16;

/// A 64-byte aligned `f32` buffer (a `Vec` with room to shift its start onto the boundary).
#[derive(Default)]
pub struct AlignedVec {
    buf: Vec<f32>,
    off: usize,
    len: usize,
}

impl AlignedVec {
    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        let mut v = AlignedVec::default();
        v.resize_zeroed(len);
        v
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[f32]) -> Self {
        let mut v = AlignedVec::default();
        v.set_len_uninit(values.len());
        v.copy_from_slice(values);
        v
    }

    /// Resizes to `len` values, all zero.
    pub fn resize_zeroed(&mut self, len: usize) {
        self.set_len_uninit(len);
        self.fill(0.0);
    }

    /// Resizes to `len` values without clearing them: the contents are unspecified (old
    /// values or zeros). For outputs that the caller overwrites completely.
    pub fn set_len_uninit(&mut self, len: usize) {
        if self.buf.len() < self.off + len || self.buf.is_empty() {
            self.buf = vec![0.0; len + ALIGN];
            let addr = self.buf.as_ptr() as usize;
            self.off = (64 - addr % 64) % 64 / std::mem::size_of::<f32>();
        }
        self.len = len;
    }
}

impl Deref for AlignedVec {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[self.off..self.off + self.len]
    }
}

impl DerefMut for AlignedVec {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.off..self.off + self.len]
    }
}

impl Clone for AlignedVec {
    fn clone(&self) -> Self {
        AlignedVec::from_slice(self)
    }
}

impl std::fmt::Debug for AlignedVec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for AlignedVec {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_cache_line_and_keeps_or_clears_values() {
        let mut v = AlignedVec::zeros(5);
        for len in [5, 3, 100, 7, 10_000, 1] {
            v.set_len_uninit(len);
            assert_eq!(v.len(), len);
            assert_eq!(v.as_ptr() as usize % 64, 0, "len {len}");
        }
        let w = AlignedVec::from_slice(&[1.0, 2.0, 3.0]);
        let c = w.clone();
        assert_eq!(&*c, &[1.0, 2.0, 3.0]);
        assert_eq!(c.as_ptr() as usize % 64, 0);
        let mut k = c.clone();
        k.resize_zeroed(3);
        assert_eq!(&*k, &[0.0, 0.0, 0.0]);
        assert_eq!(AlignedVec::zeros(0).len(), 0);
    }
}
