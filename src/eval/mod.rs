//! The judge: honest evaluation of a model, clean and under attack.
//!
//! The harness ([`sweep`]) owns the invariants: eval mode, an eps = 0 row computed from the
//! clean images, every attack output projected and clipped by the harness itself before it is
//! scored. Supplied adversarial sets are checked against their budget ([`judge`]) before scoring.

pub mod card;
pub mod judge;
pub mod metrics;
pub mod sweep;

pub use metrics::{Accumulator, Row};
pub use sweep::{evaluate, generate, sweep, sweep_transfer, Sweep, SweepConfig};
