//! Rendering of result rows for people (Markdown tables).

use redblue::eval::Row;
use redblue::experiments::reproduce::Report;

/// An eps as people read it: `0` for either zero, `1e-7` style for tiny values.
pub fn eps(e: f64) -> String {
    if e == 0.0 {
        "0".into()
    } else if e.abs() < 1e-4 {
        format!("{e:e}")
    } else {
        format!("{e}")
    }
}

/// A Markdown table of evaluation rows (with a target hit rate column for targeted attacks,
/// and robust accuracy as `[verified, attacked]` where a bound was computed).
pub fn rows_table(rows: &[Row]) -> String {
    let hits = rows.iter().any(|r| r.target_hits.is_some());
    let verified = rows.iter().any(|r| r.verified.is_some());
    let mut s = String::from("| eps | n | accuracy | confidence | true-class prob | loss |");
    let mut rule = String::from("|---:|---:|---:|---:|---:|---:|");
    if hits {
        s += " target hit rate |";
        rule += "---:|";
    }
    if verified {
        s += " verified | robust accuracy |";
        rule += "---:|---|";
    }
    s += &format!("\n{rule}\n");
    for r in rows {
        s += &format!(
            "| {} | {} | {:.4} | {:.4} | {:.4} | {:.4} |",
            eps(r.eps),
            r.n,
            r.accuracy,
            r.confidence,
            r.true_class_prob,
            r.loss
        );
        if hits {
            s += &r.target_hits.map_or(" – |".into(), |h| format!(" {h:.4} |"));
        }
        if verified {
            s += &r.verified.map_or(" – | – |".into(), |v| format!(" {v:.4} | [{v:.4}, {:.4}] |", r.accuracy));
        }
        s += "\n";
    }
    s
}

/// The final summary of `reproduce`: headline table, selection, claims, wall time.
pub fn reproduce_summary(r: &Report) -> String {
    let mut s = String::from("| model | clean acc | FGSM acc ε=0.10 (clipped / unclipped) | FGSM acc ε=0.25 (clipped / unclipped) |\n|---|---:|---:|---:|\n");
    for row in r.table1.iter().chain(&r.table2).chain(&r.other_grid_rows) {
        let acc = |eps: f64, clip: &str| {
            row.adv.iter().find(|a| a.eps == eps && a.clip.name() == clip).map_or(f64::NAN, |a| a.accuracy.ours.mean)
        };
        s += &format!(
            "| l1={} l2={} | {:.4} | {:.4} / {:.4} | {:.4} / {:.4} |\n",
            row.l1,
            row.l2,
            row.test_accuracy.ours.mean,
            acc(0.10, "clipped"),
            acc(0.10, "unclipped"),
            acc(0.25, "clipped"),
            acc(0.25, "unclipped")
        );
    }
    s += &format!(
        "\nchosen: l1={} l2={} (paper: l1={} l2={}); closer FGSM mode to the paper: {}\n\n",
        r.selection.chosen.0,
        r.selection.chosen.1,
        r.selection.paper_choice.0,
        r.selection.paper_choice.1,
        r.closeness.closer.name()
    );
    for c in &r.claims {
        s += &format!("[{}] {}\n", c.verdict.text(), c.claim);
    }
    s += &format!("\nwall time: {:.1} s", r.wall_seconds);
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn eps_prints_normally() {
        assert_eq!(super::eps(-0.0), "0");
        assert_eq!(super::eps(1e-9), "1e-9");
        assert_eq!(super::eps(0.075), "0.075");
    }
}
