//! Turns measured models into the paper's tables: per-cell paper-vs-ours comparisons (mean and
//! spread over seeds), the selection rule, Table 3, adversarial training and FGSM-vs-PGD.

use super::claims::{self, Claim, Closeness};
use super::plan::{at, Curves, ModelResult};
use super::run::DataInfo;
use super::ReproduceConfig;
use crate::attack::ClipMode;
use crate::experiments::paper::{self, PaperRow};
use crate::nn::Precision;
use serde::{Deserialize, Serialize};

/// Mean and sample standard deviation over seeds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (0 for one seed).
    pub std: f64,
    /// Number of seeds.
    pub n: usize,
}

impl Default for Stat {
    /// No values (in reports read from before a field existed).
    fn default() -> Self {
        Stat::of(&[])
    }
}

impl Stat {
    /// Statistics of some values (NaN mean when empty).
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let var = if n > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
        Stat { mean: if n == 0 { f64::NAN } else { mean }, std: var.sqrt(), n }
    }
}

/// One number of ours next to the paper's.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Cell {
    /// The paper's value, if it printed one.
    pub paper: Option<f64>,
    /// Ours over seeds.
    pub ours: Stat,
    /// ours.mean - paper.
    pub diff: Option<f64>,
}

impl Cell {
    fn new(paper: Option<f64>, ours: Stat) -> Cell {
        Cell { paper, ours, diff: paper.map(|p| ours.mean - p) }
    }
}

/// Adversarial accuracy and confidence at one eps in one clip mode.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdvCell {
    pub eps: f64,
    pub clip: ClipMode,
    pub accuracy: Cell,
    pub confidence: Cell,
}

/// One row of Table 1 or 2.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GridRow {
    pub l1: f64,
    pub l2: f64,
    pub test_accuracy: Cell,
    pub test_confidence: Cell,
    /// At eps 0.10 and 0.25, clipped and unclipped (FGSM with exact gradient signs).
    pub adv: Vec<AdvCell>,
    /// The same cells with the frameworks' float32 FGSM gradient.
    #[serde(default)]
    pub adv_float32: Vec<AdvCell>,
}

/// The paper's selection rule applied to our Table 2.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Selection {
    pub rule: String,
    /// Chosen (l1, l2) by clipped FGSM accuracy at eps 0.10.
    pub chosen: (f64, f64),
    /// Its clipped FGSM accuracy at eps 0.10 (mean over seeds).
    pub value: f64,
    /// What the rule picks when scored with unclipped FGSM.
    pub chosen_unclipped: (f64, f64),
    /// The paper's choice.
    pub paper_choice: (f64, f64),
    /// Candidates in the order considered, with their clipped score.
    pub candidates: Vec<((f64, f64), f64)>,
}

/// Table 3: chosen vs unregularized at small eps.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Table3Row {
    pub eps: f64,
    pub clip: ClipMode,
    pub with_reg_accuracy: Cell,
    pub with_reg_confidence: Cell,
    pub without_reg_accuracy: Cell,
    pub without_reg_confidence: Cell,
}

/// A model group's robustness (clipped) for the adversarial-training and honesty tables.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RobustRow {
    pub group: String,
    pub l1: f64,
    pub l2: f64,
    pub adv_eps: Option<f64>,
    pub clean_accuracy: Stat,
    /// (eps, FGSM clipped accuracy) on the evaluation set.
    pub fgsm: Vec<(f64, Stat)>,
    /// (eps, FGSM accuracy, PGD accuracy, gap, flagged) on the PGD subset.
    pub pgd: Vec<MaskingCell>,
    /// (eps, `auto` accuracy) on the auto subset.
    #[serde(default)]
    pub auto: Vec<(f64, Stat)>,
    /// (eps, verified accuracy) on the auto subset, the lower end of `auto`'s interval.
    #[serde(default)]
    pub auto_verified: Vec<(f64, Stat)>,
    /// (eps, verified accuracy, CROWN) on the evaluation set at the verify budgets.
    #[serde(default)]
    pub verified: Vec<(f64, Stat)>,
}

/// FGSM vs PGD at one eps on the same images.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MaskingCell {
    pub eps: f64,
    pub fgsm: Stat,
    pub pgd: Stat,
    /// Verified accuracy on the same images (the lower end of PGD's interval).
    #[serde(default)]
    pub verified: Stat,
    /// fgsm - pgd accuracy.
    pub gap: f64,
    /// "robust to FGSM only (gradient masking suspected)".
    pub flagged: bool,
}

/// The whole report, as data.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    pub config: ReproduceConfig,
    pub data: DataInfo,
    pub seeds: Vec<u64>,
    pub jobs: usize,
    pub table1: Option<GridRow>,
    pub table2: Vec<GridRow>,
    /// Grid pairs the paper did not print (only with a custom grid).
    pub other_grid_rows: Vec<GridRow>,
    pub selection: Selection,
    pub table3: Vec<Table3Row>,
    pub adv_training: Vec<RobustRow>,
    pub grid_robustness: Vec<RobustRow>,
    pub closeness: Closeness,
    /// Which FGSM gradient (exact signs or float32) the paper's numbers match better.
    #[serde(default)]
    pub gradient_closeness: Vec<claims::GradientCloseness>,
    pub claims: Vec<Claim>,
    pub curves: Vec<Curves>,
    pub figure1: Vec<(String, Vec<String>)>,
    pub models: Vec<ModelResult>,
    pub timings: Vec<(String, f64)>,
    pub wall_seconds: f64,
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
}

/// Results of the models with penalties (l1, l2) and adversarial training `adv`, one per seed.
pub fn group(models: &[ModelResult], l1: f64, l2: f64, adv: Option<f64>) -> Vec<&ModelResult> {
    models.iter().filter(|m| same(m.spec.l1, l1) && same(m.spec.l2, l2) && m.spec.adv_eps == adv).collect()
}

/// Statistic of `f` over a group.
pub fn stat(g: &[&ModelResult], f: impl Fn(&ModelResult) -> Option<f64>) -> Stat {
    Stat::of(&g.iter().filter_map(|m| f(m)).collect::<Vec<_>>())
}

/// FGSM accuracy (or confidence) at eps in a clip mode, with exact gradient signs.
pub fn fgsm(m: &ModelResult, eps: f64, clip: ClipMode, confidence: bool) -> Option<f64> {
    fgsm_at(m, eps, clip, confidence, Precision::Exact)
}

/// [`fgsm`] with the gradient computed at `precision`.
pub fn fgsm_at(m: &ModelResult, eps: f64, clip: ClipMode, confidence: bool, precision: Precision) -> Option<f64> {
    let rows = match (clip, precision) {
        (ClipMode::Clipped, Precision::Exact) => &m.fgsm_clipped,
        (ClipMode::Unclipped, Precision::Exact) => &m.fgsm_unclipped,
        (ClipMode::Clipped, Precision::Float32) => &m.fgsm_clipped_float32,
        (ClipMode::Unclipped, Precision::Float32) => &m.fgsm_unclipped_float32,
    };
    at(rows, eps).map(|r| if confidence { r.confidence } else { r.accuracy })
}

fn paper_row(l1: f64, l2: f64) -> Option<PaperRow> {
    std::iter::once(paper::TABLE1).chain(paper::TABLE2).find(|r| same(r.l1, l1) && same(r.l2, l2))
}

fn grid_row(models: &[ModelResult], l1: f64, l2: f64) -> GridRow {
    let g = group(models, l1, l2, None);
    let p = paper_row(l1, l2);
    let clean = |conf: bool| stat(&g, |m| m.fgsm_clipped.first().map(|r| if conf { r.confidence } else { r.accuracy }));
    let cells = |precision: Precision| {
        let mut adv = Vec::new();
        for clip in [ClipMode::Unclipped, ClipMode::Clipped] {
            for eps in [0.10, 0.25] {
                let (pa, pc) = match (&p, eps == 0.10) {
                    (Some(r), true) => (Some(r.adv_accuracy_010), Some(r.adv_confidence_010)),
                    (Some(r), false) => (Some(r.adv_accuracy_025), Some(r.adv_confidence_025)),
                    (None, _) => (None, None),
                };
                adv.push(AdvCell {
                    eps,
                    clip,
                    accuracy: Cell::new(pa, stat(&g, |m| fgsm_at(m, eps, clip, false, precision))),
                    confidence: Cell::new(pc, stat(&g, |m| fgsm_at(m, eps, clip, true, precision))),
                });
            }
        }
        adv
    };
    let (adv, adv_float32) = (cells(Precision::Exact), cells(Precision::Float32));
    GridRow {
        l1,
        l2,
        test_accuracy: Cell::new(p.map(|r| r.test_accuracy), clean(false)),
        test_confidence: Cell::new(p.map(|r| r.test_confidence), clean(true)),
        adv,
        adv_float32,
    }
}

/// Grid pairs in the paper's Table 2 order first, then any others, (0, 0) excluded.
fn regularized_pairs(cfg: &ReproduceConfig) -> Vec<(f64, f64)> {
    let mut pairs: Vec<(f64, f64)> = Vec::new();
    for r in paper::TABLE2 {
        if cfg.l1_grid.iter().any(|&v| same(v, r.l1)) && cfg.l2_grid.iter().any(|&v| same(v, r.l2)) {
            pairs.push((r.l1, r.l2));
        }
    }
    for &l1 in &cfg.l1_grid {
        for &l2 in &cfg.l2_grid {
            if (l1, l2) != (0.0, 0.0) && !pairs.iter().any(|p| same(p.0, l1) && same(p.1, l2)) {
                pairs.push((l1, l2));
            }
        }
    }
    pairs
}

/// The paper's rule: among the regularized pairs, the best FGSM accuracy at eps 0.10
/// (first in the paper's order on ties). Falls back to (0, 0) if the grid has no other pair.
pub fn select(cfg: &ReproduceConfig, models: &[ModelResult]) -> Selection {
    let pick = |clip: ClipMode| {
        let mut scored = Vec::new();
        for p in regularized_pairs(cfg) {
            scored.push((p, stat(&group(models, p.0, p.1, None), |m| fgsm(m, 0.10, clip, false)).mean));
        }
        let mut best: Option<((f64, f64), f64)> = None;
        for &(p, v) in &scored {
            if best.is_none_or(|(_, b)| v > b) {
                best = Some((p, v));
            }
        }
        (best.unwrap_or(((0.0, 0.0), f64::NAN)), scored)
    };
    let ((chosen, value), candidates) = pick(ClipMode::Clipped);
    let ((chosen_unclipped, _), _) = pick(ClipMode::Unclipped);
    Selection {
        rule: "among the regularized (l1, l2) pairs, the highest FGSM accuracy at eps 0.10 \
               (clipped; mean over seeds; ties go to the first pair in the paper's order)"
            .into(),
        chosen,
        value,
        chosen_unclipped,
        paper_choice: paper::CHOSEN,
        candidates,
    }
}

fn robust_row(cfg: &ReproduceConfig, models: &[ModelResult], l1: f64, l2: f64, adv: Option<f64>) -> RobustRow {
    let g = group(models, l1, l2, adv);
    let pgd = cfg
        .pgd_eps
        .iter()
        .map(|&eps| {
            let f = stat(&g, |m| at(&m.fgsm_on_pgd_subset, eps).map(|r| r.accuracy));
            let p = stat(&g, |m| at(&m.pgd, eps).map(|r| r.accuracy));
            let verified = stat(&g, |m| at(&m.pgd, eps).and_then(|r| r.verified));
            let gap = f.mean - p.mean;
            MaskingCell { eps, fgsm: f, pgd: p, verified, gap, flagged: gap > cfg.masking_gap }
        })
        .collect();
    RobustRow {
        group: g.first().map(|m| m.spec.group.clone()).unwrap_or_default(),
        l1,
        l2,
        adv_eps: adv,
        clean_accuracy: stat(&g, |m| m.fgsm_clipped.first().map(|r| r.accuracy)),
        fgsm: cfg.fgsm_eps.iter().map(|&e| (e, stat(&g, |m| fgsm(m, e, ClipMode::Clipped, false)))).collect(),
        pgd,
        auto: cfg.auto_eps.iter().map(|&e| (e, stat(&g, |m| at(&m.auto, e).map(|r| r.accuracy)))).collect(),
        auto_verified: cfg
            .auto_eps
            .iter()
            .map(|&e| (e, stat(&g, |m| at(&m.auto, e).and_then(|r| r.verified))))
            .collect(),
        // On a subset, eps 0 first: the clean accuracy of the same images.
        verified: cfg
            .verify_subset
            .map(|_| 0.0)
            .iter()
            .chain(&cfg.verify_eps)
            .map(|&e| (e, stat(&g, |m| m.verified.iter().find(|v| v.eps == e).map(|v| v.accuracy))))
            .collect(),
    }
}

/// Assembles the report from all measurements.
#[allow(clippy::too_many_arguments)]
pub fn build(
    cfg: &ReproduceConfig,
    data: &DataInfo,
    grid: Vec<ModelResult>,
    adv: Vec<ModelResult>,
    curves: Vec<Curves>,
    figure1: Vec<(String, Vec<String>)>,
    timings: Vec<(String, f64)>,
    wall_seconds: f64,
    jobs: usize,
) -> Report {
    let selection = select(cfg, &grid);
    let has = |l1: f64, l2: f64| !group(&grid, l1, l2, None).is_empty();
    let table1 = has(0.0, 0.0).then(|| grid_row(&grid, 0.0, 0.0));
    let table2: Vec<GridRow> =
        paper::TABLE2.iter().filter(|r| has(r.l1, r.l2)).map(|r| grid_row(&grid, r.l1, r.l2)).collect();
    let other_grid_rows = regularized_pairs(cfg)
        .into_iter()
        .filter(|&(l1, l2)| paper_row(l1, l2).is_none())
        .map(|(l1, l2)| grid_row(&grid, l1, l2))
        .collect();
    let (c1, c2) = selection.chosen;
    let mut table3 = Vec::new();
    for clip in [ClipMode::Unclipped, ClipMode::Clipped] {
        for (eps, with_p, without_p) in paper::TABLE3 {
            let w = group(&grid, c1, c2, None);
            let wo = group(&grid, 0.0, 0.0, None);
            table3.push(Table3Row {
                eps,
                clip,
                with_reg_accuracy: Cell::new(Some(with_p.0), stat(&w, |m| fgsm(m, eps, clip, false))),
                with_reg_confidence: Cell::new(Some(with_p.1), stat(&w, |m| fgsm(m, eps, clip, true))),
                without_reg_accuracy: Cell::new(Some(without_p.0), stat(&wo, |m| fgsm(m, eps, clip, false))),
                without_reg_confidence: Cell::new(Some(without_p.1), stat(&wo, |m| fgsm(m, eps, clip, true))),
            });
        }
    }
    let mut adv_training = vec![robust_row(cfg, &grid, 0.0, 0.0, None), robust_row(cfg, &grid, c1, c2, None)];
    let mut seen = Vec::new();
    for m in &adv {
        if !seen.contains(&m.spec.group) {
            seen.push(m.spec.group.clone());
            adv_training.push(robust_row(cfg, &adv, m.spec.l1, m.spec.l2, m.spec.adv_eps));
        }
    }
    let mut grid_robustness = Vec::new();
    for &l1 in &cfg.l1_grid {
        for &l2 in &cfg.l2_grid {
            grid_robustness.push(robust_row(cfg, &grid, l1, l2, None));
        }
    }
    let closeness = claims::closeness(table1.iter().chain(&table2), &table3);
    let gradient_closeness = claims::gradient_closeness(table1.iter().chain(&table2));
    let claims = claims::judge(cfg, &selection, table1.as_ref(), &table2, &table3, &adv_training);
    let mut models = grid;
    models.extend(adv);
    Report {
        tool: format!("redblue {}", env!("CARGO_PKG_VERSION")),
        config: cfg.clone(),
        data: data.clone(),
        seeds: super::plan::seeds(cfg),
        jobs,
        table1,
        table2,
        other_grid_rows,
        selection,
        table3,
        adv_training,
        grid_robustness,
        closeness,
        gradient_closeness,
        claims,
        curves,
        figure1,
        models,
        timings,
        wall_seconds,
    }
}
