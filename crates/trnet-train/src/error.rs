use std::fmt;
use std::path::PathBuf;
use trnet_dsp::Detail;

/// Errors of the training crate. Each has a stable `code()` that reaches JavaScript as `err.code`; errors
/// of the model and DSP crates pass through with their own codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] trnet_model::Error),
    #[error(transparent)]
    Dsp(#[from] trnet_dsp::Error),
    /// A caller passed a value this crate cannot use; the message says what was expected and how to fix it.
    #[error("{0}")]
    InvalidArgument(Detail),
    /// A training config field is out of range or inconsistent with another field.
    /// `what` names the field.
    #[error("train config {0}")]
    InvalidConfig(Detail),
    /// The caller asked to stop. When a run folder exists, its `last` checkpoint is valid and `resume`
    /// continues from it.
    #[error("training was cancelled{}", match checkpoint { Some(p) => format!("; resume continues from {}", p.display()), None => String::new() })]
    Cancelled { checkpoint: Option<PathBuf> },
    /// A loss became NaN or infinite. The run folder keeps the last checkpoint from before it.
    #[error(
        "training diverged at epoch {epoch}, step {step}: the {term} loss is {value}. Lower learningRate, set gradClipNorm (e.g. 10), or check the features for extreme values"
    )]
    Diverged { epoch: usize, step: usize, term: String, value: f64 },
    /// `train` was pointed at a folder that already holds a run.
    #[error("{} already holds a training run ({found}). Call resume to continue it, or train into an empty folder", dir.display())]
    RunExists { dir: PathBuf, found: String },
    /// Another training job holds the run folder's lock (`run.lock`): two writers would mix their files.
    #[error("{} is being written by another training job ({holder}). {fix}", dir.display())]
    RunLocked { dir: PathBuf, holder: String, fix: String },
    /// `resume` was given a config or data that differ from what the interrupted run used.
    /// (The detail is boxed: it is the largest variant, and every `Result` of this crate carries its size.)
    #[error("cannot resume {}: {}: the run used {}, this call passes {}. {}", dir.display(), detail.what, detail.expected, detail.found, detail.fix)]
    ResumeMismatch { dir: PathBuf, detail: Box<Detail> },
    /// A checkpoint or run file is not where it was asked for.
    #[error("{} does not exist. {fix}", path.display())]
    NotFound { path: PathBuf, fix: String },
    /// A run file exists but cannot be understood (damaged, or written by an incompatible version).
    #[error("{}: {problem}. {fix}", path.display())]
    Corrupt { path: PathBuf, problem: String, fix: String },
    /// `openFeatureSet` was pointed at a folder that does not exist.
    #[error("no feature store at {}. {fix}", dir.display())]
    StoreNotFound { dir: PathBuf, fix: String },
    /// A feature store is damaged: truncated, overwritten, or its manifest and data file disagree.
    #[error("feature store {}: {problem}. {fix}", path.display())]
    StoreCorrupt { path: PathBuf, problem: String, fix: String },
    /// A feature store is intact but not what this version reads (another layout format).
    #[error("feature store {}: {}: expected {}, found {}. {}", dir.display(), detail.what, detail.expected, detail.found, detail.fix)]
    StoreMismatch { dir: PathBuf, detail: Box<Detail> },
    /// The enhancer failed on some items of a dataset build (`features`). Nothing was kept: no dataset is
    /// returned and no feature store is written, so a later build with the same inputs enhances them again
    /// (and fails the same way) instead of reusing features computed from audio that was never enhanced.
    #[error("{}", enhance_failed(*utterances, failures))]
    EnhanceFailed { utterances: usize, failures: Vec<EnhanceFailure> },
    /// Reading or writing a file failed for a reason other than it being absent.
    #[error("{during} {}: {source}", path.display())]
    Io {
        during: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// libtorch reported a failure.
    #[error("libtorch failed while {during}")]
    Torch {
        during: String,
        #[source]
        source: tch::TchError,
    },
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::Model(e) => e.code(),
            Error::Dsp(e) => e.code(),
            Error::InvalidArgument(_) => "TRNET_INVALID_ARGUMENT",
            Error::InvalidConfig(_) => "TRNET_INVALID_CONFIG",
            // The code the addon gives every aborted job (AbortSignal), so callers test one thing.
            Error::Cancelled { .. } => "ABORT_ERR",
            Error::Diverged { .. } => "TRNET_TRAINING_DIVERGED",
            Error::RunExists { .. } => "TRNET_RUN_EXISTS",
            Error::RunLocked { .. } => "TRNET_RUN_LOCKED",
            Error::ResumeMismatch { .. } => "TRNET_RESUME_MISMATCH",
            Error::NotFound { .. } => "TRNET_CHECKPOINT_NOT_FOUND",
            Error::Corrupt { .. } => "TRNET_CHECKPOINT_CORRUPT",
            Error::StoreNotFound { .. } => "TRNET_STORE_NOT_FOUND",
            Error::StoreCorrupt { .. } => "TRNET_STORE_CORRUPT",
            Error::StoreMismatch { .. } => "TRNET_STORE_MISMATCH",
            Error::EnhanceFailed { .. } => "TRNET_ENHANCE_FAILED",
            Error::Io { .. } => "TRNET_IO",
            Error::Torch { .. } => "TRNET_TORCH",
        }
    }

    pub fn invalid(what: impl fmt::Display, expected: impl fmt::Display, found: impl fmt::Display, fix: impl fmt::Display) -> Self {
        Error::InvalidArgument(Detail::new(what, expected, found, fix))
    }

    pub fn invalid_config(field: impl fmt::Display, expected: impl fmt::Display, found: impl fmt::Display, fix: impl fmt::Display) -> Self {
        Error::InvalidConfig(Detail::new(field, expected, found, fix))
    }

    pub(crate) fn io(during: impl Into<String>, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let (during, path) = (during.into(), path.into());
        move |source| Error::Io { during, path, source }
    }

    pub(crate) fn torch(during: impl Into<String>) -> impl FnOnce(tch::TchError) -> Self {
        let during = during.into();
        move |source| Error::Torch { during, source }
    }
}

/// One item the enhancer failed on.
#[derive(Debug)]
pub struct EnhanceFailure {
    /// The utterance's audio file.
    pub path: PathBuf,
    /// The item's id (`utt` for the clean item, `utt@noise:SNRdB` for a noisy copy).
    pub item: String,
    pub error: trnet_enhance::Error,
}

/// Items listed in the message; the rest are counted.
const LISTED: usize = 8;

fn enhance_failed(utterances: usize, failures: &[EnhanceFailure]) -> String {
    let mut files: Vec<&PathBuf> = failures.iter().map(|f| &f.path).collect();
    files.sort();
    files.dedup();
    let listed: Vec<String> =
        failures.iter().take(LISTED).map(|f| format!("{} (item {}): [{}] {}", f.path.display(), f.item, f.error.code(), f.error)).collect();
    let more = if failures.len() > LISTED { format!("; and {} more", failures.len() - LISTED) } else { String::new() };
    format!(
        "the enhancer failed on {} item(s) of {} of {utterances} utterance(s), so no features were kept and no feature store was written: {}{more}. Fix or leave out these files, or use an enhancer that accepts them",
        failures.len(),
        files.len(),
        listed.join("; ")
    )
}
