//! Model files: safetensors with PyTorch's names and layout.
//!
//! The paper's MLP: `fc1.weight [H, 784]`, `fc1.bias [H]`, `fc2.weight [10, H]`, `fc2.bias
//! [10]`, all f32, so `torch.nn.Module.load_state_dict` accepts the file for
//! `fc1 = nn.Linear(784, H)`, `fc2 = nn.Linear(H, 10)`. Any other architecture
//! ([`super::arch`]): each layer's `<name>.weight` and `<name>.bias` in PyTorch layout. The
//! architecture and the training config travel as JSON in the safetensors metadata
//! (`redblue.arch`: the MLP's `MlpConfig`, or a versioned [`Arch`]; `redblue.train`). A file
//! without redblue metadata (for example one exported from PyTorch) loads too, as an MLP
//! whose sizes are read off the shapes.

use super::{Arch, Mlp, MlpConfig, Model, Network};
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

/// `data` (`[rows, cols]`, row-major) transposed to `[cols, rows]`.
pub(super) fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
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

/// Serialises a network to safetensors bytes (its parameters by name, PyTorch layout) with
/// its architecture and training config.
pub fn network_to_bytes(net: &Network, train: &serde_json::Value) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = net.params().iter().map(|t| f32_bytes(t)).collect();
    let views: Vec<TensorBytes<'_>> = net
        .specs()
        .iter()
        .zip(&bytes)
        .map(|(s, data)| TensorBytes { name: &s.name, dtype: "F32", shape: s.shape.clone(), data })
        .collect();
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("redblue.arch".to_string(), to_json("model architecture", net.arch())?);
    meta.insert("redblue.train".to_string(), to_json("training config", train)?);
    meta.insert("redblue.version".to_string(), env!("CARGO_PKG_VERSION").to_string());
    Ok(tensorfile::serialize(&views, &meta))
}

/// Writes a model file atomically.
pub fn save(model: &Mlp, train: &serde_json::Value, path: &Path) -> Result<()> {
    fsutil::write_atomic(path, &to_bytes(model, train)?)
}

/// Serialises any model (see [`to_bytes`] and [`network_to_bytes`]).
pub fn any_to_bytes(model: &Model, train: &serde_json::Value) -> Result<Vec<u8>> {
    match model {
        Model::Mlp(m) => to_bytes(m, train),
        Model::Network(n) => network_to_bytes(n, train),
    }
}

/// Reads and checks a model file that must hold the paper's MLP (a network of that shape
/// counts): names, dtypes and shapes must match the architecture.
pub fn load(path: &Path) -> Result<(Mlp, ModelMeta)> {
    let bytes = fsutil::read(path)?;
    from_bytes(&bytes, path)
}

/// Reads and checks a model file of any architecture.
pub fn load_any(path: &Path) -> Result<(Model, ModelMeta)> {
    let bytes = fsutil::read(path)?;
    from_bytes_any(&bytes, path)
}

/// Parses model bytes that must hold the paper's MLP; `path` is only used in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(Mlp, ModelMeta)> {
    let (model, meta) = from_bytes_any(bytes, path)?;
    let what = model.summary();
    match model {
        Model::Mlp(m) => Ok((m, meta)),
        Model::Network(_) => Err(Error::ModelFile {
            path: path.to_path_buf(),
            reason: format!("this command supports the one-hidden-layer ReLU MLP only so far; the file holds {what}"),
        }),
    }
}

/// Parses model bytes of any architecture; `path` is only used in error messages.
pub fn from_bytes_any(bytes: &[u8], path: &Path) -> Result<(Model, ModelMeta)> {
    let bad = |reason: String| Error::ModelFile { path: path.to_path_buf(), reason };
    let parsed = tensorfile::open(bytes).map_err(bad)?;
    let (st, meta_map) = (&parsed.tensors, &parsed.metadata);
    let mut found: Vec<String> = st.names().into_iter().cloned().collect();
    found.sort();
    if found.iter().any(|f| f == "images") && !found.iter().any(|f| f.ends_with(".weight")) {
        return Err(bad(format!(
            "missing tensors: a model has <layer>.weight and <layer>.bias tensors, found {found:?} \
             (this looks like an adversarial set, not a model)"
        )));
    }
    let mut warnings = Vec::new();
    for key in meta_map.keys().filter(|k| !META_KEYS.contains(&k.as_str())) {
        if key.starts_with("redblue.") {
            return Err(bad(format!("unknown metadata key {key:?} (redblue writes {META_KEYS:?})")));
        }
        warnings.push(format!("metadata key {key:?} ignored"));
    }
    let train = match meta_map.get("redblue.train") {
        Some(s) => serde_json::from_str(s).map_err(|e| bad(format!("metadata redblue.train is not JSON ({e})")))?,
        None => serde_json::Value::Null,
    };
    let versioned = meta_map
        .get("redblue.arch")
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .is_some_and(|v| v.get("version").is_some());
    if versioned {
        let arch: Arch = serde_json::from_str(&meta_map["redblue.arch"])
            .map_err(|e| bad(format!("metadata redblue.arch is not a valid architecture ({e})")))?;
        let (model, more) = network_from(st, &found, arch).map_err(bad)?;
        warnings.extend(more);
        return Ok((model, ModelMeta { train, sha256: crate::data::sha256_hex(bytes), warnings }));
    }
    let (mlp, more) = mlp_from(st, meta_map, &found).map_err(bad)?;
    warnings.extend(more);
    Ok((Model::Mlp(mlp), ModelMeta { train, sha256: crate::data::sha256_hex(bytes), warnings }))
}

/// A PyTorch `state_dict` saved with `safetensors.torch.save_file` (f32 tensors named as the
/// module's attributes name them) read as a network of architecture `arch`: every parameter
/// checked by name, shape, dtype and finiteness. Tensors the architecture has no use for
/// (buffers such as `num_batches_tracked`) are ignored with a warning. A one-hidden-layer
/// network becomes the paper's MLP.
pub fn import_state_dict(bytes: &[u8], path: &Path, arch: Arch) -> Result<(Model, Vec<String>)> {
    let bad = |reason: String| Error::ModelFile { path: path.to_path_buf(), reason };
    let parsed = tensorfile::open(bytes).map_err(bad)?;
    arch.params()?; // an impossible architecture is the caller's error, not the file's
    let mut found: Vec<String> = parsed.tensors.names().into_iter().cloned().collect();
    found.sort();
    network_from(&parsed.tensors, &found, arch).map_err(bad)
}

/// The network `arch` from a file's tensors (`found`: their sorted names), each parameter
/// checked ([`checked`]); tensors it does not use give a warning.
fn network_from(
    st: &safetensors::SafeTensors<'_>,
    found: &[String],
    arch: Arch,
) -> std::result::Result<(Model, Vec<String>), String> {
    let specs = arch.params().map_err(|e| e.to_string())?;
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let missing: Vec<&str> = names.iter().copied().filter(|n| !found.iter().any(|f| f == n)).collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing tensors {missing:?}: architecture {} needs {names:?}, the file has {found:?}",
            arch.summary()
        ));
    }
    let mut warnings = Vec::new();
    let extra: Vec<&String> = found.iter().filter(|f| !names.contains(&f.as_str())).collect();
    if !extra.is_empty() {
        warnings.push(format!("tensors the architecture does not use, ignored: {extra:?}"));
    }
    let mut params = Vec::with_capacity(specs.len());
    for spec in &specs {
        params.push(checked(st, &spec.name, &spec.shape)?);
    }
    let net = Network::new(arch, params).map_err(|e| e.to_string())?;
    Ok((Model::from_network(net).map_err(|e| e.to_string())?, warnings))
}

/// Tensor `name`, checked for dtype F32, `shape` and finiteness.
fn checked(st: &safetensors::SafeTensors<'_>, name: &str, shape: &[usize]) -> std::result::Result<Vec<f32>, String> {
    let v = st.tensor(name).map_err(|e| format!("tensor {name}: {e}"))?;
    if v.dtype() != Dtype::F32 {
        return Err(format!("tensor {name}: expected dtype F32, found {:?}", v.dtype()));
    }
    if v.shape() != shape {
        return Err(format!("tensor {name}: expected shape {shape:?}, found {:?}", v.shape()));
    }
    let data = f32_from_bytes(v.data());
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        return Err(format!("tensor {name}: non-finite value at index {i}"));
    }
    Ok(data)
}

/// The paper's MLP from a file's tensors (its `redblue.arch`, if any, an `MlpConfig`).
fn mlp_from(
    st: &safetensors::SafeTensors<'_>,
    meta_map: &BTreeMap<String, String>,
    found: &[String],
) -> std::result::Result<(Mlp, Vec<String>), String> {
    let missing: Vec<&str> = NAMES.iter().copied().filter(|n| !found.iter().any(|f| f == n)).collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing tensors {missing:?}; expected {NAMES:?}, found {found:?}{}",
            if found.iter().any(|f| f == "images") { " (this looks like an adversarial set, not a model)" } else { "" }
        ));
    }
    let mut warnings = Vec::new();
    let extra: Vec<&String> = found.iter().filter(|f| !NAMES.contains(&f.as_str())).collect();
    if !extra.is_empty() {
        warnings.push(format!("extra tensors ignored: {extra:?}"));
    }
    let view = |name: &str| st.tensor(name).map_err(|e| format!("tensor {name}: {e}"));
    let config = match meta_map.get("redblue.arch") {
        Some(s) => serde_json::from_str::<MlpConfig>(s)
            .map_err(|e| format!("metadata redblue.arch is not a valid architecture ({e})"))?,
        None => {
            let s = view("fc1.weight")?.shape().to_vec();
            let o = view("fc2.weight")?.shape().to_vec();
            if s.len() != 2 || o.len() != 2 {
                return Err(format!("fc1.weight {s:?} / fc2.weight {o:?} must be 2-D"));
            }
            MlpConfig { input: s[1], hidden: s[0], classes: o[0], ..MlpConfig::default() }
        }
    };
    config.validate().map_err(|e| format!("architecture: {e}"))?;
    let mut host: Vec<Vec<f32>> = Vec::new();
    for (name, shape) in NAMES.iter().zip(torch_shapes(&config)) {
        host.push(checked(st, name, &shape)?);
    }
    let c = &config;
    let [w1, b1, w2, b2]: [Vec<f32>; 4] = host.try_into().map_err(|_| "expected four tensors".to_string())?;
    let host = [transpose(&w1, c.hidden, c.input), b1, transpose(&w2, c.classes, c.hidden), b2];
    let model = Mlp::from_host(config, host).map_err(|e| e.to_string())?;
    Ok((model, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Classifier;
    use rand::SeedableRng;

    fn net() -> Network {
        let arch = Arch::builtin("small-cnn", [1, 12, 12], 10, &[]).expect("arch");
        Network::init(arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(2)).expect("init")
    }

    /// A network's file loads back to the same architecture and logits; a one-hidden-layer
    /// network's file loads as the paper's MLP with the same logits.
    #[test]
    fn network_files_round_trip() {
        let n = net();
        let bytes = network_to_bytes(&n, &serde_json::json!({"seed": 1})).expect("bytes");
        let (m, meta) = from_bytes_any(&bytes, Path::new("m")).expect("load");
        let Model::Network(back) = &m else { panic!("a CNN loads as a network") };
        assert_eq!(back.arch(), n.arch());
        assert_eq!(meta.train["seed"], 1);
        let x: Vec<f32> = (0..2 * 144).map(|i| (i % 5) as f32 / 5.0).collect();
        assert_eq!(back.logits_host(&x, 2), n.logits_host(&x, 2));
        let err = from_bytes(&bytes, Path::new("m")).expect_err("not an MLP").to_string();
        assert!(err.contains("MLP only so far") && err.contains("conv2d(16, k4, s2, p1)"), "{err}");
        let arch = Arch::builtin("mlp", [1, 12, 12], 10, &[9]).expect("arch");
        let one = Network::init(arch, &mut rand_chacha::ChaCha8Rng::seed_from_u64(3)).expect("init");
        let (mlp, _) =
            from_bytes(&network_to_bytes(&one, &serde_json::Value::Null).expect("bytes"), Path::new("m")).expect("mlp");
        for (a, b) in mlp.logits_host(&x, 2).iter().zip(one.logits_host(&x, 2)) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    /// A tensor missing, misshapen, of the wrong dtype or non-finite, and an architecture
    /// that cannot be built, are refused with the name of what is wrong.
    #[test]
    fn broken_network_files_are_refused_by_name() {
        let n = net();
        let arch_json = serde_json::to_string(n.arch()).expect("json");
        let build = |skip: &str, shape_of: &str, value: f32, arch: &str| {
            let data: Vec<Vec<u8>> = n
                .params()
                .iter()
                .zip(n.specs())
                .map(|(p, s)| {
                    let mut p = p.clone();
                    if s.name == "fc2.bias" {
                        p[0] = value;
                    }
                    f32_bytes(&p)
                })
                .collect();
            let views: Vec<TensorBytes<'_>> = n
                .specs()
                .iter()
                .zip(&data)
                .filter(|(s, _)| s.name != skip)
                .map(|(s, d)| {
                    let mut shape = s.shape.clone();
                    if s.name == shape_of {
                        shape.reverse(); // the bytes fit, the layout does not
                    }
                    TensorBytes { name: &s.name, dtype: "F32", shape, data: d }
                })
                .collect();
            let meta = BTreeMap::from([("redblue.arch".to_string(), arch.to_string())]);
            from_bytes_any(&tensorfile::serialize(&views, &meta), Path::new("bad.safetensors"))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        assert!(build("", "", 0.0, &arch_json).is_ok());
        let cases = [
            (build("conv2.weight", "", 0.0, &arch_json), "missing tensors [\"conv2.weight\"]"),
            (
                build("", "fc1.weight", 0.0, &arch_json),
                "tensor fc1.weight: expected shape [100, 288], found [288, 100]",
            ),
            (build("", "", f32::NAN, &arch_json), "tensor fc2.bias: non-finite"),
            (build("", "", 0.0, &arch_json.replace("\"version\":2", "\"version\":3")), "version 3"),
            (build("", "", 0.0, &arch_json.replace("\"kernel\":4", "\"kernel\":40")), "kernel 40"),
            (build("", "", 0.0, &arch_json.replace("relu", "gelu")), "not a valid architecture"),
        ];
        for (got, want) in cases {
            let e = got.expect_err(want);
            assert!(e.contains(want) && e.contains("bad.safetensors"), "{e:?} should say {want:?}");
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// PyTorch's state_dicts (`bench/peers/make_import_fixtures.py`) imported with their
    /// architecture give PyTorch's logits within 1e-5 on PyTorch's inputs; the MLP becomes the
    /// paper's model, and its bare state_dict loads as one too.
    #[test]
    fn pytorch_state_dicts_import_with_pytorchs_logits() {
        for name in ["tiny_cnn", "tiny_mlp"] {
            let arch: Arch = serde_json::from_slice(&fixture(&format!("{name}.arch.json"))).expect("arch json");
            let state = fixture(&format!("{name}.state.safetensors"));
            let (model, warnings) = import_state_dict(&state, Path::new(name), arch).expect("import");
            assert!(warnings.is_empty(), "{warnings:?}");
            assert_eq!(model.mlp().is_some(), name == "tiny_mlp", "{}", model.summary());
            let io = fixture(&format!("{name}.io.safetensors"));
            let st = safetensors::SafeTensors::deserialize(&io).expect("io file");
            let x = f32_from_bytes(st.tensor("inputs").expect("inputs").data());
            let want = f32_from_bytes(st.tensor("logits").expect("logits").data());
            let got = model.logits_host(&x, 8);
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-5, "{name}: logit {a} vs PyTorch's {b}");
            }
            if name == "tiny_mlp" {
                let (bare, _) = from_bytes_any(&state, Path::new(name)).expect("a bare MLP state_dict");
                assert!(bare.mlp().is_some());
                assert_eq!(bare.logits_host(&x, 8), got);
            }
        }
        // The wrong architecture is refused by the tensors it lacks or misreads.
        let cnn = fixture("tiny_cnn.state.safetensors");
        let mlp: Arch = serde_json::from_slice(&fixture("tiny_mlp.arch.json")).expect("arch json");
        let e = import_state_dict(&cnn, Path::new("cnn.safetensors"), mlp.clone()).expect_err("wrong arch").to_string();
        assert!(
            e.contains("cnn.safetensors") && e.contains("fc1.weight: expected shape [20, 144], found [16, 72]"),
            "{e}"
        );
        let wide = Arch::builtin("small-cnn", [1, 12, 12], 10, &[]).expect("arch");
        let e = import_state_dict(&cnn, Path::new("cnn.safetensors"), wide).expect_err("wrong arch").to_string();
        assert!(e.contains("conv1.weight: expected shape [16, 1, 4, 4]"), "{e}");
    }
}
