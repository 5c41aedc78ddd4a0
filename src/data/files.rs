//! Local file helpers: reading a data file stored raw or as `.gz`, and atomic writes into the cache.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::error::DataError;
use super::idx::decompress_if_gzip;

/// Reads `<dir>/<name>` (preferred) or else `<dir>/<name>.gz`, decompressing gzip content.
/// Returns the path actually read and the raw bytes, or `None` when neither file exists.
pub fn read_raw_or_gz(dir: &Path, name: &str) -> Result<Option<(PathBuf, Vec<u8>)>, DataError> {
    let raw = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    for path in [raw, gz] {
        match fs::read(&path) {
            Ok(bytes) => {
                let bytes = decompress_if_gzip(bytes, &path)?;
                return Ok(Some((path, bytes)));
            }
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(DataError::io(path, e)),
        }
    }
    Ok(None)
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
        let names: Vec<_> = fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
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
        assert_eq!(
            (p.file_name().unwrap().to_str().unwrap(), b.as_slice()),
            ("x.gz", &b"from-gz"[..])
        );
        fs::write(dir.path().join("x"), b"raw").unwrap();
        let (_, b) = read_raw_or_gz(dir.path(), "x").unwrap().unwrap();
        assert_eq!(b, b"raw");
    }
}
