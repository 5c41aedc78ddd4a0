//! Tick selection and label formatting tests.

use crate::figure::nice_ticks;

fn labels(min: f64, max: f64, target: usize) -> Vec<String> {
    nice_ticks(min, max, target).into_iter().map(|t| t.label).collect()
}

#[test]
fn common_ranges_get_readable_labels() {
    assert_eq!(labels(0.0, 0.3, 6), ["0.00", "0.05", "0.10", "0.15", "0.20", "0.25", "0.30"]);
    assert_eq!(labels(0.0, 1.0, 6), ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
    assert_eq!(labels(0.0, 100.0, 6), ["0", "20", "40", "60", "80", "100"]);
    assert_eq!(labels(0.0, 1.0, 5), ["0.00", "0.25", "0.50", "0.75", "1.00"]);
}

#[test]
fn zero_is_never_negative_zero() {
    let l = labels(-1.0, 1.0, 6);
    assert!(l.contains(&"0.0".to_string()), "{l:?}");
    assert!(!l.iter().any(|s| s == "-0.0"));
}

#[test]
fn extreme_magnitudes_use_scientific_notation() {
    let l = labels(0.0, 2e7, 6);
    assert!(l.iter().all(|s| s.contains('e')), "{l:?}");
    let l = labels(0.0, 3e-6, 6);
    assert!(l.iter().all(|s| s.contains('e')), "{l:?}");
    assert!(l.len() >= 4);
}

#[test]
fn ticks_lie_in_range_and_count_is_near_target() {
    let ranges =
        [(0.0, 0.3), (0.0, 1.0), (1.0, 10.0), (-3.7, 12.9), (0.3, 0.31), (1e-3, 7e-3), (-1e5, 1e5), (123.0, 129.0)];
    for (lo, hi) in ranges {
        let ticks = nice_ticks(lo, hi, 6);
        assert!((4..=8).contains(&ticks.len()), "({lo}, {hi}) -> {} ticks", ticks.len());
        assert!(ticks.iter().all(|t| t.value >= lo && t.value <= hi), "({lo}, {hi})");
        assert!(ticks.windows(2).all(|w| w[0].value < w[1].value));
        let distinct: std::collections::HashSet<_> = ticks.iter().map(|t| &t.label).collect();
        assert_eq!(distinct.len(), ticks.len(), "({lo}, {hi}) labels repeat");
    }
}

#[test]
fn invalid_ranges_give_no_ticks() {
    assert!(nice_ticks(1.0, 1.0, 6).is_empty());
    assert!(nice_ticks(2.0, 1.0, 6).is_empty());
    assert!(nice_ticks(f64::NAN, 1.0, 6).is_empty());
    assert!(nice_ticks(-f64::MAX, f64::MAX, 6).is_empty());
    assert!(!nice_ticks(0.0, 1.0, 0).is_empty(), "target is clamped");
}
