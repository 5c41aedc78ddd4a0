//! End-to-end tests of the `redblue` binary on a tiny synthetic IDX data set.
//!
//! Every run uses `--data-dir DIR --no-verify --no-download --no-npm --cache-dir TMP`, so no
//! test touches the network or the user's cache. Every run's stdout and stderr are checked
//! for "panicked".

mod cli_support;

use cli_support::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use redblue::data::{DatasetKind, FILE_NAMES};
use safetensors::SafeTensors;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

// ---------------------------------------------------------------------------------------------

#[test]
fn train_writes_model_reports_accuracy_and_refuses_overwrite() {
    let w = world();
    let model = w.path("m.safetensors");
    let extra = World::train_args(&model, 0);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let out = w.run(&["train"], &extra);
    out.ok();
    assert!(model.is_file());
    let acc: f64 = out
        .stdout
        .split("test accuracy ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| c == ',' || c.is_whitespace()).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("stdout does not state the test accuracy:\n{}", out.stdout));
    assert!((0.0..=1.0).contains(&acc), "accuracy {acc}");
    // The model file loads and is the architecture asked for.
    let (m, _) = redblue::model::file::load(&model).unwrap();
    assert_eq!(m.config.hidden, 32);
    assert_eq!(m.config.input, 784);

    // --json
    let model2 = w.path("m2.safetensors");
    let mut extra2 = World::train_args(&model2, 0);
    extra2.push("--json".into());
    let extra2: Vec<&str> = extra2.iter().map(String::as_str).collect();
    let v = w.run(&["train"], &extra2).ok().json();
    let a = v["test"]["accuracy"].as_f64().unwrap_or_else(|| panic!("no test.accuracy in {v}"));
    assert!((0.0..=1.0).contains(&a), "accuracy {a}");
    assert_eq!(v["test"]["n"].as_u64(), Some(N_TEST as u64), "{v}");
    // The text run and the JSON run are the same training (same seed), so the same accuracy.
    assert!((a - acc).abs() <= 5e-5, "text {acc} vs json {a}");

    // No --force: refuse, exit 2, file untouched.
    let before = std::fs::read(&model).unwrap();
    w.run(&["train"], &extra).fails_with(&["--force", "already exists"]);
    assert_eq!(std::fs::read(&model).unwrap(), before, "refused train modified the file");
    // With --force it overwrites (succeeds).
    let mut forced = extra.clone();
    forced.push("--force");
    w.run(&["train"], &forced).ok();
}

#[test]
fn both_engines_train_the_same_model_and_record_which_ran() {
    let w = world();
    let mut acc = Vec::new();
    for engine in ["native", "burn"] {
        let model = w.path(&format!("{engine}.safetensors"));
        let mut extra = World::train_args(&model, 3);
        extra.extend(["--engine".into(), engine.into(), "--json".into()]);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let v = w.run(&["train"], &extra).ok().json();
        acc.push(v["test"]["accuracy"].as_f64().unwrap_or_else(|| panic!("no test.accuracy in {v}")));
        let (_, meta) = redblue::model::file::load(&model).unwrap();
        assert_eq!(meta.train["train"]["engine"].as_str(), Some(engine), "{}", meta.train);
    }
    // Same seed, same draws; the engines differ only by float rounding.
    assert!((acc[0] - acc[1]).abs() <= 0.01, "native {} vs burn {}", acc[0], acc[1]);
    let bad = World::train_args(&w.path("x.safetensors"), 3);
    let mut bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    bad.extend(["--engine", "gpu"]);
    w.run(&["train"], &bad).fails_with(&["--engine", "gpu"]);
}

#[test]
fn same_seed_same_weights_different_seed_different_weights() {
    let w = world();
    let a = w.train("a.safetensors", 7);
    let b = w.train("b.safetensors", 7);
    let c = w.train("c.safetensors", 8);
    let tensors = |p: &Path| {
        let bytes = std::fs::read(p).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        redblue::model::file::NAMES.iter().map(|n| st.tensor(n).unwrap().data().to_vec()).collect::<Vec<_>>()
    };
    assert_eq!(tensors(&a), tensors(&b), "same seed gave different weights");
    assert_ne!(tensors(&a), tensors(&c), "different seeds gave identical weights");
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
}

/// Same seed, same data, same flags: the whole file must be byte-identical (the metadata
/// records the configuration, which is the same).
#[test]
fn same_seed_gives_byte_identical_model_files() {
    let w = world();
    let a = w.train("a.safetensors", 3);
    let b = w.train("b.safetensors", 3);
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    if ba == bb {
        return;
    }
    // Diagnose: which part differs? (header text order, metadata values, tensor bytes)
    let header = |bytes: &[u8]| {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        (String::from_utf8_lossy(&bytes[8..8 + n]).into_owned(), bytes[8 + n..].to_vec())
    };
    let ((ha, da), (hb, db)) = (header(&ba), header(&bb));
    let mut why = Vec::new();
    if da != db {
        why.push("tensor data differs".to_string());
    }
    let meta = |h: &str| -> HashMap<String, String> {
        let v: Value = serde_json::from_str(h).unwrap();
        serde_json::from_value(v["__metadata__"].clone()).unwrap()
    };
    let (ma, mb) = (meta(&ha), meta(&hb));
    for (k, va) in &ma {
        if mb.get(k) != Some(va) {
            why.push(format!("metadata {k} differs:\n  a: {va}\n  b: {:?}", mb.get(k)));
        }
    }
    let order = |h: &str| {
        let mut keys: Vec<(usize, &String)> =
            ma.keys().filter_map(|k| h.find(&format!("\"{k}\"")).map(|i| (i, k))).collect();
        keys.sort();
        keys.into_iter().map(|(_, k)| k.clone()).collect::<Vec<_>>()
    };
    if order(&ha) != order(&hb) {
        why.push(format!("metadata key order differs: {:?} vs {:?}", order(&ha), order(&hb)));
    }
    panic!("same seed, different model files:\n{}", why.join("\n"));
}

#[test]
fn eval_clean_json_has_one_full_row() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let v = w.eval_json(&m, &[]);
    let r = rows(&v);
    assert_eq!(r.len(), 1, "{v}");
    for key in ["eps", "accuracy", "confidence", "true_class_prob", "loss", "n"] {
        assert!(r[0].get(key).is_some(), "row lacks {key}: {}", r[0]);
    }
    assert_eq!(f(&r[0], "eps"), 0.0);
    assert_eq!(r[0]["n"].as_u64(), Some(N_TEST as u64));
    let acc = f(&r[0], "accuracy");
    assert!((0.0..=1.0).contains(&acc));
    let conf = f(&r[0], "confidence");
    assert!((0.1 - 1e-9..=1.0).contains(&conf), "confidence {conf} (max softmax of 10 classes)");
    let p = f(&r[0], "true_class_prob");
    assert!((0.0..=conf + 1e-12).contains(&p), "true-class prob {p} above confidence {conf}");
    assert!(f(&r[0], "loss") > 0.0);
    assert_eq!(v["model_sha256"].as_str(), Some(sha256_file(&m).as_str()));
    assert_eq!(v["data_verified"], Value::Bool(false));
}

#[test]
fn eval_fgsm_sweep_rows_clean_row_and_monotone() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let clean = f(&rows(&w.eval_json(&m, &[]))[0], "accuracy");
    let v = w.eval_json(&m, &["--attack", "fgsm", "--eps", "0.05,0.1,0.25"]);
    let r = rows(&v);
    let eps: Vec<f64> = r.iter().map(|x| f(x, "eps")).collect();
    assert_eq!(eps, vec![0.0, 0.05, 0.1, 0.25], "{v}");
    assert!(r.iter().all(|x| x["n"].as_u64() == Some(N_TEST as u64)));
    let acc: Vec<f64> = r.iter().map(|x| f(x, "accuracy")).collect();
    assert_eq!(acc[0], clean, "sweep's eps-0 row differs from the clean eval");
    for i in 1..acc.len() {
        assert!(acc[i] <= acc[i - 1], "accuracy rises with eps: {acc:?}");
    }
    assert!(acc[3] < acc[0], "FGSM at 0.25 did nothing: {acc:?}");
    assert_eq!(v["clip"].as_str(), Some("clipped"));
    assert_eq!(v["attack"].as_str(), Some("fgsm"));

    let u = w.eval_json(&m, &["--attack", "fgsm", "--eps", "0.05,0.1,0.25", "--no-clip"]);
    assert_eq!(u["clip"].as_str(), Some("unclipped"), "{u}");
    let ur = rows(&u);
    assert_eq!(ur.len(), 4);
    assert_eq!(f(&ur[0], "accuracy"), clean);
}

#[test]
fn attack_file_is_judged_like_the_sweep() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let adv = w.path("adv.safetensors");
    let out = attack(&w, &m, &adv, &["--attack", "fgsm", "--eps", "0.1"]);
    out.ok();
    assert!(out.stdout.contains("accuracy"), "{}", out.stdout);

    let sweep = w.eval_json(&m, &["--attack", "fgsm", "--eps", "0.1"]);
    let sweep_acc = f(&rows(&sweep)[1], "accuracy");
    let v = w.eval_json(&m, &["--adv", adv.to_str().unwrap()]);
    let r = rows(&v);
    assert_eq!(r.len(), 2, "{v}");
    assert_eq!(f(&r[0], "eps"), 0.0);
    assert_eq!(f(&r[1], "eps"), 0.1);
    assert_eq!(f(&r[1], "accuracy"), sweep_acc, "adv-set accuracy differs from the sweep's");
    assert_eq!(f(&r[0], "accuracy"), f(&rows(&sweep)[0], "accuracy"));

    let file = read_adv(&adv);
    assert_eq!(file.ishape, vec![N_TEST, SIDE, SIDE]);
    assert_eq!(file.lshape, vec![N_TEST]);
    let (_, test_y) = synth_split(N_TEST, 2);
    assert_eq!(file.labels, test_y);
    let meta: Value = serde_json::from_str(
        file.meta.get("redblue.advset").unwrap_or_else(|| panic!("no redblue.advset in {:?}", file.meta)),
    )
    .unwrap();
    assert_eq!(meta["attack"].as_str(), Some("fgsm"), "{meta}");
    assert_eq!(meta["eps"].as_f64(), Some(0.1), "{meta}");
    assert_eq!(meta["clip"].as_str(), Some("clipped"), "{meta}");
    assert_eq!(meta["model_sha256"].as_str(), Some(sha256_file(&m).as_str()), "{meta}");
    // Images are really within budget and in [0, 1].
    let (test_x, _) = synth_split(N_TEST, 2);
    for (a, &c) in file.images.iter().zip(&test_x) {
        let c = c as f32 / 255.0;
        assert!((0.0..=1.0).contains(a));
        assert!((a - c).abs() <= 0.1 + 1e-6);
    }
}

#[test]
fn tampered_adversarial_set_is_rejected() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let adv = w.path("adv.safetensors");
    attack(&w, &m, &adv, &["--attack", "fgsm", "--eps", "0.1"]).ok();
    let mut file = read_adv(&adv);
    let d = SIDE * SIDE;
    // A pixel of image 3 that the attack did not move down: +0.2 puts it >= 0.2 from clean.
    let (test_x, _) = synth_split(N_TEST, 2);
    let p = (0..d)
        .find(|&j| file.images[3 * d + j] >= test_x[3 * d + j] as f32 / 255.0)
        .expect("some pixel of image 3 was not decreased");
    file.images[3 * d + p] += 0.2;
    file.images[7 * d + 200] = 1.5;
    let bad = w.path("tampered.safetensors");
    write_adv(&bad, &file);
    let out = w.run(&["eval"], &["--model", m.to_str().unwrap(), "--adv", bad.to_str().unwrap(), "--json"]);
    out.fails_with(&["rejected", "2 of 100", "[3, 7]"]);
    assert!(out.stdout.is_empty(), "a rejected set still printed results: {}", out.stdout);
}

#[test]
fn adversarial_set_with_wrong_labels_is_rejected() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let adv = w.path("adv.safetensors");
    attack(&w, &m, &adv, &["--attack", "fgsm", "--eps", "0.1"]).ok();
    // The model itself loads and scores fine...
    w.eval_json(&m, &[]);
    // ...but a set whose labels disagree with the test set is rejected.
    let mut file = read_adv(&adv);
    file.labels[5] = (file.labels[5] + 1) % 10;
    let bad = w.path("relabelled.safetensors");
    write_adv(&bad, &file);
    w.run(&["eval"], &["--model", m.to_str().unwrap(), "--adv", bad.to_str().unwrap(), "--json"])
        .fails_with(&["label of test image 5 is"]);
}

#[test]
fn pgd_is_at_least_as_strong_as_fgsm() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let fgsm = w.path("fgsm.safetensors");
    let pgd = w.path("pgd.safetensors");
    attack(&w, &m, &fgsm, &["--attack", "fgsm", "--eps", "0.1"]).ok();
    attack(&w, &m, &pgd, &["--attack", "pgd", "--eps", "0.1", "--steps", "5", "--restarts", "2"]).ok();
    let meta: Value = serde_json::from_str(&read_adv(&pgd).meta["redblue.advset"]).unwrap();
    assert_eq!(meta["attack"].as_str(), Some("pgd"), "{meta}");
    assert_eq!(meta["params"]["steps"].as_u64(), Some(5), "{meta}");
    assert_eq!(meta["params"]["restarts"].as_u64(), Some(2), "{meta}");
    let acc = |p: &Path| f(&rows(&w.eval_json(&m, &["--adv", p.to_str().unwrap()]))[1], "accuracy");
    let (a_fgsm, a_pgd) = (acc(&fgsm), acc(&pgd));
    let clean = f(&rows(&w.eval_json(&m, &[]))[0], "accuracy");
    assert!(a_fgsm < clean, "FGSM at 0.1 did nothing ({a_fgsm} vs clean {clean}): comparison vacuous");
    assert!(a_pgd <= a_fgsm, "PGD {a_pgd} weaker than FGSM {a_fgsm}");
    // The PGD sweep through eval agrees in direction too.
    let v = w.eval_json(&m, &["--attack", "pgd", "--eps", "0.1", "--steps", "5", "--restarts", "2"]);
    assert!(f(&rows(&v)[1], "accuracy") <= a_fgsm, "{v}");
}

#[test]
fn bad_data_is_rejected_without_output() {
    let w = world();
    let out = w.path("never.safetensors");
    let train = |data: &Path, needles: &[&str]| {
        let mut a: Vec<String> = vec!["train".into()];
        a.extend(data_flags(data, &w.cache));
        a.extend(World::train_args(&out, 0));
        redblue(&a).fails_with(needles);
        assert!(!out.exists(), "a failed train created {}", out.display());
    };
    // Missing data dir.
    let missing = w.work.join("no-such-dir");
    train(&missing, &["no-such-dir", "not a directory"]);

    // Truncated test-images file.
    let trunc = w.work.join("trunc");
    write_dataset(&trunc);
    let p = trunc.join(FILE_NAMES[2]);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    train(&trunc, &["truncated", FILE_NAMES[2]]);

    // Wrong magic in the test-labels file.
    let magic = w.work.join("magic");
    write_dataset(&magic);
    let p = magic.join(FILE_NAMES[3]);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[..4].copy_from_slice(&0x0000_0999u32.to_be_bytes());
    std::fs::write(&p, &bytes).unwrap();
    train(&magic, &["magic", "0x00000801", "0x00000999", FILE_NAMES[3]]);

    // A missing file.
    let incomplete = w.work.join("incomplete");
    write_dataset(&incomplete);
    std::fs::remove_file(incomplete.join(FILE_NAMES[1])).unwrap();
    train(&incomplete, &["incomplete", FILE_NAMES[1]]);
}

#[test]
fn bad_models_and_parameters_are_rejected_without_output() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let out = w.path("never.safetensors");
    let ms = m.to_str().unwrap().to_string();
    let os = out.to_str().unwrap().to_string();
    let check = |o: Out, needles: &[&str]| {
        o.fails_with(needles);
        assert!(!out.exists(), "a failed command created {}", out.display());
    };
    let attack_with = |model: &str, extra: &[&str]| {
        let mut e = vec!["--model", model, "--out", os.as_str()];
        e.extend_from_slice(extra);
        w.run(&["attack"], &e)
    };
    let fgsm01 = ["--attack", "fgsm", "--eps", "0.1"];

    // Model path that does not exist.
    let nope = w.path("no-such-model.safetensors");
    check(attack_with(nope.to_str().unwrap(), &fgsm01), &["no-such-model.safetensors"]);
    let o = w.run(&["eval"], &["--model", nope.to_str().unwrap()]);
    o.fails_with(&["no-such-model.safetensors"]);

    // Corrupt model file.
    let corrupt = w.path("corrupt.safetensors");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    std::fs::write(&corrupt, (0..4096).map(|_| rng.gen::<u8>()).collect::<Vec<u8>>()).unwrap();
    check(attack_with(corrupt.to_str().unwrap(), &fgsm01), &["corrupt.safetensors", "safetensors"]);
    w.run(&["eval"], &["--model", corrupt.to_str().unwrap()]).fails_with(&["corrupt.safetensors"]);

    // Bad eps for attack and eval.
    for (eps, why) in [("-0.1", ">= 0"), ("nan", "finite"), ("2", "<= 1")] {
        check(attack_with(&ms, &["--attack", "fgsm", "--eps", eps]), &["eps", why]);
        let o = w.run(&["eval"], &["--model", &ms, "--attack", "fgsm", "--eps", eps]);
        o.fails_with(&["eps", why]);
        assert!(o.stdout.is_empty());
    }
    let o = w.run(&["eval"], &["--model", &ms, "--attack", "fgsm", "--eps", "0.1,-0.1"]);
    o.fails_with(&["eps", ">= 0"]);

    // Training hyper-parameters.
    for (flag, value, needle) in
        [("--batch-size", "0", "batch-size"), ("--epochs", "0", "epochs"), ("--hidden", "0", "hidden")]
    {
        let mut a = vec!["--out", os.as_str(), flag, value];
        if flag != "--epochs" {
            a.extend_from_slice(&["--epochs", "1"]);
        }
        if flag != "--hidden" {
            a.extend_from_slice(&["--hidden", "8"]);
        }
        check(w.run(&["train"], &a), &[needle, value]);
    }

    // Subset and offset.
    check(attack_with(&ms, &[&fgsm01[..], &["--subset", "0"]].concat()), &["--subset = 0", "at least 1"]);
    check(attack_with(&ms, &[&fgsm01[..], &["--offset", "100000"]].concat()), &["--offset = 100000", "100 images"]);
    check(
        attack_with(&ms, &[&fgsm01[..], &["--offset", "90", "--subset", "20"]].concat()),
        &["--subset = 20", "at most 10 from --offset 90"],
    );
    w.run(&["eval"], &["--model", &ms, "--subset", "0"]).fails_with(&["--subset = 0", "at least 1"]);
    w.run(&["eval"], &["--model", &ms, "--offset", "100000"]).fails_with(&["--offset = 100000"]);
    w.run(&["eval"], &["--model", &ms, "--eval-batch", "0"]).fails_with(&["batch"]);

    // PGD knobs.
    check(attack_with(&ms, &["--attack", "pgd", "--eps", "0.1", "--steps", "0"]), &["steps"]);
    check(attack_with(&ms, &["--attack", "pgd", "--eps", "0.1", "--restarts", "0"]), &["restarts"]);

    // Still nothing was written and the good model is untouched and usable.
    w.eval_json(&m, &[]);
}

#[test]
fn subset_and_offset_select_test_images() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let v = w.eval_json(&m, &["--subset", "30", "--offset", "10"]);
    assert_eq!(rows(&v)[0]["n"].as_u64(), Some(30), "{v}");
    assert_eq!(v["offset"].as_u64(), Some(10), "{v}");
    // An attack on a slice is judged against the same slice.
    let adv = w.path("slice.safetensors");
    attack(&w, &m, &adv, &["--attack", "fgsm", "--eps", "0.1", "--subset", "30", "--offset", "10"]).ok();
    let file = read_adv(&adv);
    assert_eq!(file.ishape, vec![30, SIDE, SIDE]);
    let r = w.eval_json(&m, &["--adv", adv.to_str().unwrap()]);
    let sw = w.eval_json(&m, &["--attack", "fgsm", "--eps", "0.1", "--subset", "30", "--offset", "10"]);
    assert_eq!(rows(&r)[1]["n"].as_u64(), Some(30));
    assert_eq!(f(&rows(&r)[1], "accuracy"), f(&rows(&sw)[1], "accuracy"));
    assert_eq!(f(&rows(&r)[0], "accuracy"), f(&rows(&sw)[0], "accuracy"));
}

#[test]
fn data_info_prints_counts() {
    let w = world();
    let o = w.run(&["data", "info"], &[]);
    o.ok();
    assert!(o.stdout.contains("300 train + 100 test images of 28x28"), "{}", o.stdout);
    assert!(o.stdout.contains("test label counts: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]"), "{}", o.stdout);
    assert!(o.stderr.contains("UNVERIFIED"), "{}", o.stderr);
}

#[test]
fn data_fetch_verifies_sha256_of_a_data_dir() {
    let w = world();
    let a = vec!["data".to_string(), "fetch".into(), "--data-dir".into(), s(&w.data)];
    let o = redblue(&a);
    let first = &DatasetKind::Mnist.file_specs()[0];
    let found = redblue::data::sha256_hex(&std::fs::read(w.data.join(&first.name)).unwrap());
    o.fails_with(&["SHA-256 mismatch", &first.name, &first.sha256, &found]);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
}

#[test]
fn the_referee_sets_the_budget_not_the_attacker() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let ms = m.to_str().unwrap();
    let adv = w.path("adv.safetensors");
    attack(&w, &m, &adv, &["--attack", "fgsm", "--eps", "0.1"]).ok();
    let advs = adv.to_str().unwrap();
    // Without a referee budget the declared one is used, and the verdict says so in words.
    let declared = w.run(&["eval"], &["--model", ms, "--adv", advs]);
    declared.ok();
    assert!(
        declared.stdout.contains("budget as declared by the attacker (linf eps 0.1, clipped)"),
        "{}",
        declared.stdout
    );
    let v = w.eval_json(&m, &["--adv", advs]);
    assert_eq!(v["budget_source"], "declared-by-attacker", "{v}");
    assert_eq!(v["transfer"], false, "{v}");
    // A referee budget at least as large as the declared one: same rows, labelled as the referee's.
    let r = w.eval_json(&m, &["--adv", advs, "--eps", "0.25"]);
    assert_eq!(r["budget_source"], "referee", "{r}");
    assert_eq!(r["budget"]["eps"].as_f64(), Some(0.25), "{r}");
    assert_eq!(f(&rows(&r)[1], "accuracy"), f(&rows(&v)[1], "accuracy"));
    // A declared budget looser than the referee's is refused before any image is checked.
    w.run(&["eval"], &["--model", ms, "--adv", advs, "--eps", "0.05"])
        .fails_with(&["declares eps 0.1", "referee's budget is eps 0.05"]);
    // An attacker who lies in the metadata (declares 0.05, moved pixels by 0.1) is caught by the
    // image check against the referee's budget.
    let mut file = read_adv(&adv);
    let mut meta: Value = serde_json::from_str(&file.meta["redblue.advset"]).unwrap();
    meta["eps"] = 0.05.into();
    file.meta.insert("redblue.advset".into(), meta.to_string());
    let liar = w.path("liar.safetensors");
    write_adv(&liar, &file);
    w.run(&["eval"], &["--model", ms, "--adv", liar.to_str().unwrap(), "--eps", "0.05"])
        .fails_with(&["rejected", "linf distance <= 0.05"]);
    // --subset scores the set's first images; the clean row is on the same images.
    let sub = w.eval_json(&m, &["--adv", advs, "--subset", "40"]);
    assert_eq!(rows(&sub)[0]["n"].as_u64(), Some(40), "{sub}");
    assert_eq!(rows(&sub)[1]["n"].as_u64(), Some(40), "{sub}");
    let sweep = w.eval_json(&m, &["--attack", "fgsm", "--eps", "0.1", "--subset", "40"]);
    assert_eq!(f(&rows(&sub)[1], "accuracy"), f(&rows(&sweep)[1], "accuracy"));
    // A set made on another model is scored as a transfer attack, with both hashes.
    let other = w.train("other.safetensors", 1);
    let t = w.eval_json(&other, &["--adv", advs, "--eps", "0.1"]);
    assert_eq!(t["transfer"], true, "{t}");
    assert_eq!(t["set_model_sha256"].as_str(), Some(sha256_file(&m).as_str()), "{t}");
    assert_eq!(t["model_sha256"].as_str(), Some(sha256_file(&other).as_str()), "{t}");
    let text = w.run(&["eval"], &["--model", other.to_str().unwrap(), "--adv", advs]);
    assert!(text.ok().stdout.contains("transfer attack"), "{}", text.stdout);
}

/// A set written by the Python `safetensors` package the way torchattacks users save theirs
/// (images f32 [N, 1, 28, 28], labels i64 [N], no redblue metadata). Where Python with
/// `safetensors` and `numpy` is installed (`.ci/run` installs them) the set is made fresh by
/// tests/fixtures/foreign_set.py; elsewhere the committed file that script wrote is used.
#[test]
fn a_set_made_by_another_tool_is_judged_with_the_referees_budget() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let n = 20;
    let (x, y) = synth_split(N_TEST, 2);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let made = w.path("python.safetensors");
    let clean: Vec<u8> = x[..n * SIDE * SIDE].iter().flat_map(|&p| (p as f32 / 255.0).to_le_bytes()).collect();
    std::fs::write(w.path("clean.f32"), clean).unwrap();
    std::fs::write(w.path("labels.u8"), &y[..n]).unwrap();
    let python = Command::new("python3")
        .arg(fixtures.join("foreign_set.py"))
        .args([w.path("clean.f32"), w.path("labels.u8")])
        .args([n.to_string(), "0.05".into()])
        .arg(&made)
        .output();
    let set = match python {
        Ok(o) if o.status.success() => {
            if std::env::var_os("REDBLUE_BLESS").is_some() {
                std::fs::copy(&made, fixtures.join("foreign_set.safetensors")).unwrap();
            }
            // The fresh file and the committed one are the same bytes (same script, same images).
            let committed = std::fs::read(fixtures.join("foreign_set.safetensors")).unwrap();
            assert_eq!(std::fs::read(&made).unwrap(), committed, "tests/fixtures/foreign_set.safetensors is stale");
            made
        }
        other => {
            eprintln!("python3 with safetensors unavailable ({other:?}); using the committed fixture");
            fixtures.join("foreign_set.safetensors")
        }
    };
    let sets = set.to_str().unwrap();
    let ms = m.to_str().unwrap();
    w.run(&["eval"], &["--model", ms, "--adv", sets]).fails_with(&["declares no budget", "--eps"]);
    w.run(&["eval"], &["--model", ms, "--adv", sets, "--eps", "0.04"]).fails_with(&["rejected", "20 of 20"]);
    let v = w.eval_json(&m, &["--adv", sets, "--eps", "0.05"]);
    assert_eq!(v["budget_source"], "referee", "{v}");
    assert_eq!(v["transfer"], true, "{v}");
    assert!(v["set_model_sha256"].is_null(), "{v}");
    assert_eq!(rows(&v)[1]["n"].as_u64(), Some(n as u64), "{v}");
    let clean = w.eval_json(&m, &["--subset", "20"]);
    assert_eq!(rows(&v)[0], rows(&clean)[0], "the clean row is the clean evaluation of the same images");
    // The same images placed at another offset no longer match the test labels.
    w.run(&["eval"], &["--model", ms, "--adv", sets, "--eps", "0.05", "--offset", "1"])
        .fails_with(&["label of test image"]);
}

fn read_adv_meta(p: &Path) -> HashMap<String, String> {
    let bytes = std::fs::read(p).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    header.metadata().clone().unwrap_or_default()
}

#[test]
fn files_written_for_the_other_team_hold_no_local_paths() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let adv = w.path("adv.safetensors");
    attack(&w, &m, &adv, &["--attack", "fgsm", "--eps", "0.1"]).ok();
    let root = w._tmp.path().to_str().unwrap().to_string();
    for file in [&m, &adv] {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&root), "{} records a local path", file.display());
    }
    let meta = read_adv(&m.with_file_name("adv.safetensors")).meta;
    assert!(!meta["redblue.advset"].contains('/'), "{meta:?}");
    let train: Value = serde_json::from_str(&read_adv_meta(&m)["redblue.train"]).unwrap();
    assert_eq!(train["data_source"], "unverified data dir", "{train}");
}

#[test]
fn eps_minus_zero_and_tiny_eps_print_normally() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let o = w.run(&["eval"], &["--model", m.to_str().unwrap(), "--attack", "fgsm", "--eps=-0,1e-9"]);
    o.ok();
    assert!(o.stdout.contains("\n| 0 | 100 |") && o.stdout.contains("\n| 1e-9 | 100 |"), "{}", o.stdout);
    assert!(!o.stdout.contains("-0"), "{}", o.stdout);
}

#[test]
fn l2_attacks_and_losses_from_the_cli_and_the_judge_checks_l2_budgets() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let ms = m.to_str().unwrap();
    let adv = w.path("l2.safetensors");
    attack(&w, &m, &adv, &["--attack", "pgd", "--norm", "l2", "--eps", "1.5", "--steps", "5", "--loss", "dlr"]).ok();
    let meta: Value = serde_json::from_str(&read_adv(&adv).meta["redblue.advset"]).unwrap();
    assert_eq!((meta["norm"].as_str(), meta["eps"].as_f64()), (Some("l2"), Some(1.5)), "{meta}");
    assert_eq!(meta["params"]["loss"].as_str(), Some("dlr"), "{meta}");
    // Every image really lies in the L2 ball of radius 1.5 and in [0, 1].
    let file = read_adv(&adv);
    let (x, _) = synth_split(N_TEST, 2);
    for (a, c) in file.images.chunks(SIDE * SIDE).zip(x.chunks(SIDE * SIDE)) {
        let d: f64 = a.iter().zip(c).map(|(a, &c)| (f64::from(*a) - f64::from(c) / 255.0).powi(2)).sum::<f64>().sqrt();
        assert!(d <= 1.5 + 1e-5 && a.iter().all(|v| (0.0..=1.0).contains(v)), "distance {d}");
    }
    let advs = adv.to_str().unwrap();
    let v = w.eval_json(&m, &["--adv", advs]);
    assert_eq!(v["budget"]["norm"], "l2", "{v}");
    w.run(&["eval"], &["--model", ms, "--adv", advs, "--eps", "1.5"])
        .fails_with(&["declares the l2 threat model", "referee's budget is linf"]);
    let r = w.eval_json(&m, &["--adv", advs, "--eps", "2", "--norm", "l2"]);
    assert_eq!(f(&rows(&r)[1], "accuracy"), f(&rows(&v)[1], "accuracy"));
    // The L2 sweep: FGM and PGD, and the largest L2 budget is the pixel box's diameter.
    let s = w.eval_json(&m, &["--attack", "pgd", "--norm", "l2", "--eps", "1,3", "--steps", "5"]);
    assert_eq!(s["norm"], "l2", "{s}");
    assert!(f(&rows(&s)[2], "accuracy") <= f(&rows(&s)[0], "accuracy"), "{s}");
    w.eval_json(&m, &["--attack", "fgsm", "--norm", "l2", "--eps", "2"]);
    w.run(&["eval"], &["--model", ms, "--attack", "pgd", "--norm", "l2", "--eps", "29"])
        .fails_with(&["--eps", "<= 28"]);
}

#[test]
fn apgd_apgd_t_and_fab_t_sets_are_made_and_judged() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let clean = f(&rows(&w.eval_json(&m, &[]))[0], "accuracy");
    for (name, extra) in [("apgd", vec!["--loss", "dlr"]), ("apgd-t", vec![]), ("fab-t", vec![])] {
        let adv = w.path(&format!("{name}.safetensors"));
        let mut args = vec!["--attack", name, "--eps", "0.2", "--steps", "20"];
        args.extend(extra);
        attack(&w, &m, &adv, &args).ok();
        let meta: Value = serde_json::from_str(&read_adv(&adv).meta["redblue.advset"]).unwrap();
        assert_eq!(meta["attack"].as_str(), Some(name), "{meta}");
        assert_eq!(meta["params"]["iterations"].as_u64(), Some(20), "{meta}");
        let v = w.eval_json(&m, &["--adv", adv.to_str().unwrap(), "--eps", "0.2"]);
        assert!(f(&rows(&v)[1], "accuracy") < clean, "{name} did nothing: {v}");
    }
}

#[test]
fn transfer_attack_from_a_surrogate_model_file() {
    let w = world();
    let (m, s) = (w.train("m.safetensors", 0), w.train("s.safetensors", 1));
    let v = w.eval_json(&m, &["--attack", "pgd", "--eps", "0.2", "--steps", "5", "--surrogate", s.to_str().unwrap()]);
    assert_eq!(v["transfer"], true, "{v}");
    assert_eq!(v["surrogate_sha256"].as_str(), Some(sha256_file(&s).as_str()), "{v}");
    let clean = w.eval_json(&m, &[]);
    // The clean row is the target's, and so is the bound (verified at eps 0 = its accuracy).
    let mut row = rows(&v)[0].clone();
    assert_eq!(row.as_object_mut().and_then(|o| o.remove("verified")), Some(rows(&clean)[0]["accuracy"].clone()));
    assert_eq!(row, rows(&clean)[0], "the clean row is the target's");
    w.run(&["eval"], &["--model", m.to_str().unwrap(), "--surrogate", s.to_str().unwrap()]).fails_with(&["--attack"]);
}

#[test]
fn square_sets_are_made_from_logits_and_judged() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let adv = w.path("square.safetensors");
    attack(&w, &m, &adv, &["--attack", "square", "--eps", "0.3", "--queries", "100"]).ok();
    let meta: Value = serde_json::from_str(&read_adv(&adv).meta["redblue.advset"]).unwrap();
    assert_eq!(meta["attack"].as_str(), Some("square"), "{meta}");
    let used = meta["params"]["queries_used"].as_u64().unwrap_or(0);
    assert!(used > 100 && used <= 100 + 100 * 100, "queries used {used}: {meta}");
    let v = w.eval_json(&m, &["--adv", adv.to_str().unwrap()]);
    assert!(f(&rows(&v)[1], "accuracy") < f(&rows(&v)[0], "accuracy"), "{v}");
}

#[test]
fn auto_reports_the_accuracy_after_each_stage() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let v = w.eval_json(&m, &["--attack", "auto", "--eps", "0.2"]);
    let stages = v["params"]["robust_after_each_stage"][0]["stages"].as_array().expect("stages").clone();
    let names: Vec<&str> = stages.iter().map(|s| s["after"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["apgd", "apgd-t", "fab-t", "square"], "{v}");
    assert_eq!(stages[3]["accuracy"].as_f64(), Some(f(&rows(&v)[1], "accuracy")), "{v}");
    assert_eq!(v["params"]["standard"], true, "{v}");
    let text = w.run(&["eval"], &["--model", m.to_str().unwrap(), "--attack", "auto", "--eps", "0.2"]);
    assert!(
        text.ok().stdout.contains("eps 0.2: clean") && text.stdout.contains("(AutoAttack's standard sequence)"),
        "{}",
        text.stdout
    );
}

#[test]
fn eval_writes_the_report_card() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let card = w.path("card.md");
    let v =
        w.eval_json(&m, &["--attack", "pgd", "--eps", "0.1,0.2", "--steps", "5", "--report", card.to_str().unwrap()]);
    let checks = v["card"]["checks"].as_array().expect("card in the JSON").clone();
    assert_eq!(checks.len(), 9, "{v}");
    let md = std::fs::read_to_string(&card).expect("card written");
    assert!(md.starts_with("# Report card: pgd") && md.contains("(`convergence`)"), "{md}");
    for c in &checks {
        assert!(md.contains(&format!("(`{}`)", c["id"].as_str().unwrap_or("?"))), "{md}");
    }
    // An existing card is not overwritten without --force.
    w.run(
        &["eval"],
        &["--model", m.to_str().unwrap(), "--attack", "fgsm", "--eps", "0.1", "--report", card.to_str().unwrap()],
    )
    .fails_with(&["--report", "exists"]);
}

/// `certify`: rows per budget with verified <= attacked <= clean, statuses that add up, a
/// status file whose counterexamples are real (inside the threat set in exact arithmetic and
/// misclassified by the model), IBP never verifying more than CROWN, and the flags that make
/// no sense for a certificate refused.
#[test]
fn eval_reports_verified_accuracy_the_certify_judge_agrees_with() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let ms = m.to_str().unwrap();
    let v = w.eval_json(&m, &["--attack", "fgsm", "--eps", "0.01,0.05"]);
    assert_eq!(v["verify"].as_str(), Some("crown"), "{v}");
    let r = rows(&v);
    let ver: Vec<f64> = r.iter().map(|x| f(x, "verified")).collect();
    // The lower end never exceeds the upper end; at eps 0 both are the clean accuracy.
    for x in r {
        assert!(f(x, "verified") <= f(x, "accuracy") + 1e-12, "{x}");
    }
    assert_eq!(ver[0], f(&r[0], "accuracy"), "{v}");
    assert!(ver[1] >= ver[2], "verified accuracy rises with eps: {ver:?}");
    // The same bound on the same images as the certified judge.
    let c = w.run(&["certify"], &["--model", ms, "--eps", "0.01,0.05", "--attack", "fgsm", "--json"]).ok().json();
    let cr: Vec<f64> = rows(&c).iter().map(|x| f(x, "verified_accuracy")).collect();
    assert_eq!(cr, ver, "certify {c}\neval {v}");
    // IBP is never tighter than CROWN.
    let ibp = w.eval_json(&m, &["--attack", "fgsm", "--eps", "0.01,0.05", "--verify", "ibp"]);
    for (a, b) in rows(&ibp).iter().zip(&ver) {
        assert!(f(a, "verified") <= *b, "{ibp}");
    }
    // alpha-CROWN is never looser than CROWN, and its verified end stays below the attacked one.
    let alpha = w.eval_json(&m, &["--attack", "fgsm", "--eps", "0.01,0.05", "--verify", "alpha-crown"]);
    assert_eq!(alpha["verify"].as_str(), Some("alpha-crown"), "{alpha}");
    for (a, b) in rows(&alpha).iter().zip(&ver) {
        assert!(f(a, "verified") >= *b && f(a, "verified") <= f(a, "accuracy") + 1e-12, "{alpha}");
    }
    // --verify none: no verified column.
    let none = w.eval_json(&m, &["--attack", "fgsm", "--eps", "0.01", "--verify", "none"]);
    assert!(rows(&none).iter().all(|x| x.get("verified").is_none()), "{none}");
    // L2 balls: the interval holds, and a ball is verified at least as often as the L-inf
    // box of the same radius that holds it.
    let l2 = w.eval_json(&m, &["--attack", "pgd", "--norm", "l2", "--eps", "0.1,0.5", "--verify", "crown"]);
    let box_ = w.eval_json(&m, &["--attack", "pgd", "--eps", "0.1,0.5", "--verify", "crown"]);
    for (a, b) in rows(&l2).iter().zip(rows(&box_)) {
        assert!(f(a, "verified") <= f(a, "accuracy") + 1e-12 && f(a, "verified") >= f(b, "verified"), "{l2}\n{box_}");
    }
    assert!(f(&rows(&l2)[2], "verified") > f(&rows(&box_)[2], "verified"), "{l2}\n{box_}");
}

#[test]
fn certify_reports_intervals_and_checked_counterexamples() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let ms = m.to_str().unwrap();
    let clean = f(&rows(&w.eval_json(&m, &[]))[0], "accuracy");
    let status = w.path("status.safetensors");
    let args = ["--model", ms, "--eps", "0.01,0.05", "--attack", "apgd", "--steps", "20", "--json"];
    let mut with_out = args.to_vec();
    with_out.extend(["--out", status.to_str().unwrap()]);
    let v = w.run(&["certify"], &with_out).ok().json();
    let r = rows(&v);
    assert_eq!(r.iter().map(|x| f(x, "eps")).collect::<Vec<_>>(), vec![0.0, 0.01, 0.05], "{v}");
    let n = N_TEST as f64;
    for x in r {
        let (ver, att) = (f(x, "verified_accuracy"), f(x, "attacked_accuracy"));
        assert!(ver <= att + 1e-12 && att <= clean + 1e-12, "{x}");
        assert_eq!(f(x, "clean_accuracy"), clean, "{x}");
        let total = f(x, "verified") + f(x, "falsified") + f(x, "unknown");
        assert_eq!(total, n, "{x}");
        assert!((att - (n - f(x, "falsified")) / n).abs() < 1e-12, "{x}");
    }
    // At eps 0 the attack is the clean image: falsified = the clean errors.
    assert!((f(&r[0], "falsified") - (1.0 - clean) * n).abs() < 1e-9, "{v}");
    assert_eq!(v["method"].as_str(), Some("crown"));
    assert_eq!(v["attack"].as_str(), Some("apgd"));

    // The status file: codes agree with the counts; every counterexample is real.
    let bytes = std::fs::read(&status).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let codes = st.tensor("status").unwrap().data().to_vec();
    let cex = redblue::tensorfile::f32_from_bytes(st.tensor("counterexamples").unwrap().data());
    let labels = st.tensor("labels").unwrap().data().to_vec();
    assert_eq!(codes.len(), 3 * N_TEST);
    let (model, _) = redblue::model::file::load(&m).unwrap();
    let (_, test) = redblue::data::load_from_dir_unverified(&w.data, "mnist").unwrap();
    let x = &test.images;
    let eps = [0.0f64, 0.01, 0.05];
    for (k, e) in eps.iter().enumerate() {
        let c = &codes[k * N_TEST..(k + 1) * N_TEST];
        for (code, key) in [(1u8, "verified"), (2, "falsified"), (0, "unknown")] {
            assert_eq!(c.iter().filter(|&&s| s == code).count() as f64, f(&r[k], key), "eps {e} {key}");
        }
        let imgs = &cex[k * N_TEST * 784..(k + 1) * N_TEST * 784];
        let logits = redblue::model::Classifier::logits_host(&model, imgs, N_TEST);
        for i in (0..N_TEST).filter(|&i| c[i] == 2) {
            let (a, o) = (&imgs[i * 784..(i + 1) * 784], &x[i * 784..(i + 1) * 784]);
            assert!(a
                .iter()
                .zip(o)
                .all(|(p, q)| (f64::from(*p) - f64::from(*q)).abs() <= *e && (0.0..=1.0).contains(p)));
            let row = &logits[i * 10..(i + 1) * 10];
            let pred = (0..10).max_by(|&p, &q| row[p].total_cmp(&row[q]).then(q.cmp(&p))).unwrap();
            assert_ne!(pred, usize::from(labels[i]), "eps {e}: image {i} 'falsified' but classified correctly");
        }
    }
    // IBP verifies a subset of what CROWN verifies.
    let mut ibp = args.to_vec();
    ibp.extend(["--method", "ibp"]);
    let vi = w.run(&["certify"], &ibp).ok().json();
    for (a, b) in rows(&vi).iter().zip(r) {
        assert!(f(a, "verified") <= f(b, "verified"), "ibp {a} vs crown {b}");
    }
    // The text table states the interval.
    let t = w.run(&["certify"], &args[..args.len() - 1]);
    assert!(t.ok().stdout.contains("robust accuracy in"), "{}", t.stdout);

    // Refused: a target, an unknown status-file kind, the model as the output, a negative
    // budget, an existing file without --force (L2 balls: see the next test).
    for (extra, needle) in [
        (vec!["--target", "3"], "--target"),
        (vec!["--out", "s.txt"], ".json or .safetensors"),
        (vec!["--out", ms, "--force"], "--out"),
        (vec!["--out", status.to_str().unwrap()], "exists"),
    ] {
        let mut a = args.to_vec();
        a.extend(extra);
        w.run(&["certify"], &a).fails_with(&[needle]);
    }
    w.run(&["certify"], &["--model", ms, "--eps", "-0.1"]).fails_with(&["--eps"]);
}

#[test]
fn certified_training_is_recorded_and_raises_the_verified_accuracy() {
    let w = world();
    let plain = w.path("plain.safetensors");
    let cert = w.path("cert.safetensors");
    let base = |out: &Path| {
        let mut a = World::train_args(out, 1);
        let at = a.iter().position(|v| v == "--epochs").expect("train_args sets --epochs");
        a[at + 1] = "6".into();
        a.extend(["--dropout-input", "0", "--dropout-hidden", "0"].map(String::from));
        a
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        w.run(&["train"], &a).ok();
    };
    run(base(&plain));
    let mut c = base(&cert);
    c.extend(
        ["--certified", "crown-ibp", "--cert-eps", "0.06", "--cert-ramp", "3", "--lr-drops", "5"].map(String::from),
    );
    run(c);
    let (_, meta) = redblue::model::file::load(&cert).unwrap();
    let t = &meta.train["train"];
    assert_eq!(t["certified"]["method"].as_str(), Some("crown-ibp"), "{t}");
    assert_eq!(t["certified"]["eps"].as_f64(), Some(0.06), "{t}");
    assert_eq!(t["certified"]["kappa"].as_f64(), Some(0.5), "{t}");
    assert_eq!(t["certified"]["warmup_epochs"].as_f64(), Some(1.0), "{t}");
    assert_eq!(t["certified"]["ramp_epochs"].as_f64(), Some(3.0), "{t}");
    assert_eq!(t["lr_drops"], serde_json::json!([5]), "{t}");
    let (_, plain_meta) = redblue::model::file::load(&plain).unwrap();
    assert!(plain_meta.train["train"]["certified"].is_null(), "{}", plain_meta.train);
    // The certified judge finds more images provably robust on the certified model.
    let verified = |m: &Path| {
        let args = ["--model", m.to_str().unwrap(), "--eps", "0.08", "--attack", "fgsm", "--json"];
        f(&rows(&w.run(&["certify"], &args).ok().json())[1], "verified_accuracy")
    };
    let (vp, vc) = (verified(&plain), verified(&cert));
    assert!(vc > vp + 0.15, "certified {vc} vs plain {vp}");
}

#[test]
fn certify_judges_l2_balls_like_eval_and_refuses_the_exact_verifier_there() {
    let w = world();
    let m = w.train("m.safetensors", 0);
    let ms = m.to_str().unwrap();
    let args = ["--model", ms, "--eps", "0.3,1", "--norm", "l2", "--attack", "pgd", "--json"];
    let v = w.run(&["certify"], &args).ok().json();
    assert_eq!(v["norm"].as_str(), Some("l2"), "{v}");
    let ver: Vec<f64> = rows(&v).iter().map(|x| f(x, "verified_accuracy")).collect();
    for x in rows(&v) {
        assert!(f(x, "verified_accuracy") <= f(x, "attacked_accuracy") + 1e-12, "{x}");
    }
    // The same bound on the same images as eval's verified column.
    let e = w.eval_json(&m, &["--attack", "pgd", "--norm", "l2", "--eps", "0.3,1", "--verify", "crown"]);
    let ev: Vec<f64> = rows(&e).iter().map(|x| f(x, "verified")).collect();
    assert_eq!(ver, ev, "certify {v}\neval {e}");
    assert!(ver[1] > 0.0 && ver[1] >= ver[2], "{ver:?}");
    let exact = ["--model", ms, "--eps", "0.3", "--norm", "l2", "--method", "exact"];
    w.run(&["certify"], &exact).fails_with(&["--method exact", "--norm l2", "L-inf boxes"]);
}

#[test]
fn other_architectures_train_attack_and_are_refused_where_unsupported() {
    let w = world();
    let cnn = w.path("cnn.safetensors");
    let out = w.run(&["train"], &["--arch", "small-cnn", "--epochs", "3", "--lr", "0.003", "--out", &s(&cnn)]);
    out.ok();
    assert!(out.stdout.contains("conv2d(16, k4, s2, p1)"), "{}", out.stdout);
    let (m, meta) = redblue::model::file::load_any(&cnn).unwrap();
    assert!(m.mlp().is_none(), "{}", m.summary());
    assert_eq!(meta.train["train"]["network"]["layers"][0]["type"], "conv2d", "{}", meta.train);
    // The file holds PyTorch's names and layouts.
    let bytes = std::fs::read(&cnn).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("conv1.weight").unwrap().shape(), &[16, 1, 4, 4]);
    assert_eq!(st.tensor("fc1.weight").unwrap().shape(), &[100, 1568]);
    // Clean accuracy is learnt; PGD lowers it; no bound is computed unless asked for.
    let v = w.eval_json(&cnn, &["--attack", "pgd", "--eps", "0,0.3", "--steps", "10"]);
    let r = rows(&v);
    assert!(f(&r[0], "accuracy") > 0.5, "{v}");
    assert!(f(&r[1], "accuracy") < f(&r[0], "accuracy"), "{v}");
    assert!(r[0].get("verified").is_none_or(Value::is_null), "{v}");
    // A deeper MLP is a network too; the paper's one-hidden-layer MLP stays the MLP.
    let deep = w.path("deep.safetensors");
    w.run(&["train"], &["--hidden", "16,16", "--epochs", "1", "--out", &s(&deep)]).ok();
    let (d, _) = redblue::model::file::load_any(&deep).unwrap();
    assert!(d.summary().contains("linear(16) relu dropout(0.5) linear(16)"), "{}", d.summary());
    // Refused, by name, with no output written.
    let no = w.path("no.safetensors");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["train", "--arch", "madry-cnn", "--hidden", "100"], vec!["--hidden", "madry-cnn"]),
        (
            vec!["train", "--arch", "small-cnn", "--dropout-hidden", "0.3"],
            vec!["--dropout-hidden", "no dropout layers"],
        ),
        (vec!["train", "--hidden", "16,16", "--init-std", "0.1"], vec!["--init-std"]),
        (vec!["train", "--hidden", "16,0"], vec!["--hidden", "positive"]),
        (
            vec!["train", "--arch", "small-cnn", "--certified", "ibp", "--cert-eps", "0.1"],
            vec!["--certified", "MLP only"],
        ),
        (vec!["train", "--arch", "resnet"], vec!["resnet"]),
    ];
    for (args, needles) in cases {
        let mut a = args.clone();
        a.extend(["--out", no.to_str().unwrap()]);
        w.run(&a[..1], &a[1..]).fails_with(&needles);
        assert!(!no.exists(), "{args:?} wrote a model");
    }
    // The judge bounds the CNN too: IBP <= CROWN <= attacked, the same in eval and certify.
    let c = w.path("cnn.cert.json");
    let args =
        ["--model", &s(&cnn), "--eps", "0,0.01,0.05", "--attack", "pgd", "--subset", "40", "--json", "--out", &s(&c)];
    let v = w.run(&["certify"], &args).ok().json();
    let ibp_args = ["--model", &s(&cnn), "--eps", "0.01,0.05", "--method", "ibp", "--subset", "40", "--json"];
    let ibp = w.run(&["certify"], &ibp_args).ok().json();
    let (r, ri) = (rows(&v), rows(&ibp));
    assert_eq!(f(&r[0], "verified_accuracy"), f(&r[0], "clean_accuracy"), "{v}");
    assert!(f(&r[1], "verified_accuracy") > 0.3, "CROWN verifies the CNN at eps 0.01: {v}");
    for (k, x) in r.iter().enumerate().skip(1) {
        assert!(f(x, "verified_accuracy") <= f(x, "attacked_accuracy") + 1e-12, "{x}");
        assert!(f(&ri[k - 1], "verified_accuracy") <= f(x, "verified_accuracy"), "IBP {ibp}\nCROWN {v}");
    }
    let e = w.eval_json(&cnn, &["--attack", "pgd", "--eps", "0,0.01,0.05", "--verify", "crown", "--subset", "40"]);
    let ev: Vec<f64> = rows(&e).iter().map(|x| f(x, "verified")).collect();
    let cv: Vec<f64> = r.iter().map(|x| f(x, "verified_accuracy")).collect();
    assert_eq!(ev, cv, "eval {e}\ncertify {v}");
    // What only the MLP has is refused by name.
    w.run(&["eval"], &["--model", &s(&cnn), "--attack", "fgsm", "--eps", "0.1", "--verify", "alpha-crown"])
        .fails_with(&["--verify alpha-crown", "MLP only"]);
    for m in ["exact", "alpha-crown"] {
        w.run(&["certify"], &["--model", &s(&cnn), "--eps", "0.1", "--method", m]).fails_with(&["MLP only", "conv2d"]);
    }
}

/// Each `import` case fails with its needles and writes nothing to `no`.
fn refused_imports(cases: Vec<(Vec<String>, Vec<&str>)>, no: &Path) {
    for (args, needles) in cases {
        let mut a: Vec<String> = vec!["import".into()];
        a.extend(args.clone());
        a.extend(["--out".into(), s(no)]);
        redblue(&a).fails_with(&needles);
        assert!(!no.exists(), "{args:?} wrote a model");
    }
}

#[test]
fn import_checks_a_pytorch_state_dict_against_its_architecture() {
    let w = world();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    let (state, arch) = (fx.join("tiny_cnn.state.safetensors"), fx.join("tiny_cnn.arch.json"));
    let out = w.path("imported.safetensors");
    let o = redblue(&["import", &s(&state), "--arch", &s(&arch), "--out", &s(&out)]);
    o.ok();
    assert!(o.stdout.contains("conv2d(4, k3, s1, p1)"), "{}", o.stdout);
    // The file is a redblue model with PyTorch's logits, and records no local path.
    let (m, meta) = redblue::model::file::load_any(&out).unwrap();
    let io = std::fs::read(fx.join("tiny_cnn.io.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&io).unwrap();
    let f32s = |b: &[u8]| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<f32>>();
    let (x, want) = (f32s(st.tensor("inputs").unwrap().data()), f32s(st.tensor("logits").unwrap().data()));
    use redblue::model::Classifier;
    for (a, b) in m.logits_host(&x, 8).iter().zip(&want) {
        assert!((a - b).abs() <= 1e-5, "{a} vs {b}");
    }
    assert!(!meta.train.to_string().contains(fx.to_str().unwrap()), "{}", meta.train);
    assert_eq!(meta.train["imported"]["sha256"].as_str(), Some(sha256_file(&state).as_str()));
    // Refused by name, nothing written.
    let no = w.path("no.safetensors");
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (vec![s(&state), "--arch".into(), "small-cnn".into()], vec!["conv1.weight", "expected shape [16, 1, 4, 4]"]),
        (vec![s(&state), "--arch".into(), "resnet".into()], vec!["--arch", "neither a built-in"]),
        (
            vec![s(&state), "--arch".into(), s(&arch), "--hidden".into(), "4".into()],
            vec!["--hidden", "architecture file"],
        ),
        (vec![s(&fx.join("tiny_cnn.onnx")), "--arch".into(), s(&arch)], vec!["--arch has no effect with an ONNX file"]),
        (vec![s(&state)], vec!["--arch is required for a state_dict"]),
        (vec![s(&fx.join("tiny_cnn.io.safetensors")), "--arch".into(), s(&arch)], vec!["missing tensors"]),
        (vec![s(&arch), "--arch".into(), s(&arch)], vec!["tiny_cnn.arch.json"]),
    ];
    refused_imports(cases, &no);
    redblue(&["import", &s(&state), "--arch", &s(&arch), "--out", &s(&state), "--force"]).fails_with(&["same file"]);
}

#[test]
fn import_reads_an_onnx_export_that_eval_and_attack_then_use() {
    let w = world();
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    let onnx = fx.join("mnist_cnn.onnx");
    let out = w.path("onnx.safetensors");
    let o = redblue(&["import", &s(&onnx), "--out", &s(&out)]);
    o.ok();
    assert!(o.stdout.contains("[1, 28, 28] normalize conv2d(4, k3, s1, p1) relu max_pool2d(k2, s2)"), "{}", o.stdout);
    // The file records the ONNX file's provenance, and its logits are the ONNX graph's.
    let (m, meta) = redblue::model::file::load_any(&out).unwrap();
    let imported = &meta.train["imported"];
    assert_eq!(imported["format"].as_str(), Some("ONNX"), "{imported}");
    assert_eq!(imported["sha256"].as_str(), Some(sha256_file(&onnx).as_str()), "{imported}");
    assert_eq!(imported["opset"].as_i64(), Some(20), "{imported}");
    assert_eq!(imported["producer_name"].as_str(), Some("pytorch"), "{imported}");
    let (direct, _) = redblue::model::onnx::import(&std::fs::read(&onnx).unwrap(), &onnx).unwrap();
    let (px, labels) = synth_split(N_TEST, 2);
    let x: Vec<f32> = px.iter().map(|&p| p as f32 / 255.0).collect();
    use redblue::model::Classifier;
    let logits = m.logits_host(&x, N_TEST);
    assert_eq!(logits, direct.logits_host(&x, N_TEST));
    let right = logits.chunks(10).zip(&labels).filter(|(l, &y)| redblue::nn::ops::argmax(l) == y as usize).count();
    // eval scores those logits; FGSM does not raise the accuracy; attack writes a set that
    // eval judges.
    let v = w.eval_json(&out, &["--attack", "fgsm", "--eps", "0,0.2"]);
    let r = rows(&v);
    assert_eq!(f(&r[0], "accuracy"), right as f64 / N_TEST as f64, "{v}");
    assert!(f(&r[1], "accuracy") <= f(&r[0], "accuracy"), "{v}");
    let adv = w.path("adv.safetensors");
    attack(&w, &out, &adv, &["--attack", "pgd", "--eps", "0.2", "--steps", "5"]).ok();
    let e = w.eval_json(&out, &["--adv", &s(&adv)]);
    assert!(f(&rows(&e)[1], "accuracy") <= f(&rows(&e)[0], "accuracy"), "{e}");
    // Refused by name, nothing written: the architecture flags, an unsupported operator, a
    // truncated file.
    let no = w.path("no.safetensors");
    let cut = w.path("cut.onnx");
    let bytes = std::fs::read(&onnx).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (vec![s(&onnx), "--arch".into(), "mlp".into()], vec!["--arch has no effect with an ONNX file"]),
        (vec![s(&onnx), "--hidden".into(), "5".into()], vec!["--hidden has no effect with an ONNX file"]),
        (vec![s(&onnx), "--input-shape".into(), "1,28,28".into()], vec!["--input-shape has no effect"]),
        (vec![s(&onnx), "--classes".into(), "10".into()], vec!["--classes has no effect"]),
        (
            vec![s(&fx.join("tiny_sigmoid.onnx"))],
            vec!["node 'node_sigmoid' (op Sigmoid): unsupported operator; redblue imports Gemm"],
        ),
        (vec![s(&cut)], vec!["cut.onnx", "not a readable ONNX model"]),
    ];
    refused_imports(cases, &no);
}

#[test]
fn random_start_fgsm_training_is_recorded_and_needs_adv_eps() {
    let w = world();
    let m = w.path("fast.safetensors");
    w.run(&["train"], &["--epochs", "1", "--hidden", "16", "--adv-eps", "0.1", "--adv-random-start", "--out", &s(&m)])
        .ok();
    let (_, meta) = redblue::model::file::load_any(&m).unwrap();
    assert_eq!(meta.train["train"]["adv"]["random_start"], true, "{}", meta.train);
    let plain = w.path("plain.safetensors");
    w.run(&["train"], &["--epochs", "1", "--hidden", "16", "--adv-eps", "0.1", "--out", &s(&plain)]).ok();
    let (_, meta) = redblue::model::file::load_any(&plain).unwrap();
    assert!(meta.train["train"]["adv"].get("random_start").is_none(), "plain FGSM files are as before: {}", meta.train);
    assert_ne!(std::fs::read(&m).unwrap(), std::fs::read(&plain).unwrap());
    w.run(&["train"], &["--adv-random-start", "--out", &s(&w.path("no.safetensors"))]).fails_with(&["--adv-eps"]);
}
