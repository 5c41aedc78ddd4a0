//! `redblue certify`: the certified judge from the command line.

use crate::args::{CertifyArgs, MethodArg};
use crate::rules::Given;
use crate::{
    check_batch, check_data_flags, check_fit, clip_of, load_any_model, load_data, make_attack, progress, render,
    scoring, select,
};
use anyhow::{bail, Result};
use redblue::certify::{self, Certification, CertifyConfig, Method};
use redblue::eval::SweepConfig;
use redblue::fsutil::Output;
use redblue::tensorfile::{f32_bytes, serialize, TensorBytes};
use std::collections::BTreeMap;
use std::path::Path;

/// Which file `--out` writes, from its extension.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OutKind {
    Json,
    Safetensors,
}

fn out_kind(p: &Path) -> Result<OutKind> {
    match p.extension().and_then(|e| e.to_str()) {
        Some("json") => Ok(OutKind::Json),
        Some("safetensors") => Ok(OutKind::Safetensors),
        _ => bail!("--out {}: the status file must end in .json or .safetensors", redblue::fsutil::show(p)),
    }
}

pub fn cmd_certify(a: CertifyArgs, g: &Given<'_>) -> Result<()> {
    check_data_flags(&a.data, g)?;
    check_batch(&a.subset)?;
    g.refuse(&["target"], "with certify (a certificate covers every wrong class)")?;
    let exact = a.method == MethodArg::Exact;
    if !exact {
        g.refuse(&["time_limit"], "without --method exact")?;
    }
    let norm = crate::norm_of(&a.opts);
    if exact {
        redblue::certify::judge::exact_supports(norm)?; // before the data is loaded
    }
    let eps = redblue::eval::sweep::eps_list(&a.eps, norm.max_eps(usize::MAX))?;
    let attack = make_attack(a.attack, &a.opts, g)?;
    let out = match &a.out {
        Some(p) => Some((out_kind(p)?, Output::reserve("--out", p, a.force, &[&a.model])?)),
        None => None,
    };
    let (model, info) = load_any_model(&a.model)?;
    if exact {
        certify::judge::exact_model(&model)?;
    }
    let method: Method = a.method.into();
    certify::model_supports(&model, method).map_err(|e| anyhow::anyhow!("--method {}: {e}", method.name()))?;
    let d = load_data(&a.data)?;
    check_fit(&model, &a.model, &d.test)?;
    let (x, y) = select(&d.test, &a.subset)?;
    let cfg = CertifyConfig {
        eps: eps.clone(),
        method,
        attack: SweepConfig {
            eps: eps.clone(),
            clip: clip_of(&a.opts),
            batch_size: a.subset.eval_batch,
            seed: a.opts.seed,
        },
        exact: exact.then_some(a.time_limit),
    };
    let method_name = if exact { "exact" } else { method.name() };
    let mut bar = progress::Bar::new(attack.name());
    let cert =
        scoring(certify::certify(&model, attack.as_ref(), x, y, &cfg, &mut |k, n| bar.update(k, n, "")), &a.model)?;
    bar.finish();
    let report = serde_json::json!({
        "model": a.model,
        "model_sha256": info.sha256,
        "dataset": d.dataset,
        "data_source": d.record,
        "data_verified": d.verified,
        "offset": a.subset.offset,
        "images": y.len(),
        "method": method_name,
        "time_limit": cfg.exact,
        "attack": attack.name(),
        "attack_params": attack.params(),
        "norm": norm.name(),
        "clip": cfg.attack.clip.name(),
        "seed": cfg.attack.seed,
        "eval_batch": cfg.attack.batch_size,
        "rows": cert.rows,
    });
    if let Some((kind, file)) = out {
        let bytes = match kind {
            OutKind::Json => {
                let mut r = report.clone();
                r["statuses"] = cert.statuses.iter().map(|s| s.iter().map(|v| v.name()).collect::<Vec<_>>()).collect();
                serde_json::to_vec_pretty(&r)?
            }
            OutKind::Safetensors => status_file(&cert, &eps, y, (d.test.rows, d.test.cols), &report)?,
        };
        file.commit(&bytes)?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} bounds, {} attack ({}), {} images from test image {}",
            method_name,
            attack.name(),
            cfg.attack.clip.name(),
            y.len(),
            a.subset.offset
        );
        print!("{}", table(&cert));
        for r in &cert.rows {
            if let Some(x) = &r.exact {
                let times = match (x.median_decided_seconds, x.max_decided_seconds) {
                    (Some(m), Some(mx)) => format!("; per decided image median {m:.2} s, max {mx:.2} s"),
                    _ => String::new(),
                };
                println!(
                    "eps {}: the complete verifier decided {} of {} unknown images ({} verified, {} falsified) in {:.1} s (limit {} s each){times}",
                    render::eps(r.eps),
                    x.verified + x.falsified,
                    x.tried,
                    x.verified,
                    x.falsified,
                    x.seconds,
                    x.time_limit
                );
            }
        }
    }
    Ok(())
}

/// The per-image statuses and counterexamples as safetensors, with the report as metadata.
fn status_file(
    cert: &Certification,
    eps: &[f64],
    y: &[u8],
    (rows, cols): (usize, usize),
    report: &serde_json::Value,
) -> Result<Vec<u8>> {
    let n = y.len();
    let codes: Vec<u8> = cert.statuses.iter().flatten().map(|s| s.code()).collect();
    let images: Vec<f32> = cert.counterexamples.concat();
    let images = f32_bytes(&images);
    let eps_bytes: Vec<u8> = eps.iter().flat_map(|e| e.to_le_bytes()).collect();
    let tensors = [
        TensorBytes { name: "status", dtype: "U8", shape: vec![eps.len(), n], data: &codes },
        TensorBytes { name: "counterexamples", dtype: "F32", shape: vec![eps.len(), n, rows, cols], data: &images },
        TensorBytes { name: "labels", dtype: "U8", shape: vec![n], data: y },
        TensorBytes { name: "eps", dtype: "F64", shape: vec![eps.len()], data: &eps_bytes },
    ];
    let mut meta = BTreeMap::new();
    meta.insert("redblue.certify".to_string(), serde_json::to_string(report)?);
    meta.insert("redblue.status_codes".to_string(), "0 unknown, 1 verified, 2 falsified".to_string());
    Ok(serialize(&tensors, &meta))
}

/// The verdicts as a Markdown table.
fn table(cert: &Certification) -> String {
    let mut s = String::from(
        "| eps | n | clean | verified | attacked | robust accuracy in | falsified | unknown | bounds s | attack s |\n\
         |---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|\n",
    );
    for r in &cert.rows {
        s += &format!(
            "| {} | {} | {:.4} | {:.4} | {:.4} | [{:.4}, {:.4}] | {} | {} | {:.2} | {:.2} |\n",
            render::eps(r.eps),
            r.images,
            r.clean_accuracy,
            r.verified_accuracy,
            r.attacked_accuracy,
            r.verified_accuracy,
            r.attacked_accuracy,
            r.falsified,
            r.unknown,
            r.bound_seconds,
            r.attack_seconds
        );
    }
    s
}
