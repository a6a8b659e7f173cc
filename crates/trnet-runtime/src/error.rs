use trnet_dsp::Detail;

/// Errors of the runtime crate. Each has a stable `code()` that reaches JavaScript as `err.code`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidArgument(Detail),
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
            Error::Torch { .. } => "TRNET_TORCH",
        }
    }

    pub fn invalid(what: impl std::fmt::Display, expected: impl std::fmt::Display, found: impl std::fmt::Display, fix: impl std::fmt::Display) -> Self {
        Error::InvalidArgument(Detail::new(what, expected, found, fix))
    }

    pub(crate) fn torch(during: impl Into<String>) -> impl FnOnce(tch::TchError) -> Self {
        let during = during.into();
        move |source| Error::Torch { during, source }
    }
}
