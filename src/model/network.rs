//! A sequential network built from an [`Arch`]: parameters by PyTorch name and layout, the
//! native forward pass and its vector-Jacobian products (input and parameters) on the host,
//! and burn's ops as the reference ([`Classifier::logits`]).
//!
//! The native pass runs layer by layer over the whole batch, each layer's output one
//! `[n, len]` buffer: convolutions and pooling image by image (in parallel, each image on its
//! own, so results do not depend on the thread count), linear layers as one product over the
//! batch.

use super::arch::{Arch, Layer, ParamSpec, Shape};
use super::{Classifier, Engine};
use crate::backend::device;
use crate::error::{Error, Result};
use crate::native::conv::{self, ConvGeom, PoolGeom};
use crate::native::dense::{matmul, Mat};
use crate::nn::dropout::Dropout;
use burn::tensor::{activation::relu, module, Tensor, TensorData};
use rand::{Rng, RngCore};
use rayon::prelude::*;

/// Values per parallel chunk of an elementwise step.
const ELEMS: usize = 1 << 14;

/// A layer resolved against its input shape, for the native pass (`param` indexes the
/// layer's weight in the parameter list; its bias follows).
#[derive(Clone, Debug)]
enum Op {
    Normalize { plane: usize, mean: Vec<f32>, std: Vec<f32> },
    Conv { g: ConvGeom, oc: usize, param: usize },
    Pool(PoolGeom),
    Linear { i: usize, o: usize, param: usize },
    Relu,
    Dropout(f64),
    Identity,
}

/// A network: its architecture, every layer's shape and its parameters.
#[derive(Clone, Debug)]
pub struct Network {
    arch: Arch,
    shapes: Vec<Shape>,
    ops: Vec<Op>,
    specs: Vec<ParamSpec>,
    /// One tensor per spec, PyTorch layout, row-major.
    params: Vec<Vec<f32>>,
    /// Who computes [`Classifier::logits_host`] and the VJPs.
    pub engine: Engine,
}

/// What the native forward pass keeps for the backward one.
pub struct Trace {
    n: usize,
    /// The input of each layer, `[n, len]` (the last entry is the logits). A ReLU's input that
    /// no backward step reads is moved into the ReLU's output and left empty here.
    acts: Vec<Vec<f32>>,
    /// Each max-pooling layer's argmax indices, per layer (empty elsewhere).
    args: Vec<Vec<u32>>,
    /// Each dropout layer's mask in training (0 or the keep scale), per layer (empty
    /// elsewhere and in eval mode).
    masks: Vec<Vec<f32>>,
}

impl Trace {
    /// The logits, `[n, classes]`.
    pub fn logits(&self) -> &[f32] {
        self.acts.last().map_or(&[], |v| v.as_slice())
    }
}

impl Network {
    /// Builds a network from `arch` and its tensors in [`Arch::params`] order, each checked
    /// for length and finiteness.
    pub fn new(arch: Arch, params: Vec<Vec<f32>>) -> Result<Network> {
        let shapes = arch.shapes()?;
        let specs = arch.params()?;
        if params.len() != specs.len() {
            return Err(Error::Arch(format!(
                "{} parameter tensors given, the architecture has {}",
                params.len(),
                specs.len()
            )));
        }
        for (s, p) in specs.iter().zip(&params) {
            let want: usize = s.shape.iter().product();
            if p.len() != want {
                return Err(Error::Shape {
                    what: s.name.clone(),
                    expected: format!("{:?}", s.shape),
                    found: format!("{} values", p.len()),
                });
            }
            if let Some(i) = p.iter().position(|v| !v.is_finite()) {
                return Err(Error::Arch(format!("tensor {}: non-finite value at index {i}", s.name)));
            }
        }
        let mut ops = Vec::with_capacity(arch.layers.len());
        let mut param = 0;
        for (i, layer) in arch.layers.iter().enumerate() {
            let before = if i == 0 { arch.input_shape() } else { shapes[i - 1] };
            ops.push(match (layer, before) {
                (Layer::Normalize { mean, std }, s) => {
                    Op::Normalize { plane: s.len() / mean.len().max(1), mean: mean.clone(), std: std.clone() }
                }
                (Layer::Conv2d { out_channels, kernel, stride, padding, .. }, Shape::Image { c, h, w }) => {
                    param += 2;
                    Op::Conv {
                        g: ConvGeom { c, h, w, k: *kernel, stride: *stride, pad: *padding },
                        oc: *out_channels,
                        param: param - 2,
                    }
                }
                (Layer::MaxPool2d { kernel, stride }, Shape::Image { c, h, w }) => {
                    Op::Pool(PoolGeom { c, h, w, k: *kernel, stride: *stride })
                }
                (Layer::Linear { out_features, .. }, s) => {
                    param += 2;
                    Op::Linear { i: s.len(), o: *out_features, param: param - 2 }
                }
                (Layer::Relu, _) => Op::Relu,
                (Layer::Dropout { p }, _) => Op::Dropout(*p),
                (Layer::Flatten, _) => Op::Identity,
                (l, s) => return Err(Error::Arch(format!("layer {i} ({l:?}) cannot take {s}"))),
            });
        }
        Ok(Network { arch, shapes, ops, specs, params, engine: Engine::Native })
    }

    /// PyTorch's default initialisation: weights and biases uniform in `±1/sqrt(fan_in)`.
    pub fn init(arch: Arch, rng: &mut impl Rng) -> Result<Network> {
        let specs = arch.params()?;
        let mut params = Vec::with_capacity(specs.len());
        for pair in specs.chunks(2) {
            let fan_in: usize = pair[0].shape[1..].iter().product();
            let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
            for s in pair {
                let n: usize = s.shape.iter().product();
                params.push((0..n).map(|_| rng.gen_range(-bound..bound)).collect());
            }
        }
        Network::new(arch, params)
    }

    /// The architecture.
    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// The parameter names and shapes, in order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// The parameters, in [`Network::specs`] order.
    pub fn params(&self) -> &[Vec<f32>] {
        &self.params
    }

    /// Mutable parameters for the optimiser (lengths must not change).
    pub(crate) fn params_mut(&mut self) -> &mut [Vec<f32>] {
        &mut self.params
    }

    /// The shape entering layer `i`.
    fn shape_in(&self, i: usize) -> Shape {
        if i == 0 {
            self.arch.input_shape()
        } else {
            self.shapes[i - 1]
        }
    }

    /// The native forward pass over `n` images (`[n, input]`), in eval mode.
    pub fn forward(&self, x: &[f32], n: usize) -> Trace {
        self.forward_train(x, n, None)
    }

    /// The forward pass, in training mode when `rng` is given: each dropout layer draws its
    /// mask from it ([`Dropout::draw`], one key per layer and pass, in layer order).
    pub fn forward_train(&self, x: &[f32], n: usize, mut rng: Option<&mut dyn RngCore>) -> Trace {
        crate::backend::flush_denormals();
        let mut acts = vec![x.to_vec()];
        let mut args = Vec::with_capacity(self.arch.layers.len());
        let mut masks = Vec::with_capacity(self.arch.layers.len());
        let mut bits = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            // A ReLU's input is read by no backward step (its own reads its output), unless
            // it is another ReLU's output: then it is rectified in place, with no new buffer.
            if matches!(op, Op::Relu) && (i == 0 || !matches!(self.ops[i - 1], Op::Relu)) {
                let mut out = std::mem::take(&mut acts[i]);
                out.par_chunks_mut(ELEMS).for_each(|o| o.iter_mut().for_each(|v| *v = v.max(0.0)));
                masks.push(Vec::new());
                args.push(Vec::new());
                acts.push(out);
                continue;
            }
            let (inp, out_len) = (&acts[i], self.shapes[i].len());
            let in_len = self.shape_in(i).len();
            let mut out = vec![0.0f32; n * out_len];
            let (mut arg, mut mask) = (Vec::new(), Vec::new());
            match op {
                Op::Normalize { plane, mean, std } => {
                    for (row_o, row_i) in out.chunks_exact_mut(in_len).zip(inp.chunks_exact(in_len)) {
                        for (c, (po, pi)) in row_o.chunks_exact_mut(*plane).zip(row_i.chunks_exact(*plane)).enumerate()
                        {
                            po.iter_mut().zip(pi).for_each(|(o, v)| *o = (v - mean[c]) / std[c]);
                        }
                    }
                }
                Op::Conv { g, oc, param } => {
                    let (w, b) = (&self.params[*param], &self.params[param + 1]);
                    out.par_chunks_mut(out_len)
                        .zip(inp.par_chunks(in_len))
                        .for_each_init(Vec::new, |col, (o, xi)| conv::conv_forward(g, w, &b[..*oc], xi, col, o));
                }
                Op::Pool(pg) => {
                    arg = vec![0u32; n * out_len];
                    out.par_chunks_mut(out_len)
                        .zip(arg.par_chunks_mut(out_len))
                        .zip(inp.par_chunks(in_len))
                        .for_each(|((o, a), xi)| conv::max_pool(pg, xi, o, a));
                }
                Op::Linear { i: il, o, param } => {
                    linear_forward(&self.params[*param], &self.params[param + 1], inp, *il, *o, &mut out);
                }
                Op::Relu => out
                    .par_chunks_mut(ELEMS)
                    .zip(inp.par_chunks(ELEMS))
                    .for_each(|(o, v)| o.iter_mut().zip(v).for_each(|(o, v)| *o = v.max(0.0))),
                Op::Dropout(p) => match (Dropout::new(*p), rng.as_deref_mut()) {
                    (Some(drop), Some(r)) => {
                        drop.draw(r, n * out_len, &mut bits);
                        let m: Vec<f32> =
                            bits.iter().map(|&b| if drop.keeps(b) { drop.scale() } else { 0.0 }).collect();
                        out.iter_mut().zip(inp).zip(&m).for_each(|((o, v), k)| *o = v * k);
                        mask = m;
                    }
                    _ => out.copy_from_slice(inp),
                },
                Op::Identity => out.copy_from_slice(inp),
            }
            masks.push(mask);
            args.push(arg);
            acts.push(out);
        }
        Trace { n, acts, args, masks }
    }

    /// The VJP of the logits with `dlogits` (`[n, classes]`): the input's cotangent
    /// (`[n, input]`; all zero when `input` is false, which skips the first layer's product)
    /// and, when `params` is true, every parameter's gradient (in [`Network::specs`] order).
    pub fn backward(&self, t: &Trace, dlogits: &[f32], params: bool, input: bool) -> (Vec<f32>, Vec<Vec<f32>>) {
        crate::backend::flush_denormals();
        let n = t.n;
        let mut grads: Vec<Vec<f32>> =
            if params { self.params.iter().map(|p| vec![0.0; p.len()]).collect() } else { Vec::new() };
        let mut dy = dlogits.to_vec();
        for (i, op) in self.ops.iter().enumerate().rev() {
            // Elementwise steps work on the cotangent in place (no new buffer, in parallel
            // chunks: each value is computed the same way on any number of threads).
            match op {
                Op::Relu => {
                    let out = &t.acts[i + 1];
                    dy.par_chunks_mut(ELEMS).zip(out.par_chunks(ELEMS)).for_each(|(d, o)| {
                        // Passed where the output is positive (a NaN output passes nothing).
                        d.iter_mut().zip(o).for_each(|(g, o)| *g = if *o > 0.0 { *g } else { 0.0 })
                    });
                    continue;
                }
                Op::Dropout(_) if !t.masks[i].is_empty() => {
                    let m = &t.masks[i];
                    dy.par_chunks_mut(ELEMS)
                        .zip(m.par_chunks(ELEMS))
                        .for_each(|(d, k)| d.iter_mut().zip(k).for_each(|(g, k)| *g *= k));
                    continue;
                }
                Op::Dropout(_) | Op::Identity => continue,
                _ => {}
            }
            let (inp, out_len, in_len) = (&t.acts[i], self.shapes[i].len(), self.shape_in(i).len());
            let mut dx = vec![0.0f32; n * in_len];
            match op {
                Op::Normalize { plane, std, .. } => {
                    for (ro, ri) in dx.chunks_exact_mut(in_len).zip(dy.chunks_exact(in_len)) {
                        for (c, (po, pi)) in ro.chunks_exact_mut(*plane).zip(ri.chunks_exact(*plane)).enumerate() {
                            po.iter_mut().zip(pi).for_each(|(o, v)| *o = v / std[c]);
                        }
                    }
                }
                Op::Conv { g, oc, param } => {
                    if input || i > 0 {
                        let w = &self.params[*param];
                        dx.par_chunks_mut(in_len)
                            .zip(dy.par_chunks(out_len))
                            .for_each_init(Vec::new, |col, (d, g_out)| conv::conv_input_vjp(g, w, *oc, g_out, col, d));
                    }
                    if params {
                        conv_grads(g, *oc, inp, &dy, (in_len, out_len), &mut grads, *param);
                    }
                }
                Op::Pool(_) => {
                    dx.par_chunks_mut(in_len)
                        .zip(dy.par_chunks(out_len))
                        .zip(t.args[i].par_chunks(out_len))
                        .for_each(|((d, g_out), a)| conv::max_pool_vjp(a, g_out, d));
                }
                Op::Linear { i: il, o, param } => {
                    let (w, (il, o)) = (&self.params[*param], (*il, *o));
                    // Row blocks of fixed size: each output row is computed the same way on
                    // any number of threads.
                    if input || i > 0 {
                        dx.par_chunks_mut(ROWS * il).enumerate().for_each(|(b, out)| {
                            let r = out.len() / il;
                            let dyb = Mat::new(&dy, n, o).rows(b * ROWS, b * ROWS + r);
                            matmul(dyb, Mat::new(w, o, il), out, false);
                        });
                    }
                    if params {
                        grads[*param].par_chunks_mut(ROWS * il).enumerate().for_each(|(b, out)| {
                            let r = out.len() / il;
                            let dyt = Mat::new(&dy, n, o).t().rows(b * ROWS, b * ROWS + r);
                            matmul(dyt, Mat::new(inp, n, il), out, false);
                        });
                        for row in dy.chunks_exact(o) {
                            grads[param + 1].iter_mut().zip(row).for_each(|(g, v)| *g += v);
                        }
                    }
                }
                Op::Relu | Op::Dropout(_) | Op::Identity => unreachable!("handled in place above"),
            }
            dy = dx;
        }
        (dy, grads)
    }

    /// burn's ops over the parameter tensors `p` ([`Network::specs`] order, flat): the
    /// reference graph, through which autodiff also gives the parameters' gradients.
    pub fn logits_with(&self, x: Tensor<2>, p: &[Tensor<1>]) -> Tensor<2> {
        let n = x.dims()[0];
        let [c, h, w] = self.arch.input;
        let mut a = Act::Image(x.reshape([n, c, h, w]));
        for (i, layer) in self.arch.layers.iter().enumerate() {
            let at = self.specs.iter().position(|s| s.layer == i);
            a = match (layer, a) {
                (Layer::Normalize { mean, std }, Act::Image(t)) => {
                    let k = mean.len();
                    let m = Tensor::<1>::from_data(TensorData::new(mean.clone(), [k]), &device()).reshape([1, k, 1, 1]);
                    let s = Tensor::<1>::from_data(TensorData::new(std.clone(), [k]), &device()).reshape([1, k, 1, 1]);
                    Act::Image((t - m) / s)
                }
                (Layer::Conv2d { out_channels, kernel, stride, padding, .. }, Act::Image(t)) => {
                    let j = at.unwrap_or(0);
                    let ci = t.dims()[1];
                    let wt = p[j].clone().reshape([*out_channels, ci, *kernel, *kernel]);
                    let opts = burn::tensor::ops::ConvOptions::new([*stride; 2], [*padding; 2], [1, 1], 1);
                    Act::Image(module::conv2d(t, wt, Some(p[j + 1].clone()), opts))
                }
                (Layer::MaxPool2d { kernel, stride }, Act::Image(t)) => Act::Image(module::max_pool2d(
                    t,
                    burn::tensor::ops::MaxPoolOptions::new([*kernel; 2]).with_stride([*stride; 2]),
                )),
                (Layer::Linear { out_features, .. }, Act::Flat(t)) => {
                    let j = at.unwrap_or(0);
                    let i_len = t.dims()[1];
                    let wt = p[j].clone().reshape([*out_features, i_len]).transpose();
                    Act::Flat(t.matmul(wt) + p[j + 1].clone().reshape([1, *out_features]))
                }
                (Layer::Flatten, Act::Image(t)) => {
                    let len = t.dims()[1..].iter().product();
                    Act::Flat(t.reshape([n, len]))
                }
                (Layer::Relu, Act::Image(t)) => Act::Image(relu(t)),
                (Layer::Relu, Act::Flat(t)) => Act::Flat(relu(t)),
                (_, a) => a, // dropout and a flatten of flat features are identities
            };
        }
        match a {
            Act::Flat(t) => t,
            Act::Image(t) => {
                let len = t.dims()[1..].iter().product();
                t.reshape([n, len])
            }
        }
    }

    /// The parameters as burn tensors, flat (PyTorch layout).
    pub fn tensors(&self) -> Vec<Tensor<1>> {
        self.params.iter().map(|p| Tensor::<1>::from_data(TensorData::new(p.clone(), [p.len()]), &device())).collect()
    }
}

/// Rows per block of a linear layer's products (fixed, so results do not depend on the
/// thread count).
const ROWS: usize = 32;
/// Images per partial sum of a convolution's parameter gradients.
const IMAGES: usize = 8;

/// A convolution's parameter gradients added to `grads[param]` (weight) and
/// `grads[param + 1]` (bias): partial sums over fixed blocks of images, added in order, so
/// the result is the same on any number of threads.
fn conv_grads(
    g: &ConvGeom,
    oc: usize,
    inp: &[f32],
    dy: &[f32],
    (in_len, out_len): (usize, usize),
    grads: &mut [Vec<f32>],
    param: usize,
) {
    let (wl, bl) = (grads[param].len(), grads[param + 1].len());
    let parts: Vec<(Vec<f32>, Vec<f32>)> = inp
        .par_chunks(IMAGES * in_len)
        .zip(dy.par_chunks(IMAGES * out_len))
        .map(|(xs, gs)| {
            let (mut dw, mut db, mut col) = (vec![0.0; wl], vec![0.0; bl], Vec::new());
            for (xi, g_out) in xs.chunks_exact(in_len).zip(gs.chunks_exact(out_len)) {
                conv::conv_param_grads(g, xi, g_out, oc, &mut col, &mut dw, &mut db);
            }
            (dw, db)
        })
        .collect();
    for (dw, db) in parts {
        grads[param].iter_mut().zip(dw).for_each(|(a, v)| *a += v);
        grads[param + 1].iter_mut().zip(db).for_each(|(a, v)| *a += v);
    }
}

/// `out [n, o] = x [n, i] · Wᵀ + b`, `W [o, i]` (PyTorch layout), rows in fixed blocks so
/// the result does not depend on the thread count.
fn linear_forward(w: &[f32], b: &[f32], x: &[f32], i: usize, o: usize, out: &mut [f32]) {
    out.par_chunks_mut(ROWS * o).zip(x.par_chunks(ROWS * i)).for_each(|(ob, xb)| {
        let r = xb.len() / i;
        for row in ob.chunks_exact_mut(o) {
            row.copy_from_slice(&b[..o]);
        }
        matmul(Mat::new(xb, r, i), Mat::new(w, o, i).t(), ob, true);
    });
}

/// A tensor between layers: images or flat features.
enum Act {
    Image(Tensor<4>),
    Flat(Tensor<2>),
}

impl Classifier for Network {
    /// burn's ops, the reference the native pass is tested against.
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.logits_with(x, &self.tensors())
    }
    fn input_dim(&self) -> usize {
        self.arch.input_len()
    }
    fn num_classes(&self) -> usize {
        self.shapes.last().map_or(0, |s| s.len())
    }
    fn logits_host(&self, x: &[f32], n: usize) -> Vec<f32> {
        match self.engine {
            Engine::Native => self.forward(x, n).acts.pop().unwrap_or_default(),
            Engine::Burn => super::reference::reference_logits(self, x, n),
        }
    }
    fn forward_vjp(&self, x: &[f32], n: usize, dlogits: &mut dyn FnMut(&[f32]) -> Vec<f32>) -> (Vec<f32>, Vec<f32>) {
        match self.engine {
            Engine::Native => {
                let t = self.forward(x, n);
                let cot = dlogits(t.logits());
                let (dx, _) = self.backward(&t, &cot, false, true);
                (t.logits().to_vec(), dx)
            }
            Engine::Burn => super::reference::reference_forward_vjp(self, x, n, dlogits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{tensor2, to_host};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn small_arches() -> Vec<Arch> {
        let mut v = vec![
            Arch::builtin("small-cnn", [1, 12, 12], 5, &[]).expect("small"),
            Arch::builtin("mlp", [1, 6, 6], 4, &[7, 5]).expect("mlp"),
        ];
        let mut m = Arch::builtin("madry-cnn", [2, 12, 12], 3, &[]).expect("madry");
        m.layers.insert(0, Layer::Normalize { mean: vec![0.1, 0.5], std: vec![0.3, 2.0] });
        m.layers.insert(9, Layer::Dropout { p: 0.5 });
        v.push(m);
        v
    }

    /// Native logits and input VJPs equal burn's (its conv2d, max_pool2d and autodiff) on
    /// every built-in shape, with input normalisation and dropout layers, and the parameter
    /// gradients equal central finite differences of the native logits.
    #[test]
    fn native_pass_matches_burn() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for arch in small_arches() {
            let net = Network::init(arch.clone(), &mut rng).expect("init");
            let (n, d, c) = (3, net.input_dim(), net.num_classes());
            let x: Vec<f32> = (0..n * d).map(|_| rng.gen_range(0.0..1.0)).collect();
            let cot: Vec<f32> = (0..n * c).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let native = net.logits_host(&x, n);
            let reference = to_host(net.logits(tensor2(x.clone(), n, d)));
            for (a, b) in native.iter().zip(&reference) {
                assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{:?}: logits {a} vs {b}", arch.layers[0]);
            }
            let (_, dx) = net.forward_vjp(&x, n, &mut |_| cot.clone());
            let (_, dx_ref) = super::super::reference::reference_forward_vjp(&net, &x, n, &mut |_| cot.clone());
            for (a, b) in dx.iter().zip(&dx_ref) {
                assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "input vjp {a} vs {b}");
            }
            // Parameter gradients against central finite differences of the native logits
            // (against burn autodiff: train::network's one-training-step test).
            let t = net.forward(&x, n);
            let (_, grads) = net.backward(&t, &cot, true, true);
            for (j, spec) in net.specs().iter().enumerate().flat_map(|p| [p; 4]) {
                let mut plus = net.clone();
                let h = 1e-3f32;
                let k = rng.gen_range(0..net.params[j].len());
                plus.params[j][k] += h;
                let mut minus = net.clone();
                minus.params[j][k] -= h;
                let f = |m: &Network| -> f64 {
                    m.logits_host(&x, n).iter().zip(&cot).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum()
                };
                let fd = (f(&plus) - f(&minus)) / (2.0 * f64::from(h));
                let g = f64::from(grads[j][k]);
                assert!((fd - g).abs() < 1e-2 * (1.0 + g.abs()), "{}[{k}]: finite difference {fd} vs {g}", spec.name);
            }
        }
    }

    /// Logits, input VJPs and parameter gradients are bit-identical on 1 and 3 threads.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net =
            Network::init(Arch::builtin("small-cnn", [1, 28, 28], 10, &[]).expect("arch"), &mut rng).expect("init");
        let n = 70;
        let x: Vec<f32> = (0..n * 784).map(|_| rng.gen_range(0.0..1.0)).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
            pool.install(|| {
                let t = net.forward(&x, n);
                let cot = t.logits().to_vec();
                (t.logits().to_vec(), net.backward(&t, &cot, true, true))
            })
        };
        assert_eq!(run(1), run(3));
    }
}
