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

/// A parsed safetensors file: the validated view and its `__metadata__` map (sorted).
pub struct Parsed<'a> {
    /// The tensors.
    pub tensors: safetensors::SafeTensors<'a>,
    /// The string metadata (empty when the file has none).
    pub metadata: BTreeMap<String, String>,
}

/// Parses safetensors bytes, explaining in words what is wrong with a bad file: too short,
/// a header length that cannot be right, a header that is not JSON, truncated data or trailing
/// bytes (with the expected and found byte counts), offsets that overlap or do not match a
/// tensor's dtype and shape. The `safetensors` crate then validates the file once more.
pub fn open(bytes: &[u8]) -> Result<Parsed<'_>, String> {
    use safetensors::SafeTensorError as E;
    let len = bytes.len() as u64;
    let Some(prefix) = bytes.get(..8) else {
        return Err(format!(
            "the file is {len} bytes, too short for a safetensors file (it starts with an 8-byte header length)"
        ));
    };
    let mut n8 = [0u8; 8];
    n8.copy_from_slice(prefix);
    let n = u64::from_le_bytes(n8);
    if n > len - 8 {
        return Err(format!(
            "the first 8 bytes declare a {n}-byte header but the file has only {} bytes after them: \
             not a safetensors file, or truncated inside its header",
            len - 8
        ));
    }
    let head = &bytes[8..8 + n as usize];
    let text = std::str::from_utf8(head).map_err(|e| format!("the header is not UTF-8 text ({e})"))?;
    let value: Value = serde_json::from_str(text).map_err(|e| format!("the header is not valid JSON ({e})"))?;
    let Value::Object(entries) = value else {
        return Err("the header is JSON but not an object of tensors".into());
    };
    // How many data bytes the header accounts for: the largest end offset.
    let mut expected: u64 = 0;
    for (name, entry) in &entries {
        if name == "__metadata__" {
            continue;
        }
        let end = entry
            .get("data_offsets")
            .and_then(|o| o.get(1))
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("tensor {name:?}: the header gives no [begin, end] data_offsets"))?;
        expected = expected.max(end);
    }
    let found = len - 8 - n;
    // Sums in u128: a hostile end offset can be as large as u64::MAX.
    let in_all = 8 + u128::from(n) + u128::from(expected);
    if found < expected {
        return Err(format!(
            "truncated: the header promises {expected} data bytes ({in_all} bytes in all) but the file has {found} ({len} in all)"
        ));
    }
    if found > expected {
        return Err(format!(
            "{} trailing bytes: the header accounts for {in_all} bytes but the file has {len}",
            found - expected
        ));
    }
    let words = |e: E| match e {
        E::InvalidOffset(name) => format!(
            "tensor {name:?}: its data_offsets overlap another tensor, leave a gap, or do not match its dtype and shape"
        ),
        E::TensorInvalidInfo | E::InvalidTensorView(..) => {
            "a tensor's byte length does not match its dtype and shape".to_string()
        }
        E::ValidationOverflow => "a tensor's shape is so large that its size overflows".to_string(),
        E::InvalidHeaderDeserialization | E::JsonError(_) => {
            "the header is JSON but not a safetensors header ({name: {dtype, shape, data_offsets}}, \
             string-valued __metadata__)"
                .to_string()
        }
        E::HeaderTooLarge => "the header is larger than the 100 MB safetensors allows".to_string(),
        E::InvalidHeaderStart => "the header does not start with '{'".to_string(),
        E::MetadataIncompleteBuffer => "the tensors do not cover the data bytes exactly".to_string(),
        other => format!("not a valid safetensors file ({other})"),
    };
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(words)?;
    let tensors = safetensors::SafeTensors::deserialize(bytes).map_err(words)?;
    let metadata = header.metadata().clone().unwrap_or_default().into_iter().collect();
    Ok(Parsed { tensors, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Vec<u8> {
        let data = f32_bytes(&[1.0, 2.0, 3.0]);
        let t = [TensorBytes { name: "a", dtype: "F32", shape: vec![3], data: &data }];
        serialize(&t, &BTreeMap::from([("k".to_string(), "v".to_string())]))
    }

    fn err(bytes: &[u8]) -> String {
        match open(bytes) {
            Ok(_) => panic!("accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn valid_file_round_trips() {
        let bytes = valid();
        let p = open(&bytes).unwrap();
        assert_eq!(p.metadata.get("k").map(String::as_str), Some("v"));
        assert_eq!(f32_from_bytes(p.tensors.tensor("a").unwrap().data()), vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn bad_files_are_explained_in_words() {
        let bytes = valid();
        assert!(err(&bytes[..5]).contains("too short"));
        let e = err(&bytes[..bytes.len() - 2]);
        assert!(e.contains("truncated") && e.contains("promises 12 data bytes"), "{e}");
        let mut long = bytes.clone();
        long.extend_from_slice(b"xyz");
        let e = err(&long);
        assert!(e.starts_with("3 trailing bytes"), "{e}");
        let e = err(b"\xff\xee\xdd\xcc\xbb\xaa\x99\x88random bytes here");
        assert!(e.contains("not a safetensors file"), "{e}");
        let mut bad_json = bytes.clone();
        bad_json[8] = b'[';
        assert!(err(&bad_json).contains("not valid JSON") || err(&bad_json).contains("not an object"));
        // Offsets that do not match the shape: 3 floats declared as 12 bytes but shape [2].
        let data = f32_bytes(&[1.0, 2.0, 3.0]);
        let t = [TensorBytes { name: "a", dtype: "F32", shape: vec![2], data: &data }];
        let e = err(&serialize(&t, &BTreeMap::new()));
        assert!(e.contains("tensor \"a\"") || e.contains("byte length"), "{e}");
    }
}
