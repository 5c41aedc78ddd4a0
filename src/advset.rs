//! Adversarial-set files: the red team's hand-off to the judge.
//!
//! safetensors with `images` (f32, `[N, rows, cols]`) and `labels` (u8, `[N]`), plus metadata
//! `redblue.advset` (JSON [`AdvMeta`]): attack, parameters, norm, eps, clip mode, the source
//! model's SHA-256 and which test images were attacked.

use crate::error::{to_json, Error, Result};
use crate::fsutil;
use crate::tensorfile::{self, f32_bytes, f32_from_bytes, TensorBytes};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Everything the judge needs to know about how a set was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdvMeta {
    /// Attack name ("fgsm", "pgd").
    pub attack: String,
    /// Attack parameters.
    pub params: serde_json::Value,
    /// Threat model ("linf").
    pub norm: String,
    /// Budget in pixel units.
    pub eps: f64,
    /// "clipped" or "unclipped".
    pub clip: crate::attack::ClipMode,
    /// SHA-256 of the model file the set was crafted on.
    pub model_sha256: String,
    /// Dataset name ("mnist").
    pub dataset: String,
    /// Index of the first test image attacked; the set covers `offset..offset+N`.
    pub offset: usize,
    /// Seed of the attack.
    pub seed: u64,
}

/// An adversarial set in memory.
#[derive(Clone, Debug)]
pub struct AdvSet {
    /// Flattened images `[n, rows*cols]`.
    pub images: Vec<f32>,
    /// True labels.
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Provenance.
    pub meta: AdvMeta,
}

impl AdvSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Writes the set atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let n = self.labels.len();
        if self.images.len() != n * self.rows * self.cols {
            return Err(Error::Shape {
                what: "adversarial images".into(),
                expected: format!("{n} x {} x {}", self.rows, self.cols),
                found: format!("{} values", self.images.len()),
            });
        }
        let img = f32_bytes(&self.images);
        let tensors = [
            TensorBytes { name: "images", dtype: "F32", shape: vec![n, self.rows, self.cols], data: &img },
            TensorBytes { name: "labels", dtype: "U8", shape: vec![n], data: &self.labels },
        ];
        let mut meta = BTreeMap::new();
        meta.insert("redblue.advset".to_string(), to_json("adversarial-set metadata", &self.meta)?);
        let bytes = tensorfile::serialize(&tensors, &meta);
        fsutil::write_atomic(path, &bytes)
    }

    /// Reads and checks a set: tensor names, dtypes, shapes and metadata.
    pub fn load(path: &Path) -> Result<AdvSet> {
        let bytes = fsutil::read(path)?;
        let bad = |reason: String| Error::AdvFile { path: path.to_path_buf(), reason };
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("not a valid safetensors file ({e})")))?;
        let meta_json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get("redblue.advset"))
            .ok_or_else(|| bad("metadata key redblue.advset is missing".into()))?;
        let meta: AdvMeta = serde_json::from_str(meta_json)
            .map_err(|e| bad(format!("metadata redblue.advset is invalid ({e})")))?;
        let images = st.tensor("images").map_err(|e| bad(format!("tensor images: {e}")))?;
        let labels = st.tensor("labels").map_err(|e| bad(format!("tensor labels: {e}")))?;
        if images.dtype() != Dtype::F32 || labels.dtype() != Dtype::U8 {
            return Err(bad(format!(
                "expected images F32 and labels U8, found {:?} and {:?}",
                images.dtype(),
                labels.dtype()
            )));
        }
        let (ishape, lshape) = (images.shape().to_vec(), labels.shape().to_vec());
        if ishape.len() != 3 || lshape.len() != 1 || ishape[0] != lshape[0] {
            return Err(bad(format!(
                "expected images [N, rows, cols] and labels [N], found {ishape:?} and {lshape:?}"
            )));
        }
        let imgs = f32_from_bytes(images.data());
        Ok(AdvSet {
            images: imgs,
            labels: labels.data().to_vec(),
            rows: ishape[1],
            cols: ishape[2],
            meta,
        })
    }
}
