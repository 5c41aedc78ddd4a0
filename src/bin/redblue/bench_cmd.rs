//! `redblue bench`: runs each workload in its own process (so peak RSS is per workload) and
//! prints one table with throughput, GFLOP/s and share of the measured GEMM peak.

use crate::args::{BenchArgs, Workload};
use crate::load_data;
use crate::rules::Given;
use anyhow::{bail, Context, Result};
use redblue::bench::{peak, workloads, WorkloadResult};
use redblue::model::file as model_file;
use serde::{Deserialize, Serialize};
use std::process::Command;

/// The measured GEMM peak.
#[derive(Serialize, Deserialize)]
struct Peak {
    one_thread_gflops: f64,
    two_thread_gflops: f64,
}

fn run_one(a: &BenchArgs) -> Result<serde_json::Value> {
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if a.workload == Workload::Peak {
        let p = Peak {
            one_thread_gflops: peak::gemm_peak_gflops(1024, a.runs.max(3), 1),
            two_thread_gflops: peak::gemm_peak_gflops(1024, a.runs.max(3), 2),
        };
        return Ok(serde_json::to_value(p)?);
    }
    let d = load_data(&a.data)?;
    let r: WorkloadResult = match a.workload {
        Workload::W1 => workloads::w1(&d.train.images, &d.train.labels, a.runs)?,
        Workload::W4 => workloads::w4(&d.train.images, &d.train.labels, (d.train.rows, d.train.cols), a.runs)?,
        Workload::W2 | Workload::W3 | Workload::W10 | Workload::W11 | Workload::W12 => {
            let model = match &a.model {
                Some(p) => model_file::load(p)?.0,
                None => {
                    let cfg = redblue::train::TrainConfig { epochs: 1, ..Default::default() };
                    redblue::train::train(&d.train.images, &d.train.labels, &cfg, &mut |_| {})?.0
                }
            };
            let (x, y) = (&d.test.images, &d.test.labels);
            match a.workload {
                Workload::W2 => workloads::w2(&model, x, y, a.runs)?,
                Workload::W10 => workloads::certify(&model, x, y, a.runs, redblue::certify::Method::Ibp)?,
                Workload::W11 => workloads::certify(&model, x, y, a.runs, redblue::certify::Method::Crown)?,
                Workload::W12 => {
                    let n = 1000.min(d.test.n);
                    let x = &x[..n * d.test.image_len()];
                    workloads::certify(&model, x, &y[..n], a.runs, redblue::certify::Method::AlphaCrown)?
                }
                _ => {
                    let n = 1000.min(d.test.n);
                    workloads::w3(&model, &x[..n * d.test.image_len()], &y[..n], a.runs)?
                }
            }
        }
        Workload::W5 => {
            let dir = std::env::temp_dir().join(format!("redblue-bench-w5-{}", std::process::id()));
            let exe = std::env::current_exe().context("locating the redblue binary")?;
            let t = std::time::Instant::now();
            let status = Command::new(exe).arg("reproduce").arg("--out").arg(&dir).arg("--json").output()?;
            let secs = t.elapsed().as_secs_f64();
            let _ = std::fs::remove_dir_all(&dir);
            if !status.status.success() {
                bail!("reproduce failed: {}", String::from_utf8_lossy(&status.stderr));
            }
            WorkloadResult {
                name: "w5".into(),
                description: "full default reproduce run (wall time)".into(),
                runs: vec![secs],
                median_s: secs,
                samples: 0,
                samples_per_s: 0.0,
                gflop: 0.0,
                gflops: 0.0,
                peak_rss_mib: None,
            }
        }
        Workload::All | Workload::Peak => unreachable!("handled above"),
    };
    Ok(serde_json::to_value(r)?)
}

fn child(a: &BenchArgs, w: &str) -> Result<serde_json::Value> {
    let exe = std::env::current_exe().context("locating the redblue binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["bench", "--json", "--workload", w, "--runs", &a.runs.to_string()]);
    if let Some(m) = &a.model {
        cmd.arg("--model").arg(m);
    }
    // Every data flag the user typed reaches the child, so none is silently dropped.
    let d = &a.data;
    if let Some(dir) = &d.data_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    if let Some(dir) = &d.cache_dir {
        cmd.arg("--cache-dir").arg(dir);
    }
    for m in &d.mirror {
        cmd.arg("--mirror").arg(m);
    }
    for (on, flag) in [(d.no_download, "--no-download"), (d.no_npm, "--no-npm"), (d.no_verify, "--no-verify")] {
        if on {
            cmd.arg(flag);
        }
    }
    if d.dataset == crate::args::DatasetArg::FashionMnist {
        cmd.args(["--dataset", "fashion-mnist"]);
    }
    let out = cmd.output().with_context(|| format!("running bench {w}"))?;
    if !out.status.success() {
        bail!("bench {w} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub fn cmd_bench(a: BenchArgs, g: &Given<'_>) -> Result<()> {
    crate::check_data_flags(&a.data, g)?;
    match a.workload {
        Workload::Peak | Workload::W1 | Workload::W4 | Workload::W5 => {
            g.refuse(&["model"], "with this --workload (only w2, w3, w10, w11 and w12 take a model)")?
        }
        Workload::All | Workload::W2 | Workload::W3 | Workload::W10 | Workload::W11 | Workload::W12 => {}
    }
    if a.workload == Workload::W5 {
        g.refuse(&["runs"], "with --workload w5 (one full reproduction, timed once)")?;
    }
    if a.workload != Workload::All {
        // A single workload (also how the parent runs its children) always prints JSON.
        println!("{}", serde_json::to_string_pretty(&run_one(&a)?)?);
        return Ok(());
    }
    let p: Peak = serde_json::from_value(child(&a, "peak")?)?;
    let mut rows: Vec<WorkloadResult> = Vec::new();
    for w in ["w1", "w2", "w3", "w4", "w10", "w11", "w12"] {
        eprintln!("running {w} ({} timed runs)...", a.runs);
        rows.push(serde_json::from_value(child(&a, w)?)?);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"peak": p, "workloads": rows}))?);
        return Ok(());
    }
    println!(
        "GEMM peak (f32, 1024^3, gemm crate): {:.1} GFLOP/s on 1 thread, {:.1} on 2 threads\n",
        p.one_thread_gflops, p.two_thread_gflops
    );
    println!(
        "| workload | median s | runs | samples/s | GFLOP/s | % of 1-thread peak | % of 2-thread peak | peak RSS MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} ({}) | {:.3} | {} | {:.0} | {:.1} | {:.0}% | {:.0}% | {:.0} |",
            r.name,
            r.description,
            r.median_s,
            r.runs.len(),
            r.samples_per_s,
            r.gflops,
            100.0 * r.gflops / p.one_thread_gflops,
            100.0 * r.gflops / p.two_thread_gflops,
            r.peak_rss_mib.unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
