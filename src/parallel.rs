//! Deterministic parallelism on rayon: work items on a pool of threads, results in item order.
//!
//! Results never depend on the number of threads: each item is computed on its own, and the
//! caller combines them in item order. After a failure no item later in order is started, and
//! the error returned is that of the first failed item in item order.

use crate::error::{Error, Result};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads of the pool the caller runs in (the machine's available parallelism unless a
/// [`parallel_map`] pool or `RAYON_NUM_THREADS` says otherwise).
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// `work` over `items` in the current rayon pool, results in item order. Once an item fails,
/// items after it (in item order) are not started; items before it always run, so the error
/// returned, the first in item order, does not depend on scheduling.
pub fn map_in_order<T: Sync, R: Send>(items: &[T], work: &(dyn Fn(&T) -> Result<R> + Sync)) -> Result<Vec<R>> {
    let first_failed = AtomicUsize::new(usize::MAX);
    let results: Vec<Option<Result<R>>> = items
        .par_iter()
        .enumerate()
        .map(|(i, item)| {
            if i > first_failed.load(Ordering::SeqCst) {
                return None; // after a failed item: not started
            }
            let r = work(item);
            if r.is_err() {
                first_failed.fetch_min(i, Ordering::SeqCst);
            }
            Some(r)
        })
        .collect();
    let mut out = Vec::with_capacity(items.len());
    for r in results {
        match r {
            Some(r) => out.push(r?),
            // Unreachable: a skipped item comes after a failed one, whose error returned first.
            None => return Err(Error::param("jobs", items.len(), "a worker stopped before finishing its items")),
        }
    }
    Ok(out)
}

/// [`map_in_order`] on a pool of up to `jobs` threads of its own (work inside it that runs
/// in parallel, e.g. a sweep's batches, shares those threads).
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: &(dyn Fn(&T) -> Result<R> + Sync),
) -> Result<Vec<R>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.clamp(1, items.len().max(1)))
        .build()
        .map_err(|e| Error::param("jobs", jobs, format!("could not start the worker threads: {e}")))?;
    pool.install(|| map_in_order(items, work))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_item_order_whatever_the_thread_count() {
        let items: Vec<u64> = (0..100).collect();
        let work = |&i: &u64| -> Result<u64> { Ok(i * i) };
        let one = parallel_map(&items, 1, &work).expect("1 job");
        let four = parallel_map(&items, 4, &work).expect("4 jobs");
        assert_eq!(one, four);
        assert_eq!(one[7], 49);
    }

    #[test]
    fn the_first_failure_in_item_order_is_returned() {
        let items: Vec<u64> = (0..50).collect();
        let work = |&i: &u64| -> Result<u64> {
            if i == 13 || i == 40 {
                Err(Error::param("item", i, "fails"))
            } else {
                Ok(i)
            }
        };
        for jobs in [1, 3] {
            let err = parallel_map(&items, jobs, &work).expect_err("fails");
            assert!(err.to_string().contains("13"), "{jobs} jobs: {err}");
        }
    }
}
