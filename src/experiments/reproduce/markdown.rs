//! Renders the reproduction [`Report`] as Markdown, table by table next to the paper.

use super::analysis::{Cell, GridRow, Report, RobustRow, Stat};
use crate::attack::ClipMode;
use std::fmt::Write;

fn stat(s: &Stat) -> String {
    if s.n > 1 {
        format!("{:.4} ± {:.4}", s.mean, s.std)
    } else {
        format!("{:.4}", s.mean)
    }
}

/// Robust accuracy as `[verified, attacked]`, or the attacked value alone without a bound.
fn interval(verified: &Stat, attacked: &Stat) -> String {
    if verified.n == 0 {
        stat(attacked)
    } else {
        format!("[{}, {}]", stat(verified), stat(attacked))
    }
}

fn cell(c: &Cell) -> String {
    match (c.paper, c.diff) {
        (Some(p), Some(d)) => format!("{p} / {} ({d:+.3})", stat(&c.ours)),
        _ => format!("– / {}", stat(&c.ours)),
    }
}

fn grid_table(out: &mut String, rows: &[&GridRow], clip: ClipMode) {
    out.push_str(
        "| l1 | l2 | test acc | test conf | adv acc ε=0.10 | adv conf ε=0.10 | adv acc ε=0.25 | adv conf ε=0.25 |\n",
    );
    out.push_str("|---:|---:|---|---|---|---|---|---|\n");
    for r in rows {
        let adv = |eps: f64, conf: bool| {
            r.adv
                .iter()
                .find(|a| a.eps == eps && a.clip == clip)
                .map_or("–".into(), |a| cell(if conf { &a.confidence } else { &a.accuracy }))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.l1,
            r.l2,
            cell(&r.test_accuracy),
            cell(&r.test_confidence),
            adv(0.10, false),
            adv(0.10, true),
            adv(0.25, false),
            adv(0.25, true)
        );
    }
    out.push('\n');
}

/// Every model's verified accuracy at the verify budgets.
fn verified_table(out: &mut String, rows: &[&RobustRow]) {
    let Some(first) = rows.first() else { return };
    out.push_str("| model | clean acc |");
    for (e, _) in &first.verified {
        if *e == 0.0 {
            out.push_str(" clean acc (these images) |");
        } else {
            let _ = write!(out, " verified ε={e} |");
        }
    }
    out.push('\n');
    out.push_str(&"|---".repeat(2 + first.verified.len()));
    out.push_str("|\n");
    let mut seen: Vec<&str> = Vec::new();
    for r in rows {
        // The undefended model is in both tables it is drawn from.
        if seen.contains(&r.group.as_str()) {
            continue;
        }
        seen.push(&r.group);
        let _ = write!(out, "| {} | {} |", r.group, stat(&r.clean_accuracy));
        for (_, s) in &r.verified {
            let _ = write!(out, " {} |", stat(s));
        }
        out.push('\n');
    }
    out.push('\n');
}

fn robust_table(out: &mut String, rows: &[RobustRow], fgsm_eps: &[f64]) {
    out.push_str("| model | clean acc |");
    for e in fgsm_eps {
        let _ = write!(out, " FGSM ε={e} |");
    }
    if let Some(r) = rows.first() {
        for m in &r.pgd {
            let _ = write!(out, " FGSM / [verified, PGD] ε={} |", m.eps);
        }
        for (e, _) in &r.auto {
            let _ = write!(out, " [verified, auto] ε={e} |");
        }
    }
    out.push('\n');
    let cols = rows.first().map_or(0, |r| r.pgd.len() + r.auto.len());
    out.push_str(&"|---".repeat(2 + fgsm_eps.len() + cols));
    out.push_str("|\n");
    for r in rows {
        let _ = write!(out, "| {} | {} |", r.group, stat(&r.clean_accuracy));
        for (_, s) in &r.fgsm {
            let _ = write!(out, " {} |", stat(s));
        }
        for m in &r.pgd {
            let flag = if m.flagged { " ⚠ FGSM only" } else { "" };
            let _ = write!(out, " {} / {}{flag} |", stat(&m.fgsm), interval(&m.verified, &m.pgd));
        }
        for (k, (_, s)) in r.auto.iter().enumerate() {
            let v = r.auto_verified.get(k).map_or(Stat::default(), |(_, v)| *v);
            let _ = write!(out, " {} |", if s.n == 0 { "–".to_string() } else { interval(&v, s) });
        }
        out.push('\n');
    }
    out.push('\n');
}

/// FGSM with exact gradient signs next to the frameworks' float32 gradient, and which the
/// paper's numbers match.
fn gradient_section(o: &mut String, r: &Report) {
    o.push_str("## FGSM's gradient: exact signs vs float32\n\n");
    o.push_str(
        "FGSM uses only the sign of the input gradient. In float32, as deep-learning frameworks compute it, \
         a confidently classified image's true-class probability rounds to 1, so `softmax - onehot` loses that \
         class's term and the backward sums cancel: some pixels get the wrong sign. redblue's default takes the \
         stable form (`p_y - 1 = -sum_{j != y} p_j`) and float64 backward products (**exact**); **float32** is the \
         frameworks' computation. Every table below uses exact signs; both are in `report.json`.\n\n",
    );
    for g in &r.gradient_closeness {
        let _ = writeln!(
            o,
            "- {}: mean |ours − paper| over {} cells of Tables 1-2 is {:.4} with exact signs and {:.4} with \
             float32, so **{}** lies closer to the paper.",
            g.clip.name(),
            g.cells,
            g.exact_mae,
            g.float32_mae,
            g.closer
        );
    }
    o.push_str("\n| l1 | l2 | FGSM | ε | paper acc | exact acc | float32 acc |\n|---:|---:|---|---:|---:|---:|---:|\n");
    let rows = r.table1.iter().chain(&r.table2).chain(&r.other_grid_rows);
    for row in rows {
        for (a, b) in row.adv.iter().zip(&row.adv_float32) {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                row.l1,
                row.l2,
                a.clip.name(),
                a.eps,
                a.accuracy.paper.map_or("–".to_string(), |p| p.to_string()),
                stat(&a.accuracy.ours),
                stat(&b.accuracy.ours)
            );
        }
    }
    o.push('\n');
}

/// The full Markdown report.
pub fn render(r: &Report) -> String {
    let c = &r.config;
    let mut o = String::new();
    let _ = writeln!(o, "# Reproduction of \"Adversarial Machine Learning: The Attacks and the Defenses\"\n");
    let _ = writeln!(
        o,
        "{} on {} ({}{}), {} seed(s) {:?}, {} epochs, batch {}, RMSProp lr {}, {}, wall time {:.1} s with {} \
         job(s). Every cell is `paper / ours (ours − paper)`; with several seeds ours is `mean ± std`.\n",
        r.tool,
        r.data.dataset,
        r.data.source,
        if r.data.verified { ", SHA-256 verified" } else { ", UNVERIFIED" },
        r.seeds.len(),
        r.seeds,
        c.epochs,
        c.batch_size,
        c.lr,
        match &c.network {
            Some(net) => format!("**not the paper's model**: {}", net.summary()),
            None =>
                format!("MLP 784-{}-10 (dropout {}/{})", c.arch.hidden, c.arch.dropout_input, c.arch.dropout_hidden),
        },
        r.wall_seconds,
        r.jobs
    );
    if c.train_subset.is_some() || c.test_subset.is_some() {
        let all = |v: Option<usize>| v.map_or("all".to_string(), |n| n.to_string());
        let _ = writeln!(
            o,
            "**Shortened run**: {} training images, {} test images; numbers are not comparable to the paper's.\n",
            all(c.train_subset),
            all(c.test_subset)
        );
    }
    o.push_str("## Two ways to read the paper's FGSM\n\n");
    o.push_str(
        "The paper writes `X_adv = X + eps * sign(grad)` with no clipping, so pixels can leave [0, 1] \
                (background pixels at 0 become -eps, which a real image cannot hold). **Unclipped** follows the \
                equation as written; **clipped** projects back to valid images, the honest threat model. Both are \
                reported.\n\n",
    );
    let cl = &r.closeness;
    let _ = writeln!(
        o,
        "Measured: over {} adversarial cells of Tables 1-3, mean |ours − paper| is {:.4} clipped and {:.4} \
         unclipped, so the **{}** mode lies closer to the paper's numbers.\n",
        cl.cells,
        cl.clipped_mae,
        cl.unclipped_mae,
        cl.closer.name()
    );
    gradient_section(&mut o, r);
    for clip in [ClipMode::Unclipped, ClipMode::Clipped] {
        let _ = writeln!(o, "## Tables 1 and 2 (FGSM {})\n", clip.name());
        let mut rows: Vec<&GridRow> = r.table1.iter().collect();
        rows.extend(&r.table2);
        rows.extend(&r.other_grid_rows);
        grid_table(&mut o, &rows, clip);
    }
    let s = &r.selection;
    let _ = writeln!(o, "## Selection rule\n\nRule: {}.\n", s.rule);
    for ((l1, l2), v) in &s.candidates {
        let _ = writeln!(o, "- l1={l1}, l2={l2}: {v:.4}");
    }
    let _ = writeln!(
        o,
        "\n**Chosen: l1={}, l2={}** (paper chose l1={}, l2={}; scored with unclipped FGSM the rule picks l1={}, l2={}).\n",
        s.chosen.0, s.chosen.1, s.paper_choice.0, s.paper_choice.1, s.chosen_unclipped.0, s.chosen_unclipped.1
    );
    o.push_str("## Table 3 (eps 0.05 and 0.075, chosen pair vs no regularization)\n\n");
    o.push_str(
        "| FGSM | ε | acc with reg | conf with reg | acc without | conf without |\n|---|---:|---|---|---|---|\n",
    );
    for t in &r.table3 {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            t.clip.name(),
            t.eps,
            cell(&t.with_reg_accuracy),
            cell(&t.with_reg_confidence),
            cell(&t.without_reg_accuracy),
            cell(&t.without_reg_confidence)
        );
    }
    let pgd_n = c.pgd_subset.map_or("all".to_string(), |n| n.to_string());
    let auto_n = c.auto_subset.map_or("all".to_string(), |n| n.to_string());
    let _ = writeln!(
        o,
        "\n## Adversarial training (FGSM mix, weight {})\n\nAccuracy, clipped. PGD: L-inf, {} steps of \
         2.5·ε/{}, random start, {} restart(s), on {} test images; FGSM shown on the same images for comparison. \
         auto: AutoAttack's standard sequence (APGD-CE, APGD-T, FAB-T, Square 5000 queries; per-example worst \
         case) on the first {} test images.\n",
        c.adv_weight, c.pgd_steps, c.pgd_steps, c.pgd_restarts, pgd_n, auto_n
    );
    robust_table(&mut o, &r.adv_training, &c.fgsm_eps);
    let _ = writeln!(
        o,
        "## FGSM vs PGD on every grid model\n\nA model whose FGSM accuracy exceeds its PGD accuracy by more than \
         {:.0} points is flagged \"robust to FGSM only (gradient masking suspected)\" (⚠).\n",
        c.masking_gap * 100.0
    );
    robust_table(&mut o, &r.grid_robustness, &c.fgsm_eps);
    let mut flagged: Vec<&str> = Vec::new();
    for x in r.grid_robustness.iter().chain(&r.adv_training) {
        if x.pgd.iter().any(|m| m.flagged) && !flagged.contains(&x.group.as_str()) {
            flagged.push(&x.group);
        }
    }
    let _ = writeln!(o, "Flagged: {}.\n", if flagged.is_empty() { "none".to_string() } else { flagged.join(", ") });
    let test_n = match (c.verify_subset, c.test_subset) {
        (Some(v), Some(t)) => format!("first {}", v.min(t)),
        (Some(v), None) => format!("first {v}"),
        (None, t) => t.map_or("all".to_string(), |n| n.to_string()),
    };
    let _ = writeln!(
        o,
        "## Certified robustness (the blue team's proven floor)\n\nAn attack that fails proves nothing; a bound \
         does. Verified accuracy: the share of the {test_n} evaluation images for which CROWN (Zhang et al. 2018; \
         sound in floating point, each image clearing its own f32 rounding bound) proves that no image in the \
         clipped L-inf ball changes the prediction from the true label. True robust accuracy lies in \
         [verified, attacked]; the PGD and auto cells above show both ends on their own images. `redblue \
         certify --method exact` closes the interval per image.\n"
    );
    let all: Vec<&RobustRow> = r.adv_training.iter().chain(&r.grid_robustness).collect();
    verified_table(&mut o, &all);
    o.push_str("## Claims\n\n| claim | verdict | evidence |\n|---|---|---|\n");
    for cl in &r.claims {
        let _ = writeln!(o, "| {} | **{}** | {} |", cl.claim, cl.verdict.text(), cl.evidence);
    }
    o.push_str("\n## Figures\n\n![Figure 1](figure1.png)\n\n");
    for (label, caps) in &r.figure1 {
        let _ = writeln!(o, "- {label}: {}", caps.join(", "));
    }
    o.push_str("\n![Robustness curves](curves.png)\n\n## Wall time per phase\n\n");
    for (phase, secs) in &r.timings {
        let _ = writeln!(o, "- {phase}: {secs:.1} s");
    }
    let _ = writeln!(
        o,
        "- total: {:.1} s\n\nThe full configuration, every model's rows and the data hashes are in `report.json`.",
        r.wall_seconds
    );
    o
}
