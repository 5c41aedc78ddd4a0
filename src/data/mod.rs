//! The `data` module: acquiring, verifying and parsing MNIST and Fashion-MNIST (IDX files).
//!
//! Entry points: [`load`] (acquire + verify + parse), [`acquire`] (just obtain verified files),
//! [`load_from_dir_unverified`] (synthetic test data), and the IDX helpers in [`idx`].

pub mod acquire;
pub mod checksum;
pub mod dataset;
pub mod deb;
pub mod download;
pub mod error;
pub mod files;
pub mod idx;
pub mod load;
pub mod npm;
pub mod sources;

pub use acquire::{acquire, acquire_with_plan};
pub use checksum::{sha256_hex, verify};
pub use dataset::{Data, DatasetKind, FileSpec, Split, FILE_NAMES};
pub use error::DataError;
pub use idx::{
    decompress_gzip, decompress_if_gzip, parse_images, parse_labels, write_idx_images, write_idx_labels, IdxImages,
};
pub use load::{load, load_from_dir_unverified, load_with_plan};
pub use sources::{cache_root_from, default_cache_root, AcquireOptions, AcquirePlan, Source};
