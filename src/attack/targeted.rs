//! Targeted versions of the untargeted attacks (PGD, FGSM, APGD on CE or DLR, Square): the
//! attack is run with the goal "make the model predict this class" instead of "make it stop
//! predicting the true one", by descending the loss of the target class.
//!
//! The target of each image is a function of the image alone (never of its batch, the thread
//! count or the random stream), so the judge can recompute it: a fixed class, the clean
//! image's least likely class (lowest clean logit), or a pseudo-random class other than the
//! true one drawn from a hash of the image's pixels and label. An image whose target equals
//! its true label (a fixed class) is attacked toward its own class: it stays correct and does
//! not count in the target hit rate.
//!
//! A targeted attack is weaker than the untargeted one as a robustness test (it succeeds only
//! on the way to one class); the judge's claims use untargeted attacks.

use super::{gradient, Attack, ClipMode, Goal, Norm};
use crate::error::{Error, Result};
use crate::model::Classifier;
use serde::{Deserialize, Serialize};

/// How each image's target class is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The same class for every image.
    Class(u8),
    /// The class with the lowest clean logit.
    LeastLikely,
    /// A class other than the true one, from a hash of the image and its label.
    Random,
}

impl Target {
    /// Parses `3`, `least-likely` or `random`.
    pub fn parse(s: &str) -> Result<Target> {
        match s {
            "least-likely" => Ok(Target::LeastLikely),
            "random" => Ok(Target::Random),
            _ => s
                .parse::<u8>()
                .map(Target::Class)
                .map_err(|_| Error::param("--target", s, "must be a class number, least-likely or random")),
        }
    }

    /// The name people read: `3`, `least-likely`, `random`.
    pub fn name(&self) -> String {
        match self {
            Target::Class(c) => c.to_string(),
            Target::LeastLikely => "least-likely".into(),
            Target::Random => "random".into(),
        }
    }

    /// Rejects a class the model does not have.
    pub fn validate(&self, classes: usize) -> Result<()> {
        match *self {
            Target::Class(c) if usize::from(c) >= classes => {
                Err(Error::param("--target", c, format!("is not a class of this model (0 to {})", classes.max(1) - 1)))
            }
            _ => Ok(()),
        }
    }

    /// The target of each of the `labels.len()` images `x` (`[n, input_dim]`).
    pub fn labels(&self, model: &dyn Classifier, x: &[f32], labels: &[u8]) -> Vec<u8> {
        let (n, c, d) = (labels.len(), model.num_classes(), model.input_dim());
        match *self {
            Target::Class(t) => vec![t; n],
            Target::LeastLikely => gradient::logits_host(model, x, n)
                .chunks_exact(c)
                .map(|row| {
                    let lowest =
                        row.iter().enumerate().fold((0, f32::INFINITY), |m, (j, &v)| if v < m.1 { (j, v) } else { m });
                    lowest.0 as u8
                })
                .collect(),
            Target::Random => x
                .chunks_exact(d.max(1))
                .zip(labels)
                .map(|(img, &y)| {
                    let h =
                        img.iter().fold(u64::from(y), |h, v| crate::nn::dropout::splitmix64(h, u64::from(v.to_bits())));
                    let other = (h % (c.max(2) as u64 - 1)) as u8;
                    // The other classes in order, skipping the true one.
                    if other >= y {
                        other + 1
                    } else {
                        other
                    }
                })
                .collect(),
        }
    }
}

/// An untargeted attack run toward each image's [`Target`].
pub struct Targeted {
    /// The attack (its loss is descended for the target class).
    pub inner: Box<dyn Attack>,
    /// How targets are chosen.
    pub target: Target,
}

impl Targeted {
    /// The goal handed to the inner attack: the targets of `goal`'s images (a goal that is
    /// already targeted is kept).
    fn goal_for(&self, model: &dyn Classifier, x: &[f32], goal: Goal<'_>) -> Vec<u8> {
        match goal {
            Goal::Untargeted(y) => self.target.labels(model, x, y),
            Goal::Targeted(t) => t.to_vec(),
        }
    }
}

impl Attack for Targeted {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn params(&self) -> serde_json::Value {
        let mut v = self.inner.params();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("target".into(), self.target.name().into());
        }
        v
    }

    fn norm(&self) -> Norm {
        self.inner.norm()
    }

    fn target(&self) -> Option<Target> {
        Some(self.target)
    }

    fn stronger(&self) -> Option<Box<dyn Attack>> {
        self.inner.stronger().map(|inner| Box::new(Targeted { inner, target: self.target }) as Box<dyn Attack>)
    }

    fn run_one(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        goal: Goal<'_>,
        eps: f32,
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<f32> {
        let t = self.goal_for(model, x, goal);
        self.inner.run_one(model, x, Goal::Targeted(&t), eps, clip, rng)
    }

    fn run_multi(
        &self,
        model: &dyn Classifier,
        x: &[f32],
        goal: Goal<'_>,
        eps: &[f32],
        clip: ClipMode,
        rng: &mut dyn rand::RngCore,
    ) -> Vec<Vec<f32>> {
        let t = self.goal_for(model, x, goal);
        self.inner.run_multi(model, x, Goal::Targeted(&t), eps, clip, rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_validate() {
        assert_eq!(Target::parse("3").ok(), Some(Target::Class(3)));
        assert_eq!(Target::parse("least-likely").ok(), Some(Target::LeastLikely));
        assert_eq!(Target::parse("random").ok(), Some(Target::Random));
        assert!(Target::parse("-1").is_err() && Target::parse("most-likely").is_err());
        assert!(Target::Class(10).validate(10).is_err() && Target::Class(9).validate(10).is_ok());
    }
}
