//! libtorch's global random generator is one per process, and building a model draws its initial weights from it,
//! also when the weights are about to be overwritten (`checkpoint::load` builds the model, then reads the file).
//! Every model build in the workspace runs under [`with_global_rng`], so that a seeded build (a training's initial
//! weights, `trnet_train::seed::with_torch_seed`) is never interleaved with another thread's draws: with two
//! trainings in one process (`tasksPerDevice`), one loading its reference or evaluating a checkpoint while the
//! other was being initialised changed the second one's initial weights.

use std::sync::Mutex;

static GLOBAL_RNG: Mutex<()> = Mutex::new(());

/// Runs `f` holding the process-wide lock on libtorch's global generator. Not re-entrant: `f` must not build a
/// model through another path that takes the lock (checkpoint::load).
pub fn with_global_rng<R>(f: impl FnOnce() -> R) -> R {
    let _guard = GLOBAL_RNG.lock().unwrap_or_else(|p| p.into_inner());
    f()
}
