use std::path::PathBuf;

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
    #[error("ONNX Runtime failed while {during}: {reason}")]
    Ort { during: String, reason: String },
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::RuntimeLoad { .. } => "TRNET_ORT_LOAD",
            Error::ModelLoad { .. } => "TRNET_MODEL_LOAD",
            Error::ModelInputs { .. } => "TRNET_MODEL_INPUT",
            Error::Ort { .. } => "TRNET_ORT",
        }
    }

    pub(crate) fn ort(during: &str) -> impl FnOnce(ort::Error) -> Self + '_ {
        move |e| Error::Ort { during: during.to_string(), reason: e.to_string() }
    }
}
