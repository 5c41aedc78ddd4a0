//! # redblue: the red-team / blue-team game of adversarial machine learning
//!
//! - The **blue team** trains a classifier ([`model::Mlp`], [`train::train`]) and defends it
//!   (L1/L2 penalties, adversarial training).
//! - The **red team** crafts adversarial examples ([`attack::Pgd`]; FGSM is its one-step case).
//! - The **judge** ([`eval`]) scores both honestly: eval mode, clipped and projected inputs,
//!   an eps = 0 row equal to clean accuracy, and supplied attack sets checked against their
//!   budget before scoring.
//!
//! ```no_run
//! use redblue::{attack::{ClipMode, Pgd}, data, eval, train};
//! let mnist = data::load(data::DatasetKind::Mnist, &data::AcquireOptions::default())?;
//! let cfg = train::TrainConfig { epochs: 2, ..Default::default() };
//! let (model, _) = train::train(&mnist.train.images, &mnist.train.labels, &cfg, &mut |_| {})?;
//! let sweep_cfg = eval::SweepConfig { eps: vec![0.1, 0.25], clip: ClipMode::Clipped,
//!                                     batch_size: 1000, seed: 0 };
//! let result = eval::sweep(&model, &Pgd::fgsm(), &mnist.test.images, &mnist.test.labels,
//!                          &sweep_cfg, &mut |_, _| {})?;
//! assert_eq!(result.rows[0].eps, 0.0); // the clean row
//! # Ok::<(), redblue::Error>(())
//! ```

pub mod advset;
pub mod attack;
pub mod backend;
pub mod bench;
pub mod certify;
pub mod data;
pub mod error;
pub mod eval;
pub mod experiments;
pub mod figure;
pub mod fsutil;
pub mod model;
pub mod native;
pub mod nn;
pub mod parallel;
pub mod subset;
pub mod tensorfile;
pub mod train;

pub use error::{Error, Result};
