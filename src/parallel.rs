//! Deterministic parallelism: work items on a few threads, results in item order.
//!
//! Results never depend on the number of threads: each item is computed on its own, and the
//! caller combines them in item order.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Threads to use for data-parallel evaluation: the machine's available parallelism.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `work` over `items` on up to `jobs` threads; results keep the items' order, so they
/// do not depend on `jobs`. Stops handing out new items after the first error.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: &(dyn Fn(&T) -> Result<R> + Sync),
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Result<R>>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= items.len() || failed.load(Ordering::SeqCst) {
                    break;
                }
                let r = work(&items[i]);
                if r.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                if let Ok(mut slots) = slots.lock() {
                    slots[i] = Some(r);
                }
            });
        }
    });
    let slots = slots.into_inner().map_err(|_| Error::param("jobs", jobs, "a worker thread panicked"))?;
    let mut out = Vec::with_capacity(items.len());
    // A slot left empty was never started because another item failed; that item's error
    // is returned when the loop reaches it.
    for r in slots.into_iter().flatten() {
        out.push(r?);
    }
    if out.len() != items.len() {
        return Err(Error::param("jobs", jobs, "a worker stopped before finishing its models"));
    }
    Ok(out)
}
