//! Batch work on all cores (rayon), with per-item results in input order, progress, and cancellation —
//! the shape every batch API of the addon exposes.

use std::sync::Mutex;

/// Hooks a batch reports to. Both are called from worker threads.
pub struct BatchControl<'a> {
    /// Called after each finished item with (done, total); calls are serialised and `done` increases by one.
    pub on_done: &'a (dyn Fn(usize, usize) + Sync),
    /// Polled before each item; once true, items not yet started are skipped.
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
}

impl BatchControl<'_> {
    /// No progress, never cancelled.
    pub const NONE: BatchControl<'static> = BatchControl { on_done: &|_, _| {}, cancelled: &|| false };
}

/// Maps `work` over `items` on rayon's pool. `None` marks items skipped after cancellation.
pub fn par_map<T, R>(items: &[T], work: impl Fn(&T) -> R + Sync + Send, control: &BatchControl<'_>) -> Vec<Option<R>>
where
    T: Sync,
    R: Send,
{
    par_map_init(items, || (), |_, item| work(item), control)
}

/// [`par_map`] with per-worker state from `init` (e.g. a planned FFT), reused across the items a worker takes.
pub fn par_map_init<T, S, R>(
    items: &[T],
    init: impl Fn() -> S + Sync + Send,
    work: impl Fn(&mut S, &T) -> R + Sync + Send,
    control: &BatchControl<'_>,
) -> Vec<Option<R>>
where
    T: Sync,
    R: Send,
{
    use rayon::prelude::*;
    let total = items.len();
    // The lock makes "count, then report" one step, so reports arrive numbered in order.
    let done = Mutex::new(0usize);
    items
        .par_iter()
        .map_init(init, |state, item| {
            if (control.cancelled)() {
                return None;
            }
            let result = work(state, item);
            let mut n = done.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            (control.on_done)(*n, total);
            Some(result)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn keeps_order_reports_in_sequence_and_stops_when_cancelled() {
        let items: Vec<u64> = (0..200).collect();
        let seen = Mutex::new(Vec::new());
        let on_done = |d: usize, t: usize| seen.lock().unwrap().push((d, t));
        let out = par_map(&items, |x| x * 2, &BatchControl { on_done: &on_done, cancelled: &|| false });
        assert_eq!(out, items.iter().map(|x| Some(x * 2)).collect::<Vec<_>>());
        assert_eq!(*seen.lock().unwrap(), (1..=200).map(|d| (d, 200)).collect::<Vec<_>>());

        let started = AtomicUsize::new(0);
        let cancelled = || started.load(Ordering::SeqCst) >= 10;
        let out = par_map(
            &items,
            |x| {
                started.fetch_add(1, Ordering::SeqCst);
                *x
            },
            &BatchControl { on_done: &|_, _| {}, cancelled: &cancelled },
        );
        let ran = out.iter().filter(|r| r.is_some()).count();
        assert!((10..200).contains(&ran), "ran {ran}");
    }
}
