//! `redblue reproduce`: every experiment of the paper on real MNIST, in one call.
//!
//! Phases: the (l1, l2) grid of Tables 1-2 -> the paper's selection rule on our table ->
//! Table 3 -> FGSM adversarial training -> PGD honesty check on every model -> robustness
//! curves and Figure 1 -> a report that puts the paper's number next to ours in every cell.

pub mod analysis;
pub mod claims;
pub mod config;
pub mod evaluate;
pub mod figures;
pub mod markdown;
pub mod plan;
pub mod run;

pub use analysis::Report;
pub use config::ReproduceConfig;
pub use run::{run, DataInfo, Event, RunOptions};
