//! What the attacker wants: a value, not a mutable mode.
//!
//! Untargeted: make the model stop predicting the true label (ascend its loss). Targeted:
//! make it predict the target label (descend the target's loss).

/// The attacker's goal for one batch.
#[derive(Clone, Copy, Debug)]
pub enum Goal<'a> {
    /// Move away from these true labels.
    Untargeted(&'a [u8]),
    /// Move towards these target labels.
    Targeted(&'a [u8]),
}

impl<'a> Goal<'a> {
    /// The labels whose cross-entropy the gradient is taken of.
    pub fn labels(&self) -> &'a [u8] {
        match *self {
            Goal::Untargeted(l) | Goal::Targeted(l) => l,
        }
    }

    /// The same kind of goal for other labels (e.g. the subset of examples still to attack).
    pub fn with_labels<'b>(&self, labels: &'b [u8]) -> Goal<'b> {
        match self {
            Goal::Untargeted(_) => Goal::Untargeted(labels),
            Goal::Targeted(_) => Goal::Targeted(labels),
        }
    }

    /// +1 to ascend the loss (untargeted), -1 to descend it (targeted).
    pub fn step_sign(&self) -> f32 {
        match self {
            Goal::Untargeted(_) => 1.0,
            Goal::Targeted(_) => -1.0,
        }
    }

    /// Whether predicting `pred` for example `i` is a success for the attacker.
    pub fn is_success(&self, i: usize, pred: usize) -> bool {
        match self {
            Goal::Untargeted(l) => pred != l[i] as usize,
            Goal::Targeted(l) => pred == l[i] as usize,
        }
    }

    /// A score the attacker maximises for example `i` with loss `loss` (for restarts).
    pub fn score(&self, loss: f32) -> f32 {
        self.step_sign() * loss
    }
}
