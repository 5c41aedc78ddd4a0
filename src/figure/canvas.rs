//! RGB raster canvas: pixel access, clipping, rectangles, grayscale
//! image blitting and PNG encoding. Lines live in `line.rs`, text in `text.rs`.
//!
//! Drawing coordinates are `i64` and may lie anywhere: everything is clipped
//! to the canvas (and to the optional clip rectangle), nothing panics.

use super::error::FigureError;

/// Pure white.
pub const WHITE: [u8; 3] = [255, 255, 255];
/// Pure black.
pub const BLACK: [u8; 3] = [0, 0, 0];
/// Colour used by [`Canvas::blit_gray`] for NaN pixels, so bugs are visible.
pub const NAN_COLOR: [u8; 3] = [255, 0, 0];
/// Largest canvas accepted, in pixels (64 Mi pixels, 192 MiB of RGB).
pub const MAX_PIXELS: usize = 1 << 26;
/// Largest upscale factor accepted by [`Canvas::blit_gray`].
pub const MAX_UPSCALE: usize = 64;

/// An 8-bit RGB image held in memory, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Canvas {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    pixels: Vec<[u8; 3]>,
    /// Optional clip rectangle `(x0, y0, x1, y1)`, half-open.
    clip: Option<(i64, i64, i64, i64)>,
}

fn to_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Canvas {
    /// A `width` x `height` canvas filled with `background`. Zero sizes and
    /// sizes above [`MAX_PIXELS`] are rejected.
    pub fn new(width: usize, height: usize, background: [u8; 3]) -> Result<Self, FigureError> {
        let bad = |reason| FigureError::BadSize { width, height, reason };
        if width == 0 || height == 0 {
            return Err(bad("canvas dimensions must be non-zero"));
        }
        match width.checked_mul(height) {
            Some(n) if n <= MAX_PIXELS => Ok(Canvas { width, height, pixels: vec![background; n], clip: None }),
            _ => Err(bad("canvas exceeds MAX_PIXELS")),
        }
    }

    /// All pixels, row-major.
    pub fn pixels(&self) -> &[[u8; 3]] {
        &self.pixels
    }

    /// Colour at `(x, y)`, or `None` outside the canvas.
    pub fn get(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        self.pixels.get(y.checked_mul(self.width)?.checked_add(x)?).copied()
    }

    /// Restricts all later drawing to the rectangle at `(x, y)` of size `w` x `h`.
    pub fn set_clip(&mut self, x: i64, y: i64, w: usize, h: usize) {
        let end = |a: i64, len: usize| (i128::from(a) + len as i128).min(i128::from(i64::MAX)) as i64;
        self.clip = Some((x, y, end(x, w), end(y, h)));
    }

    /// Removes the clip rectangle.
    pub fn clear_clip(&mut self) {
        self.clip = None;
    }

    /// Visible region `(x0, y0, x1, y1)` (half-open): canvas bounds ∩ clip.
    /// Rows are limited to what the buffer holds, so a caller who changed the
    /// public `width`/`height` fields gets clipping, never a panic.
    pub(crate) fn visible(&self) -> (i64, i64, i64, i64) {
        let rows = self.pixels.len().checked_div(self.width).unwrap_or(0);
        let (w, h) = (to_i64(self.width), to_i64(self.height.min(rows)));
        match self.clip {
            Some((x0, y0, x1, y1)) => (x0.max(0), y0.max(0), x1.min(w), y1.min(h)),
            None => (0, 0, w, h),
        }
    }

    /// Sets one pixel; coordinates outside the visible region are ignored.
    pub fn set(&mut self, x: i64, y: i64, color: [u8; 3]) {
        self.fill_rect(x, y, 1, 1, color);
    }

    /// Fills the `w` x `h` rectangle whose top-left corner is `(x, y)`.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: usize, h: usize, color: [u8; 3]) {
        let (vx0, vy0, vx1, vy1) = self.visible();
        let x0 = x.max(vx0);
        let y0 = y.max(vy0);
        // Exact end coordinates (x + w may exceed i64), clamped to the view.
        let x1 = (i128::from(x) + w as i128).min(i128::from(vx1)) as i64;
        let y1 = (i128::from(y) + h as i128).min(i128::from(vy1)) as i64;
        for yy in y0..y1 {
            for xx in x0..x1 {
                // Both are within [0, width) x [0, height) here.
                let idx = (yy as usize) * self.width + xx as usize;
                if let Some(p) = self.pixels.get_mut(idx) {
                    *p = color;
                }
            }
        }
    }

    /// Draws a 1-pixel outline of the `w` x `h` rectangle at `(x, y)`.
    pub fn stroke_rect(&mut self, x: i64, y: i64, w: usize, h: usize, color: [u8; 3]) {
        if w == 0 || h == 0 {
            return;
        }
        let (r, b) = (x.saturating_add(to_i64(w) - 1), y.saturating_add(to_i64(h) - 1));
        self.fill_rect(x, y, w, 1, color);
        self.fill_rect(x, b, w, 1, color);
        self.fill_rect(x, y, 1, h, color);
        self.fill_rect(r, y, 1, h, color);
    }

    /// Draws a grayscale image (`w * h` values, row-major, 0 = black,
    /// 1 = white; out-of-range values clamp, NaN is drawn red) with its
    /// top-left corner at `(x, y)`, each pixel enlarged to `upscale` squared.
    pub fn blit_gray(
        &mut self,
        x: i64,
        y: i64,
        img: &[f32],
        w: usize,
        h: usize,
        upscale: usize,
    ) -> Result<(), FigureError> {
        if upscale == 0 || upscale > MAX_UPSCALE {
            return Err(FigureError::BadUpscale(upscale));
        }
        if w.checked_mul(h) != Some(img.len()) {
            return Err(FigureError::BadImage { expected: w.saturating_mul(h), found: img.len() });
        }
        let up = to_i64(upscale);
        for (i, &v) in img.iter().enumerate() {
            let (col, row) = (to_i64(i % w), to_i64(i / w));
            let px = x.saturating_add(col * up);
            let py = y.saturating_add(row * up);
            self.fill_rect(px, py, upscale, upscale, gray_to_rgb(v));
        }
        Ok(())
    }

    /// Encodes the canvas as an 8-bit RGB PNG.
    pub fn to_png(&self) -> Result<Vec<u8>, FigureError> {
        let enc_err = |e: png::EncodingError| FigureError::Encode(e.to_string());
        let w = u32::try_from(self.width).map_err(|_| FigureError::Encode("width too large".into()))?;
        let h = u32::try_from(self.height).map_err(|_| FigureError::Encode("height too large".into()))?;
        if self.width.checked_mul(self.height) != Some(self.pixels.len()) {
            return Err(FigureError::Encode("width/height do not match pixel buffer".into()));
        }
        let data: Vec<u8> = self.pixels.iter().flatten().copied().collect();
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, w, h);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(enc_err)?;
            writer.write_image_data(&data).map_err(enc_err)?;
            writer.finish().map_err(enc_err)?;
        }
        Ok(out)
    }
}

/// Maps a grayscale value to RGB: clamps to [0, 1], NaN becomes [`NAN_COLOR`].
pub fn gray_to_rgb(v: f32) -> [u8; 3] {
    if v.is_nan() {
        return NAN_COLOR;
    }
    let b = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    [b, b, b]
}
