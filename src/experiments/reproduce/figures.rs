//! The reproduction's figures: Figure 1 (the first '7' under FGSM) and robustness curves.

use super::evaluate::EvalSet;
use super::plan::Curves;
use crate::attack::{gradient::logits_host, Attack, ClipMode, Goal, Pgd};
use crate::error::{Error, Result};
use crate::eval::metrics::Accumulator;
use crate::figure::{ImageGrid, LinePlot, Series, Tile, PALETTE};
use crate::model::{Classifier, Model};

/// Budgets shown in Figure 1.
pub const FIGURE1_EPS: [f64; 5] = [0.0, 0.05, 0.075, 0.10, 0.25];

/// Figure 1 as PNG bytes plus each tile's caption (row-major), for the report.
pub struct Figure1 {
    /// PNG bytes.
    pub png: Vec<u8>,
    /// `(row label, captions)` per row.
    pub captions: Vec<(String, Vec<String>)>,
}

/// Renders Figure 1: for each model and clip mode, the first '7' of the evaluation set
/// attacked by FGSM at each eps of [`FIGURE1_EPS`], captioned with prediction and confidence.
pub fn figure1(models: &[(String, Model)], set: &EvalSet<'_>) -> Result<Figure1> {
    let idx = set
        .y
        .iter()
        .position(|&y| y == 7)
        .ok_or_else(|| Error::param("test set", "no digit 7", "Figure 1 needs a '7' in the evaluation set"))?;
    let d = set.dim;
    let x = &set.x[idx * d..(idx + 1) * d];
    let side = (d as f64).sqrt() as usize;
    let eps: Vec<f32> = FIGURE1_EPS.iter().map(|&e| e as f32).collect();
    let (mut rows, mut labels, mut captions) = (Vec::new(), Vec::new(), Vec::new());
    for (name, model) in models {
        for clip in [ClipMode::Clipped, ClipMode::Unclipped] {
            let mut rng = rand::rngs::mock::StepRng::new(0, 0);
            let advs = Pgd::fgsm().run_multi(model, x, Goal::Untargeted(&[7]), &eps, clip, &mut rng);
            let mut tiles = Vec::new();
            let mut caps = Vec::new();
            for adv in advs {
                let logits = logits_host(model, &adv, 1);
                let mut acc = Accumulator::default();
                acc.add(&logits, &[7], model.num_classes())?;
                let pred = crate::attack::pgd::argmax(&logits);
                let caption = format!("pred {pred} ({:.2})", acc.finish(0.0).confidence);
                caps.push(caption.clone());
                tiles.push(Tile { pixels: adv, width: side, height: side, caption });
            }
            let label = match clip {
                ClipMode::Clipped => format!("{name}\nclipped"),
                ClipMode::Unclipped => format!("{name}\nunclipped\n(shown clamped)"),
            };
            captions.push((label.replace('\n', " "), caps));
            labels.push(label);
            rows.push(tiles);
        }
    }
    let grid = ImageGrid {
        title: format!("Figure 1: FGSM on the first '7' of the test set (index {idx})"),
        row_labels: labels,
        col_labels: FIGURE1_EPS.iter().map(|e| format!("eps {e}")).collect(),
        rows,
        upscale: 4,
    };
    Ok(Figure1 { png: grid.render()?.to_png()?, captions })
}

/// Renders accuracy vs eps: one colour per model, FGSM solid, PGD dashed.
pub fn curves_png(curves: &[Curves]) -> Result<Vec<u8>> {
    let max_eps = curves.iter().flat_map(|c| c.fgsm.iter().map(|r| r.eps)).fold(0.0, f64::max).max(0.05);
    let n = curves.first().and_then(|c| c.fgsm.first()).map_or(0, |r| r.n);
    let mut series = Vec::new();
    for (k, c) in curves.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let pts = |rows: &[crate::eval::Row]| rows.iter().map(|r| (r.eps, r.accuracy)).collect();
        series.push(Series { name: format!("{} FGSM", c.label), points: pts(&c.fgsm), color, dashed: false });
        series.push(Series { name: format!("{} PGD", c.label), points: pts(&c.pgd), color, dashed: true });
    }
    let plot = LinePlot {
        title: format!("Accuracy vs L-inf eps on {n} test images: FGSM solid, PGD dashed"),
        x_label: "epsilon (pixel units, images in [0, 1])".into(),
        y_label: "accuracy".into(),
        x_range: (0.0, max_eps),
        y_range: (0.0, 1.0),
        series,
        width: 1100,
        height: 600,
    };
    Ok(plot.render()?.to_png()?)
}
