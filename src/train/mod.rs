//! The blue team: training the paper's MLP, optionally with adversarial examples.
//!
//! One loop ([`trainer::train`]) with RMSProp as the paper writes it ([`rmsprop`]), L1/L2
//! weight penalties added in one place ([`penalty`]), and a per-batch adversarial hook
//! (Goodfellow's mix `(1-a)*CE(x) + a*CE(x_adv)`, x_adv from the current model).

pub mod certified;
pub mod config;
pub mod network;
pub mod penalty;
pub mod rmsprop;
pub mod step;
pub mod trainer;

pub use certified::{CertMethod, CertTraining};
pub use config::{AdvTraining, TrainConfig};
pub use network::{train_any, train_network};
pub use trainer::{train, EpochStats, TrainProgress, TrainReport};
