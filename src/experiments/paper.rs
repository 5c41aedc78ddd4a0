//! The numbers printed in the paper (Limaye, Tirupari, Rangan, "Adversarial Machine Learning:
//! The Attacks and the Defenses"), so every report can put ours next to theirs.

/// One row of the paper's Tables 1 and 2: (l1, l2) and six metrics.
#[derive(Clone, Copy, Debug)]
pub struct PaperRow {
    pub l1: f64,
    pub l2: f64,
    pub test_accuracy: f64,
    pub test_confidence: f64,
    pub adv_accuracy_010: f64,
    pub adv_confidence_010: f64,
    pub adv_accuracy_025: f64,
    pub adv_confidence_025: f64,
}

const fn row(l1: f64, l2: f64, v: [f64; 6]) -> PaperRow {
    PaperRow {
        l1,
        l2,
        test_accuracy: v[0],
        test_confidence: v[1],
        adv_accuracy_010: v[2],
        adv_confidence_010: v[3],
        adv_accuracy_025: v[4],
        adv_confidence_025: v[5],
    }
}

/// Table 1: no regularization.
pub const TABLE1: PaperRow = row(0.0, 0.0, [0.975, 0.981, 0.3375, 0.768, 0.0048, 0.767]);

/// Table 2, in the paper's order: the eight regularized pairs of the 3x3 grid
/// {0, 1e-5, 1e-4}^2 (the ninth pair, (0, 0), is Table 1).
pub const TABLE2: [PaperRow; 8] = [
    row(0.0, 1e-4, [0.9805, 0.9831, 0.443, 0.7584, 0.0091, 0.6789]),
    row(0.0, 1e-5, [0.9828, 0.9877, 0.4534, 0.7572, 0.0145, 0.6592]),
    row(1e-4, 0.0, [0.9689, 0.9600, 0.6099, 0.7963, 0.0534, 0.7425]),
    row(1e-4, 1e-4, [0.9695, 0.9611, 0.6229, 0.7987, 0.0499, 0.7269]),
    row(1e-4, 1e-5, [0.9667, 0.9609, 0.57, 0.7942, 0.0552, 0.7469]),
    row(1e-5, 0.0, [0.9727, 0.9836, 0.5609, 0.8146, 0.0438, 0.7183]),
    row(1e-5, 1e-4, [0.9727, 0.9728, 0.4852, 0.7799, 0.0196, 0.7364]),
    row(1e-5, 1e-5, [0.9816, 0.9820, 0.5562, 0.7947, 0.0262, 0.6915]),
];

/// The pair the paper chose: l1 = l2 = 1e-4.
pub const CHOSEN: (f64, f64) = (1e-4, 1e-4);

/// `(eps, with regularization (accuracy, confidence), without (accuracy, confidence))`.
pub type Table3Row = (f64, (f64, f64), (f64, f64));

/// Table 3: adversarial accuracy and confidence at eps 0.05 and 0.075,
/// `(eps, with regularization (acc, conf), without regularization (acc, conf))`.
pub const TABLE3: [Table3Row; 2] =
    [(0.05, (0.8062, 0.8579), (0.785, 0.8842)), (0.075, (0.6711, 0.8052), (0.5723, 0.8054))];
