//! Shared helpers for the CLI tests: a private world per test (a tiny synthetic IDX data set,
//! an empty cache dir, a work dir), the `redblue` binary runner that checks for panics, and
//! safetensors readers/writers for adversarial sets.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use redblue::data::{write_idx_images, write_idx_labels, FILE_NAMES};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

pub const N_TRAIN: usize = 300;
pub const N_TEST: usize = 100;
pub const SIDE: usize = 28;

/// One test's private world: a synthetic data dir, an empty cache dir, a work dir.
pub struct World {
    pub _tmp: TempDir,
    pub data: PathBuf,
    pub cache: PathBuf,
    pub work: PathBuf,
}

/// 28x28 images with a bright 8x4 block whose position encodes the label, on faint noise.
pub fn synth_split(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut px = vec![0u8; n * SIDE * SIDE];
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let k = (i % 10) as u8;
        labels.push(k);
        let img = &mut px[i * SIDE * SIDE..(i + 1) * SIDE * SIDE];
        for v in img.iter_mut() {
            *v = rng.gen_range(0..40);
        }
        let r0 = 2 + (k as usize / 5) * 13 + rng.gen_range(0..2);
        let c0 = 1 + (k as usize % 5) * 5 + rng.gen_range(0..2);
        for r in r0..r0 + 8 {
            for c in c0..c0 + 4 {
                img[r * SIDE + c] = rng.gen_range(200..=255);
            }
        }
    }
    (px, labels)
}

pub fn write_dataset(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let (tr_x, tr_y) = synth_split(N_TRAIN, 1);
    let (te_x, te_y) = synth_split(N_TEST, 2);
    write_idx_images(&dir.join(FILE_NAMES[0]), N_TRAIN, SIDE, SIDE, &tr_x).unwrap();
    write_idx_labels(&dir.join(FILE_NAMES[1]), &tr_y).unwrap();
    write_idx_images(&dir.join(FILE_NAMES[2]), N_TEST, SIDE, SIDE, &te_x).unwrap();
    write_idx_labels(&dir.join(FILE_NAMES[3]), &te_y).unwrap();
}

pub fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cache = tmp.path().join("cache");
    let work = tmp.path().join("work");
    write_dataset(&data);
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    World { _tmp: tmp, data, cache, work }
}

pub fn s(p: &Path) -> String {
    p.to_str().expect("temp paths are UTF-8").to_string()
}

/// Data-source flags pointing at `data` (unverified): the data dir is then the only source,
/// so the network and the user cache are never touched (and the other source flags would be
/// refused as having no effect).
pub fn data_flags(data: &Path, _cache: &Path) -> Vec<String> {
    vec!["--data-dir".into(), s(data), "--no-verify".into()]
}

pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Asserts exit code 2 and that stderr contains every needle.
    pub fn fails_with(&self, needles: &[&str]) -> &Self {
        assert_eq!(self.code, Some(2), "expected exit code 2\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}:\n{}", self.stderr);
        }
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

pub fn redblue<S: AsRef<str>>(args: &[S]) -> Out {
    let args: Vec<&str> = args.iter().map(|a| a.as_ref()).collect();
    let out = Command::new(env!("CARGO_BIN_EXE_redblue"))
        .args(&args)
        .env_remove("REDBLUE_DATA_DIR")
        .output()
        .expect("run redblue");
    let o = Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !o.stdout.contains("panicked") && !o.stderr.contains("panicked"),
        "redblue {args:?} panicked\nstdout:\n{}\nstderr:\n{}",
        o.stdout,
        o.stderr
    );
    o
}

impl World {
    pub fn flags(&self) -> Vec<String> {
        data_flags(&self.data, &self.cache)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// `redblue <sub...> <data flags> <extra...>`.
    pub fn run(&self, sub: &[&str], extra: &[&str]) -> Out {
        let mut a: Vec<String> = sub.iter().map(|x| x.to_string()).collect();
        a.extend(self.flags());
        a.extend(extra.iter().map(|x| x.to_string()));
        redblue(&a)
    }

    pub fn train_args(out: &Path, seed: u64) -> Vec<String> {
        vec![
            "--hidden".into(),
            "32".into(),
            "--epochs".into(),
            "2".into(),
            "--seed".into(),
            seed.to_string(),
            "--out".into(),
            s(out),
        ]
    }

    /// Trains a small model into `work/<name>` and returns its path.
    pub fn train(&self, name: &str, seed: u64) -> PathBuf {
        let out = self.path(name);
        let extra = Self::train_args(&out, seed);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        self.run(&["train"], &extra).ok();
        assert!(out.is_file(), "train did not write {}", out.display());
        out
    }

    pub fn eval_json(&self, model: &Path, extra: &[&str]) -> Value {
        let mut e = vec!["--model", model.to_str().unwrap(), "--json"];
        e.extend_from_slice(extra);
        self.run(&["eval"], &e).ok().json()
    }
}

pub fn rows(v: &Value) -> &Vec<Value> {
    v["rows"].as_array().unwrap_or_else(|| panic!("no rows array in {v}"))
}

pub fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} is not a number in {v}"))
}

pub fn sha256_file(p: &Path) -> String {
    redblue::data::sha256_hex(&std::fs::read(p).unwrap())
}

/// Tensors and metadata of a safetensors file, owned.
pub struct StFile {
    pub images: Vec<f32>,
    pub ishape: Vec<usize>,
    pub labels: Vec<u8>,
    pub lshape: Vec<usize>,
    pub meta: HashMap<String, String>,
}

pub fn read_adv(p: &Path) -> StFile {
    let bytes = std::fs::read(p).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let im = st.tensor("images").unwrap();
    let lb = st.tensor("labels").unwrap();
    assert_eq!(im.dtype(), Dtype::F32);
    assert_eq!(lb.dtype(), Dtype::U8);
    StFile {
        images: im.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        ishape: im.shape().to_vec(),
        labels: lb.data().to_vec(),
        lshape: lb.shape().to_vec(),
        meta: header.metadata().clone().unwrap_or_default(),
    }
}

pub fn write_adv(p: &Path, f: &StFile) {
    let img: Vec<u8> = f.images.iter().flat_map(|v| v.to_le_bytes()).collect();
    let views = vec![
        ("images".to_string(), TensorView::new(Dtype::F32, f.ishape.clone(), &img).unwrap()),
        ("labels".to_string(), TensorView::new(Dtype::U8, f.lshape.clone(), &f.labels).unwrap()),
    ];
    let bytes = safetensors::serialize(views, &Some(f.meta.clone())).unwrap();
    std::fs::write(p, bytes).unwrap();
}

pub fn attack(w: &World, model: &Path, out: &Path, extra: &[&str]) -> Out {
    let mut e = vec!["--model", model.to_str().unwrap(), "--out", out.to_str().unwrap()];
    e.extend_from_slice(extra);
    w.run(&["attack"], &e)
}
