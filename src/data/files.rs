//! Local file helpers: reading a data file stored raw or as `.gz`, and atomic writes into the cache.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::error::DataError;
use super::idx::{decompress_gzip, decompress_if_gzip};

/// Reads `<dir>/<name>` (preferred) or else `<dir>/<name>.gz`. The raw file is decompressed
/// when it happens to hold gzip; the `.gz` file must hold gzip ([`DataError::NotGzip`]
/// otherwise). Returns the path actually read and the raw bytes, or `None` when neither file
/// exists.
pub fn read_raw_or_gz(dir: &Path, name: &str) -> Result<Option<(PathBuf, Vec<u8>)>, DataError> {
    let raw = dir.join(name);
    match fs::read(&raw) {
        Ok(bytes) => {
            let bytes = decompress_if_gzip(bytes, &raw)?;
            return Ok(Some((raw, bytes)));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(DataError::io(raw, e)),
    }
    let gz = dir.join(format!("{name}.gz"));
    match fs::read(&gz) {
        Ok(bytes) => {
            let bytes = decompress_gzip(&bytes, &gz)?;
            Ok(Some((gz, bytes)))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DataError::io(gz, e)),
    }
}

/// Reads `<dir>/<name>` raw (no decompression), or `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, DataError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DataError::io(path, e)),
    }
}

/// Writes `bytes` to `<dir>/<name>` atomically with the crate's one mechanism
/// ([`crate::fsutil::write_atomic_io`]): temp file, fsync, rename, no partial file under
/// either name. Creates `dir` if needed.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, DataError> {
    let target = dir.join(name);
    crate::fsutil::write_atomic_io(&target, bytes).map_err(|(_, path, e)| DataError::io(path, e))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn atomic_write_leaves_only_target() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        let p = write_atomic(&sub, "f", b"hello").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        let names: Vec<_> = fs::read_dir(&sub).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
        write_atomic(&sub, "f", b"again").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"again");
    }

    #[test]
    fn raw_preferred_over_gz() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_raw_or_gz(dir.path(), "x").unwrap().is_none());
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"from-gz").unwrap();
        fs::write(dir.path().join("x.gz"), enc.finish().unwrap()).unwrap();
        let (p, b) = read_raw_or_gz(dir.path(), "x").unwrap().unwrap();
        assert_eq!((p.file_name().unwrap().to_str().unwrap(), b.as_slice()), ("x.gz", &b"from-gz"[..]));
        fs::write(dir.path().join("x"), b"raw").unwrap();
        let (_, b) = read_raw_or_gz(dir.path(), "x").unwrap().unwrap();
        assert_eq!(b, b"raw");
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gz_file_without_gzip_content_is_refused_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let name = "train-images-idx3-ubyte";
        let path = dir.path().join(format!("{name}.gz"));
        // A raw IDX file under a .gz name: refused, with a hint.
        let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
        idx.push(7);
        fs::write(&path, &idx).unwrap();
        let err = read_raw_or_gz(dir.path(), name).unwrap_err();
        assert!(matches!(err, DataError::NotGzip { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("not a gzip stream"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("found 00 00 08 03"), "{msg}");
        assert!(msg.contains("uncompressed IDX"), "{msg}");
        // Random bytes, and an empty file.
        fs::write(&path, b"\x42\x17 random junk").unwrap();
        let msg = read_raw_or_gz(dir.path(), name).unwrap_err().to_string();
        assert!(msg.contains("not a gzip stream") && msg.contains("found 42 17 20 72"), "{msg}");
        assert!(!msg.contains("IDX"), "{msg}");
        fs::write(&path, b"").unwrap();
        let msg = read_raw_or_gz(dir.path(), name).unwrap_err().to_string();
        assert!(msg.contains("not a gzip stream") && msg.contains("an empty file"), "{msg}");
    }

    #[test]
    fn truncated_and_corrupt_gz_files_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.gz");
        let body: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        let good = gz(&body);
        for cut in [2, 5, 10, good.len() / 2, good.len() - 4, good.len() - 1] {
            fs::write(&path, &good[..cut]).unwrap();
            let err = read_raw_or_gz(dir.path(), "x").unwrap_err();
            assert!(matches!(err, DataError::GzipTruncated { .. }), "cut {cut}: {err:?}");
            let msg = err.to_string();
            assert!(msg.contains("truncated gzip stream"), "{msg}");
            assert!(msg.contains(&path.display().to_string()), "{msg}");
        }
        // A flipped CRC byte: corrupt, not truncated.
        let mut bad = good.clone();
        let at = bad.len() - 6;
        bad[at] ^= 0xff;
        fs::write(&path, &bad).unwrap();
        let err = read_raw_or_gz(dir.path(), "x").unwrap_err();
        assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
        assert!(err.to_string().contains("corrupt gzip stream"), "{err}");
        fs::write(&path, &good).unwrap();
        assert_eq!(read_raw_or_gz(dir.path(), "x").unwrap().unwrap().1, body);
    }
}
