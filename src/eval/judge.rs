//! The judge of supplied adversarial sets: the referee sets the budget, never the attacker.
//!
//! A set is scored only after every image has been checked against the budget (reject, never
//! silently fix). The budget is the referee's when given ([`Request::referee`]); a set whose
//! declared budget is looser than the referee's is refused before any image is looked at. A
//! set without a referee budget is checked against what it declares, and the verdict says so
//! ("budget as declared by the attacker"). A set made on another model, or by another tool, is
//! scored as a transfer attack.

use super::metrics::Row;
use super::sweep::{evaluate, score};
use crate::advset::{AdvMeta, AdvSet};
use crate::attack::{ClipMode, Norm};
use crate::error::{check_eps, Error, Result};
use crate::model::Classifier;
use crate::subset::{self, Flags};
use serde::{Deserialize, Serialize};

/// Tolerance on the budget, in pixel units (float rounding of x + eps*sign).
pub const TOLERANCE: f32 = 1e-6;

/// A threat model and its size: the rules of the game.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Norm of the perturbation.
    pub norm: Norm,
    /// Largest distance allowed, in pixel units.
    pub eps: f64,
    /// Whether images must stay inside the model's valid input range.
    pub clip: ClipMode,
}

/// Who set the budget a set was checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BudgetSource {
    /// The referee (`eval --adv SET --eps E`).
    Referee,
    /// The set's own metadata (no referee budget was given).
    DeclaredByAttacker,
}

impl BudgetSource {
    /// The words reports use.
    pub fn words(self) -> &'static str {
        match self {
            BudgetSource::Referee => "budget set by the referee",
            BudgetSource::DeclaredByAttacker => "budget as declared by the attacker",
        }
    }
}

/// The clean test images a set is judged against.
#[derive(Clone, Copy, Debug)]
pub struct TestImages<'a> {
    /// Flattened images.
    pub x: &'a [f32],
    /// Labels.
    pub y: &'a [u8],
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Dataset name ("mnist").
    pub dataset: &'a str,
}

/// How the judge is asked to score a set.
#[derive(Clone, Debug)]
pub struct Request {
    /// The referee's budget; `None` uses the one the set declares.
    pub referee: Option<Budget>,
    /// Test index of the set's first image (`--offset`); `None` = as declared, else 0.
    pub offset: Option<usize>,
    /// Score only the set's first N images (`--subset`).
    pub subset: Option<usize>,
    /// Images per scoring batch.
    pub batch: usize,
}

/// The judge's verdict on a set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    /// The budget every image was verified against.
    pub budget: Budget,
    /// Who set it.
    pub budget_source: BudgetSource,
    /// What the set declares about itself (`None`: made by another tool).
    pub declared: Option<AdvMeta>,
    /// Made on another model than the one judged (or provenance unknown).
    pub transfer: bool,
    /// SHA-256 of the judged model file.
    pub model_sha256: String,
    /// SHA-256 of the model the set says it was made on.
    pub set_model_sha256: Option<String>,
    /// Test index of the first scored image.
    pub offset: usize,
    /// Images scored.
    pub n: usize,
    /// The clean row (eps 0) and the adversarial row (eps = the budget's).
    pub rows: Vec<Row>,
}

/// Refuses a declared budget that is looser than the referee's, before any image is checked.
fn check_declared(declared: &AdvMeta, referee: &Budget) -> Result<()> {
    if declared.norm != referee.norm {
        return Err(Error::Judge(format!(
            "the set declares the {} threat model but the referee's budget is {}; refused",
            declared.norm.name(),
            referee.norm.name()
        )));
    }
    if declared.eps > referee.eps {
        return Err(Error::Judge(format!(
            "the set declares eps {} but the referee's budget is eps {}; refused before checking any image",
            declared.eps, referee.eps
        )));
    }
    if declared.clip == ClipMode::Unclipped && referee.clip == ClipMode::Clipped {
        return Err(Error::Judge(
            "the set declares unclipped images but the referee's budget requires clipped ones \
             (pass --no-clip to allow pixels outside [0, 1]); refused before checking any image"
                .into(),
        ));
    }
    Ok(())
}

/// Verifies a supplied adversarial set against the clean test images and the budget, then
/// scores it. `model_sha256` is the judged model file's hash (for the transfer label).
pub fn judge_set(
    model: &dyn Classifier,
    model_sha256: &str,
    set: &AdvSet,
    test: &TestImages<'_>,
    req: &Request,
) -> Result<Verdict> {
    let declared = set.meta.as_ref();
    let (budget, budget_source) = match (req.referee, declared) {
        (Some(b), Some(d)) => {
            check_declared(d, &b)?;
            (b, BudgetSource::Referee)
        }
        (Some(b), None) => (b, BudgetSource::Referee),
        (None, Some(d)) => (Budget { norm: d.norm, eps: d.eps, clip: d.clip }, BudgetSource::DeclaredByAttacker),
        (None, None) => {
            return Err(Error::Judge(
                "the set has no redblue metadata, so it declares no budget: pass --eps (the referee's budget) \
                 and --offset (the test index of its first image, default 0)"
                    .into(),
            ))
        }
    };
    check_eps("--eps", budget.eps, budget.norm.max_eps(test.rows * test.cols))?;
    if let Some(d) = declared {
        if d.dataset != test.dataset {
            return Err(Error::Judge(format!("the set was made on {} but the data is {}", d.dataset, test.dataset)));
        }
    }
    if (set.rows, set.cols) != (test.rows, test.cols) {
        return Err(Error::Judge(format!(
            "the set's images are {}x{}, the test images {}x{}",
            set.rows, set.cols, test.rows, test.cols
        )));
    }
    if let Some(i) = set.labels.iter().position(|&l| usize::from(l) >= model.num_classes()) {
        return Err(Error::Judge(format!(
            "label {} of the set's image {i} is not one of the model's {} classes",
            set.labels[i],
            model.num_classes()
        )));
    }
    let offset = match (req.offset, declared) {
        (Some(o), Some(d)) if o != d.offset => {
            return Err(Error::Judge(format!(
                "--offset {o} disagrees with the set, which says its first image is test image {}",
                d.offset
            )))
        }
        (Some(o), _) => o,
        (None, Some(d)) => d.offset,
        (None, None) => 0,
    };
    let n =
        subset::range(set.len(), 0, req.subset, Flags { offset: "", count: "--subset", of: "adversarial set" })?.len();
    let dim = test.rows * test.cols;
    let total = test.y.len();
    let r = subset::range(
        total,
        offset,
        Some(n),
        Flags { offset: "--offset", count: "the set's image count", of: "test set" },
    )
    .map_err(|_| {
        Error::Judge(format!(
            "the set covers test images {offset}..{} but the test set has {total}",
            offset as u128 + n as u128
        ))
    })?;
    let (x, y) = (&test.x[r.start * dim..r.end * dim], &test.y[r.clone()]);
    if let Some(i) = set.labels[..n].iter().zip(y).position(|(a, b)| a != b) {
        return Err(Error::Judge(format!(
            "label of test image {} is {} in the set but {} in the test set (wrong --offset?)",
            offset + i,
            set.labels[i],
            y[i]
        )));
    }
    let adv = &set.images[..n * dim];
    verify_budget(x, adv, dim, budget.eps as f32, budget.norm, budget.clip, model.bounds())?;
    let rows = vec![evaluate(model, x, y, req.batch)?, score(model, adv, y, budget.eps, req.batch)?];
    let set_model_sha256 = declared.map(|d| d.model_sha256.clone());
    Ok(Verdict {
        budget,
        budget_source,
        declared: declared.cloned(),
        transfer: set_model_sha256.as_deref() != Some(model_sha256),
        model_sha256: model_sha256.to_string(),
        set_model_sha256,
        offset,
        n,
        rows,
    })
}

/// Checks every adversarial image against its clean image: finite, within `eps` in `norm`
/// (plus [`TOLERANCE`]), and inside `bounds` when `clip` asks for it.
pub fn verify_budget(
    clean: &[f32],
    adv: &[f32],
    dim: usize,
    eps: f32,
    norm: Norm,
    clip: ClipMode,
    bounds: (f32, f32),
) -> Result<()> {
    if clean.len() != adv.len() || dim == 0 || clean.len() % dim != 0 {
        return Err(Error::Shape {
            what: "adversarial vs clean images".into(),
            expected: format!("{} values", clean.len()),
            found: format!("{} values", adv.len()),
        });
    }
    let mut bad = Vec::new();
    let mut non_finite = 0;
    let mut worst = 0.0f32;
    for (i, (c, a)) in clean.chunks_exact(dim).zip(adv.chunks_exact(dim)).enumerate() {
        if a.iter().any(|v| !v.is_finite()) {
            non_finite += 1;
            bad.push(i);
            continue;
        }
        let mut excess = norm.distance(c, a) - eps;
        if clip == ClipMode::Clipped {
            for &v in a {
                excess = excess.max(bounds.0 - v).max(v - bounds.1);
            }
        }
        if excess > TOLERANCE {
            bad.push(i);
            worst = worst.max(excess);
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    let bounds_rule = match clip {
        ClipMode::Clipped => format!(" and inside [{}, {}]", bounds.0, bounds.1),
        ClipMode::Unclipped => String::new(),
    };
    Err(Error::Budget {
        count: bad.len(),
        total: clean.len() / dim,
        rule: format!("{} distance <= {eps} + {TOLERANCE}{bounds_rule}, finite pixels", norm.name()),
        non_finite,
        first: bad.into_iter().take(10).collect(),
        worst,
    })
}
