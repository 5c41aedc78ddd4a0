//! `redblue import`: a PyTorch model (a `state_dict` saved with `safetensors.torch.save_file`)
//! and its architecture, or an ONNX file (`torch.onnx.export`), checked and written as a
//! redblue model file.

use crate::args::ImportArgs;
use crate::rules::Given;
use anyhow::{bail, Context, Result};
use redblue::fsutil::{show, Output};
use redblue::model::{file as model_file, onnx, Arch, Model};

/// The architecture `--arch` names: a built-in, or a JSON file holding one.
fn arch_of(a: &ImportArgs, g: &Given<'_>) -> Result<Arch> {
    let Some(name) = a.arch.as_deref() else {
        bail!(
            "{}: --arch is required for a state_dict (mlp, madry-cnn, small-cnn or an architecture file); \
             an ONNX file (named .onnx) carries its own",
            show(&a.input)
        );
    };
    if ["mlp", "madry-cnn", "small-cnn"].contains(&name) {
        if name != "mlp" {
            g.refuse(&["hidden"], &format!("with --arch {name} (it sets the MLP's widths)"))?;
        }
        let shape: [usize; 3] = a.input_shape.as_slice().try_into().map_err(|_| {
            redblue::Error::param("--input-shape", format!("{:?}", a.input_shape), "must be three numbers C,H,W")
        })?;
        return Ok(Arch::builtin(name, shape, a.classes, &a.hidden)?);
    }
    g.refuse(&["hidden", "input_shape", "classes"], "with an architecture file (the file sets them)")?;
    let p = std::path::Path::new(name);
    if !p.is_file() {
        bail!("--arch {}: neither a built-in (mlp, madry-cnn, small-cnn) nor an architecture file", show(p));
    }
    let text = redblue::fsutil::read(p)?;
    let arch: Arch = serde_json::from_slice(&text)
        .with_context(|| format!("--arch {}: not a valid architecture (JSON as `redblue.arch` holds it)", show(p)))?;
    arch.shapes()?;
    Ok(arch)
}

pub fn cmd_import(a: ImportArgs, g: &Given<'_>) -> Result<()> {
    if a.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        return import_onnx(&a, g);
    }
    let arch = arch_of(&a, g)?;
    let out = Output::reserve("--out", &a.out, a.force, &[&a.input])?;
    let bytes = redblue::fsutil::read(&a.input)?;
    let (model, warnings) = model_file::import_state_dict(&bytes, &a.input, arch)?;
    for w in &warnings {
        eprintln!("warning: {}: {w}", show(&a.input));
    }
    let meta = serde_json::json!({
        "imported": {
            "format": "PyTorch state_dict (safetensors)",
            "sha256": redblue::data::sha256_hex(&bytes),
        },
        "tool": format!("redblue {}", env!("CARGO_PKG_VERSION")),
    });
    save(&model, &meta, out, &a)
}

/// An ONNX file: the graph is the architecture, so no architecture flag applies.
fn import_onnx(a: &ImportArgs, g: &Given<'_>) -> Result<()> {
    g.refuse(&["arch", "hidden", "input_shape", "classes"], "with an ONNX file (its graph is the architecture)")?;
    let out = Output::reserve("--out", &a.out, a.force, &[&a.input])?;
    let bytes = redblue::fsutil::read(&a.input)?;
    let (model, info) = onnx::import(&bytes, &a.input)?;
    let meta = serde_json::json!({
        "imported": {
            "format": "ONNX",
            "sha256": redblue::data::sha256_hex(&bytes),
            "opset": info.opset,
            "ir_version": info.ir_version,
            "producer_name": info.producer_name,
            "producer_version": info.producer_version,
        },
        "tool": format!("redblue {}", env!("CARGO_PKG_VERSION")),
    });
    save(&model, &meta, out, a)
}

fn save(model: &Model, meta: &serde_json::Value, out: Output, a: &ImportArgs) -> Result<()> {
    out.commit(&model_file::any_to_bytes(model, meta)?)?;
    let kind = if model.mlp().is_some() { " (the paper's MLP: every command applies)" } else { "" };
    println!("imported {}{kind}; saved {}", model.summary(), show(&a.out));
    Ok(())
}
