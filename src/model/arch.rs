//! Architectures as data: a sequential network described by a small layer vocabulary, its
//! shapes inferred and checked layer by layer, its parameters named as PyTorch's `state_dict`
//! names them for the equivalent `nn.Module`.
//!
//! The description travels as JSON in a model file's `redblue.arch` metadata
//! (`{"version": 2, "input": [C, H, W], "layers": [...]}`); files written before it (the
//! paper's MLP as `MlpConfig`, without `version`) keep loading. Images are NCHW, as in
//! PyTorch: a `Flatten` after a convolution orders features channel, row, column.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The architecture format this build writes and reads.
pub const VERSION: u32 = 2;

/// One layer. Layers with parameters carry the attribute name their PyTorch module would
/// have (`conv1`, `fc1`), so their tensors are `<name>.weight` and `<name>.bias`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Layer {
    /// `(x - mean[c]) / std[c]` per channel, inside the model: attacks see pixels only.
    Normalize { mean: Vec<f32>, std: Vec<f32> },
    /// `nn.Conv2d(in, out_channels, kernel, stride, padding)` (square kernel, zero padding).
    Conv2d { name: String, out_channels: usize, kernel: usize, stride: usize, padding: usize },
    /// `nn.Linear(in, out_features)`; its input must be flat (a `Flatten` first).
    Linear { name: String, out_features: usize },
    /// `nn.ReLU()`.
    Relu,
    /// `nn.MaxPool2d(kernel, stride)`, no padding, floor mode.
    MaxPool2d { kernel: usize, stride: usize },
    /// `nn.Flatten()`: `[C, H, W]` to `C·H·W` features.
    Flatten,
    /// `nn.Dropout(p)`: active in training only; the identity when attacked or judged.
    Dropout { p: f64 },
}

/// A feature map's shape between layers (per example).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `[channels, height, width]`.
    Image { c: usize, h: usize, w: usize },
    /// A flat vector of features.
    Flat(usize),
}

impl Shape {
    /// Number of values.
    pub fn len(self) -> usize {
        match self {
            Shape::Image { c, h, w } => c * h * w,
            Shape::Flat(n) => n,
        }
    }
    /// Whether it holds no value.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Image { c, h, w } => write!(f, "[{c}, {h}, {w}]"),
            Shape::Flat(n) => write!(f, "[{n}]"),
        }
    }
}

/// A named parameter tensor and its PyTorch shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// `conv1.weight`, `fc2.bias`, ...
    pub name: String,
    /// `[out, in, kh, kw]` for a convolution's weight, `[out, in]` for a linear one, `[out]`
    /// for a bias.
    pub shape: Vec<usize>,
    /// Index of the layer it belongs to.
    pub layer: usize,
}

/// A sequential architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arch {
    /// Always [`VERSION`].
    pub version: u32,
    /// Input shape `[C, H, W]` (MNIST: `[1, 28, 28]`), pixels in the model's bounds.
    pub input: [usize; 3],
    /// The layers in order; the last one's output is the logits.
    pub layers: Vec<Layer>,
}

/// Largest size of any one dimension (keeps every product far from overflow).
const MAX_DIM: usize = 1 << 20;

impl Arch {
    /// The shape after each layer (`shapes()[i]` is layer `i`'s output), every layer's
    /// parameters checked; a specific error names the first layer that cannot apply.
    pub fn shapes(&self) -> Result<Vec<Shape>> {
        let out = self.prefix_shapes()?;
        match out.last() {
            Some(Shape::Flat(n)) if *n >= 2 => Ok(out),
            Some(s) => {
                Err(Error::Arch(format!("the last layer gives {s}: it must give flat logits for at least 2 classes")))
            }
            None => Err(Error::Arch("no layers".into())),
        }
    }

    /// [`Arch::shapes`] of an architecture still being built: every layer checked, the last
    /// one not required to give logits.
    pub fn prefix_shapes(&self) -> Result<Vec<Shape>> {
        let bad = |i: usize, what: String| Error::Arch(format!("layer {i} ({}): {what}", self.kind(i)));
        if self.version != VERSION {
            return Err(Error::Arch(format!("version {} is not supported (this build reads {VERSION})", self.version)));
        }
        let [c, h, w] = self.input;
        if [c, h, w].iter().any(|&v| v == 0 || v > MAX_DIM) || c * h * w > MAX_DIM {
            return Err(Error::Arch(format!(
                "input {:?}: every dimension must be positive, {MAX_DIM} values at most",
                self.input
            )));
        }
        if self.layers.is_empty() {
            return Err(Error::Arch("no layers".into()));
        }
        let mut shape = self.input_shape();
        let mut out = Vec::with_capacity(self.layers.len());
        let mut names: Vec<&str> = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            if let Layer::Conv2d { name, .. } | Layer::Linear { name, .. } = layer {
                let valid = name.chars().next().is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
                    && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.');
                if !valid {
                    return Err(bad(i, format!("name {name:?} is not a PyTorch attribute path")));
                }
                if names.contains(&name.as_str()) {
                    return Err(bad(i, format!("name {name:?} is used twice")));
                }
                names.push(name);
            }
            shape = match (layer, shape) {
                (Layer::Normalize { mean, std }, Shape::Image { c, .. }) => {
                    if mean.len() != c || std.len() != c {
                        return Err(bad(
                            i,
                            format!(
                                "needs {c} means and stds (one per channel), found {} and {}",
                                mean.len(),
                                std.len()
                            ),
                        ));
                    }
                    if mean.iter().any(|m| !m.is_finite()) || std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                        return Err(bad(i, "means must be finite and stds positive".into()));
                    }
                    shape
                }
                (Layer::Conv2d { out_channels, kernel, stride, padding, .. }, Shape::Image { h, w, .. }) => {
                    let (k, s, p) = (*kernel, *stride, *padding);
                    if *out_channels == 0
                        || *out_channels > MAX_DIM
                        || k == 0
                        || s == 0
                        || k > MAX_DIM
                        || s > MAX_DIM
                        || p > MAX_DIM
                    {
                        return Err(bad(i, "out_channels, kernel and stride must be positive".into()));
                    }
                    if h + 2 * p < k || w + 2 * p < k {
                        return Err(bad(i, format!("kernel {k} is larger than the padded input {}", shape)));
                    }
                    let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
                    Shape::Image { c: *out_channels, h: oh, w: ow }
                }
                (Layer::MaxPool2d { kernel, stride }, Shape::Image { c, h, w }) => {
                    let (k, s) = (*kernel, *stride);
                    if k == 0 || s == 0 || k > h || k > w {
                        return Err(bad(
                            i,
                            format!("kernel {k} and stride {s} must be positive, the kernel within the input {shape}"),
                        ));
                    }
                    Shape::Image { c, h: (h - k) / s + 1, w: (w - k) / s + 1 }
                }
                (Layer::Linear { out_features, .. }, Shape::Flat(_)) => {
                    if *out_features == 0 || *out_features > MAX_DIM {
                        return Err(bad(i, "out_features must be positive".into()));
                    }
                    Shape::Flat(*out_features)
                }
                (Layer::Linear { .. }, Shape::Image { .. }) => {
                    return Err(bad(i, format!("its input {shape} is not flat: put a flatten layer first")))
                }
                (Layer::Flatten, s) => Shape::Flat(s.len()),
                (Layer::Relu, s) => s,
                (Layer::Dropout { p }, s) => {
                    if !(0.0..1.0).contains(p) {
                        return Err(bad(i, format!("p = {p} must be in [0, 1)")));
                    }
                    s
                }
                (_, s) => return Err(bad(i, format!("needs an image input, found {s}"))),
            };
            if shape.is_empty() || shape.len() > MAX_DIM * 16 {
                return Err(bad(i, format!("output {shape} is empty or too large")));
            }
            out.push(shape);
        }
        Ok(out)
    }

    /// The layer's kind as its JSON `type`.
    fn kind(&self, i: usize) -> &'static str {
        match self.layers.get(i) {
            Some(Layer::Normalize { .. }) => "normalize",
            Some(Layer::Conv2d { .. }) => "conv2d",
            Some(Layer::Linear { .. }) => "linear",
            Some(Layer::Relu) => "relu",
            Some(Layer::MaxPool2d { .. }) => "max_pool2d",
            Some(Layer::Flatten) => "flatten",
            Some(Layer::Dropout { .. }) => "dropout",
            None => "none",
        }
    }

    /// The input's shape, `[C, H, W]`.
    pub fn input_shape(&self) -> Shape {
        let [c, h, w] = self.input;
        Shape::Image { c, h, w }
    }

    /// Pixels per image.
    pub fn input_len(&self) -> usize {
        self.input.iter().product()
    }

    /// Number of classes (the last layer's width); 0 when the architecture is invalid.
    pub fn classes(&self) -> usize {
        self.shapes().ok().and_then(|s| s.last().map(|s| s.len())).unwrap_or(0)
    }

    /// The parameters in PyTorch's `state_dict` order, with their shapes.
    pub fn params(&self) -> Result<Vec<ParamSpec>> {
        let shapes = self.shapes()?;
        let c0 = self.input_shape();
        let mut specs = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let before = if i == 0 { c0 } else { shapes[i - 1] };
            let (name, weight, out) = match (layer, before) {
                (Layer::Conv2d { name, out_channels, kernel, .. }, Shape::Image { c, .. }) => {
                    (name, vec![*out_channels, c, *kernel, *kernel], *out_channels)
                }
                (Layer::Linear { name, out_features }, Shape::Flat(n)) => (name, vec![*out_features, n], *out_features),
                _ => continue,
            };
            specs.push(ParamSpec { name: format!("{name}.weight"), shape: weight, layer: i });
            specs.push(ParamSpec { name: format!("{name}.bias"), shape: vec![out], layer: i });
        }
        Ok(specs)
    }

    /// The built-in architecture `name` (`mlp`, `madry-cnn`, `small-cnn`) for `[C, H, W]`
    /// inputs and `classes` outputs; `hidden` sets the MLP's hidden widths (the paper's: 625).
    pub fn builtin(name: &str, input: [usize; 3], classes: usize, hidden: &[usize]) -> Result<Arch> {
        use Layer::*;
        let conv = |name: &str, out_channels, kernel, stride, padding| Conv2d {
            name: name.into(),
            out_channels,
            kernel,
            stride,
            padding,
        };
        let fc = |name: &str, out_features| Linear { name: name.into(), out_features };
        let layers = match name {
            "mlp" => {
                if hidden.is_empty() {
                    return Err(Error::param("--hidden", "(none)", "an MLP needs at least one hidden layer"));
                }
                let mut l = vec![Flatten];
                for (i, &hd) in hidden.iter().enumerate() {
                    l.extend([fc(&format!("fc{}", i + 1), hd), Relu]);
                }
                l.push(fc(&format!("fc{}", hidden.len() + 1), classes));
                l
            }
            // Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks"
            // (arXiv:1706.06083), MNIST model: 5x5 convolutions with SAME padding.
            "madry-cnn" => vec![
                conv("conv1", 32, 5, 1, 2),
                Relu,
                MaxPool2d { kernel: 2, stride: 2 },
                conv("conv2", 64, 5, 1, 2),
                Relu,
                MaxPool2d { kernel: 2, stride: 2 },
                Flatten,
                fc("fc1", 1024),
                Relu,
                fc("fc2", classes),
            ],
            // Wong & Kolter, "Provable defenses against adversarial examples via the convex
            // outer adversarial polytope" (arXiv:1711.00851), the small MNIST model also used
            // by CROWN-IBP (arXiv:1906.06316).
            "small-cnn" => vec![
                conv("conv1", 16, 4, 2, 1),
                Relu,
                conv("conv2", 32, 4, 2, 1),
                Relu,
                Flatten,
                fc("fc1", 100),
                Relu,
                fc("fc2", classes),
            ],
            other => {
                return Err(Error::param("--arch", other, "must be one of mlp, madry-cnn, small-cnn"));
            }
        };
        let arch = Arch { version: VERSION, input, layers };
        arch.shapes()?;
        Ok(arch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_have_pytorch_shapes() {
        let m = Arch::builtin("madry-cnn", [1, 28, 28], 10, &[]).expect("madry");
        let p = m.params().expect("params");
        let shapes: Vec<(&str, Vec<usize>)> = p.iter().map(|s| (s.name.as_str(), s.shape.clone())).collect();
        assert_eq!(
            shapes,
            vec![
                ("conv1.weight", vec![32, 1, 5, 5]),
                ("conv1.bias", vec![32]),
                ("conv2.weight", vec![64, 32, 5, 5]),
                ("conv2.bias", vec![64]),
                ("fc1.weight", vec![1024, 3136]),
                ("fc1.bias", vec![1024]),
                ("fc2.weight", vec![10, 1024]),
                ("fc2.bias", vec![10]),
            ]
        );
        let s = Arch::builtin("small-cnn", [1, 28, 28], 10, &[]).expect("small");
        assert_eq!(s.shapes().expect("shapes")[3], Shape::Image { c: 32, h: 7, w: 7 });
        assert_eq!(s.params().expect("params")[4].shape, vec![100, 1568]);
        let mlp = Arch::builtin("mlp", [1, 28, 28], 10, &[1024, 512]).expect("mlp");
        let names: Vec<String> = mlp.params().expect("params").into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]);
        assert_eq!(mlp.classes(), 10);
    }

    #[test]
    fn json_round_trips_and_refuses_unknown_fields() {
        let a = Arch::builtin("small-cnn", [1, 28, 28], 10, &[]).expect("small");
        let s = serde_json::to_string(&a).expect("json");
        assert!(s.contains("\"type\":\"conv2d\""), "{s}");
        let b: Arch = serde_json::from_str(&s).expect("parse");
        assert_eq!(a, b);
        let bad = s.replace("\"stride\":2", "\"stride\":2,\"dilation\":2");
        assert!(serde_json::from_str::<Arch>(&bad).is_err());
    }

    #[test]
    fn impossible_architectures_are_refused_by_layer() {
        let base = Arch::builtin("small-cnn", [1, 28, 28], 10, &[]).expect("small");
        let with = |f: &dyn Fn(&mut Arch)| {
            let mut a = base.clone();
            f(&mut a);
            a.shapes().map(|_| ()).map_err(|e| e.to_string())
        };
        type Edit = Box<dyn Fn(&mut Arch)>;
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|a| a.version = 3), "version 3"),
            (Box::new(|a| a.input = [1, 0, 28]), "input"),
            (
                Box::new(|a| {
                    a.layers.remove(4);
                }),
                "layer 4 (linear): its input [32, 7, 7] is not flat",
            ),
            (
                Box::new(|a| {
                    a.layers[0] =
                        Layer::Conv2d { name: "conv1".into(), out_channels: 16, kernel: 40, stride: 1, padding: 0 }
                }),
                "kernel 40",
            ),
            (
                Box::new(|a| {
                    a.layers[2] =
                        Layer::Conv2d { name: "conv1".into(), out_channels: 32, kernel: 4, stride: 2, padding: 1 }
                }),
                "used twice",
            ),
            (
                Box::new(|a| a.layers.insert(0, Layer::Normalize { mean: vec![0.1, 0.2], std: vec![0.3, 0.3] })),
                "needs 1 means",
            ),
            (Box::new(|a| a.layers.insert(0, Layer::Normalize { mean: vec![0.1], std: vec![0.0] })), "stds positive"),
            (Box::new(|a| a.layers.push(Layer::Dropout { p: 1.0 })), "p = 1"),
            (Box::new(|a| a.layers.push(Layer::MaxPool2d { kernel: 2, stride: 2 })), "needs an image input"),
            (
                Box::new(|a| {
                    a.layers.pop();
                    a.layers.push(Layer::Linear { name: "fc2".into(), out_features: 1 });
                }),
                "at least 2 classes",
            ),
            (Box::new(|a| a.layers.clear()), "no layers"),
            (
                Box::new(|a| {
                    a.layers[0] =
                        Layer::Conv2d { name: "1x".into(), out_channels: 16, kernel: 4, stride: 2, padding: 1 }
                }),
                "attribute path",
            ),
        ];
        for (i, (f, want)) in cases.iter().enumerate() {
            let got = with(f.as_ref()).expect_err(want);
            assert!(got.contains(want), "case {i}: {got:?} should mention {want:?}");
        }
        assert!(with(&|_| ()).is_ok());
        assert!(Arch::builtin("resnet", [1, 28, 28], 10, &[]).is_err());
        assert!(Arch::builtin("mlp", [1, 28, 28], 10, &[]).is_err());
    }
}
