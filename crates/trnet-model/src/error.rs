use std::fmt;
use std::path::PathBuf;
use trnet_dsp::Detail;

/// Errors of the model crate. Each has a stable `code()` that reaches JavaScript as `err.code`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller passed a value this crate cannot use; the message says what was expected and how to fix it.
    #[error("{0}")]
    InvalidArgument(Detail),
    /// A device was asked for that this process cannot use.
    #[error("device {requested} is not available: {reason}. Use \"cpu\", or \"auto\" to take a GPU only when one is present")]
    DeviceUnavailable { requested: String, reason: String },
    /// A number format was asked for that this device cannot run natively (`inference::check_precision`).
    #[error("precision {precision} is not available: {reason}. Load the model with precision \"fp32\" (the default)")]
    PrecisionUnavailable { precision: String, reason: String },
    /// A model config field is out of range or inconsistent with another field.
    /// `what` names the field.
    #[error("config {0}")]
    InvalidConfig(Detail),
    /// A checkpoint file (weights or config) is not where it was asked for.
    #[error("checkpoint file {} does not exist. {fix}", path.display())]
    CheckpointNotFound { path: PathBuf, fix: String },
    /// A checkpoint's weights do not fit the model its config builds: a tensor is missing, extra, or has
    /// another shape or type. `tensor` names it as it appears in the safetensors file.
    #[error("checkpoint {}: tensor {tensor:?}: expected {expected}, found {found}. {fix}", path.display())]
    CheckpointMismatch { path: PathBuf, tensor: String, expected: String, found: String, fix: String },
    /// A checkpoint file is damaged: its SHA-256 differs from the one recorded beside it, or it cannot be
    /// parsed (truncated, overwritten).
    #[error("checkpoint file {}: {problem}. {fix}", path.display())]
    CheckpointCorrupt { path: PathBuf, problem: String, fix: String },
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
            Error::InvalidArgument(_) => "TRNET_INVALID_ARGUMENT",
            Error::DeviceUnavailable { .. } | Error::PrecisionUnavailable { .. } => "TRNET_DEVICE_UNAVAILABLE",
            Error::InvalidConfig(_) => "TRNET_INVALID_CONFIG",
            Error::CheckpointNotFound { .. } => "TRNET_CHECKPOINT_NOT_FOUND",
            Error::CheckpointMismatch { .. } => "TRNET_CHECKPOINT_MISMATCH",
            Error::CheckpointCorrupt { .. } => "TRNET_CHECKPOINT_CORRUPT",
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
