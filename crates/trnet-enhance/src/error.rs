use std::path::PathBuf;
use trnet_dsp::Detail;

/// Errors of the enhancement crate. Each has a stable `code()` that reaches JavaScript as `err.code`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "could not load ONNX Runtime from {}: {reason}. Run `npm run setup` (it installs the pinned onnxruntime wheel), or set ORT_DYLIB_PATH to a libonnxruntime.so of version 1.17 or newer",
        path.as_ref().map_or("<no path configured>".into(), |p| p.display().to_string())
    )]
    RuntimeLoad { path: Option<PathBuf>, reason: String },
    #[error("could not load the ONNX model {}: {reason}", path.display())]
    ModelLoad { path: PathBuf, reason: String },
    /// The tensors handed to a model do not match the model's declared inputs.
    #[error("inputs do not match the ONNX model {}: expected {expected}; found {found}. {fix}", path.display())]
    ModelInputs { path: PathBuf, expected: String, found: String, fix: String },
    /// The model's declared interface does not fit the contract an enhancer (or a model card) needs; caught
    /// when the enhancer is built, before any audio is run.
    #[error("the ONNX model {} does not fit {contract}: expected {expected}; found {found}. {fix}", path.display())]
    ModelContract { path: PathBuf, contract: String, expected: String, found: String, fix: String },
    /// A model returned tensors of a shape its contract does not allow.
    #[error("the ONNX model {} returned {found} where {expected} was expected. {fix}", path.display())]
    ModelOutput { path: PathBuf, expected: String, found: String, fix: String },
    /// A model card that cannot be read, parsed or is inconsistent in itself.
    #[error("model card {}: {problem}. {fix}", path.display())]
    Card { path: PathBuf, problem: String, fix: String },
    #[error("{0}")]
    InvalidArgument(Detail),
    #[error("enhancement cache {}: {reason}. Check the folder is writable, or set another cache folder", path.display())]
    Cache { path: PathBuf, reason: String },
    /// trnet's GRU operator could not be registered, or the session would not take the graph with GRU nodes routed
    /// to it.
    #[error("the ONNX model {} could not be loaded with trnet's fast GRU operator ({during}): {reason}. Set TRNET_FAST_GRU=0 to run its GRU nodes with ONNX Runtime's own kernel, and report this", path.display())]
    FastGru { path: PathBuf, during: String, reason: String },
    #[error("ONNX Runtime failed while {during}: {reason}")]
    Ort { during: String, reason: String },
    /// Signal processing (STFT) failed; keeps the DSP crate's own code.
    #[error(transparent)]
    Dsp(#[from] trnet_dsp::Error),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::RuntimeLoad { .. } => "TRNET_ORT_LOAD",
            Error::ModelLoad { .. } => "TRNET_MODEL_LOAD",
            Error::ModelInputs { .. } => "TRNET_MODEL_INPUT",
            Error::ModelContract { .. } => "TRNET_MODEL_CONTRACT",
            Error::ModelOutput { .. } => "TRNET_MODEL_OUTPUT",
            Error::Card { .. } => "TRNET_CARD_INVALID",
            Error::InvalidArgument(_) => "TRNET_INVALID_ARGUMENT",
            Error::Ort { .. } => "TRNET_ORT",
            Error::FastGru { .. } => "TRNET_FAST_GRU",
            Error::Cache { .. } => "TRNET_CACHE",
            Error::Dsp(inner) => inner.code(),
        }
    }

    pub(crate) fn ort(during: &str) -> impl FnOnce(ort::Error) -> Self + '_ {
        move |e| Error::Ort { during: during.to_string(), reason: e.to_string() }
    }

    pub fn invalid(what: impl std::fmt::Display, expected: impl std::fmt::Display, found: impl std::fmt::Display, fix: impl std::fmt::Display) -> Self {
        Error::InvalidArgument(Detail::new(what, expected, found, fix))
    }

    pub(crate) fn card(path: &std::path::Path, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Error::Card { path: path.to_path_buf(), problem: problem.into(), fix: fix.into() }
    }
}
