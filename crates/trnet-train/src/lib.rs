//! TRNet's training engine on libtorch (tch). Knows nothing of Node; the addon converts and dispatches.
//!
//! - `dataset`: feature datasets (X, Xe, Xs per item, in memory or in a store) and how each variant reads them.
//! - `features`: a dataset computed from audio files, noise at seeded SNRs and an enhancer, optionally
//!   written to (or reused from) a feature store keyed by its inputs.
//! - `store`: feature stores on disk (records + manifest), written atomically, read on demand; `records`:
//!   a store's data file as items read it.
//! - `batcher`: seeded per-epoch order, batches stacked into tensors, optional prefetch threads.
//! - `adam`: Adam with saveable state, step for step PyTorch's; gradient-norm clipping.
//! - `trainer`: `train` / `resume` with progress and cancellation hooks, best-by-UAR and resumable
//!   checkpoints; `report`: the progress events, epoch records and reports they produce.
//! - `metrics`: UAR, WAR, confusion matrices, `evaluate`.
//! - `schedule`, `run`, `seed`: plateau schedule and early stopping, the run folder, seeded streams.
//! - `task`: one experiment task from the description file the TypeScript runner writes (`trnet-task`, a
//!   binary for machines without Node).

pub mod adam;
pub mod batcher;
pub mod config;
pub mod dataset;
pub mod error;
pub mod features;
pub mod forward;
pub mod metrics;
pub mod precision;
pub mod predict;
mod records;
pub mod report;
pub mod resident;
pub mod run;
pub mod schedule;
pub mod seed;
pub mod store;
pub mod task;
pub mod timeline;
pub mod trainer;

pub use config::{AdamUpdate, LrPlateau, MixedPrecisionDtype, TrainConfig};
pub use dataset::{Arrays, Condition, Dataset, Features, Item};
pub use error::{EnhanceFailure, Error};
pub use metrics::{EvalOptions, EvalReport, Prediction, evaluate, evaluate_items};
pub use report::{EpochRecord, LossValues, Stage, TrainProgress, TrainReport, ValMetrics};
pub use schedule::Best;
pub use trainer::{TrainHooks, resume, train};
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    /// The addon moves these into jobs that run on threads of their own.
    #[test]
    fn job_types_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Error>();
        send_sync::<crate::Dataset>();
        send_sync::<crate::TrainConfig>();
        send_sync::<crate::TrainReport>();
        send_sync::<crate::TrainProgress>();
        send_sync::<crate::EvalReport>();
    }
}
