//! Tests of the IDX reader: good files (raw and gzip), truncation, bad magic, trailing bytes,
//! bad labels, zero dimensions, count mismatches, and unverified directory loading.

mod data_support;

use std::path::Path;

use data_support::{gzip, Synthetic};
use redblue::data::{
    decompress_if_gzip, load_from_dir_unverified, parse_images, parse_labels, write_idx_labels, DataError, FILE_NAMES,
};

fn images(n: u32, rows: u32, cols: u32, body_len: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0x0803u32, n, rows, cols] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend((0..body_len).map(|i| i as u8));
    v
}

fn labels(ls: &[u8]) -> Vec<u8> {
    let mut v = 0x0801u32.to_be_bytes().to_vec();
    v.extend_from_slice(&(ls.len() as u32).to_be_bytes());
    v.extend_from_slice(ls);
    v
}

#[test]
fn good_images_raw_and_gzip() {
    let raw = images(2, 3, 4, 24);
    let p = Path::new("imgs");
    let parsed = parse_images(&raw, p).unwrap();
    assert_eq!((parsed.n, parsed.rows, parsed.cols), (2, 3, 4));
    assert_eq!(parsed.pixels, (0..24u8).collect::<Vec<_>>());

    let unzipped = decompress_if_gzip(gzip(&raw), p).unwrap();
    assert_eq!(unzipped, raw);
    assert_eq!(parse_images(&unzipped, p).unwrap(), parsed);
    // Non-gzip input is passed through untouched.
    assert_eq!(decompress_if_gzip(raw.clone(), p).unwrap(), raw);
}

#[test]
fn good_labels() {
    assert_eq!(parse_labels(&labels(&[0, 9, 3]), Path::new("l")).unwrap(), vec![0, 9, 3]);
}

#[test]
fn truncated_body_reports_byte_counts() {
    let mut raw = images(2, 3, 4, 24);
    raw.truncate(30);
    let err = parse_images(&raw, Path::new("short-images")).unwrap_err();
    assert!(matches!(err, DataError::Truncated { expected_len: 40, found_len: 30, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("truncated at byte 30"), "{msg}");
    assert!(msg.contains("expected 40 bytes"), "{msg}");
    assert!(msg.contains("short-images"), "{msg}");
}

#[test]
fn truncated_header_and_labels() {
    let err = parse_images(&[0, 0, 8, 3, 0, 0], Path::new("x")).unwrap_err();
    assert!(matches!(err, DataError::Truncated { expected_len: 16, found_len: 6, .. }), "{err:?}");
    let mut l = labels(&[1, 2, 3]);
    l.pop();
    let err = parse_labels(&l, Path::new("x")).unwrap_err();
    assert!(matches!(err, DataError::Truncated { expected_len: 11, found_len: 10, .. }), "{err:?}");
}

#[test]
fn trailing_bytes_rejected() {
    let mut raw = images(1, 2, 2, 4);
    raw.push(0);
    let err = parse_images(&raw, Path::new("x")).unwrap_err();
    assert!(matches!(err, DataError::TrailingBytes { expected_len: 20, found_len: 21, .. }), "{err:?}");
    let mut l = labels(&[1]);
    l.push(1);
    assert!(matches!(parse_labels(&l, Path::new("x")), Err(DataError::TrailingBytes { .. })));
}

#[test]
fn wrong_magic_rejected_in_hex() {
    // A label file given where images are expected.
    let err = parse_images(&labels(&[1, 2]), Path::new("swapped")).unwrap_err();
    assert!(matches!(err, DataError::BadMagic { expected: 0x803, found: 0x801, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("expected 0x00000803, found 0x00000801"), "{msg}");
    let err = parse_labels(&images(1, 1, 1, 1), Path::new("x")).unwrap_err();
    assert!(matches!(err, DataError::BadMagic { expected: 0x801, found: 0x803, .. }), "{err:?}");
}

#[test]
fn label_out_of_range_names_index() {
    let err = parse_labels(&labels(&[0, 1, 10, 2]), Path::new("lbl")).unwrap_err();
    assert!(matches!(err, DataError::BadLabel { index: 2, label: 10, .. }), "{err:?}");
    assert!(err.to_string().contains("label 10 at index 2"), "{err}");
}

#[test]
fn zero_dims_rejected() {
    for (n, r, c) in [(0, 2, 2), (1, 0, 2), (1, 2, 0)] {
        let err = parse_images(&images(n, r, c, 0), Path::new("x")).unwrap_err();
        assert!(matches!(err, DataError::BadDims { .. }), "{err:?}");
    }
    assert!(matches!(parse_labels(&labels(&[]), Path::new("x")), Err(DataError::BadDims { .. })));
    // Dimensions whose product overflows are rejected, not allocated.
    let err = parse_images(&images(u32::MAX, u32::MAX, u32::MAX, 0), Path::new("x")).unwrap_err();
    assert!(matches!(err, DataError::BadDims { .. }), "{err:?}");
}

#[test]
fn unverified_dir_loads_synthetic_gz_and_raw() {
    let s = Synthetic::new();
    let dir = tempfile::tempdir().unwrap();
    s.write_gz(dir.path());
    let (train, test) = load_from_dir_unverified(dir.path(), "synthetic").unwrap();
    assert_eq!((train.n, train.rows, train.cols), (6, 4, 3));
    assert_eq!(test.n, 3);
    assert_eq!(train.labels, vec![0, 1, 2, 3, 4, 9]);
    assert_eq!(train.images.len(), 6 * 12);
    assert!((train.images[1] - 7.0 / 255.0).abs() < 1e-6);
    assert!((test.images[0] - 1.0).abs() < 1e-6);
    assert!(train.images.iter().chain(&test.images).all(|&x| (0.0..=1.0).contains(&x)));
    assert_eq!(train.image(5).map(<[f32]>::len), Some(12));
    assert!(train.image(6).is_none());
}

#[test]
fn count_mismatch_between_images_and_labels() {
    let s = Synthetic::new();
    let dir = tempfile::tempdir().unwrap();
    s.write_raw(dir.path());
    write_idx_labels(&dir.path().join(FILE_NAMES[1]), &[1, 2, 3, 4, 5]).unwrap();
    let err = load_from_dir_unverified(dir.path(), "synthetic").unwrap_err();
    assert!(matches!(err, DataError::CountMismatch { images: 6, labels: 5, .. }), "{err:?}");
    assert!(err.to_string().contains("5 labels for 6 images"), "{err}");
}

#[test]
fn dims_mismatch_between_splits_and_missing_files() {
    let s = Synthetic::new();
    let dir = tempfile::tempdir().unwrap();
    s.write_raw(dir.path());
    redblue::data::write_idx_images(&dir.path().join(FILE_NAMES[2]), 3, 3, 4, &[0; 36]).unwrap();
    let err = load_from_dir_unverified(dir.path(), "synthetic").unwrap_err();
    assert!(matches!(err, DataError::DimsMismatch { train_rows: 4, test_rows: 3, .. }), "{err:?}");

    std::fs::remove_file(dir.path().join(FILE_NAMES[3])).unwrap();
    let err = load_from_dir_unverified(dir.path(), "synthetic").unwrap_err();
    match err {
        DataError::DataDirIncomplete { missing, .. } => assert_eq!(missing, vec![FILE_NAMES[3]]),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn huge_dimensions_are_refused_before_any_allocation() {
    // Header-only files whose dimensions claim far more data than the size limit: BadDims
    // (not a multi-gigabyte allocation, not an overflow, not a "truncated" error).
    for (n, r, c) in
        [(1 << 31, 1 << 31, 1), (1 << 31, 1, 1), (u32::MAX, 1, 1), (1, u32::MAX, u32::MAX), (60_000, 28 * 1024, 28)]
    {
        let err = parse_images(&images(n, r, c, 0), Path::new("big")).unwrap_err();
        assert!(
            matches!(err, DataError::BadDims { n: en, rows: er, cols: ec, .. }
                if (en, er, ec) == (u64::from(n), u64::from(r), u64::from(c))),
            "{n}x{r}x{c}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("big") && msg.contains("at most 536870912 bytes"), "{msg}");
    }
    let mut l = 0x0801u32.to_be_bytes().to_vec();
    l.extend_from_slice(&u32::MAX.to_be_bytes());
    l.extend_from_slice(&[1, 2, 3]);
    let err = parse_labels(&l, Path::new("x")).unwrap_err();
    assert!(matches!(err, DataError::BadDims { n, .. } if n == u64::from(u32::MAX)), "{err:?}");
    // Within the limit, a short file is still reported as truncated.
    let err = parse_images(&images(60_000, 28, 28, 10), Path::new("x")).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err:?}");
}

#[test]
fn gzip_errors_are_precise() {
    let raw = images(2, 3, 4, 24);
    let p = Path::new("/data/train-images-idx3-ubyte.gz");
    let gz = gzip(&raw);
    let err = decompress_if_gzip(gz[..gz.len() / 2].to_vec(), p).unwrap_err();
    assert!(matches!(err, DataError::GzipTruncated { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("truncated gzip stream") && msg.contains(p.to_str().unwrap()), "{msg}");

    let err = redblue::data::decompress_gzip(&raw, p).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::NotGzip { .. }), "{err:?}");
    assert!(msg.contains("not a gzip stream") && msg.contains(p.to_str().unwrap()), "{msg}");
    assert_eq!(redblue::data::decompress_gzip(&gz, p).unwrap(), raw);
}

#[test]
fn gz_file_holding_random_bytes_or_raw_idx_names_the_path() {
    let s = Synthetic::new();
    let dir = tempfile::tempdir().unwrap();
    s.write_gz(dir.path());
    let path = dir.path().join(format!("{}.gz", FILE_NAMES[0]));
    let junk: Vec<u8> = (0..300u32).map(|i| (i * 97 % 256) as u8).collect();
    for content in [junk, s.files[0].clone()] {
        std::fs::write(&path, &content).unwrap();
        let err = load_from_dir_unverified(dir.path(), "synthetic").unwrap_err();
        assert!(matches!(err, DataError::NotGzip { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("not a gzip stream"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }
}
