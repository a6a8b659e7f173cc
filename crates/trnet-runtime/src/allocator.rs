//! How glibc's malloc treats the large, short-lived buffers of a forward and backward pass. The one place
//! in the workspace that touches the C allocator.
//!
//! A paper-size CPU step allocates and frees activations of 5–41 MB over and over. With glibc's defaults
//! those go back to the kernel when freed (blocks above the mmap threshold are unmapped, a free top of a
//! heap above the trim threshold is trimmed, an emptied thread-arena heap is unmapped), so the next step
//! faults fresh zeroed pages in: 320–410k page faults per training step and 20–120k per inference batch, a
//! large share of the CPU time. [`MallocMode::Fast`] makes malloc keep and reuse that memory, with
//! `mallopt(3)`, which a library loaded into Node can still call (the `MALLOC_*_` environment variables are
//! read once at process start, before any addon is loaded):
//!
//! - `M_MMAP_MAX` = 0: no block gets its own mapping. Jobs run on threads of their own (src/jobs.rs), whose malloc arena
//!   is not the main one: a thread arena grows in heaps of at most 64 MiB, and glibc caps the mmap threshold
//!   at 32 MiB, so with mappings allowed every block above 32 MiB (the first block's activations at batch
//!   32) would be mapped and unmapped again. Without them such a block is carved from a thread-arena heap,
//!   and one above 64 MiB from the main heap (glibc's fallback when an arena cannot grow).
//! - `M_TRIM_THRESHOLD` = 2 GiB − 1 (the largest value mallopt takes): no trimming on `free`. Not −1 ("never"):
//!   glibc adds the threshold to other sizes when it decides whether to unmap an emptied thread-arena heap,
//!   where −1 wraps around (read in glibc's arena.c; measured: 280k faults per worker-thread step with −1).
//! - `M_TOP_PAD` = 512 MiB: the main heap grows in large steps (address space; untouched pages cost nothing).
//!
//! `M_ARENA_MAX` (as in `MALLOC_ARENA_MAX=1`) is not used: glibc fixes the arena limit the first time a
//! second thread allocates, long before an addon loads, so setting it later changes nothing (measured).
//!
//! The settings are in force only while a job runs: every training and evaluation job
//! (`trnet_train::{train, resume, evaluate}`) holds a [`JobScope`], and so does a model loaded for predictions
//! (the addon's `NativeModel`, from load to close: otherwise each prediction would end a job, trim, and fault
//! its activations in again at the next one); the first one applies them, and when the
//! last running job ends glibc's default values are set again and the free memory is handed back with
//! `malloc_trim(0)`. So the rest of the process (Node, ONNX Runtime, feature extraction) runs on glibc's
//! values, and between jobs it is leaner than without the trim (paper_run: ≈470 MiB resident after a job
//! instead of 736–984 MiB). The price is resident memory during a job: the arenas keep their high-water mark
//! (paper-size training at batch 32: 1384–1758 MiB peak instead of 1031–1235 MiB).
//!
//! glibc's default values, as set again after a job: 64 Ki mappings, 128 KiB trim threshold and top pad, and
//! a fixed 128 KiB mmap threshold (once any of these parameters is set, glibc no longer slides that threshold
//! up by itself). `MallocMode::Default` keeps jobs on those values (or on glibc as it came, if no job was
//! ever tuned).
//!
//! Other C libraries (musl) and other systems: nothing to tune, [`status`] says `supported: false`.

use std::sync::Mutex;

/// What [`configure`] should do with glibc's malloc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MallocMode {
    /// Keep freed memory for reuse while a job runs (see the module docs); the default.
    Fast,
    /// glibc's own behaviour: freed large blocks go straight back to the kernel.
    Default,
}

impl MallocMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MallocMode::Fast => "fast",
            MallocMode::Default => "default",
        }
    }
}

impl std::str::FromStr for MallocMode {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "fast" => Ok(MallocMode::Fast),
            "default" => Ok(MallocMode::Default),
            other => Err(crate::Error::invalid(
                "malloc mode",
                "\"fast\" or \"default\"",
                format!("{other:?}"),
                "Pass \"fast\" (reuse memory during jobs) or \"default\" (glibc's behaviour).",
            )),
        }
    }
}

impl std::fmt::Display for MallocMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the allocator stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MallocStatus {
    /// The mode jobs run with: the one last passed to [`configure`], else `Fast`.
    pub mode: MallocMode,
    /// Whether the mode's settings are in force now: `Fast` only while a job runs, `Default` outside that.
    pub applied: bool,
    /// Whether this process runs on glibc, the only malloc this module tunes.
    pub supported: bool,
    /// Jobs running now.
    pub jobs: usize,
}

struct State {
    mode: MallocMode,
    applied: Option<MallocMode>,
    jobs: usize,
}

static STATE: Mutex<State> = Mutex::new(State { mode: MallocMode::Fast, applied: None, jobs: 0 });

fn lock() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use super::MallocMode;
    // mallopt(3) parameter numbers from <malloc.h>.
    const M_TRIM_THRESHOLD: libc::c_int = -1;
    const M_TOP_PAD: libc::c_int = -2;
    const M_MMAP_THRESHOLD: libc::c_int = -3;
    const M_MMAP_MAX: libc::c_int = -4;
    const KIB: libc::c_int = 1024;
    const MIB: libc::c_int = 1024 * KIB;

    pub const SUPPORTED: bool = true;

    /// Returns whether glibc accepted every setting.
    pub fn apply(mode: MallocMode) -> bool {
        let settings: [(libc::c_int, libc::c_int); 3] = match mode {
            MallocMode::Fast => [(M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, libc::c_int::MAX), (M_TOP_PAD, 512 * MIB)],
            // glibc's DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD and DEFAULT_TOP_PAD, and the mmap threshold it
            // starts from (setting any of these stops glibc from sliding that threshold up by itself).
            MallocMode::Default => [(M_MMAP_MAX, 65536), (M_TRIM_THRESHOLD, 128 * KIB), (M_TOP_PAD, 128 * KIB)],
        };
        if mode == MallocMode::Default {
            // SAFETY: as below.
            unsafe { libc::mallopt(M_MMAP_THRESHOLD, 128 * KIB) };
        }
        // SAFETY: mallopt only adjusts malloc's parameters under its own lock.
        settings.iter().all(|&(param, value)| unsafe { libc::mallopt(param, value) } == 1)
    }

    pub fn trim() {
        // SAFETY: malloc_trim releases free memory under malloc's own locks.
        unsafe { libc::malloc_trim(0) };
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod glibc {
    use super::MallocMode;
    pub const SUPPORTED: bool = false;
    pub fn apply(_: MallocMode) -> bool {
        false
    }
    pub fn trim() {}
}

fn status_of(s: &State) -> MallocStatus {
    let fast_in_force = s.applied == Some(MallocMode::Fast);
    let applied = glibc::SUPPORTED && (fast_in_force == (s.mode == MallocMode::Fast));
    MallocStatus { mode: s.mode, applied, supported: glibc::SUPPORTED, jobs: s.jobs }
}

/// Where the allocator stands now.
pub fn status() -> MallocStatus {
    status_of(&lock())
}

/// Fast → glibc's values again, and the free memory back to the kernel.
fn restore(s: &mut State) {
    if s.applied == Some(MallocMode::Fast) {
        glibc::apply(MallocMode::Default);
        s.applied = Some(MallocMode::Default);
        glibc::trim();
    }
}

/// Chooses the mode for jobs. While a job runs it takes effect at once; otherwise at the next job.
pub fn configure(mode: MallocMode) -> MallocStatus {
    let mut s = lock();
    s.mode = mode;
    if s.jobs > 0 {
        match mode {
            MallocMode::Fast if s.applied != Some(MallocMode::Fast) && glibc::apply(MallocMode::Fast) => s.applied = Some(MallocMode::Fast),
            MallocMode::Default => restore(&mut s),
            _ => {}
        }
    }
    status_of(&s)
}

/// Held for the length of a training or evaluation job (see the module docs). Drop it when the job ends.
#[derive(Debug)]
pub struct JobScope(());

/// Starts a job: in `Fast` mode, applies the settings unless another running job has already.
pub fn job_scope() -> JobScope {
    let mut s = lock();
    s.jobs += 1;
    if s.mode == MallocMode::Fast && s.applied != Some(MallocMode::Fast) && glibc::apply(MallocMode::Fast) {
        s.applied = Some(MallocMode::Fast);
    }
    JobScope(())
}

impl Drop for JobScope {
    fn drop(&mut self) {
        let mut s = lock();
        s.jobs -= 1;
        if s.jobs == 0 {
            restore(&mut s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        assert_eq!("fast".parse::<MallocMode>().unwrap(), MallocMode::Fast);
        assert_eq!(MallocMode::Default.to_string(), "default");
        assert_eq!("lean".parse::<MallocMode>().unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
    }

    // The state is process-wide, so the whole life cycle is one test.
    #[test]
    fn fast_is_in_force_only_while_jobs_run() {
        let before = status();
        let glibc = cfg!(all(target_os = "linux", target_env = "gnu"));
        assert_eq!((before.mode, before.applied, before.supported, before.jobs), (MallocMode::Fast, false, glibc, 0));
        {
            let _a = job_scope();
            let _b = job_scope();
            assert_eq!((status().applied, status().jobs), (glibc, 2));
            drop(_a);
            assert_eq!((status().applied, status().jobs), (glibc, 1), "still in force while a job runs");
        }
        assert_eq!((status().applied, status().jobs), (false, 0), "glibc's values again after the last job");
        let s = configure(MallocMode::Default);
        assert_eq!((s.mode, s.applied), (MallocMode::Default, glibc));
        {
            let _a = job_scope();
            assert_eq!(status().applied, glibc, "default mode: glibc's behaviour during jobs too");
            configure(MallocMode::Fast);
            assert_eq!(status().applied, glibc, "switching during a job takes effect at once");
            configure(MallocMode::Default);
            assert_eq!(status(), MallocStatus { mode: MallocMode::Default, applied: glibc, supported: glibc, jobs: 1 });
        }
        configure(MallocMode::Fast);
        assert!(!status().applied, "fast waits for the next job");
    }
}
