//! Issue 3: `redblue reproduce --quick` on real MNIST, and the run's invariants
//! (results independent of --jobs, --resume reuses finished models).

mod common;

use redblue::attack::ClipMode;
use redblue::experiments::reproduce::{
    self, analysis::fgsm, run::Inputs, DataInfo, Report, ReproduceConfig, RunOptions,
};
use redblue::model::MlpConfig;
use std::path::Path;
use std::process::Command;

fn png_size(path: &Path) -> (u32, u32) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = png::Decoder::new(file).read_info().expect("a valid PNG");
    let info = reader.info();
    (info.width, info.height)
}

fn non_increasing(rows: &[redblue::eval::Row], what: &str) {
    assert_eq!(rows[0].eps, 0.0, "{what}: first row must be eps 0");
    for w in rows.windows(2) {
        assert!(w[1].accuracy <= w[0].accuracy, "{what}: accuracy rose from eps {} to {}", w[0].eps, w[1].eps);
    }
}

/// The quick reproduction on real MNIST: structure of the report and the properties every
/// honest run has.
#[test]
fn quick_reproduction_on_real_mnist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("run");
    let result = Command::new(env!("CARGO_BIN_EXE_redblue"))
        .args(["reproduce", "--quick", "--out"])
        .arg(&out)
        .output()
        .expect("run redblue");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "reproduce --quick failed: {stderr}");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(stdout.contains("chosen: l1="), "summary missing: {stdout}");
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let r: Report = serde_json::from_str(&text).expect("report.json parses as a Report");
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    for section in [
        "Tables 1 and 2 (FGSM unclipped)",
        "Tables 1 and 2 (FGSM clipped)",
        "Selection rule",
        "Table 3",
        "Adversarial training",
        "FGSM vs PGD",
        "FGSM's gradient: exact signs vs float32",
        "[verified, auto] ε=0.1",
        "Certified robustness",
        "verified ε=0.02",
        "Claims",
        "figure1.png",
        "curves.png",
    ] {
        assert!(md.contains(section), "report.md lacks {section}");
    }
    assert!(r.data.verified && r.data.sha256.len() == 4);
    // All tables, all cells, both clip modes.
    let t1 = r.table1.as_ref().expect("Table 1");
    assert_eq!(r.table2.len(), 3, "quick grid has 3 regularized pairs printed in the paper");
    for row in std::iter::once(t1).chain(&r.table2) {
        assert!(row.test_accuracy.paper.is_some() && row.test_accuracy.ours.mean.is_finite());
        assert_eq!(row.adv.len(), 4);
        for clip in [ClipMode::Clipped, ClipMode::Unclipped] {
            for eps in [0.10, 0.25] {
                let c = row.adv.iter().find(|a| a.clip == clip && a.eps == eps).expect("cell");
                assert!(c.accuracy.ours.mean.is_finite() && c.accuracy.paper.is_some());
                assert!(c.confidence.ours.mean > 0.0 && c.confidence.ours.mean <= 1.0);
            }
        }
    }
    assert_eq!(r.table3.len(), 4, "Table 3: 2 eps x 2 clip modes");
    assert_eq!(r.models.len(), 4 + 4, "2x2 grid + 2 adv eps x (none, chosen)");
    for m in &r.models {
        let clean = &m.fgsm_clipped[0];
        assert_eq!(clean.eps, 0.0);
        assert_eq!(m.fgsm_unclipped[0].accuracy, clean.accuracy, "{}: eps 0 equals clean", m.spec.name);
        assert_eq!(m.pgd[0].accuracy, m.fgsm_on_pgd_subset[0].accuracy);
        non_increasing(&m.fgsm_clipped, &m.spec.name);
        non_increasing(&m.fgsm_unclipped, &m.spec.name);
        non_increasing(&m.pgd, &m.spec.name);
        non_increasing(&m.auto, &m.spec.name);
        // Both FGSM gradients share the clean row; auto ran on the auto subset at its budgets.
        assert_eq!(m.fgsm_clipped_float32[0], m.fgsm_clipped[0], "{}", m.spec.name);
        assert_eq!(m.fgsm_unclipped_float32.len(), m.fgsm_unclipped.len());
        assert_eq!(m.auto.iter().map(|r| r.eps).collect::<Vec<_>>(), [0.0, 0.10, 0.25], "{}", m.spec.name);
        assert!(m.auto.iter().all(|r| r.n == 100), "{}: auto subset", m.spec.name);
        for (c, u) in m.fgsm_clipped.iter().zip(&m.fgsm_unclipped) {
            assert!(
                c.accuracy >= u.accuracy,
                "{} eps {}: clipped {} < unclipped {}",
                m.spec.name,
                c.eps,
                c.accuracy,
                u.accuracy
            );
        }
        // Verified accuracy: eps 0 is the clean accuracy, then a floor under every attack on
        // the same images and budget, never rising with eps.
        assert_eq!(m.verified.iter().map(|v| v.eps).collect::<Vec<_>>(), [0.0, 0.01, 0.02, 0.05, 0.10]);
        assert_eq!(m.verified[0].accuracy, clean.accuracy, "{}", m.spec.name);
        assert!(m.verified.windows(2).all(|w| w[1].accuracy <= w[0].accuracy), "{}", m.spec.name);
        for v in &m.verified[1..] {
            let fgsm = m.fgsm_clipped.iter().find(|r| r.eps == v.eps).map_or(clean.accuracy, |r| r.accuracy);
            assert!(v.accuracy <= fgsm && v.n == clean.n, "{}: verified {v:?} above FGSM {fgsm}", m.spec.name);
        }
        for r in m.pgd.iter().chain(&m.auto) {
            let ver = r.verified.unwrap_or_else(|| panic!("{}: no verified accuracy at eps {}", m.spec.name, r.eps));
            assert!(ver <= r.accuracy, "{} eps {}: verified {ver} above attacked {}", m.spec.name, r.eps, r.accuracy);
        }
        assert!(m.verified[2].accuracy > 0.5, "{}: CROWN verifies almost nothing at eps 0.02", m.spec.name);
        for (f, p) in m.fgsm_on_pgd_subset.iter().zip(&m.pgd) {
            assert_eq!(f.eps, p.eps);
            // PGD-10 (quick config) on a 1-epoch, nearly linear model is about as strong as
            // FGSM, which is optimal for a linear model; allow a few of the 300 images (3), or
            // 6 for FGSM-trained models, against which FGSM at the training eps can do a little
            // better than a short PGD from a random start.
            let slack = if m.spec.adv_eps.is_some() { 0.02 } else { 0.01 };
            assert!(
                p.accuracy <= f.accuracy + slack + 1e-9,
                "{} eps {}: PGD {} > FGSM {}",
                m.spec.name,
                p.eps,
                p.accuracy,
                f.accuracy
            );
        }
    }
    for c in &r.curves {
        assert!(c.fgsm.len() >= 7);
        non_increasing(&c.fgsm, &c.label);
        non_increasing(&c.pgd, &c.label);
    }
    // The selection rule picks the argmax of its own table.
    let best = r
        .table2
        .iter()
        .map(|row| {
            (
                (row.l1, row.l2),
                row.adv.iter().find(|a| a.clip == ClipMode::Clipped && a.eps == 0.10).expect("cell").accuracy.ours.mean,
            )
        })
        .fold(
            None,
            |b: Option<((f64, f64), f64)>, (p, v)| if b.is_none_or(|(_, bv)| v > bv) { Some((p, v)) } else { b },
        )
        .expect("a best pair");
    assert_eq!(r.selection.chosen, best.0);
    let chosen_models = reproduce::analysis::group(&r.models, best.0 .0, best.0 .1, None);
    assert_eq!(fgsm(chosen_models[0], 0.10, ClipMode::Clipped, false), Some(best.1));
    // Figures are valid PNGs of the stated size.
    let (w, h) = png_size(&out.join("figure1.png"));
    assert!(w >= 5 * 28 * 4 && h >= 4 * 28 * 4, "figure1 is {w}x{h}");
    assert_eq!(png_size(&out.join("curves.png")), (1100, 600));
    assert!(!r.claims.is_empty() && r.timings.len() >= 3 && r.wall_seconds > 0.0);
    assert_eq!(r.gradient_closeness.len(), 2, "one exact-vs-float32 comparison per clip mode");
    assert!(r.gradient_closeness.iter().all(|g| g.cells == 16 && g.exact_mae.is_finite()));
    assert!(r.adv_training.iter().all(|row| row.auto.len() == 2 && row.auto.iter().all(|(_, s)| s.n == 1)));
}

/// Synthetic training and test data of 16 pixels.
struct Tiny {
    tx: Vec<f32>,
    ty: Vec<u8>,
    vx: Vec<f32>,
    vy: Vec<u8>,
}

impl Tiny {
    fn new() -> Tiny {
        let (tx, _) = common::random_batch(240, 16, 10, 1);
        let ty = (0..240).map(|i| (i % 10) as u8).collect();
        let (vx, _) = common::random_batch(60, 16, 10, 2);
        let vy = (0..60).map(|i| ((i * 7) % 10) as u8).collect();
        Tiny { tx, ty, vx, vy }
    }

    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            train_x: &self.tx,
            train_y: &self.ty,
            test_x: &self.vx,
            test_y: &self.vy,
            dim: 16,
            data: DataInfo { dataset: "synthetic".into(), source: "test".into(), sha256: vec![], verified: false },
        }
    }
}

fn tiny_config() -> ReproduceConfig {
    ReproduceConfig {
        arch: MlpConfig { input: 16, hidden: 8, ..MlpConfig::default() },
        epochs: 2,
        batch_size: 32,
        l1_grid: vec![0.0, 1e-4],
        l2_grid: vec![0.0],
        adv_train_eps: vec![0.1],
        pgd_steps: 3,
        curve_eps: vec![0.0, 0.1, 0.2],
        curve_subset: None, // all 60 (the default 1000 would not fit: refused, never clamped)
        auto_subset: Some(20),
        eval_batch: 25,
        ..ReproduceConfig::default()
    }
}

fn run_tiny(dir: &Path, jobs: usize, resume: bool) -> Report {
    let tiny = Tiny::new();
    let inputs = tiny.inputs();
    let opts = RunOptions { out_dir: dir.to_path_buf(), jobs, resume };
    reproduce::run(&tiny_config(), &inputs, &opts, &|_| {}).expect("tiny run")
}

fn measurements(r: &Report) -> String {
    let rows: Vec<_> = r
        .models
        .iter()
        .map(|m| (&m.spec, &m.fgsm_clipped, &m.fgsm_unclipped, &m.pgd, &m.fgsm_clipped_float32, &m.auto))
        .collect();
    serde_json::to_string(&(rows, &r.curves, &r.selection, &r.claims)).expect("json")
}

#[test]
fn results_do_not_depend_on_jobs_and_resume_reuses_models() {
    let (a, b) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let one = run_tiny(a.path(), 1, false);
    let two = run_tiny(b.path(), 2, false);
    assert_eq!(measurements(&one), measurements(&two), "--jobs 1 and --jobs 2 differ");
    for f in ["models/l1-0_l2-0_s0.safetensors", "models/adv-0.1_l1-0_l2-0_s0.safetensors"] {
        assert_eq!(std::fs::read(a.path().join(f)).expect("model"), std::fs::read(b.path().join(f)).expect("model"));
    }
    // A second run into the same folder without --resume is refused and loses nothing.
    let tiny = Tiny::new();
    let inputs = tiny.inputs();
    let before = std::fs::read(a.path().join("report.json")).expect("report");
    let opts = RunOptions { out_dir: a.path().to_path_buf(), jobs: 1, resume: false };
    let err = reproduce::run(&tiny_config(), &inputs, &opts, &|_| {}).expect_err("must refuse");
    assert!(err.to_string().contains("--resume"), "{err}");
    assert_eq!(before, std::fs::read(a.path().join("report.json")).expect("report"));
    // Resume after losing one model: only that one is retrained, results identical.
    std::fs::remove_file(a.path().join("models/l1-1e-4_l2-0_s0.json")).expect("rm");
    let trained = std::sync::Mutex::new(Vec::new());
    let opts = RunOptions { out_dir: a.path().to_path_buf(), jobs: 2, resume: true };
    let again = reproduce::run(&tiny_config(), &inputs, &opts, &|e| {
        if let reproduce::Event::Training { name } = e {
            trained.lock().expect("lock").push(name);
        }
    })
    .expect("resume");
    assert_eq!(trained.into_inner().expect("lock"), vec!["l1-1e-4_l2-0_s0".to_string()]);
    assert_eq!(measurements(&one), measurements(&again));
    // A resume whose evaluation settings or data differ is refused before any work, and the
    // run is left as it was: rows measured on different image sets never mix.
    let report = std::fs::read(a.path().join("report.json")).expect("report");
    let changed = ReproduceConfig { test_subset: Some(50), ..tiny_config() };
    let err = reproduce::run(&changed, &inputs, &opts, &|_| {}).expect_err("changed eval config");
    assert!(err.to_string().contains("test-subset: null then, 50 now"), "{err}");
    let changed = ReproduceConfig { pgd_steps: 4, ..tiny_config() };
    let err = reproduce::run(&changed, &inputs, &opts, &|_| {}).expect_err("changed PGD");
    assert!(err.to_string().contains("pgd-steps: 3 then, 4 now"), "{err}");
    // A setting the recorded run never had (another architecture) is a difference too.
    let net = redblue::model::Arch::builtin("mlp", [1, 4, 4], 10, &[8, 8]).expect("arch");
    let changed = ReproduceConfig { network: Some(net), ..tiny_config() };
    let err = reproduce::run(&changed, &inputs, &opts, &|_| {}).expect_err("changed architecture");
    assert!(err.to_string().contains("network: absent then"), "{err}");
    let other_data = Inputs { data: DataInfo { dataset: "other".into(), ..inputs.data.clone() }, ..inputs };
    let err = reproduce::run(&tiny_config(), &other_data, &opts, &|_| {}).expect_err("changed data");
    assert!(err.to_string().contains("data: \"synthetic\" then, \"other\" now"), "{err}");
    assert_eq!(report, std::fs::read(a.path().join("report.json")).expect("report"));
    // A folder holding someone's own files is never a run folder.
    let own = tempfile::tempdir().expect("tmp");
    std::fs::write(own.path().join("report.md"), b"mine").expect("write");
    let opts = RunOptions { out_dir: own.path().to_path_buf(), jobs: 1, resume: false };
    let err = reproduce::run(&tiny_config(), &inputs, &opts, &|_| {}).expect_err("own files");
    assert!(err.to_string().contains("not empty"), "{err}");
    let opts = RunOptions { resume: true, ..opts };
    let err = reproduce::run(&tiny_config(), &inputs, &opts, &|_| {}).expect_err("not a run");
    assert!(err.to_string().contains("not a redblue run"), "{err}");
    assert_eq!(std::fs::read(own.path().join("report.md")).expect("read"), b"mine");
    assert_eq!(std::fs::read_dir(own.path()).expect("ls").count(), 1);
}

/// `reproduce --arch`: every model of the run is the network, trained, attacked and judged
/// by the same code; the certified table runs on its subset with the clean accuracy of the
/// same images first, and the whole run is the same for the same seed.
#[test]
fn another_architecture_runs_the_whole_reproduction() {
    use redblue::model::arch::{Arch, Layer, VERSION};
    let arch = Arch {
        version: VERSION,
        input: [1, 4, 4],
        layers: vec![
            Layer::Conv2d { name: "conv1".into(), out_channels: 4, kernel: 3, stride: 1, padding: 1 },
            Layer::Relu,
            Layer::MaxPool2d { kernel: 2, stride: 2 },
            Layer::Flatten,
            Layer::Linear { name: "fc1".into(), out_features: 10 },
        ],
    };
    let cfg = ReproduceConfig { network: Some(arch.clone()), verify_subset: Some(20), ..tiny_config() };
    let tiny = Tiny::new();
    let inputs = tiny.inputs();
    let run = |dir: &Path| {
        let opts = RunOptions { out_dir: dir.to_path_buf(), jobs: 2, resume: false };
        reproduce::run(&cfg, &inputs, &opts, &|_| {}).expect("network run")
    };
    let (a, b) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let (r, again) = (run(a.path()), run(b.path()));
    assert_eq!(measurements(&r), measurements(&again), "same seed, same run");
    assert_eq!(r.models.len(), 4, "2 grid models and 2 adversarially trained");
    for m in &r.models {
        let path = a.path().join("models").join(format!("{}.safetensors", m.spec.name));
        let (model, _) = redblue::model::file::load_any(&path).expect("model file");
        assert!(model.mlp().is_none(), "{} is {}", m.spec.name, model.summary());
        assert_eq!(m.train.network.as_ref(), Some(&arch));
        // The certified table: eps 0 (clean on the same 20 images), then each budget, never
        // above the clean accuracy of those images nor above the attacked accuracy.
        assert_eq!(m.verified.iter().map(|v| v.n).collect::<Vec<_>>(), vec![20; 5]);
        let clean = m.verified[0].accuracy;
        assert!(m.verified.iter().all(|v| v.accuracy <= clean), "{:?}", m.verified);
        // `auto` runs on the same 20 images: its rows carry the verified end.
        for row in &m.auto {
            let v = row.verified.expect("auto rows share the certified images");
            assert!(v <= row.accuracy + 1e-12, "verified {v} above attacked {}", row.accuracy);
        }
    }
    let md = std::fs::read_to_string(a.path().join("report.md")).expect("report.md");
    assert!(md.contains("**not the paper's model**") && md.contains("conv2d(4, k3, s1, p1)"), "{md}");
    assert!(md.contains("clean acc (these images)") && md.contains("first 20 evaluation images"), "{md}");
}
