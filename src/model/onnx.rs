//! ONNX import: a `ModelProto` exported by `torch.onnx.export` read as a redblue [`Network`].
//!
//! The file is decoded with `prost` against the messages of the ONNX IR
//! (<https://github.com/onnx/onnx/blob/main/onnx/onnx.proto>, only the fields read here; field
//! numbers as in that schema), then its graph is walked from its one input to its one output as
//! a single chain of nodes, each mapped onto the [`Layer`] vocabulary with the semantics of the
//! ONNX operator specification (<https://onnx.ai/onnx/operators/>):
//!
//! | ONNX | redblue |
//! | --- | --- |
//! | `Sub`, `Div` by constants before the first layer | `normalize` (scalar or per channel) |
//! | `Conv` (square kernel, symmetric pads, dilations 1, group 1) | `conv2d` |
//! | `Gemm` (alpha = beta = 1, transA 0), `MatMul` + `Add` | `linear` |
//! | `Relu` | `relu` |
//! | `MaxPool` (square kernel, pads 0, floor mode) | `max_pool2d` |
//! | `Flatten` (axis 1), `Reshape` to `[N, features]` | `flatten` |
//! | `Reshape` of the input to `[N, C, H, W]` | the input's shape |
//! | `Dropout` (inference), `Identity` | `dropout` / nothing |
//!
//! Parameters are named by position (`conv1`, `conv2`, ..., `fc1`, `fc2`, ...), as the
//! built-in architectures name them, whatever the initializers are called. Anything else (an
//! operator, an attribute, a dtype other than float32, a branch, external data) is refused with
//! the node and what was found.

use super::arch::{Layer, Shape, VERSION};
use super::{Arch, Model, Network};
use crate::error::{Error, Result};
use prost::Message;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The operators [`import`] maps onto layers, in the order the refusal lists them.
pub const OPERATORS: [&str; 12] =
    ["Gemm", "MatMul", "Add", "Conv", "Relu", "MaxPool", "Flatten", "Reshape", "Dropout", "Identity", "Sub", "Div"];

/// The oldest default-domain opset read (Flatten, Gemm, Dropout and MaxPool as specified since).
pub const MIN_OPSET: i64 = 9;

/// Largest tensor read, in values (far above any MNIST model, far below memory trouble).
const MAX_VALUES: usize = 1 << 28;

/// The messages of `onnx.proto` that an import reads (proto2; unknown fields are skipped).
mod proto {
    /// `ModelProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Model {
        #[prost(int64, tag = "1")]
        pub ir_version: i64,
        #[prost(string, tag = "2")]
        pub producer_name: String,
        #[prost(string, tag = "3")]
        pub producer_version: String,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<Graph>,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetId>,
    }

    /// `OperatorSetIdProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetId {
        #[prost(string, tag = "1")]
        pub domain: String,
        #[prost(int64, tag = "2")]
        pub version: i64,
    }

    /// `GraphProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Graph {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<Node>,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<Tensor>,
        /// `SparseTensorProto`s, only counted.
        #[prost(bytes = "vec", repeated, tag = "15")]
        pub sparse_initializer: Vec<Vec<u8>>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfo>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfo>,
    }

    /// `NodeProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Node {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, tag = "3")]
        pub name: String,
        #[prost(string, tag = "4")]
        pub op_type: String,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<Attribute>,
        #[prost(string, tag = "7")]
        pub domain: String,
    }

    /// `AttributeProto` (graph-valued attributes only counted).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Attribute {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(float, tag = "2")]
        pub f: f32,
        #[prost(int64, tag = "3")]
        pub i: i64,
        #[prost(bytes = "vec", tag = "4")]
        pub s: Vec<u8>,
        #[prost(message, optional, tag = "5")]
        pub t: Option<Tensor>,
        #[prost(float, repeated, tag = "7")]
        pub floats: Vec<f32>,
        #[prost(int64, repeated, tag = "8")]
        pub ints: Vec<i64>,
        #[prost(int32, tag = "20")]
        pub r#type: i32,
        #[prost(string, tag = "21")]
        pub ref_attr_name: String,
    }

    /// `TensorProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tensor {
        #[prost(int64, repeated, tag = "1")]
        pub dims: Vec<i64>,
        #[prost(int32, tag = "2")]
        pub data_type: i32,
        /// `Segment`, only checked for presence.
        #[prost(bytes = "vec", optional, tag = "3")]
        pub segment: Option<Vec<u8>>,
        #[prost(float, repeated, tag = "4")]
        pub float_data: Vec<f32>,
        #[prost(int32, repeated, tag = "5")]
        pub int32_data: Vec<i32>,
        #[prost(int64, repeated, tag = "7")]
        pub int64_data: Vec<i64>,
        #[prost(string, tag = "8")]
        pub name: String,
        #[prost(bytes = "vec", tag = "9")]
        pub raw_data: Vec<u8>,
        #[prost(message, repeated, tag = "13")]
        pub external_data: Vec<StringStringEntry>,
        #[prost(int32, tag = "14")]
        pub data_location: i32,
    }

    /// `StringStringEntryProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StringStringEntry {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
    }

    /// `ValueInfoProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfo {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<Type>,
    }

    /// `TypeProto` (its `tensor_type` case; the others are not tensors).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Type {
        #[prost(message, optional, tag = "1")]
        pub tensor_type: Option<TensorType>,
    }

    /// `TypeProto.Tensor`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorType {
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShape>,
    }

    /// `TensorShapeProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShape {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<Dimension>,
    }

    /// `TensorShapeProto.Dimension` (a `oneof`: a value or a symbolic name).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        #[prost(int64, optional, tag = "1")]
        pub dim_value: Option<i64>,
        #[prost(string, optional, tag = "2")]
        pub dim_param: Option<String>,
    }
}

/// `TensorProto.DataType` codes read as values.
const FLOAT: i32 = 1;
const INT64: i32 = 7;
const BOOL: i32 = 9;

/// The name of a `TensorProto.DataType` code.
fn dtype_name(code: i32) -> String {
    const NAMES: [&str; 29] = [
        "UNDEFINED",
        "FLOAT",
        "UINT8",
        "INT8",
        "UINT16",
        "INT16",
        "INT32",
        "INT64",
        "STRING",
        "BOOL",
        "FLOAT16",
        "DOUBLE",
        "UINT32",
        "UINT64",
        "COMPLEX64",
        "COMPLEX128",
        "BFLOAT16",
        "FLOAT8E4M3FN",
        "FLOAT8E4M3FNUZ",
        "FLOAT8E5M2",
        "FLOAT8E5M2FNUZ",
        "UINT4",
        "INT4",
        "FLOAT4E2M1",
        "FLOAT8E8M0",
        "UINT2",
        "INT2",
        "FLOAT6E2M3",
        "FLOAT6E3M2",
    ];
    usize::try_from(code).ok().and_then(|i| NAMES.get(i)).map_or_else(|| format!("data type {code}"), |s| s.to_string())
}

/// What an ONNX file says about where it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OnnxInfo {
    /// The default domain's opset version.
    pub opset: i64,
    /// The IR version of the file format.
    pub ir_version: i64,
    /// `producer_name` (`pytorch` for `torch.onnx.export`).
    pub producer_name: String,
    /// `producer_version`.
    pub producer_version: String,
}

/// An ONNX model file (`bytes`, the whole file) read as a network; a one-hidden-layer MLP
/// becomes the paper's model. `path` is only used in error messages.
pub fn import(bytes: &[u8], path: &Path) -> Result<(Model, OnnxInfo)> {
    let bad = |reason: String| Error::ModelFile { path: path.to_path_buf(), reason };
    let (arch, params, info) = read(bytes).map_err(bad)?;
    let net = Network::new(arch, params).map_err(|e| bad(e.to_string()))?;
    let model = Model::from_network(net).map_err(|e| bad(e.to_string()))?;
    Ok((model, info))
}

/// The architecture and parameters (in [`Arch::params`] order) of an ONNX model file.
pub fn read(bytes: &[u8]) -> std::result::Result<(Arch, Vec<Vec<f32>>, OnnxInfo), String> {
    let model = proto::Model::decode(bytes).map_err(|e| {
        let safetensors = bytes.len() > 9 && bytes[8] == b'{';
        let hint = if safetensors {
            " (this looks like a safetensors file: import it as a state_dict, with --arch)"
        } else {
            ""
        };
        format!("not a readable ONNX model (protobuf ModelProto): {e}{hint}")
    })?;
    if model.ir_version <= 0 {
        return Err("not an ONNX model: no ir_version (is this an ONNX file?)".into());
    }
    let graph = model.graph.as_ref().ok_or("not an ONNX model: it has no graph")?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or("no opset of the default ONNX domain in opset_import")?;
    if opset < MIN_OPSET {
        return Err(format!(
            "ONNX opset {opset}: redblue reads opset {MIN_OPSET} and later; re-export with a newer opset_version"
        ));
    }
    let info = OnnxInfo {
        opset,
        ir_version: model.ir_version,
        producer_name: model.producer_name.clone(),
        producer_version: model.producer_version.clone(),
    };
    let (arch, params) = Chain::new(graph)?.walk()?;
    Ok((arch, params, info))
}

/// A constant tensor's values.
#[derive(Clone, Debug)]
enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A constant (an initializer or a `Constant` node's output).
#[derive(Clone, Debug)]
struct Const {
    /// Where it came from, for messages: `initializer 'fc1.weight'`, `constant 'x' (node ...)`.
    what: String,
    dims: Vec<usize>,
    values: Values,
    /// Its `TensorProto.DataType` code.
    dtype: i32,
}

impl Const {
    /// The values as float32, or an error naming the dtype found.
    fn f32s(&self, role: &str) -> std::result::Result<&[f32], String> {
        match &self.values {
            Values::F32(v) => {
                if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                    return Err(format!("{} ({role}): non-finite value at index {i}", self.what));
                }
                Ok(v)
            }
            Values::I64(_) => Err(format!(
                "{} ({role}): dtype {}; redblue imports float32 tensors only",
                self.what,
                dtype_name(self.dtype)
            )),
        }
    }
    fn len(&self) -> usize {
        self.dims.iter().product()
    }
}

/// A tensor's dims, checked non-negative and not absurdly large.
fn dims_of(raw: &[i64], what: &str) -> std::result::Result<Vec<usize>, String> {
    let dims: Vec<usize> = raw
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("{what}: negative dimension {d} in {raw:?}")))
        .collect::<std::result::Result<_, _>>()?;
    let mut n: usize = 1;
    for &d in &dims {
        n = n.checked_mul(d).filter(|&n| n <= MAX_VALUES).ok_or(format!("{what}: shape {raw:?} is too large"))?;
    }
    Ok(dims)
}

/// A `TensorProto` decoded to float32 or int64 values, checked for length; other dtypes,
/// external data and segments refused by name.
fn decode_tensor(t: &proto::Tensor, what: String) -> std::result::Result<Const, String> {
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(format!(
            "{what}: its data is in an external file (ONNX external data); redblue reads self-contained \
             files: export with the weights inside the .onnx (torch.onnx.export(..., external_data=False))"
        ));
    }
    if t.segment.is_some() {
        return Err(format!("{what}: a segmented tensor; redblue reads whole tensors only"));
    }
    let dims = dims_of(&t.dims, &what)?;
    let n: usize = dims.iter().product();
    let raw = &t.raw_data;
    let values = match t.data_type {
        FLOAT => {
            let v: Vec<f32> = if raw.is_empty() {
                t.float_data.clone()
            } else {
                raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            };
            if v.len() != n || (!raw.is_empty() && raw.len() != 4 * n) {
                return Err(format!(
                    "{what}: shape {dims:?} needs {n} float32 values, the file holds {} bytes of raw data and {} floats",
                    raw.len(),
                    t.float_data.len()
                ));
            }
            Values::F32(v)
        }
        INT64 => {
            let v: Vec<i64> = if raw.is_empty() {
                t.int64_data.clone()
            } else {
                raw.chunks_exact(8)
                    .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect()
            };
            if v.len() != n || (!raw.is_empty() && raw.len() != 8 * n) {
                return Err(format!("{what}: shape {dims:?} needs {n} int64 values, the file holds fewer or more"));
            }
            Values::I64(v)
        }
        BOOL => {
            let v: Vec<i64> = if raw.is_empty() {
                t.int32_data.iter().map(|&b| i64::from(b != 0)).collect()
            } else {
                raw.iter().map(|&b| i64::from(b != 0)).collect()
            };
            if v.len() != n {
                return Err(format!("{what}: shape {dims:?} needs {n} booleans, the file holds {}", v.len()));
            }
            Values::I64(v)
        }
        other => {
            return Err(format!("{what}: dtype {}; redblue imports float32 tensors only", dtype_name(other)));
        }
    };
    Ok(Const { what, dims, values, dtype: t.data_type })
}

/// How a node is named in messages: `node 'Conv_0' (op Conv)`, or by index when unnamed.
fn node_label(i: usize, n: &proto::Node) -> String {
    if n.name.is_empty() {
        format!("node #{i} (op {})", n.op_type)
    } else {
        format!("node '{}' (op {})", n.name, n.op_type)
    }
}

/// The graph, indexed: its constants, which nodes read each value, the input and the output.
struct Chain<'g> {
    graph: &'g proto::Graph,
    /// Every constant, decoded; a constant that cannot be read is an error only where used.
    consts: HashMap<&'g str, std::result::Result<Const, String>>,
    consumers: HashMap<&'g str, Vec<usize>>,
    input: &'g proto::ValueInfo,
    output: &'g str,
}

/// An attribute of a node, looked up by name.
fn attr<'n>(node: &'n proto::Node, name: &str) -> Option<&'n proto::Attribute> {
    node.attribute.iter().find(|a| a.name == name)
}

/// The layers built so far and the shape of the value the chain has reached.
struct Build {
    /// The per-example shape of the current value (`Image` for `[N, C, H, W]`, `Flat` for
    /// `[N, D]`).
    shape: Shape,
    /// The input shape, once known (the graph's `[N, C, H, W]`, or the first `Reshape` of a
    /// flat input to an image).
    input: Option<[usize; 3]>,
    /// The input's normalisation `(x - mean) / std`, scalar or per channel, while no other
    /// layer has been built.
    norm: Option<(Vec<f32>, Vec<f32>)>,
    layers: Vec<Layer>,
    params: Vec<Vec<f32>>,
    /// A batch size fixed by the graph input, if not symbolic.
    batch: Option<usize>,
    /// A `MatMul`'s layer whose bias an `Add` may give next.
    open_bias: Option<usize>,
    convs: usize,
    linears: usize,
}

impl<'g> Chain<'g> {
    fn new(graph: &'g proto::Graph) -> std::result::Result<Self, String> {
        if !graph.sparse_initializer.is_empty() {
            return Err("the graph has sparse initializers; redblue imports dense float32 tensors only".into());
        }
        let mut consts: HashMap<&str, std::result::Result<Const, String>> = HashMap::new();
        for t in &graph.initializer {
            consts.insert(&t.name, decode_tensor(t, format!("initializer '{}'", t.name)));
        }
        for (i, n) in graph.node.iter().enumerate() {
            if n.op_type == "Constant" && (n.domain.is_empty() || n.domain == "ai.onnx") {
                let out = n.output.first().ok_or(format!("{}: no output", node_label(i, n)))?;
                consts.insert(out, constant_node(i, n));
            }
        }
        let inputs: Vec<&proto::ValueInfo> =
            graph.input.iter().filter(|v| !consts.contains_key(v.name.as_str())).collect();
        let input = match inputs.as_slice() {
            [one] => *one,
            [] => return Err("the graph has no input".into()),
            many => {
                let names: Vec<&str> = many.iter().map(|v| v.name.as_str()).collect();
                return Err(format!(
                    "the graph has {} inputs {names:?}; redblue imports models of one input",
                    names.len()
                ));
            }
        };
        let output = match graph.output.as_slice() {
            [one] => one.name.as_str(),
            outs => {
                let names: Vec<&str> = outs.iter().map(|v| v.name.as_str()).collect();
                return Err(format!(
                    "the graph has {} outputs {names:?}; redblue imports models with one output (the logits)",
                    names.len()
                ));
            }
        };
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            if n.op_type == "Constant" {
                continue;
            }
            for name in n.input.iter().filter(|s| !s.is_empty() && !consts.contains_key(s.as_str())) {
                let at = consumers.entry(name).or_default();
                if !at.contains(&i) {
                    at.push(i);
                }
            }
        }
        Ok(Chain { graph, consts, consumers, input, output })
    }

    /// The input's element type and per-example shape.
    fn input_shape(&self) -> std::result::Result<(Shape, Option<usize>), String> {
        let v = self.input;
        let what = format!("graph input '{}'", v.name);
        let t = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).ok_or(format!("{what}: not a tensor"))?;
        if t.elem_type != FLOAT {
            return Err(format!("{what}: dtype {}; redblue imports float32 models only", dtype_name(t.elem_type)));
        }
        let dims = &t.shape.as_ref().ok_or(format!("{what}: no shape (export with a fixed input shape)"))?.dim;
        let fixed = |i: usize| -> std::result::Result<usize, String> {
            match dims[i].dim_value {
                Some(d) if d > 0 && d as u64 <= MAX_VALUES as u64 => Ok(d as usize),
                _ => Err(format!("{what}: dimension {i} must be a fixed positive size, found {:?}", dims[i])),
            }
        };
        let batch = dims.first().and_then(|d| d.dim_value).and_then(|d| usize::try_from(d).ok()).filter(|&d| d > 0);
        let shape = match dims.len() {
            2 => Shape::Flat(fixed(1)?),
            4 => Shape::Image { c: fixed(1)?, h: fixed(2)?, w: fixed(3)? },
            r => {
                return Err(format!(
                    "{what}: rank {r}; redblue imports inputs [N, C, H, W] or [N, features] (N may be symbolic)"
                ))
            }
        };
        Ok((shape, batch))
    }

    /// Walks the chain from the input to the output, building the layers.
    fn walk(&self) -> std::result::Result<(Arch, Vec<Vec<f32>>), String> {
        let (shape, batch) = self.input_shape()?;
        let input = match shape {
            Shape::Image { c, h, w } => Some([c, h, w]),
            Shape::Flat(_) => None,
        };
        let mut b = Build {
            shape,
            input,
            norm: None,
            layers: Vec::new(),
            params: Vec::new(),
            batch,
            open_bias: None,
            convs: 0,
            linears: 0,
        };
        let mut used: HashSet<usize> = HashSet::new();
        let mut cur: &str = &self.input.name;
        loop {
            let next = self.consumers.get(cur).map_or(&[][..], |v| v.as_slice());
            if cur == self.output {
                if let Some(&i) = next.first() {
                    return Err(format!(
                        "the graph output '{cur}' also feeds {}: redblue imports a single chain of nodes",
                        node_label(i, &self.graph.node[i])
                    ));
                }
                break;
            }
            let i = match next {
                [one] => *one,
                [] => {
                    return Err(format!(
                        "value '{cur}' is used by no node and is not the graph output '{}'",
                        self.output
                    ))
                }
                many => {
                    let names: Vec<String> = many.iter().map(|&i| node_label(i, &self.graph.node[i])).collect();
                    return Err(format!(
                        "value '{cur}' feeds {}: redblue imports a single chain of nodes (no branches)",
                        names.join(" and ")
                    ));
                }
            };
            if !used.insert(i) {
                return Err(format!("{} is reached twice (a cycle)", node_label(i, &self.graph.node[i])));
            }
            let node = &self.graph.node[i];
            let label = node_label(i, node);
            self.step(&mut b, node, cur).map_err(|e| format!("{label}: {e}"))?;
            cur = node.output.first().ok_or(format!("{label}: no output"))?;
        }
        for (i, n) in self.graph.node.iter().enumerate() {
            if !used.contains(&i) && n.op_type != "Constant" {
                return Err(format!(
                    "{} is not on the path from the input to the output: redblue imports a single chain of nodes",
                    node_label(i, n)
                ));
            }
        }
        b.finish()
    }

    /// The constant input `k` of `node` (not the chain's value), if the node has one there.
    fn const_input(&self, node: &proto::Node, k: usize) -> std::result::Result<Option<&Const>, String> {
        match node.input.get(k).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(name) => match self.consts.get(name.as_str()) {
                Some(Ok(c)) => Ok(Some(c)),
                Some(Err(e)) => Err(e.clone()),
                None => Err(format!("input {k} '{name}' is computed by the graph; redblue needs a constant there")),
            },
        }
    }

    /// Maps one node onto the layers.
    fn step(&self, b: &mut Build, node: &proto::Node, cur: &str) -> std::result::Result<(), String> {
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
            return Err(format!("operator of domain '{}'; redblue imports the default ONNX domain only", node.domain));
        }
        let op = node.op_type.as_str();
        if !OPERATORS.contains(&op) {
            return Err(format!("unsupported operator; redblue imports {}", OPERATORS.join(", ")));
        }
        // The chain's value is input 0, except for Add (either side).
        let data_at = node.input.iter().position(|s| s == cur).unwrap_or(0);
        if data_at != 0 && op != "Add" {
            return Err(format!(
                "the chain's value '{cur}' is input {data_at}; redblue reads it as input 0 (x - c, x / c)"
            ));
        }
        if node.input.iter().filter(|s| *s == cur).count() > 1 {
            return Err(format!("value '{cur}' is used twice by the node"));
        }
        for (k, name) in node.input.iter().enumerate() {
            if k != data_at && !name.is_empty() && !self.consts.contains_key(name.as_str()) {
                return Err(format!("input {k} '{name}' is computed by the graph; redblue needs a constant there"));
            }
        }
        for extra in node.output.iter().skip(1).filter(|o| !o.is_empty()) {
            if self.consumers.contains_key(extra.as_str()) || extra == self.output {
                return Err(format!("its second output '{extra}' is used; redblue imports single-output nodes"));
            }
        }
        if let Some(a) = node.attribute.iter().find(|a| !a.ref_attr_name.is_empty()) {
            return Err(format!("attribute '{}' refers to a function's attribute; not supported", a.name));
        }
        if op != "Add" {
            b.open_bias = None;
        }
        match op {
            "Identity" => Ok(()),
            "Relu" => b.push(Layer::Relu),
            "Dropout" => self.dropout(b, node),
            "Sub" | "Div" => {
                let c = self.const_input(node, 1)?.ok_or("needs two inputs")?;
                b.normalize(op, c)
            }
            "Conv" => self.conv(b, node),
            "MaxPool" => max_pool(b, node),
            "Gemm" => self.gemm(b, node),
            "MatMul" => self.matmul(b, node),
            "Add" => {
                let c = self.const_input(node, 1 - data_at.min(1))?.ok_or("needs two inputs")?;
                b.bias(c)
            }
            "Flatten" => {
                let axis = attr(node, "axis").map_or(1, |a| a.i);
                if axis != 1 {
                    return Err(format!("axis {axis}; redblue imports Flatten(axis=1) (one example per row)"));
                }
                b.flatten()
            }
            "Reshape" => {
                let c = self.const_input(node, 1)?.ok_or("needs a shape input")?;
                let allowzero = attr(node, "allowzero").map_or(0, |a| a.i);
                b.reshape(c, allowzero != 0)
            }
            _ => Err(format!("unsupported operator; redblue imports {}", OPERATORS.join(", "))),
        }
    }

    fn dropout(&self, b: &mut Build, node: &proto::Node) -> std::result::Result<(), String> {
        let mut p = attr(node, "ratio").map_or(0.5, |a| a.f as f64);
        if let Some(r) = self.const_input(node, 1)? {
            p = match &r.values {
                Values::F32(v) if v.len() == 1 => v[0] as f64,
                _ => return Err(format!("ratio {}: expected one float", r.what)),
            };
        }
        if let Some(t) = self.const_input(node, 2)? {
            let on = match &t.values {
                Values::F32(v) => v.iter().any(|&x| x != 0.0),
                Values::I64(v) => v.iter().any(|&x| x != 0),
            };
            if on {
                return Err(
                    "training_mode is true: the exported model drops units at random; export in eval mode".into()
                );
            }
        }
        if !(0.0..1.0).contains(&p) {
            return Err(format!("ratio {p} must be in [0, 1)"));
        }
        b.push(Layer::Dropout { p })
    }

    fn conv(&self, b: &mut Build, node: &proto::Node) -> std::result::Result<(), String> {
        let w = self.const_input(node, 1)?.ok_or("no weight")?;
        let Shape::Image { c, .. } = b.shape else {
            return Err(format!("its input {} is not an image [N, C, H, W]", b.shape));
        };
        let [oc, ic, kh, kw] = w.dims[..] else {
            return Err(format!("weight {} has shape {:?}; a 2-D convolution's is [out, in, kh, kw]", w.what, w.dims));
        };
        if ic != c || kh != kw {
            return Err(format!(
                "weight {} has shape {:?}: redblue imports square kernels over all {c} input channels",
                w.what, w.dims
            ));
        }
        check_pad_mode(node)?;
        let group = attr(node, "group").map_or(1, |a| a.i);
        if group != 1 {
            return Err(format!("group {group}; redblue imports group 1 (no grouped or depthwise convolutions)"));
        }
        ints_all(node, "dilations", 2, 1, &[1])?;
        if let Some(k) = attr(node, "kernel_shape") {
            if k.ints != [kh as i64, kw as i64] {
                return Err(format!("kernel_shape {:?} does not match the weight's {:?}", k.ints, [kh, kw]));
            }
        }
        let stride = ints_all(node, "strides", 2, 1, &[])?;
        let padding = ints_all(node, "pads", 4, 0, &[])?;
        let weight = w.f32s("weight")?.to_vec();
        let bias = match self.const_input(node, 2)? {
            Some(bias) if bias.dims == [oc] => bias.f32s("bias")?.to_vec(),
            Some(bias) => return Err(format!("bias {} has shape {:?}, expected [{oc}]", bias.what, bias.dims)),
            None => vec![0.0; oc],
        };
        b.convs += 1;
        let name = format!("conv{}", b.convs);
        b.push(Layer::Conv2d { name, out_channels: oc, kernel: kh, stride, padding })?;
        b.params.extend([weight, bias]);
        Ok(())
    }

    fn gemm(&self, b: &mut Build, node: &proto::Node) -> std::result::Result<(), String> {
        for (name, want) in [("alpha", 1.0f32), ("beta", 1.0)] {
            if let Some(a) = attr(node, name) {
                if a.f != want {
                    return Err(format!("{name} = {}; redblue imports Gemm with alpha = beta = 1", a.f));
                }
            }
        }
        if attr(node, "transA").is_some_and(|a| a.i != 0) {
            return Err("transA = 1; redblue imports Gemm with the input untransposed".into());
        }
        let trans_b = attr(node, "transB").is_some_and(|a| a.i != 0);
        let w = self.const_input(node, 1)?.ok_or("no weight")?;
        let Shape::Flat(n) = b.shape else {
            return Err(format!("its input {} is not flat [N, features]: put a Flatten first", b.shape));
        };
        let [r, c] = w.dims[..] else {
            return Err(format!("weight {} has shape {:?}; expected 2-D", w.what, w.dims));
        };
        let data = w.f32s("weight")?;
        let (out, weight) = if trans_b { (r, data.to_vec()) } else { (c, super::file::transpose(data, r, c)) };
        let fan_in = if trans_b { c } else { r };
        if fan_in != n {
            return Err(format!(
                "weight {} has shape {:?} (transB {}); the input has {n} features",
                w.what, w.dims, trans_b as u8
            ));
        }
        let bias = match self.const_input(node, 2)? {
            Some(bias) if bias.dims == [out] || bias.dims == [1, out] => bias.f32s("bias")?.to_vec(),
            Some(bias) => return Err(format!("bias {} has shape {:?}, expected [{out}]", bias.what, bias.dims)),
            None => vec![0.0; out],
        };
        b.linear(out, weight, bias)
    }

    fn matmul(&self, b: &mut Build, node: &proto::Node) -> std::result::Result<(), String> {
        let w = self.const_input(node, 1)?.ok_or("no weight")?;
        let Shape::Flat(n) = b.shape else {
            return Err(format!("its input {} is not flat [N, features]: put a Flatten first", b.shape));
        };
        let [r, out] = w.dims[..] else {
            return Err(format!("weight {} has shape {:?}; expected [in, out]", w.what, w.dims));
        };
        if r != n {
            return Err(format!("weight {} has shape {:?}; the input has {n} features", w.what, w.dims));
        }
        let weight = super::file::transpose(w.f32s("weight")?, r, out);
        b.linear(out, weight, vec![0.0; out])?;
        b.open_bias = Some(b.params.len() - 1);
        Ok(())
    }
}

/// `auto_pad` must leave the explicit pads in charge.
fn check_pad_mode(node: &proto::Node) -> std::result::Result<(), String> {
    let mode = attr(node, "auto_pad").map(|a| String::from_utf8_lossy(&a.s).into_owned());
    match mode.as_deref() {
        None | Some("NOTSET") | Some("") => Ok(()),
        Some("VALID") if ints_all(node, "pads", 4, 0, &[0]).is_ok() => Ok(()),
        Some(m) => Err(format!("auto_pad {m}; redblue imports explicit symmetric pads (auto_pad NOTSET)")),
    }
}

/// Integer-list attribute `name` of `len` equal entries (absent: `default`), the entry
/// returned; `only` (if not empty) lists the values allowed.
fn ints_all(
    node: &proto::Node,
    name: &str,
    len: usize,
    default: i64,
    only: &[i64],
) -> std::result::Result<usize, String> {
    let v = match attr(node, name) {
        None => default,
        Some(a) => {
            if a.ints.len() != len || a.ints.iter().any(|&x| x != a.ints[0]) {
                return Err(format!(
                    "{name} {:?}; redblue imports {len} equal values (square kernels, symmetric padding)",
                    a.ints
                ));
            }
            a.ints[0]
        }
    };
    if !only.is_empty() && !only.contains(&v) {
        return Err(format!("{name} {v}; redblue imports {name} {only:?} only"));
    }
    usize::try_from(v).ok().filter(|&v| v <= 1 << 20).ok_or(format!("{name} {v} is out of range"))
}

fn max_pool(b: &mut Build, node: &proto::Node) -> std::result::Result<(), String> {
    if !matches!(b.shape, Shape::Image { .. }) {
        return Err(format!("its input {} is not an image [N, C, H, W]", b.shape));
    }
    if attr(node, "ceil_mode").is_some_and(|a| a.i != 0) {
        return Err("ceil_mode 1; redblue imports floor mode (ceil_mode 0)".into());
    }
    check_pad_mode(node)?;
    ints_all(node, "pads", 4, 0, &[0])?;
    ints_all(node, "dilations", 2, 1, &[1])?;
    let k = attr(node, "kernel_shape").ok_or("no kernel_shape")?;
    let kernel = ints_all(node, "kernel_shape", 2, 0, &[])?;
    if kernel == 0 {
        return Err(format!("kernel_shape {:?} must be positive", k.ints));
    }
    let stride = ints_all(node, "strides", 2, 1, &[])?;
    b.push(Layer::MaxPool2d { kernel, stride })
}

/// A `Constant` node's value (`value`, `value_float(s)`, `value_int(s)`).
fn constant_node(i: usize, n: &proto::Node) -> std::result::Result<Const, String> {
    let label = node_label(i, n);
    let what = format!("constant '{}' ({label})", n.output.first().map_or("", |s| s.as_str()));
    let [a] = n.attribute.as_slice() else {
        return Err(format!("{label}: expected one attribute, found {}", n.attribute.len()));
    };
    match a.name.as_str() {
        "value" => decode_tensor(a.t.as_ref().ok_or(format!("{label}: value without a tensor"))?, what),
        "value_float" => Ok(Const { what, dims: vec![], values: Values::F32(vec![a.f]), dtype: FLOAT }),
        "value_floats" => {
            Ok(Const { what, dims: vec![a.floats.len()], values: Values::F32(a.floats.clone()), dtype: FLOAT })
        }
        "value_int" => Ok(Const { what, dims: vec![], values: Values::I64(vec![a.i]), dtype: INT64 }),
        "value_ints" => Ok(Const { what, dims: vec![a.ints.len()], values: Values::I64(a.ints.clone()), dtype: INT64 }),
        other => Err(format!("{label}: attribute '{other}'; redblue reads numeric constants only")),
    }
}

impl Build {
    /// Appends a layer, its input's normalisation first if pending.
    fn push(&mut self, layer: Layer) -> std::result::Result<(), String> {
        self.open_input()?;
        self.layers.push(layer);
        let arch = Arch { version: VERSION, input: self.input.unwrap_or([1, 1, 1]), layers: self.layers.clone() };
        let shapes = arch.prefix_shapes().map_err(|e| e.to_string())?;
        self.shape = *shapes.last().ok_or("no layers")?;
        Ok(())
    }

    /// Fixes the input shape (a flat input's: `[1, H, W]` for a square number of features,
    /// `[1, 1, D]` otherwise) and writes the pending normalisation as the first layer.
    fn open_input(&mut self) -> std::result::Result<(), String> {
        if self.input.is_none() {
            let d = self.shape.len();
            let s = (d as f64).sqrt().round() as usize;
            self.input = Some(if s * s == d { [1, s, s] } else { [1, 1, d] });
            self.layers.push(Layer::Flatten);
        }
        if let Some((mean, std)) = self.norm.take() {
            let c = self.input.map_or(1, |i| i[0]);
            let spread = |v: Vec<f32>| if v.len() == 1 { vec![v[0]; c] } else { v };
            self.layers.insert(0, Layer::Normalize { mean: spread(mean), std: spread(std) });
        }
        Ok(())
    }

    /// `Sub` or `Div` by constant `c` while nothing but the input's shape and normalisation
    /// has been read: folded into `(x - mean) / std`.
    fn normalize(&mut self, op: &str, c: &Const) -> std::result::Result<(), String> {
        if !self.layers.is_empty() {
            return Err(format!(
                "{op} after the first layer; redblue imports Sub and Div only as the input's normalisation \
                 (constants applied before any other layer)"
            ));
        }
        let v = c.f32s(if op == "Sub" { "the mean subtracted" } else { "the divisor" })?;
        // The constant broadcasts against [N, C, H, W] (or [N, D]): a scalar, or one value per
        // channel ([C, 1, 1] or [1, C, 1, 1]).
        let mut dims: &[usize] = &c.dims;
        while dims.first() == Some(&1) && dims.len() > 1 {
            dims = &dims[1..];
        }
        let channels = match (self.shape, dims) {
            _ if c.len() == 1 => 1,
            (Shape::Image { c: ch, .. }, [k, 1, 1]) if *k == ch && self.input.is_some() => ch,
            _ => {
                return Err(format!(
                "{} has shape {:?}; redblue keeps a scalar or per-channel ([C, 1, 1]) normalisation of the input {}",
                c.what, c.dims, self.shape
            ))
            }
        };
        let (mut mean, mut std) = self.norm.take().unwrap_or_else(|| (vec![0.0], vec![1.0]));
        let n = mean.len().max(channels);
        if mean.len() < n {
            mean = vec![mean[0]; n];
            std = vec![std[0]; n];
        }
        let at = |v: &[f32], k: usize| if v.len() == 1 { v[0] } else { v[k] };
        for k in 0..n {
            // (x - m) / s - c = (x - (m + c s)) / s; ((x - m) / s) / d = (x - m) / (s d).
            if op == "Sub" {
                mean[k] += at(v, k) * std[k];
            } else {
                let d = at(v, k);
                if !(d.is_finite() && d > 0.0) {
                    return Err(format!("{} divides by {d}; a normalisation's std must be positive", c.what));
                }
                std[k] *= d;
            }
        }
        self.norm = Some((mean, std));
        Ok(())
    }

    fn flatten(&mut self) -> std::result::Result<(), String> {
        match self.shape {
            Shape::Flat(_) => Ok(()),
            Shape::Image { .. } => self.push(Layer::Flatten),
        }
    }

    /// `Reshape` to `[N, features]` (a flatten) or, of the input, to `[N, C, H, W]`.
    fn reshape(&mut self, c: &Const, allowzero: bool) -> std::result::Result<(), String> {
        let (Values::I64(t), INT64) = (&c.values, c.dtype) else {
            return Err(format!("shape {}: dtype {}, expected INT64", c.what, dtype_name(c.dtype)));
        };
        let now: Vec<usize> = match self.shape {
            Shape::Image { c, h, w } => vec![c, h, w],
            Shape::Flat(d) => vec![d],
        };
        let len = self.shape.len();
        let Some((&first, rest)) = t.split_first() else {
            return Err(format!("shape {t:?}: redblue keeps the batch as the first dimension"));
        };
        let batch_kept = first == -1 || (first == 0 && !allowzero) || self.batch.is_some_and(|n| first == n as i64);
        if !batch_kept {
            return Err(format!(
                "shape {t:?}: the first dimension must stay the batch (-1, 0 or the input's batch size)"
            ));
        }
        let mut dims: Vec<i64> = rest
            .iter()
            .enumerate()
            .map(|(k, &d)| if d == 0 && !allowzero { now.get(k).map_or(-2, |&v| v as i64) } else { d })
            .collect();
        let unknown = dims.iter().filter(|&&d| d == -1).count();
        if dims.iter().any(|&d| d < -1 || d == 0) || unknown + usize::from(first == -1) > 1 {
            return Err(format!("shape {t:?} cannot be resolved for an input {}", self.shape));
        }
        let too_large = || format!("shape {t:?} is too large");
        let known = dims.iter().filter(|&&d| d > 0).try_fold(1i64, |a, &d| a.checked_mul(d)).ok_or_else(too_large)?;
        if unknown == 1 {
            if len as i64 % known != 0 {
                return Err(format!("shape {t:?} does not fit an input {}", self.shape));
            }
            for d in dims.iter_mut().filter(|d| **d == -1) {
                *d = len as i64 / known;
            }
        }
        let dims: Vec<usize> = dims.iter().map(|&d| d as usize).collect();
        if dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(len) {
            return Err(format!("shape {t:?} does not fit an input {} ({len} values per example)", self.shape));
        }
        match (dims.as_slice(), self.shape) {
            ([_], Shape::Flat(_)) => Ok(()),
            ([_], Shape::Image { .. }) => self.push(Layer::Flatten),
            ([ch, h, w], Shape::Image { .. }) if self.shape == (Shape::Image { c: *ch, h: *h, w: *w }) => Ok(()),
            ([ch, h, w], Shape::Flat(_)) if self.layers.is_empty() && self.input.is_none() => {
                self.input = Some([*ch, *h, *w]);
                self.shape = Shape::Image { c: *ch, h: *h, w: *w };
                Ok(())
            }
            _ => Err(format!(
                "shape {t:?}: from {} redblue reshapes only to [N, features] (a flatten) or, at the input, to [N, C, H, W]",
                self.shape
            )),
        }
    }

    fn linear(&mut self, out: usize, weight: Vec<f32>, bias: Vec<f32>) -> std::result::Result<(), String> {
        self.linears += 1;
        let name = format!("fc{}", self.linears);
        self.push(Layer::Linear { name, out_features: out })?;
        self.params.extend([weight, bias]);
        Ok(())
    }

    /// `Add` of a constant right after a `MatMul`: that layer's bias.
    fn bias(&mut self, c: &Const) -> std::result::Result<(), String> {
        let Some(at) = self.open_bias.take() else {
            return Err("redblue imports Add only as the bias right after a MatMul".into());
        };
        let out = self.params[at].len();
        if !(c.dims == [out] || c.dims == [1, out]) {
            return Err(format!("bias {} has shape {:?}, expected [{out}]", c.what, c.dims));
        }
        self.params[at] = c.f32s("bias")?.to_vec();
        Ok(())
    }

    /// The architecture, checked whole, and its parameters.
    fn finish(mut self) -> std::result::Result<(Arch, Vec<Vec<f32>>), String> {
        if self.params.is_empty() {
            return Err("the graph has no Gemm, MatMul or Conv node: no layer to import".into());
        }
        self.open_input()?;
        let arch = Arch { version: VERSION, input: self.input.unwrap_or([1, 1, 1]), layers: self.layers };
        arch.shapes().map_err(|e| e.to_string())?;
        Ok((arch, self.params))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{file, Classifier};
    use crate::tensorfile::f32_from_bytes;

    fn fixture(name: &str) -> Vec<u8> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// PyTorch's inputs and logits for a model (`bench/peers/make_import_fixtures.py`).
    fn io(name: &str) -> (Vec<f32>, Vec<f32>) {
        let bytes = fixture(&format!("{name}.io.safetensors"));
        let st = safetensors::SafeTensors::deserialize(&bytes).expect("io file");
        let get = |t: &str| f32_from_bytes(st.tensor(t).expect("io tensor").data());
        (get("inputs"), get("logits"))
    }

    /// Both exporters' files, and a flat-input MLP with a MatMul + Add layer, give PyTorch's
    /// logits within 1e-5; the MLPs become the paper's model; the provenance is read.
    #[test]
    fn onnx_exports_import_with_pytorchs_logits() {
        for (file, io_of, mlp) in [
            ("tiny_cnn.onnx", "tiny_cnn", false),
            ("tiny_cnn.ts.onnx", "tiny_cnn", false),
            ("tiny_mlp.onnx", "tiny_mlp", true),
            ("tiny_flat_mlp.onnx", "tiny_mlp", true),
        ] {
            let (model, info) = import(&fixture(file), Path::new(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(model.mlp().is_some(), mlp, "{file}: {}", model.summary());
            assert_eq!(model.input_dim(), 144, "{file}");
            assert_eq!((info.opset, info.producer_name.as_str()), (20, "pytorch"), "{file}: {info:?}");
            assert!(info.producer_version.starts_with("2."), "{info:?}");
            let (x, want) = io(io_of);
            let got = model.logits_host(&x, 8);
            assert_eq!(got.len(), want.len());
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() <= 1e-5, "{file}: logit {a} vs PyTorch's {b}");
            }
        }
    }

    /// The ONNX files and the state_dicts of the same models give the same architecture (less
    /// the dropout the exporter leaves out in eval mode) and bit-identical parameters, named
    /// as PyTorch names them.
    #[test]
    fn onnx_and_state_dict_imports_agree() {
        for (file, name) in [
            ("tiny_cnn.onnx", "tiny_cnn"),
            ("tiny_cnn.ts.onnx", "tiny_cnn"),
            ("tiny_mlp.onnx", "tiny_mlp"),
            ("tiny_flat_mlp.onnx", "tiny_mlp"),
        ] {
            let (arch, params, _) = read(&fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            let mut want: Arch = serde_json::from_slice(&fixture(&format!("{name}.arch.json"))).expect("arch json");
            want.layers.retain(|l| !matches!(l, Layer::Dropout { .. }));
            assert_eq!(arch, want, "{file}");
            let state = fixture(&format!("{name}.state.safetensors"));
            let st = safetensors::SafeTensors::deserialize(&state).expect("state_dict");
            let specs = arch.params().expect("params");
            assert_eq!(specs.len(), params.len());
            for (s, p) in specs.iter().zip(&params) {
                let torch = f32_from_bytes(st.tensor(&s.name).expect("a state_dict tensor").data());
                assert!(torch == *p, "{file}: {} differs from the state_dict's", s.name);
            }
            // The state_dict import of the same file gives the same logits, bit for bit.
            let (onnx_model, _) = import(&fixture(file), Path::new(file)).expect("import");
            let (sd_model, _) = file::import_state_dict(&state, Path::new(name), want).expect("state_dict import");
            let (x, _) = io(name);
            assert_eq!(onnx_model.logits_host(&x, 8), sd_model.logits_host(&x, 8), "{file}");
        }
    }

    /// The CNN's graph, decoded, for tests to break.
    fn cnn() -> proto::Model {
        proto::Model::decode(fixture("tiny_cnn.onnx").as_slice()).expect("decode")
    }

    fn err_of(m: &proto::Model) -> String {
        match import(&m.encode_to_vec(), Path::new("bad.onnx")) {
            Ok((model, _)) => panic!("accepted: {}", model.summary()),
            Err(e) => e.to_string(),
        }
    }

    fn graph(m: &mut proto::Model) -> &mut proto::Graph {
        m.graph.as_mut().expect("graph")
    }

    fn node<'m>(m: &'m mut proto::Model, name: &str) -> &'m mut proto::Node {
        graph(m).node.iter_mut().find(|n| n.name == name).expect("node")
    }

    fn set_ints(n: &mut proto::Node, name: &str, ints: &[i64]) {
        let a = n.attribute.iter_mut().find(|a| a.name == name).expect("attribute");
        a.ints = ints.to_vec();
    }

    /// An operator outside the vocabulary is refused by name and node, with the list of
    /// those imported.
    #[test]
    fn unsupported_operators_are_refused_by_name_and_node() {
        let e = import(&fixture("tiny_sigmoid.onnx"), Path::new("sig.onnx")).map(|_| ()).expect_err("sigmoid");
        let want = "node 'node_sigmoid' (op Sigmoid): unsupported operator; redblue imports Gemm, MatMul, Add, \
                    Conv, Relu, MaxPool, Flatten, Reshape, Dropout, Identity, Sub, Div";
        assert!(e.to_string().contains(want) && e.to_string().contains("sig.onnx"), "{e}");
        let mut m = cnn();
        node(&mut m, "node_relu").op_type = "Tanh".into();
        assert!(err_of(&m).contains("node 'node_relu' (op Tanh): unsupported operator"), "{}", err_of(&m));
        let mut m = cnn();
        node(&mut m, "node_relu").domain = "com.microsoft".into();
        assert!(err_of(&m).contains("(op Relu): operator of domain 'com.microsoft'"), "{}", err_of(&m));
    }

    /// Attributes outside what the layers compute are refused with the node and the value.
    #[test]
    fn unsupported_attributes_are_refused() {
        type Edit = Box<dyn Fn(&mut proto::Model)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(|m| set_ints(node(m, "node_conv2d"), "pads", &[1, 1, 0, 0])),
                "node 'node_conv2d' (op Conv): pads [1, 1, 0, 0]",
            ),
            (Box::new(|m| set_ints(node(m, "node_conv2d"), "dilations", &[2, 2])), "(op Conv): dilations 2"),
            (Box::new(|m| set_ints(node(m, "node_conv2d"), "strides", &[1, 2])), "(op Conv): strides [1, 2]"),
            (
                Box::new(|m| {
                    node(m, "node_conv2d").attribute.iter_mut().for_each(|a| {
                        if a.name == "group" {
                            a.i = 2
                        }
                    })
                }),
                "(op Conv): group 2",
            ),
            (
                Box::new(|m| {
                    node(m, "node_max_pool2d").attribute.iter_mut().for_each(|a| {
                        if a.name == "ceil_mode" {
                            a.i = 1
                        }
                    })
                }),
                "node 'node_max_pool2d' (op MaxPool): ceil_mode 1",
            ),
            (Box::new(|m| set_ints(node(m, "node_max_pool2d"), "pads", &[1, 1, 1, 1])), "(op MaxPool): pads 1"),
            (
                Box::new(|m| {
                    node(m, "node_linear").attribute.iter_mut().for_each(|a| {
                        if a.name == "alpha" {
                            a.f = 2.0
                        }
                    })
                }),
                "node 'node_linear' (op Gemm): alpha = 2",
            ),
            (
                Box::new(|m| {
                    node(m, "node_linear").attribute.iter_mut().for_each(|a| {
                        if a.name == "transA" {
                            a.i = 1
                        }
                    })
                }),
                "(op Gemm): transA = 1",
            ),
            (
                Box::new(|m| {
                    let n = node(m, "node_linear_1");
                    n.input.swap(0, 1);
                }),
                "node 'node_linear_1' (op Gemm)",
            ),
        ];
        for (edit, want) in cases {
            let mut m = cnn();
            edit(&mut m);
            let e = err_of(&m);
            assert!(e.contains(want) && e.contains("bad.onnx"), "{e:?} should say {want:?}");
        }
    }

    /// Dtypes other than float32, non-finite weights and external data are refused by name.
    #[test]
    fn tensors_are_checked() {
        let mut m = cnn();
        graph(&mut m).initializer.iter_mut().filter(|t| t.name == "fc1.weight").for_each(|t| t.data_type = 11);
        assert!(
            err_of(&m).contains("initializer 'fc1.weight': dtype DOUBLE; redblue imports float32"),
            "{}",
            err_of(&m)
        );
        let mut m = cnn();
        let input = graph(&mut m).input[0].r#type.as_mut().and_then(|t| t.tensor_type.as_mut()).expect("tensor type");
        input.elem_type = 10;
        assert!(err_of(&m).contains("graph input 'image': dtype FLOAT16"), "{}", err_of(&m));
        let mut m = cnn();
        graph(&mut m).initializer.iter_mut().filter(|t| t.name == "conv2.bias").for_each(|t| {
            t.raw_data[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
        });
        assert!(err_of(&m).contains("initializer 'conv2.bias' (bias): non-finite value at index 1"), "{}", err_of(&m));
        let mut m = cnn();
        graph(&mut m).initializer.iter_mut().filter(|t| t.name == "fc2.weight").for_each(|t| {
            t.data_location = 1;
            t.raw_data.clear();
        });
        assert!(err_of(&m).contains("initializer 'fc2.weight': its data is in an external file"), "{}", err_of(&m));
        let mut m = cnn();
        graph(&mut m).initializer.iter_mut().filter(|t| t.name == "fc2.weight").for_each(|t| {
            t.raw_data.pop();
        });
        assert!(
            err_of(&m).contains("initializer 'fc2.weight': shape [10, 16] needs 160 float32 values"),
            "{}",
            err_of(&m)
        );
        // A constant the chain does not use is not read: an unused int32 initializer is fine,
        // and a BOOL shape is refused where it is used.
        let mut m = cnn();
        let unused = proto::Tensor {
            name: "unused".into(),
            data_type: 6,
            dims: vec![2],
            int32_data: vec![1, 2],
            ..Default::default()
        };
        graph(&mut m).initializer.push(unused);
        assert!(import(&m.encode_to_vec(), Path::new("ok.onnx")).is_ok());
        let mut m = cnn();
        graph(&mut m).initializer.iter_mut().filter(|t| t.name == "val_14").for_each(|t| {
            t.data_type = 9;
            t.raw_data = vec![1, 1];
        });
        assert!(
            err_of(&m).contains("(op Reshape): shape initializer 'val_14': dtype BOOL, expected INT64"),
            "{}",
            err_of(&m)
        );
    }

    /// `Identity` and an inference-mode `Dropout` (ratio and training_mode as inputs, opset
    /// 12 and later) pass values through; the dropout is kept as a layer for training. A
    /// `Dropout` in training mode is refused.
    #[test]
    fn identity_and_dropout_pass_values_through() {
        let with = |training: u8| {
            let mut m = proto::Model::decode(fixture("tiny_mlp.onnx").as_slice()).expect("decode");
            let g = graph(&mut m);
            let relu = g.node.iter().position(|n| n.op_type == "Relu").expect("relu");
            let from = g.node[relu].output[0].clone();
            let node = |name: &str, op: &str, input: Vec<&str>, output: &str| proto::Node {
                name: name.into(),
                op_type: op.into(),
                input: input.into_iter().map(String::from).collect(),
                output: vec![output.into()],
                ..Default::default()
            };
            g.node.insert(relu + 1, node("id", "Identity", vec![&from], "id_out"));
            g.node.insert(relu + 2, node("drop", "Dropout", vec!["id_out", "ratio", "training"], "drop_out"));
            g.node[relu + 3].input[0] = "drop_out".into();
            let scalar = |name: &str, data_type: i32, raw_data: Vec<u8>| proto::Tensor {
                name: name.into(),
                data_type,
                raw_data,
                ..Default::default()
            };
            g.initializer.push(scalar("ratio", FLOAT, 0.25f32.to_le_bytes().to_vec()));
            g.initializer.push(scalar("training", BOOL, vec![training]));
            m.encode_to_vec()
        };
        let (arch, _, _) = read(&with(0)).expect("an inference-mode dropout");
        assert_eq!(
            arch.layers[3..],
            [Layer::Dropout { p: 0.25 }, Layer::Linear { name: "fc2".into(), out_features: 10 }]
        );
        let (model, _) = import(&with(0), Path::new("drop.onnx")).expect("import");
        let (x, want) = io("tiny_mlp");
        for (a, b) in model.logits_host(&x, 8).iter().zip(&want) {
            assert!((a - b).abs() <= 1e-5, "logit {a} vs PyTorch's {b}");
        }
        let e = import(&with(1), Path::new("drop.onnx")).map(|_| ()).expect_err("training mode").to_string();
        assert!(e.contains("node 'drop' (op Dropout): training_mode is true"), "{e}");
    }

    /// A graph that is not one chain from one input to one output is refused.
    #[test]
    fn non_chain_graphs_are_refused() {
        let mut m = cnn();
        let mut extra = graph(&mut m).node[4].clone(); // node_relu
        extra.name = "extra".into();
        extra.output = vec!["extra_out".into()];
        graph(&mut m).node.push(extra);
        let e = err_of(&m);
        assert!(
            e.contains("value 'conv2d' feeds node 'node_relu' (op Relu) and node 'extra' (op Relu)")
                && e.contains("no branches"),
            "{e}"
        );
        let mut m = cnn();
        let out = graph(&mut m).output[0].clone();
        graph(&mut m).output.push(proto::ValueInfo { name: "relu".into(), ..out });
        assert!(err_of(&m).contains("the graph has 2 outputs [\"logits\", \"relu\"]"), "{}", err_of(&m));
        let mut m = cnn();
        let input = graph(&mut m).input[0].clone();
        graph(&mut m).input.push(proto::ValueInfo { name: "second".into(), ..input });
        assert!(err_of(&m).contains("the graph has 2 inputs [\"image\", \"second\"]"), "{}", err_of(&m));
        // A node off the chain (its input computed elsewhere) is named.
        let mut m = cnn();
        let mut stray = graph(&mut m).node[4].clone();
        stray.name = "stray".into();
        stray.input = vec!["nowhere".into()];
        stray.output = vec!["stray_out".into()];
        graph(&mut m).node.push(stray);
        assert!(
            err_of(&m).contains("node 'stray' (op Relu) is not on the path from the input to the output"),
            "{}",
            err_of(&m)
        );
        // Sub/Div after a layer are not a normalisation.
        let mut m = cnn();
        node(&mut m, "node_relu").op_type = "Sub".into();
        assert!(err_of(&m).contains("node 'node_relu' (op Sub)"), "{}", err_of(&m));
    }

    /// Truncated files and random bytes are refused with an error, never a panic; a file
    /// whose default opset is too old is refused by its opset.
    #[test]
    fn broken_files_are_refused() {
        let bytes = fixture("tiny_cnn.onnx");
        for cut in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
            let e = import(&bytes[..cut], Path::new("cut.onnx")).map(|_| ()).expect_err("a truncated file");
            assert!(e.to_string().contains("cut.onnx"), "{e}");
        }
        let e = import(&bytes[..bytes.len() / 2], Path::new("cut.onnx")).map(|_| ()).expect_err("half a file");
        assert!(e.to_string().contains("not a readable ONNX model"), "{e}");
        let mut state = 7u64;
        for len in [0, 1, 8, 100, 5000] {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    (state >> 33) as u8
                })
                .collect();
            assert!(import(&junk, Path::new("junk.onnx")).is_err(), "{len} random bytes accepted");
        }
        let st = fixture("tiny_cnn.state.safetensors");
        assert!(import(&st, Path::new("x.onnx")).is_err(), "a safetensors file read as ONNX");
        let mut m = cnn();
        let g = graph(&mut m);
        g.node.clear();
        g.output[0].name = "image".into();
        assert!(err_of(&m).contains("the graph has no Gemm, MatMul or Conv node"), "{}", err_of(&m));
        let mut m = cnn();
        m.opset_import[0].version = 6;
        assert!(err_of(&m).contains("ONNX opset 6: redblue reads opset 9 and later"), "{}", err_of(&m));
    }
}
