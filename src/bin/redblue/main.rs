//! The `redblue` binary: parses arguments, calls the library, renders results, prints an
//! error once (`{:#}` of the chain) and exits 2 on failure.

mod alloc;
mod args;
mod bench_cmd;
mod certify_cmd;
mod import_cmd;
mod progress;
mod render;
mod reproduce_cmd;
mod rules;

use anyhow::{bail, Context, Result};
use args::*;
use clap::{CommandFactory, FromArgMatches};
use redblue::advset::{AdvMeta, AdvSet};
use redblue::attack::{Attack, ClipMode, Norm, Pgd};
use redblue::data::{self, AcquireOptions, DatasetKind, Split};
use redblue::eval::{self, judge, SweepConfig};
use redblue::fsutil::{show, Output};
use redblue::model::{file as model_file, Classifier, MlpConfig};
use redblue::subset::{self, Flags};
use redblue::train::{self, AdvTraining, TrainConfig};
use rules::{Given, ATTACK_ALL, DATA_SOURCES, PGD_ONLY};
use std::path::Path;
use std::process::ExitCode;

/// Rule ids used outside [`rules`]'s shared lists, per subcommand (checked by a test).
pub const EXTRA_RULE_IDS: &[(&str, &str)] = &[
    ("eval", "offset"),
    ("eval", "subset"),
    ("bench", "model"),
    ("bench", "runs"),
    ("reproduce", "train_subset"),
    ("reproduce", "test_subset"),
    ("reproduce", "pgd_subset"),
    ("reproduce", "curve_subset"),
    ("reproduce", "auto_subset"),
    ("train", "data_dir"),
    ("reproduce", "data_dir"),
    ("certify", "time_limit"),
    ("certify", "norm"),
    ("certify", "target"),
];

fn main() -> ExitCode {
    alloc::tune();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // The matches of the innermost subcommand: the flags the user typed there.
    let mut sub = &matches;
    while let Some((_, m)) = sub.subcommand() {
        sub = m;
    }
    match run(cli, &Given::new(sub)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli, g: &Given<'_>) -> Result<()> {
    match cli.command {
        Command::Data { action } => cmd_data(action, g),
        Command::Train(a) => cmd_train(a, g),
        Command::Attack(a) => cmd_attack(a, g),
        Command::Eval(a) => cmd_eval(a, g),
        Command::Certify(a) => certify_cmd::cmd_certify(a, g),
        Command::Reproduce(a) => reproduce_cmd::cmd_reproduce(a, g),
        Command::Bench(a) => bench_cmd::cmd_bench(a, g),
        Command::Import(a) => import_cmd::cmd_import(a, g),
    }
}

/// A loaded dataset plus where it came from.
pub struct Loaded {
    pub train: Split,
    pub test: Split,
    pub dataset: String,
    /// Where the data came from, for the user's terminal (may name local folders).
    pub source: String,
    /// Where the data came from, for files (no local paths).
    pub record: String,
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

/// The effective data dir: an empty `--data-dir`/`REDBLUE_DATA_DIR` counts as unset.
fn data_dir(a: &DataArgs) -> Option<&Path> {
    a.data_dir.as_deref().filter(|p| !p.as_os_str().is_empty())
}

/// Refuses data-source flags that cannot have an effect together.
pub fn check_data_flags(a: &DataArgs, g: &Given<'_>) -> Result<()> {
    if data_dir(a).is_some() {
        let from = if g.has("data_dir") { "--data-dir" } else { "REDBLUE_DATA_DIR (set in the environment)" };
        g.refuse(&DATA_SOURCES, &format!("with {from}: the data dir is then the only source"))?;
    }
    if a.no_download {
        g.refuse(&["mirror"], "with --no-download")?;
    }
    if a.no_verify && data_dir(a).is_none() {
        bail!("--no-verify needs a non-empty --data-dir");
    }
    Ok(())
}

pub fn load_data(a: &DataArgs) -> Result<Loaded> {
    let kind = kind_of(a.dataset);
    if a.no_verify {
        let dir = data_dir(a).context("--no-verify needs a non-empty --data-dir")?;
        let (train, test) = data::load_from_dir_unverified(dir, kind.name())?;
        eprintln!("using UNVERIFIED {} files from {}", kind.name(), show(dir));
        return Ok(Loaded {
            train,
            test,
            dataset: kind.name().to_string(),
            source: format!("unverified data dir {}", show(dir)),
            record: "unverified data dir".to_string(),
            location: show(dir),
            verified: false,
            sha256: Vec::new(),
        });
    }
    let opts = AcquireOptions {
        data_dir: data_dir(a).map(Path::to_path_buf),
        cache_dir: a.cache_dir.clone(),
        mirrors: (!a.mirror.is_empty()).then(|| a.mirror.clone()),
        download: !a.no_download,
        npm: !a.no_npm,
        ..AcquireOptions::default()
    };
    let d = data::load(kind, &opts)?;
    for w in &d.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("using {} from {}", kind.name(), d.source);
    Ok(Loaded {
        train: d.train,
        test: d.test,
        dataset: kind.name().to_string(),
        source: d.source.to_string(),
        record: d.source.record(),
        location: show(&d.location),
        verified: true,
        sha256: d.sha256,
    })
}

fn cmd_data(action: DataAction, g: &Given<'_>) -> Result<()> {
    let (a, info) = match action {
        DataAction::Fetch(a) => (a, false),
        DataAction::Info(a) => (a, true),
    };
    check_data_flags(&a, g)?;
    let d = load_data(&a)?;
    println!("{}: {} train + {} test images of {}x{}", d.dataset, d.train.n, d.test.n, d.train.rows, d.train.cols);
    println!("source: {}", d.source);
    println!("location: {}", d.location);
    if info {
        for (name, hash) in &d.sha256 {
            println!("sha256 {name} {hash} (verified)");
        }
        let mut counts = [0usize; 10];
        let mut other = 0usize;
        for &y in &d.test.labels {
            match counts.get_mut(usize::from(y)) {
                Some(c) => *c += 1,
                None => other += 1,
            }
        }
        println!("test label counts: {counts:?}");
        if other > 0 {
            println!("test labels outside 0-9: {other}");
        }
    }
    Ok(())
}

/// The model must read the dataset's images and have one output per class it can meet.
pub fn check_fit(model: &dyn Classifier, path: &Path, split: &Split) -> Result<()> {
    if model.input_dim() != split.image_len() {
        bail!(
            "model file {}: it expects {} input pixels but the dataset's images have {}x{} = {}",
            show(path),
            model.input_dim(),
            split.rows,
            split.cols,
            split.image_len()
        );
    }
    let classes = split.labels.iter().copied().max().map_or(0, |m| usize::from(m) + 1);
    if model.num_classes() != 10 || classes > model.num_classes() {
        bail!(
            "model file {}: it has {} classes but the dataset has 10 (labels up to {})",
            show(path),
            model.num_classes(),
            classes.saturating_sub(1)
        );
    }
    Ok(())
}

/// Loads a model file and prints what the loader ignored.
pub fn load_model(path: &Path) -> Result<(redblue::model::Mlp, model_file::ModelMeta)> {
    let (model, meta) = model_file::load(path)?;
    for w in &meta.warnings {
        eprintln!("warning: model file {}: {w}", show(path));
    }
    Ok((model, meta))
}

/// Loads a model file of any architecture and prints what the loader ignored.
pub fn load_any_model(path: &Path) -> Result<(redblue::model::Model, model_file::ModelMeta)> {
    let (model, meta) = model_file::load_any(path)?;
    for w in &meta.warnings {
        eprintln!("warning: model file {}: {w}", show(path));
    }
    Ok((model, meta))
}

/// Names the model file when its numbers break during scoring.
pub fn scoring<T>(r: redblue::Result<T>, path: &Path) -> Result<T> {
    r.map_err(|e| match e {
        redblue::Error::NonFinite { .. } => anyhow::Error::new(e).context(format!("scoring model file {}", show(path))),
        other => other.into(),
    })
}

fn cmd_train(a: TrainArgs, g: &Given<'_>) -> Result<()> {
    check_data_flags(&a.data, g)?;
    let out = Output::reserve("--out", &a.out, a.force, &[])?;
    // The paper's MLP (one hidden layer) trains on its own engine; any other architecture is
    // a network, built once the data's image shape is known.
    let paper_mlp = a.arch == ArchArg::Mlp && a.hidden.len() == 1;
    if a.arch != ArchArg::Mlp {
        g.refuse(&["hidden"], &format!("with --arch {} (it sets the MLP's widths)", a.arch.name()))?;
        g.refuse(
            &["dropout_input", "dropout_hidden"],
            &format!("with --arch {} (it has no dropout layers)", a.arch.name()),
        )?;
    }
    if !paper_mlp {
        g.refuse(
            &["init_std"],
            "except for the one-hidden-layer MLP (networks start from PyTorch's default initialisation)",
        )?;
    }
    if a.hidden.is_empty() || a.hidden.contains(&0) {
        return Err(redblue::Error::param("--hidden", format!("{:?}", a.hidden), "must be positive widths").into());
    }
    let cfg = TrainConfig {
        network: None,
        arch: MlpConfig {
            input: 784,
            hidden: a.hidden[0],
            classes: 10,
            dropout_input: a.dropout_input,
            dropout_hidden: a.dropout_hidden,
            init_std: a.init_std,
        },
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        lr_drops: a.lr_drops.clone(),
        lr_drop_factor: a.lr_drop_factor,
        rms_decay: a.rms_decay,
        rms_eps: a.rms_eps,
        l1: a.l1,
        l2: a.l2,
        adv: a.adv_eps.map(|eps| AdvTraining {
            eps,
            weight: a.adv_weight,
            clip: ClipMode::Clipped,
            random_start: a.adv_random_start,
            steps: a.adv_steps,
        }),
        certified: match (a.certified, a.cert_eps) {
            (Some(m), Some(eps)) => Some(train::CertTraining {
                method: match m {
                    CertifiedArg::Ibp => train::CertMethod::Ibp,
                    CertifiedArg::CrownIbp => train::CertMethod::CrownIbp,
                },
                eps,
                kappa: a.cert_kappa,
                warmup_epochs: a.cert_warmup,
                ramp_epochs: a.cert_ramp.unwrap_or(((a.epochs as f64 - a.cert_warmup) / 2.0).max(0.0)),
            }),
            _ => None,
        },
        seed: a.seed,
        train_subset: a.train_subset,
        engine: a.engine.into(),
    };
    let network = |rows: usize, cols: usize| -> redblue::Result<Option<redblue::model::Arch>> {
        if paper_mlp {
            return Ok(None);
        }
        let mut arch = redblue::model::Arch::builtin(a.arch.name(), [1, rows, cols], 10, &a.hidden)?;
        if a.arch == ArchArg::Mlp {
            // The paper's dropout, on the input and after every hidden layer.
            use redblue::model::arch::Layer;
            let mut layers = Vec::new();
            for l in arch.layers {
                let relu = l == Layer::Relu;
                layers.push(l);
                if layers.len() == 1 && a.dropout_input > 0.0 {
                    layers.push(Layer::Dropout { p: a.dropout_input });
                }
                if relu && a.dropout_hidden > 0.0 {
                    layers.push(Layer::Dropout { p: a.dropout_hidden });
                }
            }
            arch.layers = layers;
        }
        Ok(Some(arch))
    };
    TrainConfig { network: network(28, 28)?, ..cfg.clone() }.validate()?; // fail before loading data
    let d = load_data(&a.data)?;
    subset::first(d.train.n, a.train_subset, "--train-subset", "training set")?;
    let cfg = TrainConfig {
        arch: MlpConfig { input: d.train.image_len(), ..cfg.arch },
        network: network(d.train.rows, d.train.cols)?,
        ..cfg
    };
    let mut bar = progress::Bar::new("train");
    let (model, report) = train::train_any(&d.train.images, &d.train.labels, &cfg, &mut |p| {
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
        "data_source": d.record,
        "data_verified": d.verified,
        "data_sha256": d.sha256,
        "test_accuracy": clean.accuracy,
        "tool": format!("redblue {}", env!("CARGO_PKG_VERSION")),
    });
    out.commit(&model_file::any_to_bytes(&model, &meta)?)?;
    let secs: f64 = report.epochs.iter().map(|e| e.seconds).sum();
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"out": a.out, "test": clean, "train_seconds": secs}))?
        );
    } else {
        let how = match &cfg.certified {
            Some(c) => format!(" with certified training ({} at eps {})", c.method.name(), c.eps),
            None => String::new(),
        };
        println!(
            "trained {} ({}) {} epochs{how} in {:.1}s ({:.1}s/epoch); test accuracy {:.4}, confidence {:.4}; saved {}",
            a.arch.name(),
            model.summary(),
            cfg.epochs,
            secs,
            secs / cfg.epochs as f64,
            clean.accuracy,
            clean.confidence,
            show(&a.out)
        );
    }
    Ok(())
}

/// Builds the attack (targeted with `--target`), refusing the flags that have no effect on it.
pub fn make_attack(kind: AttackKind, o: &AttackOpts, g: &Given<'_>) -> Result<Box<dyn Attack>> {
    let Some(t) = &o.target else { return make_untargeted(kind, o, g) };
    if matches!(kind, AttackKind::Auto | AttackKind::ApgdT | AttackKind::FabT) {
        bail!("--target has no effect with --attack auto/apgd-t/fab-t (they target the top 9 other classes in turn)");
    }
    let target = redblue::attack::Target::parse(t)?;
    Ok(Box::new(redblue::attack::Targeted { inner: make_untargeted(kind, o, g)?, target }))
}

/// [`make_attack`] without `--target`.
fn make_untargeted(kind: AttackKind, o: &AttackOpts, g: &Given<'_>) -> Result<Box<dyn Attack>> {
    use redblue::attack::{Apgd, Loss};
    if kind != AttackKind::Square {
        g.refuse(&["queries"], "without --attack square")?;
    }
    if kind != AttackKind::Fgsm {
        g.refuse(&["gradient"], "without --attack fgsm (iterative attacks take the stable softmax gradient)")?;
    }
    let pgd = match kind {
        AttackKind::Fgsm => {
            g.refuse(&PGD_ONLY, "with --attack fgsm (one step of size eps from the clean image, no randomness)")?;
            // With --norm l2 this is the fast gradient method: x + eps * g / |g|.
            Pgd { norm: norm_of(o), precision: o.gradient.map_or(Default::default(), Into::into), ..Pgd::fgsm() }
        }
        AttackKind::Pgd => {
            if o.no_random_start {
                g.refuse(&["seed"], "with --no-random-start (the attack is then deterministic)")?;
                if o.restarts > 1 {
                    bail!("--restarts {} has no effect with --no-random-start (every restart is the same deterministic attack)", o.restarts);
                }
            }
            let mut p = Pgd::madry(o.steps.unwrap_or(40), o.restarts);
            if let Some(r) = o.rel_step {
                p.rel_step = r;
            }
            p.random_start = !o.no_random_start;
            p.loss = o.loss.map_or(Loss::Ce, Into::into);
            p.norm = norm_of(o);
            p
        }
        AttackKind::Auto => {
            g.refuse(&PGD_ONLY, "with --attack auto (every stage runs its standard settings)")?;
            return Ok(Box::new(redblue::attack::Auto::standard(norm_of(o))));
        }
        AttackKind::Square => {
            let why = "with --attack square (a black-box random search over logits)";
            g.refuse(&["steps", "rel_step", "no_random_start", "loss"], why)?;
            let mut s = redblue::attack::Square::standard().with_norm(norm_of(o));
            s.queries = o.queries.unwrap_or(s.queries);
            s.restarts = o.restarts;
            s.validate()?;
            return Ok(Box::new(s));
        }
        AttackKind::FabT => {
            let why =
                "with --attack fab-t (a minimum-norm search: it starts at the clean image and steps to the boundary)";
            g.refuse(&["rel_step", "no_random_start", "loss"], why)?;
            let mut f = redblue::attack::Fab::targeted(norm_of(o));
            f.iterations = o.steps.unwrap_or(f.iterations);
            f.restarts = o.restarts;
            f.validate()?;
            return Ok(Box::new(f));
        }
        AttackKind::Apgd | AttackKind::ApgdT => {
            let why = "with --attack apgd/apgd-t (step sizes adapt on their own; every run starts at random)";
            g.refuse(&["rel_step", "no_random_start"], why)?;
            let mut a = match kind {
                AttackKind::ApgdT => {
                    g.refuse(&["loss"], "with --attack apgd-t (it uses the targeted DLR loss)")?;
                    Apgd::targeted(norm_of(o))
                }
                _ => Apgd::new(o.loss.map_or(Loss::Ce, Into::into), norm_of(o)),
            };
            a.iterations = o.steps.unwrap_or(a.iterations);
            a.restarts = o.restarts;
            a.validate()?;
            return Ok(Box::new(a));
        }
    };
    pgd.validate()?;
    Ok(Box::new(pgd))
}

pub fn clip_of(o: &AttackOpts) -> ClipMode {
    if o.no_clip {
        ClipMode::Unclipped
    } else {
        ClipMode::Clipped
    }
}

fn norm_of(o: &AttackOpts) -> Norm {
    o.norm.map_or(Norm::Linf, Norm::from)
}

/// The test images selected by --offset/--subset.
pub fn select<'a>(test: &'a Split, s: &SubsetArgs) -> Result<(&'a [f32], &'a [u8])> {
    let r = subset::range(test.n, s.offset, s.subset, Flags { offset: "--offset", count: "--subset", of: "test set" })?;
    let d = test.image_len();
    Ok((&test.images[r.start * d..r.end * d], &test.labels[r]))
}

pub fn check_batch(s: &SubsetArgs) -> Result<()> {
    if s.eval_batch == 0 {
        return Err(redblue::Error::param("--eval-batch", 0, "must be at least 1").into());
    }
    Ok(())
}

fn cmd_attack(a: AttackArgs, g: &Given<'_>) -> Result<()> {
    check_data_flags(&a.data, g)?;
    check_batch(&a.subset)?;
    // The pixel count is known once the data is loaded; the library checks the L2 limit then.
    redblue::error::check_eps("--eps", a.eps, norm_of(&a.opts).max_eps(usize::MAX))?;
    let attack = make_attack(a.attack, &a.opts, g)?;
    let out = Output::reserve("--out", &a.out, a.force, &[&a.model])?;
    let (model, info) = load_any_model(&a.model)?;
    let d = load_data(&a.data)?;
    check_fit(&model, &a.model, &d.test)?;
    let (x, y) = select(&d.test, &a.subset)?;
    let eps = a.eps + 0.0; // -0 becomes 0
    let cfg =
        SweepConfig { eps: vec![eps], clip: clip_of(&a.opts), batch_size: a.subset.eval_batch, seed: a.opts.seed };
    let mut bar = progress::Bar::new(attack.name());
    let adv = eval::generate(&model, attack.as_ref(), x, y, eps, &cfg, &mut |done, total| bar.update(done, total, ""))?;
    bar.finish();
    let set = AdvSet {
        images: adv,
        labels: y.to_vec(),
        rows: d.test.rows,
        cols: d.test.cols,
        meta: Some(AdvMeta {
            attack: attack.name().to_string(),
            params: attack.params(),
            norm: attack.norm(),
            eps,
            clip: cfg.clip,
            model_sha256: info.sha256,
            dataset: d.dataset.clone(),
            offset: a.subset.offset,
            seed: a.opts.seed,
        }),
        warnings: Vec::new(),
    };
    let row = scoring(eval::sweep::score(&model, &set.images, y, eps, a.subset.eval_batch), &a.model)?;
    out.commit(&set.to_bytes()?)?;
    println!(
        "{} eps {} ({}) on {} images: accuracy {:.4}, confidence {:.4}; saved {}",
        attack.name(),
        render::eps(eps),
        cfg.clip.name(),
        y.len(),
        row.accuracy,
        row.confidence,
        show(&a.out)
    );
    Ok(())
}

/// The bound for `eval`'s verified column (every bound covers both norms).
fn verify_method(v: VerifyArg) -> Option<redblue::certify::Method> {
    match v {
        VerifyArg::None => None,
        VerifyArg::Ibp => Some(redblue::certify::Method::Ibp),
        VerifyArg::Crown => Some(redblue::certify::Method::Crown),
        VerifyArg::AlphaCrown => Some(redblue::certify::Method::AlphaCrown),
    }
}

fn cmd_eval(a: EvalArgs, g: &Given<'_>) -> Result<()> {
    check_data_flags(&a.data, g)?;
    check_batch(&a.subset)?;
    let attack = match (a.attack, &a.adv) {
        (Some(k), _) => Some(make_attack(k, &a.opts, g)?),
        (None, Some(_)) => {
            g.refuse(&PGD_ONLY, "with --adv (the set is already made)")?;
            g.refuse(&["target"], "with --adv (the set is already made)")?;
            g.refuse(&["verify"], "with --adv (the bound joins --attack sweeps; `redblue certify` judges a budget)")?;
            if a.eps.is_empty() {
                g.refuse(&["no_clip", "clip", "norm"], "with --adv unless --eps gives the referee's budget")?;
            }
            if a.eps.len() > 1 {
                bail!("--eps with --adv is the referee's one budget; {} values given", a.eps.len());
            }
            None
        }
        (None, None) => {
            if !a.eps.is_empty() {
                bail!("--eps needs --attack fgsm|pgd (or --adv SET for the referee's budget)");
            }
            g.refuse(&ATTACK_ALL, "without --attack or --adv (clean evaluation)")?;
            None
        }
    };
    if a.adv.is_none() {
        // With --adv the judge checks the referee's eps against its norm, after the set's
        // declared threat model (a clearer message for a mismatch).
        eval::sweep::eps_list(&a.eps, norm_of(&a.opts).max_eps(usize::MAX))?;
    }
    let report = match &a.report {
        Some(p) => {
            let mut inputs: Vec<&std::path::Path> = vec![&a.model];
            inputs.extend(a.surrogate.as_deref());
            Some(Output::reserve("--report", p, a.force, &inputs)?)
        }
        None => None,
    };
    let (model, info) = load_any_model(&a.model)?;
    // A network's bounds cost far more than the MLP's (tens of milliseconds an image and
    // budget for small-cnn): computed when asked for, never by default.
    let network_default = model.mlp().is_none() && !g.has("verify");
    let verify = if network_default { VerifyArg::None } else { a.verify };
    if let Some(method) = verify_method(verify) {
        redblue::certify::model_supports(&model, method)
            .map_err(|e| anyhow::anyhow!("--verify {}: {e}", method.name()))?;
    }
    let d = load_data(&a.data)?;
    check_fit(&model, &a.model, &d.test)?;
    let mut out = serde_json::json!({
        "model": a.model,
        "model_sha256": info.sha256,
        "dataset": d.dataset,
        "data_source": d.record,
        "data_verified": d.verified,
    });
    let mut notes = Vec::new();
    let rows = if let Some(path) = &a.adv {
        let set = AdvSet::load(path)?;
        for w in &set.warnings {
            eprintln!("warning: adversarial set {}: {w}", show(path));
        }
        let referee =
            a.eps.first().map(|&e| judge::Budget { norm: norm_of(&a.opts), eps: e + 0.0, clip: clip_of(&a.opts) });
        let req = judge::Request {
            referee,
            offset: g.has("offset").then_some(a.subset.offset),
            subset: a.subset.subset,
            batch: a.subset.eval_batch,
        };
        let test = judge::TestImages {
            x: &d.test.images,
            y: &d.test.labels,
            rows: d.test.rows,
            cols: d.test.cols,
            dataset: &d.dataset,
        };
        let v = scoring(judge::judge_set(&model, &info.sha256, &set, &test, &req), &a.model)?;
        let declared = match (&v.declared, v.budget_source) {
            (Some(d), judge::BudgetSource::Referee) => {
                format!("; the set declares {} eps {}, {}", d.norm.name(), render::eps(d.eps), d.clip.name())
            }
            (None, _) => "; the set declares no budget".to_string(),
            _ => String::new(),
        };
        notes.push(format!(
            "{} ({} eps {}, {}{declared}); {} images from test image {}",
            v.budget_source.words(),
            v.budget.norm.name(),
            render::eps(v.budget.eps),
            v.budget.clip.name(),
            v.n,
            v.offset
        ));
        if v.transfer {
            notes.push(format!(
                "transfer attack: the set was made on model {}, judged on model {}",
                v.set_model_sha256.as_deref().unwrap_or("unknown (no redblue metadata)"),
                v.model_sha256
            ));
        }
        out["mode"] = "adversarial-set".into();
        out["set"] = serde_json::json!(show(path));
        out["budget_note"] = v.budget_source.words().into();
        let rows = v.rows.clone();
        for (k, val) in serde_json::to_value(&v)?.as_object().into_iter().flatten() {
            if k != "rows" {
                out[k] = val.clone();
            }
        }
        rows
    } else {
        let (x, y) = select(&d.test, &a.subset)?;
        out["offset"] = a.subset.offset.into();
        match &attack {
            None => {
                out["mode"] = "clean".into();
                vec![scoring(eval::evaluate(&model, x, y, a.subset.eval_batch), &a.model)?]
            }
            Some(att) => {
                let cfg = SweepConfig {
                    eps: a.eps.clone(),
                    clip: clip_of(&a.opts),
                    batch_size: a.subset.eval_batch,
                    seed: a.opts.seed,
                };
                let surrogate = match &a.surrogate {
                    Some(p) => {
                        let (s, meta) = load_any_model(p)?;
                        check_fit(&s, p, &d.test)?;
                        out["transfer"] = true.into();
                        out["surrogate"] = serde_json::json!(p);
                        out["surrogate_sha256"] = meta.sha256.clone().into();
                        notes.push(format!(
                            "transfer attack: crafted on model {}, scored on model {}",
                            meta.sha256, info.sha256
                        ));
                        Some(s)
                    }
                    None => None,
                };
                let mut bar = progress::Bar::new(att.name());
                let mut s = scoring(
                    eval::sweep_transfer(
                        &model,
                        surrogate.as_ref().map(|s| s as &dyn Classifier),
                        att.as_ref(),
                        x,
                        y,
                        &cfg,
                        &mut |done, total| bar.update(done, total, ""),
                    ),
                    &a.model,
                )?;
                bar.finish();
                if network_default {
                    notes.push(
                        "no verified accuracy by default for this architecture (its bounds cost tens of milliseconds \
                         an image and budget): pass --verify crown or ibp for robust accuracy as [verified, attacked]"
                            .into(),
                    );
                }
                if let Some(method) = verify_method(verify) {
                    let bounds = (clip_of(&a.opts) == ClipMode::Clipped).then_some(model.bounds());
                    let norm = norm_of(&a.opts);
                    for r in &mut s.rows {
                        let v = redblue::certify::model_verified_accuracy(&model, x, y, norm, r.eps, bounds, method)?;
                        r.verified = Some(v);
                    }
                    out["verify"] = method.name().into();
                    notes.push(format!(
                        "robust accuracy in [verified, attacked]: verified by {} on the same images and budgets",
                        method.name().to_uppercase()
                    ));
                }
                if let Some(after) = s.params["robust_after_each_stage"].as_array() {
                    let missing: Vec<&str> =
                        s.params["missing"].as_array().into_iter().flatten().filter_map(|m| m.as_str()).collect();
                    let which = if missing.is_empty() {
                        "AutoAttack's standard sequence".to_string()
                    } else {
                        format!("not AutoAttack's standard: without {}", missing.join(", "))
                    };
                    for e in after {
                        let stages: Vec<String> = e["stages"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|st| {
                                format!(
                                    "after {} {:.4}",
                                    st["after"].as_str().unwrap_or("?"),
                                    st["accuracy"].as_f64().unwrap_or(f64::NAN)
                                )
                            })
                            .collect();
                        notes.push(format!(
                            "eps {}: clean {:.4}, {} ({which})",
                            render::eps(e["eps"].as_f64().unwrap_or(f64::NAN)),
                            e["clean_accuracy"].as_f64().unwrap_or(f64::NAN),
                            stages.join(", ")
                        ));
                    }
                }
                out["mode"] = "sweep".into();
                out["attack"] = s.attack.clone().into();
                out["params"] = s.params.clone();
                out["norm"] = s.norm.clone().into();
                out["clip"] = s.clip.name().into();
                out["seed"] = s.seed.into();
                if let Some(rep) = report {
                    let clean = scoring(eval::evaluate(&model, x, y, a.subset.eval_batch), &a.model)?;
                    let ev = eval::card::Evaluation {
                        model: &model,
                        surrogate: surrogate.as_ref().map(|s| s as &dyn Classifier),
                        attack: att.as_ref(),
                        x,
                        y,
                        cfg: &cfg,
                        result: &s,
                        clean: &clean,
                    };
                    let card = scoring(eval::card::report_card(&ev, 500), &a.model)?;
                    let flags: Vec<&str> = card
                        .checks
                        .iter()
                        .filter(|c| c.status == eval::card::Status::Flag)
                        .map(|c| c.id.as_str())
                        .collect();
                    notes.push(format!(
                        "report card: {} ({} checks on {} images) written to {}",
                        if flags.is_empty() { "no flags".to_string() } else { format!("FLAGS: {}", flags.join(", ")) },
                        card.checks.len(),
                        card.subset,
                        show(rep.path())
                    ));
                    out["card"] = serde_json::to_value(&card)?;
                    rep.commit(card.markdown().as_bytes())?;
                }
                s.rows
            }
        }
    };
    out["rows"] = serde_json::to_value(&rows)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for n in &notes {
            println!("{n}");
        }
        print!("{}", render::rows_table(&rows));
    }
    Ok(())
}
