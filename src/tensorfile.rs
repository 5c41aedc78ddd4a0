//! A deterministic safetensors writer.
//!
//! The `safetensors` crate takes metadata as a `HashMap`, whose iteration order (and so the
//! file's bytes) changes from one process to the next. Here the header is built with sorted
//! keys, so the same tensors and metadata always give the same bytes; files are read back with
//! the `safetensors` crate, which validates them.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// One tensor to write: name, dtype name ("F32", "U8"), shape and little-endian bytes.
pub struct TensorBytes<'a> {
    /// Tensor name.
    pub name: &'a str,
    /// safetensors dtype name.
    pub dtype: &'static str,
    /// Shape.
    pub shape: Vec<usize>,
    /// Raw little-endian data; its length must match dtype and shape.
    pub data: &'a [u8],
}

/// Serialises tensors (stored in the given order) and metadata (sorted) to safetensors bytes.
pub fn serialize(tensors: &[TensorBytes<'_>], metadata: &BTreeMap<String, String>) -> Vec<u8> {
    let mut header = Map::new();
    header.insert("__metadata__".into(), json!(metadata));
    let mut offset = 0usize;
    for t in tensors {
        header.insert(
            t.name.to_string(),
            json!({ "dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, offset + t.data.len()] }),
        );
        offset += t.data.len();
    }
    let mut head = Value::Object(header).to_string().into_bytes();
    // The format asks for the data to start at a multiple of 8 bytes: pad with spaces.
    while (8 + head.len()) % 8 != 0 {
        head.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + head.len() + offset);
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    for t in tensors {
        out.extend_from_slice(t.data);
    }
    out
}

/// Little-endian bytes of f32 values.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// f32 values from little-endian bytes (a trailing partial value is ignored).
pub fn f32_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}
