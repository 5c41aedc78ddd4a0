//! Model files: safetensors with PyTorch's names and layout.
//!
//! `fc1.weight [H, 784]`, `fc1.bias [H]`, `fc2.weight [10, H]`, `fc2.bias [10]`, all f32, so
//! `torch.nn.Module.load_state_dict` accepts the file for `fc1 = nn.Linear(784, H)`,
//! `fc2 = nn.Linear(H, 10)`. The architecture and the training config travel as JSON in the
//! safetensors metadata (`redblue.arch`, `redblue.train`). A file without redblue metadata (for
//! example one exported from PyTorch) loads too: the architecture is read off the shapes.

use super::{Mlp, MlpConfig};
use crate::error::{to_json, Error, Result};
use crate::fsutil;
use crate::tensorfile::{self, f32_bytes, f32_from_bytes, TensorBytes};
use safetensors::Dtype;
use std::collections::BTreeMap;
use std::path::Path;

/// Tensor names in PyTorch order.
pub const NAMES: [&str; 4] = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];

/// What a model file says about itself besides its weights.
#[derive(Clone, Debug, Default)]
pub struct ModelMeta {
    /// The training configuration recorded at save time (`null` if absent).
    pub train: serde_json::Value,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// What the loader ignored (extra tensors, foreign metadata keys), for the caller to show.
    pub warnings: Vec<String>,
}

/// The metadata keys redblue writes; other `redblue.*` keys are refused, foreign keys ignored
/// with a warning.
const META_KEYS: [&str; 4] = ["format", "redblue.arch", "redblue.train", "redblue.version"];

fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// PyTorch shapes of the four tensors for an architecture.
fn torch_shapes(c: &MlpConfig) -> [Vec<usize>; 4] {
    [vec![c.hidden, c.input], vec![c.hidden], vec![c.classes, c.hidden], vec![c.classes]]
}

/// Serialises a model to safetensors bytes (PyTorch layout) with its metadata.
pub fn to_bytes(model: &Mlp, train: &serde_json::Value) -> Result<Vec<u8>> {
    let c = &model.config;
    let [w1, b1, w2, b2] = model.to_host();
    let tensors = [transpose(&w1, c.input, c.hidden), b1, transpose(&w2, c.hidden, c.classes), b2];
    let shapes = torch_shapes(c);
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| f32_bytes(t)).collect();
    let views: Vec<TensorBytes<'_>> = NAMES
        .iter()
        .zip(shapes)
        .zip(&bytes)
        .map(|((name, shape), data)| TensorBytes { name, dtype: "F32", shape, data })
        .collect();
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("redblue.arch".to_string(), to_json("model architecture", c)?);
    meta.insert("redblue.train".to_string(), to_json("training config", train)?);
    meta.insert("redblue.version".to_string(), env!("CARGO_PKG_VERSION").to_string());
    Ok(tensorfile::serialize(&views, &meta))
}

/// Writes a model file atomically.
pub fn save(model: &Mlp, train: &serde_json::Value, path: &Path) -> Result<()> {
    fsutil::write_atomic(path, &to_bytes(model, train)?)
}

/// Reads and checks a model file: names, dtypes and shapes must match the architecture.
pub fn load(path: &Path) -> Result<(Mlp, ModelMeta)> {
    let bytes = fsutil::read(path)?;
    from_bytes(&bytes, path)
}

/// Parses model bytes; `path` is only used in error messages.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(Mlp, ModelMeta)> {
    let bad = |reason: String| Error::ModelFile { path: path.to_path_buf(), reason };
    let parsed = tensorfile::open(bytes).map_err(bad)?;
    let (st, meta_map) = (&parsed.tensors, &parsed.metadata);
    let mut found: Vec<String> = st.names().into_iter().cloned().collect();
    found.sort();
    let missing: Vec<&str> = NAMES.iter().copied().filter(|n| !found.iter().any(|f| f == n)).collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "missing tensors {missing:?}; expected {NAMES:?}, found {found:?}{}",
            if found.iter().any(|f| f == "images") { " (this looks like an adversarial set, not a model)" } else { "" }
        )));
    }
    let mut warnings = Vec::new();
    for key in meta_map.keys().filter(|k| !META_KEYS.contains(&k.as_str())) {
        if key.starts_with("redblue.") {
            return Err(bad(format!("unknown metadata key {key:?} (redblue writes {META_KEYS:?})")));
        }
        warnings.push(format!("metadata key {key:?} ignored"));
    }
    let extra: Vec<&String> = found.iter().filter(|f| !NAMES.contains(&f.as_str())).collect();
    if !extra.is_empty() {
        warnings.push(format!("extra tensors ignored: {extra:?}"));
    }
    let view = |name: &str| st.tensor(name).map_err(|e| bad(format!("tensor {name}: {e}")));
    let config = match meta_map.get("redblue.arch") {
        Some(s) => serde_json::from_str::<MlpConfig>(s)
            .map_err(|e| bad(format!("metadata redblue.arch is not a valid architecture ({e})")))?,
        None => {
            let s = view("fc1.weight")?.shape().to_vec();
            let o = view("fc2.weight")?.shape().to_vec();
            if s.len() != 2 || o.len() != 2 {
                return Err(bad(format!("fc1.weight {s:?} / fc2.weight {o:?} must be 2-D")));
            }
            MlpConfig { input: s[1], hidden: s[0], classes: o[0], ..MlpConfig::default() }
        }
    };
    config.validate().map_err(|e| bad(format!("architecture: {e}")))?;
    let mut host: Vec<Vec<f32>> = Vec::new();
    for (name, shape) in NAMES.iter().zip(torch_shapes(&config)) {
        let v = view(name)?;
        if v.dtype() != Dtype::F32 {
            return Err(bad(format!("tensor {name}: expected dtype F32, found {:?}", v.dtype())));
        }
        if v.shape() != shape.as_slice() {
            return Err(bad(format!("tensor {name}: expected shape {shape:?}, found {:?}", v.shape())));
        }
        let data = f32_from_bytes(v.data());
        if let Some(i) = data.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!("tensor {name}: non-finite value at index {i}")));
        }
        host.push(data);
    }
    let c = &config;
    let [w1, b1, w2, b2]: [Vec<f32>; 4] = host.try_into().map_err(|_| bad("expected four tensors".into()))?;
    let host = [transpose(&w1, c.hidden, c.input), b1, transpose(&w2, c.classes, c.hidden), b2];
    let model = Mlp::from_host(config, host).map_err(|e| bad(e.to_string()))?;
    let train = match meta_map.get("redblue.train") {
        Some(s) => serde_json::from_str(s).map_err(|e| bad(format!("metadata redblue.train is not JSON ({e})")))?,
        None => serde_json::Value::Null,
    };
    Ok((model, ModelMeta { train, sha256: crate::data::sha256_hex(bytes), warnings }))
}
