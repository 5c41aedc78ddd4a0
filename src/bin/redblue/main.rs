//! The `redblue` binary: parses arguments, calls the library, renders results, prints an
//! error once (`{:#}` of the chain) and exits 2 on failure.

mod alloc;
mod args;
mod bench_cmd;
mod progress;
mod render;
mod reproduce_cmd;

use anyhow::{bail, Context, Result};
use args::*;
use clap::Parser;
use redblue::advset::{AdvMeta, AdvSet};
use redblue::attack::{Attack, ClipMode, Norm, Pgd};
use redblue::data::{self, AcquireOptions, DatasetKind, Split};
use redblue::eval::{self, judge, SweepConfig};
use redblue::model::{file as model_file, Classifier, MlpConfig};
use redblue::train::{self, AdvTraining, TrainConfig};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    alloc::tune();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Data { action } => cmd_data(action),
        Command::Train(a) => cmd_train(a),
        Command::Attack(a) => cmd_attack(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Reproduce(a) => reproduce_cmd::cmd_reproduce(a),
        Command::Bench(a) => bench_cmd::cmd_bench(a),
    }
}

/// A loaded dataset plus where it came from.
pub struct Loaded {
    pub train: Split,
    pub test: Split,
    pub dataset: String,
    pub source: String,
    pub location: String,
    pub verified: bool,
    pub sha256: Vec<(String, String)>,
}

fn kind_of(d: DatasetArg) -> DatasetKind {
    match d {
        DatasetArg::Mnist => DatasetKind::Mnist,
        DatasetArg::FashionMnist => DatasetKind::FashionMnist,
    }
}

pub fn load_data(a: &DataArgs) -> Result<Loaded> {
    let kind = kind_of(a.dataset);
    if a.no_verify {
        let dir = a.data_dir.as_deref().context("--no-verify needs --data-dir")?;
        let (train, test) = data::load_from_dir_unverified(dir, kind.name())?;
        eprintln!("using UNVERIFIED {} files from {}", kind.name(), dir.display());
        return Ok(Loaded {
            train,
            test,
            dataset: kind.name().to_string(),
            source: format!("unverified data dir {}", dir.display()),
            location: dir.display().to_string(),
            verified: false,
            sha256: Vec::new(),
        });
    }
    let opts = AcquireOptions {
        data_dir: a.data_dir.clone(),
        cache_dir: a.cache_dir.clone(),
        mirrors: (!a.mirrors.is_empty()).then(|| a.mirrors.clone()),
        download: !a.no_download,
        npm: !a.no_npm,
        ..AcquireOptions::default()
    };
    let d = data::load(kind, &opts)?;
    eprintln!("using {} from {}", kind.name(), d.source);
    Ok(Loaded {
        train: d.train,
        test: d.test,
        dataset: kind.name().to_string(),
        source: d.source.to_string(),
        location: d.location.display().to_string(),
        verified: true,
        sha256: d.sha256,
    })
}

fn cmd_data(action: DataAction) -> Result<()> {
    let (a, info) = match action {
        DataAction::Fetch(a) => (a, false),
        DataAction::Info(a) => (a, true),
    };
    let d = load_data(&a)?;
    println!("{}: {} train + {} test images of {}x{}", d.dataset, d.train.n, d.test.n, d.train.rows, d.train.cols);
    println!("source: {}", d.source);
    println!("location: {}", d.location);
    if info {
        for (name, hash) in &d.sha256 {
            println!("sha256 {name} {hash} (verified)");
        }
        let mut counts = [0usize; 10];
        d.test.labels.iter().for_each(|&y| counts[y as usize] += 1);
        println!("test label counts: {counts:?}");
    }
    Ok(())
}

fn refuse_overwrite(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!("{} already exists; pass --force to overwrite it", path.display());
    }
    Ok(())
}

fn check_dims(model: &dyn Classifier, split: &Split) -> Result<()> {
    if model.input_dim() != split.image_len() {
        bail!(
            "model expects {} input pixels but the dataset's images have {}x{} = {}",
            model.input_dim(),
            split.rows,
            split.cols,
            split.image_len()
        );
    }
    Ok(())
}

fn cmd_train(a: TrainArgs) -> Result<()> {
    refuse_overwrite(&a.out, a.force)?;
    let cfg = TrainConfig {
        arch: MlpConfig {
            input: 784,
            hidden: a.hidden,
            classes: 10,
            dropout_input: a.dropout_input,
            dropout_hidden: a.dropout_hidden,
            init_std: a.init_std,
        },
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        rms_decay: a.rms_decay,
        rms_eps: a.rms_eps,
        l1: a.l1,
        l2: a.l2,
        adv: a.adv_eps.map(|eps| AdvTraining { eps, weight: a.adv_weight, clip: ClipMode::Clipped }),
        seed: a.seed,
        train_subset: a.train_subset,
        engine: a.engine.into(),
    };
    cfg.validate()?; // fail before loading data
    let d = load_data(&a.data)?;
    let cfg = TrainConfig { arch: MlpConfig { input: d.train.image_len(), ..cfg.arch }, ..cfg };
    let mut bar = progress::Bar::new("train");
    let (model, report) = train::train(&d.train.images, &d.train.labels, &cfg, &mut |p| {
        bar.update(
            (p.epoch - 1) * p.batches + p.batch,
            p.epochs * p.batches,
            &format!("epoch {}/{} loss {:.4}", p.epoch, p.epochs, p.loss),
        )
    })?;
    bar.finish();
    let clean = eval::evaluate(&model, &d.test.images, &d.test.labels, 1000)?;
    let meta = serde_json::json!({
        "train": report.config,
        "epoch_losses": report.epoch_losses(),
        "train_images": report.train_images,
        "dataset": d.dataset,
        "data_source": d.source,
        "data_verified": d.verified,
        "data_sha256": d.sha256,
        "test_accuracy": clean.accuracy,
        "tool": format!("redblue {}", env!("CARGO_PKG_VERSION")),
    });
    model_file::save(&model, &meta, &a.out)?;
    let secs: f64 = report.epochs.iter().map(|e| e.seconds).sum();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"out": a.out, "test": clean, "train_seconds": secs}))?);
    } else {
        println!(
            "trained {} epochs in {:.1}s ({:.1}s/epoch); test accuracy {:.4}, confidence {:.4}; saved {}",
            cfg.epochs,
            secs,
            secs / cfg.epochs as f64,
            clean.accuracy,
            clean.confidence,
            a.out.display()
        );
    }
    Ok(())
}

fn make_attack(kind: AttackKind, o: &AttackOpts) -> Result<Pgd> {
    let pgd = match kind {
        AttackKind::Fgsm => Pgd::fgsm(),
        AttackKind::Pgd => {
            let mut p = Pgd::madry(o.steps, o.restarts);
            if let Some(r) = o.rel_step {
                p.rel_step = r;
            }
            p.random_start = !o.no_random_start;
            p
        }
    };
    pgd.validate()?;
    Ok(pgd)
}

fn clip_of(o: &AttackOpts) -> ClipMode {
    if o.no_clip {
        ClipMode::Unclipped
    } else {
        ClipMode::Clipped
    }
}

/// The test images selected by --offset/--subset.
fn select<'a>(test: &'a Split, s: &SubsetArgs) -> Result<(&'a [f32], &'a [u8])> {
    let n = test.n;
    if s.offset >= n {
        bail!("--offset {} is past the end of the test set ({n} images)", s.offset);
    }
    let count = s.subset.unwrap_or(n - s.offset);
    if count == 0 || s.offset + count > n {
        bail!("--subset {count} from --offset {} does not fit in {n} test images", s.offset);
    }
    let d = test.image_len();
    Ok((&test.images[s.offset * d..(s.offset + count) * d], &test.labels[s.offset..s.offset + count]))
}

fn cmd_attack(a: AttackArgs) -> Result<()> {
    refuse_overwrite(&a.out, a.force)?;
    redblue::error::check_eps("eps", a.eps, 1.0)?;
    let attack = make_attack(a.attack, &a.opts)?;
    let (model, info) = model_file::load(&a.model)?;
    let d = load_data(&a.data)?;
    check_dims(&model, &d.test)?;
    let (x, y) = select(&d.test, &a.subset)?;
    let cfg = SweepConfig { eps: vec![a.eps], clip: clip_of(&a.opts), batch_size: a.subset.eval_batch, seed: a.opts.seed };
    let mut bar = progress::Bar::new(attack.name());
    let adv = eval::generate(&model, &attack, x, y, a.eps, &cfg, &mut |done, total| bar.update(done, total, ""))?;
    bar.finish();
    let set = AdvSet {
        images: adv,
        labels: y.to_vec(),
        rows: d.test.rows,
        cols: d.test.cols,
        meta: AdvMeta {
            attack: attack.name().to_string(),
            params: attack.params(),
            norm: attack.norm().name().to_string(),
            eps: a.eps,
            clip: cfg.clip,
            model_sha256: info.sha256,
            dataset: d.dataset.clone(),
            offset: a.subset.offset,
            seed: a.opts.seed,
        },
    };
    let row = eval::sweep::score(&model, &set.images, y, a.eps, a.subset.eval_batch)?;
    set.save(&a.out)?;
    println!(
        "{} eps {} ({}) on {} images: accuracy {:.4}, confidence {:.4}; saved {}",
        attack.name(),
        a.eps,
        cfg.clip.name(),
        y.len(),
        row.accuracy,
        row.confidence,
        a.out.display()
    );
    Ok(())
}

fn cmd_eval(a: EvalArgs) -> Result<()> {
    let attack = match a.attack {
        Some(k) => Some(make_attack(k, &a.opts)?),
        None => None,
    };
    if attack.is_none() && !a.eps.is_empty() {
        bail!("--eps needs --attack fgsm|pgd");
    }
    eval::sweep::eps_list(&a.eps)?;
    let (model, info) = model_file::load(&a.model)?;
    let d = load_data(&a.data)?;
    check_dims(&model, &d.test)?;
    let mut out = serde_json::json!({
        "model": a.model,
        "model_sha256": info.sha256,
        "dataset": d.dataset,
        "data_source": d.source,
        "data_verified": d.verified,
    });
    let rows = if let Some(path) = &a.adv {
        let set = AdvSet::load(path)?;
        judge_set(&model, &set, &d, a.subset.eval_batch, &mut out)?
    } else {
        let (x, y) = select(&d.test, &a.subset)?;
        out["offset"] = a.subset.offset.into();
        match &attack {
            None => {
                out["mode"] = "clean".into();
                vec![eval::evaluate(&model, x, y, a.subset.eval_batch)?]
            }
            Some(att) => {
                let cfg = SweepConfig { eps: a.eps.clone(), clip: clip_of(&a.opts), batch_size: a.subset.eval_batch, seed: a.opts.seed };
                let mut bar = progress::Bar::new(att.name());
                let s = eval::sweep(&model, att, x, y, &cfg, &mut |done, total| bar.update(done, total, ""))?;
                bar.finish();
                out["mode"] = "sweep".into();
                out["attack"] = s.attack.clone().into();
                out["params"] = s.params.clone();
                out["norm"] = s.norm.clone().into();
                out["clip"] = s.clip.name().into();
                out["seed"] = s.seed.into();
                s.rows
            }
        }
    };
    out["rows"] = serde_json::to_value(&rows)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", render::rows_table(&rows));
    }
    Ok(())
}

/// Verifies a supplied adversarial set against the clean test images, then scores it.
fn judge_set(
    model: &dyn Classifier,
    set: &AdvSet,
    d: &Loaded,
    batch: usize,
    out: &mut serde_json::Value,
) -> Result<Vec<eval::Row>> {
    let m = &set.meta;
    if m.dataset != d.dataset {
        bail!("the adversarial set was made on {} but the data is {}", m.dataset, d.dataset);
    }
    if (set.rows, set.cols) != (d.test.rows, d.test.cols) {
        bail!("adversarial images are {}x{}, test images {}x{}", set.rows, set.cols, d.test.rows, d.test.cols);
    }
    if set.is_empty() || m.offset + set.len() > d.test.n {
        bail!("the set covers test images {}..{} but the test set has {}", m.offset, m.offset + set.len(), d.test.n);
    }
    let (x, y) = select(&d.test, &SubsetArgs { subset: Some(set.len()), offset: m.offset, eval_batch: batch })?;
    if let Some(i) = set.labels.iter().zip(y).position(|(a, b)| a != b) {
        bail!("label of image {} is {} in the set but {} in the test set", m.offset + i, set.labels[i], y[i]);
    }
    if m.norm != Norm::Linf.name() {
        bail!("unsupported norm {:?} in the set (supported: linf)", m.norm);
    }
    redblue::error::check_eps("eps (from the set)", m.eps, 1.0)?;
    judge::verify_budget(x, &set.images, d.test.image_len(), m.eps as f32, Norm::Linf, m.clip, model.bounds())?;
    out["mode"] = "adversarial-set".into();
    out["set"] = serde_json::to_value(m)?;
    Ok(vec![
        eval::evaluate(model, x, y, batch)?,
        eval::sweep::score(model, &set.images, y, m.eps, batch)?,
    ])
}
