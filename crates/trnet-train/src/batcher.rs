//! Seeded epoch order and batches stacked into tensors.
//!
//! The order of epoch e is a Fisher–Yates shuffle of the selected items driven by SplitMix64 seeded with
//! `seed::derive(run seed, SHUFFLE, e)`: a pure function of (seed, epoch, item count), so a resumed run
//! replays exactly the batches the interrupted one would have seen. Batches take the order in chunks of
//! `batch_size`; the last, partial batch is kept.
//!
//! Assembly (copying an item's spectrograms into one (B, T, F) buffer, building the frame mask and the
//! labels) can run on worker threads that stay up to `prefetch` batches ahead, through bounded channels.
//! In-memory datasets use one worker (assembly is a memcpy); datasets backed by a feature store use up to
//! `STORE_WORKERS`, since their batches wait on disk reads. Worker w assembles batches w, w + W, w + 2W, …
//! and the loop takes them back in plan order, so neither the worker count nor prefetching changes what
//! the training loop sees: a stored dataset trains bit for bit like the same data in memory.

use crate::dataset::{Dataset, Features, Item};
use crate::seed;
use crate::{Error, Result};
use std::ops::ControlFlow;
use std::sync::mpsc::sync_channel;
use tch::{Device, Kind, Tensor};
use trnet_dsp::rng::SplitMix64;
use trnet_model::Variant;

/// Which of an item's spectrograms becomes the model's X input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `item.x`: clean for clean items, the mixture for noisy ones.
    Input,
    /// `item.xe`, the SE output (Baseline-e's encoder input).
    Enhanced,
    /// `item.xs`, the clean spectrogram (Baseline-c's training input).
    Clean,
}

/// What a batch carries, decided by the variant (see the table in `dataset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    pub input: Source,
    /// Also stack Xe (the TRNet variants' second input).
    pub enhanced: bool,
    /// Also stack Xs (the TRNet variants' L_low / L_high targets).
    pub clean: bool,
}

impl Fields {
    /// What training batches of `variant` need.
    pub fn train(variant: Variant) -> Fields {
        match variant {
            Variant::BaselineClean => Fields { input: Source::Clean, enhanced: false, clean: false },
            Variant::BaselineNoisy => Fields { input: Source::Input, enhanced: false, clean: false },
            Variant::BaselineEnhanced => Fields { input: Source::Enhanced, enhanced: false, clean: false },
            Variant::Trnet | Variant::TrnetNoLow | Variant::TrnetNoHigh => Fields { input: Source::Input, enhanced: true, clean: true },
        }
    }

    /// What evaluation batches of `variant` need: the test-time inputs only.
    pub fn eval(variant: Variant) -> Fields {
        match variant {
            Variant::BaselineClean | Variant::BaselineNoisy => Fields { input: Source::Input, enhanced: false, clean: false },
            Variant::BaselineEnhanced => Fields { input: Source::Enhanced, enhanced: false, clean: false },
            Variant::Trnet | Variant::TrnetNoLow | Variant::TrnetNoHigh => Fields { input: Source::Input, enhanced: true, clean: false },
        }
    }

    /// Checks that every listed item has the spectrograms these fields read; the error names the first
    /// item without one.
    pub fn check(&self, ds: &Dataset, items: &[usize], purpose: &str) -> Result<()> {
        for &i in items {
            let item = ds.item(i);
            for (needed, present, name, fix) in [
                (
                    self.input == Source::Enhanced || self.enhanced,
                    item.xe.is_some(),
                    "the enhanced spectrogram Xe",
                    "Run the SE front end on every item's audio and pass its features as xe.",
                ),
                (
                    self.input == Source::Clean || self.clean,
                    item.xs.is_some(),
                    "the clean spectrogram Xs",
                    "Pass the clean source of each noisy item (xs, or cleanItem indices).",
                ),
            ] {
                if needed && !present {
                    let id = if item.id.is_empty() { String::new() } else { format!(" ({})", item.id) };
                    return Err(Error::invalid(format!("{purpose} item {i}{id}"), name, "none", fix));
                }
            }
        }
        Ok(())
    }
}

/// The item order of one epoch: a seeded permutation of `0..n`.
pub fn epoch_order(run_seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed::derive(run_seed, seed::SHUFFLE, epoch as u64));
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// The batches of one epoch as lists of dataset indices: `selection` (the items a variant trains on)
/// permuted by `epoch_order` and cut into chunks of `batch_size`, the last one partial.
pub fn epoch_plan(selection: &[usize], run_seed: u64, epoch: usize, batch_size: usize) -> Vec<Vec<usize>> {
    let order = epoch_order(run_seed, epoch, selection.len());
    order.chunks(batch_size.max(1)).map(|c| c.iter().map(|&k| selection[k]).collect()).collect()
}

/// In-order batches over `selection` (evaluation).
pub fn sequential_plan(selection: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    selection.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

/// One batch, as CPU tensors until moved with `to_device`.
#[derive(Debug)]
pub struct Batch {
    /// (B, T, F) float: the model's X input (see `Fields::input`).
    pub x: Tensor,
    pub xe: Option<Tensor>,
    pub xs: Option<Tensor>,
    /// (B, T) bool, true = real frame.
    pub mask: Tensor,
    /// (B,) int64 class indices.
    pub labels: Tensor,
    /// The dataset indices of the rows, in order.
    pub items: Vec<usize>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn to_device(self, device: Device) -> Result<Batch> {
        if device == Device::Cpu {
            return Ok(self);
        }
        let mv = |t: &Tensor| t.f_to_device(device).map_err(Error::torch(format!("moving a batch to {device:?}")));
        Ok(Batch {
            x: mv(&self.x)?,
            xe: self.xe.as_ref().map(mv).transpose()?,
            xs: self.xs.as_ref().map(mv).transpose()?,
            mask: mv(&self.mask)?,
            labels: mv(&self.labels)?,
            items: self.items,
        })
    }
}

/// Most loader threads a stored dataset gets (each holds at most one batch it is assembling).
pub const STORE_WORKERS: usize = 4;

fn pick(item: &Item, source: Source) -> Option<&Features> {
    match source {
        Source::Input => Some(&item.x),
        Source::Enhanced => item.xe.as_ref(),
        Source::Clean => item.xs.as_ref(),
    }
}

/// Stacks the items at `indices` into CPU tensors.
pub fn assemble(ds: &Dataset, indices: &[usize], fields: Fields) -> Result<Batch> {
    let (t, f) = (ds.frames(), ds.bins());
    let b = indices.len();
    if b == 0 {
        return Err(Error::invalid("batch", "at least one item", "none", "Pass a non-empty list of item indices."));
    }
    if let Some(&bad) = indices.iter().find(|&&i| i >= ds.len()) {
        return Err(Error::invalid("batch item index", format!("an index in 0..{}", ds.len()), bad, "Pass indices of existing items."));
    }
    fields.check(ds, indices, "batch")?;
    let stack = |source: Source| -> Result<Tensor> {
        let mut data = vec![0.0f32; b * t * f];
        for (row, &i) in data.chunks_exact_mut(t * f).zip(indices) {
            // Present: checked above.
            if let Some(features) = pick(ds.item(i), source) {
                features.read_into(row)?;
            }
        }
        Tensor::f_from_slice(&data).and_then(|x| x.f_view([b as i64, t as i64, f as i64])).map_err(Error::torch("stacking a batch"))
    };
    let x = stack(fields.input)?;
    let xe = if fields.enhanced { Some(stack(Source::Enhanced)?) } else { None };
    let xs = if fields.clean { Some(stack(Source::Clean)?) } else { None };
    let mut mask = Vec::with_capacity(b * t);
    let mut labels = Vec::with_capacity(b);
    for &i in indices {
        let item = ds.item(i);
        mask.extend((0..t).map(|k| k < item.valid_frames));
        labels.push(item.label as i64);
    }
    let mask = Tensor::f_from_slice(&mask).and_then(|m| m.f_view([b as i64, t as i64])).map_err(Error::torch("building a frame mask"))?;
    let labels = Tensor::f_from_slice(&labels).map_err(Error::torch("building labels"))?;
    debug_assert_eq!(x.kind(), Kind::Float);
    Ok(Batch { x, xe, xs, mask, labels, items: indices.to_vec() })
}

/// Calls `f(k, batch)` for every batch of `plan` in order (k counts from 0), assembling ahead on worker
/// threads when `prefetch > 0` (see the module docs). Stops at the first error, or when `f` returns `Break`.
pub fn for_each_batch(
    ds: &Dataset,
    plan: &[Vec<usize>],
    fields: Fields,
    prefetch: usize,
    mut f: impl FnMut(usize, Batch) -> Result<ControlFlow<()>>,
) -> Result<()> {
    if prefetch == 0 || plan.len() < 2 {
        for (k, indices) in plan.iter().enumerate() {
            if f(k, assemble(ds, indices, fields)?)?.is_break() {
                break;
            }
        }
        return Ok(());
    }
    let workers = if ds.is_stored() { prefetch.min(STORE_WORKERS).min(plan.len()) } else { 1 };
    // Each worker's channel holds its share of the `prefetch` batches ready ahead of the loop.
    let depth = prefetch.div_ceil(workers);
    std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel::<Result<Batch>>(depth);
            receivers.push(rx);
            scope.spawn(move || {
                for indices in plan.iter().skip(w).step_by(workers) {
                    // A closed channel means the loop stopped early: nothing more to build.
                    if tx.send(assemble(ds, indices, fields)).is_err() {
                        break;
                    }
                }
            });
        }
        let mut run = || -> Result<()> {
            for k in 0..plan.len() {
                // Worker k mod W sends its batches in plan order, one per k, unless the receiver is gone.
                let batch = receivers[k % workers]
                    .recv()
                    .map_err(|_| Error::invalid("batch worker", "a batch", "a closed channel", "This is a bug in trnet-train."))??;
                if f(k, batch)?.is_break() {
                    break;
                }
            }
            Ok(())
        };
        let result = run();
        // Dropping the receivers ends the workers' next sends, so the scope can join them.
        drop(receivers);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Item;
    use std::collections::HashSet;
    use std::sync::Arc;

    fn dataset(n: usize) -> Dataset {
        let mut ds = Dataset::new(4, 3).unwrap();
        for i in 0..n {
            let x: Arc<[f32]> = (0..12).map(|k| (i * 100 + k) as f32).collect::<Vec<_>>().into();
            let xe: Vec<f32> = x.iter().map(|v| v + 0.5).collect();
            ds.push(Item::clean(x, i % 3).enhanced(xe).valid_frames(1 + i % 4)).unwrap();
        }
        ds
    }

    #[test]
    fn orders_are_seeded_permutations() {
        let a = epoch_order(7, 3, 100);
        assert_eq!(a, epoch_order(7, 3, 100));
        assert_ne!(a, epoch_order(7, 4, 100));
        assert_ne!(a, epoch_order(8, 3, 100));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(epoch_order(1, 0, 0), Vec::<usize>::new());
        // Pinned: the order of a seed must not change between versions (resume and reproducibility).
        assert_eq!(epoch_order(0, 0, 8), PINNED_ORDER);
    }

    const PINNED_ORDER: [usize; 8] = [7, 0, 5, 4, 1, 3, 6, 2];

    #[test]
    fn plans_cover_every_selected_item_once_and_keep_the_partial_batch() {
        let selection: Vec<usize> = (10..80).step_by(2).collect(); // 35 items
        let plan = epoch_plan(&selection, 3, 0, 8);
        assert_eq!(plan.iter().map(Vec::len).collect::<Vec<_>>(), [8, 8, 8, 8, 3]);
        let seen: Vec<usize> = plan.concat();
        assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), selection.iter().copied().collect::<HashSet<_>>());
        assert_eq!(seen.len(), 35);
        assert_eq!(sequential_plan(&selection, 32).concat(), selection);
    }

    #[test]
    fn batches_stack_the_selected_fields_mask_and_labels() {
        let ds = dataset(5);
        let b = assemble(&ds, &[3, 1], Fields { input: Source::Enhanced, enhanced: false, clean: true }).unwrap();
        assert_eq!(b.x.size(), [2, 4, 3]);
        let x: Vec<f32> = Vec::try_from(b.x.flatten(0, -1)).unwrap();
        assert_eq!(x[0], 300.5);
        assert_eq!(x[12], 100.5);
        let xs: Vec<f32> = Vec::try_from(b.xs.unwrap().flatten(0, -1)).unwrap();
        assert_eq!(&xs[..12], &ds.item(3).x.values().unwrap()[..]);
        assert!(b.xe.is_none());
        let mask: Vec<bool> = Vec::try_from(b.mask.flatten(0, -1)).unwrap();
        assert_eq!(mask, [true, true, true, true, true, true, false, false]);
        assert_eq!(Vec::<i64>::try_from(&b.labels).unwrap(), [0, 1]);
        assert_eq!(b.items, [3, 1]);
    }

    #[test]
    fn missing_fields_name_the_item() {
        let mut ds = Dataset::new(1, 1).unwrap();
        ds.push(Item::noisy(vec![1.0f32], None, 0, Some(5.0), None).id("u7")).unwrap();
        let err = assemble(&ds, &[0], Fields::train(Variant::Trnet)).unwrap_err();
        assert!(err.to_string().contains("item 0 (u7)") && err.to_string().contains("Xe"), "{err}");
        let err = assemble(&ds, &[0], Fields::train(Variant::BaselineClean)).unwrap_err();
        assert!(err.to_string().contains("Xs"), "{err}");
        assert!(assemble(&ds, &[], Fields::train(Variant::BaselineNoisy)).is_err());
    }

    #[test]
    fn prefetching_gives_the_same_batches_in_the_same_order_and_stops_early() {
        let ds = dataset(23);
        let selection: Vec<usize> = (0..23).collect();
        let plan = epoch_plan(&selection, 11, 2, 4);
        let collect = |prefetch: usize, stop_after: usize| {
            let mut out = Vec::new();
            for_each_batch(&ds, &plan, Fields::train(Variant::Trnet), prefetch, |k, b| {
                out.push((k, b.items.clone(), Vec::<f32>::try_from(b.x.flatten(0, -1)).unwrap()));
                Ok(if out.len() == stop_after { ControlFlow::Break(()) } else { ControlFlow::Continue(()) })
            })
            .unwrap();
            out
        };
        let inline = collect(0, usize::MAX);
        assert_eq!(inline.len(), 6);
        assert_eq!(collect(3, usize::MAX), inline);
        assert_eq!(collect(1, 2), inline[..2]);
    }
}
