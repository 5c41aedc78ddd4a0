//! Inverted dropout and its counter-based random stream (SplitMix64): every mask value is a
//! function of the mask's key and the element's position, so a mask can be filled in SIMD, in
//! any order, or only at the positions that matter (the non-zero pixels of a sparse batch).

use rand::RngCore;

/// Inverted dropout with drop probability `p`: one uniform 32-bit value per element (see
/// [`Dropout::draw`]), kept with probability `1 - p` and then scaled by `1 / (1 - p)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dropout {
    threshold: u64,
    scale: f32,
}

impl Dropout {
    /// `None` when `p <= 0` (no dropout, no draws).
    pub fn new(p: f64) -> Option<Dropout> {
        if p <= 0.0 {
            return None;
        }
        let keep = 1.0 - p;
        Some(Dropout { threshold: (keep * 4_294_967_296.0).round() as u64, scale: (1.0 / keep) as f32 })
    }

    /// The scale applied to kept values.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Fills `bits` with `n` uniform 32-bit values, one per element: a SplitMix64 stream
    /// keyed by one 64-bit draw of `rng`. (A counter-based stream is several times faster
    /// than drawing every element from ChaCha, and still fixed by the run's seed.)
    pub fn draw(&self, rng: &mut dyn RngCore, n: usize, bits: &mut Vec<u32>) {
        let key = self.draw_key(rng);
        bits.clear();
        bits.resize(n, 0);
        splitmix_bits(bits, key);
    }

    /// [`Dropout::draw`] for `rows` rows of `units` values stored with row `stride` (the
    /// padded hidden layer): the same values as an unpadded draw of `rows·units`, 0 in the
    /// padding.
    pub fn draw_rows(&self, rng: &mut dyn RngCore, rows: usize, units: usize, stride: usize, bits: &mut Vec<u32>) {
        let key = self.draw_key(rng);
        bits.clear();
        bits.resize(rows * stride, 0);
        splitmix_rows(bits, key, units, stride);
    }

    /// The key of a new mask: one 64-bit draw of `rng` (every mask takes exactly one).
    pub fn draw_key(&self, rng: &mut dyn RngCore) -> u64 {
        rng.next_u64()
    }

    /// The values [`Dropout::draw`] would give at positions `base + pos[i]` of the mask keyed
    /// by `key`, without drawing the others.
    pub fn draw_at(&self, key: u64, base: u64, pos: &[u32], bits: &mut Vec<u32>) {
        bits.clear();
        bits.resize(pos.len(), 0);
        splitmix_at(bits, key, base, pos);
    }

    /// The probability of keeping an element.
    pub fn keep_fraction(&self) -> f64 {
        self.threshold as f64 / 4_294_967_296.0
    }

    /// Whether an element with draw `bits` is kept.
    #[inline]
    pub fn keeps(&self, bits: u32) -> bool {
        u64::from(bits) < self.threshold
    }
}

#[inline(always)]
fn splitmix_bits_imp<const F: bool>(out: &mut [u32], key: u64) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = (splitmix64(key, i as u64) >> 32) as u32;
    }
}

/// Output `i` of the SplitMix64 generator (Steele, Lea, Flood 2014) started at `key`: a
/// counter-based stream, so every element's value is computed independently (and in SIMD).
#[inline(always)]
pub fn splitmix64(key: u64, i: u64) -> u64 {
    let mut z = key.wrapping_add(i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

crate::multiversion! {
    /// `out[i]` = the high 32 bits of SplitMix64 output `i` from `key`.
    pub fn splitmix_bits(out: &mut [u32], key: u64) => splitmix_bits_imp
}

#[inline(always)]
fn splitmix_rows_imp<const F: bool>(out: &mut [u32], key: u64, units: usize, stride: usize) {
    for (r, row) in out.chunks_exact_mut(stride.max(1)).enumerate() {
        let (real, pad) = row.split_at_mut(units.min(stride));
        let base = (r * units) as u64;
        for (j, o) in real.iter_mut().enumerate() {
            *o = (splitmix64(key, base + j as u64) >> 32) as u32;
        }
        pad.fill(0);
    }
}

crate::multiversion! {
    /// [`splitmix_bits`] for `out.len() / stride` rows of `units` values laid out with row
    /// `stride`: value `(r, j)` gets stream element `r·units + j` (as if unpadded), padding 0.
    pub fn splitmix_rows(out: &mut [u32], key: u64, units: usize, stride: usize) => splitmix_rows_imp
}

#[inline(always)]
fn splitmix_at_imp<const F: bool>(out: &mut [u32], key: u64, base: u64, pos: &[u32]) {
    for (o, &p) in out.iter_mut().zip(pos) {
        *o = (splitmix64(key, base + u64::from(p)) >> 32) as u32;
    }
}

crate::multiversion! {
    /// `out[i]` = [`splitmix_bits`]'s value at position `base + pos[i]`.
    pub fn splitmix_at(out: &mut [u32], key: u64, base: u64, pos: &[u32]) => splitmix_at_imp
}
