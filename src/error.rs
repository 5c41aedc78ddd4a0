//! The crate's one error type: every fallible library function returns [`Result<T>`].
//!
//! Messages name the file and carry both the expected and the found value, so the binary can
//! print `{:#}` of the chain once and the user knows what to fix.

use std::path::PathBuf;

/// Everything that can go wrong in redblue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Acquiring, verifying or parsing a dataset failed.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),

    /// Rendering a figure failed.
    #[error(transparent)]
    Figure(#[from] crate::figure::FigureError),

    /// A file could not be read, written or renamed.
    #[error("{action} {}", crate::fsutil::show(.path))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A user-supplied parameter is out of its valid range (NaN, negative, zero, absurd).
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParam { name: &'static str, value: String, reason: String },

    /// Two pieces of data that must agree in shape do not.
    #[error("shape mismatch in {what}: expected {expected}, found {found}")]
    Shape { what: String, expected: String, found: String },

    /// An output location was refused before any work ran.
    #[error("{flag} {}: {reason}", crate::fsutil::show(.path))]
    Output { flag: &'static str, path: PathBuf, reason: String },

    /// An architecture description that cannot be built (a layer that does not fit its input).
    #[error("architecture: {0}")]
    Arch(String),

    /// A model file is unreadable, or its tensors do not match the architecture.
    #[error("model file {}: {reason}", crate::fsutil::show(.path))]
    ModelFile { path: PathBuf, reason: String },

    /// An adversarial-set file is unreadable or malformed.
    #[error("adversarial set {}: {reason}", crate::fsutil::show(.path))]
    AdvFile { path: PathBuf, reason: String },

    /// The model produced a NaN or infinite value where a number is needed (huge weights,
    /// overflow): nothing is scored from it.
    #[error("the model's {what} is {value} for image {index}; the model is numerically broken (huge weights?) and is not scored")]
    NonFinite { what: &'static str, value: f32, index: usize },

    /// Training produced a non-finite or exploding loss.
    #[error(
        "training diverged: loss {loss} at epoch {epoch}, batch {batch} ({settings}); lower --lr or raise --rms-eps"
    )]
    Diverged { loss: String, epoch: usize, batch: usize, settings: String },

    /// The referee's budget and what an adversarial set declares are incompatible, or a set
    /// cannot be judged as asked.
    #[error("{0}")]
    Judge(String),

    /// A run folder cannot be used (not empty, not a redblue run, resumed with other settings).
    #[error("run folder {}: {reason}", crate::fsutil::show(.path))]
    RunDir { path: PathBuf, reason: String },

    /// An adversarial set breaks its stated budget; nothing is clipped silently.
    #[error(
        "adversarial set rejected: {count} of {total} images break the budget \
         ({rule}); first offending indices: {first:?}; {non_finite} of them with NaN or infinite \
         pixels; worst violation by a finite image {worst:.3e}"
    )]
    Budget { count: usize, total: usize, rule: String, non_finite: usize, first: Vec<usize>, worst: f32 },

    /// A report or config could not be (de)serialized.
    #[error("{what}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Builds an [`Error::Io`] with the action that failed ("reading", "writing", ...).
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    /// Builds an [`Error::InvalidParam`].
    pub fn param(name: &'static str, value: impl ToString, reason: impl Into<String>) -> Self {
        Error::InvalidParam { name, value: value.to_string(), reason: reason.into() }
    }
}

/// Checks an epsilon: finite, non-negative and at most `max` (pixel units).
pub fn check_eps(name: &'static str, eps: f64, max: f64) -> Result<()> {
    if !eps.is_finite() {
        return Err(Error::param(name, eps, "must be a finite number"));
    }
    if eps < 0.0 {
        return Err(Error::param(name, eps, "must be >= 0"));
    }
    if eps > max {
        return Err(Error::param(name, eps, format!("must be <= {max} (pixel range is [0, 1])")));
    }
    Ok(())
}

/// Serialises a value to compact JSON, naming what it was on failure.
pub fn to_json<T: serde::Serialize + ?Sized>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|source| Error::Json { what: what.to_string(), source })
}
