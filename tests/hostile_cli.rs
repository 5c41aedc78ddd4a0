//! Every command fed its classes of bad input, table-driven: missing files, folders, FIFOs,
//! truncated and corrupt files, wrong shapes, NaN/negative/huge numbers, out-of-range subsets,
//! an output that is an input, flags that have no effect, attacker-set budgets.
//!
//! For every case: exit code 2, a message naming the offending flag or file, no panic, no
//! output file created, and no existing file changed (every file of the work folder is
//! hashed before and after).

mod cli_support;

use cli_support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The fixtures the cases point at, in one work folder.
struct Fixtures {
    w: World,
    vars: BTreeMap<&'static str, String>,
}

/// One tensor of a file: name, dtype name, shape, bytes.
type Tensor = (String, String, Vec<usize>, Vec<u8>);

fn tensors_of(path: &Path) -> (Vec<Tensor>, BTreeMap<String, String>) {
    let bytes = std::fs::read(path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out = Vec::new();
    for (name, view) in st.tensors() {
        out.push((name, format!("{:?}", view.dtype()).to_uppercase(), view.shape().to_vec(), view.data().to_vec()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    (out, header.metadata().clone().unwrap_or_default().into_iter().collect())
}

fn write_tensors(path: &Path, tensors: &[Tensor], meta: &BTreeMap<String, String>) {
    let dtypes: Vec<&'static str> = tensors
        .iter()
        .map(|t| match t.1.as_str() {
            "F32" => "F32",
            "U8" => "U8",
            "I64" => "I64",
            other => panic!("dtype {other}"),
        })
        .collect();
    let views: Vec<redblue::tensorfile::TensorBytes<'_>> = tensors
        .iter()
        .zip(&dtypes)
        .map(|(t, d)| redblue::tensorfile::TensorBytes { name: &t.0, dtype: d, shape: t.2.clone(), data: &t.3 })
        .collect();
    std::fs::write(path, redblue::tensorfile::serialize(&views, meta)).unwrap();
}

fn scale_f32(bytes: &mut [u8], k: f32) {
    for c in bytes.chunks_exact_mut(4) {
        let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) * k;
        c.copy_from_slice(&v.to_le_bytes());
    }
}

fn fixtures() -> Fixtures {
    let w = world();
    let model = w.train("model.safetensors", 0);
    let adv = w.path("adv.safetensors");
    attack(&w, &model, &adv, &["--attack", "pgd", "--eps", "0.3", "--steps", "3"]).ok();
    let p = |name: &str| w.path(name);

    // A model with finite but huge weights: its logits overflow.
    let (mut t, meta) = tensors_of(&model);
    for x in t.iter_mut().filter(|x| x.0.ends_with("weight")) {
        scale_f32(&mut x.3, 1e25);
    }
    write_tensors(&p("huge.safetensors"), &t, &meta);
    // A model for 100-pixel images.
    let small: Vec<_> = tensors_of(&model)
        .0
        .into_iter()
        .map(|mut x| {
            if x.0 == "fc1.weight" {
                x.2 = vec![x.2[0], 100];
                x.3.truncate(x.2[0] * 100 * 4);
            }
            x
        })
        .collect();
    write_tensors(&p("small-input.safetensors"), &small, &BTreeMap::new());
    // A model with 5 classes.
    let five: Vec<_> = tensors_of(&model)
        .0
        .into_iter()
        .map(|mut x| {
            if x.0 == "fc2.weight" {
                x.2 = vec![5, x.2[1]];
                x.3.truncate(5 * x.2[1] * 4);
            } else if x.0 == "fc2.bias" {
                x.2 = vec![5];
                x.3.truncate(20);
            }
            x
        })
        .collect();
    write_tensors(&p("five-class.safetensors"), &five, &BTreeMap::new());
    // A model with an unknown redblue metadata key.
    let (t, mut meta) = tensors_of(&model);
    meta.insert("redblue.backdoor".into(), "1".into());
    write_tensors(&p("odd-meta.safetensors"), &t, &meta);
    // Truncated and trailing-byte files.
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(p("truncated.safetensors"), &bytes[..bytes.len() - 100]).unwrap();
    let mut long = bytes.clone();
    long.extend_from_slice(b"trailing");
    std::fs::write(p("trailing.safetensors"), &long).unwrap();
    std::fs::write(
        p("random.safetensors"),
        (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    // ONNX files: random bytes, a truncated export, a safetensors model named .onnx, and a
    // valid export (for the flags refused with it).
    std::fs::write(
        p("random.onnx"),
        (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>(),
    )
    .unwrap();
    let onnx =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/mnist_cnn.onnx")).unwrap();
    std::fs::write(p("truncated.onnx"), &onnx[..onnx.len() - 100]).unwrap();
    std::fs::write(p("export.onnx"), &onnx).unwrap();
    std::fs::write(p("renamed.onnx"), &bytes).unwrap();
    // Adversarial sets: images with the wrong shape, a NaN pixel, a foreign set (no metadata).
    let (mut t, meta) = tensors_of(&adv);
    let n = N_TEST;
    for x in t.iter_mut().filter(|x| x.0 == "images") {
        x.2 = vec![n, 784];
    }
    write_tensors(&p("flat-adv.safetensors"), &t, &meta);
    let (mut t, meta) = tensors_of(&adv);
    for x in t.iter_mut().filter(|x| x.0 == "images") {
        x.3[4 * 300..4 * 301].copy_from_slice(&f32::NAN.to_le_bytes());
    }
    write_tensors(&p("nan-adv.safetensors"), &t, &meta);
    let (t, _) = tensors_of(&adv);
    write_tensors(&p("foreign-adv.safetensors"), &t, &BTreeMap::new());
    // The user's own files and odd targets.
    std::fs::create_dir_all(p("folder")).unwrap();
    std::fs::write(p("notes.txt"), b"my notes").unwrap();
    let own_run = p("own-run");
    std::fs::create_dir_all(&own_run).unwrap();
    std::fs::write(own_run.join("report.md"), b"# my own report").unwrap();
    std::fs::write(own_run.join("config.json"), b"{\"mine\": true}").unwrap();
    let fifo = p("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let empty_data = p("empty-data");
    std::fs::create_dir_all(&empty_data).unwrap();
    let trunc_data = p("trunc-data");
    write_dataset(&trunc_data);
    let f = trunc_data.join(redblue::data::FILE_NAMES[0]);
    let b = std::fs::read(&f).unwrap();
    std::fs::write(&f, &b[..b.len() - 7]).unwrap();

    let mut vars = BTreeMap::new();
    for (k, v) in [
        ("{model}", model),
        ("{adv}", adv),
        ("{missing}", p("no-such-file.safetensors")),
        ("{new}", p("new.safetensors")),
        ("{empty_data}", empty_data),
        ("{trunc_data}", trunc_data),
        ("{fifo}", fifo),
        ("{own_run}", own_run),
        ("{new_run}", p("new-run")),
    ] {
        vars.insert(k, s(&v));
    }
    for name in [
        "huge",
        "small-input",
        "five-class",
        "odd-meta",
        "truncated",
        "trailing",
        "random",
        "flat-adv",
        "nan-adv",
        "foreign-adv",
    ] {
        vars.insert(Box::leak(format!("{{{name}}}").into_boxed_str()), s(&p(&format!("{name}.safetensors"))));
    }
    for name in ["random", "truncated", "export", "renamed"] {
        vars.insert(Box::leak(format!("{{{name}_onnx}}").into_boxed_str()), s(&p(&format!("{name}.onnx"))));
    }
    vars.insert("{folder}", s(&p("folder")));
    vars.insert("{notes}", s(&p("notes.txt")));
    vars.insert("{under_file}", s(&p("notes.txt").join("m.safetensors")));
    Fixtures { w, vars }
}

/// path -> (length, SHA-256) of every file under `dir` (FIFOs are listed but not read).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
                out.insert(e.path(), "dir".into());
            } else if t.is_file() {
                out.insert(e.path(), sha256_file(&e.path()));
            } else {
                out.insert(e.path(), "special".into());
            }
        }
    }
    out
}

/// (command line with {placeholders}, needles that must all appear in stderr).
const CASES: &[(&str, &[&str])] = &[
    // --- train: outputs checked before any work, hyper-parameters, data.
    ("train --epochs 1 --out {folder}", &["--out", "folder", "a folder"]),
    ("train --epochs 1 --out {notes}", &["--out", "notes.txt", "already exists"]),
    ("train --epochs 1 --out {fifo} --force", &["--out", "fifo", "a FIFO"]),
    ("train --epochs 1 --out {under_file}", &["--out", "notes.txt", "cannot be written"]),
    ("train --epochs 0 --out {new}", &["epochs", "0"]),
    ("train --lr nan --out {new}", &["lr", "NaN"]),
    ("train --lr -1 --out {new}", &["lr", "-1"]),
    ("train --batch-size 0 --out {new}", &["batch-size", "0"]),
    ("train --dropout-input 1.5 --out {new}", &["dropout", "1.5"]),
    ("train --train-subset 0 --out {new}", &["train-subset", "at least 1"]),
    ("train --epochs 1 --train-subset 100000 --out {new}", &["--train-subset", "at most 300"]),
    ("train --epochs 1 --out {new} --mirror http://127.0.0.1:1/", &["--mirror has no effect with --data-dir"]),
    ("train --epochs 1 --out {new} --no-npm", &["--no-npm has no effect with --data-dir"]),
    ("train --epochs 1 --out {new} --cache-dir {folder}", &["--cache-dir has no effect"]),
    ("train --adv-weight 0.3 --out {new}", &["--adv-eps"]),
    ("train --adv-steps 7 --out {new}", &["--adv-eps"]),
    ("train --adv-eps 0.1 --adv-steps 0 --out {new}", &["--adv-steps", "between 1 and 1000"]),
    ("train --adv-eps 0.1 --adv-steps 7 --adv-random-start --out {new}", &["--adv-random-start", "always starts"]),
    ("train --arch madry-cnn --hidden 10 --out {new}", &["--hidden", "madry-cnn"]),
    ("train --arch small-cnn --dropout-input 0.1 --out {new}", &["--dropout-input", "no dropout layers"]),
    ("train --hidden 10,10 --init-std 0.1 --out {new}", &["--init-std"]),
    ("train --hidden 10,0 --out {new}", &["--hidden", "positive"]),
    ("train --hidden , --out {new}", &["--hidden"]),
    ("train --arch small-cnn --certified ibp --cert-eps 0.1 --out {new}", &["--certified", "MLP only"]),
    ("train --arch small-cnn --engine burn --out {new}", &["--engine", "native engine only"]),
    ("import {model} --arch small-cnn --out {new}", &["missing tensors", "conv1.weight"]),
    ("import {model} --arch mlp --hidden 7 --out {new}", &["fc1.weight", "expected shape [7, 784]"]),
    ("import {missing} --arch mlp --out {new}", &["no-such-file.safetensors", "No such file"]),
    ("import {model} --arch {notes} --out {new}", &["--arch", "notes.txt", "not a valid architecture"]),
    ("import {model} --arch mlp --input-shape 1,28 --out {new}", &["--input-shape", "C,H,W"]),
    ("import {model} --arch mlp --out {model} --force", &["--out", "same file"]),
    ("import {model} --arch mlp --out {notes}", &["--out", "notes.txt", "already exists"]),
    ("import {model} --out {new}", &["--arch is required for a state_dict"]),
    ("import {random_onnx} --out {new}", &["random.onnx", "ONNX model"]),
    ("import {truncated_onnx} --out {new}", &["truncated.onnx", "not a readable ONNX model"]),
    ("import {renamed_onnx} --out {new}", &["renamed.onnx", "not a readable ONNX model", "looks like a safetensors"]),
    ("import {export_onnx} --arch mlp --out {new}", &["--arch has no effect with an ONNX file"]),
    ("import {export_onnx} --input-shape 1,28,28 --out {new}", &["--input-shape has no effect with an ONNX file"]),
    ("import {export_onnx} --out {notes}", &["--out", "notes.txt", "already exists"]),
    ("import {export_onnx} --out {export_onnx} --force", &["--out", "same file"]),
    ("train --cert-eps 0.1 --out {new}", &["--certified"]),
    ("certify --model {model} --eps 0.5 --norm l2 --method exact", &["--method exact", "L-inf boxes"]),
    ("certify --model {model} --eps 100 --norm l2", &["--eps", "100"]),
    ("train --epochs 5 --lr-drops 3,2 --out {new}", &["--lr-drops", "increasing"]),
    ("train --epochs 5 --lr-drops 5 --out {new}", &["--lr-drops", "between 1 and 4"]),
    ("train --lr-drops x --out {new}", &["--lr-drops", "invalid"]),
    ("train --lr-drop-factor nan --out {new}", &["--lr-drop-factor", "NaN"]),
    ("train --certified ibp --out {new}", &["--cert-eps"]),
    ("train --certified ibp --cert-eps nan --out {new}", &["--cert-eps", "NaN"]),
    ("train --certified ibp --cert-eps -0.1 --out {new}", &["--cert-eps", ">= 0"]),
    ("train --certified ibp --cert-eps 0.1 --cert-kappa 2 --out {new}", &["--cert-kappa", "[0, 1)"]),
    ("train --certified ibp --cert-eps 0.1 --cert-kappa 1 --out {new}", &["--cert-kappa", "never enters"]),
    ("train --certified ibp --cert-eps 0 --out {new}", &["--cert-eps", "> 0"]),
    ("train --epochs 4 --certified ibp --cert-eps 0.1 --cert-ramp 5 --out {new}", &["--cert-ramp", "--epochs 4"]),
    ("train --certified ibp --cert-eps 0.1 --adv-eps 0.1 --out {new}", &["--certified", "--adv-eps"]),
    ("train --certified ibp --cert-eps 0.1 --engine burn --out {new}", &["--certified", "native engine"]),
    ("train --certified crown --cert-eps 0.1 --out {new}", &["invalid value 'crown'", "--certified"]),
    (
        "train --epochs 2 --certified crown-ibp --cert-eps 0.1 --cert-warmup 3 --out {new}",
        &["--cert-warmup", "--epochs 2"],
    ),
    // --- attack: inputs, outputs, budgets, slices, flags without effect.
    ("attack --model {missing} --attack fgsm --eps 0.1 --out {new}", &["no-such-file.safetensors", "No such file"]),
    ("attack --model {folder} --attack fgsm --eps 0.1 --out {new}", &["folder", "a folder"]),
    ("attack --model {fifo} --attack fgsm --eps 0.1 --out {new}", &["fifo", "a FIFO"]),
    (
        "attack --model {truncated} --attack fgsm --eps 0.1 --out {new}",
        &["truncated.safetensors", "truncated: the header promises"],
    ),
    ("attack --model {trailing} --attack fgsm --eps 0.1 --out {new}", &["trailing.safetensors", "8 trailing bytes"]),
    ("attack --model {random} --attack fgsm --eps 0.1 --out {new}", &["random.safetensors", "not a safetensors file"]),
    (
        "attack --model {adv} --attack fgsm --eps 0.1 --out {new}",
        &["adv.safetensors", "missing tensors", "an adversarial set, not a model"],
    ),
    (
        "attack --model {small-input} --attack fgsm --eps 0.1 --out {new}",
        &["small-input.safetensors", "100 input pixels"],
    ),
    ("attack --model {five-class} --attack fgsm --eps 0.1 --out {new}", &["five-class.safetensors", "5 classes"]),
    ("attack --model {odd-meta} --attack fgsm --eps 0.1 --out {new}", &["odd-meta.safetensors", "redblue.backdoor"]),
    ("attack --model {huge} --attack fgsm --eps 0.1 --out {new}", &["huge.safetensors", "numerically broken"]),
    ("attack --model {model} --attack fgsm --eps 0.1 --out {model} --force", &["--out", "same file as the input"]),
    ("attack --model {model} --attack fgsm --eps 0.1 --out {fifo} --force", &["--out", "a FIFO"]),
    ("attack --model {model} --attack fgsm --eps -0.1 --out {new}", &["--eps", ">= 0"]),
    ("attack --model {model} --attack fgsm --eps nan --out {new}", &["--eps", "finite"]),
    ("attack --model {model} --attack fgsm --eps 2 --out {new}", &["--eps", "<= 1"]),
    ("attack --model {model} --attack fgsm --eps 0.1 --subset 0 --out {new}", &["--subset", "at least 1"]),
    (
        "attack --model {model} --attack fgsm --eps 0.1 --offset 1 --subset 18446744073709551615 --out {new}",
        &["--subset", "at most 99 from --offset 1"],
    ),
    ("attack --model {model} --attack fgsm --eps 0.1 --offset 100 --out {new}", &["--offset", "past the end"]),
    ("attack --model {model} --attack fgsm --eps 0.1 --eval-batch 0 --out {new}", &["--eval-batch", "at least 1"]),
    (
        "attack --model {model} --attack fgsm --eps 0.1 --steps 5 --out {new}",
        &["--steps has no effect with --attack fgsm"],
    ),
    (
        "attack --model {model} --attack fgsm --eps 0.1 --seed 3 --out {new}",
        &["--seed has no effect with --attack fgsm"],
    ),
    (
        "attack --model {model} --attack fgsm --eps 0.1 --loss cw --out {new}",
        &["--loss has no effect with --attack fgsm"],
    ),
    ("attack --model {model} --attack pgd --eps 0.1 --loss hinge --out {new}", &["--loss", "hinge"]),
    (
        "attack --model {model} --attack apgd --eps 0.1 --rel-step 0.5 --out {new}",
        &["--rel-step has no effect with --attack apgd"],
    ),
    (
        "attack --model {model} --attack apgd-t --eps 0.1 --loss ce --out {new}",
        &["--loss has no effect with --attack apgd-t"],
    ),
    ("attack --model {model} --attack apgd --eps 0.1 --loss cw --out {new}", &["--loss", "APGD takes ce or dlr"]),
    ("attack --model {model} --attack apgd --eps 0.1 --steps 0 --out {new}", &["--steps", "between 1 and"]),
    (
        "attack --model {model} --attack fab-t --eps 0.1 --loss ce --out {new}",
        &["--loss has no effect with --attack fab-t"],
    ),
    ("attack --model {model} --attack fab-t --eps 0.1 --restarts 0 --out {new}", &["--restarts", "between 1 and"]),
    ("eval --model {model} --attack pgd --eps 0.1 --target 10", &["--target", "not a class of this model"]),
    ("attack --model {model} --attack pgd --eps 0.1 --target most-likely --out {new}", &["--target", "least-likely"]),
    ("eval --model {model} --attack auto --eps 0.1 --target 3", &["--target has no effect with --attack auto"]),
    ("eval --model {model} --attack apgd-t --eps 0.1 --target random", &["--target has no effect"]),
    ("eval --model {model} --target 3", &["--target has no effect without --attack"]),
    (
        "eval --model {model} --attack fab-t --eps 0.1 --queries 10",
        &["--queries has no effect without --attack square"],
    ),
    (
        "attack --model {model} --attack square --eps 0.1 --steps 10 --out {new}",
        &["--steps has no effect with --attack square"],
    ),
    ("attack --model {model} --attack square --eps 0.1 --queries 0 --out {new}", &["--queries", "between 1 and"]),
    (
        "attack --model {model} --attack pgd --eps 0.1 --queries 10 --out {new}",
        &["--queries has no effect without --attack square"],
    ),
    (
        "attack --model {model} --attack auto --eps 0.1 --restarts 2 --out {new}",
        &["--restarts has no effect with --attack auto"],
    ),
    (
        "attack --model {model} --attack pgd --eps 0.1 --no-random-start --seed 3 --out {new}",
        &["--seed has no effect with --no-random-start"],
    ),
    (
        "attack --model {model} --attack pgd --eps 0.1 --no-random-start --restarts 3 --out {new}",
        &["--restarts 3 has no effect"],
    ),
    ("attack --model {model} --attack pgd --eps 0.1 --steps 0 --out {new}", &["steps"]),
    ("attack --model {model} --attack pgd --eps 0.1 --rel-step -1 --out {new}", &["rel"]),
    // --- eval: the judge, clean evaluation, flags without effect.
    ("eval --model {model} --adv {missing}", &["no-such-file.safetensors"]),
    ("eval --model {model} --adv {flat-adv} --eps 0.1 --verify ibp", &["--verify has no effect with --adv"]),
    ("eval --model {model} --attack fgsm --eps 0.1 --verify exact", &["invalid value 'exact'", "--verify"]),
    ("eval --model {model} --adv {truncated}", &["truncated.safetensors", "truncated"]),
    ("eval --model {model} --adv {model}", &["model.safetensors", "no tensor \"images\"", "looks like a model file"]),
    ("eval --model {model} --adv {flat-adv}", &["flat-adv.safetensors", "[N, rows, cols]"]),
    ("eval --model {model} --adv {nan-adv}", &["rejected", "1 of 100", "1 of them with NaN"]),
    ("eval --model {model} --adv {adv} --eps 0.1", &["declares eps 0.3", "referee's budget is eps 0.1"]),
    ("eval --model {model} --adv {adv} --eps 0.1,0.3", &["--eps", "one budget"]),
    ("eval --model {model} --adv {adv} --offset 5", &["--offset 5 disagrees", "test image 0"]),
    ("eval --model {model} --adv {adv} --subset 101", &["--subset", "at most 100"]),
    ("eval --model {model} --adv {foreign-adv}", &["declares no budget", "--eps"]),
    (
        "eval --model {model} --adv {foreign-adv} --eps 0.3 --offset 1 --subset 50",
        &["label of test image 1", "wrong --offset"],
    ),
    ("eval --model {model} --adv {foreign-adv} --eps 0.3 --offset 1", &["covers test images 1..101", "has 100"]),
    ("eval --model {model} --adv {foreign-adv} --eps 0.1", &["rejected", "linf distance <= 0.1"]),
    ("eval --model {model} --adv {adv} --steps 5", &["--steps has no effect with --adv"]),
    ("eval --model {model} --adv {adv} --no-clip", &["--no-clip has no effect with --adv unless --eps"]),
    ("eval --model {model} --seed 1", &["--seed has no effect without --attack or --adv"]),
    ("eval --model {model} --no-clip", &["--no-clip has no effect without --attack or --adv"]),
    ("eval --model {model} --eps 0.1", &["--eps needs --attack"]),
    ("eval --model {model} --surrogate {model}", &["--attack"]),
    ("eval --model {model} --attack pgd --eps 0.1 --surrogate {missing}", &["no-such-file.safetensors"]),
    ("eval --model {model} --attack pgd --eps 0.1 --surrogate {five-class}", &["five-class.safetensors", "5 classes"]),
    ("eval --model {huge}", &["huge.safetensors", "numerically broken"]),
    ("eval --model {huge} --attack fgsm --eps 0.1", &["huge.safetensors", "numerically broken"]),
    ("eval --model {model} --subset 0", &["--subset", "at least 1"]),
    ("eval --model {model} --offset 18446744073709551615", &["--offset", "past the end"]),
    ("eval --model {model} --attack fgsm --eps 0.1,inf", &["--eps", "finite"]),
    // --- reproduce: run folders, subsets larger than the data, resume of a non-run.
    ("reproduce --quick --out {own_run}", &["own-run", "not empty"]),
    ("reproduce --quick --out {notes}", &["notes.txt", "not a folder"]),
    ("reproduce --resume {own_run}", &["own-run", "not a redblue run"]),
    ("reproduce --resume {folder}", &["folder", "not a redblue run"]),
    ("reproduce --quick --out {new_run} --test-subset 5000", &["--test-subset", "at most 100"]),
    ("reproduce --quick --out {new_run} --pgd-subset 5000", &["--pgd-subset", "at most 100"]),
    ("reproduce --quick --out {new_run} --curve-subset 101", &["--curve-subset", "at most 100"]),
    ("reproduce --quick --out {new_run} --train-subset 301", &["--train-subset", "at most 300"]),
    ("reproduce --quick --out {new_run} --jobs 0", &["--jobs", "at least 1"]),
    ("reproduce --quick --out {new_run} --arch small-cnn --verify-subset 5000", &["--verify-subset", "at most 100"]),
    ("reproduce --quick --out {new_run} --verify-subset 0", &["verify-subset", "at least 1"]),
    ("reproduce --quick --out {new_run} --arch resnet", &["--arch", "resnet"]),
    ("reproduce --quick --out {new_run} --epochs 0", &["epochs"]),
    // --- bench and data.
    ("bench --workload w1 --model {model}", &["--model has no effect"]),
    ("bench --workload w5 --runs 2", &["--runs has no effect with --workload w5"]),
    ("data info --mirror http://127.0.0.1:1/", &["--mirror has no effect with --data-dir"]),
];

/// Cases that bring their own data flags (a bad data dir).
const DATA_CASES: &[(&str, &[&str])] = &[
    ("train --epochs 1 --out {new} --data-dir {missing} --no-verify", &["no-such-file.safetensors", "not a directory"]),
    ("train --epochs 1 --out {new} --data-dir {empty_data} --no-verify", &["empty-data", "missing"]),
    ("train --epochs 1 --out {new} --data-dir {trunc_data} --no-verify", &["train-images-idx3-ubyte", "truncated"]),
    ("eval --model {model} --data-dir {trunc_data} --no-verify", &["truncated"]),
];

#[test]
fn every_command_refuses_bad_input_without_touching_files() {
    let fx = fixtures();
    let before = snapshot(&fx.w.work);
    let expand = |line: &str| -> Vec<String> {
        line.split(' ').map(|tok| fx.vars.iter().fold(tok.to_string(), |t, (k, v)| t.replace(k, v))).collect()
    };
    let mut failures = Vec::new();
    let all = CASES.iter().map(|c| (c, true)).chain(DATA_CASES.iter().map(|c| (c, false)));
    for ((line, needles), with_data) in all {
        let mut args = expand(line);
        if with_data && args[0] != "import" {
            // Data flags go after the subcommand words ("data info", "eval"); `import` reads
            // no dataset.
            let at = if args[0] == "data" { 2 } else { 1 };
            for (i, f) in fx.w.flags().into_iter().enumerate() {
                args.insert(at + i, f);
            }
        }
        let out = redblue(&args);
        let mut problems = Vec::new();
        if out.code != Some(2) {
            problems.push(format!("exit code {:?}", out.code));
        }
        for n in *needles {
            if !out.stderr.contains(n) {
                problems.push(format!("no {n:?}"));
            }
        }
        if !out.stdout.is_empty() {
            problems.push("printed results".to_string());
        }
        let after = snapshot(&fx.w.work);
        if after != before {
            let changed: Vec<_> = after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(v))
                .map(|(k, _)| k.display().to_string())
                .chain(before.keys().filter(|k| !after.contains_key(*k)).map(|k| format!("removed {}", k.display())))
                .collect();
            problems.push(format!("files changed: {changed:?}"));
            for p in after.keys().filter(|k| !before.contains_key(*k)) {
                let _ = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{line}\n    {}\n    stderr: {}", problems.join("; "), out.stderr.trim()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len() + DATA_CASES.len(),
        failures.join("\n")
    );
}
