//! Unit tests of the figure module, one file per concept, plus shared helpers.

mod blit;
mod canvas;
mod grid;
mod plot;
mod text;
mod ticks;

use super::Canvas;

/// Decodes PNG bytes into (width, height, colour type, bit depth, RGB bytes).
pub(super) fn decode(bytes: &[u8]) -> (u32, u32, png::ColorType, png::BitDepth, Vec<u8>) {
    let decoder = png::Decoder::new(bytes);
    let mut reader = decoder.read_info().expect("valid PNG header");
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("valid PNG data");
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, info.bit_depth, buf)
}

/// Number of pixels of exactly `color` inside the half-open box.
pub(super) fn count_in(c: &Canvas, color: [u8; 3], x0: usize, y0: usize, x1: usize, y1: usize) -> usize {
    let mut n = 0;
    for y in y0..y1.min(c.height) {
        for x in x0..x1.min(c.width) {
            if c.get(x, y) == Some(color) {
                n += 1;
            }
        }
    }
    n
}

/// Number of pixels of exactly `color` anywhere.
pub(super) fn count_all(c: &Canvas, color: [u8; 3]) -> usize {
    c.pixels().iter().filter(|&&p| p == color).count()
}
