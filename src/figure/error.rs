//! Error type shared by every figure operation.

/// Everything that can go wrong while building or encoding a figure.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// The PNG encoder failed (or the canvas buffer was inconsistent).
    #[error("PNG encoding failed: {0}")]
    Encode(String),
    /// An axis range is empty, reversed or not finite.
    #[error("bad {axis} range [{min}, {max}]: need finite min < max")]
    BadRange {
        /// Which axis ("x" or "y").
        axis: &'static str,
        /// Lower bound as given.
        min: f64,
        /// Upper bound as given.
        max: f64,
    },
    /// A grid tile's pixel buffer does not match its declared size.
    #[error("tile at row {row}, column {col}: expected {expected} pixels, found {found}")]
    BadTile {
        /// Row index of the offending tile.
        row: usize,
        /// Column index of the offending tile.
        col: usize,
        /// `width * height` as declared by the tile.
        expected: usize,
        /// Actual length of `pixels`.
        found: usize,
    },
    /// A grayscale image handed to `blit_gray` has the wrong number of pixels.
    #[error("image buffer: expected {expected} pixels, found {found}")]
    BadImage {
        /// `w * h` as declared by the caller.
        expected: usize,
        /// Actual buffer length.
        found: usize,
    },
    /// Canvas or figure dimensions are zero, too small or too large.
    #[error("bad size {width}x{height}: {reason}")]
    BadSize {
        /// Requested width in pixels.
        width: usize,
        /// Requested height in pixels.
        height: usize,
        /// Why the size was rejected.
        reason: &'static str,
    },
    /// An upscale factor of zero (or one that overflows) was requested.
    #[error("bad upscale factor {0}: must be between 1 and 64")]
    BadUpscale(usize),
    /// A label list's length disagrees with the grid it labels.
    #[error("{what}: expected {expected} labels (or none), found {found}")]
    BadLabels {
        /// Which labels ("row_labels" or "col_labels").
        what: &'static str,
        /// Number of rows or columns in the grid.
        expected: usize,
        /// Number of labels supplied.
        found: usize,
    },
    /// The grid has no tiles at all.
    #[error("image grid has no tiles")]
    EmptyGrid,
}
