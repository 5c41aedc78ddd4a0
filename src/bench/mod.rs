//! The benchmark harness (issue 4): the machine's GEMM peak and the timed workloads
//! W1 (one training epoch), W2 (FGSM sweep over the test set), W3 (PGD-40 over 1k images).
//!
//! Library code returns figures; `redblue bench` prints them. Timings are medians of several
//! runs after a warm-up; compare numbers only within one quiet run of the machine.

pub mod flops;
pub mod peak;
pub mod workloads;

use serde::{Deserialize, Serialize};

/// Figures for one workload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkloadResult {
    /// "w1", "w2", "w3", "w5".
    pub name: String,
    /// What it does.
    pub description: String,
    /// Wall seconds of each timed run (after one warm-up run).
    pub runs: Vec<f64>,
    /// Median of `runs`.
    pub median_s: f64,
    /// Images processed per run.
    pub samples: usize,
    /// samples / median_s.
    pub samples_per_s: f64,
    /// GEMM work per run in GFLOP (matrix products only).
    pub gflop: f64,
    /// gflop / median_s.
    pub gflops: f64,
    /// Peak resident memory of the process in MiB (Linux), if known.
    pub peak_rss_mib: Option<f64>,
}

/// Median of some timings.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// Peak resident set size of this process in MiB (VmHWM from /proc/self/status).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Times `run` once as a warm-up, then `runs` times.
pub fn time_runs(runs: usize, mut run: impl FnMut() -> crate::Result<()>) -> crate::Result<Vec<f64>> {
    run()?;
    let mut out = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = std::time::Instant::now();
        run()?;
        out.push(t.elapsed().as_secs_f64());
    }
    Ok(out)
}
