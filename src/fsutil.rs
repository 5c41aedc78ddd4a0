//! Atomic file writes: temp file in the same folder, fsync, rename.
//!
//! An interrupted run never leaves a half-written model, report or adversarial set.

use crate::error::{Error, Result};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The one atomic-write mechanism: creates the parent folder, writes `.<name>.tmp-<pid>` beside
/// `path`, fsyncs it, renames it over `path` and fsyncs the folder. On failure the temporary
/// file is removed and the error names the action and the path it happened on.
pub fn write_atomic_io(path: &Path, bytes: &[u8]) -> std::result::Result<(), (&'static str, PathBuf, io::Error)> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        fs::create_dir_all(parent).map_err(|e| ("creating folder", parent.to_path_buf(), e))?;
    }
    let file_name = path.file_name().ok_or_else(|| {
        ("writing", path.to_path_buf(), io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))
    })?;
    let tmp = path.with_file_name(format!(".{}.tmp-{}", file_name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| ("creating", tmp.clone(), e))?;
        f.write_all(bytes).map_err(|e| ("writing", tmp.clone(), e))?;
        f.sync_all().map_err(|e| ("syncing", tmp.clone(), e))?;
        fs::rename(&tmp, path).map_err(|e| ("renaming into", path.to_path_buf(), e))
    })();
    if result.is_err() {
        // Best effort: the temporary file may not exist if creating it failed.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    // Make the rename durable where the platform allows opening a folder.
    if let Some(d) = parent.and_then(|p| fs::File::open(p).ok()) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`write_atomic_io`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_io(path, bytes).map_err(|(action, path, e)| Error::io(action, path, e))
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io("reading", path, e))
}
