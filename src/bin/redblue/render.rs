//! Rendering of result rows for people (Markdown tables).

use redblue::eval::Row;

/// A Markdown table of evaluation rows.
pub fn rows_table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| eps | n | accuracy | confidence | true-class prob | loss |\n|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s += &format!(
            "| {} | {} | {:.4} | {:.4} | {:.4} | {:.4} |\n",
            r.eps, r.n, r.accuracy, r.confidence, r.true_class_prob, r.loss
        );
    }
    s
}
