//! Files redblue writes: checked before the work, written atomically after it.
//!
//! - [`Output::reserve`] checks an output path *before* any computing starts: it must not be
//!   (the same file as) an input, must be a regular file or absent (never a folder, FIFO or
//!   device), must not exist unless overwriting was asked for, and its folder must accept a new
//!   file (a probe temp file is created and removed). A 20-epoch training is never lost to a
//!   typo in `--out`.
//! - [`Output::commit`] (and [`write_atomic`] for files inside a run folder) writes a uniquely
//!   named temp file beside the target (`tempfile`, so two writers never collide), fsyncs it and
//!   renames it over the target: an interrupted run never leaves a half-written file.

use crate::error::{Error, Result};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A path as shown in messages: control characters and quotes escaped, so a hostile file name
/// cannot rewrite the user's terminal.
pub fn show(path: &Path) -> String {
    let s = path.to_string_lossy();
    if s.chars().any(|c| c.is_control() || c == '"') {
        format!("\"{}\"", s.escape_debug())
    } else {
        s.into_owned()
    }
}

/// The folder a file at `path` lives in ("." for a bare file name).
fn parent_of(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

fn temp_in(folder: &Path, name: &std::ffi::OsStr) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(&format!(".{}.", name.to_string_lossy())).suffix(".tmp").tempfile_in(folder)
}

/// The one atomic-write mechanism: creates the parent folder, writes a uniquely named temp
/// file beside `path`, fsyncs it, renames it over `path` and fsyncs the folder. On failure the
/// temporary file is removed and the error names the action and the path it happened on.
pub fn write_atomic_io(path: &Path, bytes: &[u8]) -> std::result::Result<(), (&'static str, PathBuf, io::Error)> {
    let parent = parent_of(path);
    fs::create_dir_all(parent).map_err(|e| ("creating folder", parent.to_path_buf(), e))?;
    let file_name = path.file_name().ok_or_else(|| {
        ("writing", path.to_path_buf(), io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))
    })?;
    let mut tmp = temp_in(parent, file_name).map_err(|e| ("creating a file in", parent.to_path_buf(), e))?;
    tmp.write_all(bytes).map_err(|e| ("writing", tmp.path().to_path_buf(), e))?;
    tmp.as_file().sync_all().map_err(|e| ("syncing", tmp.path().to_path_buf(), e))?;
    // On failure `persist` hands the temp file back; dropping it removes it.
    tmp.persist(path).map_err(|e| ("renaming into", path.to_path_buf(), e.error))?;
    // Make the rename durable where the platform allows opening a folder.
    if let Ok(d) = fs::File::open(parent) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`write_atomic_io`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_io(path, bytes).map_err(|(action, path, e)| Error::io(action, path, e))
}

/// Reads a whole file, naming it in the error; a folder or a FIFO is refused up front (reading
/// a FIFO would block forever).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let meta = fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
    if !meta.is_file() {
        return Err(Error::io("reading", path, io::Error::other(format!("is {}, not a regular file", kind_of(&meta)))));
    }
    fs::read(path).map_err(|e| Error::io("reading", path, e))
}

fn kind_of(meta: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Whether two existing paths name the same file (same device and inode).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// An output file whose location was checked before the work that produces it.
#[derive(Debug)]
pub struct Output {
    path: PathBuf,
}

impl Output {
    /// Checks `path` as an output of a command that reads `inputs` (see the module docs).
    /// `flag` is the option the user typed (`--out`), named in every error.
    pub fn reserve(flag: &'static str, path: &Path, force: bool, inputs: &[&Path]) -> Result<Output> {
        let refuse = |reason: String| Error::Output { flag, path: path.to_path_buf(), reason };
        if path.as_os_str().is_empty() || path.file_name().is_none() {
            return Err(refuse("is not a file name".into()));
        }
        if let Some(input) = inputs.iter().find(|i| same_file(i, path)) {
            return Err(refuse(format!("is the same file as the input {}; it is never overwritten", show(input))));
        }
        match fs::metadata(path) {
            Ok(meta) if !meta.is_file() => {
                return Err(refuse(format!("is {}; refusing to replace it", kind_of(&meta))));
            }
            Ok(_) if !force => return Err(refuse("already exists; pass --force to overwrite it".into())),
            Ok(_) => {}
            // A parent that is a file shows up in the folder probe below, with the OS reason.
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {}
            Err(e) => return Err(refuse(format!("cannot be inspected ({e})"))),
        }
        probe_folder(parent_of(path)).map_err(|(what, e)| refuse(format!("cannot be written: {what} ({e})")))?;
        Ok(Output { path: path.to_path_buf() })
    }

    /// The target path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the bytes atomically to the reserved path.
    pub fn commit(self, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.path, bytes)
    }
}

/// Creates `folder` if needed and checks that a new file can be created in it (a temp file,
/// removed at once), so permission problems, full disks and parents that are files show up
/// before the work.
pub fn probe_folder(folder: &Path) -> std::result::Result<(), (String, io::Error)> {
    fs::create_dir_all(folder).map_err(|e| (format!("creating folder {}", show(folder)), e))?;
    temp_in(folder, std::ffi::OsStr::new("redblue-probe"))
        .map(drop)
        .map_err(|e| (format!("creating a file in {}", show(folder)), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_refuses_inputs_folders_fifos_and_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("model.safetensors");
        fs::write(&input, b"x").unwrap();
        let link = dir.path().join("alias");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        for (path, force, want) in [
            (input.clone(), true, "same file as the input"),
            (link.clone(), true, "same file as the input"),
            (dir.path().to_path_buf(), true, "a folder"),
            (input.clone(), false, "same file"),
        ] {
            let e = Output::reserve("--out", &path, force, &[&input]).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("--out"), "{e}");
        }
        let other = dir.path().join("other");
        fs::write(&other, b"y").unwrap();
        let e = Output::reserve("--out", &other, false, &[&input]).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        Output::reserve("--out", &other, true, &[&input]).unwrap().commit(b"z").unwrap();
        assert_eq!(fs::read(&other).unwrap(), b"z");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = Output::reserve("--out", &fifo, true, &[]).unwrap_err().to_string();
        assert!(e.contains("a FIFO"), "{e}");
        let e = read(&fifo).unwrap_err();
        let why = std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default();
        assert!(e.to_string().contains("fifo") && why.contains("a FIFO"), "{e}: {why}");
    }

    #[test]
    fn reserve_checks_the_folder_before_the_work() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        fs::write(&file, b"x").unwrap();
        let e = Output::reserve("--out", &file.join("m.safetensors"), false, &[]).unwrap_err().to_string();
        assert!(e.contains("cannot be written") && e.contains("plain"), "{e}");
        let nested = dir.path().join("a/b/m.safetensors");
        let out = Output::reserve("--out", &nested, false, &[]).unwrap();
        // The probe leaves nothing behind.
        assert_eq!(fs::read_dir(dir.path().join("a/b")).unwrap().count(), 0);
        out.commit(b"m").unwrap();
        assert_eq!(fs::read(&nested).unwrap(), b"m");
    }

    #[test]
    fn two_writers_in_one_process_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::thread::scope(|s| {
            for k in 0..8u8 {
                let p = &p;
                s.spawn(move || write_atomic(p, &[k; 4096]).unwrap());
            }
        });
        let bytes = fs::read(&p).unwrap();
        assert!(bytes.iter().all(|&b| b == bytes[0]) && bytes.len() == 4096);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")], "no temp litter");
    }

    #[test]
    fn show_escapes_control_characters() {
        assert_eq!(show(Path::new("a/b.txt")), "a/b.txt");
        assert_eq!(show(Path::new("a\x1b[2Jb")), "\"a\\u{1b}[2Jb\"");
    }
}
