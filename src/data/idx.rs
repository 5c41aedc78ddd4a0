//! Dataset-generic IDX reader and writer (the file format of MNIST and Fashion-MNIST), plus gzip detection.

use std::io::{Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::error::DataError;

/// Magic number of an IDX file of unsigned-byte 3-D tensors (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte 1-D tensors (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest decompressed size accepted (far above the 47 MB of the largest MNIST file).
pub const MAX_DECOMPRESSED: u64 = 512 * 1024 * 1024;
/// Number of classes; every label must be below this.
pub const NUM_CLASSES: u8 = 10;

const IMAGES_HEADER: usize = 16;
const LABELS_HEADER: usize = 8;

/// A parsed IDX image file: `n` images of `rows` x `cols` bytes, row-major, image after image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    pub pixels: Vec<u8>,
}

/// The two magic bytes every gzip stream starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `bytes` start with the gzip magic `1f 8b`.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Decompresses `bytes` if they start with the gzip magic `1f 8b`; otherwise returns them unchanged.
/// `path` only names the file in errors. For content that must be gzip (a `.gz` file), use
/// [`decompress_gzip`].
pub fn decompress_if_gzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    gunzip(&bytes, path)
}

/// Decompresses `bytes`, which must be a gzip stream (the content of a `.gz` file): anything
/// else is [`DataError::NotGzip`], naming `path` and the bytes found.
pub fn decompress_gzip(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    if !is_gzip(bytes) {
        return Err(not_gzip(bytes, path));
    }
    gunzip(bytes, path)
}

fn not_gzip(bytes: &[u8], path: &Path) -> DataError {
    let found = if bytes.is_empty() {
        "an empty file".to_string()
    } else {
        let hex: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        hex.join(" ")
    };
    let magic = bytes.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let hint = if magic == Some(IMAGES_MAGIC) || magic == Some(LABELS_MAGIC) {
        " (the content looks like an uncompressed IDX file: remove the .gz suffix or gzip it)"
    } else {
        ""
    };
    DataError::NotGzip { path: path.to_path_buf(), found, hint: hint.to_string() }
}

/// Decompresses a gzip stream (all members), bounded by [`MAX_DECOMPRESSED`].
fn gunzip(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).take(MAX_DECOMPRESSED + 1).read_to_end(&mut out).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => DataError::GzipTruncated { path: path.to_path_buf() },
        _ => DataError::Gzip { path: path.to_path_buf(), reason: e.to_string() },
    })?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(DataError::TooLarge { path: path.to_path_buf(), limit: MAX_DECOMPRESSED });
    }
    Ok(out)
}

/// Reads big-endian u32 number `index` of the header, or reports truncation.
fn header_u32(bytes: &[u8], index: usize, header_len: usize, path: &Path) -> Result<u32, DataError> {
    let field = index.checked_mul(4).and_then(|start| bytes.get(start..start.checked_add(4)?));
    match field {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected_len: header_len as u64,
            found_len: bytes.len() as u64,
        }),
    }
}

/// A header count as `usize` (every `u32` fits on the platforms Rust's std supports with
/// 32- or 64-bit pointers; on anything smaller the value saturates and the size check fails).
fn dim(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The expected file length `header + product(dims)`, or `None` when it overflows or the data
/// part exceeds [`MAX_DECOMPRESSED`].
fn expected_len(header: usize, dims: &[usize]) -> Option<usize> {
    let body = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    if body as u64 > MAX_DECOMPRESSED {
        return None;
    }
    body.checked_add(header)
}

fn check_magic(bytes: &[u8], expected: u32, header_len: usize, path: &Path) -> Result<(), DataError> {
    let found = header_u32(bytes, 0, header_len, path)?;
    if found != expected {
        return Err(DataError::BadMagic { path: path.to_path_buf(), expected, found });
    }
    Ok(())
}

fn check_len(bytes: &[u8], expected_len: usize, path: &Path) -> Result<(), DataError> {
    let found_len = bytes.len();
    if found_len < expected_len {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            expected_len: expected_len as u64,
            found_len: found_len as u64,
        });
    }
    if found_len > expected_len {
        return Err(DataError::TrailingBytes {
            path: path.to_path_buf(),
            expected_len: expected_len as u64,
            found_len: found_len as u64,
        });
    }
    Ok(())
}

/// Parses an IDX image file (magic 0x00000803). The file length must be exactly
/// `16 + n * rows * cols`; every dimension must be non-zero.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages, DataError> {
    check_magic(bytes, IMAGES_MAGIC, IMAGES_HEADER, path)?;
    let n = header_u32(bytes, 1, IMAGES_HEADER, path)?;
    let rows = header_u32(bytes, 2, IMAGES_HEADER, path)?;
    let cols = header_u32(bytes, 3, IMAGES_HEADER, path)?;
    let bad_dims = || DataError::BadDims {
        path: path.to_path_buf(),
        n: u64::from(n),
        rows: u64::from(rows),
        cols: u64::from(cols),
    };
    if n == 0 || rows == 0 || cols == 0 {
        return Err(bad_dims());
    }
    let (n, rows, cols) = (dim(n), dim(rows), dim(cols));
    let total = expected_len(IMAGES_HEADER, &[n, rows, cols]).ok_or_else(bad_dims)?;
    check_len(bytes, total, path)?;
    let pixels = bytes.get(IMAGES_HEADER..).ok_or_else(bad_dims)?;
    Ok(IdxImages { n, rows, cols, pixels: pixels.to_vec() })
}

/// Parses an IDX label file (magic 0x00000801). The file length must be exactly `8 + n`,
/// `n` must be non-zero and every label must be below 10.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    check_magic(bytes, LABELS_MAGIC, LABELS_HEADER, path)?;
    let n = header_u32(bytes, 1, LABELS_HEADER, path)?;
    let bad_dims = || DataError::BadDims { path: path.to_path_buf(), n: u64::from(n), rows: 1, cols: 1 };
    if n == 0 {
        return Err(bad_dims());
    }
    let total = expected_len(LABELS_HEADER, &[dim(n)]).ok_or_else(bad_dims)?;
    check_len(bytes, total, path)?;
    let labels = bytes.get(LABELS_HEADER..).ok_or_else(bad_dims)?;
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= NUM_CLASSES) {
        return Err(DataError::BadLabel { path: path.to_path_buf(), index, label });
    }
    Ok(labels.to_vec())
}

/// Encodes images as IDX bytes (no validation beyond what the header can hold).
fn encode_images(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pixels.len().saturating_add(IMAGES_HEADER));
    for v in [IMAGES_MAGIC, n, rows, cols] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

fn to_u32(v: usize, path: &Path, what: &str) -> Result<u32, DataError> {
    u32::try_from(v).map_err(|_| {
        DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what} {v} does not fit the IDX header")),
        )
    })
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let mut f = std::fs::File::create(path).map_err(|e| DataError::io(path, e))?;
    f.write_all(bytes).map_err(|e| DataError::io(path, e))
}

/// Writes a raw IDX image file (used by tests to make tiny synthetic data sets).
/// `pixels.len()` must equal `n * rows * cols`.
pub fn write_idx_images(path: &Path, n: usize, rows: usize, cols: usize, pixels: &[u8]) -> Result<(), DataError> {
    let expected = n.checked_mul(rows).and_then(|x| x.checked_mul(cols));
    if expected != Some(pixels.len()) {
        return Err(DataError::BadDims { path: path.to_path_buf(), n: n as u64, rows: rows as u64, cols: cols as u64 });
    }
    let bytes =
        encode_images(to_u32(n, path, "count")?, to_u32(rows, path, "rows")?, to_u32(cols, path, "cols")?, pixels);
    write_bytes(path, &bytes)
}

/// Writes a raw IDX label file (used by tests to make tiny synthetic data sets).
pub fn write_idx_labels(path: &Path, labels: &[u8]) -> Result<(), DataError> {
    let mut bytes = Vec::with_capacity(labels.len().saturating_add(LABELS_HEADER));
    bytes.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    bytes.extend_from_slice(&to_u32(labels.len(), path, "count")?.to_be_bytes());
    bytes.extend_from_slice(labels);
    write_bytes(path, &bytes)
}
